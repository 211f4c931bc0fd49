# See bench/multiarch.sh. Each round starts, for each of the two helpers
# (--platforms linux/amd64, then linux/amd64,linux/arm64; the order swaps
# every round), a fresh registry: redis-server, nixery-helper and nginx on
# an empty storage, so nothing but the Nix store is warm; then times one
# GET of shell/hello:latest with the Accept lines containerd sends, from
# the request to the answer (the build, then the list or manifest). The
# median of each side and their ratio are printed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

my $rounds = $ENV{BENCH_ROUNDS} // 3;
my $root = $Nixery::Test::ROOT;
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";
my $accept = 'application/vnd.docker.distribution.manifest.v2+json, '
    . 'application/vnd.docker.distribution.manifest.list.v2+json, '
    . 'application/vnd.oci.image.manifest.v1+json, '
    . 'application/vnd.oci.image.index.v1+json, */*';

sub first_pull {
    my ($platforms) = @_;
    my $t = Nixery::Test->new;
    my $q = Nixery::Queue->new($t);
    $q->start_redis;
    $t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
        '--storage', $t->storage, '--pkgs-path', "$root/nix/pkgs",
        '--nix-dir', "$root/nix", '--gc-roots', $t->dir . '/gcroots',
        '--popularity', "$root/nix/popularity.json", '--heartbeat', 1,
        '--helper-id', 'bench', '--platforms', $platforms);
    $q->wait_helper('bench') or die "nixery-helper did not start\n";
    $t->write_config($t->registry_conf(http => $q->http_conf(wait => '600s')));
    $t->run;
    my $start = time;
    my $r = $t->http(GET => '/v2/shell/hello/manifests/latest', timeout => 600,
        headers => [[Accept => $accept]]);
    my $took = time - $start;
    die "first pull: $r->{status}\n$r->{body}\n" unless $r->{status} == 200;
    my $n = @{ $t->json($r)->{manifests} // [1] };
    my $want = $platforms =~ /,/ ? 2 : 1;
    die "$platforms: $n platforms in the answer (is the aarch64 set built?)\n"
        unless $n == $want;
    $t->done;
    return $took;
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }

my (@one, @two);
for my $round (1 .. $rounds) {
    if ($round % 2) {
        push @one, first_pull('linux/amd64');
        push @two, first_pull('linux/amd64,linux/arm64');
    } else {
        push @two, first_pull('linux/amd64,linux/arm64');
        push @one, first_pull('linux/amd64');
    }
}
printf "multiarch bench: %d rounds, first pull of shell/hello, fresh storage each\n",
    $rounds;
printf "  one platform (amd64): %.2f s; two platforms (index): %.2f s; ratio %.2f\n",
    median(@one), median(@two), median(@two) / median(@one);
printf "  per round: one %s; two %s\n", join(' ', map { sprintf '%.2f', $_ } @one),
    join(' ', map { sprintf '%.2f', $_ } @two);
done_testing;
