#!/usr/bin/perl
# Benchmark: the first pull of an image after its index entry expired.
#
# Starts a private redis-server, one nixery-helper building from the
# bundled package set (--moving-ttl 2: entries expire after two seconds)
# and nginx with two servers on one storage: one with nixery_stale_max 0
# (the pull waits for the rebuild, as before) and one with the default
# (served from storage at once, rebuilt in the background). Builds the
# image once, then ROUNDS times (default 5), alternating, lets the entry
# expire and times one pull on each server, waiting for the background
# rebuild to finish before the next round. Prints the medians and the
# helper's rebuild time. Needs root (Nix in a chroot) and `make pkgs`.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Time::HiRes qw(sleep time);
use Nixery::Test;
use Nixery::Queue;

my $rounds = $ENV{ROUNDS} // 5;
my $image = $ENV{IMAGE} // 'shell/hello';
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', $t->storage, '--pkgs-path', "$root/nix/pkgs",
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--popularity', "$root/nix/popularity.json", '--moving-ttl', 2,
    '--heartbeat', 1, '--helper-id', 'nix');
$q->wait_helper('nix') or die "helper did not start\n";
my $off = $t->port_var('OFFPORT');
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s')
    . <<'CONF'));
    server {
        listen 127.0.0.1:%%OFFPORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
            nixery_stale_max 0;
        }
    }
CONF
$t->run;

my $uri = "/v2/$image/manifests/latest";
sub pull {
    my ($port) = @_;
    my $t0 = time;
    my $r = $t->http(GET => $uri, port => $port, timeout => 300);
    die "pull: $r->{status}\n" unless $r->{status} == 200;
    return time - $t0;
}
sub count {
    my ($re) = @_;
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /$re/g);
}
sub builds { count(qr/"msg":"build started"/) }
sub done { count(qr/"msg":"job done"/) }
sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

my $cold = pull($t->port);
my (@wait, @stale);
for my $i (1 .. $rounds) {
    for my $which (qw(wait stale)) {
        sleep 2.2; # the entry expires
        my $n = builds();
        if ($which eq 'wait') {
            push @wait, pull($off);
        } else {
            push @stale, pull($t->port);
            # The background rebuild ends before the next round.
            Nixery::Test::poll(120, sub { builds() > $n
                && done() == builds() });
        }
    }
}
printf "pull of an expired %s (%d rounds, medians): waiting for the "
    . "rebuild %.3f s, served stale %.3f s (%.0fx); cold build %.3f s\n",
    $image, $rounds, median(@wait), median(@stale),
    median(@wait) / median(@stale), $cold;
$t->stop($_) for qw(helper redis);
$t->stop('nginx', 'QUIT');
