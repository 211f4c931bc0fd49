#!/bin/bash
# Writes the front page (www/index.html.in filled in) to stdout:
#
#     scripts/render-site.sh [--tls] [--moving-ttl S] REGISTRY > index.html
#
# REGISTRY is the address clients pull from (127.0.0.1:8080,
# registry.example.com). --tls: the registry is served over HTTPS, so the
# examples drop --tls-verify=false and --plain-http. --moving-ttl: the
# helper's --moving-ttl (default 3600). The package source is read from
# Nixery's variables, as the helper reads it: NIXERY_CHANNEL, else
# NIXERY_PKGS_REPO, else NIXERY_PKGS_PATH. For a local path the page lists
# the set's packages (evaluated with nix/packages.nix).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
tls='' moving_ttl=3600
while [ $# -gt 1 ]; do
    case $1 in
        --tls) tls=1; shift ;;
        --moving-ttl) moving_ttl=$2; shift 2 ;;
        *) break ;;
    esac
done
[ $# -eq 1 ] || { sed -n '2,12s/^# \{0,1\}//p' "$0" >&2; exit 2; }
registry=$1

html() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
duration() {
    local s=$1
    if ((s % 3600 == 0)); then
        echo "$((s / 3600)) hour$( ((s == 3600)) || echo s)"
    elif ((s % 60 == 0)); then
        echo "$((s / 60)) minutes"
    else
        echo "$s seconds"
    fi
}

moving="Images from a moving source are rebuilt when their cache entry
expires, $(duration "$moving_ttl") after the build; until then every pull of
the same name and tag gets the same image."
arm64=
if [ -n "${NIXERY_CHANNEL:-}" ]; then
    channel=$(printf '%s' "$NIXERY_CHANNEL" | html)
    source="<p>This registry serves packages from the nixpkgs channel
<code>$channel</code> (a branch or commit of NixOS/nixpkgs). Find package
attribute names on <a href=\"https://search.nixos.org/packages\">search.nixos.org</a>.</p>"
    if [[ $NIXERY_CHANNEL =~ ^[0-9a-f]{40}$ ]]; then
        tags="<p>The channel is a commit: every image is cached for good.
The one tag is <code>latest</code> (the default).</p>"
    else
        tags="<p>The one tag is <code>latest</code> (the default): the
channel's current packages. $moving</p>"
    fi
elif [ -n "${NIXERY_PKGS_REPO:-}" ]; then
    repo=$(printf '%s' "$NIXERY_PKGS_REPO" | html)
    source="<p>This registry serves packages from the git repository
<code>$repo</code>.</p>"
    tags="<p>The tag picks the revision of the repository:
<code>latest</code> (the default) is its default branch, a 40-hex-digit
tag is a commit, and any other tag is a branch or git tag
(<code>@REGISTRY@/hello:nixos-24.11</code>); one the repository lacks is
"manifest unknown". Images built from a commit are cached for good.
$moving</p>"
else
    path=${NIXERY_PKGS_PATH:?"no package source: set NIXERY_CHANNEL, NIXERY_PKGS_REPO or NIXERY_PKGS_PATH"}
    path=$(cd "$path" && pwd)
    if [ "$path" = "$ROOT/nix/pkgs" ]; then
        source="<p>This registry serves the <strong>bundled package
set</strong>: programs of this host's Debian 12 packages copied into the
Nix store, so that it works without a network. Its packages:</p>"
        arm64=" (the bundled set has x86_64-linux packages only, so
<code>arm64</code> images fail with a message saying so)"
    else
        source="<p>This registry serves the package set at
<code>$(printf '%s' "$path" | html)</code>. Its packages:</p>"
    fi
    # Each derivation at the top level and in the *Packages sets.
    if attrs=$(nix-instantiate --eval --strict --json \
        "$ROOT/nix/packages.nix" --argstr srcType path \
        --argstr srcArgs "$path" --argstr system x86_64-linux 2> /dev/null |
        perl -MJSON::PP -0777 -ne \
            'print "$_->{attrPath}\n" for @{decode_json($_)}'); then
        source+=$'\n<ul class="packages">\n'
        while read -r a; do
            source+="<li><code>$(printf '%s' "$a" | html)</code></li>"$'\n'
        done <<< "$attrs"
        source+="</ul>"
    else
        source+=$'\n<p>(The package list could not be evaluated.)</p>'
    fi
    tags="<p>The one tag is <code>latest</code> (the default): a local
package set has one version, the files on disk. $moving</p>"
fi

if [ -n "$tls" ]; then
    insecure=""
    sed_tls=(-e 's/ --tls-verify=false//; s/ --src-tls-verify=false//;
        s/ --plain-http//')
else
    insecure="This registry speaks plain HTTP: podman and skopeo need
<code>--tls-verify=false</code>, ctr <code>--plain-http</code>, and Docker
an <code>insecure-registries</code> entry in
<code>/etc/docker/daemon.json</code>."
    sed_tls=(-e '')
fi

SITE_SOURCE=$source SITE_TAGS=$tags SITE_ARM64=$arm64 \
SITE_INSECURE=$insecure SITE_REGISTRY=$(printf '%s' "$registry" | html) \
    perl -pe 's/\@(SOURCE|TAGS|ARM64|INSECURE)\@/$ENV{"SITE_$1"}/g;
              s/\@REGISTRY\@/$ENV{SITE_REGISTRY}/g' \
    "$ROOT/www/index.html.in" | sed "${sed_tls[@]}"
