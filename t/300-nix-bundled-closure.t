# The bundled package set end to end: resolve an image's packages, check
# the closure Nix reports is self-contained (every reference inside it,
# every ELF interpreter and rpath inside it), then run the programs in a
# chroot that holds nothing but the closure.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use File::Find ();
use Test::More;
use Nixery::Test;
use Nixery::Closure qw(resolve elf_interp_and_rpath make_root);

Nixery::Test::need($> == 0, 'needs root (chroot)');

my $tmp = tempdir(CLEANUP => 1);
my ($r, $status) = resolve('--pkgs-path', "$Nixery::Closure::ROOT/nix/pkgs",
    '--gc-roots', "$tmp/roots",
    'shell/git/htop/curl/python3/python3packages.requests/perl/'
    . 'perlpackages.json/jq/hello');
is($status, 0, 'resolved') or diag explain $r;
is($r->{status}, 'ok', 'status ok');
my $c = $r->{closure};
my %in = map { $_->{path} => 1 } @{ $c->{paths} };
is(scalar @{ $c->{roots} }, 15, 'fifteen requested outputs');
ok(!(grep { !$in{$_} } @{ $c->{roots} }), 'every root in the closure');
is_deeply($c->{attributes}, [sort qw(bashInteractive cacert coreutils curl
    git hello htop iana-etc jq moreutils nano perl perlPackages.JSON python3
    python3Packages.requests)],
    'attribute paths') or diag explain $c->{attributes};
my @outside = grep { !$in{$_} } map { @{ $_->{references} } } @{ $c->{paths} };
is_deeply(\@outside, [], 'every reference inside the closure');
ok(!(grep { $_->{narSize} <= 0 } @{ $c->{paths} }), 'NAR sizes');
ok((grep { $_->{path} =~ /-glibc-/ } @{ $c->{paths} }), 'glibc its own path');

# Every dynamic ELF file loads from the closure only.
my ($elf, @bad) = (0);
my $store_path = qr{^(/nix/store/[^/]+)};
for my $p (keys %in) {
    File::Find::find({ no_chdir => 1, wanted => sub {
        return if -l $_ || !-f $_;
        my ($interp, $rpath, $is) = elf_interp_and_rpath($_);
        return unless $is;
        $elf++;
        for my $dep (($interp || ()), split(/:/, $rpath // '')) {
            my ($sp) = $dep =~ $store_path;
            push @bad, "$_: $dep" unless $sp && $in{$sp};
        }
    } }, $p);
}
cmp_ok($elf, '>', 100, "ELF files checked: $elf");
is_deeply(\@bad, [], 'interpreters and rpaths inside the closure');

# Run them with nothing from the host.
my $root = "$tmp/root";
make_root($root, $c);
my %run = (
    'git --version' => qr/^git version 2\./,
    'htop --version' => qr/^htop 3\./,
    "bash -c 'echo ok'" => qr/^ok$/,
    "python3 -c 'import requests; print(requests.__version__)'" =>
        qr/^2\.28\./,
    'curl --version' => qr/^curl 7\./,
    'ls /nix/store' => qr/-glibc-/,
    'hello' => qr/^Hello, world!$/,
    'jq -n 1+1' => qr/^2$/,
    'nano --version' => qr/GNU nano, version 7/,
    q{perl -MJSON -e 'print encode_json([1]), qq(\\n)'} => qr/^\[1\]$/,
    'git init -q /tmp/r && git -C /tmp/r status --porcelain && echo inited'
        => qr/^inited$/,
    'echo sponged | sponge /tmp/s && cat /tmp/s' => qr/^sponged$/,
);
for my $cmd (sort keys %run) {
    my $out = `env -i PATH=/bin /usr/sbin/chroot '$root' /bin/bash -c "$cmd" 2>&1`;
    is($?, 0, "$cmd exits 0") or diag $out;
    like($out, $run{$cmd}, "$cmd output");
}
# The store paths run by their own names too, not only through /bin.
my ($git) = grep { /-git-[0-9.]+$/ } @{ $c->{roots} };
my $out = `env -i /usr/sbin/chroot '$root' $git/bin/git --version 2>&1`;
like($out, qr/^git version/, 'git from its store path');

done_testing;
