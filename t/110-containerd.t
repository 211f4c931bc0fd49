# containerd's ctr pulls a fixture image over plain HTTP from a private
# containerd (own root, state and socket): HEAD by tag, then GETs by digest.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Containerd;
use Nixery::Fixture;
use Nixery::Test;

Nixery::Test::need(-x '/usr/bin/containerd' && -x '/usr/bin/ctr',
    'containerd not installed');

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
my $img = $fx->add_image(name => 'shell/hello', tag => 'latest',
    layers => [ { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\necho hello\n" },
                { 'etc/' => undef, 'etc/motd' => "welcome\n" } ]);
$t->write_config($t->registry_conf(
    http => q{log_format pulls '$request_method $uri $status $body_bytes_sent';},
    server => '        access_log %%PREFIX%%/logs/pulls.log pulls;'));
$t->run;
my $containerd = Nixery::Containerd->start($t);

sub ctr {
    my @args = @_;
    my $pid = open(my $fh, '-|') // die "fork: $!";
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec $containerd->ctr_argv, @args;
        exit 127;
    }
    local $/;
    my $out = <$fh> // '';
    close $fh;
    return ($? >> 8, $out);
}

my $ref = '127.0.0.1:' . $t->port . '/shell/hello:latest';
my ($rc, $out) = ctr('images', 'pull', '--plain-http', '--snapshotter', 'native', $ref);
is($rc, 0, 'ctr images pull succeeds') or diag($out);
diag("ctr images pull printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
like($out, qr/\Q$img->{docker}{digest}\E/, 'ctr names the manifest digest');
like($out, qr/unpacking linux\/amd64/, 'ctr unpacked the image');

($rc, $out) = ctr('images', 'ls');
like($out, qr/\Q$ref\E\s+\S+\s+\Q$img->{docker}{digest}\E/, 'image listed with its digest');
diag("ctr images ls printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};
($rc, $out) = ctr('content', 'ls');
like($out, qr/\Q$_->{digest}\E/, "content has $_->{digest}")
    for $img->{config}, @{ $img->{layers} };

($rc, $out) = ctr('images', 'pull', '--plain-http', '--snapshotter', 'native',
    '127.0.0.1:' . $t->port . '/not/there:latest');
isnt($rc, 0, 'pulling a missing image fails');
like($out, qr/not found/, 'ctr reports it as not found');
diag("ctr on a missing image printed:\n$out") if $ENV{NIXERY_SHOW_CLIENTS};

# The unpacked snapshot holds the files of both layers.
($rc, $out) = ctr('snapshots', '--snapshotter', 'native', 'ls');
my @snaps = glob($containerd->root . "/io.containerd.snapshotter.v1.native/snapshots/*");
ok((grep { -f "$_/bin/hello" && -f "$_/etc/motd" } @snaps), 'snapshot has both layers');

# What containerd asked for: HEAD by tag, then GETs by digest.
$t->stop('containerd');
$t->stop_nginx;
my @log = split /\n/, $t->read_file('logs/pulls.log') // '';
diag("registry log:\n" . join "\n", @log) if $ENV{NIXERY_SHOW_CLIENTS};
ok((grep { $_ eq "HEAD /v2/shell/hello/manifests/latest 200 0" } @log), 'HEAD by tag');
ok((grep { $_ eq "GET /v2/shell/hello/manifests/$img->{docker}{digest} 200 $img->{docker}{size}" } @log),
    'GET manifest by digest');
for my $blob ($img->{config}, @{ $img->{layers} }) {
    ok((grep { $_ eq "GET /v2/shell/hello/blobs/$blob->{digest} 200 $blob->{size}" } @log),
        "GET blob $blob->{hex}");
}
ok(!(grep { / [45]\d\d / && !m{/not/there/} } @log),
    'no error responses during the pull');

$t->done;
done_testing;
