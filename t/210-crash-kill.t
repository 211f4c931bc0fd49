# Crashes with nothing lost, on a storage directory nginx serves: image
# assembly and publishing (nixery-assemble, the helper's code) killed with
# SIGKILL before each of its puts (NIXERY_TEST_KILL_AT_PUT, so every step
# of publishing is reached however short it is), then at random times
# within a build (seeded: NIXERY_CRASH_SEED replays a run;
# NIXERY_CRASH_RUNS sets how many, default 100). After each kill the
# storage passes nixery-check, nginx serves the image whole or answers
# 404, and the next build of the same name gives the same digests, which
# nginx then serves with blobs that hash to their names
# (Nixery::Crash). Prints the kills per phase.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use File::Path qw(remove_tree);
use Test::More;
use Time::HiRes qw(time);
use Nixery::Crash;
use Nixery::Store qw(write_closure);
use Nixery::Test;

my $seed = $ENV{NIXERY_CRASH_SEED} // int(rand(2**31));
my $runs = $ENV{NIXERY_CRASH_RUNS} // 100;
diag("crash seed $seed (replay: NIXERY_CRASH_SEED=$seed)");
srand($seed);

my $started = time;
my $t = Nixery::Test->new;
my $dir = $t->dir;
my $storage = $t->storage;
# A small image, so that a build (and so a run) takes a fraction of a
# second: four store paths, one with a 200 KB file (several gzip blocks
# over the compression threads), in five layers.
my %p = map { $_ => '/nix/store/' . Nixery::Store::hash32(substr($_, 0, 1))
    . "-$_-1.0" } qw(libc bash coreutils ncacert);
Nixery::Store::spew("$dir/prefix$p{libc}/lib/libc.so",
    join('', map { sha256_hex($_) . " $_\n" } 1 .. 3000), 0555);
Nixery::Store::spew("$dir/prefix$p{bash}/bin/bash", "bash $p{libc}\n", 0555);
Nixery::Store::spew("$dir/prefix$p{coreutils}/bin/ls", "ls $p{libc}\n", 0555);
Nixery::Store::spew("$dir/prefix$p{ncacert}/etc/ssl/certs/ca-bundle.crt",
    "CERTS\n", 0444);
write_closure("$dir/closure.json", {
    paths => [map { +{ path => $p{$_}, narSize => 1000,
        references => $_ eq 'ncacert' || $_ eq 'libc' ? [] : [$p{libc}] } }
        sort keys %p],
    roots => [sort values %p] });
$t->write_config($t->registry_conf);
$t->run;

# The image as a client pulls it: 404 while it is not published, else the
# reference manifest and blobs that hash to their digests.
sub pull {
    my ($name, $ref, $there) = @_;
    my $r = $t->http(GET => "/v2/$name/manifests/latest");
    if (!$there) {
        return $r->{status} == 404 ? undef
            : "not published, but nginx answers $r->{status}";
    }
    return "published, but nginx answers $r->{status}: $r->{body}"
        if $r->{status} != 200;
    my $digest = $r->{headers}{'docker-content-digest'} // '';
    return "nginx serves $digest, not $ref->{docker}" if $digest ne $ref->{docker};
    my $m = $t->json($r) // return 'the manifest is not JSON';
    for my $d ($m->{config}, @{ $m->{layers} }) {
        my $b = $t->http(GET => "/v2/$name/blobs/$d->{digest}");
        return "blob $d->{digest}: $b->{status}" if $b->{status} != 200;
        return "blob $d->{digest} hashes to " . sha256_hex($b->{body})
            if 'sha256:' . sha256_hex($b->{body}) ne $d->{digest};
    }
    return undef;
}

my $crash = Nixery::Crash->new($t,
    storage => ['--storage', $storage],
    closure => "$dir/closure.json",
    prefix => "$dir/prefix",
    wipe => sub {
        remove_tree(map { "$storage/$_" } qw(blobs manifests index layers tmp));
    },
    pull => \&pull);
my $ref = $crash->reference;
my $puts = $crash->puts;
my $duration = $crash->duration;
diag(sprintf('a build: %d puts, %.0f ms at most', $puts, $duration * 1000));

# Every kill point, then past the last put (the build completes).
for my $n (1 .. $puts) {
    $crash->run_killed_at($n, "point$n");
}
my $done = $crash->build('pointlast');
is($done && $done->{docker}, $ref->{docker}, 'no kill point after the last put');
my %points = %{ $crash->phases };

for my $i (1 .. $runs) {
    $crash->run_timed(rand($duration * 1.1), "random$i");
}
my %all = %{ $crash->phases };
my %random = map { $_ => $all{$_} - ($points{$_} // 0) } keys %all;
my $fmt = sub {
    my ($h) = @_;
    join ', ', map { "$_ " . ($h->{$_} // 0) }
        qw(start layers config manifests index);
};
diag('kill points by phase: ' . $fmt->(\%points));
diag('random kills by phase: ' . $fmt->(\%random));
diag(sprintf('%d runs, %d files left in tmp/, %.0f s',
    $crash->runs, $crash->tmp_left, time - $started));
ok($random{layers}, 'random kills landed while layers were published');

$t->done;
done_testing;
