# The Debian packages (make deb, debian/) installed on this machine as an
# operator would: apt-get install of both .debs into a fresh state (no
# nixery packages, no storage), nginx -t of the system's configuration with
# the module enabled by the package, nginx -t and a run of the shipped
# server block (the example under /usr/share/doc) loading the installed
# module through /etc/nginx/modules-enabled, the installed helper run as
# its unit runs it (ExecStart, Environment, /etc/default/nixery-helper) as
# the nixery user through a nix-daemon, a skopeo pull of an image from the
# installed bundled package set, then apt-get purge: no file is left
# behind but the storage directory. It needs root and the .debs of `make
# deb` (run here; fast when little changed). Whatever happens, the END block leaves
# the machine as the test found it (packages purged, the user and the
# storage it made removed), so that the other tests, which run
# /usr/sbin/nginx with their own configuration, never see the packages.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Find qw(find);
use File::Path qw(remove_tree);
use Test::More;
use Nixery::Test;
use Nixery::Queue;
use Nixery::Run qw(command);

Nixery::Test::need($> == 0, 'installs packages: needs root');

my $root = $Nixery::Test::ROOT;
my $build = $Nixery::Test::BUILD;
my @pkgs = qw(libnginx-mod-http-nixery nixery-helper);
my $storage = '/var/lib/nixery';
my $sock = '/nix/var/nix/daemon-socket/socket';
local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
my @apt = ('apt-get', '-y', '-q', '-o', 'DPkg::Lock::Timeout=600');

sub installed {
    my ($rc, $out) = command('dpkg-query', '-W', '-f=${db:Status-Status}',
        $_[0]);
    return $rc == 0 && $out eq 'installed';
}
sub debs { map { glob "$build/deb/${_}_*.deb" } @pkgs }

# The packages of this checkout: `make deb` keeps its objects, so this
# compiles only what changed since the last one (all of it the first time).
{
    my ($rc, $out) = command('make', '-C', $root, '-s', 'deb', "BUILD=$build");
    is($rc, 0, 'make deb') or diag($out);
    like($out, qr/^lintian: no errors/m, 'lintian finds no error');
}
my @debs = debs();
is(scalar @debs, 2, 'both packages built') or BAIL_OUT('no packages');

# A fresh state, recorded so that END can restore it.
my %was = (
    user => scalar getpwnam('nixery'),
    storage => -e $storage,
    socket => -e $sock,
    nginx_lib => { map { $_ => 1 } glob '/var/lib/nginx/*' },
);
ok(!installed($_), "$_ not installed before") for @pkgs;
ok(!$was{storage}, "no $storage before")
    or BAIL_OUT("not a fresh state: $storage exists");

my $t;
my $cleaned;
sub cleanup {
    return if $cleaned++;
    if ($t) {
        $t->stop($_, 'KILL') for keys %{ $t->{pids} };
    }
    my @left = grep { installed($_) } @pkgs;
    command(@apt, 'purge', @left) if @left;
    remove_tree($storage) unless $was{storage};
    if (!$was{user} && getpwnam('nixery')) {
        command('deluser', '--system', '--quiet', 'nixery');
        command('delgroup', '--system', '--quiet', 'nixery')
            if getgrnam('nixery');
    }
    unlink $sock if !$was{socket};
    for my $d (glob '/var/lib/nginx/*') {
        remove_tree($d) unless $was{nginx_lib}{$d};
    }
}
END { cleanup() }
$SIG{INT} = $SIG{TERM} = sub { cleanup(); exit 1 };

# Every path under /etc, /usr and /var, but for what other tests and apt
# itself change meanwhile, and the storage (checked on its own).
my $busy = qr{^/var/(?:log|tmp|backups|cache/(?:apt|debconf|man)
    |lib/(?:apt|dpkg|containers|containerd|ceph|nginx|nixery))(?:/|$)}x;
sub scan {
    my %paths;
    find({ no_chdir => 1, wanted => sub {
        my $p = $File::Find::name;
        if ($p =~ $busy) {
            $File::Find::prune = 1;
            return;
        }
        $paths{$p} = 1;
    } }, '/etc', '/usr', '/var');
    return \%paths;
}
my $before = scan();

my ($rc, $out) = command(@apt, '--no-install-recommends', 'install', @debs);
is($rc, 0, 'apt-get install ./libnginx-mod-http-nixery_*.deb ./nixery-helper_*.deb')
    or BAIL_OUT($out);
ok(installed($_), "$_ installed") for @pkgs;

# The module, enabled as Debian's own libnginx-mod-* packages are.
ok(-f '/usr/lib/nginx/modules/ngx_http_nixery_module.so', 'module installed');
my $avail = '/usr/share/nginx/modules-available/mod-http-nixery.conf';
is(Nixery::Test->read_file($avail),
    "load_module modules/ngx_http_nixery_module.so;\n", 'its load_module line');
is(readlink('/etc/nginx/modules-enabled/50-mod-http-nixery.conf'), $avail,
    'enabled in /etc/nginx/modules-enabled');
(undef, my $depends) = command('dpkg-query', '-W', '-f=${Depends}',
    'libnginx-mod-http-nixery');
(undef, my $provides) = command('dpkg-query', '-W', '-f=${Provides}', 'nginx');
my ($abi) = $depends =~ /(nginx-abi-[\w.-]+)/;
ok($abi && index($provides, $abi) >= 0,
    "depends on the ABI this nginx provides ($abi)") or diag($depends);

# The helper's user, directories, units and settings.
my @pw = getpwnam('nixery');
ok(@pw && $pw[2] < 1000, 'system user nixery');
like((getgrnam('nix-users'))[3] // '', qr/\bnixery\b/, 'nixery is in nix-users');
is((stat $storage)[4], $pw[2], "$storage belongs to nixery");
ok(-x "/usr/bin/$_", "/usr/bin/$_") for qw(nixery-helper nixery-gc
    nixery-check nixery-assemble nixery-resolve nixery-popcount);
my $unit = Nixery::Test->read_file('/lib/systemd/system/nixery-helper.service')
    // '';
like($unit, qr{^ExecStart=/usr/bin/nixery-helper }m, 'the unit runs /usr/bin');
ok(-l '/etc/systemd/system/multi-user.target.wants/nixery-helper.service',
    'the helper is enabled');
ok(-l '/etc/systemd/system/timers.target.wants/nixery-gc.timer',
    'the collection timer is enabled');
ok(-f '/etc/default/nixery-helper', '/etc/default/nixery-helper');

# The system's own configuration still passes with the module loaded.
($rc, $out) = command('/usr/sbin/nginx', '-t');
is($rc, 0, 'nginx -t of /etc/nginx/nginx.conf') or diag($out);

# The shipped server block, with the test's ports, certificate, logs and
# Redis, in a main configuration that loads modules as Debian's does.
# Debian's nginx has its prefix in /usr/share/nginx, where modules/ is
# /usr/lib/nginx/modules: the test's prefix gets the same link.
$t = Nixery::Test->new;
my $dir = $t->dir;
symlink '/usr/share/nginx/modules', "$dir/modules";
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
my $tls = Nixery::Test::free_port();
command('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-days', '2', '-keyout', "$dir/conf/tls.key", '-out', "$dir/conf/tls.crt");
my $example = $t->read_file(
    '/usr/share/doc/libnginx-mod-http-nixery/examples/nixery.conf')
    // BAIL_OUT('the example server block is not installed');
my %swap = (
    '127.0.0.1:6379' => $q->address,
    'listen 80;' => 'listen 127.0.0.1:%%PORT%%;',
    'listen 443 ssl;' => "listen 127.0.0.1:$tls ssl;",
    '/etc/ssl/certs/registry.example.com.pem' => "$dir/conf/tls.crt",
    '/etc/ssl/private/registry.example.com.key' => "$dir/conf/tls.key",
    '/var/log/nginx/' => "$dir/logs/",
    '/srv/www' => "$dir/html",
);
for my $from (sort keys %swap) {
    $example =~ s/\Q$from\E/$swap{$from}/g;
}
like($example, qr{nixery_storage /var/lib/nixery;}, 'served from the storage');
$t->write_config(<<"CONF");
user www-data;
daemon off;
worker_processes 1;
pid %%PREFIX%%/nginx.pid;
error_log %%PREFIX%%/logs/error.log info;
include /etc/nginx/modules-enabled/*.conf;
events { worker_connections 256; }
http {
    client_body_temp_path %%PREFIX%%/client_body_temp;
    proxy_temp_path %%PREFIX%%/proxy_temp;
    fastcgi_temp_path %%PREFIX%%/fastcgi_temp;
    uwsgi_temp_path %%PREFIX%%/uwsgi_temp;
    scgi_temp_path %%PREFIX%%/scgi_temp;
    include /etc/nginx/mime.types;
$example
}
CONF
($rc, $out) = command($Nixery::Test::NGINX, '-t', '-p', "$dir/", '-c',
    'conf/nginx.conf');
is($rc, 0, 'nginx -t with the shipped server block') or diag($out);
$t->run;
ok($t->wait_port($tls), 'TLS port up');
my $maps = $t->read_file('/proc/' . $t->pid('nginx') . '/maps') // '';
like($maps, qr{ /usr/lib/nginx/modules/ngx_http_nixery_module\.so$}m,
    'nginx runs the installed module');

# The front page, written by the installed script from the installed set.
($rc, my $page) = do {
    local $ENV{NIXERY_PKGS_PATH} = '/usr/share/nixery/nix/pkgs';
    command('/usr/share/nixery/scripts/render-site.sh', '--tls',
        "127.0.0.1:$tls");
};
is($rc, 0, 'the installed render-site.sh') or diag($page);
$t->write_file('html/index.html', $page);
my $r = $t->curl('https', $tls, '/', '-k');
like($r->{body}, qr{podman pull 127\.0\.0\.1:$tls/}, 'the front page');

# A nix-daemon, as nix-setup-systemd runs it (offline here: no substituters,
# no sandbox, builds as root), unless one runs already.
if (!grep { /^\d+ nix-daemon$/ } split /\n/, (command('pgrep', '-l', '-x',
    'nix-daemon'))[1]) {
    unlink $sock unless $was{socket};
    local $ENV{NIX_CONFIG} = "sandbox = false\nbuild-users-group =\n"
        . "substituters =\n";
    $t->spawn('nix-daemon', 'nix-daemon');
    ok(Nixery::Test::poll(10, sub { -S $sock }), 'nix-daemon listens');
}

# The operator's choice of package source, in the conffile: the bundled set
# the package installed.
open my $fh, '>>', '/etc/default/nixery-helper' or die $!;
print $fh "NIXERY_CHANNEL=\nNIXERY_PKGS_PATH=/usr/share/nixery/nix/pkgs\n";
close $fh;

# The helper as its unit runs it: ExecStart, then the Environment= lines
# overridden by the EnvironmentFile, as the nixery user with its groups.
$unit =~ s/\\\n\s*/ /g;
my ($exec) = $unit =~ /^ExecStart=(.*)$/m;
$exec =~ s/\Q127.0.0.1:6379\E/$q->address/e;
my %env = (PATH => '/usr/bin:/bin', HOME => $storage, USER => 'nixery',
    LOGNAME => 'nixery');
$env{$1} = $2 while $unit =~ /^Environment=([^=\s]+)=(.*)$/mg;
for my $file ($unit =~ /^EnvironmentFile=-?(.*)$/mg) {
    my $text = $t->read_file($file) // next;
    $env{$1} = $2 while $text =~ /^([A-Z_]+)=(.*)$/mg;
}
is($env{NIX_REMOTE}, 'daemon', 'through the nix-daemon');
is($env{TMPDIR}, '/var/cache/nixery', 'GC roots in /var/cache/nixery');
ok(-d $env{TMPDIR}, 'which the package made');
$t->spawn('helper', 'setpriv', '--reuid=nixery', '--regid=nixery',
    '--init-groups', '--', 'env', '-i', map("$_=$env{$_}", sort keys %env),
    split(' ', $exec), '--helper-id', 'deb');
ok($q->wait_helper('deb'), 'the installed helper runs as nixery')
    or diag($t->read_file('logs/helper.log'));

# A pull, built by the installed helper and served by the installed module.
($rc, $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://127.0.0.1:$tls/hello", "oci:$dir/oci:hello");
is($rc, 0, 'skopeo pulls hello over HTTPS') or diag($out);
my @done = $t->log_lines('logs/helper.log', qr/"msg":"job done"/);
like($done[0] // '', qr/"outcome":"built"/, 'built by the helper')
    or diag($t->read_file('logs/helper.log'));
my @files;
find(sub { push @files, $File::Find::name if -f }, $storage);
ok(@files > 3, 'images in the storage');
is(scalar(grep { (stat)[4] != $pw[2] } @files), 0, 'written by nixery');

is($t->stop('helper', 'TERM'), 1, 'the helper stops on SIGTERM');
$t->stop('nix-daemon', 'TERM') if $t->pid('nix-daemon');
$q->stop_redis;
$t->done;

# Purge: nothing left but the storage.
($rc, $out) = command(@apt, 'purge', @pkgs);
is($rc, 0, 'apt-get purge') or diag($out);
ok(!installed($_), "$_ purged") for @pkgs;
ok(!-e '/etc/nginx/modules-enabled/50-mod-http-nixery.conf',
    'module disabled');
my $after = scan();
my @added = grep { !$before->{$_} } sort keys %$after;
my @removed = grep { !$after->{$_} } sort keys %$before;
is_deeply(\@added, [], 'no file left behind');
is_deeply(\@removed, [], 'no file of the system removed');
is(scalar(grep { -e } @files), scalar @files, 'the storage stays');

cleanup();
ok(!getpwnam('nixery') || $was{user}, 'the machine as the test found it');
done_testing;
