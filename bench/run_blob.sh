#!/bin/bash
# `make run`'s own nginx configuration (conf/run.nginx.conf.in, as
# scripts/run.sh writes it) serving a 100 MiB blob through the registry,
# against a plain nginx tuned the usual way for large files (sendfile on;
# tcp_nopush on) serving the same file, in the same run; printed as a ratio
# (target >= 0.9). Run by `make bench` (never by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/run_blob_bench.pl "$@"
