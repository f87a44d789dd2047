#!/usr/bin/env bash
# Builds and runs every cargo-fuzz target of sockjs-core for a bounded time
# and prints one summary line per target.
#
#   scripts/fuzz.sh [seconds-per-target] [target...]
#
# seconds-per-target defaults to 60; with no target names, all targets run.
# Needs cargo-fuzz (`cargo install cargo-fuzz`). Only a stable toolchain is
# required: `-s none` turns off the sanitizer, whose `-Zsanitizer` flag is
# the one nightly-only flag cargo-fuzz passes (the coverage instrumentation
# flags it uses are stable). Overflow checks and debug assertions stay on.
#
# The growing corpus lives in fuzz/corpus/<target> (ignored by git); the
# committed seeds in fuzz/seeds/<target> are read on every run. Crashing
# inputs land in fuzz/artifacts/<target> (ignored by git); reproduce one with
#   cargo fuzz run -s none <target> fuzz/artifacts/<target>/<file>
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

secs="${1:-60}"
shift || true
if [ "$#" -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

# The fuzz crate keeps its own target dir (fuzz/target); a CARGO_TARGET_DIR
# set for the workspace would hide the binaries from cargo-fuzz.
unset CARGO_TARGET_DIR

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz" >&2; exit 2; }
cargo fuzz build -s none

logs=target/fuzz-logs
mkdir -p "$logs"
summary=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    echo "== $t (${secs}s)"
    status=ok
    # -max_total_time bounds the run; the seeds directory is read as a second
    # corpus and never written to.
    if ! cargo fuzz run -s none "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 >"$logs/$t.log" 2>&1; then
        status=CRASH
        failed=1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$logs/$t.log" | grep -o '[0-9]*$' | tail -1)
    cov=$(grep -oE '#[0-9]+.*cov: [0-9]+' "$logs/$t.log" | tail -1 | grep -oE 'cov: [0-9]+' | grep -oE '[0-9]+')
    ft=$(grep -oE 'ft: [0-9]+' "$logs/$t.log" | tail -1 | grep -oE '[0-9]+')
    corpus=$(find "corpus/$t" -type f | wc -l)
    crashes=$(find "artifacts/$t" -type f 2>/dev/null | wc -l)
    line=$(printf '%-16s %-5s runs=%s cov=%s ft=%s corpus=%s artifacts=%s' \
        "$t" "$status" "${runs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes")
    echo "$line"
    summary+=("$line")
    if [ "$status" = CRASH ]; then
        tail -n 40 "$logs/$t.log"
    fi
done

echo
echo "== fuzz summary ($(date -u +%Y-%m-%dT%H:%MZ), ${secs}s per target; logs in fuzz/$logs)"
printf '%s\n' "${summary[@]}"
exit "$failed"
