# See bench/bucket_redirect.sh. Two nginx instances (1 worker each,
# access_log off), each answering both ways: /v2/ through the module
# (a SigV4 URL signed once per blob and window) and /plain/ with `return 307` and a
# constant Location as long as the module's. Each round runs two wrk at the
# same time, module on one instance and plain on the other, swapping every
# round, so load from other processes hits both alike; the median of the
# per-round ratios module/plain is printed.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib";
use Test::More;
use Nixery::Test;

my $rounds = $ENV{BENCH_ROUNDS} // 6;
my $seconds = $ENV{BENCH_SECONDS} // 3;
my $hex = 'ab' . ('0' x 62);
my $uri = "/v2/bench/blobs/sha256:$hex";

sub start {
    my ($location) = @_;
    my $t = Nixery::Test->new;
    $t->write_file('conf/bucket.env',
        "AWS_ACCESS_KEY_ID=AKIDBENCH\nAWS_SECRET_ACCESS_KEY=bench/secret\n");
    $t->write_config($t->http_conf(<<"CONF"));
    access_log off;
    nixery_bucket s3 images endpoint=http://127.0.0.1:9;
    nixery_bucket_credentials %%PREFIX%%/conf/bucket.env;
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v2/ { nixery; nixery_storage %%STORAGE%%; }
        location = /plain { return 307 "$location"; }
    }
CONF
    $t->run;
    return $t;
}

# The module's Location, to size the plain one alike.
my $probe = start('x');
my $loc = $probe->http(GET => $uri)->{headers}{location} or die "no Location\n";
$probe->done;
(my $same = $loc) =~ s/X-Amz-Signature=[0-9a-f]+/'X-Amz-Signature=' . ('f' x 64)/e;
die "lengths differ\n" unless length $same == length $loc;
my @inst = (start($same), start($same));

sub pair {
    my @sides = @_;
    my @fh;
    for my $s (@sides) {
        open my $fh, '-|', 'wrk', '-t1', '-c5', "-d${seconds}s",
            'http://127.0.0.1:' . $s->[0]->port . $s->[1] or die "wrk: $!";
        push @fh, $fh;
    }
    return map {
        local $/;
        my $o = readline($_) // '';
        close $_;
        die "wrk saw errors:\n$o" if $o =~ /Non-2xx|Socket errors/;
        ($o =~ /Requests\/sec:\s+([\d.]+)/)[0] // die "wrk:\n$o";
    } @fh;
}

sub median { my @s = sort { $a <=> $b } @_; $s[$#s / 2] }
my (@ratio, @mod, @plain);
for my $round (1 .. $rounds) {
    my ($m, $p) = $round % 2 ? @inst : reverse @inst;
    my ($mr, $pr) = pair([ $m, $uri ], [ $p, '/plain' ]);
    push @mod, $mr;
    push @plain, $pr;
    push @ratio, $mr / $pr;
}
printf "bucket redirect bench: %d rounds of %ds, Location %d bytes\n",
    $rounds, $seconds, length $loc;
printf "  module %.0f req/s, plain return 307 %.0f req/s; ratio %.3f\n",
    median(@mod), median(@plain), median(@ratio);
printf "  per-round ratios: %s\n", join ' ', map { sprintf '%.3f', $_ } @ratio;
$_->done for @inst;
done_testing;
