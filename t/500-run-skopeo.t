# End to end, as `make run` starts it (scripts/run.sh: redis-server, one
# nixery-helper with the bundled package set, nginx with the module and the
# front page): skopeo pulls shell/git/htop, umoci unpacks it and git runs
# in it under chroot; a second pull is served from storage without a job;
# an unknown package is a 404 MANIFEST_UNKNOWN naming it; SIGTERM stops all
# three processes, and a restart on the same state serves the cached image.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP ();
use Test::More;
use Nixery::Test;
use Nixery::Run qw(command);

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t);

# The front page, served by the same nginx.
my $page = $t->http(GET => '/');
is($page->{status}, 200, 'front page: 200');
like($page->{headers}{'content-type'}, qr{^text/html}, 'front page: HTML');
like($page->{body}, qr{podman pull --tls-verify=false \Q$reg\E/shell/git/htop},
    'front page: pull command with this address');
like($page->{body}, qr{bundled package\s+set}, 'front page: names the source');
like($page->{body}, qr{<code>python3Packages\.requests</code>},
    'front page: lists the bundled packages');
like($page->{body}, qr{<code>shell</code>.*bashInteractive}s,
    'front page: meta-packages');

# skopeo: the first pull builds the image.
my ($rc, $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://$reg/shell/git/htop", "oci:$dir/oci:git");
is($rc, 0, 'skopeo copy shell/git/htop') or diag($out);
is($run->jobs('built'), 1, 'one image built');
my ($digest) = map { /"digest":"(sha256:[0-9a-f]{64})"/ ? $1 : () }
    $t->read_file("$dir/oci/index.json");
like($digest // '', qr/^sha256:/, 'OCI layout has the manifest');

# umoci unpacks it; the programs run in it under chroot.
($rc, $out) = command('umoci', 'unpack', '--image', "$dir/oci:git",
    "$dir/bundle");
is($rc, 0, 'umoci unpack') or diag($out);
my $rootfs = "$dir/bundle/rootfs";
# What a container runtime provides: git opens /dev/null.
mkdir "$rootfs/dev";
system('mknod', '-m', '666', "$rootfs/dev/null", 'c', 1, 3) == 0
    or BAIL_OUT('mknod /dev/null');
($rc, $out) = command('chroot', $rootfs, '/bin/git', '--version');
is($rc, 0, 'git --version runs in the image') or diag($out);
like($out, qr/^git version \d+\.\d+/, "git says: $out");
($rc, $out) = command('chroot', $rootfs, '/bin/htop', '--version');
like($out, qr/^htop \d/, 'htop runs in the image');
($rc, $out) = command('chroot', $rootfs, '/bin/bash', '-c',
    'echo $((6 * 7)) > /tmp/x && cat /tmp/x && ls /etc/ssl/certs');
like($out, qr/^42\n.*ca-bundle\.crt/s, 'bash, /tmp and certificates');
($rc, $out) = command('chroot', $rootfs, '/bin/whoami');
is($out, "root\n", 'whoami finds root in the image\'s /etc/passwd');
($rc, $out) = command('chroot', $rootfs, '/bin/sh', '-c', 'ls -ld /root');
like($out, qr/^drwx------ .* root root .*\/root$/, "root's home: $out");

# The second pull of the same image: served from storage, no new job.
($rc, $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://$reg/shell/git/htop", "oci:$dir/oci2:git");
is($rc, 0, 'second skopeo copy') or diag($out);
is($run->jobs, 1, 'second pull: no new job');
my ($digest2) = map { /"digest":"(sha256:[0-9a-f]{64})"/ ? $1 : () }
    $t->read_file("$dir/oci2/index.json");
is($digest2, $digest, 'second pull: same manifest');

# The packages in any order are the same image.
($rc, $out) = command('skopeo', 'inspect', '--tls-verify=false', '--raw',
    "docker://$reg/shell/htop/git");
is($rc, 0, 'skopeo inspect shell/htop/git') or diag($out);
is($run->jobs, 1, 'another order of the same packages: no new job');

# An unknown package: skopeo reports the registry's 404 naming it.
($rc, $out) = command('skopeo', 'inspect', '--tls-verify=false',
    "docker://$reg/shell/nosuchpackage");
isnt($rc, 0, 'skopeo fails on an unknown package');
like($out, qr/manifest unknown/i, 'skopeo says manifest unknown');
like($out, qr/nosuchpackage/, "the error names the package: $out");
ok(scalar $run->access_log(qr{"GET /v2/shell/nosuchpackage/manifests/latest[^"]*" 404 }),
    'the registry answered 404');
is($run->jobs('unknown'), 1, 'one job found the package unknown');

# make run's nginx has the counters at /nixery-status.
sub counts {
    my $st = $t->http(GET => '/nixery-status');
    return $st->{status} == 200
        ? eval { JSON::PP::decode_json($st->{body}) } // {} : {};
}
my $counts = counts();
is($counts->{redis_workers}, 2, 'nixery_status: both workers have Redis');
cmp_ok($counts->{built} // 0, '>=', 1, 'the first pull waited for its build');
cmp_ok($counts->{failed} // 0, '>=', 1, 'the unknown package is counted');

# A request line nginx refuses: make run's nginx answers in JSON too.
# (skopeo's TLS probes of the plain HTTP port are refused the same way.)
my $bad = $t->http(undef, undef,
    raw => "GET /v2/hel\x01lo/manifests/latest HTTP/1.1\r\nHost: x\r\n\r\n");
is($bad->{status}, 400, 'control byte in the request line: 400');
is($t->error_code($bad), 'UNSUPPORTED', 'in the registry\'s JSON');
is(counts()->{rejected}, ($counts->{rejected} // 0) + 1,
    'the refused request line is counted');

# What the registry serves for it now (skopeo rewrote the manifest for
# the OCI layout, so its digest is not the registry's).
my @oci = (headers => [[Accept => 'application/vnd.oci.image.manifest.v1+json']]);
my $served = $t->http(GET => '/v2/shell/git/htop/manifests/latest', @oci);
like($served->{headers}{'docker-content-digest'} // '', qr/^sha256:/,
    'the registry serves the image');

# SIGTERM stops redis, the helper and nginx (master and workers).
my %procs = $run->processes;
ok(grep(/^nginx-worker/, keys %procs), 'nginx workers seen');
is($run->stop('TERM'), 0, 'run.sh exits 0 on SIGTERM');
is(join(' ', $run->alive(%procs)), '', 'every process is gone');
ok(!-e "$dir/redis/redis.sock", 'the Redis socket is gone');

# A restart on the same state serves what was built, without a job.
my $jobs_before = () = $t->read_file('logs/helper.log') =~ /"job done"/g;
$run = Nixery::Run->start($t);
my $m = $t->http(GET => '/v2/shell/git/htop/manifests/latest', @oci);
is($m->{status}, 200, 'after a restart: the cached manifest');
is($m->{headers}{'docker-content-digest'},
    $served->{headers}{'docker-content-digest'}, 'after a restart: same digest');
my $jobs_after = () = $t->read_file('logs/helper.log') =~ /"job done"/g;
is($jobs_after, $jobs_before, 'after a restart: no job');
%procs = $run->processes;
is($run->stop('TERM'), 0, 'second stop');
is(join(' ', $run->alive(%procs)), '', 'every process is gone again');

$t->done;
done_testing;

