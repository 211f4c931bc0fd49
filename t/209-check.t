# nixery-check on a storage directory nginx is serving: a clean store
# passes with a JSON summary of what it checked; a flipped byte in a blob,
# a missing manifest and a truncated index entry each fail (exit 1) naming
# the key; leftovers of a crashed build (an unreferenced blob, a file in
# tmp/) are counted, not damage; usage and an unreachable storage have
# their own exit statuses.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use JSON::PP;
use Test::More;
use Nixery::Store qw(make_fixture_store write_closure assemble capture
    blob_file manifest_file index_file read_json);
use Nixery::Test;

my $CHECK = "$Nixery::Store::BUILD/cmake/helper/nixery-check";
my $t = Nixery::Test->new;
my $dir = $t->dir;
my $storage = $t->storage;
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);
write_closure("$dir/closure.json", $store);
my ($img, $st) = assemble(storage => $storage, closure => "$dir/closure.json",
    name => 'shell/weird', prefix => $prefix, log => "$dir/logs/assemble.log");
is($st, 0, 'image assembled');
$t->write_config($t->registry_conf);
$t->run;

# (exit status, decoded summary or undef, stderr)
sub check {
    my (@args) = @_;
    unlink "$dir/check.err";
    my ($status, $out) = capture("$dir/check.err", $CHECK, @args);
    my $summary = eval { decode_json($out) };
    return ($status, $summary, $t->read_file('check.err') // '');
}

my ($s, $sum) = check('--storage', $storage);
is($s, 0, 'a clean store passes');
ok($sum->{ok}, '"ok": true');
is($sum->{checked}{index}, 1, 'one index entry checked');
is($sum->{checked}{manifests}, 2, 'two manifests');
my $m = read_json(manifest_file($storage, 'docker', $img->{docker} =~ s/^sha256://r));
my @blobs = map { $_->{digest} } $m->{config}, @{ $m->{layers} };
is($sum->{checked}{blobs}, scalar @blobs, 'every blob of the image');
ok($sum->{checked}{layer_entries} > 0, 'layer cache entries too');
is_deeply([$sum->{damaged}, $sum->{missing}], [0, 0], 'nothing damaged or missing');

is($t->http(GET => '/v2/shell/weird/manifests/latest')->{status}, 200,
    'nginx serves the image meanwhile');

# A flipped byte in a layer.
my $layer = $m->{layers}[0]{digest};
my $lf = blob_file($storage, $layer);
copy($lf, "$dir/saved") or die;
my $bytes = $t->read_file("storage/" . Nixery::Fixture->blob_path($layer));
substr($bytes, length($bytes) / 2, 1) ^= "\x01";
chmod 0644, $lf;
Nixery::Store::spew($lf, $bytes, 0644);
($s, $sum) = check('--storage', $storage);
is($s, 1, 'a flipped byte in a blob: exit 1');
ok(!$sum->{ok}, '"ok": false');
is($sum->{damaged}, 1, 'one damaged object');
is_deeply($sum->{damaged_keys},
    [{ key => Nixery::Fixture->blob_path($layer),
       why => 'sha256 differs from its name' }], 'named by its key');
rename "$dir/saved", $lf or die;

# A missing manifest.
my $mf = manifest_file($storage, 'oci', $img->{oci});
rename $mf, "$dir/saved" or die;
($s, $sum, my $err) = check('--storage', $storage);
is($s, 1, 'a missing manifest: exit 1');
is($sum->{missing}, 1, 'one missing object');
is_deeply($sum->{missing_keys},
    [{ key => Nixery::Fixture->manifest_path('oci', $img->{oci}),
       named_by => Nixery::Fixture->index_path($img->{key}) }],
    'the manifest, named by the index entry');
like($err, qr/"msg":"storage damaged".*"missing":1/, 'and a log line');
rename "$dir/saved", $mf or die;

# A truncated index entry.
my $if = index_file($storage, $img->{key});
copy($if, "$dir/saved") or die;
truncate($if, 20) or die;
($s, $sum) = check('--storage', $storage);
is($s, 1, 'a truncated index entry: exit 1');
is_deeply($sum->{damaged_keys},
    [{ key => Nixery::Fixture->index_path($img->{key}),
       why => 'not a valid index entry' }], 'named by its key');
is($sum->{unreferenced}{manifests}, 2, 'its manifests now unreferenced');
rename "$dir/saved", $if or die;

# What a crashed build leaves is not damage.
Nixery::Store::spew("$storage/tmp/crashed-writer", 'half', 0644);
Nixery::Store::spew(blob_file($storage, 'sha256:' . ('ab' x 32)),
    'orphan', 0644);
($s, $sum) = check('--storage', $storage);
is($s, 1, 'an orphan blob that does not hash to its name is damage');
unlink blob_file($storage, 'sha256:' . ('ab' x 32));
my $orphan = Digest::SHA::sha256_hex('orphan');
Nixery::Store::spew(blob_file($storage, "sha256:$orphan"), 'orphan', 0644);
($s, $sum) = check('--storage', $storage);
is($s, 0, 'an unreferenced blob and a tmp/ file: still intact');
is($sum->{unreferenced}{blobs}, 1, 'the blob counted as unreferenced');
is($sum->{tmp_files}, 1, 'the tmp/ file counted');

($s) = check('--bogus');
is($s, 2, 'usage error: exit 2');
($s, $sum, $err) = check('--storage', "$dir/nowhere");
is($s, 3, 'no such storage: exit 3');
like($err, qr/"msg":"check failed"/, 'with a log line');

$t->done;
done_testing;
