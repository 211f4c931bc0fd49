# The build queue with a real redis-server, real nginx and a real helper
# daemon (fake builder: made-up images, no Nix). An index miss builds the
# image once however many clients ask, and every error is the registry's
# JSON.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find;
use Test::More;
use Nixery::Test;
use Nixery::Fixture;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 1500, '--concurrency', 2,
    '--unknown-ttl', 300);
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '60s')));
$t->run;
ok($q->wait_helper('helper'), 'helper heartbeat visible in redis');

# 200 concurrent clients for one uncached image: one build, one digest.
my @r = $q->parallel($t->port, 200, GET => '/v2/hello/manifests/latest');
is(scalar(grep { $_->{status} == 200 } @r), 200, '200 clients all get 200');
my %digests = map { ($_->{headers}{'docker-content-digest'} // '') => 1 } @r;
is(scalar keys %digests, 1, 'all 200 get the same digest');
like((keys %digests)[0], qr/^sha256:[0-9a-f]{64}$/, 'digest header');
is($q->builds('hello:latest'), 1, 'exactly one build for 200 clients');
is($q->builds, 1, 'no other build ran');

# Served from storage afterwards, without the queue.
my $g = $t->http(GET => '/v2/hello/manifests/latest');
is($g->{status}, 200, 'cached image served');
is($q->builds, 1, 'no build for a cached image');

# HEAD by tag on an uncached image: one build, the GET's headers.
my @h = $q->parallel($t->port, 5, HEAD => '/v2/headonly/manifests/latest');
is(scalar(grep { $_->{status} == 200 } @h), 5, 'HEAD while building: 200');
is($q->builds('headonly:latest'), 1, 'HEAD by tag builds once');
my $get = $t->http(GET => '/v2/headonly/manifests/latest');
for my $name (qw(content-type content-length docker-content-digest)) {
    is($h[0]{headers}{$name}, $get->{headers}{$name}, "HEAD $name as GET");
}
is($h[0]{body}, '', 'HEAD has no body');
is($q->builds('headonly:latest'), 1, 'GET after HEAD does not build');

# Unknown packages: 404 MANIFEST_UNKNOWN naming every one of them.
my $u = $t->http(GET => '/v2/missingfoo/hello/missingbar/manifests/latest');
is($u->{status}, 404, 'unknown packages: 404');
is($t->error_code($u), 'MANIFEST_UNKNOWN', 'unknown packages: MANIFEST_UNKNOWN');
my $msg = $t->json($u)->{errors}[0]{message} // '';
like($msg, qr/missingbar/, 'message names missingbar');
like($msg, qr/missingfoo/, 'message names missingfoo');
like($u->{headers}{'content-type'}, qr{^application/json}, 'JSON error');

# A build failure: 500 UNKNOWN with the builder's words in detail.
my $f = $t->http(GET => '/v2/brokenpkg/manifests/latest');
is($f->{status}, 500, 'build failure: 500');
is($t->error_code($f), 'UNKNOWN', 'build failure: UNKNOWN');
like($t->json($f)->{errors}[0]{detail} // '', qr/builder for .*brokenpkg/,
    'detail carries the build error');

# An unknown-package flood. Cold: 60 clients at once, 20 images all
# containing the same bad name; with two build slots at most two jobs can
# reach the builder before the first one's answer is remembered.
my $before = $q->builds;
my @uris = map { "/v2/missingzzz/pkg$_/manifests/latest" } 1 .. 20;
my @flood = $q->parallel($t->port, 0, GET => [ (@uris) x 3 ]);
is(scalar(grep { $_->{status} == 404 } @flood), 60, 'cold flood: all 404');
is(scalar(grep { ($t->json($_)->{errors}[0]{message} // '') =~ /missingzzz/ }
    @flood), 60, 'cold flood: every error names the bad package');
my $cold = $q->builds - $before;
ok($cold >= 1 && $cold <= 2, "cold flood: builder ran $cold times (<= 2 slots)");
# Warm: the bad name is remembered, new images with it never reach Nix.
my @warm_uris = map { "/v2/missingzzz/other$_/manifests/latest" } 1 .. 30;
my @warm = $q->parallel($t->port, 0, GET => [ (@warm_uris) x 2 ]);
is(scalar(grep { $_->{status} == 404 } @warm), 60, 'warm flood: all 404');
is(scalar(grep { ($t->json($_)->{errors}[0]{message} // '') =~ /missingzzz/ }
    @warm), 60, 'warm flood: every error names the bad package');
is($q->builds - $before, $cold, 'warm flood: the builder did not run again');
like($q->cli('TTL', unknown_key('missingzzz')), qr/^\d+$/m,
    'the negative cache entry has a TTL');
like($q->cli('TTL', 'nixery:result:' . ('0' x 64)), qr/-2/, 'no stray keys');

# A stored result that outlived its image (collected or deleted within the
# result's 60 s): the worker drops it and the image is built again, where
# it used to answer 500 "announced as built but not in storage".
my $v = $t->http(GET => '/v2/vanishing/manifests/latest');
is($v->{status}, 200, 'vanishing image built');
my ($vhex) = $v->{headers}{'docker-content-digest'} =~ /:(.*)/;
my @gone;
find(sub { push @gone, $File::Find::name
        if -f && ($t->read_file($File::Find::name) // '') =~ /\Q$vhex\E/ },
    $t->storage . '/index');
push @gone, grep { -e } map { $t->storage . '/'
        . Nixery::Fixture->manifest_path($_, $vhex) } qw(docker oci);
is(scalar @gone, 2, 'its index entry and Docker manifest found');
unlink @gone;
my $v2 = $t->http(GET => '/v2/vanishing/manifests/latest');
is($v2->{status}, 200, 'asked again within the result\'s lifetime: 200')
    or diag($v2->{body});
is($q->builds('vanishing:latest'), 2, 'built again');
ok(scalar $t->error_log_lines(qr/announced as built but is not in storage: building it again/),
    'the stale result is logged');

# The in-flight markers are gone, the stream is drained.
is($q->cli('KEYS', 'nixery:inflight:*'), "\n", 'no in-flight markers left');
like($q->cli('XLEN', 'nixery:jobs'), qr/^0$/m, 'job stream drained');

$t->done;

# nixery:unknown:<sha256("nixery-unknown-v1\0amd64\0latest\0<pkg>")>
sub unknown_key {
    require Digest::SHA;
    return 'nixery:unknown:' . Digest::SHA::sha256_hex(
        join "\0", 'nixery-unknown-v1', 'amd64', 'latest', $_[0]);
}
done_testing;
