#!/usr/bin/perl
# Benchmark: a cold build end to end, from the first manifest GET to its 200,
# through nginx, Redis and nixery-helper with real Nix (the bundled package
# set, already realised), against single-threaded `gzip -6` + SHA-256 of the
# same layer tars, in the same run (docs/images.md, "Compression").
#
# Images: hello (small), shell/git/python3 (~50 paths) and bigdata, a
# ~200 MB image of two store paths (100 MB of random bytes, 100 MB of host
# libraries) from a package set made here on top of the bundled one. Each
# run starts redis-server, one helper and nginx on an empty storage and times
# one GET; RUNS (default 3) runs per image, the median is printed. The
# baseline takes the layers the last run built, gunzips them to their tars
# (the same bytes) and times, one after the other on one core, gzip -6 of
# each tar and sha256sum of the tar and of the gzip; creating the tar is not
# counted (in the baseline's favour). Sizes compare the layers' bytes with
# gzip -6's of the same tars.
#
# Goals (issue 12): >= 10x on shell/git/python3 and the 200 MB image, >= 5x
# on hello, layers no bigger than gzip -6's (within 1%).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use File::Temp qw(tempdir);
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";
my $runs = $ENV{RUNS} // 3;
my $root = $Nixery::Test::ROOT;
my @images = @ARGV ? @ARGV : ('hello', 'shell/git/python3', 'bigdata');

# A package set: the bundled one plus bigdata.
my $pkgs = tempdir('nixery-cold-XXXXXX', TMPDIR => 1, CLEANUP => 1);
open my $fh, '>', "$pkgs/default.nix" or die "$pkgs: $!";
print $fh <<"NIX";
args:
let
  pkgs = import $root/nix/pkgs args;
  mk = name: script: derivation {
    inherit name;
    system = "x86_64-linux";
    builder = "/bin/sh";
    PATH = "/usr/bin:/bin";
    args = [ "-c" script ];
  };
  random = mk "bench-random-1" ''
    mkdir \$out; head -c 100000000 /dev/urandom > \$out/random'';
  libs = mk "bench-libs-1" ''
    mkdir \$out
    find /usr/lib/x86_64-linux-gnu -maxdepth 1 -type f -name '*.so*' \\
      | sort | xargs cat | head -c 100000000 > \$out/libs'';
in pkgs // {
  bigdata = mk "bigdata-1" ''
    mkdir \$out; echo \${random} \${libs} > \$out/parts'';
}
NIX
close $fh;

sub cold_pull {
    my ($image) = @_;
    my $t = Nixery::Test->new;
    my $dir = $t->dir;
    my $q = Nixery::Queue->new($t);
    $q->start_redis;
    $t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
        '--storage', $t->storage, '--pkgs-path', $pkgs,
        '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
        '--popularity', "$root/nix/popularity.json", '--heartbeat', 1,
        '--helper-id', 'bench');
    $q->wait_helper('bench') or die 'helper did not start: '
        . ($t->read_file('logs/helper.log') // '');
    $t->write_config($t->registry_conf(http => $q->http_conf(wait => '600s')));
    $t->run;
    my $t0 = time;
    my $r = $t->http(GET => "/v2/$image/manifests/latest", timeout => 600,
        headers => [[Accept =>
            'application/vnd.docker.distribution.manifest.v2+json']]);
    my $elapsed = time - $t0;
    $r->{status} == 200 or die "$image: $r->{status} $r->{body}\n"
        . ($t->read_file('logs/helper.log') // '');
    my $m = $t->json($r);
    # The helper's own split, from its log.
    my $log = $t->read_file('logs/helper.log') // '';
    my ($resolve) = $log =~ /"msg":"resolved".*?"duration_ms":(\d+)/;
    my ($assemble) = $log =~ /"msg":"image assembled".*?"duration_ms":(\d+)/;
    # CPU seconds of the helper and the Nix processes it ran and reaped.
    my @st = split ' ', (`cat /proc/@{[$t->pid('helper')]}/stat` =~ s/.*\) //sr);
    my $cpu = ($st[11] + $st[12] + $st[13] + $st[14]) / 100;
    $t->stop_nginx;
    $t->stop($_) for keys %{ $t->{pids} };
    return ({ wall => $elapsed, resolve => ($resolve // 0) / 1000,
        assemble => ($assemble // 0) / 1000, cpu => $cpu }, $t, $m);
}

# Wall and CPU seconds of a command.
sub seconds {
    my ($cmd) = @_;
    my $t0 = time;
    my @c0 = times;
    system('bash', '-c', $cmd) == 0 or die "failed: $cmd\n";
    my @c1 = times;
    return (time - $t0, $c1[2] + $c1[3] - $c0[2] - $c0[3]);
}

sub median {
    my @v = sort { $a <=> $b } @_;
    return $v[$#v / 2];
}

my $floor_bin = "$Nixery::Test::BUILD/cmake/bench/gzip_floor_bench";

printf "== cold builds end to end (%d cores, load %s, %d runs, medians)\n",
    `nproc` + 0, (split ' ', `cat /proc/loadavg`)[0], $runs;
for my $image (@images) {
    cold_pull($image); # realises the image's paths with Nix, once
    my @runs;
    my ($t, $m);
    for (1 .. $runs) {
        (my $r, $t, $m) = cold_pull($image);
        push @runs, $r;
    }
    my %med = map { my $k = $_; ($k => median(map { $_->{$k} } @runs)) }
        qw(wall resolve assemble cpu);
    my ($base, $base_cpu, $tar_bytes, $ours, $theirs) = (0, 0, 0, 0, 0);
    my $work = $t->dir . '/baseline';
    mkdir $work;
    my $n = 0;
    for my $layer (@{ $m->{layers} }) {
        (my $hex = $layer->{digest}) =~ s/^sha256://;
        my $blob = $t->storage . '/blobs/sha256/' . substr($hex, 0, 2) . "/$hex";
        my $tar = "$work/l$n.tar";
        $n++;
        system("gunzip -c '$blob' > '$tar'") == 0 or die "gunzip $blob";
        for my $cmd ("gzip -6 -c '$tar' > '$work/l.gz'",
                "sha256sum '$tar' '$work/l.gz' > /dev/null") {
            my ($w, $c) = seconds($cmd);
            $base += $w;
            $base_cpu += $c;
        }
        $tar_bytes += -s $tar;
        $theirs += -s "$work/l.gz";
        $ours += $layer->{size};
    }
    my ($floor) = split ' ', `'$floor_bin' '$work' $work/l*.tar`;
    printf "%s: %d layers, %.0f MB of tar\n", $image, $n, $tar_bytes / 1e6;
    printf "  gzip -6 + sha256    %6.2f s (%.2f s CPU)  %7.2f MB\n",
        $base, $base_cpu, $theirs / 1e6;
    printf "  cold build          %6.2f s (%.2f s CPU)  %7.2f MB (%+.1f%%)"
        . "  runs %s\n", $med{wall}, $med{cpu}, $ours / 1e6,
        100 * ($ours / $theirs - 1),
        join(' ', map { sprintf '%.2f', $_->{wall} } @runs);
    printf "    of which resolve %.2f s, assembly %.2f s, floor %.2f s "
        . "(assembly/floor %.2fx, goal <= 1.5)\n", $med{resolve},
        $med{assemble}, $floor, $med{assemble} / $floor;
    printf "  ratio %.1fx wall, %.1fx CPU (goal >= %d)\n", $base / $med{wall},
        $base_cpu / $med{cpu}, $image eq 'hello' ? 5 : 10;
}
