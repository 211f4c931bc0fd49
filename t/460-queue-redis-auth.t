# A Redis that requires a password (requirepass, and a Redis 6 ACL user):
# nginx sends `nixery_redis_auth` on both of its connections and the helper
# NIXERY_REDIS_PASSWORD / NIXERY_REDIS_USER on each of its own, and builds
# work. Wrong credentials are logged, uncached images get 503 JSON, cached
# ones are still served, and nothing crashes.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Queue;

my $password = 'pa$$ w0rd "quoted"';
my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t, password => $password);
$q->start_redis;
like($q->cli('PING'), qr/PONG/, 'redis-cli authenticates');
$q->start_helper('helper', '--fake-delay-ms', 50);
ok($q->wait_helper('helper'), 'the helper authenticated (heartbeat key)');

(my $quoted = $password) =~ s/(["\\])/\\$1/g;
$t->write_config($t->registry_conf(
    http => $q->http_conf(extra => qq{    nixery_redis_auth "$quoted";\n})));
$t->run;
my $r = $t->http(GET => '/v2/authed/manifests/latest');
is($r->{status}, 200, 'a build through authenticated connections');
is($q->builds('authed:latest'), 1, 'built once');
is(scalar $t->error_log_lines(qr/AUTH refused/), 0, 'no AUTH error logged');

# A Redis 6 ACL user for a second nginx and a second helper.
like($q->cli('ACL', 'SETUSER', 'puller', 'on', '>user-pw', '~nixery:*',
    '&*', '+@all', '-@dangerous', '+info'), qr/OK/, 'ACL user made');
my $acl = Nixery::Test->new(storage => $t->storage);
$acl->write_config($acl->registry_conf(
    http => $q->http_conf(extra => "    nixery_redis_auth puller user-pw;\n")));
$acl->run;
$t->stop('helper');
$q->start_helper('acl-helper',
    { NIXERY_REDIS_USER => 'puller', NIXERY_REDIS_PASSWORD => 'user-pw' },
    '--fake-delay-ms', 50);
ok($q->wait_helper('acl-helper'), 'a helper as the ACL user');
$r = $acl->http(GET => '/v2/asuser/manifests/latest');
is($r->{status}, 200, 'a build with a user name and password');
is($q->builds('asuser:latest'), 1, 'built by the ACL user helper');

# Wrong credentials in nginx: logged, 503 JSON for uncached images, cached
# ones served.
my $wrong = Nixery::Test->new(storage => $t->storage);
$wrong->write_config($wrong->registry_conf(
    http => $q->http_conf(extra => "    nixery_redis_auth not-it;\n")));
$wrong->run;
ok(scalar $wrong->log_lines('logs/error.log', qr/AUTH refused/),
    'a refused AUTH is logged') or diag($wrong->read_file('logs/error.log'));
$r = $wrong->http(GET => '/v2/neverbuilt/manifests/latest');
is($r->{status}, 503, 'wrong password: uncached 503');
is($wrong->error_code($r), 'UNAVAILABLE', 'UNAVAILABLE JSON');
$r = $wrong->http(GET => '/v2/authed/manifests/latest');
is($r->{status}, 200, 'wrong password: cached image still served');
is($q->builds('neverbuilt:latest'), 0, 'no job was queued');

# A helper with the wrong password keeps retrying without a heartbeat.
$q->start_helper('bad-helper', { NIXERY_REDIS_PASSWORD => 'not-it' });
ok(scalar $t->log_lines('logs/bad-helper.log', qr/AUTH refused/),
    'the helper logs the refused AUTH');
ok(kill(0, $t->pid('bad-helper')), 'and keeps running');
is($q->cli('EXISTS', 'nixery:helper:bad-helper'), "0\n", 'with no heartbeat');
$t->stop('bad-helper');

$wrong->done;
$acl->done;
$t->done;
done_testing;
