# Which tags exist with a git package source, end to end: nginx with
# `nixery_tags git`, redis-server, nixery-helper with real Nix on a git
# repository made here (the small fixture set, plus cacert and iana-etc,
# which every image holds). `latest`, a branch and a commit are built and
# inspected with skopeo; a branch the repository lacks is refused from
# git's listing without running Nix, a commit it lacks after Nix's fetch
# failed: both are "manifest unknown" (404), not 500, and a repeat is
# answered from Redis without the helper. tags/list lists what the manifest
# routes serve: `latest`, the branches and the git tags, from the helper's
# listing in Redis (every listed tag's manifest is 200; a deleted branch
# leaves the list at the next refresh), in the spec's pages.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use JSON::PP qw(decode_json);
use Test::More;
use Nixery::Test;
use Nixery::Queue;

Nixery::Test::need(-x '/usr/bin/skopeo', 'skopeo not installed');
Nixery::Test::need(-x '/usr/bin/git', 'git not installed');
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;

# The repository: main has hello; the branch `feature` adds onlyOnFeature.
my $repo = "$dir/repo";
sub git { system('git', '-C', $repo, '-c', 'user.name=t', '-c',
    'user.email=t@t', @_) == 0 or die "git @_ failed" }
mkdir $repo;
system('git', 'init', '-q', '-b', 'main', $repo) == 0 or die;
open(my $in, '<', "$root/helper/tests/fixtures/pkgs/default.nix") or die;
my $set = do { local $/; <$in> };
$set =~ s/^(\s*)hello = /${1}cacert = sh "cacert-1.0" "mkdir -p \$out\/etc\/ssl\/certs";\n${1}iana-etc = sh "iana-etc-1.0" "mkdir -p \$out\/etc";\n${1}hello = /m
    or die 'fixture changed';
$t->write_file("$repo/default.nix", $set);
git('add', 'default.nix');
git('commit', '-q', '-m', 'set');
git('checkout', '-q', '-b', 'feature');
$set =~ s/^(\s*)hello = /${1}onlyOnFeature = sh "feature-1.0" "mkdir \$out";\n${1}hello = /m
    or die;
$t->write_file("$repo/default.nix", $set);
git('commit', '-q', '-a', '-m', 'feature');
chomp(my $feature = `git -C $repo rev-parse HEAD`);
git('checkout', '-q', 'main');
# A git tag (annotated: ls-remote names it twice, once peeled) on main, a
# branch to delete later, and refs that are no image tags: a branch with a
# '/' and one named like a commit (the manifest route reads that as one).
git('tag', '-a', '-m', 'release', 'v1.0');
git('branch', 'doomed');
git('branch', 'topic/x');
git('branch', 'abcdef0123456789abcdef0123456789abcdef01');

my $q = Nixery::Queue->new($t);
$q->start_redis;
# Debug level: the helper logs each Nix call, which the test counts.
local $ENV{NIXERY_LOG_LEVEL} = 'debug';
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', $t->storage, '--pkgs-repo', $repo,
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--heartbeat', 1, '--helper-id', 'git', '--unknown-ttl', 300,
    '--tags-refresh', 1);
ok($q->wait_helper('git'), 'helper on a git source up')
    or BAIL_OUT('nixery-helper did not start: '
        . ($t->read_file('logs/helper.log') // ''));
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s'),
    location => '        nixery_tags git;'));
$t->run;
my $host = '127.0.0.1:' . $t->port;
$t->write_file('conf/policy.json',
    '{"default":[{"type":"insecureAcceptAnything"}]}');

sub skopeo {
    my @args = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        $ENV{HOME} = $dir;
        exec 'skopeo', '--policy', "$dir/conf/policy.json", @args;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}
sub inspect { skopeo('inspect', '--tls-verify=false', "docker://$host/$_[0]") }
sub builds {
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /"msg":"build started"/g);
}
sub nix_calls {
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /"msg":"nix call"/g);
}

my ($rc, $out) = inspect('hello:latest');
is($rc, 0, 'skopeo inspect hello:latest (the default branch)') or diag($out);
($rc, $out) = inspect('onlyonfeature:feature');
is($rc, 0, 'skopeo inspect of a package on an existing branch') or diag($out);
($rc, $out) = inspect("onlyonfeature:$feature");
is($rc, 0, 'skopeo inspect of a commit off the default branch') or diag($out);
($rc, $out) = inspect('onlyonfeature:latest');
isnt($rc, 0, 'the package is not on the default branch');

my $nix_before = nix_calls();
ok($nix_before > 0, 'the helper logs its Nix calls');
($rc, $out) = inspect('hello:no-such-branch');
isnt($rc, 0, 'skopeo inspect of a missing branch fails');
like($out, qr/manifest unknown/i, '... saying manifest unknown');
diag("skopeo on a missing branch printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
my $r = $t->http(GET => '/v2/hello/manifests/no-such-branch');
is($r->{status}, 404, 'missing branch: 404');
is($t->error_code($r), 'MANIFEST_UNKNOWN', '... MANIFEST_UNKNOWN');
like($t->json($r)->{errors}[0]{detail}, qr/serves 'latest'.*branches/,
    '... the detail names the tags served');
for my $i (1 .. 10) {
    $r = $t->http(GET => "/v2/hello/manifests/made-up-$i");
    is($r->{status}, 404, "made-up tag $i: 404") if $i == 10;
}
is(nix_calls(), $nix_before, 'missing branches ran no Nix');

my $missing = '0123456789abcdef' x 2 . '01234567';
($rc, $out) = inspect("hello:$missing");
isnt($rc, 0, 'skopeo inspect of a missing commit fails');
like($out, qr/manifest unknown/i, '... saying manifest unknown');
$r = $t->http(GET => "/v2/hello/manifests/$missing");
is($r->{status}, 404, 'missing commit: 404, not 500');
my $n = builds();
$r = $t->http(GET => "/v2/hello/manifests/$missing");
is($r->{status}, 404, 'again: 404');
is(builds(), $n, '... answered from Redis, no build');

# tags/list: what the helper published, with `latest`.
my @all = qw(doomed feature latest main v1.0);
$r = $t->http(GET => '/v2/hello/tags/list');
is($r->{status}, 200, 'tags/list: 200');
is_deeply($t->json($r), { name => 'hello', tags => \@all },
    'tags/list: latest, the branches and the git tag, sorted')
    or diag($r->{body});
my $record = $q->cli('GET', 'nixery:tags') // '';
like($record, qr/"helper":"git"/, 'the record in redis names the helper');
my $ttl = $q->cli('TTL', 'nixery:tags') // '';
ok($ttl =~ /^(\d+)/ && $1 >= 1 && $1 <= 3,
    'its TTL is three refresh periods') or diag("TTL $ttl");
# Every listed tag is served (`latest` and `feature` were built above).
for my $tag (@all) {
    $r = $t->http(GET => "/v2/hello/manifests/$tag");
    is($r->{status}, 200, "listed tag $tag: manifest 200")
        or diag($r->{body});
}
($rc, $out) = skopeo('list-tags', '--tls-verify=false', "docker://$host/hello");
is($rc, 0, 'skopeo list-tags') or diag($out);
my $listed = eval { decode_json($out)->{Tags} } // [];
is_deeply($listed, \@all, '... lists the same tags');

# Pages: n, last and the Link to the next page, walked to the end.
$r = $t->http(GET => '/v2/hello/tags/list?n=2');
is_deeply($t->json($r)->{tags}, ['doomed', 'feature'], 'n=2: the first two');
is($r->{headers}{link}, '</v2/hello/tags/list?n=2&last=feature>; rel="next"',
    'n=2: a Link to the next page');
my @walked;
my $next = '/v2/hello/tags/list?n=2';
for (1 .. 10) {
    $r = $t->http(GET => $next);
    push @walked, @{ $t->json($r)->{tags} };
    last unless ($r->{headers}{link} // '') =~ /^<([^>]+)>; rel="next"$/;
    $next = $1;
}
is_deeply(\@walked, \@all, 'following the Links lists every tag once');
$r = $t->http(GET => '/v2/hello/tags/list?n=2&last=main');
is_deeply($t->json($r)->{tags}, ['v1.0'], 'n=2&last=main: the rest');
ok(!exists $r->{headers}{link}, '... and no Link');
$r = $t->http(GET => '/v2/hello/tags/list?last=feature');
is_deeply($t->json($r)->{tags}, [qw(latest main v1.0)], 'last alone');
$r = $t->http(GET => '/v2/hello/tags/list?n=0');
is_deeply($t->json($r)->{tags}, [], 'n=0: empty');
ok(!exists $r->{headers}{link}, '... and no Link');
is($t->http(GET => '/v2/hello/tags/list?n=x')->{status}, 400, 'n=x: 400');

# A branch deleted from the repository leaves the list at the next
# listing (--tags-refresh 1 here).
git('branch', '-q', '-D', 'doomed');
my $gone = Nixery::Test::poll(15, sub {
    $t->json($t->http(GET => '/v2/hello/tags/list'))->{tags} },
    sub { !grep { $_ eq 'doomed' } @{ $_[0] } });
is_deeply($gone, [qw(feature latest main v1.0)],
    'a deleted branch leaves tags/list after a refresh');

$t->done;
done_testing;
