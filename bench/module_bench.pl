# See bench/module.sh. One nginx (1 worker, sendfile on, access_log off)
# serves a fixture storage twice: through the registry at /v2/ and as plain
# files at /static/ (alias to the storage root). wrk measures manifest
# requests per second by tag through the module (index entry + manifest)
# against the same manifest file as a static file; curl measures 100 MB blob
# downloads both ways. Rounds alternate to spread machine noise evenly.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use List::Util qw(sum);
use Test::More;
use Nixery::Fixture;
use Nixery::Test;

my $rounds = $ENV{BENCH_ROUNDS} // 10;
my $seconds = $ENV{BENCH_SECONDS} // 2;
my $blob_runs = $ENV{BENCH_BLOB_RUNS} // 9;

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'shell/hello', layers => [
    map { { "etc/f$_" => "layer $_\n" x 100 } } 1 .. 12 ]);
# 100 MB of incompressible-looking bytes, written in 1 MB chunks.
my $chunk = join '', map { pack 'N', ($_ * 2654435761) % 4294967296 } 1 .. 262144;
my $big = '';
$big .= substr($chunk, $_ % 7) . substr($chunk, 0, $_ % 7) for 1 .. 100;    # 100 MiB
my $blob = $fx->write_blob($big);
undef $big;

$t->write_config($t->http_conf(<<'CONF'));
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:%%PORT%%;
        access_log off;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
        location /static/ {
            alias %%STORAGE%%/;
            default_type application/octet-stream;
        }
    }
CONF
$t->run;
my $base = 'http://127.0.0.1:' . $t->port;
my $accept = 'Accept: ' . $img->{docker}{media_type};
my %url = (
    module_manifest => "$base/v2/shell/hello/manifests/latest",
    static_manifest => "$base/static/" . $fx->manifest_path('docker', $img->{docker}{hex}),
    module_blob => "$base/v2/bench/blobs/$blob->{digest}",
    static_blob => "$base/static/" . $fx->blob_path($blob->{hex}),
);

# Both URLs must serve the same bytes before anything is timed.
for my $kind (qw(manifest blob)) {
    my $m = `curl -s -H '$accept' $url{"module_$kind"} | sha256sum`;
    my $s = `curl -s $url{"static_$kind"} | sha256sum`;
    die "module and static $kind differ\n" unless $m eq $s && $m =~ /^[0-9a-f]{64}/;
}

# CPU seconds (user + system) the worker has used so far.
my ($worker) = $t->worker_pids;
my $hz = `getconf CLK_TCK` + 0 || 100;
sub worker_cpu {
    open my $fh, '<', "/proc/$worker/stat" or die "worker $worker: $!";
    my @f = split ' ', (<$fh> =~ s/^.*\) //r);
    return ($f[11] + $f[12]) / $hz;
}

# (requests per second, worker CPU microseconds per request)
sub wrk_rps {
    my ($url) = @_;
    my $cpu = worker_cpu();
    my $out = `wrk -t2 -c10 -d${seconds}s -H '$accept' '$url' 2>&1`;
    $cpu = worker_cpu() - $cpu;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/ or die "wrk: $out";
    my ($n) = $out =~ /(\d+) requests in/ or die "wrk: $out";
    die "wrk saw errors: $out" if $out =~ /Non-2xx|Socket errors/;
    return ($rps, $cpu / $n * 1e6);
}

sub curl_bps {
    my ($url) = @_;
    my $out = `curl -s -o /dev/null -w '%{http_code} %{size_download} %{speed_download}' '$url'`;
    my ($code, $size, $speed) = split ' ', $out;
    die "curl: $out\n" unless $code == 200 && $size == $blob->{size};
    return $speed;
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

# Paired runs in alternating order; the ratio of each pair, then the median
# ratio, so load from other processes hits both sides alike.
my (@rps_ratio, @mod_rps, @sta_rps, @cpu_ratio, @mod_cpu, @sta_cpu);
for my $round (1 .. $rounds) {
    my ($m, $s, $mc, $sc);
    if ($round % 2) {
        ($s, $sc) = wrk_rps($url{static_manifest});
        ($m, $mc) = wrk_rps($url{module_manifest});
    } else {
        ($m, $mc) = wrk_rps($url{module_manifest});
        ($s, $sc) = wrk_rps($url{static_manifest});
    }
    push @mod_rps, $m;
    push @sta_rps, $s;
    push @rps_ratio, $m / $s;
    push @mod_cpu, $mc;
    push @sta_cpu, $sc;
    push @cpu_ratio, $sc / $mc;
}
my (@bps_ratio, @mod_bps, @sta_bps);
for my $run (1 .. $blob_runs) {
    my ($m, $s);
    if ($run % 2) {
        $s = curl_bps($url{static_blob});
        $m = curl_bps($url{module_blob});
    } else {
        $m = curl_bps($url{module_blob});
        $s = curl_bps($url{static_blob});
    }
    push @mod_bps, $m;
    push @sta_bps, $s;
    push @bps_ratio, $m / $s;
}

printf "module bench (1 worker; wrk -t2 -c10, %d paired %ds rounds; %d paired curl downloads of %.0f MiB)\n",
    $rounds, $seconds, $blob_runs, $blob->{size} / 1048576;
printf "  manifest by tag: module %.0f req/s, static %.0f req/s (medians); ratio %.3f (target >= 0.9)\n",
    median(@mod_rps), median(@sta_rps), median(@rps_ratio);
printf "  manifest by tag, worker CPU per request: module %.1f us, static %.1f us (medians); ratio %.3f\n",
    median(@mod_cpu), median(@sta_cpu), median(@cpu_ratio);
printf "  100 MiB blob:    module %.0f MB/s, static %.0f MB/s (medians); ratio %.3f (target >= 0.9)\n",
    median(@mod_bps) / 1e6, median(@sta_bps) / 1e6, median(@bps_ratio);
printf "  per-round manifest ratios: %s\n", join ' ', map { sprintf '%.3f', $_ } @rps_ratio;
printf "  per-round CPU ratios:      %s\n", join ' ', map { sprintf '%.3f', $_ } @cpu_ratio;
printf "  per-run blob ratios:       %s\n", join ' ', map { sprintf '%.3f', $_ } @bps_ratio;
$t->done;
done_testing;
