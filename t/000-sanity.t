# The module loads into Debian's nginx and answers the API version check.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;

my $t = Nixery::Test->new;
$t->write_config($t->http_conf(<<'CONF'));
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
    }
CONF
$t->run;

my $r = $t->http(GET => '/v2/');
is($r->{status}, 200, 'GET /v2/ is 200');
is($r->{body}, "{}\n", 'GET /v2/ body is {}');
like($r->{headers}{'content-type'}, qr{^application/json}, 'json type');

$t->done;
done_testing;
