# After an internal redirect (rewrite, error_page) only nginx's decoded URI
# is left; the registry validates it as strictly as a raw one.
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
$t->write_config($t->registry_conf(server => <<'CONF'));
        location /alias/ {
            rewrite ^/alias/(.*)$ /v2/$1 last;
        }
        location /teapot/ {
            error_page 418 = /v2/hello/manifests/latest;
            return 418;
        }
CONF
$t->run;

my $r = $t->http(GET => '/alias/hello/manifests/latest');
is($r->{status}, 200, 'rewritten into /v2/: served');
ok($r->{body} eq $img->{docker}{bytes}, 'rewritten: the manifest');
is($t->http(GET => '/alias/hello/manifests/latest?x=1')->{status}, 200,
    'rewritten with a query string');
is($t->http(GET => "/alias/x/blobs/$img->{config}{digest}")->{body},
    $img->{config}{bytes}, 'rewritten blob');
# The decoded URI may hold what the raw one spelled with %XX: still validated.
$r = $t->http(GET => '/alias/hello%2fx/manifests/latest');
is($t->error_code($r), 'MANIFEST_UNKNOWN', '%2f decoded: a valid name, not stored');
$r = $t->http(GET => '/alias/HELLO/manifests/latest');
is($t->error_code($r), 'NAME_INVALID', 'rewritten uppercase name: 400');
# nginx resolves the decoded "..": /v2/hello/, no such route.
$r = $t->http(GET => '/alias/hello/manifests/%2e%2e');
is($r->{status}, 404, 'rewritten .. tag: resolved by nginx, 404');
is($t->error_code($r), 'UNSUPPORTED', 'rewritten .. tag: no such route');
$r = $t->http(GET => '/alias/hello/blobs/sha256:%2e%2e%2f%2e%2e%2fsecret');
is($r->{status}, 400, 'decoded traversal in a digest: 400');
is($t->error_code($r), 'DIGEST_INVALID', 'decoded traversal in a digest: DIGEST_INVALID');
$r = $t->http(GET => '/teapot/x');
is($r->{status}, 200, 'error_page into the registry');
is($r->{headers}{'docker-content-digest'}, $img->{docker}{digest}, 'error_page: digest');

$t->done;
done_testing;
