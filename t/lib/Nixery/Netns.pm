# Network namespaces for tests that need several hosts: each host gets a
# namespace of its own joined to the root namespace by a veth pair on a
# private /30, so a process in it reaches the root namespace (Redis, RGW)
# only over that link, and is reached on its own address.
#
#     my $a = Nixery::Netns->new(1);     # 10.231.N.1 (root) - 10.231.N.2
#     $a->outer; $a->inner;              # the two ends' addresses
#     $a->wrap('nginx', ...);            # argv run inside the namespace
#     $a->shape('100mbit');              # a slow link out of it
#
# Every namespace made here is deleted (with its link) when the test
# process ends, also when it dies or fails.
package Nixery::Netns;

use strict;
use warnings;

use Carp qw(croak);

use Nixery::Test;

my %made; # namespace name => 1, for the END block
my $owner = $$;

sub available {
    return $> == 0 && grep { -x "$_/ip" } split /:/, $ENV{PATH};
}

sub ip {
    my (@args) = @_;
    my ($status, $out) = Nixery::Test::command('ip', @args);
    croak "ip @args: $out" if $status != 0;
    return $out;
}

# Host $n (1..63) of this test process: a /30 inside 10.231.X.0/24, X
# taken from the pid so that concurrent runs rarely meet.
sub new {
    my ($class, $n) = @_;
    croak "host number $n out of range" unless $n >= 1 && $n <= 63;
    my $net = 16 + $$ % 224;
    my $self = bless {
        name => "nixery-$$-$n",
        outer_if => "nx$$" . "o$n",
        inner_if => "nx$$" . "i$n",
        outer => "10.231.$net." . (4 * $n + 1),
        inner => "10.231.$net." . (4 * $n + 2),
    }, $class;
    ip('netns', 'add', $self->{name});
    $made{ $self->{name} } = 1;
    ip('link', 'add', $self->{outer_if}, 'type', 'veth', 'peer', 'name',
        $self->{inner_if});
    ip('link', 'set', $self->{inner_if}, 'netns', $self->{name});
    ip('addr', 'add', "$self->{outer}/30", 'dev', $self->{outer_if});
    ip('link', 'set', $self->{outer_if}, 'up');
    ip('-n', $self->{name}, 'addr', 'add', "$self->{inner}/30", 'dev',
        $self->{inner_if});
    ip('-n', $self->{name}, 'link', 'set', $self->{inner_if}, 'up');
    ip('-n', $self->{name}, 'link', 'set', 'lo', 'up');
    return $self;
}

sub name { $_[0]{name} }
sub outer { $_[0]{outer} }
sub inner { $_[0]{inner} }

# Limit what leaves the namespace to $rate (tc's units: "100mbit"), so
# that a transfer through the link takes a while.
sub shape {
    my ($self, $rate) = @_;
    ip('netns', 'exec', $self->{name}, 'tc', 'qdisc', 'add', 'dev',
        $self->{inner_if}, 'root', 'tbf', 'rate', $rate, 'burst', '64kb',
        'latency', '500ms');
}

# An argv that runs @argv inside the namespace (ip execs it: same pid).
sub wrap {
    my ($self, @argv) = @_;
    return ('ip', 'netns', 'exec', $self->{name}, @argv);
}

# Deleting a namespace deletes the veth pair with it.
sub remove {
    my ($self) = @_;
    return unless delete $made{ $self->{name} };
    Nixery::Test::command('ip', 'netns', 'del', $self->{name});
}

END {
    if ($$ == $owner) {
        Nixery::Test::command('ip', 'netns', 'del', $_) for sort keys %made;
    }
}

1;
