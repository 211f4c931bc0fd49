# Builds one package of the bundled package set for another architecture
# from Debian's .debs of that architecture (see default.nix, platforms.nix
# and docs/package-set.md): the files are unpacked, never installed, and
# patched as builder.sh patches the host's. Run by Nix on the x86_64 host
# as `/bin/sh builder-deb.sh` with these variables:
#
#   debFiles     the .debs (store paths) whose files make up this package
#   deps         store paths of the packages it links against / runs with
#   glibc        store path of glibc (empty when building glibc itself)
#   exclude      extended regex of relative paths to leave out
#   postInstall  shell commands run last, in $out (the set's own code)
#   triplet      Debian's multiarch directory, e.g. aarch64-linux-gnu
#   loader       the dynamic loader's file name, e.g. ld-linux-aarch64.so.1
#   emulator     qemu-user for that architecture, which runs the loader's
#                check and the wrapper's compiler (no binfmt_misc needed)
#   toolchain    .debs of a C compiler for that architecture and its libc
#                (to compile wrapper.c as one of its programs)
#   wrapper      wrapper.c
#
# Debian's /usr/X and /X both become $out/X (nixpkgs' layout). ELF
# interpreters and rpaths are rewritten to store paths, script shebangs to
# the interpreters found in $out or $deps, and absolute symlinks to store
# paths, so nothing in $out refers to the host. A last check makes the build
# fail if any ELF file would still load a library from outside the store.
set -eu
export PATH=/usr/bin:/bin
export LC_ALL=C

work=$(pwd)
mkdir -p "$out"
[ -x "$emulator" ] || {
    echo "$emulator is missing: install qemu-user-static" >&2
    exit 1
}

# 1. The files: every non-directory path of the .debs, minus documentation.
skip='^(usr/)?share/(doc|doc-base|man|info|lintian|bug|menu|locale|bash-completion|zsh|fish|gtk-doc|help)/'
mkdir "$work/root"
for d in $debFiles; do
    dpkg-deb -x "$d" "$work/root"
done
(cd "$work/root" && find . ! -type d | sed 's,^\./,,') |
    grep -Ev "$skip" | { if [ -n "${exclude:-}" ]; then
    grep -Ev "$exclude"; else cat; fi; } | sort -u > "$work/keep" || true
[ -s "$work/keep" ] || { echo "no files for: $debs" >&2; exit 1; }
tar -C "$work/root" -cf - --no-recursion --transform='s,^usr/,,S' \
    -T "$work/keep" | tar -C "$out" -xf - --no-same-owner
chmod -R u+w "$out"

# Maps a path of the Debian system to where it lives now: $out, then each
# dependency.
map_path() {
    rel=${1#/}
    rel=${rel#usr/}
    for root in "$out" $deps ${glibc:-}; do
        if [ -e "$root/$rel" ] || [ -L "$root/$rel" ]; then
            echo "$root/$rel"
            return 0
        fi
    done
    return 1
}

# 2. Symlinks: absolute or escaping targets are re-pointed into the store.
# A relative target is taken from where the link was in the .deb.
find "$out" -type l | while IFS= read -r l; do
    target=$(readlink "$l")
    case "$target" in
    /nix/store/*) continue ;;
    /*) host=$target ;;
    *)
        [ -e "$l" ] && continue
        rel=${l#"$out"/}
        if [ -L "$work/root/usr/$rel" ]; then
            host=$(realpath -ms "/usr/$(dirname "$rel")/$target")
        else
            host=$(realpath -ms "/$(dirname "$rel")/$target")
        fi
        ;;
    esac
    if new=$(map_path "$host"); then
        ln -sfn "$new" "$l"
    else
        echo "dropping dangling link ${l#"$out"/} -> $target" >&2
        rm -f "$l"
    fi
done

# 3. ELF files: interpreter and rpath into the store.
loader=${glibc:-$out}/lib/$triplet/$loader
libdirs=
for root in "$out" $deps ${glibc:-}; do
    for d in "lib/$triplet" lib "lib/$triplet/gconv"; do
        [ -d "$root/$d" ] && libdirs="$libdirs${libdirs:+:}$root/$d"
    done
done
find "$out" -type f \( -perm -u+x -o -name '*.so' -o -name '*.so.*' \) \
    > "$work/candidates"
: > "$work/elf"
while IFS= read -r f; do
    magic=$(od -An -c -N4 "$f" | tr -d ' ')
    case "$magic" in
    177ELF) ;;
    '#!'*)
        line=$(head -n1 "$f")
        interp=${line#\#!}
        interp=${interp# }
        prog=${interp%% *}
        rest=${interp#"$prog"}
        case "$prog" in /nix/store/*) continue ;; esac
        if new=$(map_path "$prog"); then
            sed -i "1s|.*|#!$new$rest|" "$f"
        fi
        continue
        ;;
    *) continue ;;
    esac
    patchelf --print-rpath "$f" > /dev/null 2>&1 || continue # static
    case "$f" in */ld-linux*) continue ;; esac # must stay as it is
    # One patchelf call: each call that grows the file adds a segment,
    # aligned to 64 KiB pages on arm64.
    if patchelf --print-interpreter "$f" > /dev/null 2>&1; then
        patchelf --set-interpreter "$loader" --set-rpath "$libdirs" "$f"
    else
        patchelf --set-rpath "$libdirs" "$f"
    fi
    patchelf --shrink-rpath "$f"
    echo "$f" >> "$work/elf"
done < "$work/candidates"

# Replaces bin/X by a wrapper (wrapper.c) that sets variables, then runs
# the real program, moved to bin/.X-wrapped:
#   wrap_program bin/perl PERL5LIB "$out/share/perl5:..." [NAME VALUE]...
# The compiler is Debian's tcc for the package's architecture, run by the
# emulator with the toolchain's files as its root (-L), so it finds its
# headers, crt files and libc where Debian put them.
wrap_program() {
    prog=$1
    shift
    real=$(dirname "$out/$prog")/.$(basename "$prog")-wrapped
    mv "$out/$prog" "$real"
    {
        printf '#define WRAPPED "%s"\n' "$real"
        printf '#define WRAPPER_VARS'
        while [ $# -ge 2 ]; do
            printf ' "%s", "%s",' "$1" "$2"
            shift 2
        done
        printf '\n'
    } > "$work/wrapper.h"
    if [ ! -d "$work/toolchain" ]; then
        mkdir "$work/toolchain"
        for d in $toolchain; do
            dpkg-deb -x "$d" "$work/toolchain"
        done
    fi
    "$emulator" -L "$work/toolchain" "$work/toolchain/usr/bin/tcc" \
        -Wall -Werror -include "$work/wrapper.h" -o "$out/$prog" "$wrapper"
    patchelf --set-interpreter "$loader" --set-rpath "$libdirs" "$out/$prog"
    patchelf --shrink-rpath "$out/$prog"
    echo "$out/$prog" >> "$work/elf"
}

# 4. The package's own finishing touches.
if [ -n "${postInstall:-}" ]; then
    (cd "$out" && eval "$postInstall")
fi

# 5. Every library every ELF file loads must come from the store: the
# package's own loader says, under the emulator.
bad=0
[ -n "${glibc:-}" ] || : > "$work/elf" # glibc: checked by its users
while IFS= read -r f; do
    [ -e "$f" ] || continue
    if ! out_=$("$emulator" "$loader" --list "$f" 2>&1); then
        case "$out_" in *"not a dynamic"*|*"statically linked"*) continue ;; esac
    fi
    if echo "$out_" | grep -E 'not found|=> /(usr|lib|lib64)/' > /dev/null
    then
        echo "host library used by ${f#"$out"/}:" >&2
        echo "$out_" | grep -E 'not found|=> /(usr|lib|lib64)/' >&2
        bad=1
    fi
done < "$work/elf"
[ "$bad" = 0 ]
