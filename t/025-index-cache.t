# nixery_index_cache: index entries are remembered per worker for `valid`
# seconds, never past their expiry, dropped when the manifest they name is
# gone; misses are never remembered; `off` reads the disk every time.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use Test::More;
use Nixery::Fixture;
use Nixery::Test;

sub digest_of {
    my ($t, $name) = @_;
    my $r = $t->http(GET => "/v2/$name/manifests/latest");
    return $r->{status} == 200 ? $r->{headers}{'docker-content-digest'} : $r->{status};
}
sub image { my ($fx, $name, $v, %o) = @_;
    $fx->add_image(name => $name, layers => [ { v => "$v\n" } ], %o) }

my $t = Nixery::Test->new;
my $fx = Nixery::Fixture->new($t->storage);
$t->write_config($t->registry_conf(http => '    nixery_index_cache max=100 valid=1h;'));
$t->run;

# Misses are not remembered: a published entry is served at once.
is(digest_of($t, 'late'), 404, 'not there yet');
my $late = image($fx, 'late', 1);
is(digest_of($t, 'late'), $late->{docker}{digest}, 'published entry served at once');

# A remembered entry is reused while valid...
my $v1 = image($fx, 'moving', 1);
is(digest_of($t, 'moving'), $v1->{docker}{digest}, 'first entry');
my $v2 = image($fx, 'moving', 2);
is(digest_of($t, 'moving'), $v1->{docker}{digest}, 'replaced entry: remembered one still served');
# ...until the manifest it names is gone: then the disk is read again.
unlink $t->storage . '/' . $fx->manifest_path('docker', $v1->{docker}{hex});
is(digest_of($t, 'moving'), $v2->{docker}{digest}, 'manifest gone: entry read again');

# Never past the entry's own expiry.
my $expires = time + 2;
my $soon = image($fx, 'expiring', 1, expires => $expires);
is(digest_of($t, 'expiring'), $soon->{docker}{digest}, 'entry with an expiry');
my $next = image($fx, 'expiring', 2);
Nixery::Test::poll(5, sub { time >= $expires });
is(digest_of($t, 'expiring'), $next->{docker}{digest}, 'expired entry not reused');
$t->done;

# off: every request reads the disk.
my $u = Nixery::Test->new;
my $ufx = Nixery::Fixture->new($u->storage);
$u->write_config($u->registry_conf(http => '    nixery_index_cache off;'));
$u->run;
my $w1 = image($ufx, 'moving', 1);
is(digest_of($u, 'moving'), $w1->{docker}{digest}, 'off: first entry');
my $w2 = image($ufx, 'moving', 2);
is(digest_of($u, 'moving'), $w2->{docker}{digest}, 'off: replaced entry seen at once');
$u->done;

# Bad parameters are configuration errors.
for my $bad ('max=0', 'valid=1s', 'max=10 valid=x', 'max=10 valid=0', 'on', 'off max=1') {
    my $b = Nixery::Test->new;
    $b->write_config($b->registry_conf(http => "    nixery_index_cache $bad;"));
    my $out = `$Nixery::Test::NGINX -t -p @{[ $b->dir ]}/ -c conf/nginx.conf 2>&1`;
    like($out, qr/invalid "nixery_index_cache" parameters|invalid number of arguments/,
        "nixery_index_cache $bad is refused");
}

done_testing;
