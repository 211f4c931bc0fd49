# What the module benchmarks share: the fixture image they serve and the
# nginx config that serves one storage root both through the registry
# (/v2/) and as plain static files (/static/, an alias of the root), so the
# two paths differ only by the module.
package Nixery::ModuleBench;

use strict;
use warnings;

use Exporter qw(import);
use Nixery::Fixture;

our @EXPORT_OK = qw(add_bench_image bench_conf);

# The manifest the benchmarks fetch by tag: 12 small layers, so the
# manifest (about 2 KiB) is realistic.
sub add_bench_image {
    my ($storage) = @_;
    my $fx = Nixery::Fixture->new($storage);
    my $img = $fx->add_image(name => 'shell/hello', layers => [
        map { { "etc/f$_" => "layer $_\n" x 100 } } 1 .. 12 ]);
    return ($fx, $img);
}

# The http{} contents; $extra goes at http level (e.g. nixery_index_cache).
sub bench_conf {
    my ($extra) = @_;
    $extra //= '';
    return <<"CONF";
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    $extra
    server {
        listen 127.0.0.1:%%PORT%%;
        access_log off;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
        location /static/ {
            alias %%STORAGE%%/;
            default_type application/octet-stream;
        }
    }
CONF
}

1;
