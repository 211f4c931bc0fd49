# nginx -s reload (SIGHUP) with requests waiting for a build: the old
# workers keep their Redis connections and answer every parked request
# when the build is done, then exit; the new workers connect by themselves
# and serve new builds.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 2000);
ok($q->wait_helper('helper'), 'helper up');
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '30s'),
    server => $q->status_conf, workers => 2));
$t->run;
my @old = $t->wait_workers(2);
is(scalar @old, 2, 'two workers');

my $clients = $q->background(8, '/v2/during/manifests/latest');
ok($q->wait_builds(1), 'the build started');
is($q->status_when(sub { ($_[0]{waiting} // 0) == 8 })->{waiting}, 8,
    'every request parked');

# Reload with a changed configuration.
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '25s'),
    server => $q->status_conf, workers => 2));
kill 'HUP', $t->pid('nginx');
my %old = map { $_ => 1 } @old;
my $new = Nixery::Test::poll(10, sub { [ grep { !$old{$_} } $t->worker_pids ] },
    sub { @{ $_[0] } >= 2 });
is(scalar @$new, 2, 'two new workers after the reload');

is($clients->(), join(' ', ('200:') x 8) . "\n",
    'all 8 requests parked across the reload got the image');
is($q->builds('during:latest'), 1, 'built once');

is(Nixery::Test::poll(10, sub { scalar grep { kill 0, $_ } @old },
    sub { $_[0] == 0 }), 0, 'the old workers exited once done');

ok($t->wait_http(GET => '/v2/after/manifests/latest', 200, 15),
    'the new workers reach Redis and serve a new build');
is($q->builds('after:latest'), 1, 'built once');
ok(scalar $t->error_log_lines(qr/gracefully shutting down/),
    'the old workers shut down gracefully');

$t->done;
done_testing;
