# Waiting ends early: the wait timeout answers 503 UNAVAILABLE with
# Retry-After while the build carries on (a retry is served from storage),
# and a client that disconnects while waiting is cleaned up (no leak, no
# double finalization, no crash), however many do.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 2500);
$t->write_config($t->registry_conf(server => $q->status_conf,
    http => $q->http_conf(wait => '1s',
        extra => "    nixery_retry_after 3s;\n")));
$t->run;
ok($q->wait_helper('helper'), 'helper up');

# Timeout: 503 JSON with Retry-After after ~1s; the build goes on.
my @r = $q->parallel($t->port, 5, GET => '/v2/slowimage/manifests/latest');
is(scalar(grep { $_->{status} == 503 } @r), 5, 'wait timeout: 503');
is(scalar(grep { $t->error_code($_) eq 'UNAVAILABLE' } @r), 5,
    'wait timeout: UNAVAILABLE JSON');
is($r[0]{headers}{'retry-after'}, '3', 'wait timeout: Retry-After');
ok($q->wait_builds(1), 'the build is running');
ok($t->wait_http(GET => '/v2/slowimage/manifests/latest', 200),
    'retry after the build finished: 200');
is($q->builds('slowimage:latest'), 1, 'the timed-out build ran once');

# Disconnects: 50 clients ask for an uncached image and hang up at once.
my @socks;
for (1 .. 50) {
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
        PeerPort => $t->port, Proto => 'tcp') or die "connect: $!";
    print $s "GET /v2/abandoned/manifests/latest HTTP/1.1\r\n" .
        "Host: 127.0.0.1\r\n\r\n";
    push @socks, $s;
}
ok($q->wait_builds(2), 'the abandoned image is being built');
is($q->status_when(sub { ($_[0]{waiting} // 0) == 50 })->{waiting}, 50,
    'all 50 requests parked');
close $_ for @socks;
my @gone = $t->log_lines('logs/error.log',
    qr{prematurely closed.*/v2/abandoned/}, 50);
is(scalar @gone, 50, 'nginx noticed the 50 disconnects while they waited');
# The worker is healthy and the build (which the disconnects did not
# cancel) is served afterwards.
ok($t->wait_http(GET => '/v2/abandoned/manifests/latest', 200),
    'abandoned image built and served later');
is($q->builds('abandoned:latest'), 1, 'built once');
# Disconnect then timeout: no timer fires for a request already gone
# (a stale timer would touch freed memory and kill the worker).
my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $t->port,
    Proto => 'tcp') or die;
print $s "GET /v2/another/manifests/latest HTTP/1.1\r\nHost: x\r\n\r\n";
ok($q->wait_builds(3, 15), 'another image is being built: it was parked');
close $s;
$t->log_lines('logs/error.log', qr{prematurely closed.*/v2/another/});
# A request parked after it times out after it: by then the gone client's
# timer, had it been left, would have fired.
is($t->http(GET => '/v2/later/manifests/latest')->{status}, 503,
    'a later request timed out');
is($t->http(GET => '/v2/')->{status}, 200, 'worker alive after the timeout');
is(scalar($t->error_log_lines(qr{prematurely closed.*/v2/another/})), 1,
    'the disconnect was noticed');
is(scalar($t->error_log_lines(qr{gave up waiting.*/v2/another/})),
    0, 'no wait timer fired for a client that had gone');
ok(scalar($t->error_log_lines(qr{gave up waiting.*/v2/slowimage/})) >= 5,
    'the live clients timed out');

$t->done;
done_testing;
