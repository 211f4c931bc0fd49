# What Redis hands back that the module cannot use ends the wait at once,
# with the registry's JSON and a log line naming the image's key, instead
# of leaving clients to wait out nixery_wait_timeout: a result that cannot
# be read (announced on nixery:done, or stored under nixery:result:<key>),
# a stored result naming another image, and an enqueue script Redis
# refuses. No helper runs: the test writes what a broken one would.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '30s')));
$t->run;
ok($t->wait_http(GET => '/v2/', 200), 'nginx up');

# The key of the job queued for an image name (from the stream: the module
# computed it), once the request has been parked and its job sent.
sub job_key {
    my ($name) = @_;
    my $out = Nixery::Test::poll(10, sub {
        my $jobs = $q->cli('XRANGE', 'nixery:jobs', '-', '+') // '';
        my ($key) = $jobs =~ /"key":"([0-9a-f]{64})","name":"\Q$name\E"/;
        return $key;
    });
    return $out;
}

# An unreadable announcement. Which image it was for cannot be told, so
# the worker asks Redis again for every image waited on and finds the
# stored result (the complete script stores it before announcing it).
my $clients = $q->background(2, '/v2/garbled/manifests/latest');
my $key = job_key('garbled');
ok($key, 'the job was queued') or diag($q->cli('XRANGE', 'nixery:jobs', '-', '+'));
$q->cli('SET', "nixery:result:$key", 'not a result {');
my $sent = time;
$q->cli('PUBLISH', 'nixery:done', 'not a result {');
is($clients->(), "500:UNKNOWN 500:UNKNOWN\n",
    'unreadable result announced: the waiting clients get 500 UNKNOWN');
my $took = time - $sent;
cmp_ok($took, '<', 5, sprintf('at once (%.1fs), not after the 30s wait', $took));
ok(scalar $t->log_lines('logs/error.log',
        qr/\[error\].*nixery: an unreadable build result was announced/),
    'the announcement is logged');
ok(scalar $t->error_log_lines(
        qr/\[error\].*nixery: the build result stored for image $key could not be read: "not a result \{"/),
    'the unreadable result is logged with the key');

# The same image again: the enqueue script returns the stored result.
$sent = time;
my $r = $t->http(GET => '/v2/garbled/manifests/latest');
$took = time - $sent;
is($r->{status}, 500, 'unreadable stored result: 500');
is($t->error_code($r), 'UNKNOWN', 'UNKNOWN');
like($t->json($r)->{errors}[0]{message} // '',
    qr/the build result could not be read/, 'the message says why');
like($r->{headers}{'content-type'} // '', qr{^application/json}, 'JSON');
cmp_ok($took, '<', 5, sprintf('answered at once (%.1fs)', $took));
is(scalar $t->log_lines('logs/error.log',
        qr/stored for image $key could not be read/, 2), 2,
    'logged again, with the key');

# A readable result stored under one image's key that names another.
$clients = $q->background(1, '/v2/crossed/manifests/latest');
my $crossed = job_key('crossed');
ok($crossed, 'the job was queued');
$q->cli('SET', "nixery:result:$crossed",
    '{"v":1,"key":"' . ('0' x 64) . '","ok":true}');
$q->cli('PUBLISH', 'nixery:done', 'garbage');
is($clients->(), "500:UNKNOWN\n",
    'a stored result for another key: 500 UNKNOWN, not a wrong image');
ok(scalar $t->log_lines('logs/error.log',
        qr/stored for image $crossed could not be read/),
    'logged with the key');

# Redis refuses the enqueue script (here: an ACL without EVAL).
$q->cli('ACL', 'SETUSER', 'default', '-eval');
$sent = time;
$r = $t->http(GET => '/v2/refused/manifests/latest');
$took = time - $sent;
is($r->{status}, 503, 'enqueue refused: 503');
is($t->error_code($r), 'UNAVAILABLE', 'UNAVAILABLE');
like($t->json($r)->{errors}[0]{message} // '',
    qr/the build queue refused the job/, 'the message says why');
cmp_ok($took, '<', 5, sprintf('answered at once (%.1fs)', $took));
ok(scalar $t->log_lines('logs/error.log',
        qr/\[error\].*nixery: the build queue refused the job for image [0-9a-f]{64}: NOPERM/),
    'logged with the key and the reason');
$q->cli('ACL', 'SETUSER', 'default', '+eval');

# The worker is fine afterwards: a readable failure still answers.
$clients = $q->background(1, '/v2/later/manifests/latest');
my $later = job_key('later');
ok($later, 'a job is queued again');
my $result = '{"v":1,"key":"' . $later . '","ok":false,"code":"UNKNOWN",' .
    '"message":"image build failed","detail":"test","unknown":[]}';
$q->cli('SET', "nixery:result:$later", $result);
$q->cli('PUBLISH', 'nixery:done', $result);
is($clients->(), "500:UNKNOWN\n", 'a readable failure is still answered');

$t->done;
done_testing;
