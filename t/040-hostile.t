# Hostile requests: each gets a clear answer, never a file from outside the
# storage root, and no worker dies. The registry owns `location /` here, so
# every request nginx accepts reaches the module; requests nginx's own
# parser refuses (raw NUL and control bytes, bad methods, oversized headers)
# are marked 'nginx' below: a plain server answers them with nginx's own
# page; a server with `error_page 400 414 494` to a `nixery_rejected`
# location (as conf/nixery.conf has) answers them in the registry's JSON.
# The whole table runs against both.
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
my $secret = 'TOP-SECRET-' . int(rand 1e9);
# Files beside and above the storage root that nothing may ever serve.
$t->write_file('secret.txt', "$secret\n");
$t->write_file('storage/secret.txt', "$secret\n");
$t->write_file('storage/blobs/secret.txt', "$secret\n");

my $json_port = $t->port_var('JSONPORT');
$t->write_config($t->http_conf(<<'CONF', workers => 2));
    large_client_header_buffers 4 128k;
    server {
        listen 127.0.0.1:%%PORT%%;
        location / {
            nixery;
            nixery_storage %%STORAGE%%;
        }
    }
    server {
        listen 127.0.0.1:%%JSONPORT%%;
        error_page 400 414 494 /.nixery-rejected;
        location / {
            nixery;
            nixery_storage %%STORAGE%%;
        }
        location = /.nixery-rejected {
            internal;
            nixery_rejected;
        }
    }
CONF
$t->run;
my @workers = $t->wait_workers(2);
is(scalar @workers, 2, 'two workers');

my $hex = $img->{layers}[0]{hex};
my $blob = "/v2/hello/blobs/sha256:$hex";
my $manifest = '/v2/hello/manifests/latest';
my $dig = $img->{docker}{digest};

sub raw {
    my ($line, @headers) = @_;
    return join("\r\n", $line, 'Host: 127.0.0.1', 'Connection: close', @headers)
        . "\r\n\r\n";
}
sub get { raw("GET $_[0] HTTP/1.1", @_[1 .. $#_]) }

my $k64 = 'a' x 65536;
my @pkgs300 = map { my $i = $_; chr(97 + $i / 26) . chr(97 + $i % 26) } 0 .. 299;

# [ what, raw request, status, code ('' = a success, 'nginx' = nginx's page) ]
my @table = (
    # Sizes.
    [ '64 KiB name', get("/v2/$k64/manifests/latest"), 400, 'NAME_INVALID' ],
    [ '64 KiB tag', get("/v2/hello/manifests/$k64"), 404, 'MANIFEST_UNKNOWN' ],
    [ '64 KiB digest', get("/v2/hello/blobs/sha256:$k64"), 400, 'DIGEST_INVALID' ],
    [ '64 KiB name on a blob', get("/v2/$k64/blobs/sha256:$hex"), 400, 'NAME_INVALID' ],
    [ '64 KiB of slashes', get('/v2/' . ('/' x 65536)), 404, 'UNSUPPORTED' ],
    [ '64 KiB query string', get("$manifest?" . ('x' x 65536)), 200, '' ],
    [ 'name of 1024 bytes', get('/v2/' . ('b' x 1024) . '/manifests/latest'), 404, 'MANIFEST_UNKNOWN' ],
    [ 'name of 1025 bytes', get('/v2/' . ('b' x 1025) . '/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'tag of 128 bytes', get('/v2/hello/manifests/' . ('t' x 128)), 404, 'MANIFEST_UNKNOWN' ],
    [ 'tag of 129 bytes', get('/v2/hello/manifests/' . ('t' x 129)), 404, 'MANIFEST_UNKNOWN' ],
    [ '300 packages', get('/v2/' . join('/', @pkgs300) . '/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '60 KiB Accept header', get($manifest, 'Accept: ' . join(', ', ('application/x-junk') x 3000)), 200, '' ],
    [ '200 Accept lines', get($manifest, ('Accept: text/plain') x 200), 200, '' ],
    [ '2000 Accept lines', get($manifest, ('Accept: text/plain') x 2000), 400, 'nginx' ],
    [ '100 KiB cookie', get($manifest, 'Cookie: ' . ('c' x 102400)), 200, '' ],
    [ 'header beyond the buffers', get($manifest, 'X-Big: ' . ('h' x 140000)), 400, 'nginx' ],
    # Traversal and path games.
    [ '.. in the name', get('/v2/../v2/hello/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '.. inside the name', get('/v2/hello/../hello/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '.. out of /v2/', get('/v2/../secret.txt'), 404, 'UNSUPPORTED' ],
    [ '.. above the root', get('/v2/../../secret.txt'), 400, 'nginx' ],
    [ '%2e%2e in the name', get('/v2/%2e%2e/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '%2e%2e to the secret', get('/v2/%2e%2e/%2e%2e/secret.txt'), 400, 'nginx' ],
    [ '%2e%2e as the tag', get('/v2/hello/manifests/%2e%2e'), 404, 'MANIFEST_UNKNOWN' ],
    [ '.. as the tag', get('/v2/hello/manifests/..'), 404, 'MANIFEST_UNKNOWN' ],
    [ '%2f in the name', get('/v2/hello%2fworld/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'encoded traversal in a digest', get('/v2/hello/blobs/sha256:..%2f..%2fsecret.txt'), 400, 'DIGEST_INVALID' ],
    [ 'traversal after a digest', get('/v2/hello/blobs/sha256:../../secret.txt'), 404, 'UNSUPPORTED' ],
    [ 'digest then ..', get("$blob/.."), 404, 'UNSUPPORTED' ],
    [ '// in the name', get('/v2/hello//world/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '// after /v2', get('/v2//hello/manifests/latest'), 400, 'NAME_INVALID' ],
    [ '// before /v2', get('//v2/hello/manifests/latest'), 404, 'UNSUPPORTED' ],
    [ 'encoded /v2/', get('/%76%32/hello/manifests/latest'), 404, 'UNSUPPORTED' ],
    [ '/./ in the name', get('/v2/./hello/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'backslash', get('/v2/hello\\..\\secret/manifests/latest'), 400, 'NAME_INVALID' ],
    # NUL, control bytes and encodings.
    [ 'raw NUL', get("/v2/hel\0lo/manifests/latest"), 400, 'nginx' ],
    [ '%00 in the name', get('/v2/hel%00lo/manifests/latest'), 400, 'nginx' ],
    [ 'raw control byte', get("/v2/hel\x01lo/manifests/latest"), 400, 'nginx' ],
    [ 'raw DEL', get("/v2/hel\x7flo/manifests/latest"), 400, 'nginx' ],
    [ '%01 in the tag', get('/v2/hello/manifests/lat%01est'), 404, 'MANIFEST_UNKNOWN' ],
    [ '%0d%0a header injection', get('/v2/hello/manifests/latest%0d%0aSet-Cookie:x'), 400, 'DIGEST_INVALID' ],
    [ '%0d%0a without a colon', get('/v2/hello/manifests/latest%0d%0aX-Injected'), 404, 'MANIFEST_UNKNOWN' ],
    [ 'raw UTF-8 name', get("/v2/caf\xc3\xa9/manifests/latest"), 400, 'NAME_INVALID' ],
    [ 'encoded UTF-8 name', get('/v2/caf%C3%A9/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'invalid UTF-8 name', get("/v2/\xff\xfe/manifests/latest"), 400, 'NAME_INVALID' ],
    [ 'lone %', get('/v2/%/manifests/latest'), 400, 'nginx' ],
    [ 'pipe (Nixery allows it)', get('/v2/a|b/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'fragment', get('/v2/hello/manifests/latest#x'), 404, 'MANIFEST_UNKNOWN' ],
    # Case.
    [ 'uppercase name', get('/v2/HELLO/manifests/latest'), 400, 'NAME_INVALID' ],
    [ 'uppercase tag (valid, unknown)', get('/v2/hello/manifests/LATEST'), 404, 'MANIFEST_UNKNOWN' ],
    [ 'uppercase digest hex', get('/v2/hello/blobs/sha256:' . uc $hex), 400, 'DIGEST_INVALID' ],
    [ 'uppercase algorithm', get("/v2/hello/blobs/SHA256:$hex"), 400, 'DIGEST_INVALID' ],
    [ 'uppercase route', get('/v2/hello/MANIFESTS/latest'), 404, 'UNSUPPORTED' ],
    # Query strings are not part of the route.
    [ 'query on a manifest', get("$manifest?ns=docker.io"), 200, '' ],
    [ 'traversal in the query', get("$manifest?../../secret.txt"), 200, '' ],
    [ 'query on a blob', get("$blob?x=%00"), 200, '' ],
    [ 'query on an unknown route', get('/v2/_catalog?n=10'), 404, 'UNSUPPORTED' ],
    # tags/list pagination (n and last) from a hostile client.
    [ 'tags/list n of 64 KiB digits', get('/v2/hello/tags/list?n=' . ('9' x 65536)), 200, '' ],
    [ 'tags/list n negative', get('/v2/hello/tags/list?n=-1'), 400, 'UNSUPPORTED' ],
    [ 'tags/list n %00', get('/v2/hello/tags/list?n=%00'), 400, 'UNSUPPORTED' ],
    [ 'tags/list last %00', get('/v2/hello/tags/list?last=a%00b'), 400, 'UNSUPPORTED' ],
    [ 'tags/list last traversal', get('/v2/hello/tags/list?last=..%2f..%2fsecret.txt'), 400, 'UNSUPPORTED' ],
    [ 'tags/list last of 64 KiB', get("/v2/hello/tags/list?last=$k64"), 400, 'UNSUPPORTED' ],
    [ 'tags/list 5000 parameters', get('/v2/hello/tags/list?' . join('&', ('n=1') x 5000)), 200, '' ],
    [ 'tags/list lone %', get('/v2/hello/tags/list?last=%'), 400, 'UNSUPPORTED' ],
    # Absurd digests.
    [ 'empty digest', get('/v2/hello/blobs/sha256:'), 400, 'DIGEST_INVALID' ],
    [ '65 hex digits', get("/v2/hello/blobs/sha256:${hex}0"), 400, 'DIGEST_INVALID' ],
    [ 'no algorithm', get("/v2/hello/blobs/:$hex"), 400, 'DIGEST_INVALID' ],
    [ 'double colon', get("/v2/hello/blobs/sha256::$hex"), 400, 'DIGEST_INVALID' ],
    [ 'md5', get('/v2/hello/manifests/md5:d41d8cd98f00b204e9800998ecf8427e'), 400, 'DIGEST_INVALID' ],
    [ 'sha512 of a manifest', get('/v2/hello/manifests/sha512:' . ('a' x 128)), 404, 'MANIFEST_UNKNOWN' ],
    [ 'sha512 of a blob', get('/v2/hello/blobs/sha512:' . ('a' x 128)), 404, 'BLOB_UNKNOWN' ],
    [ 'sha512 of 127 digits', get('/v2/hello/blobs/sha512:' . ('a' x 127)), 400, 'DIGEST_INVALID' ],
    [ 'sha512 in uppercase', get('/v2/hello/manifests/sha512:' . ('A' x 128)), 400, 'DIGEST_INVALID' ],
    [ 'made-up tag', get('/v2/hello/manifests/missing-y22acperpkpchvleqmr4'), 404, 'MANIFEST_UNKNOWN' ],
    [ 'referrers', get("/v2/hello/referrers/$dig"), 200, '' ],
    [ 'referrers, hostile artifactType', get("/v2/hello/referrers/$dig?artifactType=%00%0d%0a$k64"), 200, '' ],
    [ 'referrers of a tag', get('/v2/hello/referrers/latest'), 400, 'DIGEST_INVALID' ],
    [ 'referrers of a 64 KiB digest', get("/v2/hello/referrers/sha256:$k64"), 400, 'DIGEST_INVALID' ],
    [ 'referrers of a traversal', get('/v2/hello/referrers/sha256:..%2f..%2fsecret.txt'), 400, 'DIGEST_INVALID' ],
    [ 'tag as a blob', get('/v2/hello/blobs/latest'), 400, 'DIGEST_INVALID' ],
    [ 'zero digest', get('/v2/hello/blobs/sha256:' . ('0' x 64)), 404, 'BLOB_UNKNOWN' ],
    # Methods, bodies, request forms.
    [ 'lowercase method', raw("get $manifest HTTP/1.1"), 400, 'nginx' ],
    [ 'PROPFIND', raw("PROPFIND $manifest HTTP/1.1"), 405, 'UNSUPPORTED' ],
    [ 'PUT with 1 MB body', raw("PUT $manifest HTTP/1.1", 'Content-Length: 1048576') . ('z' x 1048576), 405, 'UNSUPPORTED' ],
    [ 'chunked POST', raw('POST /v2/hello/blobs/uploads/ HTTP/1.1', 'Transfer-Encoding: chunked') . "5\r\nhello\r\n0\r\n\r\n", 405, 'UNSUPPORTED' ],
    [ 'DELETE a blob', raw("DELETE $blob HTTP/1.1"), 405, 'UNSUPPORTED' ],
    [ 'GET with a body', raw("GET $manifest HTTP/1.1", 'Content-Length: 5') . 'hello', 200, '' ],
    [ 'absolute-form target', raw("GET http://127.0.0.1$manifest HTTP/1.1"), 200, '' ],
    [ 'HTTP/1.0 without Host', "GET /v2/ HTTP/1.0\r\n\r\n", 200, '' ],
    [ 'bad Range', get($blob, 'Range: bytes=zz-'), 416, 'nginx416' ],
    [ 'request line of 140 KB', get('/v2/' . ('a' x 140000) . '/manifests/latest'), 414, 'nginx' ],
    [ 'bad If-Modified-Since', get($blob, 'If-Modified-Since: yesterday'), 200, '' ],
    [ 'bad Accept q', get($manifest, 'Accept: ,,,;;;q=,*/*;q=abc'), 200, '' ],
);

cmp_ok(scalar @table, '>=', 40, 'at least 40 hostile requests');

for my $port ($t->port, $json_port) {
    my $json = $port == $json_port;
    my $on = $json ? 'error_page' : 'plain';
    for my $row (@table) {
        my ($what, $req, $status, $code) = @$row;
        $what = "$on: $what";
        my $r = $t->http(undef, undef, raw => $req, port => $port);
        is($r->{status}, $status, "$what: $status");
        unlike($r->{raw}, qr/\Q$secret\E/, "$what: no secret");
        ok(!exists $r->{headers}{'set-cookie'} && !exists $r->{headers}{'x-injected'},
            "$what: no injected header");
        # What nginx refused: its page, or the registry's JSON through
        # error_page (414: NAME_INVALID, 400: UNSUPPORTED). error_page does
        # not cover 416.
        if ($code eq 'nginx' && $json) {
            $code = $status == 414 ? 'NAME_INVALID' : 'UNSUPPORTED';
        }
        if ($code =~ /^nginx/) {
            ok(!defined $t->json($r), "$what: nginx's own page");
        } elsif ($code eq '') {
            is($r->{headers}{'docker-distribution-api-version'}, 'registry/2.0',
                "$what: served by the registry");
        } else {
            is($t->error_code($r), $code, "$what: $code");
            is($r->{headers}{'content-type'}, 'application/json', "$what: json");
        }
    }
}

# The error page's location is internal: asking for it is a 404.
my $r = $t->http(GET => '/.nixery-rejected', port => $json_port);
is($r->{status}, 404, 'the nixery_rejected location is internal');

# Nothing crashed, nothing changed.
is_deeply([ $t->worker_pids ], \@workers, 'worker pids unchanged');
$r = $t->http(GET => $manifest);
ok($r->{status} == 200 && $r->{body} eq $img->{docker}{bytes},
    'the image is still served');
ok(-e $t->storage . '/' . $fx->blob_path($hex), 'blob still stored');

$t->done;
done_testing;
