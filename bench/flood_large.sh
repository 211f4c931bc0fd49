#!/bin/bash
# A store path of several GB: nixery-assemble on one store path holding one
# sparse file of LARGE_GB GiB (default 9: past tar's 8 GiB ustar size
# field, so the layer needs a pax size record). Prints the time, the peak
# RSS (target: < 64 MB, as for the 1 GB layer of assemble.sh) and the
# layer's size, and checks that the layer's tar lists the file at its full
# size. Zeros: reading costs no disk, the gzip layer is small.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${NIXERY_BUILD:-$here/../build}
assemble=$build/cmake/helper/nixery-assemble
gb=${LARGE_GB:-9}
dir=$(mktemp -d -t nixery-bench-XXXXXX)
trap 'rm -rf "$dir"' EXIT

echo "== one store path of $gb GiB ($(nproc) cores, in $dir)"
python3 "$here/make_store.py" "$dir/prefix" "$dir/closure.json" 0 --sparse "$gb"
/usr/bin/time -f '%e %M' -o "$dir/time" "$assemble" --storage "$dir/storage" \
    --closure "$dir/closure.json" --name large --store-prefix "$dir/prefix" \
    > /dev/null
read -r t rss < "$dir/time"
layer=$(find "$dir/storage/blobs" -type f -size +1M | head -1)
listed=$(gzip -dc "$layer" | tar -tvf - | awk '/data\/zeros$/ {print $3}')
awk -v t="$t" -v rss="$rss" -v s="$(stat -c %s "$layer")" -v gb="$gb" \
    -v listed="$listed" 'BEGIN {
    printf "nixery-assemble   %6.2f s  %7.1f MB/s  gzip layer %.1f MB  peak RSS %.1f MB (target < 64)\n", t, gb * 1073741824 / 1e6 / t, s / 1e6, rss / 1024
    printf "the layer lists the file at %s bytes (%s)\n", listed, listed == gb * 1073741824 ? "full size" : "WRONG SIZE"
}'
