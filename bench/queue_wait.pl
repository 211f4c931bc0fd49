#!/usr/bin/perl
# Benchmark: 1,000 clients waiting on builds at once (CLIENTS=10000 and
# flood_wait.sh: 10,000).
#
# Starts a private redis-server, one nixery-helper (fake builder, slow
# builds so that clients keep waiting) and nginx with one worker. Measures
# the worker's resident memory with 1,000 connections that have sent half a
# request (the baseline: what nginx itself spends per connection), then
# with 1,000 requests parked on the build queue (50 images, 20 clients
# each), and prints the memory per waiting request, its ratio to the
# baseline, and how many Redis connections the worker holds before and
# while they wait.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use IO::Socket::INET;
use Time::HiRes qw(sleep time);
use Nixery::Test;
use Nixery::Queue;

my $N = $ENV{CLIENTS} // 1000;
# Every client holds one connection (and one fd) in the worker, and one
# here; the hard limit caps both (flood_wait.sh raises the soft one).
my $hard = `sh -c 'ulimit -Hn'` =~ /^(\d+)/ ? $1 : 1 << 20;
my $fds = $N < 4000 ? 8192 : $N + 1024;
$fds = $hard if $fds > $hard;
my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 600000);
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '600s'),
    main => "worker_rlimit_nofile $fds;",
    worker_connections => $fds - 256));
$t->run;
$q->wait_helper('helper') or die "helper did not start\n";

my ($worker) = $t->worker_pids;
sub rss_kb {
    open my $fh, '<', "/proc/$worker/status" or die;
    while (<$fh>) { return $1 if /^VmRSS:\s+(\d+)/ }
    die "no VmRSS\n";
}
sub redis_clients {
    my @lines = grep { /\S/ } split /\n/, $q->cli('CLIENT', 'LIST');
    return scalar @lines - 1; # minus redis-cli itself
}
sub open_clients {
    my ($n, $make) = @_;
    my @s;
    for my $i (1 .. $n) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $t->port, Proto => 'tcp') or die "connect: $!\n";
        print $s $make->($i);
        push @s, $s;
    }
    sleep 1 + $n / 5000; # let nginx read them all
    return @s;
}

# Warm up the worker's allocator with one round of each kind first.
my @warm = open_clients(50, sub { "GET /v2/ HTTP/1.1\r\nHost: x\r\n" });
close $_ for @warm;
sleep 0.5;

my $idle0 = rss_kb();
my @idle = open_clients($N, sub { "GET /v2/ HTTP/1.1\r\nHost: x\r\n" });
my $idle1 = rss_kb();
close $_ for @idle;
sleep 1;

my $redis_before = redis_clients();
my $park0 = rss_kb();
my @park = open_clients($N, sub {
    my $img = 'bench' . ($_[0] % 50);
    "GET /v2/$img/manifests/latest HTTP/1.1\r\nHost: x\r\n\r\n";
});
my $park1 = rss_kb();
my $redis_during = redis_clients();
my $jobs = $q->cli('XLEN', 'nixery:jobs');
chomp $jobs;

my $per_idle = ($idle1 - $idle0) * 1024 / $N;
my $per_park = ($park1 - $park0) * 1024 / $N;
printf "queue_wait: %d clients waiting on %d images (%s jobs queued)\n",
    $N, 50, $jobs;
printf "queue_wait: worker RSS %d kB -> %d kB while waiting\n",
    $park0, $park1;
printf "queue_wait: memory per waiting request: %.0f bytes\n", $per_park;
printf "queue_wait: baseline, per half-read connection: %.0f bytes\n",
    $per_idle;
printf "queue_wait: ratio waiting/baseline: %.2f\n",
    $per_idle > 0 ? $per_park / $per_idle : 0;
printf "queue_wait: redis connections: %d before, %d while %d wait " .
    "(nginx worker: 2, helper: %d)\n", $redis_before, $redis_during, $N,
    $redis_before - 2;
close $_ for @park;
sleep 0.5;
$t->stop($_) for qw(helper redis);
$t->stop('nginx', 'QUIT');
