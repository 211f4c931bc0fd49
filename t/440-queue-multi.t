# Two nginx workers and two helpers on one Redis: many clients for several
# uncached images, spread over both workers, build each image exactly once,
# different images build in parallel on both helpers, and every client of
# an image gets the same digest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t);
$q->start_redis;
$q->start_helper('one', '--fake-delay-ms', 1000);
$q->start_helper('two', '--fake-delay-ms', 1000);
$t->write_config($t->registry_conf(http => $q->http_conf(wait => '60s'),
    workers => 2));
$t->run;
ok($q->wait_helper('one') && $q->wait_helper('two'), 'two helpers up');
my @w = $t->worker_pids;
is(scalar @w, 2, 'two nginx workers');

my @images = map { "multi$_" } 1 .. 4;
my @uris = map { my $i = $_; map { "/v2/$i/manifests/latest" } 1 .. 40 }
    @images;
my @r = $q->parallel($t->port, 0, GET => \@uris);
is(scalar(grep { $_->{status} == 200 } @r), 160, '160 clients all get 200');
for my $k (0 .. $#images) {
    my %d = map { $_->{headers}{'docker-content-digest'} => 1 }
        @r[$k * 40 .. $k * 40 + 39];
    is(scalar keys %d, 1, "$images[$k]: one digest for its 40 clients");
    is($q->builds("$images[$k]:latest"), 1, "$images[$k]: built once");
}
my %by = (one => 0, two => 0);
for my $h (keys %by) {
    my $log = $t->read_file("logs/$h.log") // '';
    $by{$h} = () = $log =~ /"msg":"job done"/g;
}
ok($by{one} >= 1 && $by{two} >= 1,
    "both helpers built images (one: $by{one}, two: $by{two})");
my @served = $t->error_log_lines(qr/nixery: build result for/);
my %workers = map { /\[info\] (\d+)#/ ? ($1 => 1) : () } @served;
is(scalar keys %workers, 2, 'both nginx workers had clients waiting');

$t->done;
done_testing;
