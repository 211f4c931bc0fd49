#!/bin/bash
# Bytes a client downloads while pulling a series of images that grow and
# shrink by one package (shell, shell/git, shell/git/htop, ...), from the
# bundled package set with real Nix, for each layering algorithm in the
# same run (--layering popularity: Nixery's; --layering stable: the
# default). The layers a client lacks are counted by digest from the
# images' manifests: it keeps every blob it pulled before. Printed per step
# and summed, with the ratio of the bytes downloaded after the first pull.
# BENCH_BUDGET (default 94) sets --layer-budget; the series is run again
# with BENCH_TIGHT (default 12) store-path layers, where both algorithms
# must merge. Needs `make all pkgs`. Run by `make bench` (never by `make
# test`); docs/images.md has the figures.
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/repull_bench.pl "$@"
