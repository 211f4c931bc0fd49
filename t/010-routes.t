# The registry's routes over storage written by the fixture: the version
# check, manifests by tag (both flavours by Accept) and by digest, blobs,
# HEAD, and the JSON errors of every route.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Fixture;
use Nixery::Test;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $hello = $fx->add_image(name => 'hello', tag => 'latest');
my $shell = $fx->add_image(name => 'shell/hello', tag => 'v1',
    layers => [ { 'bin/' => undef, 'bin/sh' => "#!/bin/sh\n" },
                { 'etc/' => undef, 'etc/motd' => "hi\n" } ]);
$t->write_config($t->registry_conf);
$t->run;

my %MT = %Nixery::Fixture::MEDIA;
my $API = 'registry/2.0';
my @SKOPEO_ACCEPT = map { [ Accept => $_ ] } (
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.v1+prettyjws',
    'application/vnd.docker.distribution.manifest.v1+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.index.v1+json');
my $CONTAINERD_ACCEPT = [ Accept => join ', ',
    'application/vnd.docker.distribution.manifest.v2+json',
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'application/vnd.oci.image.manifest.v1+json',
    'application/vnd.oci.image.index.v1+json', '*/*' ];

# A successful file response: body, type, length, digest, API version.
sub served {
    my ($r, $part, $type, $what) = @_;
    is($r->{status}, 200, "$what: 200");
    is($r->{headers}{'content-type'}, $type, "$what: content type");
    is($r->{headers}{'content-length'}, $part->{size}, "$what: length");
    is($r->{headers}{'docker-content-digest'}, $part->{digest},
        "$what: digest header");
    is($r->{headers}{'docker-distribution-api-version'}, $API,
        "$what: API version");
    ok($r->{body} eq $part->{bytes}, "$what: body");
}

# An error response: status, JSON body with the code, JSON type, API header.
sub failed {
    my ($r, $status, $code, $what) = @_;
    is($r->{status}, $status, "$what: $status");
    is($t->error_code($r), $code, "$what: $code");
    is($r->{headers}{'content-type'}, 'application/json', "$what: json");
    is($r->{headers}{'docker-distribution-api-version'}, $API,
        "$what: API version");
}

# Headers that may differ between two responses to the same request.
sub same_headers {
    my ($get, $head, $what) = @_;
    my %g = %{ $get->{headers} };
    my %h = %{ $head->{headers} };
    delete @g{qw(date)};
    delete @h{qw(date)};
    is_deeply(\%h, \%g, "$what: HEAD has the GET's headers");
    is($head->{body}, '', "$what: HEAD has no body");
}

# The version check.
my $r = $t->http(GET => '/v2/');
is($r->{status}, 200, '/v2/ 200');
is($r->{body}, "{}\n", '/v2/ body');
is($r->{headers}{'content-type'}, 'application/json', '/v2/ json');
is($r->{headers}{'docker-distribution-api-version'}, $API, '/v2/ API version');
same_headers($r, $t->http(HEAD => '/v2/'), '/v2/');

# Manifests by tag: the flavour follows Accept.
$r = $t->http(GET => '/v2/hello/manifests/latest');
served($r, $hello->{docker}, $MT{docker_manifest}, 'tag, no Accept');
is($r->{headers}{etag}, qq{"$hello->{docker}{digest}"}, 'ETag is the digest');
is($r->{headers}{vary}, 'Accept', 'Vary: Accept');
ok($r->{headers}{'last-modified'}, 'Last-Modified');

served($t->http(GET => '/v2/hello/manifests/latest', headers => \@SKOPEO_ACCEPT),
    $hello->{docker}, $MT{docker_manifest}, 'tag, skopeo Accept lines');
served($t->http(GET => '/v2/hello/manifests/latest',
    headers => [ $CONTAINERD_ACCEPT ]),
    $hello->{docker}, $MT{docker_manifest}, 'tag, containerd Accept');
served($t->http(GET => '/v2/hello/manifests/latest',
    headers => [ [ Accept => $MT{oci_manifest} ],
                 [ Accept => 'application/vnd.oci.image.index.v1+json' ] ]),
    $hello->{oci}, $MT{oci_manifest}, 'tag, OCI only');
served($t->http(GET => '/v2/hello/manifests/latest',
    headers => [ [ Accept => "$MT{docker_manifest};q=0, $MT{oci_manifest}" ] ]),
    $hello->{oci}, $MT{oci_manifest}, 'tag, Docker refused with q=0');
served($t->http(GET => '/v2/shell/hello/manifests/v1'),
    $shell->{docker}, $MT{docker_manifest}, 'nested name with meta-package');
failed($t->http(GET => '/v2/hello/shell/manifests/v1'), 404, 'MANIFEST_UNKNOWN',
    'trailing shell is a package, another image');

for my $accept ([], \@SKOPEO_ACCEPT, [ [ Accept => $MT{oci_manifest} ] ]) {
    my $get = $t->http(GET => '/v2/hello/manifests/latest', headers => $accept);
    my $head = $t->http(HEAD => '/v2/hello/manifests/latest', headers => $accept);
    same_headers($get, $head, 'tag with ' . scalar(@$accept) . ' Accept lines');
}

# Manifests by digest: the type comes from where the manifest is stored;
# digests are not scoped to names.
for my $kind (qw(docker oci)) {
    my $m = $hello->{$kind};
    served($t->http(GET => "/v2/hello/manifests/$m->{digest}"), $m,
        $m->{media_type}, "$kind by digest");
    served($t->http(GET => "/v2/some/other/name/manifests/$m->{digest}",
        headers => \@SKOPEO_ACCEPT), $m, $m->{media_type},
        "$kind by digest under another name");
    same_headers($t->http(GET => "/v2/hello/manifests/$m->{digest}"),
        $t->http(HEAD => "/v2/hello/manifests/$m->{digest}"), "$kind by digest");
}
failed($t->http(GET => '/v2/hello/manifests/sha256:' . ('0' x 64)), 404,
    'MANIFEST_UNKNOWN', 'unknown manifest digest');
failed($t->http(GET => "/v2/hello/manifests/$hello->{config}{digest}"), 404,
    'MANIFEST_UNKNOWN', 'a blob is not a manifest');

# Blobs.
for my $blob ($hello->{config}, @{ $shell->{layers} }) {
    served($t->http(GET => "/v2/anything/blobs/$blob->{digest}"), $blob,
        'application/octet-stream', "blob $blob->{hex}");
    same_headers($t->http(GET => "/v2/anything/blobs/$blob->{digest}"),
        $t->http(HEAD => "/v2/anything/blobs/$blob->{digest}"), 'blob');
}
failed($t->http(GET => '/v2/hello/blobs/sha256:' . ('f' x 64)), 404,
    'BLOB_UNKNOWN', 'unknown blob');
failed($t->http(GET => "/v2/hello/blobs/$hello->{docker}{digest}"), 404,
    'BLOB_UNKNOWN', 'a manifest is not a blob');
my $head = $t->http(HEAD => '/v2/hello/blobs/sha256:' . ('f' x 64));
is($head->{status}, 404, 'HEAD unknown blob 404');
is($head->{body}, '', 'HEAD error has no body');
is($head->{headers}{'content-type'}, 'application/json', 'HEAD error json');

# Index entries that do not serve: missing, expired, malformed, naming a
# manifest that is gone: all a miss (404 until the build queue exists).
failed($t->http(GET => '/v2/hello/manifests/v2'), 404, 'MANIFEST_UNKNOWN',
    'no index entry');
like($t->json($t->http(GET => '/v2/hello/manifests/v2'))->{errors}[0]{detail},
    qr/hello:v2/, 'miss names the image');
$fx->add_image(name => 'expired', expires => time - 10);
failed($t->http(GET => '/v2/expired/manifests/latest'), 404, 'MANIFEST_UNKNOWN',
    'expired entry');
my $fresh = $fx->add_image(name => 'fresh', expires => time + 3600);
served($t->http(GET => '/v2/fresh/manifests/latest'), $fresh->{docker},
    $MT{docker_manifest}, 'entry not yet expired');
$fx->publish($fx->index_path(Nixery::Fixture::request_key('broken', 'latest')),
    "nixery-index-v1\ngarbage\n");
failed($t->http(GET => '/v2/broken/manifests/latest'), 404, 'MANIFEST_UNKNOWN',
    'malformed entry');
my $gone = $fx->add_image(name => 'gone');
unlink $t->storage . '/' . $fx->manifest_path('docker', $gone->{docker}{hex});
failed($t->http(GET => '/v2/gone/manifests/latest'), 404, 'MANIFEST_UNKNOWN',
    'entry naming a missing manifest');
served($t->http(GET => '/v2/gone/manifests/latest',
    headers => [ [ Accept => $MT{oci_manifest} ] ]), $gone->{oci},
    $MT{oci_manifest}, 'the other flavour is still there');
my $liar = $fx->add_image(name => 'liar', index => 0);
$fx->write_index($liar->{key}, docker_hex => $liar->{docker}{hex},
    docker_size => $liar->{docker}{size} + 1, oci_hex => $liar->{oci}{hex},
    oci_size => $liar->{oci}{size});
failed($t->http(GET => '/v2/liar/manifests/latest'), 500, 'UNKNOWN',
    'entry whose size disagrees with the file');

# Invalid names, tags and digests; unknown routes; writes.
failed($t->http(GET => '/v2/Hello/manifests/latest'), 400, 'NAME_INVALID',
    'uppercase name');
failed($t->http(GET => '/v2/hello/manifests/.latest'), 400, 'TAG_INVALID',
    'bad tag');
failed($t->http(GET => '/v2/hello/blobs/sha256:abc'), 400, 'DIGEST_INVALID',
    'short digest');
failed($t->http(GET => '/v2/hello/blobs/sha512:' . ('a' x 128)), 400,
    'DIGEST_INVALID', 'unsupported algorithm');
failed($t->http(GET => '/v2/hello/manifests/sha256:xyz'), 400,
    'DIGEST_INVALID', 'bad manifest digest');
for my $path ('/v2/_catalog', '/v2/hello/tags/list', '/v2/hello',
    '/v2/hello/blobs/uploads/') {
    failed($t->http(GET => $path), 404, 'UNSUPPORTED', "unknown route $path");
}
for my $method (qw(PUT POST PATCH DELETE OPTIONS)) {
    my $res = $t->http($method => '/v2/hello/manifests/latest',
        headers => [ [ 'Content-Length' => 2 ] ], body => '{}');
    failed($res, 405, 'UNSUPPORTED', "$method is refused");
    is($res->{headers}{allow}, 'GET, HEAD', "$method: Allow header");
}
ok(-e $t->storage . '/' . $fx->manifest_path('docker', $hello->{docker}{hex}),
    'writes changed nothing');

$t->done;

# `nixery` without a storage root is a configuration error.
my $bad = Nixery::Test->new;
$bad->write_config($bad->http_conf(<<'CONF'));
    server { listen 127.0.0.1:%%PORT%%; location /v2/ { nixery; } }
CONF
my $out = `$Nixery::Test::NGINX -t -p @{[ $bad->dir ]}/ -c conf/nginx.conf 2>&1`;
isnt($?, 0, 'nginx -t fails without nixery_storage');
like($out, qr/"nixery" needs "nixery_storage"/, 'and says why');

done_testing;
