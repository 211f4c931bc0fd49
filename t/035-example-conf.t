# conf/nixery.conf, the shipped example, runs as written (paths and ports
# swapped for the test's): static site at /, registry on /v2/, TLS, the
# plain-HTTP redirect, and the build queue (a private Redis and a helper
# with the fake builder; t/530 runs it with the real one).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Fixture;
use Nixery::Queue;
use Nixery::Test;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'shell/git');
my $dir = $t->dir;
system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    . "-nodes -subj /CN=localhost -days 2 -keyout $dir/conf/tls.key "
    . "-out $dir/conf/tls.crt 2>/dev/null") == 0 or BAIL_OUT('openssl');
$t->write_file('html/index.html', "<p>welcome</p>\n");

my $example = $t->read_file("$Nixery::Test::ROOT/conf/nixery.conf")
    // BAIL_OUT('conf/nixery.conf missing');
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
$q->start_helper('helper');
$t->port_var('TLSPORT');
my %swap = (
    'listen 80;' => 'listen 127.0.0.1:%%PORT%%;',
    'listen 443 ssl;' => 'listen 127.0.0.1:%%TLSPORT%% ssl;',
    '/etc/ssl/certs/registry.example.com.pem' => "$dir/conf/tls.crt",
    '/etc/ssl/private/registry.example.com.key' => "$dir/conf/tls.key",
    '/var/log/nginx/' => "$dir/logs/",
    '/srv/www' => "$dir/html",
    '/var/lib/nixery' => '%%STORAGE%%',
    '127.0.0.1:6379' => $q->address,
);
for my $from (keys %swap) {
    my $n = ($example =~ s/\Q$from\E/$swap{$from}/g);
    ok($n, "example has $from");
}
$t->write_config($t->http_conf("    include /etc/nginx/mime.types;\n$example"));
$t->run;
my $tls = $t->{vars}{TLSPORT};
$t->wait_port($tls);

my $r = $t->http(GET => '/v2/');
is($r->{status}, 301, 'plain HTTP redirects');
like($r->{headers}{location}, qr{^https://}, 'to https');
$r = $t->curl('https', $tls, '/', '-k');
is($r->{body}, "<p>welcome</p>\n", 'static site');
$r = $t->curl('https', $tls, '/v2/shell/git/manifests/latest', '-k');
is($r->{status}, 200, 'registry manifest');
ok($r->{body} eq $img->{docker}{bytes}, 'registry manifest body');
$r = $t->curl('https', $tls, '/v2/shell/missingpkg/manifests/latest', '-k');
is($t->error_code($r), 'MANIFEST_UNKNOWN', 'registry error (through the queue)');
# What nginx refuses before routing: the registry's JSON through the
# example's error_page and nixery_rejected location.
$r = $t->curl('https', $tls, '/v2/' . ('a' x 40000) . '/manifests/latest', '-k');
is($r->{status}, 414, 'request line beyond the buffers: 414');
is($t->error_code($r), 'NAME_INVALID', '414 in the registry\'s JSON');
$r = $t->curl('https', $tls, '/v2/../../etc/passwd', '-k', '--path-as-is');
is($r->{status}, 400, 'path above the root: 400');
is($t->error_code($r), 'UNSUPPORTED', '400 in the registry\'s JSON');
$r = $t->curl('https', $tls, '/nixery-status', '-k');
is($r->{status}, 200, 'the example\'s nixery_status location');
like($r->{body}, qr/"rejected":2,/, 'it counted both refused requests');
$r = $t->curl('https', $tls, '/.nixery-rejected', '-k');
is($r->{status}, 404, 'the error location is internal');
ok(-s "$dir/logs/registry.access.log", 'access log written');

$t->done;
done_testing;
