# End to end from the bundled package set: resolve shell/git/htop (and
# curl, python3 with requests) with Nix, assemble the image (nixery-assemble,
# with the shipped popularity), unpack it with umoci and run the programs
# inside it under chroot, then with podman and runc where podman runs.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Nixery::Test;
use Nixery::Closure qw(resolve);
use Nixery::Store qw(oci_layout);

Nixery::Test::need($> == 0, 'needs root (chroot)');

my $ROOT = $Nixery::Closure::ROOT;
my $dir = tempdir('nixery-302-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $name = 'shell/git/htop/curl/python3/python3packages.requests';

my ($r, $status) = resolve('--pkgs-path', "$ROOT/nix/pkgs",
    '--gc-roots', "$dir/roots", $name);
is($status, 0, 'resolved') or diag explain $r;
open(my $fh, '>', "$dir/closure.json") or die;
print $fh JSON::PP->new->canonical->encode($r->{closure});
close $fh;

my $assemble = "$Nixery::Closure::BUILD/cmake/helper/nixery-assemble";
my $out = `'$assemble' --storage '$dir/storage' --closure '$dir/closure.json' --name '$name' --popularity '$ROOT/nix/popularity.json' 2>'$dir/assemble.log'`;
is($?, 0, 'assembled') or diag `cat '$dir/assemble.log'`;
my $a = JSON::PP->new->decode($out);
like($a->{oci}, qr/^sha256:/, 'OCI manifest');

oci_layout("$dir/storage", $a->{oci}, "$dir/layout", 'latest');
my $rc = system("umoci unpack --image '$dir/layout:latest' '$dir/bundle' "
    . ">'$dir/umoci.log' 2>&1");
is($rc, 0, 'umoci unpacks the image') or diag `cat '$dir/umoci.log'`;
my $rootfs = "$dir/bundle/rootfs";

# The image holds the closure and the symlink layer, nothing else.
opendir(my $d, "$rootfs/nix/store") or die;
my @in_image = sort grep { !/^\./ } readdir $d;
closedir $d;
is_deeply(\@in_image,
    [sort map { $_->{path} =~ s{^/nix/store/}{}r } @{ $r->{closure}{paths} }],
    'the image holds exactly the closure');

my $config = JSON::PP->new->decode(`umoci stat --image '$dir/layout:latest' --json 2>/dev/null` || '{}');

mkdir "$rootfs/dev";
system('mknod', "$rootfs/dev/null", 'c', '1', '3') == 0 or die 'mknod';
chmod 0666, "$rootfs/dev/null";
mkdir "$rootfs/tmp";
chmod 01777, "$rootfs/tmp";

my @commands = (
    ['git --version' => qr/^git version 2\./],
    ['htop --version' => qr/^htop 3\./],
    ["bash -c 'echo ok'" => qr/^ok$/],
    ["python3 -c 'import requests; print(requests.__version__)'"
        => qr/^2\.28\./],
    ['curl --version' => qr/^curl 7\./],
);
for my $c (@commands) {
    my ($cmd, $want) = @$c;
    my $o = `env -i PATH=/bin /usr/sbin/chroot '$rootfs' /bin/bash -c "$cmd" 2>&1`;
    is($?, 0, "chroot: $cmd") or diag $o;
    like($o, $want, "chroot: $cmd output");
}

# podman with runc, vfs storage and cgroupfs (a setup that works as root on
# a plain Debian 12 machine), from the OCI layout: no registry.
SKIP: {
    Nixery::Test::need_or_skip(scalar `command -v podman 2>/dev/null`,
        'podman not installed', 3 + @commands);
    my $p = "$dir/podman";
    my @podman = ('podman', '--root', "$p/root", '--runroot', "$p/run",
        '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs',
        '--runtime', 'runc', '--events-backend', 'file');
    # vfs stores every layer as a full copy of the ones below it: the same
    # image in 3 layers (+ the symlink layer) keeps that cheap.
    my $few = `'$assemble' --storage '$dir/storage3' --closure '$dir/closure.json' --name '$name' --budget 3 2>>'$dir/assemble.log'`;
    is($?, 0, 'assembled in few layers') or diag `cat '$dir/assemble.log'`;
    oci_layout("$dir/storage3", JSON::PP->new->decode($few)->{oci},
        "$dir/layout3", 'latest');
    # podman names an image pulled from a layout after the path as given,
    # which must then be a valid reference (lowercase components, no runs
    # of separators); tempdir's letters may be uppercase or "_", so the
    # path is given relative to $dir.
    my $pulled = system(join(' ', "cd '$dir' &&", @podman, 'pull', '-q',
        'oci:layout3:latest', ">'$dir/pull.log' 2>&1"));
    is($pulled, 0, 'podman pulls the OCI layout')
        or diag `tail -5 '$dir/pull.log'`;
    my $id = `cat '$dir/pull.log' | tail -1`;
    chomp $id;
    # One container for all the commands: vfs copies the image per
    # container, which costs most of this test's time.
    my $script = join('; ', map { "echo '>>> $_'; $commands[$_][0]" }
        0 .. $#commands);
    $script =~ s/'/'\\''/g;
    my $o = `@podman run --rm --network none --ulimit nofile=20000:20000 --ulimit nproc=32768:32768 $id /bin/bash -c '$script; echo ">>> end"' 2>&1`;
    is($?, 0, 'podman run') or diag $o;
    my %got = map { /^(.*?)\n(.*)$/s ? ($1 => $2) : () } split /^>>> /m, $o;
    for my $i (0 .. $#commands) {
        like($got{$i} // '', $commands[$i][1], "podman: $commands[$i][0]")
            or diag $o;
    }
}

done_testing;
