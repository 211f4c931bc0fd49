#!/bin/bash
# The first pull of an image for two platforms (linux/amd64 and
# linux/arm64: an image index) against the first pull of the same name on
# a helper building amd64 alone, with real Nix and the bundled package set
# (both systems built by `make pkgs`), in the same run; printed as a time
# ratio. The cached index by tag is in bench/module.sh. Run by `make bench`
# (never by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/multiarch_bench.pl "$@"
