# The S3 server the bucket tests run against (Nixery::Bucket: Ceph's RADOS
# Gateway on a one-node cluster in the test's directory) is up, checks
# signatures as S3 does, and keeps objects across a gateway restart. When
# this file fails, every bucket test would, for reasons of the harness.
use strict;
use warnings;

use Test::More;

use lib 't/lib';
use Nixery::Test;
use Nixery::Bucket;

Nixery::Bucket::need();

my $t = Nixery::Test->new;
my $s3 = Nixery::Bucket->new($t);

$s3->create_bucket('images');
my ($status, $body) = $s3->put('images', 'blobs/sha256/ab/abc', "layer bytes\0\xff");
is($status, 200, 'signed PUT is stored');
($status, $body) = $s3->get('images', 'blobs/sha256/ab/abc');
is($status, 200, 'signed GET');
is($body, "layer bytes\0\xff", 'the bytes come back');

my (undef, $anon) = Nixery::Bucket::capture('curl', '-s', '-o', '/dev/null',
    '-w', '%{http_code}', $s3->url('images', 'blobs/sha256/ab/abc'));
is($anon, '403', 'an anonymous GET is refused');

{
    local $s3->{secret_key} = 'not-the-secret';
    ($status, $body) = $s3->get('images', 'blobs/sha256/ab/abc');
    is($status, 403, 'a wrong secret is refused');
    like($body, qr/SignatureDoesNotMatch/, '... as a signature mismatch');
}

$s3->stop_gateway;
$s3->start_gateway;
($status, $body) = $s3->get('images', 'blobs/sha256/ab/abc');
is($body, "layer bytes\0\xff", 'objects outlive a gateway restart');

$t->done;
done_testing;
