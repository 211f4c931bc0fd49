# tags/list under `nixery_tags git` reads the helpers' list of tags from
# Redis (`nixery:tags`, docs/redis.md) without blocking the worker, and
# answers `latest` alone, always true, when there is no list to read: no
# key (no helper on a git source, or its list expired), a record it cannot
# read, Redis refusing the GET, Redis silent or lost under a waiting
# request, Redis down. Under `nixery_tags latest` it
# never asks Redis. No helper runs: the test writes what one would.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(sleep time);
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
my $latest_port = $t->port_var('LATESTPORT');
$t->write_config($t->http_conf($q->http_conf(
    extra => "    nixery_redis_timeout 3s;\n") . <<'CONF', workers => 2));
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
            nixery_tags git;
        }
        location = /status { nixery_status; }
    }
    server {
        listen 127.0.0.1:%%LATESTPORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
    }
CONF
$t->run;
ok($t->wait_http(GET => '/v2/', 200), 'nginx up');

sub tags {
    my ($query, %opt) = @_;
    my $r = $t->http(GET => '/v2/shell/git/tags/list' . ($query // ''), %opt);
    is($r->{status}, 200, 'tags/list' . ($query // '') . ': 200')
        or diag($r->{body});
    return $t->json($r) // {};
}
sub gets {
    my ($n) = ($q->cli('INFO', 'commandstats') // '') =~ /cmdstat_get:calls=(\d+)/;
    return $n // 0;
}
# The tags_* counters of nixery_status: what the reads gave, so far.
sub reads {
    my $r = $t->http(GET => '/status');
    my $s = $t->json($r) // {};
    return { map { $_ => $s->{"tags_$_"} } qw(listed absent unreadable unavailable) };
}
my %reads = (listed => 0, absent => 0, unreadable => 0, unavailable => 0);
sub reads_are {
    my ($what, %more) = @_;
    $reads{$_} += $more{$_} for keys %more;
    is_deeply(reads(), \%reads, "nixery_status counts the reads: $what");
}
sub record { '{"v":1,"helper":"h","listed_ms":1,"tags":[' .
    join(',', map { "\"$_\"" } @_) . ']}' }

# Both workers have their connections up before the first request.
my $up = Nixery::Test::poll(10, sub {
    scalar $t->error_log_lines(qr/subscribed to build results/) }, sub { $_[0] >= 2 });
ok($up >= 2, 'both workers subscribed');

# No key: latest alone.
is_deeply(tags(), { name => 'shell/git', tags => ['latest'] },
    'no list in redis: latest alone');
reads_are('absent', absent => 1);

# A helper's record: latest and its names, sorted; names that are no
# image tags are left out.
$q->cli('SET', 'nixery:tags',
    record('v2', 'main', 'feature/x', 'Beta', 'latest',
        '0123456789abcdef0123456789abcdef01234567'));
my $before = gets();
is_deeply(tags()->{tags}, [qw(Beta latest main v2)],
    'the record: latest and the branches, sorted');
is(gets(), $before + 1, 'one GET');
my $r = $t->http(GET => '/v2/shell/git/tags/list?n=3');
is_deeply($t->json($r)->{tags}, [qw(Beta latest main)], 'n=3');
is($r->{headers}{link}, '</v2/shell/git/tags/list?n=3&last=main>; rel="next"',
    '... with the Link');
is_deeply(tags('?n=3&last=main')->{tags}, ['v2'], 'the next page');
$r = $t->http(HEAD => '/v2/shell/git/tags/list?n=1');
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{link}, '</v2/shell/git/tags/list?n=1&last=Beta>; rel="next"',
    'HEAD: the Link too');
is($r->{body}, '', 'HEAD: no body');
reads_are('listed four times', listed => 4);

# The latest location never asks Redis, whatever it holds.
$before = gets();
is_deeply(tags('', port => $latest_port)->{tags}, ['latest'],
    'nixery_tags latest: latest alone');
is(gets(), $before, '... without asking redis');
reads_are('none under nixery_tags latest');

# A record that cannot be read: latest alone, and a line in error.log.
$q->cli('SET', 'nixery:tags', '{"v":7,"tags":"nope"}');
is_deeply(tags()->{tags}, ['latest'], 'an unreadable record: latest alone');
ok(scalar $t->log_lines('logs/error.log', qr/list of tags in redis .* could not be read/),
    '... logged');
$q->cli('DEL', 'nixery:tags');
$q->cli('RPUSH', 'nixery:tags', 'main');
is_deeply(tags()->{tags}, ['latest'], 'Redis refuses the GET: latest alone');
ok(scalar $t->log_lines('logs/error.log', qr/redis refused to read the list of tags/),
    '... logged');
reads_are('unreadable twice', unreadable => 2);

# An expired record is no record.
$q->cli('DEL', 'nixery:tags');
$q->cli('SET', 'nixery:tags', record('main'), 'PX', 300);
is_deeply(tags()->{tags}, [qw(latest main)], 'the record before its TTL');
sleep 0.5;
is_deeply(tags()->{tags}, ['latest'], '... and after it: latest alone');
reads_are('listed, then absent', listed => 1, absent => 1);

# Redis silent while a request waits (every client paused): the command
# connection's timeout (nixery_redis_timeout, 3 s here) ends the wait with
# latest alone, and once Redis answers again so does the list.
$q->cli('SET', 'nixery:tags', record('main'));
$q->cli('CLIENT', 'PAUSE', 5000, 'ALL');
my $t0 = time;
is_deeply(tags()->{tags}, ['latest'], 'redis silent: latest alone');
my $took = time - $t0;
ok($took > 2.5 && $took < 4.8, sprintf('... at the redis timeout (%.1f s)', $took));
reads_are('unavailable', unavailable => 1);
my $back = Nixery::Test::poll(20, sub {
    my $r = $t->http(GET => '/v2/shell/git/tags/list');
    ($t->json($r) // {})->{tags} // [] }, sub { @{ $_[0] } == 2 });
is_deeply($back, [qw(latest main)], '... and the list once redis answers');
%reads = %{ reads() }; # the polling above read a varying number of times

# Redis gone while a request waits: answered at once, not at the timeout.
$q->cli('CLIENT', 'PAUSE', 10000, 'ALL');
my $sent = time;
my $waiting = $q->background(1, '/v2/shell/git/tags/list');
sleep 0.5;
$t->stop('redis', 'KILL');
my $killed = time;
is($waiting->(), "200:\n", 'redis killed under a waiting request: 200');
my $done = time;
ok($done - $sent >= 0.5, sprintf('... it waited until the kill (%.1f s)',
    $done - $sent));
ok($done - $killed < 2, sprintf('... and was answered %.1f s after it, '
    . 'before the timeout', $done - $killed));
reads_are('unavailable: lost under the request', unavailable => 1);

# Redis down: latest alone, at once, not 503.
my $down = Nixery::Test::poll(10, sub {
    scalar $t->error_log_lines(qr/nixery: redis \w+ connection to /) },
    sub { $_[0] >= 2 });
is_deeply(tags()->{tags}, ['latest'], 'redis down: latest alone');
is_deeply(tags('?n=0')->{tags}, [], 'redis down: pages still work');
reads_are('unavailable: redis down', unavailable => 2);

$t->done;
done_testing;
