# `make run` on a bucket, as the README says a user would start it:
# NIXERY_STORAGE_BACKEND=s3 with Nixery's variables (S3_BUCKET,
# AWS_ENDPOINT_URL, the AWS keys) against a real S3 server (Ceph's RGW).
# The helper builds into the bucket, nginx serves from it (blobs by
# redirect, so they never land on this host), and the secret is in no
# command line, no nginx.conf and no log.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Test;
use Nixery::Bucket;
use Nixery::Run qw(command);

Nixery::Bucket::need();
Nixery::Test::need($> == 0, 'needs root (make run builds with Nix)');

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $s3 = Nixery::Bucket->new($t);
$s3->create_bucket('images');
my %env = $s3->env('images');
my $reg = '127.0.0.1:' . $t->port;
my $run = Nixery::Run->start($t, env => \%env, timeout => 120);

like($t->read_file('logs/run.log'),
    qr/images in the s3 bucket images at \Q${\ $s3->endpoint }\E/,
    'make run says where the images go');

my ($rc, $out) = command('skopeo', 'copy', '--src-tls-verify=false',
    "docker://$reg/hello", "oci:$dir/oci:hello");
is($rc, 0, 'skopeo copy hello') or diag($out);
is($run->jobs('built'), 1, 'built once');
is($run->jobs, 1, '... and no second job for the same image');

my ($status, $list) = $s3->curl($s3->url('images') . '?list-type=2&prefix=index%2F');
is($status, 200, 'the bucket lists');
like($list, qr{<Key>index/[0-9a-f]{2}/[0-9a-f]{64}</Key>},
    'the index entry is in the bucket');
($status, $list) = $s3->curl($s3->url('images') . '?list-type=2&prefix=blobs%2F');
my @blobs = $list =~ m{<Key>(blobs/sha256/[^<]+)</Key>}g;
ok(@blobs >= 2, 'layers and config are in the bucket (' . scalar(@blobs) . ')');
ok(!-d "$dir/storage/blobs", 'no blob on this host: clients got redirects');
ok(scalar $run->access_log(qr{GET /v2/hello/blobs/sha256:[0-9a-f]{64} HTTP/1\.1" 307}),
    'blobs were answered with 307');

# A second pull: from the bucket (the host's cache), no job.
($rc, $out) = command('skopeo', 'inspect', '--tls-verify=false',
    "docker://$reg/hello");
is($rc, 0, 'skopeo inspect hello') or diag($out);
is($run->jobs, 1, 'no new job');

# The secret: only in the root-only credentials file nginx reads.
my $secret = $s3->secret_key;
my $creds = "$dir/nginx/bucket.credentials";
is((stat $creds)[2] & 0777, 0600, 'the credentials file is readable by root only');
unlike($t->read_file('nginx/nginx.conf') . ($t->read_file('nginx/bucket-http.conf') // ''),
    qr/\Q$secret\E/, 'no secret in the nginx configuration');
my %procs = $run->processes;
my @cmdlines = map { $t->read_file("/proc/$_/cmdline") // "" } values %procs;
ok(@cmdlines >= 3, 'redis, helper and nginx are running');
ok(!grep({ index($_, $secret) >= 0 } @cmdlines), 'no secret on a command line');
for my $log (qw(logs/helper.log logs/error.log logs/access.log logs/run.log)) {
    unlike($t->read_file($log) // '', qr/\Q$secret\E/, "no secret in $log");
}

is($run->stop('TERM'), 0, 'make run stops');
$t->done;
done_testing;
