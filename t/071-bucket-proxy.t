# Blobs proxied from the bucket (`nixery_bucket_blobs proxy`, the example
# config otherwise as written): nginx fetches a blob from RGW once into
# its proxy cache and serves it from there with the registry's headers
# (Range too); a blob the bucket lacks is the registry's 404 JSON; with
# RGW stopped, skopeo still copies an image this host has served before,
# and an uncached blob is 503 JSON.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use Nixery::Bucket;
use Nixery::BucketRegistry;
use Nixery::Fixture;
use Nixery::Test;

Nixery::Bucket::need();

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $br = Nixery::BucketRegistry->new($t);
my $s3 = $br->s3;
my $hello = $br->add_image(name => 'hello', layers => [
    { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\necho hello\n" . ('x' x 5000) },
    { 'etc/' => undef, 'etc/motd' => "hi\n" },
]);
my $other = $br->add_image(name => 'other');

$t->write_config($br->conf(blobs => 'proxy'));
$t->run;

my $layer = $hello->{layers}[0];
my $uri = "/v2/hello/blobs/$layer->{digest}";
my $r = $t->http(GET => $uri);
is($r->{status}, 200, 'blob GET: 200 through the bucket');
ok($r->{body} eq $layer->{bytes}, '... the blob');
is($r->{headers}{'content-type'}, 'application/octet-stream', '... Content-Type');
is($r->{headers}{'content-length'}, $layer->{size}, '... Content-Length');
is($r->{headers}{'docker-content-digest'}, $layer->{digest}, '... Docker-Content-Digest');
is($r->{headers}{etag}, "\"$layer->{digest}\"", '... the digest as ETag');
is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0', '... API version');
ok(!grep(/^x-amz-/, keys %{ $r->{headers} }), '... none of the bucket\'s headers');

$r = $t->http(GET => $uri);
is($r->{status}, 200, 'again');
is(scalar $br->fetches(qr{^GET /_nixery/bucket/blobs/\S+ 200 200 }), 1,
    'one fetch from the bucket');
ok(scalar $br->fetches(qr{^GET /_nixery/bucket/blobs/\S+ 200 - HIT}),
    '... then the proxy cache');

$r = $t->http(GET => $uri, headers => [ [ Range => 'bytes=10-19' ] ]);
is($r->{status}, 206, 'Range: 206');
is($r->{body}, substr($layer->{bytes}, 10, 10), '... those bytes');
is($r->{headers}{'docker-content-digest'}, $layer->{digest}, '... digest');
$r = $t->http(GET => $uri, headers => [ [ 'If-None-Match' => "\"$layer->{digest}\"" ] ]);
is($r->{status}, 304, 'If-None-Match with the digest: 304');

$r = $t->http(HEAD => $uri);
is($r->{status}, 200, 'HEAD: 200');
is($r->{headers}{'content-length'}, $layer->{size}, '... Content-Length');
is($r->{body}, '', '... no body');
my $second = $hello->{layers}[1];
$r = $t->http(HEAD => "/v2/hello/blobs/$second->{digest}");
is($r->{status}, 200, 'HEAD of an uncached blob: 200');
is($r->{headers}{'content-length'}, $second->{size}, '... its size');

$r = $t->http(GET => '/v2/hello/blobs/sha256:' . ('2' x 64));
is($r->{status}, 404, 'a blob the bucket lacks: 404');
is($t->error_code($r), 'BLOB_UNKNOWN', '... BLOB_UNKNOWN JSON');
is($r->{headers}{'content-type'}, 'application/json', '... as JSON');

# skopeo, twice: the second time with RGW stopped, from what this host
# holds (manifests in nixery_storage, blobs in the proxy cache).
$t->write_file('conf/policy.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
my @copy = ('skopeo', '--policy', "$dir/conf/policy.json", 'copy',
    '--src-tls-verify=false', 'docker://127.0.0.1:' . $t->port . '/hello:latest');
my ($rc, $out) = Nixery::Bucket::capture(@copy, "oci:$dir/oci1:v1");
is($rc, 0, 'skopeo copy, blobs proxied') or diag($out);
check_copy("$dir/oci1");

$s3->stop_gateway;
($rc, $out) = Nixery::Bucket::capture(@copy, "oci:$dir/oci2:v1");
is($rc, 0, 'RGW stopped: skopeo copy of an image served before') or diag($out);
check_copy("$dir/oci2");
$r = $t->http(GET => "/v2/other/blobs/$other->{layers}[0]{digest}");
is($r->{status}, 503, 'RGW stopped: an uncached blob is 503');
is($t->error_code($r), 'UNAVAILABLE', '... UNAVAILABLE JSON');
ok($t->error_log_lines(qr/nixery: bucket object "blobs\/sha256\/\S+": the bucket could not be reached: 502/),
    '... logged with the object');
$s3->start_gateway;
$r = $t->http(GET => "/v2/other/blobs/$other->{layers}[0]{digest}");
is($r->{status}, 200, 'RGW back: served');

$t->done;
done_testing;

sub check_copy {
    my ($oci) = @_;
    for my $blob (@{ $hello->{layers} }) {
        my $copied = $t->read_file("$oci/blobs/sha256/$blob->{hex}");
        ok(defined $copied && sha256_hex($copied) eq $blob->{hex},
            "$oci: blob $blob->{hex} matches its digest");
    }
}
