# nixery_builds with the fake builder (no Nix): clients waiting on one
# image through two nginx workers are counted together (each worker's
# count in Redis), the count drops when they are answered, a failed build
# is listed with its message, the board answers 503 in the registry's JSON
# while Redis is down and again once it is back, and nixery_builds without
# nixery_redis is a configuration error.
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
$q->start_helper('helper', '--fake-delay-ms', 3000);
ok($q->wait_helper('helper'), 'helper up');
$t->write_config($t->registry_conf(
    http => $q->http_conf(wait => '20s',
        extra => "    nixery_redis_timeout 2s;\n"),
    workers => 2,
    server => "        location = /builds { nixery_builds; }\n"));
$t->run;

sub board {
    my $r = $t->http(GET => '/builds');
    return $r->{status} == 200 ? decode_json($r->{body})
        : { http => $r->{status}, body => $r->{body} };
}
sub board_when { Nixery::Test::poll(15, \&board, $_[0]) }
sub waiting {
    my ($b, $image) = @_;
    my ($e) = grep { $_->{image} eq $image } @{ $b->{builds} // [] };
    return $e ? $e->{waiting} : -1;
}

my $b = board_when(sub { exists $_[0]{builds} });
is_deeply($b->{builds}, [], 'an empty board');

# Six clients on separate connections: nginx spreads them over both
# workers, and the board adds up what each worker wrote.
my $clients = $q->background(6, '/v2/counted/manifests/latest');
$b = board_when(sub { waiting($_[0], 'counted:latest') == 6 });
is(waiting($b, 'counted:latest'), 6, 'six clients waiting, every worker');
is($b->{builds}[0]{phase}, 'resolving', 'the fake build is resolving');
is($b->{queue}{building}, 1, 'one job building');
is($clients->(), join(' ', ('200:') x 6) . "\n", 'all got the image');
$b = board_when(sub { !@{ $_[0]{builds} // [1] } });
is_deeply($b->{builds}, [], 'the build left the board');
# Once nobody waits, each worker deletes its count (an empty hash is gone).
my $keys = Nixery::Test::poll(5,
    sub { $q->cli('--scan', '--pattern', 'nixery:waiters:*') // '' },
    sub { $_[0] !~ /\S/ });
like($keys, qr{^\s*$}, 'no waiting counts left in Redis');

my $f = $t->http(GET => '/v2/brokenpkg/manifests/latest');
is($f->{status}, 500, 'the failing build: 500');
$b = board_when(sub { @{ $_[0]{failures} // [] } });
is($b->{failures}[0]{image}, 'brokenpkg:latest', 'the failure is listed');
is($b->{failures}[0]{code}, 'UNKNOWN', 'with its code');
like($b->{failures}[0]{detail}, qr/\S/, 'and its detail');

$q->stop_redis;
$b = board_when(sub { ($_[0]{http} // 0) == 503 });
is($b->{http}, 503, 'Redis down: 503');
like($b->{body}, qr/"code":"UNAVAILABLE"/, 'in the registry JSON');
$q->start_redis;
$b = board_when(sub { exists $_[0]{builds} });
ok(exists $b->{builds}, 'Redis back: the board again');

$t->done;

# Without the queue there is no board.
my $bad = Nixery::Test->new;
$bad->write_config($bad->registry_conf(
    server => "        location = /builds { nixery_builds; }\n"));
my $out = `$Nixery::Test::NGINX -t -p @{[ $bad->dir ]}/ -c conf/nginx.conf 2>&1`;
isnt($?, 0, 'nginx -t fails without nixery_redis');
like($out, qr/"nixery_builds" needs "nixery_redis"/, 'and says why');

done_testing;
