# The registry is one location among ordinary nginx: a static website at /,
# TLS, auth_basic on the registry and access logs all keep working beside it.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Fixture;
use Nixery::Test;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'hello');
my $dir = $t->dir;

system("openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
    . "-nodes -subj /CN=localhost -days 2 -keyout $dir/conf/tls.key "
    . "-out $dir/conf/tls.crt 2>/dev/null") == 0
    or BAIL_OUT('openssl cannot make a certificate');
$t->write_file('conf/htpasswd', 'puller:' . crypt('s3cret', '$6$nixerysalt$') . "\n");
$t->write_file('html/index.html', "<h1>static site</h1>\n");
$t->write_file('html/about/index.html', "<p>about</p>\n");
$t->write_file('html/style.css', "body { color: black }\n");
$t->port_var("TLSPORT");
$t->port_var("AUTHPORT");

$t->write_config($t->http_conf(<<'CONF'));
    include /etc/nginx/mime.types;
    log_format registry '$request|$status|$body_bytes_sent|$remote_user';
    server {
        listen 127.0.0.1:%%PORT%%;
        listen 127.0.0.1:%%TLSPORT%% ssl;
        ssl_certificate %%PREFIX%%/conf/tls.crt;
        ssl_certificate_key %%PREFIX%%/conf/tls.key;
        root %%PREFIX%%/html;
        index index.html;
        access_log %%PREFIX%%/logs/registry.log registry;

        location / {
        }
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
    }
    server {
        listen 127.0.0.1:%%AUTHPORT%%;
        root %%PREFIX%%/html;
        nixery_storage %%STORAGE%%;
        location /v2/ {
            nixery;
            auth_basic "registry";
            auth_basic_user_file %%PREFIX%%/conf/htpasswd;
        }
    }
CONF
$t->run;
$t->wait_port($t->{vars}{AUTHPORT});
my $tls = $t->{vars}{TLSPORT};
my $authport = $t->{vars}{AUTHPORT};

# The static site.
my $r = $t->http(GET => '/');
is($r->{status}, 200, 'static index: 200');
is($r->{body}, "<h1>static site</h1>\n", 'static index: body');
like($r->{headers}{'content-type'}, qr{^text/html}, 'static index: html');
ok(!exists $r->{headers}{'docker-distribution-api-version'},
    'static site has no registry headers');
is($t->http(GET => '/style.css')->{headers}{'content-type'}, 'text/css', 'css');
is($t->http(GET => '/about/')->{body}, "<p>about</p>\n", 'directory index');
$r = $t->http(GET => '/missing.html');
is($r->{status}, 404, 'static 404');
like($r->{body}, qr/<html>/i, "static 404 is nginx's own page, not JSON");
is($t->http(GET => '/v2/hello/manifests/latest')->{body}, $img->{docker}{bytes},
    'registry beside the site');

# TLS.
$r = $t->curl('https', $tls, '/v2/hello/manifests/latest', '-k');
is($r->{status}, 200, 'TLS: manifest 200');
ok($r->{body} eq $img->{docker}{bytes}, 'TLS: manifest body');
is($r->{headers}{'docker-content-digest'}, $img->{docker}{digest}, 'TLS: digest');
$r = $t->curl('https', $tls, "/v2/x/blobs/$img->{layers}[0]{digest}", '-k');
ok($r->{body} eq $img->{layers}[0]{bytes}, 'TLS: blob body');
$r = $t->curl('https', $tls, '/', '-k');
is($r->{body}, "<h1>static site</h1>\n", 'TLS: static site');

# auth_basic in front of the registry.
$r = $t->http(GET => '/v2/', port => $authport);
is($r->{status}, 401, 'auth: 401 without credentials');
like($r->{headers}{'www-authenticate'}, qr/^Basic realm="registry"/, 'auth: challenge');
$r = $t->curl('http', $authport, '/v2/hello/manifests/latest', '-u', 'puller:wrong');
is($r->{status}, 401, 'auth: 401 with a wrong password');
$r = $t->curl('http', $authport, '/v2/hello/manifests/latest', '-u', 'puller:s3cret');
is($r->{status}, 200, 'auth: 200 with credentials');
ok($r->{body} eq $img->{docker}{bytes}, 'auth: manifest body');
$r = $t->curl('http', $authport, '/v2/hello/manifests/nope', '-u', 'puller:s3cret');
is($t->error_code($r), 'MANIFEST_UNKNOWN', 'auth: registry errors behind auth');

# Access log: the registry's requests are logged like any other.
$t->http(GET => '/v2/hello/blobs/sha256:' . ('0' x 64));
$t->stop_nginx;
my @log = split /\n/, $t->read_file('logs/registry.log') // '';
ok((grep { $_ eq "GET /v2/hello/manifests/latest HTTP/1.1|200|$img->{docker}{size}|-" } @log),
    'access log: manifest GET with its size');
ok((grep { m{^GET /v2/hello/blobs/sha256:0{64} HTTP/1.1\|404\|\d+\|-$} } @log),
    'access log: 404 blob');
ok((grep { $_ eq 'GET / HTTP/1.1|200|21|-' } @log), 'access log: static site');
ok((grep { m{^GET /v2/hello/manifests/latest HTTP/1.1\|200\|} } @log) >= 2,
    'access log: TLS requests too');
my @auth = grep { /\|puller$/ } split /\n/, $t->read_file('logs/access.log') // '';
is(scalar @auth, 0, 'other server logs to its own access_log (combined format)');
like($t->read_file('logs/access.log') // '', qr/"GET \/v2\/hello\/manifests\/latest HTTP\/1.1" 200 \d+ .*/,
    'auth server: combined access log line');
like($t->read_file('logs/access.log') // '', qr/ - puller \[/, 'auth server: user logged');

$t->done;
done_testing;
