# Helpers die: one killed with SIGKILL in the middle of a build leaves its
# job pending; another helper takes it over (XAUTOCLAIM) and the waiting
# clients get their image. A helper stopped with SIGTERM finishes what it
# holds first; a second SIGTERM hands it back at once.
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
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '40s')));
$t->run;

# SIGKILL mid-build.
$q->start_helper('slow', '--fake-delay-ms', 60000);
ok($q->wait_helper('slow'), 'slow helper up');
my $clients = $q->background(10, '/v2/crashy/manifests/latest');
ok($q->wait_builds(1), 'the slow helper started building');
$t->stop('slow', 'KILL');
$q->start_helper('rescuer', '--fake-delay-ms', 200);
is($clients->(), join(' ', ('200:') x 10) . "\n",
    'all 10 waiting clients got 200 after the takeover');
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
$clients = $q->background(1, '/v2/gentle/manifests/latest');
ok($q->wait_builds(3), 'graceful helper building');
kill 'TERM', $t->pid('graceful');
is($clients->(), "200:\n",
    'SIGTERM: the running build finished, the client got 200');
$t->stop('graceful', 0);    # signal 0: wait for the TERM it has
like($t->read_file('logs/graceful.log') // '', qr/"msg":"stopped","jobs_done":1/,
    'the helper stopped after finishing its job');
is($q->cli('EXISTS', 'nixery:helper:graceful'), "0\n",
    'its heartbeat key is gone');

# Two SIGTERMs: the job is handed back and another helper builds it
# without counting a failed delivery.
$q->start_helper('quitter', '--fake-delay-ms', 60000);
ok($q->wait_helper('quitter'), 'quitter up');
$clients = $q->background(1, '/v2/handedback/manifests/latest');
ok($q->wait_builds(4), 'quitter building');
kill 'TERM', $t->pid('quitter');
# The second signal once the first is taken (pending signals coalesce).
$t->log_lines('logs/quitter.log', qr/"msg":"stopping/);
kill 'TERM', $t->pid('quitter');
$q->start_helper('finisher', '--fake-delay-ms', 100);
is($clients->(), "200:\n",
    'handed-back job built by another helper, client got 200');
ok(scalar $t->log_lines('logs/quitter.log', qr/"msg":"job handed back"/),
    'the quitter handed its job back');
ok(scalar $t->log_lines('logs/finisher.log',
    qr/"msg":"job done","image":"handedback:latest".*"deliveries":1/),
    'a handed-back job does not count as a failed delivery');

$t->done;
done_testing;
