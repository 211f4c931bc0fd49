# The registry's routes over storage written by the fixture: the version
# check, manifests by tag (both flavours by Accept) and by digest, blobs,
# referrers, HEAD, which tags exist (`nixery_tags`), and the JSON errors of
# every route.
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
my $shell = $fx->add_image(name => 'shell/hello', tag => 'latest',
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
served($t->http(GET => '/v2/shell/hello/manifests/latest'),
    $shell->{docker}, $MT{docker_manifest}, 'nested name with meta-package');
failed($t->http(GET => '/v2/hello/shell/manifests/latest'), 404, 'MANIFEST_UNKNOWN',
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
failed($t->http(GET => '/v2/nothere/manifests/latest'), 404, 'MANIFEST_UNKNOWN',
    'no index entry');
like($t->json($t->http(GET => '/v2/nothere/manifests/latest'))->{errors}[0]{detail},
    qr/nothere:latest/, 'miss names the image');
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
failed($t->http(GET => '/v2/hello/blobs/sha256:abc'), 400, 'DIGEST_INVALID',
    'short digest');
failed($t->http(GET => '/v2/hello/blobs/md5:d41d8cd98f00b204e9800998ecf8427e'),
    400, 'DIGEST_INVALID', 'unregistered algorithm');
failed($t->http(GET => '/v2/hello/blobs/sha512:abc'), 400, 'DIGEST_INVALID',
    'short sha512 digest');
# A reference that is neither a tag nor a digest names no manifest (404, as
# CNCF distribution answers); a well-formed sha512 digest names nothing
# stored here (content is addressed by sha256).
sub detail { $t->json($_[0])->{errors}[0]{detail} // '' }
for my $ref ('.latest', '-x', 't' x 129) {
    my $res = $t->http(GET => "/v2/hello/manifests/$ref");
    failed($res, 404, 'MANIFEST_UNKNOWN', 'not a tag: ' . substr($ref, 0, 12));
    like(detail($res), qr/neither a digest nor a tag/, '... and says why');
    is($t->http(HEAD => "/v2/hello/manifests/$ref")->{status}, 404,
        '... HEAD too');
}
{
    my $sha512 = 'sha512:' . ('a' x 128);
    my $res = $t->http(GET => "/v2/hello/blobs/$sha512");
    failed($res, 404, 'BLOB_UNKNOWN', 'sha512 blob');
    like(detail($res), qr/sha512/, 'sha512 blob: says why');
    failed($t->http(GET => "/v2/hello/manifests/$sha512"), 404,
        'MANIFEST_UNKNOWN', 'sha512 manifest');
    is($t->http(HEAD => "/v2/hello/blobs/$sha512")->{status}, 404,
        'HEAD sha512 blob 404');
}

# Which tags exist: with `nixery_tags latest` (the default: a path or a
# channel source) only `latest`; any other valid tag is 404 at once, naming
# the tags served, before the index or a build.
for my $tag ('missing-y22acperpkpchvleqmr4', 'v1', 'LATEST', 'a' x 40) {
    my $res = $t->http(GET => "/v2/hello/manifests/$tag");
    failed($res, 404, 'MANIFEST_UNKNOWN', 'unserved tag ' . substr($tag, 0, 12));
    like(detail($res), qr/'latest' only/, '... names the tags served');
    my $h = $t->http(HEAD => "/v2/hello/manifests/$tag");
    is($h->{status}, 404, '... HEAD too');
    is($h->{body}, '', '... without a body');
}

# Referrers: nothing refers to anything here, so an empty OCI index for any
# valid digest; an artifactType filter is applied (to nothing) and said so.
{
    my $digest = 'sha256:' . ('0' x 64);
    my $index = { schemaVersion => 2,
        mediaType => 'application/vnd.oci.image.index.v1+json',
        manifests => [] };
    for my $d ($digest, $hello->{docker}{digest}, 'sha512:' . ('b' x 128)) {
        my $res = $t->http(GET => "/v2/hello/referrers/$d");
        is($res->{status}, 200, "referrers of $d: 200");
        is($res->{headers}{'content-type'},
            'application/vnd.oci.image.index.v1+json', '... an OCI index');
        is_deeply($t->json($res), $index, '... empty');
        ok(!exists $res->{headers}{'oci-filters-applied'}, '... no filter');
        same_headers($res, $t->http(HEAD => "/v2/hello/referrers/$d"),
            'referrers');
    }
    my $res = $t->http(GET => "/v2/shell/hello/referrers/$digest"
        . '?artifactType=application%2Fvnd.example.sbom.v1%2Bjson');
    is($res->{status}, 200, 'referrers with artifactType: 200');
    is($res->{headers}{'oci-filters-applied'}, 'artifactType',
        '... OCI-Filters-Applied: artifactType');
    is_deeply($t->json($res), $index, '... empty');
    $res = $t->http(GET => "/v2/hello/referrers/$digest?n=1");
    ok(!exists $res->{headers}{'oci-filters-applied'},
        'another parameter is no filter');
    failed($t->http(GET => '/v2/hello/referrers/sha256:abc'), 400,
        'DIGEST_INVALID', 'referrers of a malformed digest');
    failed($t->http(GET => '/v2/hello/referrers/latest'), 400,
        'DIGEST_INVALID', 'referrers of a tag');
    failed($t->http(GET => "/v2/Hello/referrers/$digest"), 400,
        'NAME_INVALID', 'referrers under an invalid name');
}
failed($t->http(GET => '/v2/hello/manifests/sha256:xyz'), 400,
    'DIGEST_INVALID', 'bad manifest digest');
for my $path ('/v2/_catalog', '/v2/hello/tags/lists', '/v2/hello',
    '/v2/hello/blobs/uploads/') {
    failed($t->http(GET => $path), 404, 'UNSUPPORTED', "unknown route $path");
}
# tags/list names `latest`, the one tag a path or channel source has.
{
    my $res = $t->http(GET => '/v2/shell/hello/tags/list');
    is($res->{status}, 200, 'tags/list is 200');
    like($res->{headers}{'content-type'}, qr{^application/json}, 'tags/list: json');
    is_deeply($t->json($res), { name => 'shell/hello', tags => ['latest'] },
        'tags/list: the name and latest');
    failed($t->http(GET => '/v2/Shell/tags/list'), 400, 'NAME_INVALID',
        'tags/list: invalid name');
}
# Its pages (the spec's n and last), under every source: `latest` is the
# only tag here, so there is never a next page.
for my $row (
    [ 'n=1', ['latest'] ], [ 'n=0', [] ], [ 'n=100', ['latest'] ],
    [ 'n=99999999999999999999999', ['latest'] ], [ 'last=latest', [] ],
    [ 'last=a&n=1', ['latest'] ], [ 'last=m', [] ], [ 'n=&last=', ['latest'] ],
    [ 'n=1&other=x', ['latest'] ],
) {
    my ($query, $tags) = @$row;
    my $res = $t->http(GET => "/v2/hello/tags/list?$query");
    is($res->{status}, 200, "tags/list?$query: 200");
    is_deeply($t->json($res), { name => 'hello', tags => $tags },
        "tags/list?$query: " . join(',', @$tags));
    ok(!exists $res->{headers}{link}, "tags/list?$query: no Link");
}
for my $query ('n=-1', 'n=abc', 'n=1.5', 'n=+1', 'last=a/b', 'last=.x',
    'last=' . 'a' x 129) {
    my $res = $t->http(GET => "/v2/hello/tags/list?$query");
    failed($res, 400, 'UNSUPPORTED', "tags/list?$query");
    like($t->json($res)->{errors}[0]{detail},
        $query =~ /^n/ ? qr/n must be a non-negative integer/ : qr/last must be a tag/,
        "tags/list?$query: the detail says why");
}
{
    my $get = $t->http(GET => '/v2/hello/tags/list?n=1');
    my $head = $t->http(HEAD => '/v2/hello/tags/list?n=1');
    is($head->{status}, 200, 'HEAD tags/list: 200');
    is($head->{body}, '', 'HEAD tags/list: no body');
    is($head->{headers}{'content-length'}, length($get->{body}),
        'HEAD tags/list: the length of the body');
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

# `nixery_tags git` (a git source): any valid tag is looked up, and built
# (the helper checks that the repository has it); here without a queue, a
# miss is a 404 naming the image.
{
    my $g = Nixery::Test->new;
    my $gfx = Nixery::Fixture->new($g->storage);
    my $v1 = $gfx->add_image(name => 'shell/hello', tag => 'v1');
    $g->write_config($g->registry_conf(location => 'nixery_tags git;'));
    $g->run;
    my $res = $g->http(GET => '/v2/shell/hello/manifests/v1');
    is($res->{status}, 200, 'git tags: a built tag is served');
    is($res->{headers}{'docker-content-digest'}, $v1->{docker}{digest},
        '... its manifest');
    $res = $g->http(GET => '/v2/shell/hello/manifests/v2');
    is($res->{status}, 404, 'git tags: a tag not built is a miss');
    like($g->json($res)->{errors}[0]{detail}, qr{shell/hello:v2},
        '... naming the image');
    is_deeply($g->json($g->http(GET => '/v2/shell/hello/tags/list'))->{tags},
        ['latest'], 'git tags: tags/list names latest');
    $g->done;
}

# `nixery` without a storage root is a configuration error.
my $bad = Nixery::Test->new;
$bad->write_config($bad->http_conf(<<'CONF'));
    server { listen 127.0.0.1:%%PORT%%; location /v2/ { nixery; } }
CONF
my $out = `$Nixery::Test::NGINX -t -p @{[ $bad->dir ]}/ -c conf/nginx.conf 2>&1`;
isnt($?, 0, 'nginx -t fails without nixery_storage');
like($out, qr/"nixery" needs "nixery_storage"/, 'and says why');

$bad->write_config($bad->registry_conf(location => 'nixery_tags any;'));
$out = `$Nixery::Test::NGINX -t -p @{[ $bad->dir ]}/ -c conf/nginx.conf 2>&1`;
isnt($?, 0, 'nginx -t fails on an unknown nixery_tags value');
like($out, qr/invalid value "any"/, 'and says why');

done_testing;
