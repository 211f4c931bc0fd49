# See bench/module.sh. Cached-manifest requests per second (a manifest, and
# the Docker manifest list of an image for two platforms) and 100 MiB blob
# throughput through the module, against the same nginx binary serving the
# same files as plain static files, in the same run.
#
# Three nginx instances (1 worker each, sendfile on, access_log off) serve
# one fixture storage, each both through the registry (/v2/) and as static
# files (/static/, an alias of the storage root); C has the index cache off.
# Each round runs two wrk at the same time: one against the module on one
# instance, one against the static file on another, swapping instances
# every round. Both sides share the machine at the same moments, so load
# from other processes (this machine is shared) hits both alike; the ratio
# of each round is module/static, and the median ratio is printed. The
# workers' CPU time per request (from /proc) is printed as well.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use List::Util qw(sum);
use Test::More;
use Nixery::ModuleBench qw(add_bench_image bench_conf);
use Nixery::Test;

my $rounds = $ENV{BENCH_ROUNDS} // 8;
my $seconds = $ENV{BENCH_SECONDS} // 3;

my $first = Nixery::Test->new;
my ($fx, $img) = add_bench_image($first->storage);
my $multi = $fx->add_multi_image(name => 'shell/hello/multi', layers => [
    map { { "etc/f$_" => "layer $_\n" x 100 } } 1 .. 12 ]);
# 100 MiB of incompressible-looking bytes.
my $chunk = join '', map { pack 'N', ($_ * 2654435761) % 4294967296 } 1 .. 262144;
my $big = '';
$big .= substr($chunk, $_ % 7) . substr($chunk, 0, $_ % 7) for 1 .. 100;
my $blob = $fx->write_blob($big);
undef $big;

sub start {
    my ($t, $cache) = @_;
    $t->write_config($t->http_conf(bench_conf("nixery_index_cache $cache;")));
    $t->run;
    return { t => $t, port => $t->port, worker => ($t->worker_pids)[0] };
}
my $A = start($first, 'max=1000 valid=10s');
my $B = start(Nixery::Test->new(storage => $first->storage), 'max=1000 valid=10s');
my $C = start(Nixery::Test->new(storage => $first->storage), 'off');

my $accept = 'Accept: ' . $img->{docker}{media_type};
# What containerd sends: every manifest and list type.
my $list_accept = 'Accept: application/vnd.docker.distribution.manifest.v2+json, '
    . 'application/vnd.docker.distribution.manifest.list.v2+json, '
    . 'application/vnd.oci.image.manifest.v1+json, '
    . 'application/vnd.oci.image.index.v1+json, */*';
my %path = (
    module_manifest => '/v2/shell/hello/manifests/latest',
    static_manifest => '/static/' . $fx->manifest_path('docker', $img->{docker}{hex}),
    module_index => '/v2/shell/hello/multi/manifests/latest',
    static_index => '/static/'
        . $fx->manifest_path('docker-list', $multi->{docker_list}{hex}),
    module_blob => "/v2/bench/blobs/$blob->{digest}",
    static_blob => '/static/' . $fx->blob_path($blob->{hex}),
);
sub url { "http://127.0.0.1:$_[0]{port}$path{$_[1]}" }

sub accept_for { $_[0] =~ /index/ ? $list_accept : $accept }

# Every side serves the same bytes before anything is timed.
for my $kind (qw(manifest index blob)) {
    my %sums;
    for my $side ([ $A, "module_$kind" ], [ $C, "module_$kind" ], [ $B, "static_$kind" ]) {
        my $u = url(@$side);
        my $h = accept_for($side->[1]);
        $sums{`curl -s -H '$h' '$u' | sha256sum`} = 1;
    }
    die "module and static $kind differ\n" unless keys %sums == 1;
}

my $hz = `getconf CLK_TCK` + 0 || 100;
sub cpu {
    my ($inst) = @_;
    open my $fh, '<', "/proc/$inst->{worker}/stat" or die "worker: $!";
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return ($f[11] + $f[12]) / $hz;
}

sub bytes {
    my ($n, $unit) = @_;
    my %m = (B => 1, KB => 1024, MB => 1024**2, GB => 1024**3);
    return $n * ($m{$unit} // die "unit $unit\n");
}

# Two wrk at once: [instance, path key, connections] each. Returns, per
# side, { rps, bps, cpu_us (worker CPU per request) }.
sub pair {
    my @sides = @_;
    my @cpu0 = map { cpu($_->[0]) } @sides;
    my @fh;
    for my $s (@sides) {
        open my $fh, '-|', 'wrk', '-t1', "-c$s->[2]", "-d${seconds}s",
            '-H', accept_for($s->[1]), url($s->[0], $s->[1]) or die "wrk: $!";
        push @fh, $fh;
    }
    my @out = map { local $/; my $o = readline($_) // ''; close $_; $o } @fh;
    my @res;
    for my $i (0 .. $#sides) {
        my $o = $out[$i];
        die "wrk saw errors:\n$o" if $o =~ /Non-2xx|Socket errors/;
        my ($rps) = $o =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk:\n$o";
        my ($n) = $o =~ /(\d+) requests in/ or die "wrk:\n$o";
        my ($tn, $tu) = $o =~ /Transfer\/sec:\s+([\d.]+)([KMG]?B)/ or die "wrk:\n$o";
        push @res, { rps => $rps, bps => bytes($tn, $tu),
            cpu_us => (cpu($sides[$i][0]) - $cpu0[$i]) / $n * 1e6 };
    }
    return @res;
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }
sub list { join ' ', map { sprintf '%.3f', $_ } @_ }

my (%ratio, %cpu_ratio, %abs);
for my $round (1 .. $rounds) {
    my ($m, $s) = $round % 2 ? ($A, $B) : ($B, $A);
    my ($mr, $sr) = pair([ $m, 'module_manifest', 5 ], [ $s, 'static_manifest', 5 ]);
    push @{ $ratio{manifest} }, $mr->{rps} / $sr->{rps};
    push @{ $cpu_ratio{manifest} }, $sr->{cpu_us} / $mr->{cpu_us};
    push @{ $abs{manifest} }, [ $mr->{rps}, $sr->{rps}, $mr->{cpu_us}, $sr->{cpu_us} ];

    ($mr, $sr) = pair([ $m, 'module_index', 5 ], [ $s, 'static_index', 5 ]);
    push @{ $ratio{index} }, $mr->{rps} / $sr->{rps};
    push @{ $abs{index} }, [ $mr->{rps}, $sr->{rps} ];

    ($mr, $sr) = pair([ $m, 'module_blob', 1 ], [ $s, 'static_blob', 1 ]);
    push @{ $ratio{blob} }, $mr->{bps} / $sr->{bps};
    push @{ $abs{blob} }, [ $mr->{bps}, $sr->{bps} ];

    if ($round <= $rounds / 2) {
        ($mr, $sr) = pair([ $C, 'module_manifest', 5 ], [ $round % 2 ? $A : $B, 'static_manifest', 5 ]);
        push @{ $ratio{nocache} }, $mr->{rps} / $sr->{rps};
    }
}

my $col = sub { my ($k, $i) = @_; median(map { $_->[$i] } @{ $abs{$k} }) };
printf "module bench: %d rounds of %ds, module and static measured at the same time\n",
    $rounds, $seconds;
printf "  manifest by tag: module %.0f req/s, static %.0f req/s; ratio %.3f (target >= 0.9)\n",
    $col->('manifest', 0), $col->('manifest', 1), median(@{ $ratio{manifest} });
printf "    worker CPU per request: module %.1f us, static %.1f us; ratio %.3f\n",
    $col->('manifest', 2), $col->('manifest', 3), median(@{ $cpu_ratio{manifest} });
printf "    with nixery_index_cache off: ratio %.3f\n", median(@{ $ratio{nocache} });
printf "  image index by tag (Docker list, 2 platforms): module %.0f req/s, static %.0f req/s; ratio %.3f (target >= 0.9)\n",
    $col->('index', 0), $col->('index', 1), median(@{ $ratio{index} });
printf "  100 MiB blob: module %.0f MB/s, static %.0f MB/s; ratio %.3f (target >= 0.9)\n",
    $col->('blob', 0) / 1e6, $col->('blob', 1) / 1e6, median(@{ $ratio{blob} });
printf "  per-round ratios: manifest %s\n", list(@{ $ratio{manifest} });
printf "                    CPU      %s\n", list(@{ $cpu_ratio{manifest} });
printf "                    no cache %s\n", list(@{ $ratio{nocache} });
printf "                    index    %s\n", list(@{ $ratio{index} });
printf "                    blob     %s\n", list(@{ $ratio{blob} });

$_->{t}->done for $A, $B, $C;
done_testing;
