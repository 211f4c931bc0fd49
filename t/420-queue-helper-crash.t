# Helpers die: one killed with SIGKILL in the middle of a build leaves its
# job pending; another helper takes it over (XAUTOCLAIM) and the waiting
# clients get their image. A helper stopped with SIGTERM finishes what it
# holds first; a second SIGTERM hands it back at once.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(sleep time);
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '40s')));
$t->run;

# SIGKILL mid-build.
$q->start_helper('slow', '--fake-delay-ms', 60000);
ok($q->wait_helper('slow'), 'slow helper up');
my $pid = fork // die;
if ($pid == 0) {
    my @r = $q->parallel($t->port, 10, GET => '/v2/crashy/manifests/latest');
    POSIX::_exit((grep { $_->{status} == 200 } @r) == 10 ? 0 : 1);
}
ok($q->wait_builds(1), 'the slow helper started building');
$t->stop('slow', 'KILL');
$q->start_helper('rescuer', '--fake-delay-ms', 200);
waitpid($pid, 0);
is($? >> 8, 0, 'all 10 waiting clients got 200 after the takeover');
is($q->builds('crashy:latest'), 2, 'started twice: killed, then taken over');
ok(scalar $t->log_lines('logs/rescuer.log', qr/"msg":"job taken over"/),
    'the rescuer logged the takeover');
ok(scalar $t->log_lines('logs/rescuer.log',
    qr/"msg":"job done","image":"crashy:latest".*"deliveries":2/),
    'the job completed on its second delivery');

# SIGTERM mid-build: the build finishes and is announced.
$t->stop('rescuer');
$q->start_helper('graceful', '--fake-delay-ms', 1500);
ok($q->wait_helper('graceful'), 'graceful helper up');
$pid = fork // die;
if ($pid == 0) {
    my $r = $t->http(GET => '/v2/gentle/manifests/latest');
    POSIX::_exit($r->{status} == 200 ? 0 : 1);
}
ok($q->wait_builds(3), 'graceful helper building');
kill 'TERM', $t->pid('graceful');
waitpid($pid, 0);
is($? >> 8, 0, 'SIGTERM: the running build finished, the client got 200');
my $gpid = $t->pid('graceful');
my $deadline = time + 5;
sleep 0.05 while kill(0, $gpid) && waitpid($gpid, 1) != $gpid && time < $deadline;
like($t->read_file('logs/graceful.log') // '', qr/"msg":"stopped","jobs_done":1/,
    'the helper stopped after finishing its job');
is($q->cli('EXISTS', 'nixery:helper:graceful'), "0\n",
    'its heartbeat key is gone');

# Two SIGTERMs: the job is handed back and another helper builds it
# without counting a failed delivery.
$q->start_helper('quitter', '--fake-delay-ms', 60000);
ok($q->wait_helper('quitter'), 'quitter up');
$pid = fork // die;
if ($pid == 0) {
    my $r = $t->http(GET => '/v2/handedback/manifests/latest');
    POSIX::_exit($r->{status} == 200 ? 0 : 1);
}
ok($q->wait_builds(4), 'quitter building');
kill 'TERM', $t->pid('quitter');
# The second signal once the first is taken (pending signals coalesce).
my $until = time + 10;
sleep 0.05 until time > $until
    || ($t->read_file('logs/quitter.log') // '') =~ /"msg":"stopping/;
kill 'TERM', $t->pid('quitter');
$q->start_helper('finisher', '--fake-delay-ms', 100);
waitpid($pid, 0);
is($? >> 8, 0, 'handed-back job built by another helper, client got 200');
ok(scalar $t->log_lines('logs/quitter.log', qr/"msg":"job handed back"/),
    'the quitter handed its job back');
ok(scalar $t->log_lines('logs/finisher.log',
    qr/"msg":"job done","image":"handedback:latest".*"deliveries":1/),
    'a handed-back job does not count as a failed delivery');

$t->done;
done_testing;
