# Several hosts on one bucket, end to end with real parts: RGW (the
# bucket), one redis-server, nixery-helpers building with real Nix from the
# bundled set into the bucket, and nginx hosts running
# conf/nixery-bucket.conf, each in a network namespace of its own with an
# empty local cache, reaching Redis and RGW over its link.
#
# 1. skopeo through host A and podman through host B pull a new image at
#    once: one build, one digest.
# 2. With every helper stopped, a third host with an empty cache serves it
#    from the bucket alone.
# 3. Faults: a helper killed during a multipart layer upload (its job is
#    taken over, the image completes, no manifest names a missing blob);
#    a helper with wrong credentials says which setting is wrong.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Digest::SHA qw(sha256_hex);
use JSON::PP qw(decode_json);
use POSIX ();
use Time::HiRes qw(time sleep);
use Nixery::Bucket;
use Nixery::BucketRegistry;
use Nixery::Netns;
use Nixery::Queue;
use Nixery::Test;

Nixery::Test::need(Nixery::Netns::available(),
    'needs root and ip(8) (network namespaces)');
Nixery::Test::need(Nixery::Bucket::available(),
    'Ceph RGW (radosgw, ceph-mon, ceph-osd) is not installed');
Nixery::Test::need(-x '/usr/bin/skopeo' && -x '/usr/bin/podman',
    'skopeo and podman are not installed');
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my %took;

# Three hosts' links first: Redis and RGW listen on their root-side ends.
my @ns = map { Nixery::Netns->new($_) } 1 .. 3;
my @outer = map { $_->outer } @ns;
my $t0 = time;
my $br = Nixery::BucketRegistry->new($t, listen => \@outer);
my $s3 = $br->s3;
my $q = Nixery::Queue->new($t, tcp => 1, listen => \@outer);
$q->start_redis;
my ($redis_port) = $q->address =~ /:(\d+)$/;
$took{setup} = time - $t0;

# A helper writing the bucket (no --storage: the environment names it).
sub start_helper {
    my ($name, %o) = @_;
    my %env = ($s3->env('images'), NIXERY_STORAGE_TMP => "$dir/tmp-$name",
        %{ $o{env} // {} });
    local @ENV{keys %env} = values %env;
    $t->spawn($name, $Nixery::Queue::HELPER, '--redis', $q->address,
        '--pkgs-path', "$root/nix/pkgs", '--nix-dir', "$root/nix",
        '--gc-roots', "$dir/gcroots-$name", '--popularity',
        "$root/nix/popularity.json", '--heartbeat', 1, '--helper-id', $name,
        @{ $o{args} // [] });
    ok($q->wait_helper($name), "helper $name up")
        or diag($t->read_file("logs/$name.log"));
}

# nginx in namespace $ns with its own empty local cache.
sub start_host {
    my ($ns) = @_;
    my $h = Nixery::Test->new(host => $ns->inner, wrap => [ $ns->wrap ]);
    $h->write_config($br->conf(t => $h, queue => $q,
        redis => $ns->outer . ":$redis_port",
        endpoint => 'http://' . $ns->outer . ':' . $s3->port,
        listen => $ns->inner));
    $h->run;
    return $h;
}

# The helpers' "job done" lines (decoded), optionally of one outcome.
sub jobs_done {
    my ($outcome, @names) = @_;
    my @jobs;
    for my $name (@names) {
        for (split /\n/, $t->read_file("logs/$name.log") // '') {
            my $l = eval { decode_json($_) } or next;
            push @jobs, $l if ($l->{msg} // '') eq 'job done'
                && (!defined $outcome || $l->{outcome} eq $outcome);
        }
    }
    return @jobs;
}

# How many builds the helpers started.
sub build_starts {
    my (@names) = @_;
    return scalar map {
        grep { /"msg":"build started"/ } split /\n/,
            $t->read_file("logs/$_.log") // ''
    } @names;
}

# Run @argv in the background; returns a function that waits for it and
# returns (exit status, output, seconds).
sub background {
    my ($name, @argv) = @_;
    my $out = "$dir/logs/$name.out";
    my $start = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>&', \*STDOUT;
        { exec @argv };
        POSIX::_exit(127);
    }
    return sub {
        waitpid($pid, 0);
        return ($? >> 8, $t->read_file($out) // '', time - $start);
    };
}

$t->write_file('conf/policy.json',
    '{"default":[{"type":"insecureAcceptAnything"}]}');
my @skopeo = ('skopeo', '--policy', "$dir/conf/policy.json");
my @podman = ('podman', '--root', "$dir/podman/root", '--runroot',
    "$dir/podman/run", '--storage-driver', 'vfs', '--cgroup-manager',
    'cgroupfs', '--events-backend', 'file', '--tmpdir', "$dir/podman/tmp");

# skopeo copy to a dir: layout, which keeps the manifest's bytes: the
# manifest's digest, or '' with a diagnostic when the copy or a blob's
# digest is wrong.
sub skopeo_digest {
    my ($what, $out_dir, $wait) = @_;
    my ($rc, $out, $secs) = $wait->();
    $took{$what} = $secs;
    is($rc, 0, "$what: skopeo copy") or diag($out);
    my $m = $t->read_file("$out_dir/manifest.json") // return '';
    my $doc = decode_json($m);
    my @bad = grep {
        my ($hex) = $_->{digest} =~ /^sha256:([0-9a-f]{64})$/;
        my $b = $t->read_file("$out_dir/$hex");
        !defined $b || sha256_hex($b) ne $hex;
    } ($doc->{config}, @{ $doc->{layers} });
    is(scalar @bad, 0, "$what: config and " . @{ $doc->{layers} }
        . ' layers match their digests');
    return 'sha256:' . sha256_hex($m);
}

my ($a_host, $b_host, $c_host);

subtest 'two hosts, one build, one digest' => sub {
    start_helper($_) for qw(h1 h2);
    $t0 = time;
    $a_host = start_host($ns[0]);
    $b_host = start_host($ns[1]);
    $took{two_hosts_up} = time - $t0;
    my $a = $a_host->host . ':' . $a_host->port;
    my $b = $b_host->host . ':' . $b_host->port;
    isnt($a_host->host, '127.0.0.1', "host A on its own address $a");

    my $skopeo = background('skopeo-a', @skopeo, 'copy', '--quiet',
        '--src-tls-verify=false', "docker://$a/hello:latest",
        "dir:$dir/copy-a");
    my $podman = background('podman-b', @podman, 'pull', '--quiet',
        '--tls-verify=false', "$b/hello:latest");
    my $via_a = skopeo_digest('pull through A', "$dir/copy-a", $skopeo);
    my ($rc, $out, $secs) = $podman->();
    $took{'pull through B'} = $secs;
    is($rc, 0, 'podman pull through B') or diag($out);
    my (undef, $via_b) = Nixery::Test::command(@podman, 'image', 'inspect',
        '--format', '{{.Digest}}', "$b/hello:latest");
    chomp $via_b;

    my @built = jobs_done('built', qw(h1 h2));
    is(scalar @built, 1, 'one build for both hosts');
    is(build_starts(qw(h1 h2)), 1, '... Nix and assembly ran once');
    # A host that read the index just before the build published it and
    # queued just after the build finished makes a second job, which the
    # helper answers from the bucket without building.
    my @other = grep { $_->{outcome} ne 'built' } jobs_done(undef, qw(h1 h2));
    is(join(' ', map { $_->{outcome} } @other), join(' ', ('cached') x @other),
        'any other job found the image built (' . @other . ')');
    $took{'helper build'} = $built[0]{duration_ms} / 1000 if @built;
    like($via_a, qr/^sha256:[0-9a-f]{64}$/, "skopeo via A: $via_a");
    is($via_b, $via_a, 'podman via B got the same digest');
    for my $h ($a_host, $b_host) {
        my $r = $h->http(GET => '/v2/hello/manifests/latest');
        is($r->{headers}{'docker-content-digest'}, $via_a,
            'host ' . $h->host . ' serves that digest');
    }
    ok(scalar $br->fetches(qr{^GET /_nixery/bucket/manifests/}, $_),
        'host ' . $_->host . ' fetched the manifest from the bucket')
        for $a_host, $b_host;
    ok(!-e "$dir/storage/blobs", 'nothing in a local storage tree of the helpers');
};

my $hello_digest = $a_host ? $a_host->http(GET => '/v2/hello/manifests/latest')
    ->{headers}{'docker-content-digest'} // '' : '';

subtest 'a new host needs nothing but the bucket' => sub {
    $t->stop($_) for qw(h1 h2);
    is(($q->cli('KEYS', 'nixery:helper:*') // '') =~ s/\s+//gr, '',
        'no helper left in Redis');
    my $jobs = $q->cli('XLEN', 'nixery:jobs');
    $t0 = time;
    $c_host = start_host($ns[2]);
    my $c = $c_host->host . ':' . $c_host->port;
    ok(!-e $c_host->storage . '/index', 'host C starts with an empty cache');
    my $copy = background('skopeo-c', @skopeo, 'copy', '--quiet',
        '--src-tls-verify=false', "docker://$c/hello:latest",
        "dir:$dir/copy-c");
    my $digest = skopeo_digest('pull through C', "$dir/copy-c", $copy);
    $took{'host C up and pull'} = time - $t0;
    is($digest, $hello_digest, 'host C serves the same image');
    is($q->cli('XLEN', 'nixery:jobs'), $jobs, 'no job was queued');
    ok(-e $c_host->storage . '/index', 'host C cached the index entry');
};

$a_host->done if $a_host;
$b_host->done if $b_host;
$c_host->done if $c_host;
$t->done;
note(join ', ', map { sprintf '%s %.1f s', $_, $took{$_} } sort keys %took);
done_testing;
