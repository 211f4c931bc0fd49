# The registry serving from a bucket, for tests: a real S3 server
# (Nixery::Bucket, Ceph's RGW) holding fixture images, and nginx running
# conf/nixery-bucket.conf as written, with the test's paths and ports.
#
#     my $br = Nixery::BucketRegistry->new($t);          # RGW, bucket "images"
#     my $img = $br->add_image(name => 'hello');         # uploaded, not local
#     $t->write_config($br->conf(blobs => 'proxy', queue => $q, extra => ''));
#     $t->run;
#     $br->fetches(qr{^GET /_nixery/bucket/index/});     # bucket log lines
#
# Another host (Nixery::Netns): Nixery::BucketRegistry->new($t, listen =>
# [...]) (RGW's extra addresses, as Nixery::Bucket), then $br->conf(t =>
# $host_t, endpoint => ..., redis => ..., listen => ...) for that host's
# nginx and $br->fetches($re, $host_t) for its log.
#
# Images are made by Nixery::Fixture in a staging tree and uploaded from
# there, so nginx's nixery_storage (its local cache) starts empty.
package Nixery::BucketRegistry;

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(remove_tree);

use Nixery::Bucket;
use Nixery::Fixture;
use Nixery::Test;

our $EXAMPLE = "$Nixery::Test::ROOT/conf/nixery-bucket.conf";

sub new {
    my ($class, $t, %opt) = @_;
    my $s3 = Nixery::Bucket->new($t, %opt);
    $s3->create_bucket('images');
    my $creds = $t->write_file('conf/bucket.env',
        "AWS_ACCESS_KEY_ID=" . $s3->access_key . "\n"
        . "AWS_SECRET_ACCESS_KEY=" . $s3->secret_key . "\n");
    chmod 0600, $creds;
    return bless { t => $t, s3 => $s3, creds => $creds, n => 0 }, $class;
}

sub s3 { $_[0]{s3} }
sub credentials_file { $_[0]{creds} }

# Nixery::Fixture::add_image into a fresh staging tree, uploaded to the
# bucket (index entry last); nothing lands in nginx's storage.
sub add_image {
    my ($self, %o) = @_;
    my $staging = $self->{t}->dir . '/staging' . $self->{n}++;
    # multi: an image for two platforms (Fixture::add_multi_image).
    my $fx = Nixery::Fixture->new($staging);
    my $img = delete $o{multi} ? $fx->add_multi_image(%o) : $fx->add_image(%o);
    $self->{s3}->put_tree('images', $staging);
    remove_tree($staging);
    return $img;
}

# conf/nixery-bucket.conf with the test's paths and ports (each swapped
# string must be there: the test runs the example as written). Options:
# blobs (redirect|proxy), queue (a Nixery::Queue, else no nixery_redis),
# extra (more http{} lines); for another host: t (its Nixery::Test),
# endpoint (the bucket's URL from there), redis (Redis's address from
# there), listen (the address it listens on).
sub conf {
    my ($self, %o) = @_;
    my $t = $o{t} // $self->{t};
    my $dir = $t->dir;
    my $text = $t->read_file($EXAMPLE) // croak "$EXAMPLE missing";
    my %swap = (
        'listen 80;' => 'listen ' . ($o{listen} // '127.0.0.1') . ':%%PORT%%;',
        '/var/log/nginx/' => "$dir/logs/",
        '/var/cache/nixery;' => '%%STORAGE%%;',
        '/var/cache/nginx/nixery ' => "$dir/proxy-cache ",
        'endpoint=http://127.0.0.1:7480' => 'endpoint='
            . ($o{endpoint} // $self->{s3}->endpoint),
        '/etc/nginx/nixery-bucket.env' => $self->{creds},
    );
    if ($o{queue}) {
        $swap{'127.0.0.1:6379'} = $o{redis} // $o{queue}->address;
    } else {
        $swap{'nixery_redis 127.0.0.1:6379;'} = '';
    }
    if (($o{blobs} // 'redirect') eq 'proxy') {
        $swap{'nixery_bucket_blobs redirect;'} = 'nixery_bucket_blobs proxy;';
    }
    for my $from (sort keys %swap) {
        $text =~ s/\Q$from\E/$swap{$from}/g or croak "example lacks '$from'";
    }
    return $t->http_conf($text . ($o{extra} // ''), %o);
}

# Lines of the bucket log (the example's log of the internal location)
# matching $re: "<time> <method> <uri> <status> <upstream status> <cache>".
sub fetches {
    my ($self, $re, $t) = @_;
    my $log = ($t // $self->{t})->read_file('logs/nixery-bucket.log') // '';
    return grep { (split / /, $_, 2)[1] =~ $re } split /\n/, $log;
}

1;
