#!/bin/bash
# Blob redirects in bucket mode (nixery_bucket_blobs redirect: a 307 to a
# presigned URL, no bucket contacted) against plain nginx's
# `return 307` with a Location of the same length: answers per second,
# printed as a ratio. Run by `make bench` (never by `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."
exec perl bench/bucket_redirect.pl "$@"
