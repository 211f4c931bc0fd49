# Test helpers for the build queue: a private redis-server, nixery-helper
# daemons with the fake builder (a test aid: made-up images, no Nix), the
# http{} lines that enable the queue, and many concurrent clients.
#
#     my $q = Nixery::Queue->new($t);           # redis on a unix socket
#     $q->start_redis;                          # or (tcp => 1)
#     Nixery::Queue->new($t, tcp => 1, listen => ['10.0.0.1']);  # also there
#     $q->start_helper('h1', '--fake-delay-ms', 500);
#     $t->write_config($t->http_conf($q->http_conf(wait => '10s') . ...));
#     my @r = $q->parallel($t->port, 200, GET => '/v2/hello/manifests/latest');
#     $q->builds('hello:latest');               # fake builder runs, counted
package Nixery::Queue;

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use IO::Select;
use IO::Socket::INET;
use JSON::PP ();
use POSIX ();
use Time::HiRes qw(time);

use Nixery::Test;

our $HELPER = "$Nixery::Test::BUILD/cmake/helper/nixery-helper";

sub new {
    my ($class, $t, %opt) = @_;
    # password: Redis requires it (requirepass); the helpers and redis-cli
    # send it.
    # listen: addresses Redis takes connections on besides 127.0.0.1 (tcp
    # only; other hosts' links, Nixery::Netns).
    my $self = bless { t => $t, tcp => $opt{tcp}, password => $opt{password},
        listen => $opt{listen} // [] }, $class;
    $self->{sock} = $t->dir . '/redis.sock';
    $self->{redis_port} = Nixery::Test::free_port() if $opt{tcp};
    $self->{fake} = $t->dir . '/fake';
    make_path($self->{fake});
    return $self;
}

# The address nginx and the helpers use.
sub address {
    my ($self) = @_;
    return $self->{tcp} ? "127.0.0.1:$self->{redis_port}"
        : "unix:$self->{sock}";
}

sub start_redis {
    my ($self) = @_;
    my $t = $self->{t};
    my @listen = $self->{tcp}
        ? ('--port', $self->{redis_port}, '--bind', '127.0.0.1',
            @{ $self->{listen} },
            # Other hosts connect without a password, as on 127.0.0.1.
            @{ $self->{listen} } ? ('--protected-mode', 'no') : ())
        : ('--port', 0, '--unixsocket', $self->{sock},
            '--unixsocketperm', 700);
    my @auth = defined $self->{password}
        ? ('--requirepass', $self->{password}) : ();
    $t->spawn('redis', 'redis-server', @listen, '--save', '',
        '--appendonly', 'no', '--dir', $t->dir, '--daemonize', 'no', @auth);
    # Ask only once it listens, so redis-cli prints no connect errors.
    return 1 if Nixery::Test::poll(10, sub {
        my $up = $self->{tcp} ? $t->wait_port($self->{redis_port}, 0)
            : -S $self->{sock};
        return $up && ($self->cli('PING') // '') =~ /PONG/;
    });
    croak 'redis-server did not start: ' . ($t->read_file('logs/redis.log') // '');
}

sub stop_redis {
    my ($self) = @_;
    $self->{t}->stop('redis', 'TERM');
}

# redis-cli against the test's server; returns its output.
sub cli {
    my ($self, @args) = @_;
    my @conn = $self->{tcp} ? ('-h', '127.0.0.1', '-p', $self->{redis_port})
        : ('-s', $self->{sock});
    local $ENV{REDISCLI_AUTH} = $self->{password} if defined $self->{password};
    open my $fh, '-|', 'redis-cli', @conn, @args or croak "redis-cli: $!";
    local $/;
    my $out = <$fh>;
    close $fh;
    return $out;
}

# A first hashref argument in @extra is environment for the helper.
sub start_helper {
    my ($self, $name, @extra) = @_;
    my $t = $self->{t};
    my %env = ref $extra[0] eq 'HASH' ? %{ shift @extra } : ();
    local $ENV{NIXERY_REDIS_PASSWORD} = $self->{password}
        if defined $self->{password};
    local @ENV{keys %env} = values %env;
    return $t->spawn($name, $HELPER, '--redis', $self->address,
        '--storage', $t->storage, '--fake-builder', $self->{fake},
        '--heartbeat', 1, '--helper-id', $name, @extra);
}

# Wait until the helper's heartbeat key exists in Redis.
sub wait_helper {
    my ($self, $name) = @_;
    return Nixery::Test::poll(10,
        sub { ($self->cli('EXISTS', "nixery:helper:$name") // '') =~ /1/ })
        ? 1 : 0;
}

# http{} lines enabling the queue.
sub http_conf {
    my ($self, %opt) = @_;
    my $wait = $opt{wait} // '30s';
    my $extra = $opt{extra} // '';
    return "    nixery_redis " . $self->address . ";\n" .
        "    nixery_wait_timeout $wait;\n$extra";
}

# A location serving nixery_status on /status, for
# $t->registry_conf(server => $q->status_conf).
sub status_conf { "        location = /status { nixery_status; }\n" }

# The nixery_status counters on /status once $cond accepts them, or the
# last ones after $timeout seconds (default 10): counters shared by every
# worker, e.g. how many requests are parked on builds now ("waiting").
sub status_when {
    my ($self, $cond, $timeout) = @_;
    my $t = $self->{t};
    return Nixery::Test::poll($timeout, sub {
        my $r = $t->http(GET => '/status');
        return $r->{status} == 200 ? JSON::PP::decode_json($r->{body})
            : { http => $r->{status} };
    }, $cond);
}

# Fake builds so far, optionally only those of one "name:tag".
sub builds {
    my ($self, $image) = @_;
    open my $fh, '<', "$self->{fake}/builds" or return 0;
    my @lines = <$fh>;
    close $fh;
    return scalar @lines unless defined $image;
    return scalar grep { / \Q$image\E$/ } @lines;
}

# Wait until at least $n fake builds have started.
sub wait_builds {
    my ($self, $n, $timeout) = @_;
    return Nixery::Test::poll($timeout, sub { $self->builds >= $n }) ? 1 : 0;
}

# $n clients GET $uri at once from a child process, while the test goes
# on. Returns a function that waits for them and returns their answers as
# one line, "<status>:<error code> ..." in sending order ("200: 200: ...").
sub background {
    my ($self, $n, $uri) = @_;
    my $t = $self->{t};
    my $file = $t->dir . '/background-' . ++$self->{background} . '.txt';
    my $pid = fork // croak "fork: $!";
    if ($pid == 0) {
        my @r = $self->parallel($t->port, $n, GET => $uri);
        $t->write_file($file, join(' ',
            map { $_->{status} . ':' . ($t->error_code($_) // '') } @r) . "\n");
        POSIX::_exit(0);
    }
    return sub {
        waitpid($pid, 0);
        return $t->read_file($file) // '';
    };
}

# Send $n requests at once, each on its own connection, and collect the
# responses (as Nixery::Test::parse_response hashes, in sending order).
sub parallel {
    my ($self, $port, $n, $method, $uri, %opt) = @_;
    my @reqs = ref $uri ? @$uri : ($uri) x $n;
    my (@socks, %buf, %index);
    my $sel = IO::Select->new;
    for my $i (0 .. $#reqs) {
        my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
            PeerPort => $port, Proto => 'tcp') or croak "connect: $!";
        binmode $s;
        my $h = "$method $reqs[$i] HTTP/1.1\r\nHost: 127.0.0.1\r\n" .
            "Connection: close\r\n";
        $h .= "$_->[0]: $_->[1]\r\n" for @{ $opt{headers} // [] };
        syswrite($s, "$h\r\n") or croak "write: $!";
        push @socks, $s;
        $index{"$s"} = $i;
        $buf{"$s"} = '';
        $sel->add($s);
    }
    my $deadline = time + ($opt{timeout} // 60);
    while ($sel->count && time < $deadline) {
        for my $s ($sel->can_read(1)) {
            my $n = sysread($s, my $chunk, 65536);
            if ($n) {
                $buf{"$s"} .= $chunk;
            } else {
                $sel->remove($s);
                close $s;
            }
        }
    }
    $_->close for $sel->handles;
    return map { Nixery::Test::parse_response($buf{"$_"}) } @socks;
}

1;
