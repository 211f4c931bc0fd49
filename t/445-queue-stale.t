# Stale-while-revalidate (nixery_stale_max): an image from a moving source
# whose index entry has expired is served at once from storage while a
# helper rebuilds it in the background (real redis-server, nginx and helper
# daemon with the fake builder, whose image differs from the fixture's, as
# a moving source that changed). A flood of such pulls queues one job; an
# entry expired longer than nixery_stale_max ago, or with
# nixery_stale_max 0, waits for its build as before; with Redis down a
# stale image is still served.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Fixture;
use Nixery::Queue;

# Long enough that a pull which waited for a build cannot pass for one
# that did not.
my $delay_ms = 2000;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', $delay_ms, '--concurrency', 2);
my $off_port = $t->port_var('OFFPORT');
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '60s') . "    nixery_stale_max 60s;\n"
        . <<'CONF',
    server {
        listen 127.0.0.1:%%OFFPORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
            nixery_stale_max 0;
        }
    }
CONF
    server => $q->status_conf));
$t->run;
ok($q->wait_helper('helper'), 'helper heartbeat visible in redis');

sub pull {
    my ($name, %o) = @_;
    my $t0 = time;
    my $r = $t->http(GET => "/v2/$name/manifests/latest", %o);
    return ($r, time - $t0);
}
sub index_text {
    $t->read_file($t->storage . '/' . Nixery::Fixture->index_path($_[0]{key})) // ''
}
sub layer { [ { v => "$_[0]\n" } ] }

# Expired 30 s ago, within the 60 s: served at once, rebuilt meanwhile.
my $old = $fx->add_image(name => 'hello', layers => layer('old'),
    expires => int(time) - 30);
my $old_entry = index_text($old);
my ($r, $took) = pull('hello');
is($r->{status}, 200, 'expired image: 200');
is($r->{headers}{'docker-content-digest'}, $old->{docker}{digest},
    '... the stored image');
cmp_ok($took, '<', $delay_ms / 2000, sprintf('... at once (%.3f s)', $took));
my $stale_took = $took;
ok(Nixery::Test::poll(10, sub { $q->builds('hello:latest') == 1 }),
    '... and rebuilt in the background');
ok(Nixery::Test::poll(10, sub { index_text($old) ne $old_entry }),
    '... which replaced the index entry');
like(index_text($old), qr/\nexpires (\d+)\n$/, '... with a new expiry');
my ($exp) = index_text($old) =~ /\nexpires (\d+)\n$/;
cmp_ok($exp, '>', time, '... in the future');
($r) = pull('hello');
isnt($r->{headers}{'docker-content-digest'}, $old->{docker}{digest},
    'the next pull gets the rebuilt image (the source changed)');
like($r->{headers}{'docker-content-digest'}, qr/^sha256:[0-9a-f]{64}$/,
    '... a digest');
is($q->builds('hello:latest'), 1, '... without another build');
ok($t->error_log_lines(qr/nixery: image $old->{key} served past its expiry: rebuilding it in the background/),
    'the background rebuild is logged');

# A flood of pulls of one expired image: all served at once, one job.
my $flood = $fx->add_image(name => 'flood', layers => layer('flood'),
    expires => int(time) - 10);
my $flood_entry = index_text($flood);
my $before = $q->status_when(sub { 1 });
my $t0 = time;
my @f = $q->parallel($t->port, 100, GET => '/v2/flood/manifests/latest');
my $flood_took = time - $t0;
is(scalar(grep { $_->{status} == 200 } @f), 100, 'flood of 100: all 200');
is(scalar(grep { ($_->{headers}{'docker-content-digest'} // '')
    eq $flood->{docker}{digest} } @f), 100, '... all the stored image');
cmp_ok($flood_took, '<', $delay_ms / 1000,
    sprintf('... all before a build could end (%.3f s)', $flood_took));
my $after = $q->status_when(sub { 1 });
is($after->{waited}, $before->{waited}, '... none parked on the queue');
ok(Nixery::Test::poll(10, sub { index_text($flood) ne '' &&
    index_text($flood) ne $flood_entry &&
    $q->builds('flood:latest') >= 1 }), '... rebuilt');
sleep 1;
is($q->builds('flood:latest'), 1, '... once');

# Expired longer ago than nixery_stale_max: the pull waits for the build.
my $gone = $fx->add_image(name => 'gone', layers => layer('gone'),
    expires => int(time) - 120);
($r, $took) = pull('gone');
is($r->{status}, 200, 'expired past nixery_stale_max: 200');
isnt($r->{headers}{'docker-content-digest'}, $gone->{docker}{digest},
    '... the rebuilt image');
cmp_ok($took, '>=', $delay_ms / 1000 * 0.9,
    sprintf('... after waiting for the build (%.3f s)', $took));
my $wait_took = $took;
is($q->builds('gone:latest'), 1, '... built once');

# nixery_stale_max 0: as before, the pull waits.
my $off = $fx->add_image(name => 'off', layers => layer('off'),
    expires => int(time) - 5);
$t0 = time;
$r = $t->http(GET => '/v2/off/manifests/latest', port => $off_port);
$took = time - $t0;
is($r->{status}, 200, 'nixery_stale_max 0: 200');
isnt($r->{headers}{'docker-content-digest'}, $off->{docker}{digest},
    '... the rebuilt image');
cmp_ok($took, '>=', $delay_ms / 1000 * 0.9,
    sprintf('... after waiting for the build (%.3f s)', $took));

# Redis down: a stale image is still served (its rebuild asked for later).
my $down = $fx->add_image(name => 'down', layers => layer('down'),
    expires => int(time) - 10);
$q->stop_redis;
($r, $took) = pull('down');
is($r->{status}, 200, 'redis down: an expired image is still served');
is($r->{headers}{'docker-content-digest'}, $down->{docker}{digest},
    '... the stored one');
($r) = pull('nosuch');
is($r->{status}, 503, '... while a new image is 503');

diag(sprintf('pull of an expired image: %.3f s served stale, %.3f s '
    . 'waiting for its (fake, %d ms) build; 100 stale pulls at once %.3f s',
    $stale_took, $wait_took, $delay_ms, $flood_took));
$t->done;
done_testing;
