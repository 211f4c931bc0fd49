# Very large requests have clear errors or bounded costs: a name with 1,000
# packages is refused with the registry's JSON (400 NAME_INVALID saying
# which limit: 1024 bytes, 256 packages) before anything is queued; a
# package whose closure has 10,000 store paths (synthetic, one chain of
# references) is assembled by nixery-assemble within the layer budget, with
# peak memory under 64 MiB, and served by nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

Nixery::Test::need(-x '/usr/bin/time', 'needs GNU time (Debian: time)');
my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my $assemble = "$Nixery::Test::BUILD/cmake/helper/nixery-assemble";

# The queue is there so that a refused name would show up as a job.
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '5s')));
$t->run;

sub refused {
    my ($what, $name, $detail) = @_;
    my $r = $t->http(GET => "/v2/$name/manifests/latest");
    is($r->{status}, 400, "$what: 400");
    is($t->error_code($r), 'NAME_INVALID', "$what: NAME_INVALID");
    like(($t->json($r) // {})->{errors}[0]{detail} // '', $detail,
        "$what: the detail names the limit");
}

my @short = map { sprintf 'p%03d', $_ } 1 .. 1000;
refused('1,000 packages', join('/', @short), qr/longer than 1024 bytes/);
# Short enough for 1024 bytes: 255 one- and two-letter names, 257 packages
# with cacert and iana-etc.
my @tiny = ('a' .. 'z', map { my $c = $_; map { "$c$_" } 'a' .. 'z' }
    'a' .. 'z')[0 .. 254];
refused('257 packages in 1024 bytes', join('/', @tiny),
    qr/at most 256 packages/);
is(($q->cli('XLEN', 'nixery:jobs') // '') =~ /(\d+)/ ? $1 : -1, 0,
    'nothing queued');

# 10,000 store paths in one closure, in memory (/dev/shm): 20,000 inodes
# made and removed on a busy disk would cost minutes.
use File::Temp ();
my $shm = -d '/dev/shm' && -w '/dev/shm' ? '/dev/shm' : $dir;
my $store = File::Temp->newdir('nixery-t620-XXXXXX', DIR => $shm);
my $prefix = "$store/prefix";
system('python3', "$root/bench/make_store.py", $prefix,
    "$dir/closure.json", 0, '--many', 10000) == 0 or die "make_store.py\n";
my $start = time;
my $out = `/usr/bin/time -v $assemble --storage ${\ $t->storage} \\
    --closure $dir/closure.json --name many --store-prefix $prefix \\
    --layer-budget 50 2>&1`;
my $took = time - $start;
is($?, 0, 'nixery-assemble: 10,000 store paths assembled') or diag($out);
my ($rss) = $out =~ /Maximum resident set size \(kbytes\): (\d+)/;
cmp_ok($rss // 1e9, '<', 64 * 1024,
    sprintf('peak RSS %d KiB, under 64 MiB (%.1f s)', $rss // 0, $took));
my ($layers) = $out =~ /"msg":"image assembled".*"layers":(\d+)/;
ok(defined $layers && $layers >= 1 && $layers <= 51,
    'within the layer budget (' . ($layers // '?') . ' layers)');

my $r = $t->http(GET => '/v2/many/manifests/latest',
    headers => [ [ Accept => 'application/vnd.oci.image.manifest.v1+json' ] ]);
is($r->{status}, 200, 'nginx serves it');
my $m = $t->json($r) // {};
is(scalar @{ $m->{layers} // [] }, $layers, 'every layer in the manifest');
my $files = 0;
for my $l (@{ $m->{layers} // [] }) {
    my $b = $t->http(GET => "/v2/many/blobs/$l->{digest}");
    $t->write_file('layer.tgz', $b->{body});
    $files += () = `tar -tzf $dir/layer.tgz` =~ m{share/dep\d+$}mg;
}
is($files, 10000, 'the layers hold the 10,000 store paths');

$t->done;
done_testing;
