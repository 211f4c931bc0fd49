# See bench/bucket_proxy.sh. One nginx (1 worker, access_log off on the
# client side) serves both ways: /v2/ through the module in proxy mode, as
# conf/nixery-bucket.conf has it, and a plain server with `proxy_pass` to
# the bucket (the objects are public-read for it) and a static root holding
# the same bytes. Each measure alternates module and plain; the median of
# the per-pair ratios (module throughput / plain throughput) is printed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use Nixery::Test;
use Nixery::Bucket;
use Nixery::BucketRegistry;
use Nixery::Fixture;

my $blobs = $ENV{BENCH_BLOBS} // 5;          # first fetches, each a new blob
my $mib = $ENV{BENCH_MIB} // 32;             # blob size
my $repeats = $ENV{BENCH_REPEATS} // 10;     # cached downloads

my $t = Nixery::Test->new;
my $br = Nixery::BucketRegistry->new($t);
my $s3 = $br->s3;
my $dir = $t->dir;

# Blobs of pseudo-random bytes (incompressible, like layers).
my @hex;
for my $i (1 .. $blobs) {
    my $bytes = '';
    my $seed = "blob $i";
    $bytes .= Digest::SHA::sha256($seed . length $bytes)
        while length $bytes < $mib << 20;
    substr($bytes, $mib << 20) = '';
    my $hex = sha256_hex($bytes);
    my $file = $t->write_file("blob$i", $bytes);
    my $key = Nixery::Fixture->blob_path($hex);
    my ($st, $body) = $s3->curl('-T', $file, '-H', 'x-amz-acl: public-read',
        $s3->url('images', $key));
    die "upload: $st $body" unless $st == 200;
    $t->write_file("static/$key", $bytes) if $i == 1;
    push @hex, $hex;
}

my $plain_port = Nixery::Test::free_port();
my $rgw = $s3->endpoint;
$t->write_config($br->conf(blobs => 'proxy', extra => <<"CONF"));
    server {
        listen 127.0.0.1:$plain_port;
        access_log off;
        location /plain/ {
            proxy_pass $rgw/images/;
            proxy_pass_request_headers off;
        }
        location /static/ { alias $dir/static/; }
    }
CONF
$t->run;

sub seconds {
    my ($url) = @_;
    my (undef, $out) = Nixery::Test::command('curl', '-s', '-o', '/dev/null',
        '-w', '%{http_code} %{time_total} %{size_download}', $url);
    my ($code, $time, $size) = split ' ', $out;
    die "$url: $out" unless $code == 200 && $size == $mib << 20;
    return $time;
}
# Seconds to download the module's URL and the plain one, in an order that
# alternates with $i so that neither side always goes first.
sub timed_pair {
    my ($i, $module_url, $plain_url) = @_;
    return (seconds($module_url), seconds($plain_url)) if $i % 2;
    my $p = seconds($plain_url);
    return (seconds($module_url), $p);
}
sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

my $module = 'http://127.0.0.1:' . $t->port . '/v2/bench/blobs/sha256:';
my $plain = "http://127.0.0.1:$plain_port";
my (@first, @first_m, @first_p);
for my $i (0 .. $#hex) {
    my $key = Nixery::Fixture->blob_path($hex[$i]);
    my ($m, $p) = timed_pair($i, "$module$hex[$i]", "$plain/plain/$key");
    push @first_m, $m;
    push @first_p, $p;
    push @first, $p / $m;
}
my $key1 = Nixery::Fixture->blob_path($hex[0]);
my (@cached, @cached_m, @cached_p);
for my $i (1 .. $repeats) {
    my ($m, $p) = timed_pair($i, "$module$hex[0]", "$plain/static/$key1");
    push @cached_m, $m;
    push @cached_p, $p;
    push @cached, $p / $m;
}
my $mbps = sub { ($mib * 1.048576) / median(@_) };
printf "bucket proxy bench: %d MiB blobs, RGW at %s\n", $mib, $rgw;
printf "  first fetch: module %.0f MB/s, plain proxy_pass %.0f MB/s; ratio %.3f (%d blobs)\n",
    $mbps->(@first_m), $mbps->(@first_p), median(@first), $blobs;
printf "  cached: module %.0f MB/s, plain static %.0f MB/s; ratio %.3f (%d downloads)\n",
    $mbps->(@cached_m), $mbps->(@cached_p), median(@cached), $repeats;
is(scalar $br->fetches(qr{^GET /_nixery/bucket/blobs/\S+ \d+ \d+ MISS}),
    $blobs, 'each blob was fetched from the bucket once, then from disk');
$t->done;
done_testing;
