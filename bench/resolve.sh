#!/bin/bash
# Resolving an image (names -> realised, rooted outputs -> closure with
# sizes) with nixery-resolve on the bundled package set, against one plain
# Nix call on the same attributes in the same run: `nix-build` (evaluate
# and realise, what Nixery's single call costs) and `nix-instantiate
# --eval` (evaluation alone). Prints medians: the whole nixery-resolve
# process, and inside it resolve_image() (what nixery-helper pays per
# image) with the split (evaluate, realise, closure) it reports. Target
# (docs/nix.md): no slower than the one nix-build. Needs `make pkgs`. Run by `make bench` (never by
# `make test`).
#
# BENCH_RUNS (default 7) rounds, each contender once per round in turn;
# BENCH_BEFORE=/path/to/an/older/nixery-resolve adds it as a contender.
set -euo pipefail
cd "$(dirname "$0")/.."
exec python3 bench/resolve_bench.py "$@"
