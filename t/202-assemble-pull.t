# An image assembled by nixery-assemble, served by the real module: skopeo
# pulls it by tag (Docker schema 2, which skopeo converts to OCI) and by
# the OCI manifest's digest (copied as stored), and umoci unpacks what it
# pulled into the same tree as the store.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Store qw(make_fixture_store write_closure assemble read_json
    compare_store blob_file manifest_file);
use Nixery::Test;

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);
write_closure("$dir/closure.json", $store);
my ($out, $status) = assemble(storage => $t->storage,
    closure => "$dir/closure.json", name => 'shell/weird', tag => 'latest',
    prefix => $prefix, log => "$dir/logs/assemble.log");
is($status, 0, 'assembled into the registry storage');

$t->write_config($t->registry_conf);
$t->run;
my $host = '127.0.0.1:' . $t->port;

sub skopeo {
    my ($src, $dst, $what) = @_;
    my $rc = system('skopeo', 'copy', '--quiet', '--src-tls-verify=false',
        $src, $dst);
    is($rc, 0, $what);
}

skopeo("docker://$host/shell/weird:latest", "oci:$dir/by-tag:v1",
    'skopeo pulls by tag');
my $idx = read_json("$dir/by-tag/index.json");
my ($hex) = $idx->{manifests}[0]{digest} =~ /^sha256:(.*)$/;
my $pulled = read_json("$dir/by-tag/blobs/sha256/$hex");
my $ours = read_json(manifest_file($t->{storage}, 'oci', $out->{oci}));
is_deeply([map { $_->{digest} } @{$pulled->{layers}}],
    [map { $_->{digest} } @{$ours->{layers}}], 'same layer digests');
# skopeo re-serialises the config when it converts Docker to OCI: compare
# what it says, not its bytes.
my ($chex) = $pulled->{config}{digest} =~ /:(.*)/;
my $cfg = read_json("$dir/by-tag/blobs/sha256/$chex");
my $our_cfg = read_json(blob_file($t->{storage}, $ours->{config}{digest}));
is_deeply($cfg->{rootfs}, $our_cfg->{rootfs}, 'same diff_ids');
is_deeply($cfg->{config}, $our_cfg->{config}, 'same Env and Cmd');

skopeo("docker://$host/shell/weird\@$out->{oci}", "oci:$dir/by-digest:x",
    'skopeo pulls the OCI manifest by digest');
$idx = read_json("$dir/by-digest/index.json");
is($idx->{manifests}[0]{digest}, $out->{oci}, 'OCI manifest kept as is');

my $rc = system("umoci unpack --image '$dir/by-tag:v1' '$dir/bundle' "
    . ">'$dir/logs/umoci.log' 2>&1");
is($rc, 0, 'umoci unpacks the pulled image');
my ($diff, $n) = compare_store($prefix, "$dir/bundle/rootfs",
    map { $_->{path} } @{$store->{paths}});
is_deeply($diff, [], "pulled store paths identical ($n entries)");
is(readlink("$dir/bundle/rootfs/bin/bash"),
    "$store->{named}{bash}/bin/bash", 'symlink layer pulled');

$t->done;
done_testing;
