# Build messages reach the waiting clients whatever bytes Nix prints: a
# real build that fails after writing a NUL (or invalid UTF-8 and terminal
# escapes) to stderr, through nginx, redis-server and nixery-helper with
# real Nix. The failure comes back at once as the registry's JSON error
# with Nix's message in the detail, and again from the stored result.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use JSON::PP ();
use Time::HiRes qw(time);
use Nixery::Test;
use Nixery::Queue;

plan skip_all => 'needs root (Nix single-user store)' if $> != 0;
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;

# The bundled set plus two packages whose builders print hostile bytes and
# fail. Every image also holds cacert and iana-etc, hence the bundled set.
$t->write_file('pkgs/default.nix', <<"NIX");
args\@{ system ? builtins.currentSystem, ... }:
(import $root/nix/pkgs args) // {
  nulfail = derivation { name = "nulfail"; inherit system;
    builder = "/bin/sh";
    args = [ "-c" "printf 'before\\\\000after\\\\n' >&2; exit 1" ]; };
  bytesfail = derivation { name = "bytesfail"; inherit system;
    builder = "/bin/sh";
    args = [ "-c"
      "printf 'esc \\\\033[31mred\\\\033[0m bad \\\\377\\\\376 end\\\\n' >&2; exit 1" ]; };
}
NIX

my $q = Nixery::Queue->new($t);
$q->start_redis;
$t->spawn('helper', $Nixery::Queue::HELPER, '--redis', $q->address,
    '--storage', $t->storage, '--pkgs-path', "$dir/pkgs",
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--popularity', "$root/nix/popularity.json", '--heartbeat', 1,
    '--helper-id', 'bytes');
ok($q->wait_helper('bytes'), 'helper with the Nix builder up')
    or BAIL_OUT('nixery-helper did not start: '
        . ($t->read_file('logs/helper.log') // ''));
# A waiter left hanging would wait this long: far beyond "promptly".
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s')));
$t->run;

sub nix_runs {
    my ($image) = @_;
    my $log = $t->read_file('logs/helper.log') // '';
    return scalar(() = $log =~ /"msg":"build started","image":"\Q$image\E"/g);
}

# GET a manifest, with how long it took; no answer within 90 s is status 0.
sub timed_get {
    my ($uri) = @_;
    my $start = time;
    my ($r) = $q->parallel($t->port, 1, GET => $uri, timeout => 90);
    return ($r, time - $start);
}

my ($r, $took) = timed_get('/v2/nulfail/manifests/latest');
is($r->{status}, 500, 'a build printing a NUL fails: 500')
    or diag($r->{raw});
cmp_ok($took, '<', 60, sprintf('promptly (%.1f s), not the wait timeout',
    $took));
is($t->error_code($r), 'UNKNOWN', 'UNKNOWN');
my $err = ($t->json($r) // {})->{errors}[0] // {};
like($err->{message} // '', qr/^Nix could not build/, "the helper's message");
like($err->{detail} // '', qr/before\x{FFFD}after/,
    "Nix's message in detail: the NUL as U+FFFD, the text on both sides");

my ($r2, $took2) = timed_get('/v2/nulfail/manifests/latest');
is($r2->{status}, 500, 'asked again: 500');
cmp_ok($took2, '<', 10, sprintf('at once (%.1f s)', $took2));
is($r2->{body}, $r->{body}, 'the same error body');
is(nix_runs('nulfail:latest'), 1, 'from the stored result: Nix ran once');

# The stored result is plain JSON any reader takes (no \u0000 in it).
my ($stored) = grep { length } split /\n/,
    ($q->cli('--raw', 'KEYS', 'nixery:result:*') // '');
my $text = defined $stored ? $q->cli('--raw', 'GET', $stored) // '' : '';
my $doc = eval { JSON::PP->new->utf8->decode($text) };
ok(ref $doc eq 'HASH' && exists $doc->{ok} && !$doc->{ok},
    'the stored result is JSON') or diag($text);
unlike($text, qr/\\u0000/, 'without an escaped NUL');

my ($bad, $tookb) = timed_get('/v2/bytesfail/manifests/latest');
is($bad->{status}, 500, 'a build printing invalid UTF-8 and escapes: 500')
    or diag($bad->{raw});
cmp_ok($tookb, '<', 60, sprintf('promptly (%.1f s)', $tookb));
my $berr = ($t->json($bad) // {})->{errors}[0] // {};
# Nix itself drops the escape sequences from build logs.
like($berr->{detail} // '',
    qr/esc (?:\e\[31m)?red(?:\e\[0m)? bad \x{FFFD}\x{FFFD} end/,
    'the text kept, each invalid byte as U+FFFD');

$t->done;
done_testing;
