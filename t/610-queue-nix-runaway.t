# Runaway Nix on the daemon path: an evaluation that never ends and a build
# that prints without end, through nginx, redis-server and nixery-helper
# with real Nix and --build-timeout 4. Each waiting client gets 500 UNKNOWN
# "Nix timed out" in JSON soon after the timeout (not at
# nixery_wait_timeout), the error's detail stays bounded (the helper keeps
# the last 64 KiB of Nix's stderr), the helper's memory stays bounded while
# the build prints, and the helper builds the next image as usual.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use POSIX ();
use Time::HiRes qw(time sleep);
use Nixery::Test;
use Nixery::Queue;

plan skip_all => 'needs root (Nix single-user store)' if $> != 0;
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;

# Reading a FIFO nobody writes to blocks for ever: an evaluation that never
# ends, without eating memory. The printing builder writes long lines to
# stderr until it is killed (no sandbox: the host's `yes`).
POSIX::mkfifo("$dir/never", 0600) or die "mkfifo: $!";
my $line = 'x' x 200;
$t->write_file('pkgs/default.nix', <<"NIX");
args\@{ system ? builtins.currentSystem, ... }:
(import $root/nix/pkgs args) // {
  evalforever = builtins.readFile "$dir/never";
  printforever = derivation { name = "printforever"; inherit system;
    builder = "/bin/sh";
    args = [ "-c" "exec /usr/bin/yes $line >&2" ]; };
}
NIX

my $q = Nixery::Queue->new($t);
$q->start_redis;
my $helper = $t->spawn('helper', $Nixery::Queue::HELPER, '--redis',
    $q->address, '--storage', $t->storage, '--pkgs-path', "$dir/pkgs",
    '--nix-dir', "$root/nix", '--gc-roots', "$dir/gcroots",
    '--popularity', "$root/nix/popularity.json", '--heartbeat', 1,
    '--build-timeout', 4, '--helper-id', 'runaway');
ok($q->wait_helper('runaway'), 'helper with the Nix builder up')
    or BAIL_OUT('nixery-helper did not start: '
        . ($t->read_file('logs/helper.log') // ''));
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '300s')));
$t->run;

sub status_kb {
    my ($field) = @_;
    open my $fh, '<', "/proc/$helper/status" or return 0;
    while (<$fh>) { return $1 if /^\Q$field\E:\s+(\d+)/ }
    return 0;
}

# GET a manifest, with how long it took; no answer within 90 s is status 0.
sub timed_get {
    my ($uri) = @_;
    my $start = time;
    my ($r) = $q->parallel($t->port, 1, GET => $uri, timeout => 90);
    return ($r, time - $start);
}

sub timed_out_ok {
    my ($what, $r, $took) = @_;
    is($r->{status}, 500, "$what: 500") or diag($r->{raw});
    is($t->error_code($r), 'UNKNOWN', "$what: UNKNOWN");
    my $err = ($t->json($r) // {})->{errors}[0] // {};
    is($err->{message} // '', 'Nix timed out', "$what: 'Nix timed out'");
    # 4 s, then up to 5 s between SIGTERM and SIGKILL, and Nix's start.
    cmp_ok($took, '>=', 3.5, sprintf('%s: not before the timeout (%.1f s)',
        $what, $took));
    cmp_ok($took, '<', 30, sprintf('%s: soon after it, not at the wait ' .
        'timeout (%.1f s)', $what, $took));
    cmp_ok(length $r->{body}, '<', 80 * 1024,
        sprintf('%s: the error stays small (%d bytes)', $what,
            length $r->{body}));
    return $err;
}

my ($r, $took) = timed_get('/v2/evalforever/manifests/latest');
my $err = timed_out_ok('an evaluation that never ends', $r, $took);
like($err->{detail} // '', qr/did not finish within 4 s/,
    'the detail names the timeout');

# What the helper read (rchar counts pipes): Nix's stderr, mostly.
sub read_bytes {
    open my $fh, '<', "/proc/$helper/io" or return 0;
    while (<$fh>) { return $1 if /^rchar:\s+(\d+)/ }
    return 0;
}
my $hwm0 = status_kb('VmHWM');
my $read0 = read_bytes();
($r, $took) = timed_get('/v2/printforever/manifests/latest');
$err = timed_out_ok('a build that prints without end', $r, $took);
my $hwm = status_kb('VmHWM');
my $printed = read_bytes() - $read0;
cmp_ok($printed, '>', 4 << 20, sprintf('the helper read %.0f MiB of ' .
    "Nix's output meanwhile", $printed / (1 << 20)));
cmp_ok($hwm, '<', 64 * 1024, sprintf('helper peak RSS %d kB (was %d kB ' .
    'before), under 64 MiB', $hwm, $hwm0));
like($err->{detail} // '', qr/did not finish within 4 s/, 'here too');

ok(kill(0, $helper), 'the helper is still running');
is($q->cli('XLEN', 'nixery:jobs') =~ /(\d+)/ ? $1 : -1, 0,
    'both jobs done: none left in the stream');
($r, $took) = timed_get('/v2/hello/manifests/latest');
is($r->{status}, 200, 'the next image builds') or diag($r->{raw});
# The helper logs "job done" just after it announced the result.
sub jobs_done {
    scalar(() = ($t->read_file('logs/helper.log') // '')
        =~ /"msg":"job done"/g);
}
Nixery::Test::poll(10, sub { jobs_done() >= 3 });
is(jobs_done(), 3, 'three jobs done');

$t->done;
done_testing;
