use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../t/lib", "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use Test::More;
use Nixery::ModuleBench qw(add_bench_image bench_conf);
use Nixery::Test;

my $seconds = $ENV{BENCH_SECONDS} // 5;
my $accept = 'Accept: application/vnd.docker.distribution.manifest.v2+json';

# One nginx (master_process off, so callgrind sees the worker) under
# callgrind; returns user-space instructions per request for $which
# ('module', 'static', or 'metrics': the module with a `nixery_status
# prometheus` location, so that every request is counted).
sub per_request {
    my ($which) = @_;
    my $t = Nixery::Test->new;
    my ($fx, $img) = add_bench_image($t->storage);
    my $conf = $t->http_conf(bench_conf());
    $conf =~ s/master_process on;/master_process off;/;
    $conf =~ s{(location /static/)}
        {location = /metrics { nixery_status prometheus; }\n        $1}
        if $which eq 'metrics';
    $t->write_config($conf);
    my $out = tempdir(CLEANUP => 1) . "/callgrind.out";
    my $pid = fork() // die "fork: $!";
    if (!$pid) {
        open STDERR, '>', $t->dir . '/logs/valgrind.log';
        exec 'valgrind', '--tool=callgrind', "--callgrind-out-file=$out",
            $Nixery::Test::NGINX, '-p', $t->dir . '/', '-c', 'conf/nginx.conf';
        exit 127;
    }
    $t->wait_port($t->port, 60) or die "nginx under valgrind did not start\n";
    my $path = $which ne 'static' ? '/v2/shell/hello/manifests/latest'
        : '/static/' . $fx->manifest_path('docker', $img->{docker}{hex});
    my $url = 'http://127.0.0.1:' . $t->port . $path;
    system("wrk -t1 -c1 -d1s -H '$accept' '$url' > /dev/null");  # warm up
    system("callgrind_control -z $pid > /dev/null") == 0 or die "callgrind_control\n";
    my $wrk = `wrk -t1 -c1 -d${seconds}s -H '$accept' '$url'`;
    my ($requests) = $wrk =~ /(\d+) requests in/ or die "wrk: $wrk\n";
    system("callgrind_control -d $pid > /dev/null") == 0 or die "dump\n";
    kill 'QUIT', $pid;
    waitpid $pid, 0;
    my ($dump) = grep { -s } glob("$out.*") or die "no callgrind dump\n";
    my ($total) = `callgrind_annotate $dump 2>/dev/null` =~
        /([\d,]+) \([\d.]+%\)\s+PROGRAM TOTALS/ or die "no totals\n";
    $total =~ s/,//g;
    return $total / $requests;
}

my $module = per_request('module');
my $metrics = per_request('metrics');
my $static = per_request('static');
printf "module instructions: cached manifest by tag %.0f, static file %.0f "
    . "per request; ratio %.3f (target >= 0.9)\n",
    $module, $static, $static / $module;
printf "with metrics (nixery_status prometheus): %.0f per request, "
    . "%+.0f for counting\n", $metrics, $metrics - $module;
ok($module > 0 && $static > 0 && $metrics > 0, 'every path measured');
done_testing;
