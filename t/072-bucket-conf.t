# The bucket directives at configuration time: `nginx -t` fails, naming the
# setting, when the credentials file is missing or incomplete or a
# directive is wrong; the secret never shows in `nginx -T`. No bucket is
# contacted: credentials are read, not checked, when nginx loads.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Bucket;
use Nixery::Test;

my $t = Nixery::Test->new;
my $dir = $t->dir;
my $secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCY' . int(rand 1e9);
my $good = $t->write_file('conf/good.env',
    "# the test's keys\nAWS_ACCESS_KEY_ID=AKIDTEST\nAWS_SECRET_ACCESS_KEY=$secret\n");
my $no_secret = $t->write_file('conf/no-secret.env', "AWS_ACCESS_KEY_ID=AKIDTEST\n");
my $garbled = $t->write_file('conf/garbled.env',
    "AWS_ACCESS_KEY_ID=AKIDTEST\n$secret\n");

# `nginx -t` (or -T) on a config whose http{} holds $bucket; returns the
# exit status and what nginx printed.
sub check {
    my ($bucket, $flag) = @_;
    $t->write_config($t->http_conf(<<"CONF"));
    $bucket
    server {
        listen 127.0.0.1:%%PORT%%;
        location /v2/ {
            nixery;
            nixery_storage %%STORAGE%%;
        }
        location /_nixery/bucket/ {
            internal;
            proxy_pass \$nixery_bucket_url;
            proxy_cache_key \$nixery_bucket_key;
        }
    }
CONF
    return Nixery::Bucket::capture($Nixery::Test::NGINX, $flag // '-t',
        '-p', "$dir/", '-c', 'conf/nginx.conf');
}

my $s3 = 'nixery_bucket s3 images endpoint=http://127.0.0.1:9 region=eu-west-1;';
my ($rc, $out) = check("$s3 nixery_bucket_credentials $good;");
is($rc, 0, 'a complete configuration passes nginx -t') or diag($out);

($rc, $out) = check("$s3 nixery_bucket_credentials $good;", '-T');
is($rc, 0, 'nginx -T');
like($out, qr/nixery_bucket_credentials \Q$good\E/, '... shows the file\'s path');
unlike($out, qr/\Q$secret\E/, '... never the secret');

($rc, $out) = check("$s3 nixery_bucket_credentials $dir/conf/missing.env;");
isnt($rc, 0, 'a missing credentials file fails nginx -t');
like($out, qr/"nixery_bucket_credentials".*\Q$dir\E\/conf\/missing\.env.*No such file/,
    '... naming the setting and the file');

($rc, $out) = check("$s3 nixery_bucket_credentials $no_secret;");
isnt($rc, 0, 'a file without the secret fails');
like($out, qr/"nixery_bucket_credentials".* has no AWS_SECRET_ACCESS_KEY/,
    '... naming the missing setting');

($rc, $out) = check("$s3 nixery_bucket_credentials $garbled;");
isnt($rc, 0, 'a file with a line that is not KEY=value fails');
like($out, qr/line 2 is not KEY=value/, '... saying where');
unlike($out, qr/\Q$secret\E/, '... not what');

($rc, $out) = check($s3);
isnt($rc, 0, 'nixery_bucket without credentials fails');
like($out, qr/"nixery_bucket" needs "nixery_bucket_credentials"/, '... saying so');

($rc, $out) = check('nixery_bucket s3 images endpoint=ftp://x;'
    . " nixery_bucket_credentials $good;");
isnt($rc, 0, 'a bad endpoint fails');
like($out, qr/scheme must be http or https/, '... saying why');

($rc, $out) = check("nixery_bucket azure images; nixery_bucket_credentials $good;");
like($out, qr/unknown kind "azure"/, 'an unknown kind fails');
($rc, $out) = check("$s3 nixery_bucket_credentials $good; nixery_bucket_blobs copy;");
isnt($rc, 0, 'nixery_bucket_blobs takes redirect or proxy');
($rc, $out) = check("$s3 nixery_bucket_credentials $good; nixery_bucket_redirect_ttl 8d;");
like($out, qr/"nixery_bucket_redirect_ttl" must be between 1s and 7d/,
    'a redirect ttl beyond 7 days fails');

($rc, $out) = check("nixery_bucket gcs images; nixery_bucket_credentials $good;");
isnt($rc, 0, 'gcs with AWS keys fails');
like($out, qr/"nixery_bucket_credentials"/, '... naming the setting');
unlike($out, qr/\Q$secret\E/, '... not the secret');

($rc, $out) = check('nixery_bucket off;');
is($rc, 0, 'nixery_bucket off needs no credentials') or diag($out);

done_testing;
