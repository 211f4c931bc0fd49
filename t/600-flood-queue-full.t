# Back-pressure on a flood of new names: with nixery_queue_max_length 5,
# 40 distinct uncached names at once queue 5 jobs and get 429
# TOOMANYREQUESTS with Retry-After for the rest, at once; the stream never
# holds more than 5 jobs; a name already queued still waits for its build;
# a cached image is served throughout; the refused names build once the
# queue has room. Real nginx and redis-server, the fake builder.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Time::HiRes qw(time sleep);
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('h', '--fake-delay-ms', 1500);
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '60s',
        extra => "    nixery_queue_max_length 5;\n" .
            "    nixery_retry_after 7s;\n"),
    server => $q->status_conf));
$t->run;
ok($q->wait_helper('h'), 'helper up');

sub xlen { my $n = $q->cli('XLEN', 'nixery:jobs') // ''; $n =~ /(\d+)/ ? $1 : -1 }

my $cached = '/v2/cached/manifests/latest';
is($t->http(GET => $cached)->{status}, 200, 'a first image built');
is(xlen(), 0, 'queue empty');

# The flood, from a child process, while this one watches.
my $flood = $q->background(0, [ map { "/v2/flood$_/manifests/latest" }
    1 .. 40 ]);
my $seen_max = 0;
Nixery::Test::poll(10, sub { my $n = xlen(); $seen_max = $n if $n > $seen_max;
    $n >= 5 });
is(xlen(), 5, 'the queue holds its maximum');

# While full: a new name is refused at once, with Retry-After and JSON.
my $start = time;
my $r = $t->http(GET => '/v2/refused/manifests/latest');
my $took = time - $start;
is($r->{status}, 429, 'a new name while full: 429');
cmp_ok($took, '<', 1, sprintf('at once (%.2f s)', $took));
is($t->error_code($r), 'TOOMANYREQUESTS', 'TOOMANYREQUESTS');
is($r->{headers}{'retry-after'}, '7', 'Retry-After from nixery_retry_after');
like(($t->json($r) // {})->{errors}[0]{message} // '', qr/queue is full/,
    'the message says why');
like($r->{headers}{'content-type'} // '', qr{^application/json},
    'registry JSON');

# A cached image is served at once throughout.
my ($ok, $slowest) = (0, 0);
for (1 .. 50) {
    my $s = time;
    $ok++ if $t->http(GET => $cached)->{status} == 200;
    my $d = time - $s;
    $slowest = $d if $d > $slowest;
}
is($ok, 50, 'cached image: 50 of 50 served while the queue is full');
cmp_ok($slowest, '<', 1, sprintf('slowest cached pull %.3f s', $slowest));

# A name already queued is not refused: it waits and is built.
my ($queued) = ($q->cli('--raw', 'XRANGE', 'nixery:jobs', '-', '+') // '')
    =~ /"name":"(flood\d+)"/;
ok(defined $queued, 'a queued name read from the stream');
my $w = $q->background(1, "/v2/$queued/manifests/latest");

my $answers = $flood->();
for (1 .. 50) { my $n = xlen(); $seen_max = $n if $n > $seen_max; }
my @a = split ' ', $answers;
is(scalar @a, 40, '40 answers');
my $built = grep { $_ eq '200:' } @a;
my $full = grep { $_ eq '429:TOOMANYREQUESTS' } @a;
is($built, 5, '5 flood names built');
is($full, 35, '35 refused with 429 TOOMANYREQUESTS') or diag($answers);
is($w->(), "200:\n", 'the request for a queued name waited and got 200');
cmp_ok($seen_max, '<=', 5, "the stream never held more than 5 ($seen_max)");
is($q->builds, 6, 'six builds: the first image and five of the flood');

my $s = $q->status_when(sub { $_[0]{waiting} == 0 });
is($s->{queue_full}, 36, 'nixery_status counts 36 refusals');
# One warn line a second at most, each counting the refusals left out
# before it (those after the last line are in nixery_status only).
my @warn = $t->error_log_lines(qr/\[warn\].*nixery: the build queue is full/);
my $logged = 0;
$logged += 1 + (/and (\d+) more since/ ? $1 : 0) for @warn;
ok(@warn >= 1 && @warn < 36, scalar(@warn) . ' warn lines, not one each');
cmp_ok($logged, '<=', 36, "counting $logged refusals, none twice");
like($warn[0] // '', qr/nixery_queue_max_length 5\): refused image [0-9a-f]{64}/,
    'naming the limit and the image key');

# Once the queue has room the refused name builds.
is($t->http(GET => '/v2/refused/manifests/latest')->{status}, 200,
    'the refused name builds once there is room');

$t->done;
done_testing;
