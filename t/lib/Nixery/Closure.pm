# Helpers for tests of Nix closures: resolve with nixery-resolve, check a
# closure is self-contained, and lay it out as a root directory (the store
# paths plus a symlink forest of the requested outputs, as an image's
# symlink layer has them) to chroot into.
package Nixery::Closure;
use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use File::Find ();
use File::Path qw(make_path);
use FindBin;
use JSON::PP;

our @EXPORT_OK = qw(resolve elf_interp_and_rpath make_root);

use Cwd qw(abs_path);
our $ROOT = dirname(dirname(dirname(dirname(abs_path(__FILE__)))));
our $BUILD = $ENV{NIXERY_BUILD} // "$ROOT/build";
$ENV{NIX_CONFIG} //= "sandbox = false\nbuild-users-group =\nsubstituters =\n";

# Runs nixery-resolve with the arguments (no shell); returns the decoded
# JSON and the exit status.
sub resolve {
    my (@args) = @_;
    my $bin = "$BUILD/cmake/helper/nixery-resolve";
    open(my $fh, '-|', $bin, '--nix-dir', "$ROOT/nix", @args)
        or die "cannot run $bin: $!";
    local $/;
    my $out = <$fh>;
    close($fh);
    my $status = $? >> 8;
    # Usage errors print no JSON.
    my $json = $out =~ /\S/ ? JSON::PP->new->decode($out) : undef;
    return ($json, $status);
}

# (interpreter, rpath) of an ELF file, or () when it is not dynamic.
sub elf_interp_and_rpath {
    my ($file) = @_;
    open(my $fh, '<', $file) or return ();
    my $magic = '';
    read($fh, $magic, 4);
    close($fh);
    return () unless $magic eq "\x7fELF";
    # One call for both when there is an interpreter (most files).
    my @both = `patchelf --print-interpreter --print-rpath '$file' 2>/dev/null`;
    chomp @both;
    return (@both[0, 1], 1) if $? == 0 && @both == 2;
    my $rpath = `patchelf --print-rpath '$file' 2>/dev/null`;
    chomp $rpath;
    return ('', $rpath, 1);
}

# Copies the closure's paths into $dir/nix/store and links the roots'
# files into $dir, merging directories; adds /dev/null and /tmp.
sub make_root {
    my ($dir, $closure) = @_;
    make_path("$dir/nix/store", "$dir/dev", "$dir/tmp");
    for my $p (@{ $closure->{paths} }) {
        # Hard links when the store is on the same file system: cheap, and
        # the store's files are read-only anyway.
        system("cp -al '$p->{path}' '$dir/nix/store/' 2>/dev/null") == 0
            or system('cp', '-a', $p->{path}, "$dir/nix/store/") == 0
            or die "cp $p->{path} failed";
    }
    for my $root (@{ $closure->{roots} }) {
        File::Find::find({ no_chdir => 1, wanted => sub {
            my $rel = substr($File::Find::name, length($root));
            return if $rel eq '';
            my $to = "$dir$rel";
            if (-d $File::Find::name && !-l $File::Find::name) {
                make_path($to) unless -d $to;
            } elsif (!-e $to && !-l $to) {
                symlink($File::Find::name, $to) or die "symlink $to: $!";
            }
        } }, $root);
    }
    system('mknod', "$dir/dev/null", 'c', '1', '3') == 0
        or die 'mknod /dev/null failed';
    chmod 0666, "$dir/dev/null";
    chmod 01777, "$dir/tmp";
}

1;
