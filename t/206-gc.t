# nixery-gc on a storage tree nginx is serving: an image whose index entry
# expired long ago goes (its manifests, and the blobs and layer cache
# entries no other image uses); the live image keeps every blob, and skopeo
# still pulls and verifies it, while the module answers 404 JSON for what
# was collected.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find;
use JSON::PP;
use Test::More;
use Nixery::Store qw(make_fixture_store write_closure assemble capture read_json
    blob_file manifest_file);
use Nixery::Test;

my $GC = "$Nixery::Store::BUILD/cmake/helper/nixery-gc";
my $t = Nixery::Test->new;
my $dir = $t->dir;
my $storage = $t->storage;
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);
write_closure("$dir/full.json", $store);
# The old image: bash, and a package of its own (so a store-path layer,
# and its layer cache entry, that only it uses).
my $extra = '/nix/store/' . Nixery::Store::hash32('9') . '-extra-1.0';
Nixery::Store::spew("$prefix$extra/bin/extra", "#!/bin/sh\necho extra\n", 0555);
write_closure("$dir/small.json",
    { paths => [ @{ $store->{paths} },
                 { path => $extra, narSize => 200, references => [] } ],
      roots => [ $store->{named}{bash}, $extra ] });

my ($live, $st) = assemble(storage => $storage, closure => "$dir/full.json",
    name => 'shell/weird', prefix => $prefix, log => "$dir/logs/assemble.log");
is($st, 0, 'live image assembled (pinned)');
my ($old, $st2) = assemble(storage => $storage, closure => "$dir/small.json",
    name => 'bash', prefix => $prefix, expires => 1000,
    log => "$dir/logs/assemble.log");
is($st2, 0, 'old image assembled (expired in 1970)');

sub manifest {
    my ($digest, $kind) = @_;
    return read_json(manifest_file($storage, $kind, $digest));
}
sub blobs_of {
    my ($m) = @_;
    return map { $_->{digest} } $m->{config}, @{ $m->{layers} };
}
my %live_blobs = map { $_ => 1 } blobs_of(manifest($live->{docker}, 'docker'));
my @only_old = grep { !$live_blobs{$_} } blobs_of(manifest($old->{docker}, 'docker'));
ok(@only_old >= 3, scalar(@only_old) . ' blobs only the old image uses');

# Layer cache entries (layers/<ll>/<id>) that point at those blobs.
my %only_old = map { $_ => 1 } @only_old;
my @old_entries;
find(sub { push @old_entries, $File::Find::name
        if -f && $only_old{ read_json($_)->{digest} // '' } },
    "$storage/layers");

sub files {
    my @f;
    find(sub { push @f, $File::Find::name if -f }, $storage);
    return scalar @f;
}
sub gc {
    my ($status, $text) = capture("$dir/logs/gc.log", $GC, @_);
    return ($status, $text ? eval { decode_json($text) } : undef);
}

$t->write_config($t->registry_conf);
$t->run;
my $host = '127.0.0.1:' . $t->port;

my ($rc) = gc();
is($rc, 2, 'no --storage: usage error');

my $before = files();
my ($drc, $dry) = gc('--storage', $storage, '--dry-run', '--keep-expired', 0);
is($drc, 0, 'dry run');
is($dry->{index_removed}, 1, 'dry run: would remove the expired entry');
is($dry->{blobs_removed}, scalar @only_old, 'dry run: and the blobs only it used');
is(files(), $before, 'dry run: nothing removed');

my ($grc, $stats) = gc('--storage', $storage, '--keep-expired', 0);
is($grc, 0, 'nixery-gc exits 0');
is($stats->{index_removed}, 1, 'expired index entry removed');
is($stats->{index_kept}, 1, 'live index entry kept');
is($stats->{manifests_removed}, 2, 'its Docker and OCI manifests removed');
is($stats->{blobs_removed}, scalar @only_old, 'its own blobs removed');
ok(@old_entries >= 1, 'the old image has layer cache entries of its own');
is($stats->{layer_entries_removed}, scalar @old_entries,
    scalar(@old_entries) . ' layer cache entries of those blobs removed');
ok(!(grep { -e } @old_entries), 'those entries are gone');
cmp_ok($stats->{layer_entries_kept}, '>=', 1, 'the live layers stay cached');
cmp_ok($stats->{bytes_removed}, '>', 0, "$stats->{bytes_removed} bytes freed");
is($stats->{unreadable}, 0, 'everything was readable');

# What was collected is gone for the registry too.
my $r = $t->http(GET => "/v2/bash/manifests/$old->{docker}");
is($t->error_code($r), 'MANIFEST_UNKNOWN', 'collected manifest: 404 JSON');
$r = $t->http(GET => "/v2/bash/blobs/$only_old[0]");
is($t->error_code($r), 'BLOB_UNKNOWN', 'collected blob: 404 JSON');

# The live image is whole: skopeo pulls it and checks every digest.
$rc = system('skopeo', 'copy', '--quiet', '--src-tls-verify=false',
    "docker://$host/shell/weird", "oci:$dir/pulled:x");
is($rc, 0, 'skopeo pulls the live image after the collection');
$rc = system("umoci unpack --image '$dir/pulled:x' '$dir/bundle' "
    . ">'$dir/logs/umoci.log' 2>&1");
is($rc, 0, 'and umoci unpacks it');

# A second collection finds nothing; rebuilding the collected image works.
(undef, $stats) = gc('--storage', $storage, '--keep-expired', 0);
is($stats->{index_removed} + $stats->{manifests_removed}
    + $stats->{blobs_removed}, 0, 'second run: nothing more to collect');
my ($again) = assemble(storage => $storage, closure => "$dir/small.json",
    name => 'bash', prefix => $prefix, log => "$dir/logs/assemble.log");
is($again->{docker}, $old->{docker}, 'rebuilt: the same manifest digest');
for my $d (@only_old) {
    my ($hex) = $d =~ /:(.*)/;
    ok(-s blob_file($storage, $hex), "rebuilt blob $hex");
}
$r = $t->http(GET => '/v2/bash/manifests/latest');
is($r->{status}, 200, 'and served by tag');

$t->done;
done_testing;
