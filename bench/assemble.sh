#!/bin/bash
# Assembly throughput: nixery-assemble on a ~500 MB closure made from host
# files, against `tar | gzip -6` (what Nixery's Go gzip costs, roughly) and
# the floor (gzip_floor_bench: the helper's codec on every core, SHA-256 of
# the tar and the gzip and writing it, on the tar already in memory) of the
# same tree, in the same run; printed as ratios, with the helper's peak
# RSS. The helper and the floor get the best of two runs, gzip -6 one (it
# is slow). Then the peak RSS while the helper writes one 1 GB layer
# (target: < 64 MB).
#
# Targets (docs/images.md): within 1.5x of the floor, output no bigger than
# gzip -6's (within 1%).
# BENCH_MB (default 500) sets the closure size; BENCH_KEEP=1 keeps the dir.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${NIXERY_BUILD:-$here/../build}
assemble=$build/cmake/helper/nixery-assemble
floor=$build/cmake/bench/gzip_floor_bench
mb=${BENCH_MB:-500}
dir=$(mktemp -d -t nixery-bench-XXXXXX)    # under $TMPDIR
[ -n "${BENCH_KEEP:-}" ] || trap 'rm -rf "$dir"' EXIT

echo "== assembly benchmark ($(nproc) cores, closure ~${mb} MB, in $dir)"
python3 "$here/make_store.py" "$dir/prefix" "$dir/closure.json" "$mb"
bytes=$(du -sb --apparent-size "$dir/prefix/nix/store" | cut -f1)
paths=$(ls "$dir/prefix/nix/store" | wc -l)
# Warm the page cache so every contender reads from memory.
tar -C "$dir/prefix" -cf - nix/store > /dev/null

# seconds and peak RSS (KiB) of a command
measure() {
    /usr/bin/time -f '%e %M' -o "$dir/time" "$@" > /dev/null
    cat "$dir/time"
}

read -r t_gzip _ < <(measure bash -c \
    "tar -C '$dir/prefix' -cf - nix/store | gzip -6 > '$dir/base.gz'")
tar -C "$dir/prefix" -cf "$dir/base.tar" nix/store
t_floor=
for run in 1 2; do
    read -r t floor_bytes < <("$floor" "$dir" "$dir/base.tar")
    if [ -z "$t_floor" ] || awk "BEGIN{exit !($t < $t_floor)}"; then
        t_floor=$t
    fi
done
rm -f "$dir/base.tar" "$dir"/floor.*
best=
for run in 1 2; do
    rm -rf "$dir/storage"
    read -r t rss < <(measure "$assemble" --storage "$dir/storage" \
        --closure "$dir/closure.json" --name bench --store-prefix "$dir/prefix")
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then
        best=$t
        best_rss=$rss
    fi
done
layers=$(find "$dir/storage/layers" -type f | wc -l)
out_bytes=$(du -sb --apparent-size "$dir/storage/blobs" | cut -f1)

awk -v b="$bytes" -v g="$t_gzip" -v i="$t_floor" -v h="$best" \
    -v rss="$best_rss" -v p="$paths" -v l="$layers" \
    -v gz="$(stat -c %s "$dir/base.gz")" -v igz="$floor_bytes" \
    -v out="$out_bytes" 'BEGIN {
    mb = b / 1e6
    printf "input: %.0f MB in %d store paths -> %d store-path layers\n", mb, p, l
    printf "tar | gzip -6     %6.2f s  %7.1f MB/s  output %.0f MB\n", g, mb / g, gz / 1e6
    printf "floor             %6.2f s  %7.1f MB/s  output %.0f MB\n", i, mb / i, igz / 1e6
    printf "nixery-assemble   %6.2f s  %7.1f MB/s  output %.0f MB  peak RSS %.1f MB\n", h, mb / h, out / 1e6, rss / 1024
    printf "assembly / floor:      %.2fx (target <= 1.5)\n", h / i
    printf "ratio vs tar|gzip -6:  %.2fx\n", g / h
    printf "size vs gzip -6:       %+.1f%% (target <= +1%%)\n", 100 * (out / gz - 1)
}'

# Memory while writing one 1 GB layer (20 hard links to a 50 MB file).
rm -rf "$dir/prefix" "$dir/storage" "$dir"/base.*
python3 "$here/make_store.py" "$dir/prefix" "$dir/closure.json" 0 --one-big 20
tar -C "$dir/prefix" --hard-dereference -cf - nix/store > /dev/null
tar -C "$dir/prefix" --hard-dereference -cf "$dir/base.tar" nix/store
read -r t_one _ < <("$floor" "$dir" "$dir/base.tar")
rm -f "$dir/base.tar" "$dir"/floor.*
read -r t rss < <(measure "$assemble" --storage "$dir/storage" \
    --closure "$dir/closure.json" --name bench --store-prefix "$dir/prefix")
layer=$(find "$dir/storage/blobs" -type f -size +1M | head -1)
awk -v t="$t" -v i="$t_one" -v rss="$rss" -v s="$(stat -c %s "$layer")" \
    -v b="$(du -sb --apparent-size -l "$dir/prefix/nix/store" | cut -f1)" 'BEGIN {
    mb = b / 1e6
    printf "one %.0f MB layer:\n", mb
    printf "floor             %6.2f s  %7.1f MB/s\n", i, mb / i
    printf "nixery-assemble   %6.2f s  %7.1f MB/s  gzip %.0f MB  peak RSS %.1f MB (target < 64)\n", t, mb / t, s / 1e6, rss / 1024
    printf "assembly / floor:      %.2fx (target <= 1.5)\n", t / i
}'
