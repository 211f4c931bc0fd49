# The fixture writer (t/lib/Nixery/Fixture.pm) writes what it claims: files
# at their content addresses, real gzip'ed tars whose digests are the
# config's diff_ids, manifests of both kinds, and the core's request keys.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Archive::Tar;
use Digest::SHA qw(sha256_hex);
use IO::Uncompress::Gunzip qw(gunzip);
use JSON::PP;
use Nixery::Fixture;
use Nixery::Test;

# The core's fixed vector (src/tests/image_request_test.c++).
is(Nixery::Fixture::request_key('hello', 'latest'),
    '304ffe6da21fd08c9ffbbe9f2e8dc22f4bc1bf83f9350ce7fbc3ac378c58f500',
    'request key matches the core for hello:latest');
is(Nixery::Fixture::request_key('git/hello', 'latest'),
    Nixery::Fixture::request_key('hello/git/hello', 'latest'),
    'order and duplicates do not change the key');
isnt(Nixery::Fixture::request_key('arm64/hello', 'latest'),
    Nixery::Fixture::request_key('hello', 'latest'), 'arch is in the key');

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'shell/hello', tag => 'v1',
    layers => [ { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\necho hi\n" },
                { 'etc/' => undef, 'etc/motd' => "motd\n",
                  'etc/link' => { symlink => 'motd' } } ]);

sub slurp { my $p = shift; open my $f, '<', $p or return; binmode $f; local $/; <$f> }

my $root = $t->storage;
for my $blob ($img->{config}, @{ $img->{layers} }) {
    my $bytes = slurp("$root/" . $fx->blob_path($blob->{hex}));
    is(sha256_hex($bytes // ''), $blob->{hex}, "blob $blob->{hex} addressed by content");
}
my $config = decode_json($img->{config}{bytes});
is($config->{architecture}, 'amd64', 'config architecture');
is_deeply($config->{rootfs}{diff_ids}, [ map { $_->{diff_id} } @{ $img->{layers} } ],
    'config diff_ids are the layers');
for my $layer (@{ $img->{layers} }) {
    gunzip(\$layer->{bytes} => \my $tar) or die;
    is('sha256:' . sha256_hex($tar), $layer->{diff_id}, 'diff_id is the tar digest');
    my $at = Archive::Tar->new;
    open my $fh, '<', \$tar;
    ok($at->read($fh), 'layer is a readable tar');
    ok(!grep({ $_->uid || $_->gid } $at->get_files), 'uid/gid 0');
}
for my $kind (qw(docker oci)) {
    my $m = $img->{$kind};
    my $bytes = slurp("$root/" . $fx->manifest_path($kind, $m->{hex}));
    is(sha256_hex($bytes // ''), $m->{hex}, "$kind manifest addressed by content");
    my $doc = decode_json($bytes);
    is($doc->{mediaType}, $m->{media_type}, "$kind media type");
    is($doc->{config}{digest}, $img->{config}{digest}, "$kind config digest");
    is(scalar @{ $doc->{layers} }, 2, "$kind layer count");
}
my $entry = slurp("$root/" . $fx->index_path($img->{key}));
is($entry, "nixery-index-v1\ndocker $img->{docker}{digest} $img->{docker}{size}\n"
    . "oci $img->{oci}{digest} $img->{oci}{size}\nexpires 0\n", 'index entry');
ok(!glob("$root/tmp/*"), 'nothing left in tmp/');

done_testing;
