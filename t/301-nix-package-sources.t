# Package sources as Nixery has them: a git repository (tag `latest` =
# default branch, a branch name, a 40-hex commit not on the default
# branch), a local path, a channel (needs the network: here it must fail
# clearly), and the precedence of NIXERY_CHANNEL > NIXERY_PKGS_REPO >
# NIXERY_PKGS_PATH.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use File::Temp qw(tempdir);
use Test::More;
use Nixery::Closure qw(resolve);

my $tmp = tempdir(CLEANUP => 1);
my $repo = "$tmp/repo";
my $fixture = "$Nixery::Closure::ROOT/helper/tests/fixtures/pkgs/default.nix";

sub git { system('git', '-C', $repo, '-c', 'user.name=t', '-c',
    'user.email=t@t', @_) == 0 or die "git @_ failed" }
mkdir $repo;
system('git', 'init', '-q', '-b', 'main', $repo) == 0 or die;
copy($fixture, "$repo/default.nix") or die;
git('add', 'default.nix');
git('commit', '-q', '-m', 'fixture');
# A branch with one more package, and its commit.
git('checkout', '-q', '-b', 'feature');
open(my $fh, '<', $fixture) or die;
my $text = do { local $/; <$fh> };
$text =~ s/^(\s*)hello = /${1}onlyOnFeature = sh "feature-1.0" "mkdir \$out";\n${1}hello = /m
    or die 'fixture changed';
open($fh, '>', "$repo/default.nix") or die;
print $fh $text;
close $fh;
git('commit', '-q', '-a', '-m', 'feature');
my $feature = `git -C $repo rev-parse HEAD`;
chomp $feature;
git('checkout', '-q', 'main');

delete @ENV{qw(NIXERY_CHANNEL NIXERY_PKGS_REPO NIXERY_PKGS_PATH)};

sub status_of {
    my ($r, $name) = @_;
    my ($p) = grep { $_->{name} eq $name } @{ $r->{packages} };
    return $p ? $p->{status} : 'absent';
}

my @names = ('--eval-only', '--raw', 'hello', 'onlyonfeature');
my ($r, $s) = resolve('--pkgs-repo', $repo, @names);
is(status_of($r, 'hello'), 'found', 'git latest: hello');
is(status_of($r, 'onlyonfeature'), 'not_found',
    'git latest is the default branch');

($r) = resolve('--pkgs-repo', $repo, '--tag', 'feature', @names);
is(status_of($r, 'onlyonfeature'), 'found', 'git tag = branch');

($r) = resolve('--pkgs-repo', $repo, '--tag', $feature, @names);
is(status_of($r, 'onlyonfeature'), 'found',
    'git tag = commit off the default branch');

# Versions the repository lacks are unknown tags (a 404 for the registry),
# not a broken package set: a branch is refused from git's listing before
# Nix runs, a commit after Nix's fetch failed.
($r, $s) = resolve('--pkgs-repo', $repo, '--tag', 'no-such-branch', @names);
is($r->{status}, 'tag unknown', 'unknown branch: tag unknown');
like($r->{message}, qr/'no-such-branch' is no branch, git tag or commit/,
    'and says which tags exist');
($r, $s) = resolve('--pkgs-repo', $repo, '--tag', '0' x 40, @names);
is($r->{status}, 'tag unknown', 'unknown commit: tag unknown');
git('tag', 'v1.0', $feature);
($r) = resolve('--pkgs-repo', $repo, '--tag', 'v1.0', @names);
is(status_of($r, 'onlyonfeature'), 'found', 'git tag = a git tag');
($r, $s) = resolve('--pkgs-path', "$Nixery::Closure::ROOT/nix/pkgs",
    '--tag', 'v1', @names);
is($r->{status}, 'tag unknown', 'a path source has no tag but latest');
like($r->{message}, qr/'latest' only/, 'and says so');

# Nixery's variables and their precedence.
{
    local $ENV{NIXERY_PKGS_PATH} = "$Nixery::Closure::ROOT/nix/pkgs";
    ($r) = resolve(@names);
    like((grep { $_->{name} eq 'hello' } @{ $r->{packages} })[0]{outputPath},
        qr/-hello-2\.10$/, 'NIXERY_PKGS_PATH: the bundled set');
    local $ENV{NIXERY_PKGS_REPO} = $repo;
    ($r) = resolve('--tag', 'feature', @names);
    is(status_of($r, 'onlyonfeature'), 'found',
        'NIXERY_PKGS_REPO wins over NIXERY_PKGS_PATH');
    local $ENV{NIXERY_CHANNEL} = 'd6b863fd9b7bb962e6f9fdf292419a775e772891';
    ($r, $s) = resolve('--timeout', '60', @names);
    is($s, 1, 'NIXERY_CHANNEL wins, and cannot work offline');
    is($r->{status}, 'evaluation failed', 'channel: evaluation failed');
    like($r->{message},
        qr/cannot load the package set: error: unable to download .*nixpkgs\/archive\/d6b863fd/s,
        'channel: clear error naming the archive');
    # The helper's own flags win over all of them.
    ($r) = resolve('--pkgs-path', "$Nixery::Closure::ROOT/nix/pkgs", @names);
    is(status_of($r, 'hello'), 'found', 'flags win over the environment');
}

($r, $s) = resolve('hello');
is($s, 2, 'no source at all is a usage error');

done_testing;
