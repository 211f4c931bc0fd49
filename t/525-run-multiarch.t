# Multi-arch images with real clients running arm64 code, against the
# system as `make run` starts it (linux/amd64 and linux/arm64: every tag is
# an image index). qemu-aarch64 registered with binfmt_misc (flag F, `make
# pkgs` does it) runs the arm64 programs on this x86_64 machine.
#
# - skopeo inspect --raw shows the index: two manifests, linux/amd64 and
#   linux/arm64/v8;
# - podman run shell/hello prints x86_64, with --platform linux/arm64
#   aarch64 and hello's greeting;
# - ctr images pull --platform linux/arm64 unpacks aarch64 programs;
# - docker pull --platform linux/arm64 through a private dockerd (its own
#   data-root, exec-root, pidfile and socket in the test directory), and
#   docker run of the arm64 image;
# - skopeo copy --override-arch arm64 copies the arm64 image;
# - skopeo copy --all --preserve-digests into CNCF distribution (Debian's
#   docker-registry) keeps the index digest.
#
# The index gives the arm64 entry variant v8; the arm64 config names no
# variant. No client warns about it or picks another image: checked on
# every client's output.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use JSON::PP ();
use Test::More;
use Nixery::Containerd;
use Nixery::Test;
use Nixery::Run qw(command);

Nixery::Test::need($> == 0, 'needs root (containers)');
my $binfmt = '/proc/sys/fs/binfmt_misc/qemu-aarch64';
Nixery::Test::need(-r $binfmt && `cat $binfmt` =~ /^enabled\n(?s:.*)^flags:.*F/m,
    'qemu-aarch64 registered with binfmt_misc, flag F (make pkgs does it)');
# Debian's docker.io; not a docker found earlier in PATH.
my ($dockerd, $docker_cli) = ('/usr/sbin/dockerd', '/usr/bin/docker');
Nixery::Test::need(-x $dockerd && -x $docker_cli,
    "needs Debian's docker.io ($dockerd, $docker_cli)");
Nixery::Test::need(-x '/usr/bin/docker-registry',
    "needs Debian's docker-registry (CNCF distribution)");

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t);
my $image = "$reg/shell/hello";

# The ELF machine of a program inside an unpacked root, following its
# symbolic links inside that root: 62 x86_64, 183 aarch64.
sub elf_machine {
    my ($root, $path) = @_;
    for (1 .. 20) {
        my $file = "$root$path";
        last unless -l $file;
        my $to = readlink $file;
        $path = $to =~ m{^/} ? $to : dirname($path) . "/$to";
    }
    open(my $fh, '<', "$root$path") or return "none ($path)";
    read($fh, my $head, 20);
    return 'not ELF' unless substr($head, 0, 4) eq "\x7fELF";
    return unpack('v', substr($head, 18, 2));
}

# What a client says about platforms it did not expect (the config has no
# variant): none of these is allowed.
my $platform_warning = qr/does not match|no match|variant|platform/i;

# skopeo: the raw index, as clients that take lists get it.
my ($rc, $raw) = command('skopeo', 'inspect', '--raw', '--tls-verify=false',
    "docker://$image:latest");
is($rc, 0, 'skopeo inspect --raw') or diag($raw);
my $list = eval { JSON::PP->new->decode($raw) } // {};
is($list->{mediaType},
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'the tag is a manifest list');
is_deeply([map { $_->{platform} } @{ $list->{manifests} // [] }],
    [{architecture => 'amd64', os => 'linux'},
     {architecture => 'arm64', os => 'linux', variant => 'v8'}],
    'linux/amd64 and linux/arm64/v8');
my $index_digest = 'sha256:' . sha256_hex($raw);
my %manifest = map { $_->{platform}{architecture} => $_->{digest} }
    @{ $list->{manifests} // [] };
is($run->jobs('built'), 1, 'one build for both platforms');

# podman: the default platform, then arm64 (a pull of its own: the local
# image is amd64).
my @podman = ('podman', '--root', "$dir/podman/root", '--runroot',
    "$dir/podman/run", '--storage-driver', 'vfs', '--cgroup-manager',
    'cgroupfs', '--runtime', 'runc', '--events-backend', 'file',
    '--tmpdir', "$dir/podman/tmp");
my @podman_run = (@podman, 'run', '--rm', '--net=host',
    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768',
    '--tls-verify=false');
my $out;
($rc, $out) = command(@podman_run, $image, 'sh', '-c', 'uname -m; hello');
is($rc, 0, 'podman run shell/hello') or diag($out);
like($out, qr/^x86_64\nHello, world!$/m, 'without --platform: x86_64')
    or diag($out);
($rc, $out) = command(@podman_run, '--platform', 'linux/arm64', $image,
    'sh', '-c', 'uname -m; hello');
is($rc, 0, 'podman run --platform linux/arm64 shell/hello') or diag($out);
like($out, qr/^aarch64\nHello, world!$/m, 'with it: aarch64, and hello runs')
    or diag($out);
unlike($out, $platform_warning, 'podman: no platform warning') or diag($out);
# podman stores the index digest, and the arm64 manifest's beside it.
($rc, $out) = command(@podman, 'image', 'inspect', '--format',
    '{{.Architecture}} {{.Digest}} {{join .RepoDigests " "}}', "$image:latest");
my ($arch, $stored, @repo) = split ' ', $out;
is("$arch $stored", "arm64 $index_digest", "podman's image: arm64, the index")
    or diag($out);
is_deeply([sort @repo], [sort map { "$image\@$_" } $index_digest,
    $manifest{arm64}], 'its digests: the index and the arm64 manifest');
command(@podman, 'rmi', '--all', '--force');

# containerd: ctr pulls the arm64 image and unpacks aarch64 programs.
my $containerd = Nixery::Containerd->start($t);
my @ctr = $containerd->ctr_argv;
($rc, $out) = command(@ctr, 'images', 'pull', '--plain-http',
    '--snapshotter', 'native', '--platform', 'linux/arm64', "$image:latest");
is($rc, 0, 'ctr images pull --platform linux/arm64') or diag($out);
like($out, qr{unpacking linux/arm64(?:/v8)? sha256:}, 'ctr unpacked arm64')
    or diag($out);
unlike($out, $platform_warning, 'ctr: no platform warning') or diag($out);
my @snaps = glob($containerd->root
    . '/io.containerd.snapshotter.v1.native/snapshots/*');
my %machines = map { elf_machine($_, '/bin/hello') => 1 } @snaps;
ok($machines{183}, 'the snapshot holds an aarch64 /bin/hello')
    or diag(join ', ', keys %machines);
ok(!$machines{62}, 'and no x86_64 one');
($rc, $out) = command(@ctr, 'images', 'ls');
like($out, qr/^\Q$image\E:latest\s+\S+\s+\Q$index_digest\E\s.*linux\/arm64/m,
    'ctr stores the index digest') or diag($out);
$t->stop('containerd');

# Docker: a private dockerd, all of its state in the test directory. It
# starts a containerd of its own (under exec-root). 127.0.0.0/8 is an
# insecure registry to Docker: plain HTTP.
my $dd = "$dir/docker";
mkdir $dd;
my $dsock = "$dd/docker.sock";
$t->spawn('dockerd', $dockerd, '--data-root', "$dd/root", '--exec-root',
    "$dd/exec", '--pidfile', "$dd/docker.pid", '--host', "unix://$dsock",
    '--storage-driver', 'vfs', '--iptables=false', '--ip6tables=false',
    '--ip-masq=false', '--bridge', 'none', '--exec-opt',
    'native.cgroupdriver=cgroupfs');
my @docker = ($docker_cli, '--host', "unix://$dsock");
my $up = Nixery::Test::poll(60,
    sub { -S $dsock && (command(@docker, 'version'))[0] == 0 });
ok($up, 'private dockerd is up')
    or diag($t->read_file('logs/dockerd.log') // '');
($rc, $out) = command(@docker, 'pull', '--platform', 'linux/arm64',
    "$image:latest");
is($rc, 0, 'docker pull --platform linux/arm64') or diag($out);
like($out, qr/Digest: \Q$index_digest\E/, 'docker reports the index digest')
    or diag($out);
unlike($out, $platform_warning, 'docker pull: no platform warning')
    or diag($out);
($rc, $out) = command(@docker, 'image', 'inspect', '--format',
    '{{.Architecture}} {{.Os}}', "$image:latest");
is($out, "arm64 linux\n", "docker's image is linux/arm64") or diag($out);
($rc, $out) = command(@docker, 'run', '--rm', '--network', 'none',
    '--platform', 'linux/arm64', "$image:latest", 'sh', '-c',
    'uname -m; hello');
is($rc, 0, 'docker run --platform linux/arm64') or diag($out);
like($out, qr/^aarch64\nHello, world!$/m, 'docker runs it: aarch64')
    or diag($out);
unlike($out, $platform_warning, 'docker run: no platform warning')
    or diag($out);
command(@docker, 'rmi', '--force', "$image:latest");
$t->stop('dockerd');
ok(!-e "$dd/docker.pid", 'dockerd stopped');

# skopeo copies the arm64 image alone.
($rc, $out) = command('skopeo', '--override-arch', 'arm64', 'copy',
    '--src-tls-verify=false', "docker://$image:latest", "oci:$dir/arm:latest");
is($rc, 0, 'skopeo copy --override-arch arm64') or diag($out);
unlike($out, $platform_warning, 'skopeo: no platform warning') or diag($out);
($rc, $out) = command('skopeo', 'inspect', '--config', "oci:$dir/arm:latest");
my $config = eval { JSON::PP->new->decode($out) } // {};
is($config->{architecture}, 'arm64', 'its config says arm64') or diag($out);

# A mirror into CNCF distribution keeps the index digest.
my $mport = Nixery::Test::free_port();
$t->write_file('mirror/config.yml', <<"YAML");
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $dir/mirror/data
http:
  addr: 127.0.0.1:$mport
YAML
$t->spawn('mirror', '/usr/bin/docker-registry', 'serve',
    "$dir/mirror/config.yml");
ok($t->wait_port($mport, 20), 'docker-registry is up')
    or diag($t->read_file('logs/mirror.log') // '');
my $mirror = "127.0.0.1:$mport/mirror/hello";
($rc, $out) = command('skopeo', 'copy', '--all', '--preserve-digests',
    '--src-tls-verify=false', '--dest-tls-verify=false',
    "docker://$image:latest", "docker://$mirror:latest");
is($rc, 0, 'skopeo copy --all --preserve-digests to the mirror') or diag($out);
my $head = $t->http(HEAD => '/v2/mirror/hello/manifests/latest',
    port => $mport, headers => [[Accept => $list->{mediaType}]]);
is($head->{headers}{'docker-content-digest'}, $index_digest,
    'the mirror serves the index digest');
($rc, $out) = command('skopeo', 'inspect', '--raw', '--tls-verify=false',
    "docker://$mirror:latest");
is($out, $raw, 'the same bytes');
for my $arch (sort keys %manifest) {
    my $m = $t->http(HEAD => "/v2/mirror/hello/manifests/$manifest{$arch}",
        port => $mport, headers => [[Accept =>
            'application/vnd.docker.distribution.manifest.v2+json']]);
    is($m->{status}, 200, "the mirror has the $arch manifest");
}
$t->stop('mirror');

is($run->jobs('built'), 1, 'still one build');
is($run->stop('TERM'), 0, 'stopped');
$t->done;
done_testing;
