# Test support for image assembly: fake Nix store trees in a temp dir, the
# closure JSON nixery-assemble reads, an OCI image layout made from the
# storage root, and a file-by-file comparison of an unpacked rootfs with
# the store trees.
package Nixery::Store;

use strict;
use warnings;

use Carp qw(croak);
use Cwd qw(abs_path);
use Digest::SHA;
use Exporter qw(import);
use Fcntl qw(:mode);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path);
use JSON::PP;

use Nixery::Fixture;

our @EXPORT_OK = qw(make_fixture_store write_closure assemble capture oci_layout
    compare_store read_json blob_file manifest_file index_file sha256_file);

our $ROOT = abs_path(dirname(__FILE__) . '/../../..');
our $BUILD = $ENV{NIXERY_BUILD} // "$ROOT/build";
our $ASSEMBLE = "$BUILD/cmake/helper/nixery-assemble";

my $JSON = JSON::PP->new->canonical;

sub hash32 { my ($c) = @_; return $c x 32 }

sub spew {
    my ($path, $data, $mode) = @_;
    make_path(dirname($path));
    open(my $fh, '>:raw', $path) or croak "$path: $!";
    print $fh $data;
    close $fh;
    chmod $mode // 0444, $path;
}

# Make a small store under $prefix/nix/store with packages that exercise
# the tar format: references, hard links, a symlink leaving the store,
# non-UTF-8 and very long names, setuid bits, empty files and directories.
# Returns {paths => [{path, narSize, references}], roots => [...]}.
sub make_fixture_store {
    my ($prefix) = @_;
    my $s = "$prefix/nix/store";
    my %p = (
        glibc => '/nix/store/' . hash32('g') . '-glibc-2.37',
        bash => '/nix/store/' . hash32('b') . '-bash-interactive-5.2',
        coreutils => '/nix/store/' . hash32('c') . '-coreutils-9.1',
        cacert => '/nix/store/' . hash32('n') . '-nss-cacert-3.90',
        weird => '/nix/store/' . hash32('w') . '-weird-1.0',
    );
    my $d = sub { "$prefix$p{$_[0]}" };

    spew($d->('glibc') . '/lib/libc.so.6', "libc " x 1000, 0555);
    # Big enough for several gzip blocks (1 MiB each), partly compressible.
    spew($d->('glibc') . '/lib/libbig.so',
        join('', map { Digest::SHA::sha256($_) . "block $_\n" } 1 .. 90000),
        0444);
    # 3 MiB that deflate cannot shrink, as a compressed file is: at least
    # two whole 1 MiB blocks written as stored deflate blocks, which every
    # client that unpacks the layer must read (SHA-256 output, so the same
    # bytes every time).
    spew($d->('glibc') . '/lib/firmware.xz',
        join('', map { Digest::SHA::sha256("stored $_") } 1 .. 98304), 0444);
    link($d->('glibc') . '/lib/libc.so.6', $d->('glibc') . '/lib/libc-hard.so')
        or croak "link: $!";
    spew($d->('bash') . '/bin/bash', "#!/bin/bash-ish\n$p{glibc}\n", 0555);
    symlink('bash', $d->('bash') . '/bin/sh') or croak "symlink: $!";
    spew($d->('coreutils') . '/bin/env', "env $p{glibc}\n", 0555);
    spew($d->('coreutils') . '/bin/ls', "ls\n", 0555);
    spew($d->('coreutils') . '/bin/su', "su\n", 04555);
    spew($d->('coreutils') . '/bin/wall', "wall\n", 02555);
    make_path($d->('coreutils') . '/libexec/empty-dir');
    spew($d->('coreutils') . '/share/empty-file', '', 0444);
    spew($d->('cacert') . '/etc/ssl/certs/ca-bundle.crt', "CERTS\n", 0444);
    my $long = join('/', ('d' x 100) x 3) . '/' . ('f' x 100);
    spew($d->('weird') . "/share/$long", "deep\n", 0444);
    spew($d->('weird') . "/share/lat\xe9n\xff", "latin1\n", 0444);
    spew($d->('weird') . "/share/with space", "space\n", 0644);
    symlink('/etc/hostname', $d->('weird') . '/share/outside')
        or croak "symlink: $!";
    symlink('../' . ('t' x 200), $d->('weird') . '/share/long-target')
        or croak "symlink: $!";
    make_path($d->('weird') . '/bin');
    symlink("$p{coreutils}/bin/ls", $d->('weird') . '/bin/weird-ls')
        or croak "symlink: $!";
    # A second output also has bin/ls: a conflict resolved by path order.
    spew($d->('weird') . '/bin/ls', "not coreutils' ls\n", 0555);
    # Store directories are read-only, as in a real store.
    system('find', "$prefix/nix/store", '-mindepth', '1', '-type', 'd',
        '-exec', 'chmod', '0555', '{}', '+') == 0 or croak 'chmod';

    my %refs = (
        glibc => [],
        bash => ['glibc', 'bash'],
        coreutils => ['glibc'],
        cacert => [],
        weird => ['coreutils', 'glibc'],
    );
    my @paths = map {
        +{ path => $p{$_}, narSize => 1000 + length($_),
           references => [map { $p{$_} } @{$refs{$_}}] }
    } sort keys %p;
    return {
        paths => \@paths,
        roots => [sort map { $p{$_} } qw(bash coreutils cacert weird)],
        named => \%p,
    };
}

sub write_closure {
    my ($file, $closure, %opt) = @_;
    my $doc = { paths => $closure->{paths}, roots => $closure->{roots} };
    $doc->{attributes} = $opt{attributes} if $opt{attributes};
    spew($file, $JSON->encode($doc), 0644);
}

# Run a program (argv list, no shell) with stderr appended to $errfile;
# returns its exit status and its stdout.
sub capture {
    my ($errfile, @argv) = @_;
    my $pid = open(my $out, '-|') // croak "fork: $!";
    if (!$pid) {
        open(STDERR, '>>', $errfile);
        exec(@argv) or exit 127;
    }
    local $/;
    my $stdout = <$out>;
    close $out;
    return ($? >> 8, $stdout);
}

# Run nixery-assemble; returns its decoded JSON output (undef on failure)
# and the exit status.
sub assemble {
    my (%o) = @_;
    # No storage: the environment names a bucket (NIXERY_STORAGE_BACKEND).
    my @argv = ($ASSEMBLE, (defined $o{storage} ? ('--storage', $o{storage}) : ()),
        '--closure', $o{closure}, '--name', $o{name}, '--tag', $o{tag} // 'latest');
    push @argv, '--store-prefix', $o{prefix} if defined $o{prefix};
    push @argv, '--threads', $o{threads} if defined $o{threads};
    push @argv, '--budget', $o{budget} if defined $o{budget};
    push @argv, '--popularity', $o{popularity} if defined $o{popularity};
    push @argv, '--expires', $o{expires} if defined $o{expires};
    push @argv, @{ $o{args} } if $o{args}; # more flags, as given
    my $pid = open(my $out, '-|') // croak "fork: $!";
    if (!$pid) {
        open(STDERR, '>>', $o{log} // '/dev/null');
        exec(@argv) or exit 127;
    }
    local $/;
    my $text = <$out>;
    close $out;
    my $status = $? >> 8;
    return ($status == 0 ? $JSON->decode($text) : undef, $status);
}

sub read_json {
    my ($file) = @_;
    open(my $fh, '<:raw', $file) or croak "$file: $!";
    local $/;
    return $JSON->decode(<$fh>);
}

# Files in a storage root $storage, by digest ("sha256:<hex>") or hex, in
# the layout Nixery::Fixture spells.
sub blob_file {
    my ($storage, $digest) = @_;
    return "$storage/" . Nixery::Fixture->blob_path($digest);
}
sub manifest_file {
    my ($storage, $kind, $digest) = @_;
    return "$storage/" . Nixery::Fixture->manifest_path($kind, $digest);
}
# $key: the request key nixery-assemble prints.
sub index_file {
    my ($storage, $key) = @_;
    return "$storage/" . Nixery::Fixture->index_path($key);
}

sub sha256_file {
    my ($file) = @_;
    return Digest::SHA->new(256)->addfile($file, 'b')->hexdigest;
}

# An OCI image layout with the image's OCI manifest tagged $tag.
sub oci_layout {
    my ($storage, $oci_digest, $layout, $tag) = @_;
    my ($hex) = $oci_digest =~ /^sha256:([0-9a-f]{64})$/ or croak 'digest';
    my $mf = manifest_file($storage, 'oci', $hex);
    make_path("$layout/blobs/sha256");
    copy($mf, "$layout/blobs/sha256/$hex") or croak "copy: $!";
    my $m = read_json($mf);
    for my $d ($m->{config}, @{$m->{layers}}) {
        my ($h) = $d->{digest} =~ /^sha256:(.*)$/;
        copy(blob_file($storage, $d->{digest}), "$layout/blobs/sha256/$h")
            or croak "copy: $!";
    }
    spew("$layout/oci-layout", '{"imageLayoutVersion":"1.0.0"}', 0644);
    spew("$layout/index.json", $JSON->encode({
        schemaVersion => 2,
        manifests => [{
            mediaType => 'application/vnd.oci.image.manifest.v1+json',
            digest => $oci_digest,
            size => -s $mf,
            annotations => { 'org.opencontainers.image.ref.name' => $tag },
        }],
    }), 0644);
    return $m;
}

# Compare every file under each store path with the unpacked rootfs:
# type, permission bits, content, link target. Returns a list of
# differences (empty when identical) and the number of entries checked.
sub compare_store {
    my ($prefix, $rootfs, @paths) = @_;
    my @diff;
    my $n = 0;
    my @todo = @paths;
    while (defined(my $rel = shift @todo)) {
        my ($src, $dst) = ("$prefix$rel", "$rootfs$rel");
        $n++;
        my @s = lstat($src);
        my @d = lstat($dst);
        if (!@s || !@d) {
            push @diff, "$rel: missing in " . (@s ? 'image' : 'store');
            next;
        }
        if (S_IFMT() & ($s[2] ^ $d[2])) {
            push @diff, "$rel: type differs";
            next;
        }
        if (!S_ISLNK($s[2]) && ($s[2] & 07777) != ($d[2] & 07777)) {
            push @diff, sprintf('%s: mode %o != %o', $rel, $s[2] & 07777,
                $d[2] & 07777);
        }
        if (S_ISLNK($s[2])) {
            push @diff, "$rel: link target differs"
                if readlink($src) ne readlink($dst);
        } elsif (S_ISREG($s[2])) {
            push @diff, "$rel: content differs"
                if sha256_file($src) ne sha256_file($dst);
        } elsif (S_ISDIR($s[2])) {
            opendir(my $dh, $src) or croak "$src: $!";
            my @kids = sort grep { $_ ne '.' && $_ ne '..' } readdir $dh;
            opendir(my $dd, $dst) or croak "$dst: $!";
            my @have = sort grep { $_ ne '.' && $_ ne '..' } readdir $dd;
            push @diff, "$rel: entries differ" if "@kids" ne "@have";
            push @todo, map { "$rel/$_" } @kids;
        }
    }
    return (\@diff, $n);
}

1;
