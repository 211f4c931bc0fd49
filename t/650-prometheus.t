# Prometheus metrics, end to end: the system as `make run` starts it
# (scripts/run.sh) exposes nginx's counters at /metrics (`nixery_status
# prometheus`) and the helper's on METRICS_PORT (`--metrics-listen`);
# `promtool check metrics` accepts both; a real Prometheus (Debian's)
# scrapes both every second, and after two builds a PromQL query through
# its HTTP API says 2 images were built.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP ();
use Test::More;
use Nixery::Test;
use Nixery::Run;

Nixery::Test::need(-x '/usr/bin/prometheus' && -x '/usr/bin/promtool',
    'needs prometheus and promtool (Debian package prometheus)');

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $port = $t->port;
my $run = Nixery::Run->start($t);
my $helper_port = $run->metrics_port;

# What each exposes; promtool's linter accepts it (names, units, _total,
# HELP and TYPE).
sub promtool_check {
    my ($text, $what) = @_;
    $t->write_file("$dir/metrics.txt", $text);
    my ($rc, $out) = Nixery::Test::command('sh', '-c',
        "promtool check metrics < '$dir/metrics.txt'");
    is($rc, 0, "promtool check metrics: $what") or diag($out);
}
# The workers connect to Redis just after start: wait for both (up to 10 s).
my $nginx = Nixery::Test::poll(10, sub { $t->http(GET => '/metrics') },
    sub { ($_[0]{body} // '') =~ /^nixery_redis_connected_workers 2$/m });
is($nginx->{status}, 200, 'nginx /metrics: 200');
like($nginx->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
    'nginx: the text format 0.0.4');
like($nginx->{body}, qr/^nixery_redis_connected_workers 2$/m,
    'nginx: both workers have Redis');
promtool_check($nginx->{body}, 'nginx');

my $helper = $t->http(GET => '/metrics', port => $helper_port);
is($helper->{status}, 200, 'helper /metrics: 200');
like($helper->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
    'helper: the text format 0.0.4');
like($helper->{body}, qr/^nixery_helpers_alive 1$/m, 'helper: one alive');
like($helper->{body}, qr/^nixery_helper_jobs_total\{outcome="built"\} 0$/m,
    'helper: nothing built yet');
promtool_check($helper->{body}, 'helper');

# Prometheus scrapes both every second.
my $prom_port = Nixery::Test::free_port();
$t->write_file("$dir/prometheus.yml", <<"YML");
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: nixery-nginx
    static_configs:
      - targets: ['127.0.0.1:$port']
  - job_name: nixery-helper
    static_configs:
      - targets: ['127.0.0.1:$helper_port']
YML
my ($rc, $out) = Nixery::Test::command('promtool', 'check', 'config',
    "$dir/prometheus.yml");
is($rc, 0, 'promtool check config') or diag($out);
$t->spawn('prometheus', 'prometheus', "--config.file=$dir/prometheus.yml",
    "--storage.tsdb.path=$dir/prometheus-data",
    "--web.listen-address=127.0.0.1:$prom_port", '--log.level=warn');
ok($t->wait_port($prom_port, 60), 'Prometheus listens');

# An instant PromQL query through the HTTP API: the first sample's value.
sub query {
    my ($promql) = @_;
    my $q = $promql =~ s/([^A-Za-z0-9_.~-])/sprintf('%%%02X', ord $1)/ger;
    my $r = eval { $t->http(GET => "/api/v1/query?query=$q",
        port => $prom_port) };
    return undef unless $r && $r->{status} == 200;
    my $doc = eval { JSON::PP::decode_json($r->{body}) } or return undef;
    my $result = $doc->{data}{result} // [];
    return @$result ? $result->[0]{value}[1] : undef;
}
sub query_until {
    my ($promql, $want) = @_;
    return Nixery::Test::poll(30, sub { query($promql) },
        sub { defined $_[0] && $_[0] eq $want });
}

is(query_until('sum(up{job=~"nixery-.*"})', '2'), '2',
    'Prometheus scrapes nginx and the helper');

# Two builds with the bundled package set.
for my $image (qw(hello jq)) {
    my $r = $t->http(GET => "/v2/$image/manifests/latest", timeout => 300);
    is($r->{status}, 200, "$image: built and served");
}
is($run->jobs('built', 2), 2, 'the helper built two images');

is(query_until('sum(nixery_helper_jobs_total{outcome="built"})', '2'), '2',
    'PromQL: 2 images built');
is(query_until('sum(nixery_tag_misses_total)', '2'), '2',
    'PromQL: nginx sent 2 manifests by tag to the queue');
is(query_until('sum(nixery_waits_ended_total{result="built"})', '2'), '2',
    'PromQL: 2 waits ended with the image');
is(query_until('sum(nixery_helper_build_duration_seconds_count)', '2'), '2',
    'PromQL: 2 build durations observed');
ok((query('sum(nixery_helper_layers_total{source="built"})') // 0) > 0,
    'PromQL: layers were built');
ok((query('sum(nixery_helper_written_bytes_total)') // 0) > 0,
    'PromQL: bytes were written');

# A cached pull: a tag hit, and a 200 for the manifest route.
is($t->http(GET => '/v2/hello/manifests/latest')->{status}, 200,
    'hello again: from storage');
is(query_until('sum(nixery_tag_hits_total)', '1'), '1', 'PromQL: one tag hit');
is(query_until('sum(nixery_requests_total{route="manifest_by_tag"})', '3'),
    '3', 'PromQL: 3 manifests by tag routed');

# Both still pass the linter with every series in use.
promtool_check($t->http(GET => '/metrics')->{body}, 'nginx, after builds');
promtool_check($t->http(GET => '/metrics', port => $helper_port)->{body},
    'helper, after builds');

ok($t->stop('prometheus'), 'Prometheus stopped');
my %procs = $run->processes;
is($run->stop('TERM'), 0, 'run.sh exits 0 on SIGTERM');
is(join(' ', $run->alive(%procs)), '', 'every process is gone');

$t->done;
done_testing;
