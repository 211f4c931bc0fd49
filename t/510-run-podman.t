# End to end with podman, against the system as `make run` starts it:
# `podman run 127.0.0.1:PORT/shell/hello hello` builds the image on the
# first pull and runs it (runc, host network, explicit ulimits, vfs
# storage in a temp root: a setup that works as root on a plain Debian 12
# machine). Then
# Ctrl-C's signal (SIGINT) stops redis, the helper and nginx.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Run qw(command);

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t);

my @podman = ('podman', '--root', "$dir/podman/root", '--runroot',
    "$dir/podman/run", '--storage-driver', 'vfs', '--cgroup-manager',
    'cgroupfs', '--runtime', 'runc', '--events-backend', 'file',
    '--tmpdir', "$dir/podman/tmp");
my ($rc, $out) = command(@podman, 'run', '--rm', '--net=host',
    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768',
    '--tls-verify=false', "$reg/shell/hello", 'hello');
is($rc, 0, 'podman run shell/hello hello') or diag($out);
like($out, qr/^Hello, world!$/m, 'hello ran in the container');
is($run->jobs('built'), 1, 'the image was built once');

# The image's default command is bash (the shell meta-package).
($rc, $out) = command(@podman, 'image', 'inspect', '--format',
    '{{json .Config.Cmd}} {{json .Config.Env}}', "$reg/shell/hello");
like($out, qr/^\["bash"\] /, 'Cmd is bash') or diag($out);
like($out, qr/SSL_CERT_FILE=/, 'SSL_CERT_FILE is set');

# A second run pulls nothing new.
($rc, $out) = command(@podman, 'run', '--rm', '--net=host', '--pull=always',
    '--ulimit', 'nofile=20000:20000', '--ulimit', 'nproc=32768:32768',
    '--tls-verify=false', "$reg/shell/hello", 'bash', '-c',
    'echo $BASH_VERSION; test -x /usr/bin/env && echo env ok');
is($rc, 0, 'podman run with --pull=always') or diag($out);
like($out, qr/^5\.\d.*\nenv ok$/m, 'bash and /usr/bin/env in the image');
is($run->jobs, 1, 'the second pull made no job');

command(@podman, 'rmi', '--all', '--force');

# Ctrl-C: SIGINT to run.sh stops everything.
my %procs = $run->processes;
is($run->stop('INT'), 0, 'run.sh exits 0 on SIGINT');
is(join(' ', $run->alive(%procs)), '', 'every process is gone');

$t->done;
done_testing;
