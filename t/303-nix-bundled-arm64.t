# The bundled package set for aarch64-linux, running arm64 code on this
# x86_64 machine through qemu-user-static and binfmt_misc (`make pkgs`
# registers qemu-aarch64 with the F flag): the closure of an arm64 image is
# self-contained and all arm64 ELF, its programs run in a chroot holding
# nothing but the closure, and through the whole system (as `make run`
# starts it) skopeo pulls arm64/hello and podman runs arm64/shell/hello.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use File::Find ();
use JSON::PP;
use Test::More;
use Nixery::Test;
use Nixery::Closure qw(resolve elf_interp_and_rpath make_root);
use Nixery::Run qw(command);

Nixery::Test::need($> == 0, 'needs root (chroot)');
my $binfmt = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
Nixery::Test::need(-r $binfmt && `cat $binfmt` =~ /^enabled\n(?s:.*)^flags:.*F/m,
    'qemu-aarch64 registered with binfmt_misc, flag F (make pkgs does it)');

my $tmp = tempdir(CLEANUP => 1);
my ($r, $status) = resolve('--pkgs-path', "$Nixery::Closure::ROOT/nix/pkgs",
    '--gc-roots', "$tmp/roots",
    'arm64/shell/git/htop/curl/python3/python3packages.requests/perl/'
    . 'perlpackages.json/jq/hello');
is($status, 0, 'resolved for arm64') or diag explain $r;
my $c = $r->{closure};
my %in = map { $_->{path} => 1 } @{ $c->{paths} };
is(scalar @{ $c->{roots} }, 15, 'fifteen requested outputs');
my @outside = grep { !$in{$_} } map { @{ $_->{references} } } @{ $c->{paths} };
is_deeply(\@outside, [], 'every reference inside the closure');

# Every ELF file is arm64 (e_machine 183), and every dynamic one loads from
# the closure only.
my ($elf, @bad, @foreign) = (0);
my $store_path = qr{^(/nix/store/[^/]+)};
for my $p (keys %in) {
    File::Find::find({ no_chdir => 1, wanted => sub {
        return if -l $_ || !-f $_;
        my ($interp, $rpath, $is) = elf_interp_and_rpath($_);
        return unless $is;
        $elf++;
        open(my $fh, '<', $_) or die;
        read($fh, my $head, 20);
        push @foreign, $_ unless unpack('v', substr($head, 18, 2)) == 183;
        for my $dep (($interp || ()), split(/:/, $rpath // '')) {
            my ($sp) = $dep =~ $store_path;
            push @bad, "$_: $dep" unless $sp && $in{$sp};
        }
    } }, $p);
}
cmp_ok($elf, '>', 100, "ELF files checked: $elf");
is_deeply(\@foreign, [], 'every ELF file is for aarch64');
is_deeply(\@bad, [], 'interpreters and rpaths inside the closure');

# Run them with nothing from the host: the kernel hands each arm64 program
# to qemu-aarch64, opened at registration (F), so the chroot needs no qemu.
my $root = "$tmp/root";
make_root($root, $c);
my %run = (
    'uname -m' => qr/^aarch64$/,
    'hello' => qr/^Hello, world!$/,
    'git --version' => qr/^git version 2\./,
    "python3 -c 'import requests, platform; print(requests.__version__, platform.machine())'" =>
        qr/^2\.28\.\d+ aarch64$/,
    q{perl -MJSON -e 'print encode_json([1]), qq(\\n)'} => qr/^\[1\]$/,
    'jq -n 1+1' => qr/^2$/,
    'nano --version' => qr/GNU nano, version 7/,
    'curl --version' => qr/^curl 7\..*aarch64/,
);
for my $cmd (sort keys %run) {
    my $out = `env -i PATH=/bin /usr/sbin/chroot '$root' /bin/bash -c "$cmd" 2>&1`;
    is($?, 0, "chroot: $cmd exits 0") or diag $out;
    like($out, $run{$cmd}, "chroot: $cmd output");
}

# The whole system, offline: arm64/hello and arm64/shell/hello.
my $t = Nixery::Test->new;
my $dir = $t->dir;
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t);

my ($rc, $out) = command('skopeo', 'copy', '--quiet',
    '--src-tls-verify=false', "docker://$reg/arm64/hello:latest",
    "oci:$dir/img:latest");
is($rc, 0, 'skopeo pulls arm64/hello') or diag($out);
($rc, $out) = command('skopeo', 'inspect', '--tls-verify=false',
    '--override-arch', 'arm64', '--config', "docker://$reg/arm64/hello");
my $config = eval { JSON::PP->new->decode($out) } // {};
is($config->{architecture}, 'arm64', 'its config says arm64') or diag($out);

my @podman = ('podman', '--root', "$dir/podman/root", '--runroot',
    "$dir/podman/run", '--storage-driver', 'vfs', '--cgroup-manager',
    'cgroupfs', '--runtime', 'runc', '--events-backend', 'file',
    '--tmpdir', "$dir/podman/tmp");
($rc, $out) = command(@podman, 'run', '--rm', '--net=host',
    '--platform', 'linux/arm64',
    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768',
    '--tls-verify=false', "$reg/arm64/shell/hello", 'sh', '-c',
    'uname -m; hello');
is($rc, 0, 'podman run arm64/shell/hello') or diag($out);
like($out, qr/^aarch64\nHello, world!$/m, 'uname -m and hello, on arm64')
    or diag($out);
is($run->jobs('built'), 2, 'two images built');
command(@podman, 'rmi', '--all', '--force');

is($run->stop('TERM'), 0, 'stopped');
$t->done;
done_testing;
