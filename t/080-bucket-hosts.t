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
#    a helper with wrong credentials stops at start, saying which setting
#    is wrong.
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
Nixery::Bucket::need();
Nixery::Test::need(-x '/usr/bin/skopeo' && -x '/usr/bin/podman',
    'skopeo and podman are not installed');
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my %took;

# Hosts' links first (three nginx hosts, one helper host): Redis and RGW
# listen on their root-side ends.
my @ns = map { Nixery::Netns->new($_) } 1 .. 4;
my @outer = map { $_->outer } @ns;
my $t0 = time;
my $br = Nixery::BucketRegistry->new($t, listen => \@outer);
my $s3 = $br->s3;
my $q = Nixery::Queue->new($t, tcp => 1, listen => \@outer);
$q->start_redis;
my ($redis_port) = $q->address =~ /:(\d+)$/;
$took{setup} = time - $t0;

# A helper writing the bucket (no --storage: the environment names it);
# on a host of its own with ns => a Nixery::Netns.
sub start_helper {
    my ($name, %o) = @_;
    my $ns = $o{ns};
    my %env = ($s3->env('images'), NIXERY_STORAGE_TMP => "$dir/tmp-$name",
        $ns ? (AWS_ENDPOINT_URL => 'http://' . $ns->outer . ':' . $s3->port)
            : (),
        %{ $o{env} // {} });
    local @ENV{keys %env} = values %env;
    my $pid = $t->spawn($name, ($ns ? $ns->wrap : ()), $Nixery::Queue::HELPER,
        '--redis', $ns ? $ns->outer . ":$redis_port" : $q->address,
        '--pkgs-path', "$root/nix/pkgs", '--nix-dir', "$root/nix",
        '--gc-roots', "$dir/gcroots-$name", '--popularity',
        "$root/nix/popularity.json", '--heartbeat', 1, '--helper-id', $name,
        @{ $o{args} // [] });
    return $pid if $o{no_wait};
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

# Every key of the bucket (ListObjectsV2, page by page).
sub bucket_keys {
    my ($token, @keys) = ('');
    while (1) {
        my ($status, $body) = $s3->curl($s3->url('images') . '?list-type=2'
            . ($token eq '' ? '' : '&continuation-token=' . uri($token)));
        die "list: $status $body" unless $status == 200;
        push @keys, $body =~ m{<Key>([^<]+)</Key>}g;
        last unless $body =~ m{<IsTruncated>true</IsTruncated>};
        ($token) = $body =~ m{<NextContinuationToken>([^<]+)<};
    }
    return @keys;
}

sub uri { my ($s) = @_; $s =~ s/([^A-Za-z0-9._~-])/sprintf '%%%02X', ord $1/ge; $s }

# Multipart uploads begun and neither completed nor aborted: upload ids.
sub pending_uploads {
    # "uploads=": curl signs a bare "uploads" differently from RGW.
    my ($status, $body) = $s3->curl($s3->url('images') . '?uploads=');
    die "list uploads: $status $body" unless $status == 200;
    return $body =~ m{<Key>(blobs/[^<]+)</Key><UploadId>([^<]+)</UploadId>}g;
}

subtest 'a helper killed while it uploads a layer in parts' => sub {
    # One store-path layer for the whole closure of perl, git and
    # python3 (60 MB): well above the 16 MiB part size, so it goes up in
    # parts. Helper x is on a host of its own whose link is slow enough
    # (about 5 s for the layer) to see the upload under way.
    my @budget = (args => [ '--layer-budget', 1 ]);
    $ns[3]->shape('100mbit');
    start_helper('x', @budget, ns => $ns[3]);
    my $a = $a_host->host . ':' . $a_host->port;
    $t0 = time;
    my $pull = background('curl-big', 'curl', '-s', '-o', "$dir/big.json",
        '-w', '%{http_code}', '--max-time', 300,
        "http://$a/v2/perl/git/python3/manifests/latest");
    my $ids = Nixery::Test::poll(180, sub {
        return [ pending_uploads() ] if $t->read_file("logs/x.log")
            !~ /"msg":"job done"/;
        return 'done';
    }, sub { !ref $_[0] || @{ $_[0] } });
    $t->stop('x', 'KILL');
    SKIP: {
        ok(ref $ids && @$ids, 'a layer upload in parts under way')
            or skip('the build finished before a multipart upload was seen',
                6);
        $took{'build until a multipart upload'} = time - $t0;
        my %left = reverse pending_uploads();
        ok($left{ $ids->[1] }, "helper x SIGKILLed while uploading $ids->[0]"
            . ' in parts: the upload is left pending');
        ok(!grep({ $_ eq $ids->[0] } bucket_keys()), '... and the layer is not'
            . ' in the bucket');
        start_helper('y', @budget);
        my ($rc, $code, $secs) = $pull->();
        $took{'the pull, with the takeover'} = $secs;
        is($code, '200', 'the waiting pull got the image');
        my @done = jobs_done('built', 'y');
        is(scalar @done, 1, 'helper y built it');
        is($done[0]{deliveries}, 2, '... as the second delivery of the job');
        my %keys = map { $_ => 1 } bucket_keys();
        my @missing;
        for my $m (grep { m{^manifests/} } sort keys %keys) {
            my ($status, $body) = $s3->get('images', $m);
            my $doc = eval { decode_json($body) } // {};
            for my $d ($doc->{config}, @{ $doc->{layers} // [] }) {
                my ($hex) = ($d->{digest} // '') =~ /^sha256:([0-9a-f]{64})$/;
                push @missing, "$m: $d->{digest}" unless $hex
                    && $keys{ 'blobs/sha256/' . substr($hex, 0, 2) . "/$hex" };
            }
        }
        is(scalar @missing, 0, 'no manifest in the bucket names a missing '
            . 'blob (' . scalar(grep { m{^manifests/} } keys %keys)
            . ' manifests)') or diag(join "\n", @missing);
        my $r = $b_host->http(GET => '/v2/python3/git/perl/manifests/latest');
        is($r->{headers}{'docker-content-digest'},
            'sha256:' . sha256_hex($t->read_file("$dir/big.json") // ''),
            'host B serves the same image');
    }
    $t->stop('y');
};

subtest 'wrong credentials for a helper' => sub {
    my $wrong = 'wrong/secret+key0123456789abcdefghijklmn';
    my $pid = start_helper('bad', no_wait => 1,
        env => { AWS_SECRET_ACCESS_KEY => $wrong });
    # It checks the bucket when it starts, and stops there.
    ok(Nixery::Test::poll(30, sub { waitpid($pid, POSIX::WNOHANG()) == $pid }),
        'a helper whose secret is wrong stops at once');
    is($? >> 8, 2, '... with status 2');
    delete $t->{pids}{bad};
    my $log = $t->read_file('logs/bad.log') // '';
    note($log);
    # S3 says the signature is wrong (so is the secret) for that key id.
    like($log, qr/HTTP 403 SignatureDoesNotMatch \(access key id \Q${\ $s3->access_key }\E\): check AWS_SECRET_ACCESS_KEY/,
        'the log names the access key id and the setting to check');
    unlike($log, qr/\Q$wrong\E/, '... the secret is in no log line');
};

$a_host->done if $a_host;
$b_host->done if $b_host;
$c_host->done if $c_host;
$t->done;
note(join ', ', map { sprintf '%s %.1f s', $_, $took{$_} } sort keys %took);
done_testing;
