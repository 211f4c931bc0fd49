# The harness itself: a port taken by another process between free_port()
# and nginx's bind() is replaced, and the test goes on.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use IO::Socket::INET;
use Nixery::Test;

my $squatter = IO::Socket::INET->new(Listen => 5, LocalAddr => '127.0.0.1',
    LocalPort => 0, Proto => 'tcp', ReuseAddr => 1) or die "bind: $!";
my $taken = $squatter->sockport;

my $t = Nixery::Test->new;
$t->{port} = $taken;    # as if someone took it after free_port()
my $second = $t->port_var('SECOND');
$t->write_config($t->registry_conf(server =>
    '        listen 127.0.0.1:%%SECOND%%;'));
$t->run;
isnt($t->port, $taken, 'a new port was picked');
is($t->http(GET => '/v2/')->{status}, 200, 'nginx answers on it');
is($t->http(GET => '/v2/', port => $t->{vars}{SECOND})->{status}, 200,
    'and on its second port');
ok(-e $t->dir . '/logs/error.log.attempt1', 'the failed attempt log is kept aside');
$t->done;
done_testing;
