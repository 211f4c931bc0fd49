# See bench/run_blob.sh. The whole `make run` system (scripts/run.sh:
# redis-server, nixery-helper, nginx from conf/run.nginx.conf.in with its
# two workers and access log) serves a 100 MiB blob from its storage; a
# second nginx, without the registry, with the same worker count and an
# access log, `sendfile on; tcp_nopush on;`, serves the same file as a
# static file. Rounds alternate which side goes first; each round's ratio
# is run/plain and the median is printed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Test::More;
use Nixery::Fixture;
use Nixery::Run;
use Nixery::Test;

my $rounds = $ENV{BENCH_ROUNDS} // 8;
my $seconds = $ENV{BENCH_SECONDS} // 3;
my $connections = $ENV{BENCH_CONNECTIONS} // 4;

my $t = Nixery::Test->new;
my $run = Nixery::Run->start($t, timeout => 300);
my $storage = $t->dir . '/storage';
my $fx = Nixery::Fixture->new($storage);
# 100 MiB of incompressible-looking bytes, as bench/module.sh.
my $chunk = join '', map { pack 'N', ($_ * 2654435761) % 4294967296 } 1 .. 262144;
my $big = '';
$big .= substr($chunk, $_ % 7) . substr($chunk, 0, $_ % 7) for 1 .. 100;
my $blob = $fx->write_blob($big);
undef $big;

my $plain = Nixery::Test->new(storage => $storage);
$plain->write_config($plain->http_conf(<<'CONF', workers => 2));
    sendfile on;
    tcp_nopush on;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /static/ {
            alias %%STORAGE%%/;
            default_type application/octet-stream;
        }
    }
CONF
$plain->run;

my %url = (
    run => 'http://127.0.0.1:' . $t->port . "/v2/bench/blobs/$blob->{digest}",
    plain => 'http://127.0.0.1:' . $plain->port . '/static/'
        . $fx->blob_path($blob->{hex}),
);
my %sums = map { (`curl -s '$url{$_}' | sha256sum` => 1) } keys %url;
die "make run and plain nginx serve different bytes\n" unless keys %sums == 1;

# Bytes per second of one wrk run against $side.
sub rate {
    my ($side) = @_;
    open my $fh, '-|', 'wrk', '-t1', "-c$connections", "-d${seconds}s",
        '--timeout', '60s',
        $url{$side} or die "wrk: $!";
    my $o = do { local $/; <$fh> };
    close $fh;
    die "wrk saw errors:\n$o" if $o =~ /Non-2xx|Socket errors/;
    my ($n, $u) = $o =~ /Transfer\/sec:\s+([\d.]+)([KMG]?B)/ or die "wrk:\n$o";
    return $n * { B => 1, KB => 2**10, MB => 2**20, GB => 2**30 }->{$u};
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

my (@ratio, @run_rate, @plain_rate);
for my $i (1 .. $rounds) {
    my %r;
    for my $side ($i % 2 ? qw(run plain) : qw(plain run)) {
        $r{$side} = rate($side);
    }
    push @ratio, $r{run} / $r{plain};
    push @run_rate, $r{run};
    push @plain_rate, $r{plain};
}
my $load = (split ' ', `cat /proc/loadavg`)[0];
printf "100 MiB blob, %d connections, %d rounds of %d s (load %s)\n",
    $connections, $rounds, $seconds, $load;
printf "  make run's nginx   %8.1f MB/s (median)\n", median(@run_rate) / 2**20;
printf "  plain tuned nginx  %8.1f MB/s (median)\n", median(@plain_rate) / 2**20;
printf "  ratio run/plain: %.3f (rounds: %s; target >= 0.9)\n", median(@ratio),
    join ' ', map { sprintf '%.2f', $_ } @ratio;
is($run->stop('TERM'), 0, 'make run stopped');
done_testing;
