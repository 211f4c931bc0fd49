# One request gives one digest: the same closure assembled by two processes
# into two empty storage roots (different thread counts, different working
# directories) stores byte-identical manifests, configs and layers. A second
# assembly into a warm storage root reuses the layer cache and gives the
# same digests; a cache entry whose blob is gone is rebuilt.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use Nixery::Store qw(make_fixture_store write_closure assemble read_json
    blob_file manifest_file);

my $dir = tempdir('nixery-201-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);
write_closure("$dir/closure.json", $store);

my @runs;
for my $run ([a => 1], [b => 2]) {
    my ($name, $threads) = @$run;
    chdir($dir);
    my ($out, $status) = assemble(storage => "$dir/storage-$name",
        closure => "$dir/closure.json", name => 'shell/weird',
        prefix => $prefix, threads => $threads, budget => 2,
        log => "$dir/$name.log");
    is($status, 0, "assembly $name succeeds");
    push @runs, $out;
}
is_deeply($runs[1], $runs[0], 'identical manifest digests and sizes');

sub files {
    my ($root) = @_;
    my %f;
    for my $f (split /\n/, `cd '$root' && find blobs manifests index layers -type f | sort`) {
        $f{$f} = `sha256sum '$root/$f'` =~ s/ .*//sr;
    }
    return \%f;
}
my ($fa, $fb) = (files("$dir/storage-a"), files("$dir/storage-b"));
is_deeply($fb, $fa, 'identical storage trees, byte for byte');
cmp_ok(scalar keys %$fa, '>=', 8, 'layers, config, manifests, index');

# Budget 2: one store-path layer holds the lowest-rated groups together.
my $m = read_json(manifest_file("$dir/storage-a", 'oci', $runs[0]{oci}));
is(scalar @{$m->{layers}}, 3, 'budget 2: two store layers + symlinks');

# Warm cache: same result, nothing rebuilt.
my ($again, $st) = assemble(storage => "$dir/storage-a",
    closure => "$dir/closure.json", name => 'shell/weird', prefix => $prefix,
    budget => 2, log => "$dir/again.log");
is_deeply($again, $runs[0], 'warm storage: same digests');
like(`tail -1 '$dir/again.log'`, qr/"built":0\b/, 'no layer rebuilt');

# A cache entry whose blob vanished is not trusted.
my $layer = $m->{layers}[0]{digest};
unlink(blob_file("$dir/storage-a", $layer)) or die "unlink: $!";
my ($healed) = assemble(storage => "$dir/storage-a",
    closure => "$dir/closure.json", name => 'shell/weird', prefix => $prefix,
    budget => 2, log => "$dir/healed.log");
is_deeply($healed, $runs[0], 'rebuilt layer: same digests');
like(`tail -1 '$dir/healed.log'`, qr/"built":1\b/, 'exactly one rebuilt');
ok(-f blob_file("$dir/storage-a", $layer), 'the blob is back');

# A different request over the same closure shares the layers.
my ($other) = assemble(storage => "$dir/storage-a",
    closure => "$dir/closure.json", name => 'weird', prefix => $prefix,
    budget => 2, log => "$dir/other.log");
like(`tail -1 '$dir/other.log'`, qr/"built":0\b/, 'layers shared');
isnt($other->{key}, $runs[0]{key}, 'another index entry');

# Two helpers assembling the same image into one storage at the same time.
my @pids;
for my $k (1 .. 2) {
    my $pid = fork // die;
    if (!$pid) {
        my ($o, $s) = assemble(storage => "$dir/storage-shared",
            closure => "$dir/closure.json", name => 'shell/weird',
            prefix => $prefix, budget => 2, log => "$dir/shared-$k.log");
        open(my $fh, '>', "$dir/shared-$k.out") or exit 3;
        print $fh $o ? $o->{oci} : 'failed';
        close $fh;
        exit $s;
    }
    push @pids, $pid;
}
waitpid($_, 0) == $_ && is($? >> 8, 0, "concurrent assembly $_ succeeds")
    for @pids;
for my $k (1 .. 2) {
    is(`cat '$dir/shared-$k.out'`, $runs[0]{oci}, "concurrent result $k");
}
is_deeply(files("$dir/storage-shared"), $fa, 'shared storage is the same tree');
ok(!glob("$dir/storage-shared/tmp/*"), 'no temporary files left');

# An image for two platforms (the same closure stands for arm64's here):
# the same lists and index entry from two processes with other thread
# counts, so the same index digest on any host with these store paths.
my @multi;
for my $run ([a => 1], [b => 2]) {
    my ($name, $threads) = @$run;
    my ($out, $status) = assemble(storage => "$dir/multi-$name",
        closure => "$dir/closure.json", name => 'shell/weird',
        prefix => $prefix, threads => $threads, budget => 2,
        args => ['--platform-closure', "linux/arm64=$dir/closure.json"],
        log => "$dir/multi-$name.log");
    is($status, 0, "two-platform assembly $name succeeds");
    push @multi, $out;
}
like($multi[0]{oci_index} // '', qr/^sha256:[0-9a-f]{64}$/, 'an OCI index');
like($multi[0]{docker_list} // '', qr/^sha256:[0-9a-f]{64}$/,
    'a Docker manifest list');
is_deeply($multi[1], $multi[0], 'identical index and list digests');
is_deeply(files("$dir/multi-b"), files("$dir/multi-a"),
    'identical storage trees, byte for byte');
is($multi[0]{oci}, $runs[0]{oci}, "the amd64 manifest is the one-platform image's");
my $idx = read_json(manifest_file("$dir/multi-a", 'oci-index',
    $multi[0]{oci_index}));
is_deeply([map { $_->{platform}{architecture} } @{ $idx->{manifests} }],
    [qw(amd64 arm64)], 'the index names amd64 then arm64');

done_testing;
