# The project's test harness, in the spirit of nginx-tests.
#
# Each .t file creates a Nixery::Test, writes its own nginx.conf (with
# %%PORT%%, %%PREFIX%%, %%MODULE%%, %%STORAGE%% placeholders, or through
# http_conf()), starts the real /usr/sbin/nginx with the built module from a
# temporary prefix on a free port, and ends with done(), which asserts that
# error.log has no [alert], [crit] or [emerg] line and that no worker exited
# on a signal.
#
#     my $t = Nixery::Test->new;
#     $t->write_config($t->registry_conf(server => 'sendfile on;'));
#     $t->run;
#     my $r = $t->http(GET => '/v2/', headers => [ [ Accept => '*/*' ] ]);
#     is($r->{status}, 200); is($t->error_code($r), '');
#     $t->curl('https', $port, '/v2/', '-k');    # TLS and the like
#     $t->done;
#
# Storage trees with real images: Nixery::Fixture.
#
# A sanitized build (make SANITIZE=1, NIXERY_BUILD=build/asan; see
# docs/testing.md) is noticed by itself: nginx runs with the sanitizer
# runtimes preloaded (through t/lib/sanitized-nginx, $NGINX), every
# sanitized program (nginx's workers, the helpers) writes its reports
# under one directory per test process, and done() fails on any report.
#
# A host of its own (Nixery::Netns): Nixery::Test->new(host => $addr,
# wrap => [ $ns->wrap ]) runs nginx through the wrap argv and talks to it
# (run(), http()) on $addr instead of 127.0.0.1.
package Nixery::Test;

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Fcntl qw(O_CREAT O_EXCL O_WRONLY);
use File::Basename qw(dirname);
use File::Path qw(make_path remove_tree);
use File::Temp qw(tempdir);
use IO::Socket::INET;
use JSON::PP ();
use POSIX qw(:sys_wait_h);
use Test::More;
use Time::HiRes qw(sleep time);

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{NIXERY_BUILD} // "$ROOT/build";
our $MODULE = "$BUILD/nginx/ngx_http_nixery_module.so";
our $NGINX = $ENV{NIXERY_NGINX} // '/usr/sbin/nginx';
our $SANITIZER_DIR;
sanitizer_setup();

# The runtimes a sanitized module needs (ldd on the .so: libasan,
# libubsan), or () for a normal build.
sub sanitizer_runtimes {
    my ($status, $out) = command('ldd', $MODULE);
    return () if $status != 0;
    return $out =~ m{^\s*lib(?:asan|ubsan)\.so\S*\s+=>\s+(\S+)}mg;
}

# For a sanitized build: Debian's nginx is not sanitized, so ASan's runtime
# must be loaded first, before the module (LD_PRELOAD, which only nginx
# gets: the wrapper), and the reports go to files (log_path, one per
# process: nginx's stderr is a log file the tests read, and its workers
# have none). The options are in the environment of every program the test
# runs; programs that are not sanitized ignore them.
sub sanitizer_setup {
    my @preload = sanitizer_runtimes() or return;
    $SANITIZER_DIR = tempdir('nixery-sanitizer-XXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{NIXERY_KEEP});
    $ENV{NIXERY_SANITIZER_PRELOAD} = join ' ', @preload;
    $ENV{NIXERY_SANITIZED_NGINX} = $NGINX;
    $NGINX = "$ROOT/t/lib/sanitized-nginx";
    my $common = "log_path=$SANITIZER_DIR/report:print_stacktrace=1";
    # detect_leaks: LeakSanitizer at each process's exit, nginx's workers
    # included (they exit(), after freeing their cycle's pool).
    $ENV{ASAN_OPTIONS} = "$common:detect_leaks=1:abort_on_error=0"
        . ":detect_stack_use_after_return=1:check_initialization_order=1"
        # More, when looking into a report: fast_unwind_on_malloc=0 gives
        # the whole stack through nginx, which has no frame pointers.
        . ($ENV{NIXERY_ASAN_OPTIONS} ? ":$ENV{NIXERY_ASAN_OPTIONS}" : '');
    $ENV{UBSAN_OPTIONS} = "$common:halt_on_error=1";
    $ENV{LSAN_OPTIONS} = "suppressions=$ROOT/t/lib/lsan.supp"
        . ":print_suppressions=0";
}

# The sanitizer reports written so far (file names), for a sanitized build.
sub sanitizer_reports {
    return () unless $SANITIZER_DIR;
    return sort glob "$SANITIZER_DIR/report.*";
}

sub new {
    my ($class, %args) = @_;
    my $dir = tempdir('nixery-test-XXXXXX', TMPDIR => 1,
        CLEANUP => !$ENV{NIXERY_KEEP});
    chmod 0755, $dir;
    my $self = bless {
        dir => $dir,
        storage => "$dir/storage",
        pids => {},
        %args,
    }, $class;
    make_path("$dir/logs", "$dir/conf", "$dir/html", $self->{storage});
    diag("test dir $dir") if $ENV{NIXERY_KEEP};
    return $self;
}

# Tests that cannot run everywhere (they need root, or a tool that may be
# missing) skip on a developer's machine but fail where every test must
# run: under CI (the CI variable, set by .ci/run and by CI services) or
# with NIXERY_REQUIRE_ALL=1; NIXERY_REQUIRE_ALL=0 allows skips under CI.
sub require_all {
    my $v = $ENV{NIXERY_REQUIRE_ALL} // $ENV{CI} // '';
    return $v ne '' && $v ne '0' && lc $v ne 'false';
}

# At the top of a test file: skip it all unless $ok, failing instead when
# require_all().
sub need {
    my ($ok, $why) = @_;
    return if $ok;
    plan skip_all => $why unless require_all();
    plan tests => 1;
    fail("$why (every test must run under CI or NIXERY_REQUIRE_ALL=1)");
    exit 1;
}

# In a SKIP: block: skip $count tests unless $ok, with a failure first
# when require_all().
sub need_or_skip {
    my ($ok, $why, $count) = @_;
    return if $ok;
    fail("$why (every test must run under CI or NIXERY_REQUIRE_ALL=1)")
        if require_all();
    skip($why, $count);
}

sub dir { $_[0]{dir} }
sub host { $_[0]{host} // '127.0.0.1' }
sub storage { $_[0]{storage} }
sub port { $_[0]{port} //= free_port() }

# A TCP port nobody listens on right now (bind to port 0, read it back).
# A port is also claimed by a file in $PORTS for 10 minutes: the kernel
# may hand the same free port to two tests running side by side (prove
# -j), and a daemon slow to bind it (ceph-mon) then meets the other test's.
our $PORTS = '/tmp/nixery-test-ports';

sub free_port {
    make_path($PORTS);
    for (1 .. 100) {
        my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
            LocalPort => 0, Proto => 'tcp', ReuseAddr => 1)
            or croak "cannot bind: $!";
        my $port = $s->sockport;
        close $s;
        my $claim = "$PORTS/$port";
        if (defined(my $mtime = (stat $claim)[9])) {
            next if CORE::time() - $mtime < 600;
            unlink $claim;
        }
        sysopen(my $fh, $claim, O_WRONLY | O_CREAT | O_EXCL) or next;
        close $fh;
        return $port;
    }
    croak "no free port unclaimed in $PORTS";
}

# The boilerplate every test config needs around its http{} contents.
sub http_conf {
    my ($self, $http, %opt) = @_;
    my $workers = $opt{workers} // 1;
    my $main = $opt{main} // '';
    my $connections = $opt{worker_connections} // 4096;
    return <<"CONF";
load_module %%MODULE%%;
daemon off;
master_process on;
worker_processes $workers;
user root;
pid %%PREFIX%%/nginx.pid;
error_log %%PREFIX%%/logs/error.log info;
$main
events { worker_connections $connections; }

http {
    client_body_temp_path %%PREFIX%%/client_body_temp;
    proxy_temp_path %%PREFIX%%/proxy_temp;
    fastcgi_temp_path %%PREFIX%%/fastcgi_temp;
    uwsgi_temp_path %%PREFIX%%/uwsgi_temp;
    scgi_temp_path %%PREFIX%%/scgi_temp;
    access_log %%PREFIX%%/logs/access.log;
$http
}
CONF
}

# A whole nginx.conf with one server on port() whose `location /v2/` is the
# registry on storage(). Options: server (extra server directives), location
# (extra directives in /v2/), http (extra http directives), and anything
# http_conf() takes.
sub registry_conf {
    my ($self, %opt) = @_;
    my $server = $opt{server} // '';
    my $location = $opt{location} // '';
    my $http = $opt{http} // '';
    return $self->http_conf(<<"CONF", %opt);
$http
    server {
        listen 127.0.0.1:%%PORT%%;
        server_name localhost;
$server
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
$location
        }
    }
CONF
}

sub expand {
    my ($self, $text) = @_;
    my %v = (PORT => $self->port, PREFIX => $self->{dir},
        MODULE => $MODULE, STORAGE => $self->{storage}, ROOT => $ROOT,
        %{ $self->{vars} // {} });
    $text =~ s/%%(\w+)%%/exists $v{$1} ? $v{$1} : croak "unknown %%$1%%"/ge;
    return $text;
}

# Set extra %%NAME%% placeholders.
sub set_var {
    my ($self, $name, $value) = @_;
    $self->{vars}{$name} = $value;
}

sub write_file {
    my ($self, $name, $content) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    make_path(dirname($path));
    open my $fh, '>', $path or croak "$path: $!";
    binmode $fh;
    print $fh $content;
    close $fh;
    return $path;
}

sub read_file {
    my ($self, $name) = @_;
    my $path = $name =~ m{^/} ? $name : "$self->{dir}/$name";
    open my $fh, '<', $path or return undef;
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

# Runs a command (argv list, no shell); returns its exit status and its
# output (stdout and stderr together).
sub command {
    my (@argv) = @_;
    my $pid = open(my $fh, '-|') // croak "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDERR, '>&', \*STDOUT;
        exec @argv;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

# Call $try until $done accepts what it returned (by default: a true value)
# or $timeout seconds (default 10) have passed; returns the last value.
sub poll {
    my ($timeout, $try, $done) = @_;
    $done //= sub { $_[0] };
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $v = $try->();
        return $v if $done->($v) || time >= $deadline;
        sleep 0.05;
    }
}

# Lines of a log file matching $re, once at least $min (default 1) match
# or $timeout seconds (default 10) have passed. nginx writes a request's
# access-log line after the response has gone out, so a keep-alive client
# can be done before its line is there.
sub log_lines {
    my ($self, $name, $re, $min, $timeout) = @_;
    my $lines = poll($timeout,
        sub { [ grep { /$re/ } split /\n/, $self->read_file($name) // '' ] },
        sub { @{ $_[0] } >= ($min // 1) });
    return @$lines;
}

sub write_config {
    my ($self, $conf) = @_;
    $self->{config_template} = $conf;
    $self->write_file('conf/nginx.conf', $self->expand($conf));
}

# A free port under a %%NAME%% placeholder (for a second listen, Redis...).
# Unlike set_var(NAME => free_port()), run() picks a new one if another
# process takes it before nginx binds it.
sub port_var {
    my ($self, $name) = @_;
    $self->{port_vars}{$name} = 1;
    return $self->{vars}{$name} //= free_port();
}

# Start nginx and wait until it has bound its ports (its pid file is
# written after that) and accepts connections on port(). Ports are picked
# free but may be taken by another process before nginx binds them (other
# test suites run on this machine too): then new ones are picked, the
# config rewritten and nginx started again.
sub run {
    my ($self) = @_;
    for my $attempt (1 .. 5) {
        my $pid = fork() // croak "fork: $!";
        if ($pid == 0) {
            open STDOUT, '>>', "$self->{dir}/logs/stdout.log";
            open STDERR, '>>', "$self->{dir}/logs/stderr.log";
            exec @{ $self->{wrap} // [] }, $NGINX, '-p', "$self->{dir}/", '-c', 'conf/nginx.conf';
            exit 127;
        }
        $self->{pids}{nginx} = $pid;
        $self->{nginx_ran} = 1;
        my $state = $self->wait_started($pid);
        return $self if $state eq 'ok';
        delete $self->{pids}{nginx};
        if ($state eq 'running') {
            kill 'KILL', $pid;
            waitpid($pid, 0);
        }
        my $log = ($self->read_file('logs/stderr.log') // '')
            . ($self->read_file('logs/error.log') // '');
        if ($log =~ /Address already in use/ && $self->{config_template}
            && $attempt < 5) {
            # Keep the failed attempt's log out of done()'s [emerg] check.
            rename "$self->{dir}/logs/error.log",
                "$self->{dir}/logs/error.log.attempt$attempt";
            unlink "$self->{dir}/logs/stderr.log";
            delete $self->{port};
            $self->{vars}{$_} = free_port() for keys %{ $self->{port_vars} // {} };
            $self->write_config($self->{config_template});
            next;
        }
        croak "nginx did not start: $log";
    }
}

# 'ok' when our nginx runs and port() accepts connections, 'exited' when
# the master exited, 'running' on timeout.
sub wait_started {
    my ($self, $pid) = @_;
    my $conf = $self->read_file('conf/nginx.conf') // '';
    my $pidfile = "$self->{dir}/nginx.pid";
    my $check_pid = index($conf, $pidfile) >= 0;
    return poll(10, sub {
        return 'exited' if waitpid($pid, WNOHANG) == $pid;
        my $written = $check_pid ? ($self->read_file($pidfile) // '') : "$pid\n";
        return $written =~ /^(\d+)/ && $1 == $pid
            && $self->wait_port($self->port, 0, $self->host) ? 'ok' : 'running';
    }, sub { $_[0] ne 'running' });
}

# Wait until something accepts connections on $port of $host (default
# 127.0.0.1; tries at least once).
sub wait_port {
    my ($self, $port, $timeout, $host) = @_;
    return poll($timeout, sub {
        IO::Socket::INET->new(PeerAddr => $host // '127.0.0.1', PeerPort => $port,
            Proto => 'tcp') ? 1 : 0;
    });
}

# Start a background process (argv list), logging to logs/<name>.log.
sub spawn {
    my ($self, $name, @argv) = @_;
    my $pid = fork() // croak "fork: $!";
    if ($pid == 0) {
        setpgrp(0, 0);
        open STDOUT, '>>', "$self->{dir}/logs/$name.log";
        open STDERR, '>&', \*STDOUT;
        exec @argv;
        exit 127;
    }
    $self->{pids}{$name} = $pid;
    return $pid;
}

sub pid { $_[0]{pids}{$_[1]} }

# Stop one spawned process (or nginx) with a signal, and reap it; with
# signal 0, only wait (up to 10 s) for it to exit and reap it.
sub stop {
    my ($self, $name, $signal) = @_;
    my $pid = delete $self->{pids}{$name} or return;
    kill($signal // 'TERM', $pid);
    return 1 if poll(10, sub { waitpid($pid, WNOHANG) == $pid });
    kill 'KILL', $pid;
    waitpid($pid, 0);
    return 0;
}

# The pids of nginx's worker processes (children of the master).
sub worker_pids {
    my ($self) = @_;
    my $master = $self->{pids}{nginx} or return ();
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        open my $fh, '<', $stat or next;
        my $line = <$fh> // next;
        push @pids, $1 if $line =~ /^(\d+) \(nginx\) \S+ (\d+)/ && $2 == $master;
    }
    return sort { $a <=> $b } @pids;
}

# The worker pids once there are $n of them: the master accepts
# connections before it has forked every worker, so counting right after
# run() can see fewer. Waits up to $timeout seconds (default 10).
sub wait_workers {
    my ($self, $n, $timeout) = @_;
    my $pids = poll($timeout, sub { [ $self->worker_pids ] },
        sub { @{ $_[0] } >= $n });
    return @$pids;
}

# One HTTP/1.1 request over a fresh connection; returns a hash with status,
# headers (lowercased names; arrays for repeats in headers_all) and body.
# $opt{raw}, when given, is sent as is (for hostile requests).
sub http {
    my ($self, $method, $uri, %opt) = @_;
    my $req = $opt{raw} // do {
        my $h = "$method $uri HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
        for my $pair (@{ $opt{headers} // [] }) {
            $h .= "$pair->[0]: $pair->[1]\r\n";
        }
        $h . "\r\n" . ($opt{body} // '');
    };
    my $s = IO::Socket::INET->new(PeerAddr => $self->host,
        PeerPort => $opt{port} // $self->port, Proto => 'tcp',
        Timeout => $opt{timeout} // 30)
        or croak "connect: $!";
    binmode $s;
    print $s $req;
    local $/;
    my $resp = <$s> // '';
    close $s;
    return parse_response($resp);
}

# Repeat a request until it gets $status (or $timeout seconds, default 10,
# pass); returns the last response when it got there, else undef.
sub wait_http {
    my ($self, $method, $uri, $status, $timeout, %opt) = @_;
    my $r = poll($timeout, sub { $self->http($method, $uri, %opt) },
        sub { $_[0]{status} == $status });
    return $r->{status} == $status ? $r : undef;
}

# A request through curl (for TLS, HTTP/2 and the like): curl's arguments
# after the URL's scheme and host, e.g. $t->curl('https', $port, '/v2/',
# '-k'). Returns what http() returns.
sub curl {
    my ($self, $scheme, $port, $uri, @args) = @_;
    open my $fh, '-|', 'curl', '-s', '-i', '--max-time', '30', @args,
        "$scheme://127.0.0.1:$port$uri" or croak "curl: $!";
    binmode $fh;
    local $/;
    my $resp = <$fh> // '';
    close $fh;
    return parse_response($resp);
}

sub parse_response {
    my ($resp) = @_;
    my ($head, $body) = split /\r\n\r\n/, $resp, 2;
    $head //= '';
    my @lines = split /\r\n/, $head;
    my $status_line = shift @lines // '';
    my ($status) = $status_line =~ m{^HTTP/[\d.]+ (\d{3})};
    my (%h, %all);
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = $v;
        push @{ $all{lc $k} }, $v;
    }
    return { status => $status // 0, headers => \%h, headers_all => \%all,
        body => $body // '', raw => $resp };
}

# The decoded JSON body of a response, or undef when it is not JSON.
sub json {
    my ($self, $r) = @_;
    my $doc = eval { JSON::PP->new->utf8->decode($r->{body}) };
    return $doc;
}

# The registry error code of a response ({"errors":[{"code":...}]}), or ''.
sub error_code {
    my ($self, $r) = @_;
    my $doc = $self->json($r);
    return '' unless ref $doc eq 'HASH' && ref $doc->{errors} eq 'ARRAY'
        && ref $doc->{errors}[0] eq 'HASH';
    return $doc->{errors}[0]{code} // '';
}

# Lines of error.log matching a pattern.
sub error_log_lines {
    my ($self, $re) = @_;
    my $log = $self->read_file('logs/error.log') // '';
    return grep { /$re/ } split /\n/, $log;
}

# Final checks; call once at the end of every .t file (before done_testing).
sub done {
    my ($self) = @_;
    $self->stop($_) for grep { $_ ne 'nginx' } keys %{ $self->{pids} };
    $self->stop_nginx;
    if ($self->{nginx_ran}) {
        my @bad = $self->error_log_lines(qr/\[(alert|crit|emerg)\]/);
        is(scalar @bad, 0, 'no alert, crit or emerg in error.log')
            or diag(join "\n", @bad);
        my @signals = $self->error_log_lines(qr/exited on signal/);
        is(scalar @signals, 0, 'no worker exited on a signal')
            or diag(join "\n", @signals);
    }
    if ($SANITIZER_DIR) {
        my @reports = sanitizer_reports();
        is(scalar @reports, 0, 'no sanitizer report')
            or diag(sanitizer_text(@reports));
    }
}

my %reports_shown;

# The reports' contents, each once per test process.
sub sanitizer_text {
    my @new = grep { !$reports_shown{$_}++ } @_;
    return join "\n", map {
        open my $fh, '<', $_ or return "$_: $!";
        local $/;
        "$_:\n" . (<$fh> // '');
    } @new;
}

# A test that dies before done() (a worker killed by ASan makes requests
# fail) still shows the reports, and fails.
END {
    if ($SANITIZER_DIR) {
        my @reports = sanitizer_reports();
        if (grep { !$reports_shown{$_} } @reports) {
            diag('sanitizer reports:');
            diag(sanitizer_text(@reports));
            $? ||= 1;
        }
    }
}

# Stop nginx gracefully (so logs are complete) before done(); done() still
# checks error.log afterwards.
sub stop_nginx {
    my ($self) = @_;
    return unless $self->{pids}{nginx};
    $self->stop('nginx', 'QUIT');
}

sub DESTROY {
    my ($self) = @_;
    for my $pid (grep { $_ && $_ > 0 } values %{ $self->{pids} // {} }) {
        kill 'KILL', $pid;
        waitpid($pid, 0);
    }
}

1;
