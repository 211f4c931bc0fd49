# skopeo pulls a fixture image from the registry: copy to an OCI layout
# (every blob checked against its digest, layers unpacked with umoci),
# inspect, raw manifests of both flavours, errors, and basic auth.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP;
use Nixery::Fixture;
use Nixery::Test;

Nixery::Test::need(-x '/usr/bin/skopeo', 'skopeo not installed');

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'shell/hello', cmd => ['bash'],
    layers => [ { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\necho hello\n" },
                { 'etc/' => undef, 'etc/motd' => "welcome\n",
                  'etc/issue' => { symlink => 'motd' } } ]);
my $dir = $t->dir;
$t->write_file('conf/policy.json',
    '{"default":[{"type":"insecureAcceptAnything"}]}');
$t->write_file('conf/htpasswd', 'puller:' . crypt('s3cret', '$6$nixerysalt$') . "\n");
$t->port_var("AUTHPORT");
$t->write_config($t->registry_conf(http => <<'CONF'));
    server {
        listen 127.0.0.1:%%AUTHPORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
            auth_basic "registry";
            auth_basic_user_file %%PREFIX%%/conf/htpasswd;
        }
    }
CONF
$t->run;
my $port = $t->port;
my $ref = "127.0.0.1:$port/shell/hello:latest";

# Run a command; returns (exit code, stdout+stderr).
sub run_cmd {
    my @argv = @_;
    my $out = '';
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        $ENV{HOME} = $dir;
        exec @argv;
        exit 127;
    }
    local $/;
    $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}
my @skopeo = ('skopeo', '--policy', "$dir/conf/policy.json");

# copy
my ($rc, $out) = run_cmd(@skopeo, 'copy', '--src-tls-verify=false',
    "docker://$ref", "oci:$dir/oci:v1");
is($rc, 0, 'skopeo copy succeeds') or diag($out);
diag("skopeo copy printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
like($out, qr/Writing manifest to image destination/, 'skopeo wrote the manifest');

my @blobs = glob("$dir/oci/blobs/sha256/*");
ok(@blobs >= 4, 'OCI layout has the blobs');
for my $file (@blobs) {
    my ($name) = $file =~ m{([0-9a-f]{64})$};
    open my $fh, '<', $file or die;
    binmode $fh;
    my $d = Digest::SHA->new(256);
    $d->addfile($fh);
    is($d->hexdigest, $name, "blob $name matches its digest");
}
my %have = map { m{([0-9a-f]{64})$} ? ($1 => 1) : () } @blobs;
ok($have{ $_->{hex} }, "layer $_->{hex} copied") for @{ $img->{layers} };

my $index = decode_json(slurp("$dir/oci/index.json"));
my ($mdigest) = map { $_->{digest} } @{ $index->{manifests} };
my $manifest = decode_json(slurp("$dir/oci/blobs/" . ($mdigest =~ s/:/\//r)));
is_deeply([ map { $_->{digest} } @{ $manifest->{layers} } ],
    [ map { $_->{digest} } @{ $img->{layers} } ], 'copied manifest lists the layers');
# skopeo converts the Docker manifest it chose to OCI and re-serialises the
# config while doing so: same content, other bytes.
is($manifest->{mediaType}, $Nixery::Fixture::MEDIA{oci_manifest}, 'copied manifest is OCI');
my $config = decode_json(slurp("$dir/oci/blobs/" . ($manifest->{config}{digest} =~ s/:/\//r)));
my $ours = decode_json($img->{config}{bytes});
is_deeply($config->{rootfs}, $ours->{rootfs}, 'copied config: rootfs diff_ids');
is_deeply($config->{config}{Cmd}, ['bash'], 'copied config: Cmd');
is($config->{architecture}, 'amd64', 'copied config: architecture');

# A dir: copy keeps every byte as served.
($rc, $out) = run_cmd(@skopeo, 'copy', '--src-tls-verify=false',
    "docker://$ref", "dir:$dir/plain");
is($rc, 0, 'skopeo copy to dir: succeeds') or diag($out);
is(slurp("$dir/plain/manifest.json"), $img->{docker}{bytes}, 'dir: the Docker manifest as stored');
is(slurp("$dir/plain/$img->{config}{hex}"), $img->{config}{bytes}, 'dir: the config as stored');
is(slurp("$dir/plain/$_->{hex}"), $_->{bytes}, "dir: layer $_->{hex} as stored")
    for @{ $img->{layers} };

# umoci unpacks the copied image: the layers are real tars.
SKIP: {
    Nixery::Test::need_or_skip(-x '/usr/bin/umoci', 'umoci not installed', 3);
    ($rc, $out) = run_cmd('umoci', 'unpack', '--image', "$dir/oci:v1", "$dir/bundle");
    is($rc, 0, 'umoci unpack succeeds') or diag($out);
    is(slurp("$dir/bundle/rootfs/bin/hello"), "#!/bin/sh\necho hello\n", 'file from layer 1');
    is(readlink("$dir/bundle/rootfs/etc/issue"), 'motd', 'symlink from layer 2');
}

# inspect (which lists tags first: tags/list names `latest`)
($rc, $out) = run_cmd(@skopeo, 'inspect', '--tls-verify=false', "docker://$ref");
is($rc, 0, 'skopeo inspect succeeds') or diag($out);
diag("skopeo inspect printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
my $info = eval { decode_json($out) } // {};
is($info->{Digest}, $img->{docker}{digest}, 'inspect: digest of the Docker manifest');
is($info->{Architecture}, 'amd64', 'inspect: architecture');
is($info->{Os}, 'linux', 'inspect: os');
is_deeply($info->{Layers}, [ map { $_->{digest} } @{ $img->{layers} } ], 'inspect: layers');
is_deeply($info->{RepoTags}, ['latest'], 'inspect: tags from tags/list');

($rc, $out) = run_cmd(@skopeo, 'inspect', '--raw', '--tls-verify=false', "docker://$ref");
is($out, $img->{docker}{bytes}, 'inspect --raw: the stored Docker manifest');
($rc, $out) = run_cmd(@skopeo, 'inspect', '--raw', '--tls-verify=false',
    "docker://127.0.0.1:$port/shell/hello\@$img->{oci}{digest}");
is($out, $img->{oci}{bytes}, 'inspect --raw by digest: the stored OCI manifest');
($rc, $out) = run_cmd(@skopeo, 'inspect', '--config', '--raw', '--tls-verify=false',
    "docker://$ref");
is($out, $img->{config}{bytes}, 'inspect --config: the stored config');

# Errors reach the client as registry errors.
($rc, $out) = run_cmd(@skopeo, 'inspect', '--no-tags', '--tls-verify=false',
    "docker://127.0.0.1:$port/not/there:latest");
isnt($rc, 0, 'missing image fails');
like($out, qr/manifest unknown/i, 'skopeo reports manifest unknown');
diag("skopeo on a missing image printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
# A tag the registry does not have (a path source has `latest` only): the
# image exists, the tag does not.
for my $args ([], ['--no-tags']) {
    ($rc, $out) = run_cmd(@skopeo, 'inspect', @$args, '--tls-verify=false',
        "docker://127.0.0.1:$port/shell/hello:missing-y22acperpkpchvleqmr4");
    isnt($rc, 0, "missing tag fails (@$args)");
    like($out, qr/manifest unknown/i, '... saying manifest unknown');
}

# Basic auth.
my $auth = "127.0.0.1:$t->{vars}{AUTHPORT}/shell/hello:latest";
($rc, $out) = run_cmd(@skopeo, 'inspect', '--no-tags', '--tls-verify=false', "docker://$auth");
isnt($rc, 0, 'without credentials: refused');
($rc, $out) = run_cmd(@skopeo, 'inspect', '--tls-verify=false',
    '--no-tags', '--creds', 'puller:s3cret', "docker://$auth");
is($rc, 0, 'with credentials: inspect succeeds') or diag($out);
is((eval { decode_json($out) } // {})->{Digest}, $img->{docker}{digest},
    'with credentials: digest');

sub slurp { my $p = shift; open my $f, '<', $p or return; binmode $f; local $/; <$f> }

$t->done;
done_testing;
