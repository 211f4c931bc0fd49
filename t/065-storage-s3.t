# The helper's S3 backend against a real S3 server (Nixery::Bucket: Ceph's
# RADOS Gateway): the storage behaviour suite every backend passes, and the
# S3-only checks (a multipart put_file read back byte for byte, a put_file
# failing midway leaves no object and no upload, wrong credentials named
# without the secret), run by helper_tests --gtest_filter='S3*'. The file
# checks that the suite ran against the server rather than skipping.
#
# NIXERY_TEST_S3_BIG_MB=1024 also publishes a file of that many MiB and
# reports the test program's peak RSS (bounded by one 16 MiB part).
use strict;
use warnings;

use Test::More;

use lib 't/lib';
use Nixery::Test;
use Nixery::Bucket;

plan skip_all => 'Ceph RGW (radosgw, ceph-mon, ceph-osd) is not installed'
    unless Nixery::Bucket::available();
my $tests = "$Nixery::Test::BUILD/cmake/helper/helper_tests";
plan skip_all => "$tests is not built (make all)" unless -x $tests;

my $big = $ENV{NIXERY_TEST_S3_BIG_MB};
my $t = Nixery::Test->new;
my $s3 = Nixery::Bucket->new($t,
    $big ? (memstore_bytes => ($big + 1024) << 20) : ());

local $ENV{NIXERY_TEST_S3_ENDPOINT} = $s3->endpoint;
local $ENV{NIXERY_TEST_S3_REGION} = $s3->region;
local $ENV{NIXERY_TEST_S3_ACCESS_KEY} = $s3->access_key;
local $ENV{NIXERY_TEST_S3_SECRET_KEY} = $s3->secret_key;
delete local $ENV{NIXERY_TEST_S3_BIG_MB};

# The tests the filter selects, by name.
my (undef, $listing) = Nixery::Bucket::capture($tests,
    '--gtest_list_tests', '--gtest_filter=S3*');
my (@names, $suite);
for (split /\n/, $listing) {
    if (/^(\S+)\./) { $suite = $1 }
    elsif (/^  (\S+)/) { push @names, "$suite.$1" }
}
my @suite = grep { m{^S3/StorageSuite\.} } @names;
my @only = grep { /^S3Storage\./ && !/BigPutFile/ } @names;
cmp_ok(scalar @suite, '>=', 11, 'the behaviour suite is instantiated for S3');
cmp_ok(scalar @only, '>=', 3, 'and the S3-only checks');

my ($status, $out) = Nixery::Bucket::capture($tests, '--gtest_filter=S3*');
is($status, 0, 'helper_tests --gtest_filter=S3* passes') or diag($out);
for my $name (@suite, @only) {
    like($out, qr/^\[       OK \] \Q$name\E \(/m, "$name ran and passed");
}
unlike($out, qr/^\[  SKIPPED \] (S3\/StorageSuite|S3Storage\.(?!BigPutFile))/m,
    'nothing skipped: the suite ran against the server');
my ($passed) = $out =~ /^\[  PASSED  \] (\d+) tests?/m;
diag("S3: $passed tests passed, of which " . scalar(@suite)
    . ' behaviour suite and ' . scalar(@only) . ' S3-only on RGW');

SKIP: {
    skip 'NIXERY_TEST_S3_BIG_MB is not set', 2 unless $big;
    local $ENV{NIXERY_TEST_S3_BIG_MB} = $big;
    ($status, $out) = Nixery::Bucket::capture('/usr/bin/time', '-v', $tests,
        '--gtest_filter=S3Storage.BigPutFile');
    is($status, 0, "a put_file of $big MiB") or diag($out);
    my ($rss) = $out =~ /Maximum resident set size \(kbytes\): (\d+)/;
    my ($wall) = $out =~ /Elapsed \(wall clock\) time .*?\): (\S+)/;
    diag("put_file of $big MiB: peak RSS $rss KiB, wall $wall");
    cmp_ok($rss, '<', 64 * 1024, 'peak RSS under 64 MiB');
}

$t->done;
done_testing;
