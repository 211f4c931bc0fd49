# Redis goes away and comes back (TCP this time): uncached images get 503
# with a JSON error and Retry-After, cached images keep being served, and
# once Redis is back builds work again without touching nginx. Requests
# already waiting ride out a short outage (up to nixery_redis_timeout) and
# get their image; a longer one answers them with 503.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 100);
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '20s',
        extra => "    nixery_retry_after 7s;\n    nixery_redis_timeout 2s;\n"),
    workers => 2));
$t->run;
ok($q->wait_helper('helper'), 'helper up');

my $r = $t->http(GET => '/v2/cached/manifests/latest');
is($r->{status}, 200, 'built while redis is up');
my $digest = $r->{headers}{'docker-content-digest'};

# Every worker notices before the requests: one parked on a connection
# not yet seen dead would wait nixery_redis_timeout instead of a 503.
my @workers = $t->wait_workers(2);
$q->stop_redis;
my $noticed = Nixery::Test::poll(10, sub {
    my %seen = map { /\] (\d+)#/ ? ($1 => 1) : () }
        $t->error_log_lines(qr/nixery: redis \w+ connection to /);
    return scalar grep { $seen{$_} } @workers;
}, sub { $_[0] == 2 });
is($noticed, 2, 'redis down: both workers noticed');
my @down = map { $t->http(GET => "/v2/uncached$_/manifests/latest") } 1 .. 4;
is(scalar(grep { $_->{status} == 503 } @down), 4, 'redis down: uncached 503');
is(scalar(grep { $t->error_code($_) eq 'UNAVAILABLE' } @down), 4,
    'redis down: UNAVAILABLE JSON');
is($down[0]{headers}{'retry-after'}, '7', 'Retry-After from nixery_retry_after');
like($down[0]{headers}{'content-type'}, qr{^application/json}, 'JSON type');
my @cached = map { $t->http(GET => '/v2/cached/manifests/latest') } 1 .. 4;
is(scalar(grep { $_->{status} == 200 } @cached), 4, 'redis down: cached 200');
is($cached[0]{headers}{'docker-content-digest'}, $digest, 'same digest');
my $head = $t->http(HEAD => '/v2/cached/manifests/latest');
is($head->{status}, 200, 'redis down: cached HEAD 200');

# Redis back on the same address; nginx reconnects by itself (backoff is
# at most 2s), the helper too.
$q->start_redis;
ok($t->wait_http(GET => '/v2/afterwards/manifests/latest', 200, 15),
    'redis back: an uncached image builds without restarting nginx');
is($q->builds('afterwards:latest'), 1, 'built once');
# Both workers reconnected: each serves a build.
my @both = $q->parallel($t->port, 20, GET => '/v2/again/manifests/latest');
is(scalar(grep { $_->{status} == 200 } @both), 20, 'all workers serve builds');
my @reconnects = $t->error_log_lines(qr/nixery: subscribed to build results/);
ok(@reconnects >= 4, 'each worker subscribed twice (start, reconnect)');

# Requests parked on a slow build while Redis restarts (and loses every
# key: no persistence): they wait, their job is sent again, they get 200.
$t->stop('helper');
$q->start_helper('slow', '--fake-delay-ms', 1500);
ok($q->wait_helper('slow'), 'slow helper up');
my $before = $q->builds;
my $clients = $q->background(6, '/v2/blip/manifests/latest');
ok($q->wait_builds($before + 1), 'the build started');
$q->stop_redis;
$q->start_redis;
is($clients->(), join(' ', ('200:') x 6) . "\n",
    'redis restarted under waiting requests: all 6 got the image');

# Redis gone for longer than nixery_redis_timeout (2s): the waiting
# requests get 503 once it has passed, not after the 20s wait timeout.
$before = $q->builds;
$clients = $q->background(4, '/v2/gone/manifests/latest');
ok($q->wait_builds($before + 1), 'another build started');
my $stopped = time;
$q->stop_redis;
my $answers = $clients->();
my $took = time - $stopped;
is($answers, join(' ', ('503:UNAVAILABLE') x 4) . "\n",
    'redis gone: the waiting requests get 503 UNAVAILABLE');
cmp_ok($took, '>=', 1.5, sprintf('they waited for redis to come back (%.1fs)', $took));
cmp_ok($took, '<', 15, 'and got their answer well before the wait timeout');

$t->done;
done_testing;
