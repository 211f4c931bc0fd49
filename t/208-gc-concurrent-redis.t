# t/207 across hosts: the collector in a loop while two nixery-assemble
# processes build images at once, all three taking the collection lock in
# Redis (--gc-lock redis) instead of flock on gc.lock, as helpers on
# several hosts sharing a bucket do. Twice: on a directory (where no
# gc.lock is ever created: only the Redis leases keep the collector from
# removing a layer a build has just found in the layer cache), and on an
# S3 bucket (Ceph's RGW), where the lock is Redis's by default and every
# list, get and delete of the collector goes to the bucket.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use POSIX ();
use Test::More;
use Nixery::Test;
use Nixery::Bucket;
use Nixery::Queue;
use Nixery::Store qw(write_closure assemble capture read_json blob_file
    manifest_file);

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
my @redis = ('--redis', $q->address);

my $GC = "$Nixery::Store::BUILD/cmake/helper/nixery-gc";
my $dir = $t->dir;
my $prefix = "$dir/prefix";

# As in t/207: a shared library every image requests (a layer of its own,
# found in the layer cache by every build after the first), one small
# package per image; expired images (e) and pinned ones (p).
my $lib = '/nix/store/' . Nixery::Store::hash32('l') . '-lib-1.0';
Nixery::Store::spew("$prefix$lib/lib/libshared.so",
    join('', map { "shared $_\n" } 1 .. 20000), 0444);
my $rounds = 12; # per assembler
my @names;
for my $a (1, 2) {
    for my $i (1 .. $rounds) {
        for my $kind ('e', 'p') {
            my $n = "$kind$a-$i";
            my $p = sprintf('/nix/store/%s-%s-1.0',
                Nixery::Store::hash32($kind eq 'e' ? "x$a" : "y$a"), $n);
            Nixery::Store::spew("$prefix$p/bin/$n", "$n\n", 0555);
            write_closure("$dir/$n.json", {
                paths => [ { path => $lib, narSize => 400000, references => [] },
                           { path => $p, narSize => 100, references => [$lib] } ],
                roots => [ $lib, $p ] });
        }
    }
}

# The whole scenario on one storage: $be has the storage's flags and
# environment, the lock flags, and how to read an object of it.
sub run_on {
    my ($be) = @_;
    unlink "$dir/gc.runs", "$dir/gc.log",
        map { ("$dir/pinned-$_", "$dir/assemble-$_.log") } 1, 2;
    my $gc = sub {
        local %ENV = (%ENV, %{ $be->{env} });
        capture("$dir/gc.log", $GC, @{ $be->{storage_args} },
            '--keep-expired', 0, @{ $be->{lock} }, @redis, @_);
    };

    # The collector, over and over, until told to stop.
    my $gc_pid = fork // die "fork: $!";
    if ($gc_pid == 0) {
        %ENV = (%ENV, %{ $be->{env} });
        my ($runs, $stop) = (0, 0);
        local $SIG{TERM} = sub { $stop = 1 };
        while (!$stop) {
            my ($st) = $gc->();
            POSIX::_exit(1) if $st != 0;
            $runs++;
        }
        $t->write_file('gc.runs', "$runs\n");
        POSIX::_exit(0);
    }

    # Two assemblers at once, each alternating expired and pinned images; each
    # writes the pinned images' digests, one JSON line each.
    my @assemblers;
    for my $a (1, 2) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            %ENV = (%ENV, %{ $be->{env} });
            my $failed = 0;
            open my $out, '>', "$dir/pinned-$a" or POSIX::_exit(99);
            for my $i (1 .. $be->{rounds}) {
                for my $kind ('e', 'p') {
                    my ($r) = assemble(storage => $be->{storage},
                        closure => "$dir/$kind$a-$i.json", name => "$kind$a-$i",
                        prefix => $prefix,
                        args => [ @{ $be->{lock} }, @redis ],
                        ($kind eq 'e' ? (expires => 1000) : ()),
                        log => "$dir/assemble-$a.log");
                    $failed++ unless $r;
                    print $out encode_json($r), "\n" if $r && $kind eq 'p';
                }
            }
            close $out;
            POSIX::_exit($failed);
        }
        push @assemblers, $pid;
    }
    for my $a (1, 2) {
        waitpid($assemblers[$a - 1], 0);
        is($? >> 8, 0, "assembler $a built all its images")
            or diag($t->read_file("assemble-$a.log"));
    }
    kill 'TERM', $gc_pid;
    waitpid($gc_pid, 0);
    is($? >> 8, 0, 'the collector never failed')
        or diag(join '', grep { /"level":"(error|warn)"/ }
            split /^/, $t->read_file('gc.log') // '');
    my $runs = $t->read_file('gc.runs') // 0;
    chomp $runs;
    cmp_ok($runs, '>=', 5, "the collector ran $runs times meanwhile");
    my $collected = () = ($t->read_file('gc.log') // '') =~ /"index_removed":[1-9]/g;
    cmp_ok($collected, '>=', 1, "$collected runs collected expired images");
    my $waited = () = join('', map { $t->read_file("assemble-$_.log") // '' } 1, 2)
        =~ /waiting for the collector/g;
    note("assemblies that waited for a collection: $waited");

    # Every pinned image is whole: its manifests and every blob they name.
    my (@pinned, @missing);
    for my $a (1, 2) {
        push @pinned, map { decode_json($_) } grep { /\S/ }
            split /\n/, $t->read_file("pinned-$a") // '';
    }
    for my $p (@pinned) {
        for my $kind ('docker', 'oci') {
            my ($hex) = $p->{$kind} =~ /:(.*)/;
            my $m = eval { decode_json($be->{read}->(
                Nixery::Fixture->manifest_path($kind, $hex)) // die) };
            if (!$m) {
                push @missing, "$kind manifest $hex";
                next;
            }
            for my $d ($m->{config}{digest}, map { $_->{digest} } @{ $m->{layers} }) {
                push @missing, "blob $d"
                    unless $be->{exists}->(Nixery::Fixture->blob_path($d));
            }
        }
    }
    is(scalar @pinned, 2 * $be->{rounds}, 'all pinned images built');
    is_deeply(\@missing, [], 'no pinned image names a missing manifest or blob');
    ok(!-e "$be->{storage}/gc.lock", 'no flock was taken: the Redis lock did it all')
        if $be->{storage};
    is($q->cli('--scan', '--pattern', 'nixery:gc:*'), '',
        'no lease is left in Redis');

    # And with the collector stopped, one last run leaves them all alone.
    my ($st, $text) = $gc->();
    my $last = eval { decode_json($text) } // {};
    is($last->{index_kept}, 2 * $be->{rounds}, 'the pinned entries are all kept');
    is($last->{blobs_removed}, 0, 'nothing of theirs is collectable');
}

subtest 'a directory, with --gc-lock redis' => sub {
    my $storage = $t->storage;
    run_on({
        rounds => $rounds,
        storage => $storage,
        storage_args => [ '--storage', $storage ],
        env => {},
        lock => [ '--gc-lock', 'redis' ],
        read => sub { $t->read_file("$storage/$_[0]") },
        exists => sub { -e "$storage/$_[0]" },
    });
};

subtest 'an S3 bucket (RGW), the Redis lock by default' => sub {
    Nixery::Test::need_or_skip(Nixery::Bucket::available(),
        'Ceph RGW is not installed', 1);
    my $s3 = Nixery::Bucket->new($t);
    $s3->create_bucket('gc-images');
    run_on({
        # Every collection lists and reads the bucket over HTTP: fewer
        # rounds keep the file's time within make test's budget.
        rounds => 2,
        storage => undef,
        storage_args => [],
        env => { $s3->env('gc-images'), NIXERY_STORAGE_TMP => "$dir/upload" },
        lock => [],
        read => sub {
            my ($status, $body) = $s3->get('gc-images', $_[0]);
            return $status == 200 ? $body : undef;
        },
        exists => sub { ($s3->curl('-I', $s3->url('gc-images', $_[0])))[0] == 200 },
    });
};

# A wrong kind is bad usage, as for every flag.
my ($bad) = capture("$dir/bad.log", $GC, '--storage', $t->storage,
    '--gc-lock', 'nfs');
is($bad, 2, '--gc-lock nfs: usage error');

$t->done;
done_testing;
