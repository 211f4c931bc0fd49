# A private containerd for tests: its own config, root, state and sockets
# under the test directory (the CRI plugin disabled), so `ctr` can pull from
# the registry under test without touching the host's containerd.
package Nixery::Containerd;

use strict;
use warnings;

use Test::More;
use Nixery::Test;

# Start containerd as a process of $t (stopped by $t->done); returns the
# ctr command prefix (address and a test namespace) and the root directory.
sub start {
    my ($class, $t) = @_;
    my $cd = $t->dir . '/containerd';
    my $sock = "$cd/c.sock";
    $t->write_file("$cd/config.toml", <<"TOML");
version = 2
root = "$cd/root"
state = "$cd/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$sock"
[ttrpc]
  address = "$sock.ttrpc"
[debug]
  address = "$cd/debug.sock"
[metrics]
  address = ""
TOML
    $t->spawn('containerd', 'containerd', '--config', "$cd/config.toml");
    Nixery::Test::poll(10, sub { -S $sock });
    ok(-S $sock, 'private containerd is up')
        or BAIL_OUT('containerd did not start: '
            . ($t->read_file('logs/containerd.log') // ''));
    return bless {
        ctr => [ 'ctr', '--address', $sock, '--namespace', 'nixery-test' ],
        root => "$cd/root",
    }, $class;
}

sub ctr_argv { @{ $_[0]{ctr} } }
sub root { $_[0]{root} }

1;
