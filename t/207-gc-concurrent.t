# nixery-gc running in a loop while images are assembled: images from a
# moving source that expired long ago keep being collected, and the pinned
# images built meanwhile (which reuse their layers from the layer cache)
# are never left naming a missing blob. gc.lock is what makes this hold.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use JSON::PP;
use POSIX ();
use Test::More;
use Nixery::Store qw(write_closure assemble capture read_json blob_file
    manifest_file);

my $GC = "$Nixery::Store::BUILD/cmake/helper/nixery-gc";
my $dir = tempdir('nixery-207-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $storage = "$dir/storage";
mkdir $storage or die "mkdir: $!";
my $prefix = "$dir/prefix";

# A shared library every image requests (so it is a layer of its own, found
# in the layer cache by every build after the first), and one small
# package per image.
my $lib = '/nix/store/' . Nixery::Store::hash32('l') . '-lib-1.0';
Nixery::Store::spew("$prefix$lib/lib/libshared.so",
    join('', map { "shared $_\n" } 1 .. 20000), 0444);
my $rounds = 25;
for my $i (1 .. $rounds) {
    for my $kind ('e', 'p') {
        my $p = sprintf('/nix/store/%s-%s%d-1.0',
            Nixery::Store::hash32($kind eq 'e' ? 'x' : 'y'), $kind, $i);
        Nixery::Store::spew("$prefix$p/bin/$kind$i", "$kind$i\n", 0555);
        write_closure("$dir/$kind$i.json", {
            paths => [ { path => $lib, narSize => 400000, references => [] },
                       { path => $p, narSize => 100, references => [$lib] } ],
            roots => [ $lib, $p ] });
    }
}

# The collector, over and over, until told to stop.
my $gc_pid = fork // die "fork: $!";
if ($gc_pid == 0) {
    my $runs = 0;
    my $stop = 0;
    local $SIG{TERM} = sub { $stop = 1 };
    while (!$stop) {
        my ($st) = capture("$dir/gc.log", $GC, '--storage', $storage,
            '--keep-expired', 0);
        POSIX::_exit(1) if $st != 0;
        $runs++;
    }
    open my $fh, '>', "$dir/gc.runs";
    print $fh "$runs\n";
    close $fh;
    POSIX::_exit(0);
}

# Expired and pinned images, alternately; each expired one is collected
# soon after, taking the shared layer with it unless a pinned image holds
# it, and each pinned build may find that layer in the cache just then.
my @pinned;
for my $i (1 .. $rounds) {
    my ($e) = assemble(storage => $storage, closure => "$dir/e$i.json",
        name => "e$i", prefix => $prefix, expires => 1000,
        log => "$dir/assemble.log");
    my ($p) = assemble(storage => $storage, closure => "$dir/p$i.json",
        name => "p$i", prefix => $prefix, log => "$dir/assemble.log");
    push @pinned, $p if $p;
    ok($e && $p, "round $i: both images assembled");
}
kill 'TERM', $gc_pid;
waitpid($gc_pid, 0);
is($? >> 8, 0, 'the collector never failed')
    or diag(join '', grep { /"level":"(error|warn)"/ }
        do { open my $fh, '<', "$dir/gc.log"; <$fh> });
my $runs = do { open my $fh, '<', "$dir/gc.runs" or die; <$fh> } // 0;
chomp $runs;
cmp_ok($runs, '>=', 5, "the collector ran $runs times meanwhile");
my $collected = () = do {
    open my $fh, '<', "$dir/gc.log" or die; local $/; <$fh>
} =~ /"index_removed":[1-9]/g;
cmp_ok($collected, '>=', 1, "$collected runs collected expired images");

# Every pinned image is whole: its manifests and every blob they name.
my @missing;
for my $p (@pinned) {
    for my $kind ('docker', 'oci') {
        my ($hex) = $p->{$kind} =~ /:(.*)/;
        my $m = eval { read_json(manifest_file($storage, $kind, $hex)) };
        if (!$m) {
            push @missing, "$kind manifest $hex";
            next;
        }
        for my $d ($m->{config}{digest}, map { $_->{digest} } @{ $m->{layers} }) {
            push @missing, "blob $d" unless -e blob_file($storage, $d);
        }
    }
}
is(scalar @pinned, $rounds, 'all pinned images built');
is_deeply(\@missing, [], 'no pinned image names a missing manifest or blob');

# And with the collector stopped, one last run leaves them all alone.
my ($st, $text) = capture("$dir/gc.log", $GC, '--storage', $storage,
    '--keep-expired', 0);
my $last = decode_json($text);
is($last->{index_kept}, $rounds, 'the pinned entries are all kept');
is($last->{blobs_removed}, 0, 'nothing of theirs is collectable');

done_testing;
