#!/bin/bash
# Runs the libFuzzer targets built in $BUILD/fuzz (fuzz/CMakeLists.txt) on
# their corpora under fuzz/corpus/<target>/ (docs/testing.md, "Fuzzing").
#
#   fuzz/run.sh check    each target for FUZZ_SECONDS (default 5), the
#                        committed corpus read-only: what `make test` runs
#   fuzz/run.sh long     each target for FUZZ_SECONDS (default 600), new
#                        inputs kept in $BUILD/fuzz/corpus/<target>
#   fuzz/run.sh merge    minimise committed + found inputs back into
#                        fuzz/corpus/<target> (-merge=1); the inputs of
#                        bugs found, regression-*, are always kept
#
# FUZZ_TARGETS limits the targets (space-separated names), FUZZ_JOBS runs
# that many at once (default 1). A crash, a leak, a sanitizer report or a
# violated property fails the run; the input is kept in
# $BUILD/fuzz/artifacts/ and the report in $BUILD/fuzz/logs/. The last
# line gives each target's executions and the total.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-check}
BUILD=${BUILD:-$PWD/build}
bin=$BUILD/fuzz
case $mode in
check) seconds=${FUZZ_SECONDS:-5} ;;
long) seconds=${FUZZ_SECONDS:-600} ;;
merge) seconds=0 ;;
*)
    echo "usage: $0 check|long|merge" >&2
    exit 2
    ;;
esac
targets=${FUZZ_TARGETS:-$(cd fuzz && ls -- *.c++ | sed 's/\.c++$//')}
jobs=${FUZZ_JOBS:-1}
mkdir -p "$bin/logs" "$bin/artifacts" "$bin/corpus"

# Leaks fail the run; a hung input fails after 10 s; no input may use more
# than 2 GB (the helper's parsers read records of a few KB).
opts=(-timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=2048
    -print_final_stats=1 -detect_leaks=1)
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run_one() {
    local t=$1 log=$bin/logs/$1.log seed=fuzz/corpus/$1
    mkdir -p "$seed"
    case $mode in
    check)
        # A scratch directory takes what the short run finds: the committed
        # corpus stays as it is.
        local work
        work=$(mktemp -d "$bin/corpus/$t.check.XXXXXX")
        "$bin/fuzz-$t" "${opts[@]}" -max_total_time="$seconds" \
            -artifact_prefix="$bin/artifacts/$t-" "$work" "$seed" \
            >"$log" 2>&1 || {
            rm -rf "$work"
            return 1
        }
        rm -rf "$work"
        ;;
    long)
        mkdir -p "$bin/corpus/$t"
        "$bin/fuzz-$t" "${opts[@]}" -max_total_time="$seconds" \
            -artifact_prefix="$bin/artifacts/$t-" "$bin/corpus/$t" "$seed" \
            >"$log" 2>&1
        ;;
    merge)
        local out
        out=$(mktemp -d "$bin/corpus/$t.merge.XXXXXX")
        mkdir -p "$bin/corpus/$t"
        "$bin/fuzz-$t" "${opts[@]}" -merge=1 "$out" "$seed" \
            "$bin/corpus/$t" >"$log" 2>&1
        # The inputs of bugs found stay, whatever the merge thinks of them.
        cp -p "$seed"/regression-* "$out"/ 2>/dev/null || true
        rm -rf "$seed"
        mv "$out" "$seed"
        ;;
    esac
}

failed=()
pids=()
names=()
wait_one() {
    local i=$1
    if ! wait "${pids[$i]}"; then
        failed+=("${names[$i]}")
        echo "fuzz: ${names[$i]} FAILED: $bin/logs/${names[$i]}.log" >&2
        grep -E 'ERROR|SUMMARY|property violated|Test unit written' \
            "$bin/logs/${names[$i]}.log" | head -5 >&2 || true
    fi
}
for t in $targets; do
    [[ -x $bin/fuzz-$t ]] || {
        echo "fuzz: $bin/fuzz-$t is not built" >&2
        exit 1
    }
    run_one "$t" &
    pids+=($!)
    names+=("$t")
    if ((${#pids[@]} - ${done:-0} >= jobs)); then
        wait_one "${done:-0}"
        done=$((${done:-0} + 1))
    fi
done
for ((i = ${done:-0}; i < ${#pids[@]}; i++)); do
    wait_one "$i"
done

total=0
summary=
for t in $targets; do
    n=$(sed -n 's/^stat::number_of_executed_units: *//p' \
        "$bin/logs/$t.log" | tail -1)
    n=${n:-0}
    total=$((total + n))
    summary+=" $t=$n"
done
echo "fuzz $mode:$summary total=$total executions"
if ((${#failed[@]})); then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
