# End to end with containerd's ctr, against the system as `make run` starts
# it: a private containerd (own config, root, state and socket in the test
# directory) pulls `hello` over plain HTTP. containerd asks HEAD by tag
# (which builds the image), then GETs the manifest and blobs by digest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Containerd;
use Nixery::Test;
use Nixery::Run qw(command);

my $t = Nixery::Test->new;
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t);

my $containerd = Nixery::Containerd->start($t);
my @ctr = $containerd->ctr_argv;

my ($rc, $out) = command(@ctr, 'images', 'pull', '--plain-http',
    '--snapshotter', 'native', "$reg/hello:latest");
is($rc, 0, 'ctr images pull hello') or diag($out);
like($out, qr/unpacking linux\/amd64 (sha256:[0-9a-f]{64})/,
    'ctr unpacked the image');
is($run->jobs('built'), 1, 'one image built');

# The digest ctr stored is the one the registry serves for the Accept
# lines ctr sends: `make run` builds for two platforms, so the image index
# (the Docker manifest list).
my $head = $t->http(HEAD => '/v2/hello/manifests/latest', headers => [[Accept =>
    'application/vnd.docker.distribution.manifest.v2+json, ' .
    'application/vnd.docker.distribution.manifest.list.v2+json, ' .
    'application/vnd.oci.image.manifest.v1+json, ' .
    'application/vnd.oci.image.index.v1+json, */*']]);
is($head->{headers}{'content-type'},
    'application/vnd.docker.distribution.manifest.list.v2+json',
    'the tag is an image index');
my $digest = $head->{headers}{'docker-content-digest'} // '';
like($digest, qr/^sha256:[0-9a-f]{64}$/, 'registry digest');
($rc, $out) = command(@ctr, 'images', 'ls');
like($out, qr/^\Q$reg\E\/hello:latest\s+\S+\s+\Q$digest\E\s/m,
    'ctr lists the image with the registry\'s digest') or diag($out);

# The program is in the unpacked snapshot.
my @snaps = glob($containerd->root . "/io.containerd.snapshotter.v1.native/snapshots/*");
ok((grep { -x "$_/bin/hello" } @snaps), 'snapshot holds /bin/hello');

$t->stop('containerd');
my %procs = $run->processes;
is($run->stop('TERM'), 0, 'run.sh exits 0');
is(join(' ', $run->alive(%procs)), '', 'every process is gone');

# What containerd asked for: HEAD by tag first, then everything by digest.
# Read once nginx has stopped: a request's log line follows its response.
my @log = $run->access_log(qr{ /v2/hello/});
like($log[0] // '', qr{"HEAD /v2/hello/manifests/latest HTTP/1\.1" 200 },
    'first request: HEAD by tag') or diag(join "\n", @log);
ok((grep { m{"GET /v2/hello/manifests/\Q$digest\E HTTP/1\.1" 200 } } @log),
    'GET manifest by digest');
my @blobs = grep { m{"GET /v2/hello/blobs/sha256:[0-9a-f]{64} HTTP/1\.1" 200 } } @log;
ok(@blobs >= 2, scalar(@blobs) . ' blobs fetched by digest');
ok(!(grep { m{" [45]\d\d } } @log), 'no error response');
ok(!(grep { m{"GET /v2/hello/manifests/latest } } @log), 'no GET by tag');

$t->done;
done_testing;
