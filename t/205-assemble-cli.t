# nixery-assemble's command line: usage errors exit 2, bad input exits 1
# with a JSON log line naming the problem, and nothing is published; the
# closure may also be the bare array `nix path-info --json -r` prints;
# --layering (and NIXERY_LAYERING) choose the layering algorithm.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib";
use File::Temp qw(tempdir);
use JSON::PP;
use Test::More;
use Nixery::Store qw(make_fixture_store capture index_file write_closure
    read_json manifest_file blob_file);

my $bin = $Nixery::Store::ASSEMBLE;
my $dir = tempdir('nixery-205-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $prefix = "$dir/prefix";
my $store = make_fixture_store($prefix);

sub spew {
    my ($f, $text) = @_;
    open(my $fh, '>', $f) or die;
    print $fh $text;
    close $fh;
}

# (exit status, stdout, stderr)
sub run {
    my (@args) = @_;
    unlink "$dir/err";
    my ($status, $stdout) = capture("$dir/err", $bin, @args);
    open(my $e, '<', "$dir/err");
    my $stderr = do { local $/; <$e> };
    return ($status, $stdout, $stderr);
}

my ($st, $out, $err) = run('--storage', "$dir/s");
is($st, 2, 'missing options: usage error');
like($err, qr/usage: nixery-assemble/, 'usage printed');
($st) = run('--storage', "$dir/s", '--closure', 'x', '--name', 'a',
    '--budget', '-1');
is($st, 2, 'negative budget refused');
($st) = run('--bogus', 'x');
is($st, 2, 'unknown option refused');

spew("$dir/bad.json", '{"paths": [{"path": "/nix/store/x"}]}');
($st, $out, $err) = run('--storage', "$dir/s", '--closure', "$dir/bad.json",
    '--name', 'hello');
is($st, 1, 'bad closure: exit 1');
my $line = eval { decode_json((split /\n/, $err)[-1]) } // {};
is($line->{level}, 'error', 'a JSON error line');
like($line->{error}, qr/narSize of \/nix\/store\/x/, 'naming the problem');

spew("$dir/escape.json", '[{"path": "/nix/store/../../etc", "narSize": 1, '
    . '"references": []}]');
($st, $out, $err) = run('--storage', "$dir/s", '--closure',
    "$dir/escape.json", '--name', 'hello');
is($st, 1, 'a path outside the store is refused');
like($err, qr/not a store path/, 'with the reason');

($st, $out, $err) = run('--storage', "$dir/s", '--closure', "$dir/bad.json",
    '--name', 'Not/Valid');
is($st, 1, 'an invalid image name is refused');
like($err, qr/bad image name/, 'with the reason');
ok(!-e "$dir/s/index", 'nothing published');

# The bare path-info array with explicit roots and attributes.
my @array = map { +{ %$_, narHash => 'sha256:x', valid => JSON::PP::true } }
    @{$store->{paths}};
spew("$dir/array.json", encode_json(\@array));
($st, $out) = run('--storage', "$dir/s", '--closure', "$dir/array.json",
    '--name', 'weird', '--tag', 'v2', '--store-prefix', $prefix,
    (map { ('--root', $_) } @{$store->{roots}}),
    '--attribute', 'bashInteractive', '--expires', '2000000000');
is($st, 0, 'path-info array accepted');
my $o = decode_json($out);
my $index = index_file("$dir/s", $o->{key});
like(`cat '$index'`, qr/\nexpires 2000000000\n$/, 'expiry recorded');

# Layering: stable by default (a layer per store path), popularity on
# request, by flag or environment (the flag wins); anything else refused.
write_closure("$dir/fixture.json", $store);
# (exit status, store-path layers' history, OCI digest, stderr); weird
# alone requested, so that Nixery's algorithm keeps coreutils (which only
# weird needs) in weird's layer.
sub layers_with {
    my ($storage, @args) = @_;
    my ($st, $out, $err) = run('--storage', "$dir/$storage", '--closure',
        "$dir/fixture.json", '--name', 'weird', '--store-prefix', $prefix,
        '--root', $store->{named}{weird}, @args);
    return ($st, undef, undef, $err) if $st;
    my $o = decode_json($out);
    my ($hex) = $o->{oci} =~ /^sha256:(.*)$/;
    my $m = read_json(manifest_file("$dir/$storage", 'oci', $hex));
    my $c = read_json(blob_file("$dir/$storage", $m->{config}{digest}));
    my @h = map { $_->{created_by} } @{ $c->{history} };
    pop @h; # the symlink layer
    return ($st, \@h, $o->{oci}, $err);
}
my $paths = @{ $store->{paths} };
my ($st_s, $stable, $d_stable) = layers_with('stable');
is($st_s, 0, 'default layering');
is(scalar @$stable, $paths, 'default (stable): a layer per store path');
my ($st_p, $pop, $d_pop) = layers_with('pop', '--layering', 'popularity');
is($st_p, 0, '--layering popularity');
cmp_ok(scalar @$pop, '<', $paths, 'popularity merges paths');
isnt($d_pop, $d_stable, 'another image');
{
    local $ENV{NIXERY_LAYERING} = 'popularity';
    my (undef, undef, $d_env) = layers_with('env');
    is($d_env, $d_pop, 'NIXERY_LAYERING=popularity');
    my (undef, undef, $d_flag) = layers_with('flag', '--layering', 'stable');
    is($d_flag, $d_stable, 'the flag wins over the environment');
    $ENV{NIXERY_LAYERING} = 'dominators';
    ($st, undef, undef, $err) = layers_with('bad-env');
    is($st, 2, 'an unknown NIXERY_LAYERING is a usage error');
    like($err, qr/NIXERY_LAYERING.*"dominators"/, 'naming it');
}
($st, undef, undef, $err) = layers_with('bad', '--layering', 'Stable');
is($st, 2, 'an unknown --layering is a usage error');
like($err, qr/--layering.*"Stable" is neither stable nor popularity/,
    'naming the flag and the value');
ok(!-e "$dir/bad/index", 'nothing published');

done_testing;
