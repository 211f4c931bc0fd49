#!/bin/bash
# Blobs in bucket proxy mode (nixery_bucket_blobs proxy), against a real S3
# server (Ceph's RGW, started for the run): the first download of a blob
# through the module (signed fetch into nginx's proxy cache) against plain
# nginx proxy_pass of the same object, and a cached blob through the module
# against plain nginx serving the same bytes as a static file. Prints both
# throughput ratios. Run by `make bench` (never by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/bucket_proxy.pl "$@"
