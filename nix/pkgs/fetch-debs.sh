#!/bin/bash
# Downloads the .debs the bundled package set is made of for a foreign
# architecture into nix/pkgs/debs/ARCH (docs/package-set.md), for `make
# pkgs`. The set's Nix expression takes them from there, as inputs of its
# derivations: nothing is installed, and the builds need no network.
#
#   nix/pkgs/fetch-debs.sh arm64
#
# Which packages: nix/pkgs/debs.nix (every package's `debs`, plus the
# wrapper toolchain). Which versions: the version installed on the host
# (the x86_64 set is made of it) when Debian's archive still has it for
# ARCH, so that both sets hold the same Debian versions; otherwise the
# candidate, with a warning. Adds ARCH to dpkg's foreign architectures and
# runs `apt-get update` when apt knows no ARCH package yet. Files already
# there (same name, same SHA-256 as the archive's) are not downloaded
# again; other versions are removed. Prints one line per download.
set -euo pipefail
arch=${1:?usage: fetch-debs.sh ARCH}
here=$(cd "$(dirname "$0")" && pwd)
dest=$here/debs/$arch
system=$(case "$arch" in arm64) echo aarch64-linux ;;
    *) echo "fetch-debs.sh: no Nix system for $arch" >&2; exit 2 ;; esac)
apt_opts=(-q -o DPkg::Lock::Timeout=600 -o APT::Sandbox::User=root)

if ! dpkg --print-foreign-architectures | grep -qx "$arch"; then
    echo "fetch-debs.sh: dpkg --add-architecture $arch"
    dpkg --add-architecture "$arch"
fi
if ! apt-cache show --no-all-versions "libc6:$arch" > /dev/null 2>&1; then
    echo "fetch-debs.sh: apt-get update (for $arch)"
    apt-get update "${apt_opts[@]}" > /dev/null
fi

mapfile -t pkgs < <(nix-instantiate --eval --strict --json \
    --argstr system "$system" "$here/debs.nix" | tr -d '[]"' | tr ',' '\n')
[ "${#pkgs[@]}" -gt 0 ] || { echo "fetch-debs.sh: no packages" >&2; exit 1; }

# Every version apt knows of each package for ARCH (or Architecture: all,
# the same file for every architecture): one apt-cache call, parsed into
# "PACKAGE VERSION ARCH POOL-FILE SHA256" lines.
mapfile -t known < <(apt-cache show "${pkgs[@]/%/:$arch}" "${pkgs[@]}" \
    2> /dev/null | awk -v arch="$arch" '
    /^Package:/ { p = $2 } /^Version:/ { v = $2 } /^Architecture:/ { a = $2 }
    /^Filename:/ { f = $2 } /^SHA256:/ { h = $2 }
    /^$/ { if (a == arch || a == "all") print p, v, a, f, h; p = "" }
    END { if (p != "" && (a == arch || a == "all")) print p, v, a, f, h }' |
    sort -u)

# One version per package: the installed one when the archive has it,
# else the newest.
declare -A version file sha spec
for line in "${known[@]}"; do
    read -r p v a f h <<< "$line"
    installed=$(dpkg-query -W -f='${Version}' "$p:amd64" 2>/dev/null ||
        dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    cur=${version[$p]:-}
    if [ "$cur" = "$installed" ] && [ -n "$cur" ]; then continue; fi
    if [ "$v" = "$installed" ] || [ -z "$cur" ] ||
        dpkg --compare-versions "$v" gt "$cur"; then
        version[$p]=$v
        # As apt-get download names it: the epoch's ":" as "%3a".
        file[$p]=${p}_${v//:/%3a}_$a.deb
        sha[$p]=$h
        if [ "$a" = all ]; then spec[$p]=$p=$v; else spec[$p]=$p:$arch=$v; fi
    fi
done
for p in "${pkgs[@]}"; do
    [ -n "${version[$p]:-}" ] || {
        echo "fetch-debs.sh: apt knows no $p for $arch" >&2
        exit 1
    }
    installed=$(dpkg-query -W -f='${Version}' "$p:amd64" 2>/dev/null ||
        dpkg-query -W -f='${Version}' "$p" 2>/dev/null || true)
    if [ -n "$installed" ] && [ "$installed" != "${version[$p]}" ]; then
        echo "fetch-debs.sh: $p: $installed (installed) is not in the" \
            "archive for $arch, taking ${version[$p]}"
    fi
done

mkdir -p "$dest"
cd "$dest"
declare -A keep
missing=()
for p in "${pkgs[@]}"; do
    f=${file[$p]}
    keep[$f]=1
    if ! [ -f "$f" ] ||
        [ "$(sha256sum "$f" | cut -d' ' -f1)" != "${sha[$p]}" ]; then
        rm -f "$f"
        missing+=("${spec[$p]}")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    echo "fetch-debs.sh: downloading ${#missing[@]} packages into $dest"
    apt-get download "${apt_opts[@]}" "${missing[@]}"
fi
for f in *; do
    [ -n "${keep[$f]:-}" ] || { echo "fetch-debs.sh: removing $f"; rm -f "$f"; }
done
