# Storage trees for tests: real images written straight into a storage root
# in the layout of src/storage_layout.h (docs/storage.md), without Nix or
# the helper.
#
#     my $fx = Nixery::Fixture->new($t->storage);
#     my $img = $fx->add_image(name => 'hello', tag => 'latest',
#         layers => [ { 'bin/' => undef, 'bin/hello' => "#!/bin/sh\n" } ]);
#     $img->{docker}{digest}, $img->{oci}{bytes}, $img->{layers}[0]{hex} ...
#
# Layers are real gzip'ed tar archives (uid/gid 0, fixed mtime, explicit
# directories), the config is a valid image config whose diff_ids are the
# uncompressed tars' digests, and every image gets both a Docker schema 2
# and an OCI manifest plus an index entry under the request's canonical key.
# Files are published like the helper does: written under tmp/, renamed.
package Nixery::Fixture;

use strict;
use warnings;

use Archive::Tar;
use Archive::Tar::Constant qw(DIR FILE SYMLINK);
use Carp qw(croak);
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use File::Path qw(make_path);
use IO::Compress::Gzip qw(gzip $GzipError);
use JSON::PP;

our %MEDIA = (
    docker_manifest => 'application/vnd.docker.distribution.manifest.v2+json',
    docker_config => 'application/vnd.docker.container.image.v1+json',
    docker_layer => 'application/vnd.docker.image.rootfs.diff.tar.gzip',
    oci_manifest => 'application/vnd.oci.image.manifest.v1+json',
    oci_config => 'application/vnd.oci.image.config.v1+json',
    oci_layer => 'application/vnd.oci.image.layer.v1.tar+gzip',
    'docker-list_manifest' =>
        'application/vnd.docker.distribution.manifest.list.v2+json',
    'oci-index_manifest' => 'application/vnd.oci.image.index.v1+json',
);

my $JSON = JSON::PP->new->canonical->utf8;
my $seq = 0;

sub new {
    my ($class, $root) = @_;
    croak 'storage root needed' unless defined $root;
    make_path("$root/tmp");
    return bless { root => $root }, $class;
}

sub root { $_[0]{root} }

# Paths relative to the storage root, as in src/storage_layout.h: the one
# place tests spell the layout. Class methods, so that tests reading what
# the helper wrote need no fixture: Nixery::Fixture->blob_path($hex). A
# "sha256:" prefix is accepted too.
sub fanned {
    my ($dir, $hex) = @_;
    $hex =~ s/^sha256://;
    croak "not a sha256 hex: $hex" unless $hex =~ /^[0-9a-f]{64}$/;
    return "$dir/" . substr($hex, 0, 2) . "/$hex";
}
sub blob_path { fanned('blobs/sha256', $_[1]) }
sub manifest_path {
    my ($self, $kind, $hex) = @_;
    croak "kind $kind" unless $kind =~ /\A(?:docker|oci|docker-list|oci-index)\z/;
    return fanned("manifests/$kind", $hex);
}
# $key: a request_key().
sub index_path { fanned('index', $_[1]) }
# $id: a layer cache id (helper only).
sub layer_cache_path { fanned('layers', $_[1]) }

# Write bytes at a relative path: tmp/ file, then rename, as the helper does.
sub publish {
    my ($self, $rel, $bytes) = @_;
    my $final = "$self->{root}/$rel";
    make_path(dirname($final));
    my $tmp = "$self->{root}/tmp/fixture-$$-" . $seq++;
    open my $fh, '>', $tmp or croak "$tmp: $!";
    binmode $fh;
    print $fh $bytes;
    close $fh or croak "$tmp: $!";
    chmod 0644, $tmp;
    rename $tmp, $final or croak "rename $final: $!";
    return $final;
}

sub write_blob {
    my ($self, $bytes) = @_;
    my $hex = sha256_hex($bytes);
    $self->publish($self->blob_path($hex), $bytes);
    return { hex => $hex, digest => "sha256:$hex", size => length $bytes,
        bytes => $bytes };
}

sub write_manifest {
    my ($self, $kind, $bytes) = @_;
    my $hex = sha256_hex($bytes);
    $self->publish($self->manifest_path($kind, $hex), $bytes);
    return { hex => $hex, digest => "sha256:$hex", size => length $bytes,
        bytes => $bytes, kind => $kind,
        media_type => $MEDIA{"${kind}_manifest"} };
}

# The index entry format of src/storage_layout.h: version 2 with lists
# (docker_list_hex/size, oci_index_hex/size).
sub index_entry_text {
    my (%e) = @_;
    my $lists = defined $e{oci_index_hex};
    return "nixery-index-v" . ($lists ? 2 : 1) . "\n"
        . "docker sha256:$e{docker_hex} $e{docker_size}\n"
        . "oci sha256:$e{oci_hex} $e{oci_size}\n"
        . ($lists ? "docker-list sha256:$e{docker_list_hex} $e{docker_list_size}\n"
            . "oci-index sha256:$e{oci_index_hex} $e{oci_index_size}\n" : '')
        . "expires " . ($e{expires} // 0) . "\n";
}

sub write_index {
    my ($self, $key, %e) = @_;
    $self->publish($self->index_path($key), index_entry_text(%e));
}

# The canonical request key (src/image_request.h): parse the name as Nixery
# does (leading shell/arm64, digit-leading attributes get '_', cacert and
# iana-etc added, sorted, de-duplicated), then SHA-256 of the versioned,
# NUL-separated encoding. Kept byte-identical with the C++ core; t/005
# checks the core's fixed test vector.
sub request_key {
    my ($name, $tag) = @_;
    my @c = split m{/}, $name, -1;
    my ($shell, $arch) = (0, 'amd64');
    while (@c && ($c[0] eq 'shell' || $c[0] eq 'arm64')) {
        my $m = shift @c;
        $m eq 'shell' ? ($shell = 1) : ($arch = 'arm64');
    }
    my @pkgs = map { join '.', map { /^[0-9]/ ? "_$_" : $_ } split /\./, $_, -1 } @c;
    push @pkgs, qw(bashInteractive coreutils moreutils nano) if $shell;
    push @pkgs, qw(cacert iana-etc);
    my %seen;
    @pkgs = grep { !$seen{$_}++ } sort @pkgs;
    my $enc = "nixery-request-v1\0arch=$arch\0tag=$tag\0";
    $enc .= "pkg=$_\0" for @pkgs;
    return sha256_hex($enc);
}

# A gzip'ed tar from { path => content } (undef content or a trailing '/'
# makes a directory; { symlink => target } a symlink). Deterministic: sorted
# entries, uid/gid 0, mtime 1, no gzip name or time.
sub make_layer {
    my ($files) = @_;
    my $tar = Archive::Tar->new;
    for my $path (sort keys %$files) {
        my $content = $files->{$path};
        my %common = (uid => 0, gid => 0, uname => 'root', gname => 'root',
            mtime => 1);
        if (!defined $content || $path =~ m{/$}) {
            (my $dir = $path) =~ s{/$}{};
            $tar->add_data($dir, '', { %common, type => DIR, mode => 0755 });
        } elsif (ref $content eq 'HASH') {
            $tar->add_data($path, '', { %common, type => SYMLINK,
                linkname => $content->{symlink}, mode => 0777 });
        } else {
            $tar->add_data($path, $content, { %common, type => FILE,
                mode => $path =~ m{^bin/} ? 0755 : 0644 });
        }
    }
    my $raw = $tar->write;
    my $gz;
    gzip(\$raw => \$gz, Minimal => 1, -Level => 6)
        or croak "gzip: $GzipError";
    return ($raw, $gz);
}

# Write a whole image. Options: name, tag (default latest), layers (array of
# { path => content }), arch (default from the name), cmd (array), expires
# (unix seconds, 0 = never), index (default 1: write the index entry).
# Returns { key, config, layers => [...], docker, oci } where each part has
# hex, digest, size and bytes (layers also diff_id and tar).
sub add_image {
    my ($self, %o) = @_;
    my $name = $o{name} // croak 'name';
    my $tag = $o{tag} // 'latest';
    my $arch = $o{arch} // ($name =~ m{^(?:shell/)?arm64(?:/|$)} ? 'arm64' : 'amd64');
    my $layers = $o{layers} // [ { 'etc/' => undef,
        'etc/hello' => "hello from $name:$tag\n" } ];

    my (@layers, @diff_ids);
    for my $files (@$layers) {
        my ($raw, $gz) = make_layer($files);
        my $blob = $self->write_blob($gz);
        $blob->{tar} = $raw;
        $blob->{diff_id} = 'sha256:' . sha256_hex($raw);
        push @layers, $blob;
        push @diff_ids, $blob->{diff_id};
    }
    my $config = $self->write_blob($JSON->encode({
        architecture => $arch,
        os => 'linux',
        config => {
            Env => [ 'PATH=/bin', 'SSL_CERT_FILE=/etc/ssl/certs/ca-bundle.crt' ],
            ($o{cmd} ? (Cmd => $o{cmd}) : ()),
        },
        rootfs => { type => 'layers', diff_ids => \@diff_ids },
    }));

    my %manifests;
    for my $kind (qw(docker oci)) {
        my $doc = {
            schemaVersion => 2,
            mediaType => $MEDIA{"${kind}_manifest"},
            config => { mediaType => $MEDIA{"${kind}_config"},
                size => $config->{size}, digest => $config->{digest} },
            layers => [ map { { mediaType => $MEDIA{"${kind}_layer"},
                size => $_->{size}, digest => $_->{digest} } } @layers ],
        };
        $manifests{$kind} = $self->write_manifest($kind, $JSON->encode($doc));
    }

    my $key = request_key($name, $tag);
    if ($o{index} // 1) {
        $self->write_index($key,
            docker_hex => $manifests{docker}{hex},
            docker_size => $manifests{docker}{size},
            oci_hex => $manifests{oci}{hex},
            oci_size => $manifests{oci}{size},
            expires => $o{expires} // 0);
    }
    return { name => $name, tag => $tag, key => $key, config => $config,
        layers => \@layers, %manifests };
}

# An image for linux/amd64 and linux/arm64 under one name: each platform's
# image (the arm64 one under its arm64/... name), a Docker manifest list,
# an OCI index and the name's version 2 entry, as the helper writes them
# (compact JSON, amd64 first). Returns the amd64 image's hash with
# {arm64} (the other image), {docker_list} and {oci_index} added.
sub add_multi_image {
    my ($self, %o) = @_;
    my $amd = $self->add_image(%o, index => 0);
    my $arm = $self->add_image(%o, name => "arm64/$o{name}", arch => 'arm64',
        layers => [ map { { %$_, 'etc/arch' => "arm64\n" } }
            @{ $o{layers} // [ { 'etc/hello' => "hello\n" } ] } ]);
    my %lists;
    for my $kind (qw(docker-list oci-index)) {
        my $member = $kind eq 'docker-list' ? 'docker' : 'oci';
        my $text = '{"schemaVersion":2,"mediaType":"'
            . $MEDIA{"${kind}_manifest"} . '","manifests":[';
        $text .= join ',', map {
            my ($img, $arch, $variant) = @$_;
            '{"mediaType":"' . $MEDIA{"${member}_manifest"} . '","size":'
                . $img->{$member}{size} . ',"digest":"'
                . $img->{$member}{digest} . '","platform":{"architecture":"'
                . $arch . '","os":"linux"' . ($variant ? ',"variant":"v8"' : '')
                . '}}'
        } ([ $amd, 'amd64', 0 ], [ $arm, 'arm64', 1 ]);
        $text .= ']}';
        $lists{$kind} = $self->write_manifest($kind, $text);
    }
    $self->write_index($amd->{key},
        docker_hex => $amd->{docker}{hex}, docker_size => $amd->{docker}{size},
        oci_hex => $amd->{oci}{hex}, oci_size => $amd->{oci}{size},
        docker_list_hex => $lists{'docker-list'}{hex},
        docker_list_size => $lists{'docker-list'}{size},
        oci_index_hex => $lists{'oci-index'}{hex},
        oci_index_size => $lists{'oci-index'}{size},
        expires => $o{expires} // 0);
    return { %$amd, arm64 => $arm, docker_list => $lists{'docker-list'},
        oci_index => $lists{'oci-index'} };
}

1;
