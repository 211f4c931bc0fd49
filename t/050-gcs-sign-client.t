# GCS V4 signed URLs (src/gcs_sign.h) against Google's own client library:
# @google-cloud/storage (pinned in t/node/) and nixery-sign sign the same GET
# URLs with a key made here, at the same frozen time, for object names with
# awkward characters, in path, virtual-hosted and bucket-bound styles. The
# URLs must be equal byte for byte.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Cwd qw(abs_path);
use File::Compare qw(compare);
use File::Copy qw(copy);
use File::Path qw(make_path);
use File::Temp qw(tempdir);
use JSON::PP ();

my $root = abs_path("$FindBin::Bin/..");
my $build = $ENV{NIXERY_BUILD} // "$root/build";
my $sign = "$build/cmake/src/nixery-sign";
ok(-x $sign, "nixery-sign is built ($sign)") or BAIL_OUT('build first');

# node and npm: installed by make deps; apt-get them if they are missing.
if (system('sh', '-c', 'command -v node >/dev/null && command -v npm >/dev/null') != 0) {
    diag('node or npm missing: apt-get install -y nodejs npm');
    system('sh', '-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -q '
        . 'nodejs npm >/dev/null') == 0 or BAIL_OUT('cannot install node');
}

# The client library goes into the build directory, never the source tree;
# `npm ci` again only when the pinned lock file changed.
my $modules = "$build/node-gcs-sign";
make_path($modules);
my $lock = "$root/t/node/package-lock.json";
if (!-d "$modules/node_modules/\@google-cloud/storage"
    || compare($lock, "$modules/package-lock.json") != 0) {
    copy("$root/t/node/package.json", "$modules/package.json") or die $!;
    copy($lock, "$modules/package-lock.json") or die $!;
    my $out = `npm ci --prefix '$modules' --ignore-scripts --no-audit --no-fund 2>&1`;
    is($?, 0, 'npm ci @google-cloud/storage') or diag($out);
}
my $version = JSON::PP->new->decode(do {
    local (@ARGV, $/) = "$modules/node_modules/\@google-cloud/storage/package.json";
    <>;
})->{version};
is($version, '7.22.0', 'the pinned client library');

# A made-up service account.
my $dir = tempdir('nixery-gcs-sign-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $pem = `openssl genrsa 2048 2>/dev/null`;
like($pem, qr/BEGIN (RSA )?PRIVATE KEY/, 'openssl genrsa');
my $key = "$dir/key.json";
open(my $fh, '>', $key) or die $!;
print $fh JSON::PP->new->canonical->encode({
    type => 'service_account',
    client_email => 'nixery-signer@made-up-project.iam.gserviceaccount.com',
    private_key => $pem,
});
close $fh;

my $epoch = 1704164645;    # 2024-01-02T03:04:05Z
my $expires = 3600;
my $bucket = 'nixery-test-bucket';
my @names = (
    'blobs/sha256/0123abcd',
    'with space',
    'a+b',
    '100%',
    '%41 not an escape',
    'tilde~x',
    "unicode-\x{e9}-\x{fc}-\x{65e5}\x{672c}",
    'dir/sub/file',
    '/leading/slash',
    'what?is=this&that',
    'hash#tag',
    "it's",
    'bang!',
    'star*',
    'paren(s)',
    'colon:semi;comma,at@dollar$',
);
utf8::encode($_) for @names;

sub lines {
    my (@cmd) = @_;
    open(my $p, '-|', @cmd) or die "@cmd: $!";
    my @l = <$p>;
    close $p;
    is($?, 0, "$cmd[0] exits 0") or return ();
    chomp @l;
    return @l;
}

my %styles = (
    path => ['path', 'path'],
    virtual => ['virtual', 'virtual'],
    bound => ['bound=https://cdn.example.com', 'bound'],
);
my $compared = 0;
for my $style (sort keys %styles) {
    my ($node_style, $our_style) = @{ $styles{$style} };
    my @ours = lines($sign, '--key', $key, '--bucket', $bucket,
        '--time', $epoch, '--expires', $expires, '--style', $our_style,
        ($style eq 'bound' ? ('--endpoint', 'https://cdn.example.com') : ()),
        '--', @names);
    my @theirs = lines('node', "$root/t/node/gcs-sign.js", $modules, $key,
        $epoch, $expires, $bucket, $node_style, @names);
    is(scalar @ours, scalar @names, "$style: nixery-sign signed every name");
    is(scalar @theirs, scalar @names, "$style: the client signed every name");
    for my $i (0 .. $#names) {
        my ($o, $t) = ($ours[$i] // '', $theirs[$i] // '');
        my ($os) = $o =~ /X-Goog-Signature=([0-9a-f]+)/;
        my ($ts) = $t =~ /X-Goog-Signature=([0-9a-f]+)/;
        ok(defined $ts && length($ts) == 512, "$style $names[$i]: client signature")
            or diag($t);
        is($os, $ts, "$style $names[$i]: same signature");
        is($o, $t, "$style $names[$i]: same URL") and $compared++;
    }
}
is($compared, 3 * @names, 'every URL equal');
done_testing;
