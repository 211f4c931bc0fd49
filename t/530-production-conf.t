# The shipped production examples run as written, with only paths, ports
# and the package source swapped for the test's: conf/nixery.conf (TLS,
# the front page, the registry and the build queue) in nginx, and the
# helper started with conf/nixery-helper.service's ExecStart and
# Environment lines, against a redis-server on TCP. skopeo pulls over
# HTTPS an image the helper builds; the front page is the one
# scripts/render-site.sh --tls writes for a channel source. (t/035 runs
# the same nginx example with a fixture image.)
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Queue;
use Nixery::Run qw(command);

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $root = $Nixery::Test::ROOT;
my $q = Nixery::Queue->new($t, tcp => 1);
$q->start_redis;
my $redis = $q->address;

# Paths and addresses of the examples, and the test's.
my $tls = Nixery::Test::free_port();
my %swap = (
    '/usr/bin/nixery-helper' => "$Nixery::Test::BUILD/cmake/helper/nixery-helper",
    '/usr/bin/nixery-gc' => "$Nixery::Test::BUILD/cmake/helper/nixery-gc",
    '/usr/share/nixery/nix' => "$root/nix",
    '/var/lib/nixery' => $t->storage,
    '/var/cache/nixery' => "$dir/tmp",
    '127.0.0.1:6379' => $redis,
    'listen 80;' => 'listen 127.0.0.1:%%PORT%%;',
    'listen 443 ssl;' => "listen 127.0.0.1:$tls ssl;",
    '/etc/ssl/certs/registry.example.com.pem' => "$dir/conf/tls.crt",
    '/etc/ssl/private/registry.example.com.key' => "$dir/conf/tls.key",
    '/var/log/nginx/' => "$dir/logs/",
    '/srv/www' => "$dir/html",
);
sub swap {
    my ($text) = @_;
    for my $from (sort keys %swap) {
        $text =~ s/\Q$from\E/$swap{$from}/g;
    }
    return $text;
}

# The helper, from the unit's ExecStart and Environment lines.
my $unit = $t->read_file("$root/conf/nixery-helper.service")
    // BAIL_OUT('conf/nixery-helper.service missing');
$unit =~ s/\\\n\s*/ /g;
my ($exec) = $unit =~ /^ExecStart=(.*)$/m;
my @argv = split ' ', swap($exec);
my %env = map { /^Environment=([^=]+)=(.*)$/ ? ($1 => $2) : () }
    split /\n/, $unit;
is($env{NIXERY_CHANNEL}, 'nixos-24.11', 'the unit names a channel');
ok(exists $env{NIX_REMOTE}, 'the unit uses the Nix daemon');
# No network and no nix-daemon here: the bundled set, single-user Nix.
delete @env{qw(NIXERY_CHANNEL NIX_REMOTE)};
$env{NIXERY_PKGS_PATH} = "$root/nix/pkgs";
$env{TMPDIR} = swap($env{TMPDIR});
mkdir "$dir/tmp";
{
    local @ENV{keys %env} = values %env;
    $t->spawn('helper', @argv, '--helper-id', 'unit');
}
ok($q->wait_helper('unit'), 'the helper runs with the unit\'s flags')
    or diag($t->read_file('logs/helper.log'));

# nginx with conf/nixery.conf; the module loads at the top level.
command('openssl', 'req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-nodes', '-subj', '/CN=localhost',
    '-days', '2', '-keyout', "$dir/conf/tls.key", '-out', "$dir/conf/tls.crt");
my $example = $t->read_file("$root/conf/nixery.conf")
    // BAIL_OUT('conf/nixery.conf missing');
like($example, qr/^# +load_module modules\/ngx_http_nixery_module\.so;/m,
    'the example says how to load the module');
$t->write_config($t->http_conf("    include /etc/nginx/mime.types;\n"
    . swap($example)));
$t->run;
ok($t->wait_port($tls), 'TLS port up');

# The front page as the README says to write it.
my ($rc, $page) = do {
    local $ENV{NIXERY_CHANNEL} = 'nixos-24.11';
    command("$root/scripts/render-site.sh", '--tls', "127.0.0.1:$tls");
};
is($rc, 0, 'render-site.sh --tls');
$t->write_file('html/index.html', $page);
my $r = $t->curl('https', $tls, '/', '-k');
is($r->{status}, 200, 'front page over HTTPS');
like($r->{body}, qr{podman pull 127\.0\.0\.1:$tls/shell/git/htop},
    'pull command without --tls-verify=false');
unlike($r->{body}, qr{tls-verify|plain-http}, 'no insecure flags');
like($r->{body}, qr{channel\s+<code>nixos-24\.11</code>}, 'names the channel');

$r = $t->http(GET => '/v2/');
is($r->{status}, 301, 'plain HTTP redirects to HTTPS');

# skopeo over HTTPS: the helper builds the image, nginx serves it.
($rc, my $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://127.0.0.1:$tls/hello", "oci:$dir/oci:hello");
is($rc, 0, 'skopeo copy over HTTPS') or diag($out);
my @done = $t->log_lines('logs/helper.log', qr/"msg":"job done"/);
is(scalar @done, 1, 'one job');
like($done[0] // '', qr/"outcome":"built"/, 'built by the helper');
ok(-s "$dir/logs/registry.access.log", 'registry access log written');

# The collector, from conf/nixery-gc.service's ExecStart, beside the
# running helper and nginx: the fresh image stays, and is still served.
my $gc_unit = $t->read_file("$root/conf/nixery-gc.service")
    // BAIL_OUT('conf/nixery-gc.service missing');
$gc_unit =~ s/\\\n\s*/ /g;
my ($gc_exec) = $gc_unit =~ /^ExecStart=(.*)$/m;
($rc, my $gc_out) = command(split ' ', swap($gc_exec));
is($rc, 0, 'nixery-gc runs with the unit\'s flags') or diag($gc_out);
like($gc_out, qr/"index_kept":1,"index_removed":0,/, 'the image is kept');
like($gc_out, qr/"blobs_removed":0,/, 'no blob removed');
($rc, $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://127.0.0.1:$tls/hello", "oci:$dir/oci2:hello");
is($rc, 0, 'the image is still served after the collection') or diag($out);
like($t->read_file("$root/conf/nixery-gc.timer") // '', qr/^OnCalendar=\S+/m,
    'conf/nixery-gc.timer schedules it');

# SIGTERM: the helper stops cleanly.
is($t->stop('helper', 'TERM'), 1, 'helper stops on SIGTERM');
$t->done;
done_testing;
