# A real S3 server for tests: a one-node Ceph cluster (one monitor, one
# in-memory OSD) and its RADOS Gateway, in the test's directory, on free
# ports. RGW checks SigV4 signatures, body hashes, presigned URLs, Range and
# multipart uploads as AWS does, so what passes here is S3 as clients see it.
#
#     my $s3 = Nixery::Bucket->new($t);       # ~15 s: mon, osd, rgw, a user
#     $s3->create_bucket('images');
#     $s3->put('images', 'a/b', "bytes");     # signed with curl --aws-sigv4
#     my ($status, $body) = $s3->get('images', 'a/b');
#     $s3->stop_gateway; $s3->start_gateway;  # RGW down and back, data kept
#     Nixery::Bucket->new($t, memstore_bytes => 2 << 30);  # room for big objects
#     Nixery::Bucket->new($t, listen => ['10.0.0.1']);  # also on these addresses
#
# The daemons run in the foreground under $t->spawn, so the harness stops
# them with everything else. Addresses are path-style:
# http://127.0.0.1:<port>/<bucket>/<key>.
package Nixery::Bucket;

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(make_path);
use Time::HiRes qw(sleep time);

use Nixery::Test;

# Debian's packages (make deps installs them).
our @DAEMONS = qw(ceph-mon ceph-osd radosgw);

sub available {
    for my $p (qw(ceph-mon ceph-osd radosgw radosgw-admin monmaptool ceph)) {
        return 0 unless grep { -x "$_/$p" } split /:/, $ENV{PATH};
    }
    return 1;
}

# At the top of a test file that needs the server: skips without it on a
# developer's machine, fails under CI (Nixery::Test::need).
sub need {
    Nixery::Test::need(available(),
        'Ceph RGW (radosgw, ceph-mon, ceph-osd) is not installed');
}

sub new {
    my ($class, $t, %opt) = @_;
    my $dir = $t->dir . '/rgw';
    my $self = bless {
        t => $t,
        dir => $dir,
        region => $opt{region} // 'us-east-1',
        access_key => $opt{access_key} // 'NIXERYTESTACCESSKEY1',
        secret_key => $opt{secret_key} // 'nixery/test+secret/key0123456789abcdefghij',
        port => Nixery::Test::free_port(),
        # The in-memory OSD's size: what the bucket can hold, in RAM.
        memstore_bytes => $opt{memstore_bytes} // 1073741824,
        # Addresses the gateway listens on besides 127.0.0.1 (other
        # hosts' links, Nixery::Netns).
        listen => $opt{listen} // [],
    }, $class;
    $self->start_cluster;
    $self->start_gateway;
    $self->admin('user', 'create', '--uid=nixery', '--display-name=nixery',
        "--access-key=$self->{access_key}", "--secret-key=$self->{secret_key}");
    return $self;
}

sub endpoint { "http://127.0.0.1:$_[0]{port}" }
sub port { $_[0]{port} }
sub region { $_[0]{region} }
sub access_key { $_[0]{access_key} }
sub secret_key { $_[0]{secret_key} }

# The environment a helper (or make run) takes for this server.
sub env {
    my ($self, $bucket) = @_;
    return (
        NIXERY_STORAGE_BACKEND => 's3',
        S3_BUCKET => $bucket,
        AWS_REGION => $self->{region},
        AWS_ACCESS_KEY_ID => $self->{access_key},
        AWS_SECRET_ACCESS_KEY => $self->{secret_key},
        AWS_ENDPOINT_URL => $self->endpoint,
    );
}

sub conf_path { "$_[0]{dir}/ceph.conf" }

sub write_conf {
    my ($self) = @_;
    my ($d, $p1, $p2) = @$self{qw(dir mon_v1 mon_v2)};
    my $endpoints = join ' ', map { "endpoint=$_:$self->{port}" }
        '127.0.0.1', @{ $self->{listen} };
    $self->{t}->write_file($self->conf_path, <<"CONF");
[global]
fsid = $self->{fsid}
mon host = [v2:127.0.0.1:$p2,v1:127.0.0.1:$p1]
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = $self->{memstore_bytes}
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
osd crush chooseleaf type = 0
osd max object name len = 460
osd max object namespace len = 64
run dir = $d/run
admin socket = $d/run/\$cluster-\$name.asok
log file = $d/log/\$cluster-\$name.log
pid file = $d/run/\$cluster-\$name.pid
mon data = $d/mon/\$cluster-\$id
osd data = $d/osd/\$cluster-\$id
public network = 127.0.0.0/8
ms bind ipv6 = false
[client.rgw.a]
rgw frontends = beast $endpoints
# With authentication off, radosgw waits 300 s on its monitor without this.
ms mon client mode = crc secure
CONF
}

sub uuid {
    open my $fh, '<', '/proc/sys/kernel/random/uuid' or croak "uuid: $!";
    chomp(my $u = <$fh>);
    return $u;
}

# Run a command to completion: its exit status and output (stdout and
# stderr together).
sub capture { Nixery::Test::command(@_) }

# Run a command; croak with its output when it fails.
sub run_ok {
    my ($self, @argv) = @_;
    my ($status, $out) = capture(@argv);
    croak "@argv failed ($status): $out" if $status != 0;
    return $out;
}

sub ceph { my $self = shift; $self->run_ok('ceph', '-c', $self->conf_path, @_) }
sub admin { my $self = shift; $self->run_ok('radosgw-admin', '-c', $self->conf_path, @_) }

sub start_cluster {
    my ($self) = @_;
    my ($t, $d) = @$self{qw(t dir)};
    make_path(map { "$d/$_" } qw(mon osd run log));
    $self->{fsid} = uuid();
    $self->{mon_v1} = Nixery::Test::free_port();
    $self->{mon_v2} = Nixery::Test::free_port();
    $self->write_conf;
    my $addr = "[v2:127.0.0.1:$self->{mon_v2},v1:127.0.0.1:$self->{mon_v1}]";
    $self->run_ok('monmaptool', '--create', '--fsid', $self->{fsid},
        '--addv', 'a', $addr, "$d/monmap");
    $self->run_ok('ceph-mon', '-c', $self->conf_path, '--mkfs', '-i', 'a',
        '--monmap', "$d/monmap");
    $t->spawn('ceph-mon', 'ceph-mon', '-f', '-c', $self->conf_path, '-i', 'a');
    my $osd_uuid = uuid();
    chomp(my $id = $self->ceph('osd', 'new', $osd_uuid));
    croak "ceph osd new said '$id'" unless $id =~ /^\d+$/;
    make_path("$d/osd/ceph-$id");
    $self->run_ok('ceph-osd', '-c', $self->conf_path, '-i', $id, '--mkfs',
        '--osd-uuid', $osd_uuid);
    $t->spawn('ceph-osd', 'ceph-osd', '-f', '-c', $self->conf_path, '-i', $id);
    Nixery::Test::poll(30, sub { $self->ceph('osd', 'stat') =~ /\b1 up\b/ })
        or croak 'the OSD did not come up';
}

sub start_gateway {
    my ($self) = @_;
    $self->{t}->spawn('radosgw', 'radosgw', '-f', '-c', $self->conf_path,
        '-n', 'client.rgw.a');
    $self->{t}->wait_port($self->{port}, 60)
        or croak 'radosgw did not listen on port ' . $self->{port};
}

sub stop_gateway { $_[0]{t}->stop('radosgw') }

# curl with a SigV4 signature; returns (status, body).
sub curl {
    my ($self, @args) = @_;
    my (undef, $out) = capture('curl', '-s', '-w', '\n%{http_code}',
        '--aws-sigv4', "aws:amz:$self->{region}:s3",
        '--user', "$self->{access_key}:$self->{secret_key}",
        '-H', 'x-amz-content-sha256: UNSIGNED-PAYLOAD', @args);
    my ($body, $status) = $out =~ /\A(.*)\n(\d{3})\z/s
        or croak "curl said: $out";
    return ($status, $body);
}

sub url {
    my ($self, $bucket, $key) = @_;
    return $self->endpoint . "/$bucket" . (defined $key ? "/$key" : '');
}

sub create_bucket {
    my ($self, $bucket) = @_;
    my ($status, $body) = $self->curl('-X', 'PUT', $self->url($bucket));
    croak "create bucket $bucket: $status $body" unless $status == 200;
}

sub put {
    my ($self, $bucket, $key, $bytes) = @_;
    my $f = "$self->{dir}/put.tmp";
    $self->{t}->write_file($f, $bytes);
    return $self->curl('-T', $f, $self->url($bucket, $key));
}

# Upload every file of a storage tree (Nixery::Fixture's layout) under its
# relative path, index entries last, as the helper publishes; tmp/ is
# skipped. Returns the keys uploaded.
sub put_tree {
    my ($self, $bucket, $root) = @_;
    my @files;
    my @dirs = ($root);
    while (my $d = shift @dirs) {
        opendir my $dh, $d or croak "$d: $!";
        for my $e (sort grep { !/^\.\.?$/ } readdir $dh) {
            my $p = "$d/$e";
            next if $p eq "$root/tmp";
            -d $p ? push(@dirs, $p) : push(@files, substr($p, length($root) + 1));
        }
    }
    my @keys = ((grep { !m{^index/} } @files), (grep { m{^index/} } @files));
    for my $key (@keys) {
        open my $fh, '<', "$root/$key" or croak "$root/$key: $!";
        binmode $fh;
        local $/;
        my $bytes = <$fh>;
        my ($status, $body) = $self->put($bucket, $key, $bytes);
        croak "put $key: $status $body" unless $status == 200;
    }
    return @keys;
}

sub get {
    my ($self, $bucket, $key) = @_;
    return $self->curl($self->url($bucket, $key));
}

1;
