# The build page, as `make run` serves it (scripts/run.sh: redis-server,
# nixery-helper with real Nix, nginx with /nixery-builds and
# /builds.html), with a package set that adds a package whose build sleeps
# and one whose build fails printing a host path. While two clients wait
# for the slow image, /nixery-builds shows it resolving with both clients
# waiting (counted in Redis, across nginx's two workers) and the queue
# holding its job, and headless Chromium loads /builds.html and shows the
# same; once the build is done it is gone from the board. The failed build
# is listed with Nix's message, its host path replaced with [path].
#
# NIXERY_SCREENSHOT=FILE keeps Chromium's screenshot of the page there
# (docs/build-page.png was taken so).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Copy qw(copy);
use JSON::PP ();
use Test::More;
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;
use Nixery::Run qw(command);

Nixery::Test::need($> == 0, 'needs root (Nix single-user store)');
my ($chromium) = grep { -x } map { "$_/chromium" } split /:/, $ENV{PATH};
Nixery::Test::need($chromium, 'needs chromium (Debian package chromium)');

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;

# A nonce in each derivation: a new store path on every run, so the slow
# build is never already in the store.
my $nonce = time . "-$$";
my $secret_dir = "$dir/state-dir-not-for-clients";
$t->write_file('pkgs/default.nix', <<"NIX");
args\@{ system ? builtins.currentSystem, ... }:
(import $root/nix/pkgs args) // {
  slowpkg = derivation { name = "slowpkg"; inherit system;
    nonce = "$nonce"; builder = "/bin/sh";
    args = [ "-c" "/bin/sleep 25; /bin/mkdir -p \$out; echo slow > \$out/slow" ]; };
  failpkg = derivation { name = "failpkg"; inherit system;
    nonce = "$nonce"; builder = "/bin/sh";
    args = [ "-c" "echo 'nixery-test-failure: cannot open $secret_dir/x' >&2; exit 3" ]; };
}
NIX

# amd64 alone: the two test packages build on this host only (an arm64
# derivation of them would need an aarch64 builder).
my $run = Nixery::Run->start($t, env => { NIXERY_PKGS_PATH => "$dir/pkgs",
    NIXERY_PLATFORMS => 'linux/amd64' });
my $q = Nixery::Queue->new($t);
my $json = JSON::PP->new;

sub board {
    my $r = $t->http(GET => '/nixery-builds');
    return undef unless $r->{status} == 200;
    return eval { $json->decode($r->{body}) };
}

my $empty = $t->http(GET => '/nixery-builds');
is($empty->{status}, 200, '/nixery-builds: 200') or diag($empty->{raw});
like($empty->{headers}{'content-type'} // '', qr{^application/json},
    'JSON');
is($empty->{headers}{'cache-control'}, 'no-store', 'not cached');
my $b0 = board();
is_deeply($b0, { now_ms => $b0->{now_ms}, builds => [],
    queue => { jobs => 0, building => 0, queued => 0, oldest => undef },
    failures => [] }, 'nothing built yet: an empty board');
my $post = $t->http(POST => '/nixery-builds');
is($post->{status}, 405, 'POST: 405');
like($t->http(GET => '/')->{body}, qr{href="builds\.html"},
    'the front page links the build page');
is($t->http(GET => '/builds.html')->{status}, 200, 'the build page: 200');

# Two clients wait for the slow image.
my $started = time;
my $slow = $q->background(2, '/v2/slowpkg/manifests/latest');
my $seen = Nixery::Test::poll(60, \&board, sub {
    my $b = $_[0] or return 0;
    my ($s) = grep { $_->{image} eq 'slowpkg:latest' } @{ $b->{builds} };
    return $s && $s->{waiting} == 2;
});
my ($build) = grep { $_->{image} eq 'slowpkg:latest' } @{ $seen->{builds} // [] };
ok($build, 'the slow build is on the board') or diag(explain($seen));
is($build->{phase}, 'resolving', 'phase: resolving (Nix is building)');
is($build->{status}, 'resolving', 'status: resolving');
is($build->{name}, 'slowpkg', 'the name as asked');
is($build->{waiting}, 2, 'both waiting clients counted');
cmp_ok($build->{elapsed_s}, '>=', 0, 'elapsed time');
is($seen->{queue}{jobs}, 1, 'the queue holds its job');
is($seen->{queue}{building}, 1, 'being built');
is($seen->{queue}{oldest}{image}, 'slowpkg:latest', 'the oldest job');
unlike($json->encode($seen), qr{\Q$dir\E}, 'no host path on the board');

# The page in a real browser, during the build.
my @chrome = ($chromium, '--headless', '--no-sandbox', '--disable-gpu',
    '--disable-dev-shm-usage', '--hide-scrollbars', "--user-data-dir=$dir/chromium",
    '--virtual-time-budget=4000');
my $url = 'http://127.0.0.1:' . $t->port . '/builds.html';
my ($rc, $dom) = command(@chrome, '--dump-dom', $url);
is($rc, 0, 'chromium loads the page') or diag($dom);
like($dom, qr{<code>slowpkg:latest</code>}, 'the page shows the image')
    or diag($dom);
like($dom, qr{<span class="phase">resolving</span>}, 'and its phase');
like($dom, qr{<td>2</td>}, 'and the clients waiting');
like($dom, qr{<span id="state"[^>]*>updated }, 'the page read the board');
($rc, my $out) = command(@chrome, '--window-size=1100,700',
    "--screenshot=$dir/build-page.png", $url);
ok($rc == 0 && -s "$dir/build-page.png", 'chromium takes a screenshot')
    or diag($out);
copy("$dir/build-page.png", $ENV{NIXERY_SCREENSHOT})
    if $ENV{NIXERY_SCREENSHOT};
cmp_ok(time - $started, '<', 25, 'all of this while the build ran');

is($slow->(), "200: 200:\n", 'both clients get the image');
my $after = Nixery::Test::poll(10, \&board,
    sub { $_[0] && !@{ $_[0]{builds} } });
is_deeply($after->{builds}, [], 'the build left the board');
is($after->{queue}{jobs}, 0, 'the queue is empty');

# A failed build, with Nix's message.
my $f = $t->http(GET => '/v2/failpkg/manifests/latest', timeout => 120);
is($f->{status}, 500, 'the failing build: 500') or diag($f->{raw});
my $failed = board();
my ($fail) = @{ $failed->{failures} // [] };
is($fail->{image}, 'failpkg:latest', 'the failure is listed')
    or diag(explain($failed));
is($fail->{code}, 'UNKNOWN', 'with its code');
like($fail->{message}, qr/^Nix could not build 'failpkg'/, 'its message');
like($fail->{detail}, qr/nixery-test-failure: cannot open \[path\]/,
    "Nix's message, the host path replaced");
like($fail->{detail}, qr{/nix/store/\w+-failpkg\.drv}, 'store paths kept');
unlike($json->encode($failed), qr{\Q$dir\E|state-dir-not-for-clients},
    'no host path anywhere on the board');
($rc, $dom) = command(@chrome, '--dump-dom', $url);
like($dom, qr{nixery-test-failure: cannot open \[path\]},
    'the page shows the failure');

is($run->stop('TERM'), 0, 'make run stops');
$t->done;
done_testing;
