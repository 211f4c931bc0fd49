#!/bin/bash
# The module's read path against nginx serving the same files as plain
# static files: cached-manifest GET req/s and 100 MB blob throughput, same
# nginx binary, same process, same run; printed as ratios (target >= 0.9).
# Run by `make bench` (never by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/module_bench.pl "$@"
