# The whole system as `make run` starts it: scripts/run.sh (redis-server,
# nixery-helper with the bundled package set, nginx with the module and the
# front page) with the test's directory as its state directory and a free
# port, so end-to-end tests prove `make run`'s own setup.
#
#     my $t = Nixery::Test->new;
#     my $run = Nixery::Run->start($t);        # returns once it is ready
#     ... real clients against 127.0.0.1:$t->port ...
#     $run->jobs;                              # jobs the helper finished
#     $run->metrics_port;                      # the helper's /metrics
#     is($run->stop('TERM'), 0, 'stopped');    # and every process is gone
#     $t->done;                                # checks logs/error.log
package Nixery::Run;

use strict;
use warnings;

use Carp qw(croak);
use JSON::PP ();
use POSIX qw(:sys_wait_h);

use Nixery::Test;

use Exporter qw(import);
our @EXPORT_OK = qw(command);

my %live; # pid of run.sh => object, for the END block

sub start {
    my ($class, $t, %opt) = @_;
    my $self = bless { t => $t }, $class;
    my $log = $t->dir . '/logs/run.log';
    my $port = $t->port; # chosen here, not in the child
    # The helper's metrics port: a free one (run.sh's default, PORT + 1,
    # may be taken by another test's server).
    $self->{metrics_port} = $opt{env}{METRICS_PORT}
        // Nixery::Test::free_port();
    # A restart appends to the same log: look only at what follows.
    my $offset = length($t->read_file('logs/run.log') // '');
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        $ENV{ROOT} = $Nixery::Test::ROOT;
        $ENV{BUILD} = $Nixery::Test::BUILD;
        $ENV{STATE} = $t->dir;
        $ENV{PORT} = $port;
        $ENV{METRICS_PORT} = $self->{metrics_port};
        delete @ENV{qw(NIXERY_CHANNEL NIXERY_PKGS_REPO NIXERY_PKGS_PATH)};
        $ENV{$_} = $opt{env}{$_} for keys %{ $opt{env} // {} };
        open STDOUT, '>>', $log;
        open STDERR, '>&', \*STDOUT;
        # As from a terminal: a test run started in the background has
        # SIGINT and SIGQUIT ignored, and bash cannot trap a signal that
        # was ignored when it started.
        $SIG{$_} = 'DEFAULT' for qw(INT QUIT TERM HUP);
        exec "$Nixery::Test::ROOT/scripts/run.sh";
        exit 127;
    }
    $self->{pid} = $pid;
    $live{$pid} = $self;
    $t->{nginx_ran} = 1; # so that $t->done checks logs/error.log
    my $ready = Nixery::Test::poll($opt{timeout} // 60, sub {
        my $text = substr($t->read_file('logs/run.log') // '', $offset);
        return 1 if $text =~ /^make run: ready/m;
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $live{$pid};
            croak "run.sh exited ($?) before it was ready:\n$text";
        }
        return 0;
    });
    croak 'run.sh was not ready in time: '
        . substr($t->read_file('logs/run.log') // '', $offset) unless $ready;
    my %pids;
    for my $name (qw(redis helper nginx)) {
        my $p = $t->read_file("pids/$name.pid") // croak "no $name.pid";
        chomp $p;
        $pids{$name} = $p;
    }
    $self->{pids} = \%pids;
    return $self;
}

sub pid { $_[0]{pid} }

# Where the helper serves its Prometheus metrics (127.0.0.1).
sub metrics_port { $_[0]{metrics_port} }

# name => pid of redis, helper, nginx (the master) and nginx-worker-N.
sub processes {
    my ($self) = @_;
    my %p = %{ $self->{pids} // {} };
    return %p unless $p{nginx};
    my $i = 0;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        $p{'nginx-worker-' . $i++} = $1
            if $line =~ /^(\d+) \(nginx\) \S+ (\d+)/ && $2 == $p{nginx};
    }
    return %p;
}

# The names of those processes still alive (zombies count as gone).
sub alive {
    my ($self, %p) = @_;
    return sort grep {
        my $stat = $self->{t}->read_file("/proc/$p{$_}/stat") // '';
        $stat =~ /^\d+ \(.*\) ([A-Za-z])/ && $1 ne 'Z';
    } keys %p;
}

# Send a signal to run.sh and wait for it to exit; returns its exit status
# (-1 when it had to be killed). Every process it started is then checked
# by the caller with alive().
sub stop {
    my ($self, $signal) = @_;
    my $pid = delete $self->{pid} or return -1;
    delete $live{$pid};
    kill $signal // 'TERM', $pid;
    return $? >> 8 if Nixery::Test::poll(60,
        sub { waitpid($pid, WNOHANG) == $pid });
    # run.sh did not stop: kill it and what it started (each in a session
    # of its own), so nothing outlives the test.
    my %p = $self->processes;
    kill 'KILL', $pid, map { $p{$_} } $self->alive(%p);
    waitpid($pid, 0);
    return -1;
}

# The helper's log lines (JSON; logs/helper.log is kept across restarts),
# as decoded hashes.
sub helper_log {
    my ($self) = @_;
    my @lines;
    for (split /\n/, $self->{t}->read_file('logs/helper.log') // '') {
        my $doc = eval { JSON::PP->new->decode($_) };
        push @lines, $doc if ref $doc eq 'HASH';
    }
    return @lines;
}

# Jobs the helper finished so far ("job done" lines), optionally only those
# with a given outcome (built, cached, unknown, ...). The helper logs a job
# after announcing its result, so a client can be served first: wait up to
# 10 s for at least $min such lines (default 1; 0 does not wait).
sub jobs {
    my ($self, $outcome, $min) = @_;
    return Nixery::Test::poll(10, sub {
        scalar grep {
            ($_->{msg} // $_->{message} // '') eq 'job done'
                && (!defined $outcome || ($_->{outcome} // '') eq $outcome)
        } $self->helper_log;
    }, sub { $_[0] >= ($min // 1) });
}

# Access-log lines matching $re, waiting for at least $min of them.
sub access_log {
    my ($self, $re, $min) = @_;
    return $self->{t}->log_lines('logs/access.log', $re, $min);
}

# Nixery::Test::command, for the tests that import it from here.
sub command { Nixery::Test::command(@_) }

sub DESTROY { $_[0]->cleanup }

sub cleanup {
    my ($self) = @_;
    my $pid = $self->{pid} or return;
    $self->stop('TERM');
    my %p = $self->processes;
    kill 'KILL', $p{$_} for $self->alive(%p);
}

# A test that dies half-way must not leave daemons behind (this runs
# before File::Temp removes the directory).
END { $_->cleanup for values %live }

1;
