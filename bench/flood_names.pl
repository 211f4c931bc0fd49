#!/usr/bin/perl
# Benchmark: a flood of new names against the build queue's back-pressure.
#
# Starts a private redis-server, one nixery-helper (fake builder, 2 s per
# build, so the queue stays full) and nginx with one worker and the
# default nixery_queue_max_length. Times cached pulls (wrk, one manifest by
# tag answered from storage) alone, then while a child process sends
# waves of 1,000 requests for 1,000 distinct uncached names at once, each
# wave new names (clients that come back after a 429 with another name).
# Prints the cached pull rate with and without the flood and its ratio,
# how the flood's requests were answered, and the longest the job stream
# grew (it must stay at the limit). A control flood of as many names
# refused at once without the queue (400) shows what the connections and
# the flood's client cost on their own: on 2 cores the client, wrk, nginx
# and Redis share the CPU, so the ratio that isolates the queue is the
# flood's rate against the control's.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use IO::Select;
use IO::Socket::INET;
use POSIX ();
use Time::HiRes qw(sleep time);
use Nixery::Test;
use Nixery::Queue;

my $N = $ENV{NAMES} // 1000;
my $SECONDS = $ENV{BENCH_SECONDS} // 10;
my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 2000);
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '600s'),
    server => $q->status_conf,
    main => 'worker_rlimit_nofile 16384;',
    worker_connections => 8192));
$t->run;
$q->wait_helper('helper') or die "helper did not start\n";
my $cached = '/v2/cached/manifests/latest';
$t->http(GET => $cached)->{status} == 200 or die "no cached image\n";

sub xlen { my $n = $q->cli('XLEN', 'nixery:jobs') // ''; $n =~ /(\d+)/ ? $1 : 0 }

# Requests per second for the cached manifest, 10 connections, 1 thread.
sub wrk_rate {
    open my $fh, '-|', 'wrk', '-t1', '-c10', "-d${SECONDS}s",
        'http://127.0.0.1:' . $t->port . $cached or die "wrk: $!";
    my $o = do { local $/; <$fh> };
    close $fh;
    die "wrk saw errors:\n$o" if $o =~ /Non-2xx|Socket errors/;
    return ($o =~ /Requests\/sec:\s+([\d.]+)/)[0] // die "wrk:\n$o";
}

# One wave: $N distinct names at once; returns {status => count}. The
# control flood sends as many names the module refuses at once (uppercase:
# 400 NAME_INVALID, no Redis): what the connections alone cost.
sub wave {
    my ($w, $control) = @_;
    my $c = $control ? 'X' : 'x';
    my @uris = map { "/v2/flood$w$c$_/manifests/latest" } 1 .. $N;
    my %n;
    $n{$_->{status}}++ for $q->parallel($t->port, 0, GET => \@uris,
        timeout => 1);
    return \%n;
}

my $alone = wrk_rate();

# Waves of new names from a child process until it gets TERM.
sub flood {
    my ($file, $control) = @_;
    my $pid = fork // die "fork: $!";
    return $pid if $pid;
    my (%total, $waves);
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    while (!$stop) {
        my $n = wave(++$waves, $control);
        $total{$_} += $n->{$_} for keys %$n;
    }
    $t->write_file($file, join(' ', $waves,
        map { "$_:$total{$_}" } sort keys %total) . "\n");
    POSIX::_exit(0);
}

my $cfile = $t->dir . '/control.txt';
my $cpid = flood($cfile, 1);
sleep 1;
my $control = wrk_rate();
kill 'TERM', $cpid;
waitpid($cpid, 0);
my ($cwaves) = split ' ', ($t->read_file($cfile) // '0');

my $file = $t->dir . '/flood.txt';
my $pid = flood($file, 0);
sleep 2; # the first wave fills the queue
my $max = 0;
my $watch = fork // die "fork: $!";
if ($watch == 0) {
    while (1) {
        my $n = xlen();
        if ($n > $max) { $max = $n; $t->write_file("$file.max", "$max\n") }
        sleep 0.05;
    }
}
my $during = wrk_rate();
kill 'TERM', $pid;
waitpid($pid, 0);
kill 'KILL', $watch;
waitpid($watch, 0);
my ($waves, @counts) = split ' ', ($t->read_file($file) // '0');
my %c = map { split /:/ } @counts;
my $max_len = ($t->read_file("$file.max") // '0') =~ /(\d+)/ ? $1 : 0;
my $status = $t->http(GET => '/status')->{body};

printf "flood_names: %d waves of %d distinct uncached names while " .
    "cached pulls were timed\n", $waves, $N;
printf "flood_names: flood answers: %s\n",
    join(', ', map { "$_: $c{$_}" } sort keys %c);
printf "flood_names: job stream at most %d long (nixery_queue_max_length " .
    "100)\n", $max_len;
printf "flood_names: cached pulls %.0f/s alone, %.0f/s during the flood\n",
    $alone, $during;
printf "flood_names: ratio during/alone: %.2f\n", $during / $alone;
printf "flood_names: control, %d waves of %d names refused at once (400, " .
    "no queue): cached pulls %.0f/s, ratio %.2f\n", $cwaves, $N, $control,
    $control / $alone;
printf "flood_names: ratio during the flood / during the control: %.2f\n",
    $during / $control;
print "flood_names: nixery_status $status\n";
$t->stop($_) for qw(helper redis);
$t->stop('nginx', 'QUIT');
