# Images for several platforms with real Nix: a helper with --platforms
# linux/amd64,linux/arm64 builds each platform of a name once and publishes
# an image index. A client that takes lists gets the Docker manifest list
# (or the OCI index when it takes only OCI's), one that takes only single
# manifests the amd64 manifest; the lists and every manifest they name are
# served by digest, with HEAD, Docker-Content-Digest and ETag; `arm64/...`
# is the arm64 image of the same build; skopeo reads the index and copies
# the arm64 image. The package set is the bundled one (nix/pkgs): the arm64
# image's programs are aarch64 ELF files.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use Test::More;
use Nixery::Test;
use Nixery::Queue;

Nixery::Test::need($> == 0, 'needs root (Nix single-user)');
Nixery::Test::need(!system('which skopeo >/dev/null 2>&1'), 'needs skopeo');
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;

# The bundled package set, both systems (`make pkgs` builds them, so the
# helper only assembles): arm64 images hold aarch64 programs.
my $pkgs = "$root/nix/pkgs";
Nixery::Test::need(-e "$pkgs/debs/arm64/.fetched",
    "the aarch64 set's .debs (make pkgs)");

my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', $t->storage, '--pkgs-path', $pkgs,
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--popularity', "$root/nix/popularity.json", '--concurrency', 2,
    '--heartbeat', 1, '--helper-id', 'multi',
    '--platforms', 'linux/amd64,linux/arm64');
ok($q->wait_helper('multi'), 'helper with two platforms up')
    or BAIL_OUT('nixery-helper did not start: '
        . ($t->read_file('logs/helper.log') // ''));
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s')));
$t->run;
my $host = '127.0.0.1:' . $t->port;

my $docker = 'application/vnd.docker.distribution.manifest.v2+json';
my $oci = 'application/vnd.oci.image.manifest.v1+json';
my $list = 'application/vnd.docker.distribution.manifest.list.v2+json';
my $index = 'application/vnd.oci.image.index.v1+json';

sub builds {
    my ($image) = @_;
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /"msg":"build started","image":"\Q$image\E"/g);
}
sub get {
    my ($method, $uri, @accept) = @_;
    return $t->http($method => $uri, timeout => 300,
        headers => [map { [Accept => $_] } @accept]);
}

# Ten first pulls at once, as containerd asks: one build of both platforms.
my @r = $q->parallel($t->port, 10, GET => '/v2/shell/hello/manifests/latest',
    timeout => 300, headers => [[Accept => "$docker, $list, $oci, $index, */*"]]);
is(scalar(grep { $_->{status} == 200 } @r), 10, '10 first pulls: all 200')
    or diag($r[0]{raw});
my %d = map { ($_->{headers}{'docker-content-digest'} // '') => 1 } @r;
is(scalar keys %d, 1, 'one digest');
is(builds('shell/hello:latest'), 1, 'one build for 10 clients');
my $log = $t->read_file('logs/helper.log') // '';
is(scalar(() = $log =~ /"msg":"image assembled"/g), 2,
    'each platform assembled once');

my $l = $r[0];
is($l->{headers}{'content-type'}, $list, 'Docker client: the manifest list');
my $lj = $t->json($l);
my $list_digest = 'sha256:' . sha256_hex($l->{body});
is($l->{headers}{'docker-content-digest'}, $list_digest,
    'Docker-Content-Digest is the digest of the bytes');
is($l->{headers}{etag}, "\"$list_digest\"", 'ETag too');
is($l->{headers}{vary}, 'Accept', 'Vary: Accept');
is($lj->{mediaType}, $list, 'the list says its media type');
is_deeply([map { $_->{mediaType} } @{ $lj->{manifests} }], [$docker, $docker],
    'it names Docker manifests');
is_deeply([map { $_->{platform} } @{ $lj->{manifests} }],
    [{architecture => 'amd64', os => 'linux'},
     {architecture => 'arm64', os => 'linux', variant => 'v8'}],
    'linux/amd64 and linux/arm64/v8, in that order');

my $i = get(GET => '/v2/shell/hello/manifests/latest', $oci, $index);
is($i->{headers}{'content-type'}, $index, 'OCI-only client: the OCI index');
my $ij = $t->json($i);
is_deeply([map { $_->{mediaType} } @{ $ij->{manifests} }], [$oci, $oci],
    'it names OCI manifests');
is_deeply([map { $_->{platform}{architecture} } @{ $ij->{manifests} }],
    ['amd64', 'arm64'], 'both platforms');

my $s = get(GET => '/v2/shell/hello/manifests/latest', $docker);
is($s->{headers}{'content-type'}, $docker, 'single-manifest client: a manifest');
is($s->{headers}{'docker-content-digest'}, $lj->{manifests}[0]{digest},
    "the amd64 manifest, the list's first");
my $n = get(GET => '/v2/shell/hello/manifests/latest');
is($n->{headers}{'docker-content-digest'}, $lj->{manifests}[0]{digest},
    'no Accept: the amd64 manifest, as before lists');
my $o = get(GET => '/v2/shell/hello/manifests/latest', $oci);
is($o->{headers}{'docker-content-digest'}, $ij->{manifests}[0]{digest},
    "OCI manifests only: the index's amd64 manifest");

my $h = get(HEAD => '/v2/shell/hello/manifests/latest', $list);
is($h->{status}, 200, 'HEAD of the list');
is($h->{headers}{'docker-content-digest'}, $list_digest, 'same digest');
is($h->{headers}{'content-length'}, length($l->{body}), 'its length');
is($h->{body}, '', 'no body');

# By digest: the lists and every manifest they name, with their types.
for my $case ([$list_digest, $list, $l->{body}],
    ['sha256:' . sha256_hex($i->{body}), $index, $i->{body}]) {
    my ($digest, $type, $body) = @$case;
    my $b = get(GET => "/v2/shell/hello/manifests/$digest");
    is($b->{status}, 200, "$type by digest");
    is($b->{headers}{'content-type'}, $type, 'with its media type');
    is($b->{body}, $body, 'the same bytes');
    is($b->{headers}{etag}, "\"$digest\"", 'ETag');
    my $bh = get(HEAD => "/v2/hello/manifests/$digest");
    is($bh->{headers}{'docker-content-digest'}, $digest,
        'HEAD by digest, under any name');
}
my %config_arch;
for my $m (@{ $lj->{manifests} }, @{ $ij->{manifests} }) {
    my $b = get(GET => "/v2/shell/hello/manifests/$m->{digest}");
    is($b->{status}, 200, "$m->{platform}{architecture} manifest by digest");
    is($b->{headers}{'content-type'}, $m->{mediaType}, 'its media type');
    is(length($b->{body}), $m->{size}, 'the size the list gives');
    my $cfg = get(GET => "/v2/shell/hello/blobs/"
        . $t->json($b)->{config}{digest});
    push @{ $config_arch{ $m->{platform}{architecture} } },
        $t->json($cfg)->{architecture};
}
is_deeply(\%config_arch, {amd64 => [qw(amd64 amd64)], arm64 => [qw(arm64 arm64)]},
    'each config says its architecture');

# arm64/... is the arm64 image of the same build.
my $a = get(GET => '/v2/arm64/shell/hello/manifests/latest', $docker, $list);
is($a->{status}, 200, 'arm64/shell/hello');
is($a->{headers}{'content-type'}, $docker, 'a single manifest');
is($a->{headers}{'docker-content-digest'}, $lj->{manifests}[1]{digest},
    "the list's arm64 manifest");
is(builds('arm64/shell/hello:latest'), 0, 'no build of its own');

# Real clients: skopeo shows the index and copies the arm64 image.
my $raw = `skopeo inspect --raw --tls-verify=false docker://$host/shell/hello:latest 2>&1`;
is($raw, $l->{body}, 'skopeo inspect --raw: the list') or diag($raw);
my $rc = system('skopeo', '--override-arch', 'arm64', 'copy', '--quiet',
    '--src-tls-verify=false', "docker://$host/shell/hello:latest",
    "oci:$dir/arm:latest");
is($rc, 0, 'skopeo copy --override-arch arm64');
my $copied = `skopeo inspect --config oci:$dir/arm:latest 2>&1`;
like($copied, qr/"architecture":\s*"arm64"/, 'the arm64 image was copied')
    or diag($copied);
# Its hello is an aarch64 program (ELF e_machine 183), from the aarch64 set.
my $arm_index = JSON::PP::decode_json($t->read_file("$dir/arm/index.json"));
my $blob = sub { "$dir/arm/blobs/" . join('/', split /:/, $_[0]) };
my $arm_manifest = JSON::PP::decode_json(
    $t->read_file($blob->($arm_index->{manifests}[0]{digest})));
my @machines;
for my $layer (@{ $arm_manifest->{layers} }) {
    my $file = $blob->($layer->{digest});
    my $head = `tar -xOf '$file' --wildcards '*-hello-*/bin/hello' 2>/dev/null`;
    push @machines, unpack('v', substr($head, 18, 2)) if length($head) > 20;
}
is_deeply(\@machines, [183], "its hello is an aarch64 program");
$rc = system('skopeo', 'copy', '--quiet', '--all', '--src-tls-verify=false',
    "docker://$host/shell/hello:latest", "oci:$dir/all:latest");
is($rc, 0, 'skopeo copy --all');
my $all = `skopeo inspect --raw oci:$dir/all:latest 2>&1`;
is(scalar @{ JSON::PP::decode_json($all)->{manifests} // [] }, 2,
    'both platforms copied');

$t->done;
done_testing;
