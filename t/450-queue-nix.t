# The whole registry with real Nix: nginx, redis-server and nixery-helper
# building from the bundled package set. Concurrent first pulls build an
# image once, skopeo pulls it, the image runs; unknown packages come back
# as registry errors, and a known-bad name does not run Nix twice; arm64
# images are built from the set's aarch64-linux packages.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Queue;

Nixery::Test::need($> == 0, 'needs root (chroot)');
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', $t->storage, '--pkgs-path', "$root/nix/pkgs",
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--popularity', "$root/nix/popularity.json", '--concurrency', 2,
    '--heartbeat', 1, '--helper-id', 'nix', '--unknown-ttl', 300);
ok($q->wait_helper('nix'), 'helper with the Nix builder up')
    or BAIL_OUT('nixery-helper did not start: '
        . ($t->read_file('logs/helper.log') // ''));
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s')));
$t->run;
my $host = '127.0.0.1:' . $t->port;

sub nix_runs {
    my ($image) = @_;
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /"msg":"build started","image":"\Q$image\E"/g);
}

my @r = $q->parallel($t->port, 20, GET => '/v2/shell/hello/manifests/latest',
    timeout => 300);
is(scalar(grep { $_->{status} == 200 } @r), 20, '20 first pulls: all 200')
    or diag($r[0]{raw});
my %d = map { ($_->{headers}{'docker-content-digest'} // '') => 1 } @r;
is(scalar keys %d, 1, 'one digest');
is(nix_runs('shell/hello:latest'), 1, 'Nix ran once for 20 clients');

my $rc = system('skopeo', 'copy', '--quiet', '--src-tls-verify=false',
    "docker://$host/shell/hello:latest", "oci:$dir/img:latest");
is($rc, 0, 'skopeo pulls the image built on demand');
$rc = system("umoci unpack --image '$dir/img:latest' '$dir/bundle' "
    . ">/dev/null 2>&1");
is($rc, 0, 'umoci unpacks it');
my $out = `env -i PATH=/bin /usr/sbin/chroot '$dir/bundle/rootfs' hello 2>&1`;
like($out, qr/Hello, world!/, 'the image runs hello');
is(nix_runs('shell/hello:latest'), 1, 'the pull did not build again');

my $u = $t->http(GET => '/v2/hello/nosuchpkg/manifests/latest');
is($u->{status}, 404, 'unknown package: 404');
is($t->error_code($u), 'MANIFEST_UNKNOWN', 'MANIFEST_UNKNOWN');
like($t->json($u)->{errors}[0]{message} // '', qr/nosuchpkg/,
    'the message names the package');
my $u2 = $t->http(GET => '/v2/jq/nosuchpkg/manifests/latest');
is($u2->{status}, 404, 'the bad name in another image: 404');
is(nix_runs('jq/nosuchpkg:latest'), 0,
    'remembered: Nix did not run for the second image');

# The set provides aarch64-linux too (docs/package-set.md): arm64/hello is
# built, for arm64. (Packages a set cannot provide, which throw, are the
# resolve table's unit tests.)
my $f = $t->http(GET => '/v2/arm64/hello/manifests/latest');
is($f->{status}, 200, 'arm64/hello: 200') or diag($f->{body});
my $digest = ($t->json($f) // {})->{config}{digest} // '';
my $cfg = $t->http(GET => "/v2/arm64/hello/blobs/$digest");
is(($t->json($cfg) // {})->{architecture}, 'arm64', 'an arm64 image')
    or diag($cfg->{body});
is(nix_runs('arm64/hello:latest'), 1, 'Nix ran once for it');

$t->done;
done_testing;
