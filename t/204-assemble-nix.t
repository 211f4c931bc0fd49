# End to end with real Nix: resolve shell/hello against the bundled package
# set, assemble the closure Nix reports from the real /nix/store (with the
# bundled popularity data), unpack the image with umoci, compare every
# store path with the store, and run its programs in a chroot of the
# unpacked rootfs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Nixery::Test;
use Nixery::Closure qw(resolve);
use Nixery::Store qw(assemble oci_layout compare_store read_json blob_file);

Nixery::Test::need($> == 0, 'needs root (chroot)');

my $dir = tempdir('nixery-204-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my ($r, $status) = resolve('--pkgs-path', "$Nixery::Closure::ROOT/nix/pkgs",
    '--gc-roots', "$dir/roots", 'shell/hello');
is($status, 0, 'resolved shell/hello') or diag explain $r;
my $c = $r->{closure};
open(my $fh, '>', "$dir/closure.json") or die;
print $fh JSON::PP->new->encode($c);
close $fh;

my ($out, $st) = assemble(storage => "$dir/storage",
    closure => "$dir/closure.json", name => 'shell/hello',
    popularity => "$Nixery::Closure::ROOT/nix/popularity.json",
    log => "$dir/assemble.log");
is($st, 0, 'assembled from /nix/store') or diag `cat $dir/assemble.log`;

my $m = oci_layout("$dir/storage", $out->{oci}, "$dir/layout", 'latest');
my $config = read_json(blob_file("$dir/storage", $m->{config}{digest}));
is_deeply($config->{config}{Cmd}, ['bash'], 'Cmd bash');
# With the bundled popularity data, glibc (53 references) outranks all but
# the forced cacert and iana-etc layers.
like(join("\n", map { $_->{created_by} } @{$config->{history}}[0 .. 2]),
    qr/glibc-/, 'glibc among the first layers');
is(system("umoci unpack --image '$dir/layout:latest' '$dir/bundle' "
    . ">'$dir/umoci.log' 2>&1"), 0, 'umoci unpacks') or diag `cat $dir/umoci.log`;
my $rootfs = "$dir/bundle/rootfs";
my ($diff, $n) = compare_store('', $rootfs, map { $_->{path} } @{$c->{paths}});
is_deeply($diff, [], "every store path identical ($n entries)");

my %run = (
    'hello' => qr/^Hello, world!$/,
    "bash -c 'echo ok'" => qr/^ok$/,
    '/usr/bin/env echo via-env' => qr/^via-env$/,
    'ls -ld /tmp' => qr/^drwxrwxrwt /,
    'cat /etc/ssl/certs/ca-certificates.crt | head -c 0 && echo certs' =>
        qr/^certs$/,
);
for my $cmd (sort keys %run) {
    my $got = `env -i PATH=/bin /usr/sbin/chroot '$rootfs' /bin/bash -c "$cmd" 2>&1`;
    is($?, 0, "$cmd exits 0") or diag $got;
    like($got, $run{$cmd}, "$cmd output");
}

done_testing;
