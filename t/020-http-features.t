# nginx's file path under the registry: Range (206, multipart, 416),
# conditional requests (ETag, Last-Modified), sendfile with a large blob,
# and open_file_cache (with cached errors) while the helper publishes files.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use Nixery::Fixture;
use Nixery::Test;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'hello');
my $big = $fx->write_blob(join '', map { pack 'N', $_ * 2654435761 % 4294967296 }
    1 .. 800_000);    # 3.2 MB of varied bytes
$t->write_config($t->registry_conf(server => <<'CONF'));
        sendfile on;
        open_file_cache max=1000 inactive=60s;
        open_file_cache_valid 60s;
        open_file_cache_errors on;
CONF
$t->run;

my $layer = $img->{layers}[0];
my $url = "/v2/hello/blobs/$layer->{digest}";

# Range.
my $r = $t->http(GET => $url, headers => [ [ Range => 'bytes=0-9' ] ]);
is($r->{status}, 206, 'range: 206');
is($r->{headers}{'content-range'}, "bytes 0-9/$layer->{size}", 'range: Content-Range');
is($r->{body}, substr($layer->{bytes}, 0, 10), 'range: the first 10 bytes');
is($r->{headers}{'docker-content-digest'}, $layer->{digest}, 'range: digest header');
is($t->http(GET => $url)->{headers}{'accept-ranges'}, 'bytes', 'Accept-Ranges');

$r = $t->http(GET => $url, headers => [ [ Range => 'bytes=-5' ] ]);
is($r->{body}, substr($layer->{bytes}, -5), 'suffix range');
$r = $t->http(GET => $url, headers => [ [ Range => 'bytes=0-1,4-5' ] ]);
is($r->{status}, 206, 'multi-range: 206');
like($r->{headers}{'content-type'}, qr{^multipart/byteranges}, 'multi-range: multipart');
$r = $t->http(GET => $url, headers => [ [ Range => 'bytes=999999-' ] ]);
is($r->{status}, 416, 'unsatisfiable range: 416');

$r = $t->http(GET => "/v2/x/blobs/$big->{digest}",
    headers => [ [ Range => 'bytes=1000000-1999999' ] ]);
is(length $r->{body}, 1_000_000, 'range in a large blob: length');
ok($r->{body} eq substr($big->{bytes}, 1_000_000, 1_000_000), 'range in a large blob: bytes');

# Conditional requests.
my $etag = qq{"$layer->{digest}"};
my $full = $t->http(GET => $url);
is($full->{headers}{etag}, $etag, 'ETag is the quoted digest');
$r = $t->http(GET => $url, headers => [ [ 'If-None-Match' => $etag ] ]);
is($r->{status}, 304, 'If-None-Match with the digest: 304');
is($r->{body}, '', '304 has no body');
$r = $t->http(GET => $url, headers => [ [ 'If-None-Match' => '"sha256:other"' ] ]);
is($r->{status}, 200, 'If-None-Match with another tag: 200');
$r = $t->http(GET => $url,
    headers => [ [ 'If-Modified-Since' => $full->{headers}{'last-modified'} ] ]);
is($r->{status}, 304, 'If-Modified-Since Last-Modified: 304');
$r = $t->http(GET => $url,
    headers => [ [ 'If-Modified-Since' => 'Thu, 01 Jan 1970 00:00:01 GMT' ] ]);
is($r->{status}, 200, 'If-Modified-Since long ago: 200');
$r = $t->http(GET => $url,
    headers => [ [ Range => 'bytes=0-3' ], [ 'If-Range' => '"sha256:other"' ] ]);
is($r->{status}, 200, 'If-Range with another tag: the whole blob');
$r = $t->http(GET => $url,
    headers => [ [ Range => 'bytes=0-3' ], [ 'If-Range' => $etag ] ]);
is($r->{status}, 206, 'If-Range with the digest: 206');
$r = $t->http(GET => '/v2/hello/manifests/latest',
    headers => [ [ 'If-None-Match' => qq{"$img->{docker}{digest}"} ] ]);
is($r->{status}, 304, 'manifest by tag: If-None-Match 304');
$r = $t->http(GET => '/v2/hello/manifests/latest',
    headers => [ [ 'If-None-Match' => qq{"$img->{docker}{digest}"} ],
                 [ Accept => $Nixery::Fixture::MEDIA{oci_manifest} ] ]);
is($r->{status}, 200, 'manifest by tag: other flavour is not the cached one');

# sendfile of a large blob.
$r = $t->http(GET => "/v2/x/blobs/$big->{digest}");
is($r->{headers}{'content-length'}, $big->{size}, 'large blob: length');
is(sha256_hex($r->{body}), $big->{hex}, 'large blob: digest of the body');

# open_file_cache with cached errors: files published after a miss are
# served at once (index entries: t/025-index-cache.t).
my $late_bytes = "published after the first request\n";
my $late_hex = sha256_hex($late_bytes);
is($t->http(GET => "/v2/x/blobs/sha256:$late_hex")->{status}, 404, 'not yet published');
$fx->write_blob($late_bytes);
$r = $t->http(GET => "/v2/x/blobs/sha256:$late_hex");
is($r->{status}, 200, 'published blob served despite the cached miss');
is($r->{body}, $late_bytes, 'published blob body');

$t->done;
done_testing;
