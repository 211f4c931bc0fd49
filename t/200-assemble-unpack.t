# Assemble an image from a store tree made here, unpack it with umoci and
# compare it file by file with the store; check the symlink layer, the
# config, both manifests, the index entry, the layer cache, and that the
# layers (incompressible blocks stored among them) gunzip to their
# diff_ids and survive skopeo decompressing them.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use File::Basename qw(basename);
use Test::More;
use Nixery::Fixture;
use Nixery::Store qw(make_fixture_store write_closure assemble oci_layout
    compare_store read_json blob_file manifest_file index_file sha256_file);

my $dir = tempdir('nixery-200-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $prefix = "$dir/prefix";
my $storage = "$dir/storage";
my $store = make_fixture_store($prefix);
write_closure("$dir/closure.json", $store);

my ($out, $status) = assemble(storage => $storage, closure =>
    "$dir/closure.json", name => 'shell/weird', prefix => $prefix,
    log => "$dir/assemble.log");
is($status, 0, 'nixery-assemble succeeds') or diag(`cat $dir/assemble.log`);
like($out->{docker}, qr/^sha256:[0-9a-f]{64}$/, 'docker manifest digest');
like($out->{oci}, qr/^sha256:[0-9a-f]{64}$/, 'oci manifest digest');

# The index entry names both manifests with their sizes.
my $key = $out->{key};
my $index = index_file($storage, $key);
open(my $fh, '<', $index) or die "$index: $!";
my $entry = do { local $/; <$fh> };
is($entry, "nixery-index-v1\ndocker $out->{docker} $out->{docker_size}\n"
    . "oci $out->{oci} $out->{oci_size}\nexpires 0\n", 'index entry');

# Manifests: right media types, same config and layer bytes.
my %m;
for my $kind (qw(docker oci)) {
    my ($hex) = $out->{$kind} =~ /:(.*)/;
    my $f = manifest_file($storage, $kind, $hex);
    is(sha256_file($f), $hex, "$kind manifest is stored under its digest");
    is(-s $f, $out->{"${kind}_size"}, "$kind manifest size");
    $m{$kind} = read_json($f);
}
is($m{docker}{mediaType},
    'application/vnd.docker.distribution.manifest.v2+json', 'docker type');
is($m{docker}{config}{mediaType},
    'application/vnd.docker.container.image.v1+json', 'docker config type');
is($m{oci}{mediaType}, 'application/vnd.oci.image.manifest.v1+json',
    'oci type');
is($m{oci}{config}{mediaType}, 'application/vnd.oci.image.config.v1+json',
    'oci config type');
is_deeply([map { $_->{mediaType} } @{$m{docker}{layers}}],
    [('application/vnd.docker.image.rootfs.diff.tar.gzip')
        x @{$m{docker}{layers}}], 'docker layer types');
is_deeply([map { $_->{mediaType} } @{$m{oci}{layers}}],
    [('application/vnd.oci.image.layer.v1.tar+gzip') x @{$m{oci}{layers}}],
    'oci layer types');
is_deeply([map { $_->{digest} } @{$m{oci}{layers}}],
    [map { $_->{digest} } @{$m{docker}{layers}}], 'same layers');
is($m{oci}{config}{digest}, $m{docker}{config}{digest}, 'same config');

# Config.
my $config = read_json(blob_file($storage, $m{oci}{config}{digest}));
is($config->{architecture}, 'amd64', 'architecture');
is($config->{os}, 'linux', 'os');
is_deeply($config->{config}{Cmd}, ['bash'], 'Cmd bash for shell');
ok((grep { /^PATH=(.*:)?\/bin(:|$)/ } @{$config->{config}{Env}}),
    'PATH reaches /bin');
ok((grep { $_ eq 'SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt' }
    @{$config->{config}{Env}}), 'SSL_CERT_FILE');
is(scalar @{$config->{history}}, scalar @{$m{oci}{layers}},
    'one history entry per layer');
like($config->{history}[-1]{created_by}, qr/symlink/, 'symlink layer last');
ok((grep { $_->{created_by} =~ /glibc-2\.37/ } @{$config->{history}}),
    'history names the store paths');

# Every layer gunzips (zlib's gunzip, and Python's gzip module) to its
# diff_id and size matches; the biggest spans several compression blocks.
my $i = 0;
my $biggest = 0;
my $stored = 0;
for my $l (@{$m{oci}{layers}}) {
    my $f = blob_file($storage, $l->{digest});
    is(-s $f, $l->{size}, "layer $i size");
    is('sha256:' . sha256_file($f), $l->{digest}, "layer $i digest");
    my $sum = `gunzip -c '$f' | sha256sum`;
    is($? >> 8, 0, "layer $i gunzips");
    is('sha256:' . substr($sum, 0, 64), $config->{rootfs}{diff_ids}[$i],
        "layer $i diff_id");
    my ($py, $len) = split ' ', `python3 -c 'import gzip, hashlib, sys
d = gzip.open(sys.argv[1]).read()
print(hashlib.sha256(d).hexdigest(), len(d))' '$f'`;
    is('sha256:' . ($py // ''), $config->{rootfs}{diff_ids}[$i],
        "layer $i: Python's gzip reads it");
    $biggest = $len if ($len // 0) > $biggest;
    # Stored deflate blocks of 65535 bytes start with 00 ff ff 00 00.
    open(my $b, '<:raw', $f) or die "$f: $!";
    my $gz = do { local $/; <$b> };
    $stored += () = $gz =~ /\x00\xff\xff\x00\x00/g;
    $i++;
}
cmp_ok($biggest, '>', 3 << 20, 'a layer of several 1 MiB blocks');
# firmware.xz's 3 MiB cannot shrink: its whole 1 MiB blocks are stored (16
# stored blocks of 65535 bytes each), and every reader above and umoci
# below reads them.
cmp_ok($stored, '>=', 32, "incompressible blocks stored ($stored stored blocks)");

# Layer cache entries: one per store-path layer, pointing at real blobs.
my @cache = glob("$storage/layers/*/*");
is(scalar @cache, @{$m{oci}{layers}} - 1, 'a cache entry per store layer');
for my $c (@cache) {
    is($c, "$storage/" . Nixery::Fixture->layer_cache_path(basename $c),
        'cache entry in its fan-out directory');
    my $e = read_json($c);
    ok(-f blob_file($storage, $e->{digest}), "cached blob exists");
}
ok(!glob("$storage/tmp/*"), 'no temporary files left');

# Unpack with umoci and compare with the store trees.
oci_layout($storage, $out->{oci}, "$dir/layout", 'latest');
my $rc = system("umoci unpack --image '$dir/layout:latest' '$dir/bundle' "
    . ">'$dir/umoci.log' 2>&1");
is($rc, 0, 'umoci unpacks the image') or diag(`cat $dir/umoci.log`);
my $rootfs = "$dir/bundle/rootfs";
my ($diff, $n) = compare_store($prefix, $rootfs,
    map { $_->{path} } @{$store->{paths}});
is_deeply($diff, [], "store paths identical in the image ($n entries)");
cmp_ok($n, '>', 25, 'compared every entry');

# The symlink layer.
my %p = %{$store->{named}};
is(readlink("$rootfs/bin/bash"), "$p{bash}/bin/bash", '/bin/bash link');
is(readlink("$rootfs/bin/ls"), "$p{coreutils}/bin/ls",
    'conflict: first output in path order wins');
is(readlink("$rootfs/bin/weird-ls"), "$p{weird}/bin/weird-ls",
    'merged bin/');
is(readlink("$rootfs/usr/bin/env"), "$p{coreutils}/bin/env", '/usr/bin/env');
is(readlink("$rootfs/etc/ssl/certs/ca-certificates.crt"),
    "$p{cacert}/etc/ssl/certs/ca-bundle.crt", 'ca-certificates.crt');
ok(-f in_root($rootfs, '/etc/ssl/certs/ca-bundle.crt'),
    'ca-bundle.crt resolves');
is((lstat("$rootfs/tmp"))[2] & 07777, 01777, '/tmp is 1777');
is((stat($rootfs))[2] & 07777, 0755, '/ is 0755');
is((lstat("$rootfs/nix/store"))[2] & 07777, 0755, '/nix/store is 0755');
is(slurp(in_root($rootfs, '/bin/sh')), "#!/bin/bash-ish\n$p{glibc}\n",
    '/bin/sh resolves through the store');

# Go's gzip reader: skopeo decompresses every layer while copying.
$rc = system("skopeo copy --quiet --dest-decompress "
    . "'oci:$dir/layout:latest' 'oci:$dir/copy:latest' "
    . ">'$dir/skopeo.log' 2>&1");
is($rc, 0, 'skopeo decompresses the layers') or diag(`cat $dir/skopeo.log`);

done_testing;

# Resolve a path inside the rootfs as the container would (absolute link
# targets start at the rootfs, not at this host's /).
sub in_root {
    my ($root, $path) = @_;
    my @todo = grep { length } split m{/}, $path;
    my @done;
    my $hops = 0;
    while (@todo) {
        my $c = shift @todo;
        next if $c eq '.';
        if ($c eq '..') { pop @done; next }
        my $p = join('/', $root, @done, $c);
        if (-l $p) {
            die "link loop at $p" if ++$hops > 40;
            my $t = readlink $p;
            @done = () if $t =~ m{^/};
            unshift @todo, grep { length } split m{/}, $t;
            next;
        }
        push @done, $c;
    }
    return join('/', $root, @done);
}

sub slurp {
    my ($f) = @_;
    open(my $fh, '<:raw', $f) or return '';
    local $/;
    return <$fh>;
}
