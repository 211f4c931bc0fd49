# Popularity data from a file and over HTTP changes the layer order (popular
# layers first); a source that cannot be read fails the assembly with a
# clear error instead of silently building another image.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::More;
use Nixery::Test;
use Nixery::Store qw(make_fixture_store write_closure read_json blob_file
    manifest_file);

my $dir = tempdir('nixery-203-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);
write_closure("$dir/closure.json", $store);
open(my $fh, '>', "$dir/pop.json") or die;
print $fh '{"weird-1.0": 1000000, "bash": 3}';
close $fh;

# Run nixery-assemble with extra arguments; (exit status, first history
# entry's created_by, stderr).
sub run_with {
    my ($storage, @extra) = @_;
    my $out = `$Nixery::Store::ASSEMBLE --storage '$dir/$storage' --closure '$dir/closure.json' --name weird --store-prefix '$prefix' @extra 2>'$dir/err'`;
    my $status = $? >> 8;
    my $err = `cat '$dir/err'`;
    return ($status, undef, $err) if $status;
    my ($hex) = $out =~ /"oci":"sha256:([0-9a-f]{64})"/;
    my $m = read_json(manifest_file("$dir/$storage", 'oci', $hex));
    my $c = read_json(blob_file("$dir/$storage", $m->{config}{digest}));
    return ($status, $c->{history}[0]{created_by}, $err);
}

my ($st, $first) = run_with('plain');
is($st, 0, 'no popularity data');
unlike($first, qr/weird-1\.0/, 'weird is not first without data');

($st, $first) = run_with('file', '--popularity', "'$dir/pop.json'");
is($st, 0, 'popularity from a file');
like($first, qr/weird-1\.0/, 'the popular package comes first');

# A tiny HTTP server on a free port.
my $port = Nixery::Test::free_port();
my $pid = fork // die;
if (!$pid) {
    open(STDOUT, '>', '/dev/null');
    open(STDERR, '>', '/dev/null');
    exec('python3', '-m', 'http.server', '--bind', '127.0.0.1',
        '--directory', $dir, $port) or exit 127;
}
Nixery::Test::poll(5,
    sub { IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port") });
($st, $first) = run_with('http', '--popularity',
    "http://127.0.0.1:$port/pop.json");
is($st, 0, 'popularity over HTTP');
like($first, qr/weird-1\.0/, 'same order as from the file');

my $err;
($st, undef, $err) = run_with('missing', '--popularity',
    "http://127.0.0.1:$port/nope.json");
is($st, 1, 'a missing URL fails');
like($err, qr/popularity: fetching .* failed/, 'with a clear error');
ok(!-d "$dir/missing/index", 'and nothing is published');

kill 'TERM', $pid;
waitpid($pid, 0);

($st, undef, $err) = run_with('bad', '--popularity', "'$dir/closure.json'");
is($st, 1, 'a file that is not popularity data fails');
like($err, qr/popularity: count of/, 'with a clear error');

done_testing;
