# nixery_status: counters shared by every worker, as JSON. Requests by tag
# answered from storage or sent to the queue, requests waiting now and in
# all, how they ended (image, build error, wait timeout, queue down),
# nixery_rejected answers, and how many workers have Redis; kept across a
# reload.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use JSON::PP;
use Test::More;
use Nixery::Test;
use Nixery::Queue;

my $t = Nixery::Test->new;
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
$q->start_helper('helper', '--fake-delay-ms', 600);
ok($q->wait_helper('helper'), 'helper up');
# The wait (3 s) leaves room for the 600 ms build on a loaded machine and
# under the sanitizers (make sanitize); the no-helper case waits it out.
my $conf = $t->registry_conf(
    http => $q->http_conf(wait => '3s', extra => "    nixery_redis_timeout 2s;\n"),
    workers => 2,
    server => <<'SERVER');
        error_page 400 414 494 /.nixery-rejected;
        location = /.nixery-rejected { internal; nixery_rejected; }
        location = /status { nixery_status; }
        location = /metrics { nixery_status prometheus; }
SERVER
$t->write_config($conf);
$t->run;

sub status {
    my $r = $t->http(GET => '/status');
    return $r->{status} == 200 ? decode_json($r->{body}) : { http => $r->{status} };
}
# The counters once they satisfy $cond (or after 10 s).
sub status_when { Nixery::Test::poll(10, \&status, $_[0]) }

my $s = status_when(sub { $_[0]{redis_workers} == 2 });
is($s->{redis_workers}, 2, 'both workers have Redis');
is_deeply([ sort keys %$s ], [ sort qw(tag_hits tag_misses waiting waited
    built failed timed_out unavailable rejected queue_full redis_workers
    tags_listed tags_absent tags_unreadable tags_unavailable) ],
    'every counter is there');
is($s->{$_}, 0, "$_ starts at 0") for qw(tag_hits tag_misses waiting waited
    built failed timed_out unavailable rejected queue_full tags_listed
    tags_absent tags_unreadable tags_unavailable);
my $r = $t->http(GET => '/status');
like($r->{headers}{'content-type'}, qr{^application/json}, 'JSON');
is($r->{headers}{'cache-control'}, 'no-store', 'not cached');
is($t->http(HEAD => '/status')->{body}, '', 'HEAD: no body');
is($t->http(POST => '/status')->{status}, 405, 'POST: 405');

# Five clients wait on one build.
my $clients = $q->background(5, '/v2/counted/manifests/latest');
$s = status_when(sub { $_[0]{waiting} == 5 });
is($s->{waiting}, 5, 'five requests waiting now');
is($s->{waited}, 5, 'five waited in all');
is($s->{tag_misses}, 5, 'five misses');
is($clients->(), join(' ', ('200:') x 5) . "\n", 'all got the image');
$s = status_when(sub { $_[0]{waiting} == 0 });
is($s->{waiting}, 0, 'none waiting after the build');
is($s->{built}, 5, 'five answered with their image');

# From storage now; a build error; a nginx rejection.
is($t->http(GET => '/v2/counted/manifests/latest')->{status}, 200, 'cached');
is($t->http(GET => '/v2/brokenpkg/manifests/latest')->{status}, 500, 'build error');
is($t->http(undef, undef,
    raw => "GET /v2/a\x01b/manifests/latest HTTP/1.1\r\nHost: x\r\n\r\n")->{status},
    400, 'a request line nginx refuses');
$s = status();
is($s->{tag_hits}, 1, 'one answered from storage');
is($s->{failed}, 1, 'one build error');
is($s->{rejected}, 1, 'one rejected');
is($t->http(POST => '/v2/')->{status}, 405, 'POST to the registry: 405');

# The same counters for Prometheus, plus requests by route and responses
# by code (counted at the log phase: after the response went out).
sub prom {
    my $r = $t->http(GET => '/metrics');
    return { map { /^(\S+) (-?\d+)$/ ? ($1 => $2) : () } split /\n/, $r->{body} };
}
my $m = Nixery::Test::poll(10, \&prom,
    sub { ($_[0]{'nixery_responses_total{code="405"}'} // 0) == 1 });
my $p = $t->http(GET => '/metrics');
like($p->{headers}{'content-type'}, qr{^text/plain; version=0\.0\.4},
    'prometheus: the text format 0.0.4');
like($p->{body}, qr/^# TYPE nixery_tag_hits_total counter$/m,
    'prometheus: TYPE lines');
$s = status();
is($m->{nixery_tag_hits_total}, $s->{tag_hits}, 'prometheus: tag hits');
is($m->{nixery_tag_misses_total}, $s->{tag_misses}, 'prometheus: misses');
is($m->{'nixery_waits_ended_total{result="built"}'}, 5,
    'prometheus: waits ended with the image');
is($m->{'nixery_waits_ended_total{result="failed"}'}, 1,
    'prometheus: waits ended with the build error');
is($m->{nixery_rejected_requests_total}, 1, 'prometheus: rejected');
is($m->{nixery_redis_connected_workers}, 2, 'prometheus: workers with Redis');
is($m->{'nixery_requests_total{route="manifest_by_tag"}'}, 7,
    'prometheus: 7 manifests by tag routed');
is($m->{'nixery_requests_total{route="refused"}'}, 1,
    'prometheus: the POST refused before routing');
is($m->{'nixery_responses_total{code="200"}'}, 6, 'prometheus: six 200s');
is($m->{'nixery_responses_total{code="500"}'}, 1, 'prometheus: one 500');
is($m->{'nixery_responses_total{code="405"}'}, 1, 'prometheus: one 405');
is($m->{'nixery_responses_total{code="400"}'}, 0,
    'prometheus: the rejection is not a nixery location\'s response');

# No helper: the wait timeout.
$t->stop('helper');
is($t->http(GET => '/v2/nohelper/manifests/latest')->{status}, 503,
    'no helper: 503 after the wait timeout');
is(status()->{timed_out}, 1, 'one timed out');

# Redis down: the workers say so, and misses are unavailable.
$q->stop_redis;
$s = status_when(sub { $_[0]{redis_workers} == 0 });
is($s->{redis_workers}, 0, 'no worker has Redis');
is($t->http(GET => '/v2/redisdown/manifests/latest')->{status}, 503,
    'Redis down: 503');
is(status()->{unavailable}, 1, 'one unavailable');
$q->start_redis;
$s = status_when(sub { $_[0]{redis_workers} == 2 });
is($s->{redis_workers}, 2, 'both workers reconnected');

# A reload keeps the counters; the gauge follows the new workers.
my $waited = $s->{waited};
my @old = $t->wait_workers(2);
kill 'HUP', $t->pid('nginx');
# Until the old workers have gone, their Redis connections count.
is(Nixery::Test::poll(10, sub { scalar grep { kill 0, $_ } @old },
    sub { $_[0] == 0 }), 0, 'the old workers exited');
$s = status_when(sub { $_[0]{redis_workers} == 2 && $_[0]{waited} == $waited });
is($s->{waited}, $waited, 'counters kept across a reload');
is($s->{redis_workers}, 2, 'two workers with Redis after the reload');

# Configuration mistakes are refused by nginx -t, saying why.
sub conf_test {
    my (%conf) = @_;
    my $b = Nixery::Test->new;
    $b->write_config($b->registry_conf(%conf));
    my $out = `$Nixery::Test::NGINX -t -p @{[ $b->dir ]}/ -c conf/nginx.conf 2>&1`;
    return ($? >> 8, $out);
}
my ($rc, $out) = conf_test(
    server => "        location = /s { nixery_status; nixery_status; }\n");
isnt($rc, 0, 'nixery_status twice in a location: refused');
like($out, qr/"nixery_status" directive is duplicate/, 'and says so');
($rc, $out) = conf_test(
    server => "        location = /s { nixery_status yaml; }\n");
like($out, qr/"nixery_status" takes "json" or "prometheus", not "yaml"/,
    'nixery_status with an unknown format: refused');
($rc, $out) = conf_test(location => "            nixery_status;\n");
like($out, qr/"nixery_status" directive is duplicate, or the location has a content handler/,
    'nixery_status where nixery already answers: refused');
($rc, $out) = conf_test(http => qq{    nixery_redis_auth "";\n});
isnt($rc, 0, 'nixery_redis_auth with an empty password: refused');
like($out, qr/"nixery_redis_auth" directive needs a password/, 'and says so');
($rc, $out) = conf_test(http => "    nixery_redis_auth a b c;\n");
like($out, qr/invalid number of arguments in "nixery_redis_auth"/,
    'nixery_redis_auth with three arguments: refused');

$t->done;
done_testing;
