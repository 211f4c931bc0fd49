# Images in an S3 bucket (a real one: Ceph's RGW), served by nginx running
# conf/nixery-bucket.conf as written, blobs by redirect: manifests by tag
# and by digest are fetched once into the host's empty local cache and then
# served from it; blob GETs are 307s to presigned URLs that RGW honours,
# and refuses once tampered with or expired; a tag the bucket lacks is
# built through the queue and fetched when announced; an expired image is
# served while it is rebuilt in the background; with RGW stopped,
# what the host holds is still served and the rest is 503 at once; RGW
# back, everything is served again without touching nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP qw(decode_json);
use Time::HiRes qw(time);
use Nixery::Bucket;
use Nixery::BucketRegistry;
use Nixery::Fixture;
use Nixery::Queue;
use Nixery::Test;

Nixery::Bucket::need();

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $br = Nixery::BucketRegistry->new($t);
my $s3 = $br->s3;

my $hello = $br->add_image(name => 'hello', cmd => ['hello'], layers => [
    { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\necho hello\n" },
    { 'etc/' => undef, 'etc/issue' => { symlink => 'motd' }, 'etc/motd' => "hi\n" },
]);
my $other = $br->add_image(name => 'other');
my $multi = $br->add_image(name => 'multi', multi => 1);

# The helper for images the bucket lacks writes its own storage here (the
# helper's bucket backend is not this test's subject): the test uploads the
# image while the build runs, and the module must fetch it when announced.
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', "$dir/helper-storage", '--fake-builder', $q->{fake},
    '--heartbeat', 1, '--helper-id', 'h1', '--fake-delay-ms', 2000);
ok($q->wait_helper('h1'), 'helper up');

my $ttl_port = $t->port_var('TTLPORT');
$t->write_config($br->conf(queue => $q, extra => <<'CONF'));
    # The same bucket with short-lived redirects.
    server {
        listen 127.0.0.1:%%TTLPORT%%;
        nixery_bucket_redirect_ttl 2s;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
    }
CONF
$t->run;

my $storage = $t->storage;
my $tag_uri = '/v2/hello/manifests/latest';
ok(!-e "$storage/" . Nixery::Fixture->index_path($hello->{key}),
    'the local cache starts empty');

# Manifest by tag: one fetch of the index entry and of the manifest, then
# local.
my $r = $t->http(GET => $tag_uri);
is($r->{status}, 200, 'manifest by tag from the bucket');
ok($r->{body} eq $hello->{docker}{bytes}, '... the Docker manifest as stored');
is($r->{headers}{'docker-content-digest'}, $hello->{docker}{digest}, '... its digest');
is($r->{headers}{etag}, "\"$hello->{docker}{digest}\"", '... ETag');
ok(-f "$storage/" . Nixery::Fixture->index_path($hello->{key}),
    'the index entry is in the local cache');
ok(-f "$storage/" . Nixery::Fixture->manifest_path(docker => $hello->{docker}{hex}),
    'the manifest is in the local cache');
for (1 .. 5) {
    $r = $t->http(GET => $tag_uri);
    is($r->{status}, 200, "request $_ again: 200");
}
$r = $t->http(HEAD => $tag_uri);
is($r->{headers}{'content-length'}, $hello->{docker}{size}, 'HEAD: Content-Length');
$t->log_lines('access.log', qr/HEAD \Q$tag_uri\E/);
is(scalar $br->fetches(qr{^GET /_nixery/bucket/index/}), 1,
    'seven requests, one fetch of the index entry');
is(scalar $br->fetches(qr{^GET /_nixery/bucket/manifests/}), 1,
    '... and one of the manifest');

# The OCI flavour: its manifest is fetched on first demand.
$r = $t->http(GET => $tag_uri, headers => [
    [ Accept => $Nixery::Fixture::MEDIA{oci_manifest} ] ]);
is($r->{status}, 200, 'OCI manifest by tag');
ok($r->{body} eq $hello->{oci}{bytes}, '... as stored');

# Manifest by digest: the Docker kind is tried first, then OCI.
$r = $t->http(GET => "/v2/any/manifests/$other->{oci}{digest}");
is($r->{status}, 200, 'manifest by digest from the bucket');
ok($r->{body} eq $other->{oci}{bytes}, '... as stored');
is($r->{headers}{'content-type'}, $Nixery::Fixture::MEDIA{oci_manifest}, '... OCI type');
$r = $t->http(GET => '/v2/any/manifests/sha256:' . ('0' x 64));
is($t->error_code($r), 'MANIFEST_UNKNOWN', 'a digest the bucket lacks: 404');

# An image for two platforms: its list by tag, then its lists and the
# arm64 manifest by digest, all fetched from the bucket.
my $list_type = $Nixery::Fixture::MEDIA{'docker-list_manifest'};
$r = $t->http(GET => '/v2/multi/manifests/latest', headers => [
    [ Accept => $list_type ], [ Accept => $Nixery::Fixture::MEDIA{docker_manifest} ] ]);
is($r->{status}, 200, 'an image index by tag from the bucket');
is($r->{headers}{'content-type'}, $list_type, '... the Docker list');
ok($r->{body} eq $multi->{docker_list}{bytes}, '... as stored');
for my $m ($multi->{oci_index}, $multi->{docker_list}, $multi->{arm64}{oci}) {
    $r = $t->http(GET => "/v2/any/manifests/$m->{digest}");
    is($r->{status}, 200, "$m->{kind} by digest from the bucket");
    ok($r->{body} eq $m->{bytes}, '... as stored');
}

# Blobs: a redirect to a presigned URL.
my $layer = $hello->{layers}[0];
$r = $t->http(GET => "/v2/hello/blobs/$layer->{digest}");
is($r->{status}, 307, 'blob GET: 307');
is($r->{headers}{'docker-content-digest'}, $layer->{digest}, '... with its digest');
is($r->{body}, '', '... no body');
my $location = $r->{headers}{location} // '';
like($location, qr{^\Q${\ $s3->endpoint}\E/images/blobs/sha256/},
    '... to the bucket');
unlike($location, qr/\Q${\ $s3->secret_key}\E/, '... without the secret');
my ($code, $bytes) = curl_get($location);
is($code, 200, 'the Location downloads');
ok($bytes eq $layer->{bytes}, '... the blob');
(my $tampered = $location) =~ s/(X-Amz-Signature=[0-9a-f]{9})([0-9a-f])/$1 . ($2 eq '0' ? '1' : '0')/e;
isnt($tampered, $location, 'one signature digit changed');
($code) = curl_get($tampered);
is($code, 403, '... RGW refuses it');

$r = $t->http(GET => "/v2/hello/blobs/$layer->{digest}", port => $ttl_port);
my $short = $r->{headers}{location};
like($short, qr/X-Amz-Expires=2&/, 'nixery_bucket_redirect_ttl 2s');
($code) = curl_get($short);
is($code, 200, '... valid at once');
my $expired = Nixery::Test::poll(10, sub { (curl_get($short))[0] },
    sub { $_[0] == 403 });
is($expired, 403, '... refused by RGW once expired');

$r = $t->http(HEAD => "/v2/hello/blobs/$layer->{digest}");
is($r->{status}, 200, 'blob HEAD: 200');
is($r->{headers}{'content-length'}, $layer->{size}, '... the size, from the bucket');
is($r->{headers}{'content-type'}, 'application/octet-stream', '... the type');
is($r->{headers}{'docker-content-digest'}, $layer->{digest}, '... the digest');
is($r->{body}, '', '... no body');
$r = $t->http(HEAD => '/v2/hello/blobs/sha256:' . ('1' x 64));
is($r->{status}, 404, 'HEAD of a blob the bucket lacks: 404');

# skopeo follows the redirects to RGW; umoci unpacks what it copied.
$t->write_file('conf/policy.json', '{"default":[{"type":"insecureAcceptAnything"}]}');
my @skopeo = ('skopeo', '--policy', "$dir/conf/policy.json");
my ($rc, $out) = run_cmd(@skopeo, 'copy', '--src-tls-verify=false',
    'docker://127.0.0.1:' . $t->port . '/hello:latest', "oci:$dir/oci:v1");
is($rc, 0, 'skopeo copy (blobs redirected to RGW)') or diag($out);
for my $blob (@{ $hello->{layers} }) {
    my $copied = $t->read_file("$dir/oci/blobs/sha256/$blob->{hex}");
    ok(defined $copied && sha256_hex($copied) eq $blob->{hex},
        "copied blob $blob->{hex} matches its digest");
}
SKIP: {
    Nixery::Test::need_or_skip(-x '/usr/bin/umoci', 'umoci not installed', 2);
    ($rc, $out) = run_cmd('umoci', 'unpack', '--image', "$dir/oci:v1", "$dir/bundle");
    is($rc, 0, 'umoci unpack') or diag($out);
    is($t->read_file("$dir/bundle/rootfs/bin/hello"), "#!/bin/sh\necho hello\n",
        'a file from the first layer');
}

# A tag the bucket lacks: built through the queue; the image reaches the
# bucket while the request waits, and is fetched when announced.
my $wait = $q->background(1, '/v2/fresh/manifests/latest');
ok($q->wait_builds(1), 'the miss became a build');
my $fresh = $br->add_image(name => 'fresh');
is($wait->(), "200:\n", 'the waiting request got the image once announced');
is($q->builds('fresh:latest'), 1, '... built once: the announcement was '
    . 'trusted, not checked against the local cache and sent again');
is(scalar $t->error_log_lines(qr/building it again/), 0,
    '... and no "building it again"');
$r = $t->http(GET => '/v2/fresh/manifests/latest');
ok($r->{body} eq $fresh->{docker}{bytes}, '... the manifest from the bucket');
$r = $t->http(GET => '/v2/ghost/manifests/latest');
is($r->{status}, 500, 'announced as built, yet not in the bucket: 500');
ok($t->error_log_lines(qr/nixery: image [0-9a-f]{64} announced as built but not in the bucket/),
    '... logged');

# An entry the bucket holds expired (within nixery_stale_max, a day by
# default) is served at once and rebuilt in the background; the local copy
# is not served as is, so what a helper publishes next is served at once.
my $stale = $br->add_image(name => 'stale', layers => [ { v => "old\n" } ],
    expires => int(time) - 30);
my $s0 = time;
$r = $t->http(GET => '/v2/stale/manifests/latest');
my $stale_took = time - $s0;
is($r->{status}, 200, 'an expired image in the bucket: 200');
is($r->{headers}{'docker-content-digest'}, $stale->{docker}{digest},
    '... the stored one');
cmp_ok($stale_took, '<', 1, sprintf('... at once (%.3f s)', $stale_took));
ok(Nixery::Test::poll(10, sub { $q->builds('stale:latest') == 1 }),
    '... rebuilt in the background');
my $renewed = $br->add_image(name => 'stale', layers => [ { v => "new\n" } ]);
$r = $t->http(GET => '/v2/stale/manifests/latest');
is($r->{headers}{'docker-content-digest'}, $renewed->{docker}{digest},
    '... the next pull gets the rebuilt one from the bucket');

# RGW down: what this host holds is served, the rest is 503 at once.
$s3->stop_gateway;
$r = $t->http(GET => $tag_uri);
is($r->{status}, 200, 'RGW down: a cached manifest by tag is served');
$r = $t->http(GET => '/v2/hello/manifests/latest', headers => [
    [ Accept => $Nixery::Fixture::MEDIA{oci_manifest} ] ]);
is($r->{status}, 200, '... so is its cached OCI flavour');
my $t0 = time;
$r = $t->http(GET => '/v2/other/manifests/latest');
my $took = time - $t0;
is($r->{status}, 503, 'an uncached manifest by tag: 503');
is($t->error_code($r), 'UNAVAILABLE', '... UNAVAILABLE');
cmp_ok($took, '<', 3, '... at once');
my $other_index = Nixery::Fixture->index_path($other->{key});
ok($t->error_log_lines(qr/nixery: bucket object "\Q$other_index\E": the bucket could not be reached: 502/),
    '... logged with the object and what happened');
$r = $t->http(HEAD => "/v2/hello/blobs/$hello->{layers}[1]{digest}");
is($r->{status}, 503, 'blob HEAD: 503');
is($t->error_code($r), '', '... without a body');
$r = $t->http(HEAD => "/v2/hello/blobs/$layer->{digest}");
is($r->{status}, 200, 'blob HEAD asked before: from the example\'s blob cache');
$r = $t->http(GET => "/v2/hello/blobs/$layer->{digest}");
is($r->{status}, 307, 'blob GET: still a redirect (signing needs no bucket)');

$s3->start_gateway;
$r = $t->http(GET => '/v2/other/manifests/latest');
is($r->{status}, 200, 'RGW back: served without touching nginx');
ok($r->{body} eq $other->{docker}{bytes}, '... the manifest');

ok(!grep({ /\Q${\ $s3->secret_key}\E/ } split /\n/,
    ($t->read_file('logs/error.log') // '') . ($t->read_file('logs/access.log') // '')),
    'the secret is in no log');

$t->done;
done_testing;

sub curl_get {
    my ($url) = @_;
    my $f = "$dir/download";
    unlink $f;
    my (undef, $c) = Nixery::Bucket::capture('curl', '-s', '-o', $f,
        '-w', '%{http_code}', $url);
    return ($c, $t->read_file($f) // '');
}

sub run_cmd {
    my @argv = @_;
    my ($status, $output) = Nixery::Bucket::capture(@argv);
    return ($status, $output);
}
