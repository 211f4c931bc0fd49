# See bench/repull.sh. Each image is resolved once (nixery-resolve), then
# assembled by nixery-assemble into one storage per algorithm and budget,
# in series order; a step downloads the manifest's layers whose digest
# the client has not seen in an earlier step of the same storage.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use File::Temp qw(tempdir);
use JSON::PP;
use Nixery::Closure qw(resolve);
use Nixery::Store qw(assemble read_json manifest_file);

my $root = $Nixery::Closure::ROOT;
my $budget = $ENV{BENCH_BUDGET} // 94;
my $tight = $ENV{BENCH_TIGHT} // 12;
my $dir = tempdir('nixery-repull-XXXXXX', TMPDIR => 1,
    CLEANUP => !$ENV{BENCH_KEEP});
my @algorithms = qw(popularity stable);

# Grows by one package per step, then shrinks (and grows once more).
my @series = (
    'shell',
    'shell/git',
    'shell/git/htop',
    'shell/git/htop/python3',
    'shell/git/htop/python3/curl',
    'shell/git/htop/python3/curl/jq',
    'shell/git/python3/curl/jq',
    'shell/git/python3/jq',
    'shell/python3/jq',
    'shell/python3/jq/hello',
);

my %closure;
for my $i (0 .. $#series) {
    my ($r, $status) = resolve('--pkgs-path', "$root/nix/pkgs",
        '--gc-roots', "$dir/roots", $series[$i]);
    die "resolving $series[$i] failed (make pkgs?)\n" if $status;
    my $file = "$dir/closure-$i.json";
    open(my $fh, '>', $file) or die "$file: $!";
    print $fh JSON::PP->new->canonical->encode($r->{closure});
    close $fh;
    $closure{$series[$i]} = { file => $file,
        paths => scalar @{ $r->{closure}{paths} } };
}

# One client pulling the series from a storage built with $algorithm:
# per step, [layers, bytes of the image, bytes downloaded].
sub pull_series {
    my ($algorithm, $budget) = @_;
    my $storage = "$dir/storage-$algorithm-$budget";
    my (%have, @steps);
    for my $name (@series) {
        my ($a, $status) = assemble(storage => $storage,
            closure => $closure{$name}{file}, name => $name,
            budget => $budget, popularity => "$root/nix/popularity.json",
            args => ['--layering', $algorithm], log => "$dir/assemble.log");
        die "assembling $name ($algorithm) failed: see $dir/assemble.log\n"
            if $status;
        my ($hex) = $a->{docker} =~ /^sha256:(.*)$/;
        my $m = read_json(manifest_file($storage, 'docker', $hex));
        my ($size, $new) = (0, 0);
        for my $l (@{ $m->{layers} }) {
            $size += $l->{size};
            $new += $l->{size} unless $have{$l->{digest}}++;
        }
        # The symlink layer is one of the manifest's layers.
        die "$name: over the budget\n" if @{ $m->{layers} } > $budget + 1;
        push @steps, [scalar @{ $m->{layers} }, $size, $new];
    }
    return \@steps;
}

sub mb { sprintf '%.2f', $_[0] / 1e6 }

for my $b ($budget, $tight) {
    my %r = map { $_ => pull_series($_, $b) } @algorithms;
    printf "\nre-pull bench: %d images, --layer-budget %d, bytes in MB "
        . "(compressed)\n", scalar @series, $b;
    printf "%-32s %5s | %6s %7s %8s | %6s %7s %8s\n", 'image', 'paths',
        'layers', 'image', 'pulled', 'layers', 'image', 'pulled';
    printf "%-32s %5s | %-24s | %-24s\n", '', '', 'popularity (Nixery)',
        'stable';
    my (%total, %after);
    for my $i (0 .. $#series) {
        my ($p, $s) = ($r{popularity}[$i], $r{stable}[$i]);
        printf "%-32s %5d | %6d %7s %8s | %6d %7s %8s\n", $series[$i],
            $closure{$series[$i]}{paths}, $p->[0], mb($p->[1]), mb($p->[2]),
            $s->[0], mb($s->[1]), mb($s->[2]);
        for my $alg (@algorithms) {
            $total{$alg} += $r{$alg}[$i][2];
            $after{$alg} += $r{$alg}[$i][2] if $i > 0;
        }
    }
    printf "downloaded over the series: popularity %s MB, stable %s MB\n",
        mb($total{popularity}), mb($total{stable});
    printf "after the first pull:       popularity %s MB, stable %s MB: "
        . "%.2fx fewer (goal >= 2)\n", mb($after{popularity}),
        mb($after{stable}), $after{popularity} / ($after{stable} || 1);
    printf "first pull:                 popularity %s MB, stable %s MB "
        . "(goal: stable no bigger)\n", mb($r{popularity}[0][1]),
        mb($r{stable}[0][1]);
}
