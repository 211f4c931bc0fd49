# The crash runs of t/210 and t/211: nixery-assemble (the helper's image
# assembly and publishing) killed with SIGKILL, then the storage checked,
# then the same image built again.
#
#     my $c = Nixery::Crash->new($t, storage => [...], env => {...},
#         wipe => sub { ... }, pull => sub { my ($name, $ref) = @_; ... });
#     $c->reference;             # a clean build: digests, objects, timing
#     $c->run_killed_at($n, $name);   # NIXERY_TEST_KILL_AT_PUT=$n
#     $c->run_timed($delay, $name);   # SIGKILL after $delay seconds
#     $c->phases;                # {phase => kills}
#
# After each kill: nixery-check passes (every index entry names stored
# manifests, every manifest's and layer cache entry's blobs exist and hash
# to their names), `pull` sees the image either whole or not at all, and a
# second assembly gives the reference digests, which `pull` then serves.
# `pull` returns undef when all is well, else what went wrong.
# The phase a kill landed in is read from what the storage holds then
# (nixery-check's counts on a wiped storage): start (nothing published),
# layers, config (every blob, no manifest), manifests, index.
package Nixery::Crash;

use strict;
use warnings;

use Carp qw(croak);
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);

use Nixery::Store qw(capture);

our $CHECK = "$Nixery::Store::BUILD/cmake/helper/nixery-check";

sub new {
    my ($class, $t, %o) = @_;
    return bless { t => $t, %o, phases => {}, tmp_left => 0, runs => 0 },
        $class;
}

sub phases { $_[0]{phases} }
sub runs { $_[0]{runs} }
sub tmp_left { $_[0]{tmp_left} }

# The assembler's argv for image $name.
sub argv {
    my ($self, $name) = @_;
    return ($Nixery::Store::ASSEMBLE, @{ $self->{storage} },
        '--closure', $self->{closure}, '--name', $name,
        '--store-prefix', $self->{prefix});
}

# Start the assembler; returns its pid, stdout to $out, stderr to the log.
sub start {
    my ($self, $name, %env) = @_;
    my $dir = $self->{t}->dir;
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        local @ENV{keys %{ $self->{env} // {} }} = values %{ $self->{env} // {} };
        local @ENV{keys %env} = values %env;
        open STDOUT, '>', "$dir/assemble.out";
        open STDERR, '>>', "$dir/logs/assemble.log";
        exec $self->argv($name);
        exit 127;
    }
    return $pid;
}

# nixery-check's exit status and summary.
sub check {
    my ($self) = @_;
    local @ENV{keys %{ $self->{env} // {} }} = values %{ $self->{env} // {} };
    my ($st, $out) = capture($self->{t}->dir . '/logs/check.log', $CHECK,
        @{ $self->{storage} }, @{ $self->{check_args} // [] });
    return ($st, eval { decode_json($out) } // {});
}

# A whole build; its printed digests.
sub build {
    my ($self, $name) = @_;
    my $pid = $self->start($name);
    waitpid($pid, 0);
    my $st = $?;
    my $out = $self->{t}->read_file('assemble.out') // '';
    return $st == 0 ? eval { decode_json($out) } : undef;
}

# Three clean builds on a wiped storage: the reference digests and
# counts, and the slowest build's duration (random kills land within it).
sub reference {
    my ($self) = @_;
    my $worst = 0;
    for my $i (1 .. 3) {
        $self->{wipe}->();
        my $t0 = time;
        my $r = $self->build("reference$i") or croak 'reference build failed';
        $worst = time - $t0 if time - $t0 > $worst;
        $self->{ref} //= $r;
        croak 'reference builds differ' if $r->{docker} ne $self->{ref}{docker};
    }
    my ($st, $sum) = $self->check;
    croak "reference storage fails the check: $st" if $st != 0;
    $self->{total} = $sum->{checked};
    $self->{duration} = $worst;
    # Every object of a fresh build is one put.
    $self->{puts} = $sum->{checked}{blobs} + $sum->{checked}{layer_entries}
        + $sum->{checked}{manifests} + $sum->{checked}{index};
    return $self->{ref};
}

sub duration { $_[0]{duration} }
sub puts { $_[0]{puts} }

sub phase_of {
    my ($self, $sum) = @_;
    my $c = $sum->{checked} // {};
    return 'index' if $c->{index};
    return 'manifests' if $c->{manifests};
    return 'config' if ($c->{blobs} // 0) == $self->{total}{blobs};
    return 'layers' if $c->{blobs} || $c->{layer_entries};
    return 'start';
}

# After the process was killed (or exited): the checks, then the
# rebuild; one test per run, named $how, with what failed in diag.
sub after_kill {
    my ($self, $name, $how, @problems) = @_;
    my $ref = $self->{ref};
    my ($st, $sum) = $self->check;
    push @problems, "check after the kill: exit $st " . encode_json($sum)
        if $st != 0;
    my $phase = $self->phase_of($sum);
    $self->{phases}{$phase}++;
    $self->{tmp_left} += $sum->{tmp_files} // 0;
    push @problems, $self->{pull}->($name, $ref, $phase eq 'index');
    my $again = $self->build($name);
    push @problems, 'the rebuild failed' unless $again;
    push @problems, "the rebuild gives $again->{docker} $again->{oci}"
        if $again && ($again->{docker} ne $ref->{docker}
            || $again->{oci} ne $ref->{oci});
    ($st, $sum) = $self->check;
    push @problems, "check after the rebuild: exit $st " . encode_json($sum)
        if $st != 0;
    push @problems, $self->{pull}->($name, $ref, 1);
    $self->{runs}++;
    @problems = grep { defined } @problems;
    ok(!@problems, "$how ($phase): nothing lost, same digests after")
        or diag(join "\n", @problems);
    return !@problems;
}

# Killed just before its $n-th put: it must die of SIGKILL, not finish.
sub run_killed_at {
    my ($self, $n, $name) = @_;
    $self->{wipe}->();
    my $pid = $self->start($name, NIXERY_TEST_KILL_AT_PUT => $n);
    waitpid($pid, 0);
    my $sig = $? & 127;
    return $self->after_kill($name, "kill point $n",
        $sig == 9 ? () : ("not killed at put $n: status $?"));
}

# SIGKILL after $delay seconds (or none if it is done by then).
sub run_timed {
    my ($self, $delay, $name) = @_;
    $self->{wipe}->();
    my $pid = $self->start($name);
    sleep($delay);
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return $self->after_kill($name, sprintf('killed after %.3f s', $delay));
}

1;
