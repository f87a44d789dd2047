#!/usr/bin/env bash
# Heap allocations per broadcast in sockjs-test-server's /broadcast, counted
# by valgrind's DHAT: the server runs under DHAT while sockjs-bench's fanout
# scenario publishes a fixed-rate stream to N websocket subscribers; two
# runs that differ only in how long they publish give the allocations of
# one broadcast (received from the publisher, queued and written to every
# subscriber) as (blocks2 - blocks1) / (published2 - published1), and two
# subscriber counts split that into a fixed part and a part per recipient.
#
# Usage: scripts/alloc-fanout.sh [--subscribers "10 100"] [--rate 20] [--short 5] [--long 15] [--out FILE]
#   --out F  also writes the figures as the "Allocations per broadcast"
#            section of the report F (docs/PERFORMANCE.md), which
#            scripts/compare.sh keeps when it rewrites the rest
#
# The rate is low so that the server, slowed down by DHAT, never falls
# behind: a session whose queue holds several messages sends them in one
# frame, which would change what is counted. Pinned like compare.sh: the
# server to CPU 0, the client to CPU 1. Prints one line per run and the
# slopes; not a test, never fails on a figure.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBSCRIBERS="10 100"
RATE=20
SHORT=5
LONG=15
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --subscribers) SUBSCRIBERS="$2"; shift ;;
        --rate) RATE="$2"; shift ;;
        --short) SHORT="$2"; shift ;;
        --long) LONG="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        *) echo "usage: $0 [--subscribers \"N N\"] [--rate R] [--short S] [--long S] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release --quiet -p sockjs-bench
# DHAT counts what goes through malloc: the server is built without its
# default allocator (mimalloc, which maps its own memory and would hide
# every allocation), in a target folder of its own.
DHAT_TARGET="$CARGO_TARGET_DIR/dhat"
cargo build --release --quiet -p sockjs-test-server --no-default-features --target-dir "$DHAT_TARGET"
SERVER_BIN="$DHAT_TARGET/release/sockjs-test-server"

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# measure N SECONDS: one run; sets BLOCKS, BYTES and PUBLISHED.
measure() {
    local n="$1" secs="$2" log="$WORK/server.log"
    : >"$log"
    taskset -c 0 valgrind --tool=dhat --dhat-out-file="$WORK/dhat.out" \
        "$SERVER_BIN" --port 0 >"$log" 2>&1 &
    SERVER_PID=$!
    local addr=""
    for _ in $(seq 1 300); do
        addr=$(sed -n 's/.* listening on http:\/\/\(.*\)$/\1/p' "$log" | head -n1)
        if [ -n "$addr" ]; then break; fi
        sleep 0.1
    done
    if [ -z "$addr" ]; then
        echo "server did not start:" >&2
        cat "$log" >&2
        exit 1
    fi
    local line
    line=$(taskset -c 1 "$BIN/sockjs-bench" "http://$addr/broadcast" --scenario fanout --sessions "$n" \
        --rate "$RATE" --warmup 0 --duration "$secs" --drain 60 2>>"$WORK/bench.log") || {
        echo "the fanout run failed (see $WORK/bench.log)" >&2
        exit 1
    }
    kill -TERM "$SERVER_PID"
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    # DHAT's summary: "Total:     1,234 bytes in 56 blocks".
    read -r BYTES BLOCKS < <(sed -n 's/.*Total: *\([0-9,]*\) bytes in \([0-9,]*\) blocks.*/\1 \2/p' "$log" | tr -d ,)
    PUBLISHED=$(echo "$line" | python3 -c 'import json,sys; print(json.load(sys.stdin)["published"])')
}

RESULTS="$WORK/results.txt"
: >"$RESULTS"
for n in $SUBSCRIBERS; do
    for secs in "$SHORT" "$LONG"; do
        measure "$n" "$secs"
        echo "subscribers $n, published $PUBLISHED: $BLOCKS blocks, $BYTES bytes"
        echo "$n $PUBLISHED $BLOCKS $BYTES" >>"$RESULTS"
    done
done
python3 - "$RESULTS" "$RATE" "$OUT" "$(git rev-parse --short HEAD)" "$(valgrind --version)" <<'PY'
import sys
from collections import defaultdict
path, rate, out, rev, vg = sys.argv[1:]
runs = defaultdict(list)
for line in open(path):
    n, published, blocks, nbytes = map(int, line.split())
    runs[n].append((published, blocks, nbytes))
rows, slopes = [], {}
for n, rs in sorted(runs.items()):
    (p1, b1, y1), (p2, b2, y2) = sorted(rs)
    per, per_bytes = (b2 - b1) / (p2 - p1), (y2 - y1) / (p2 - p1)
    slopes[n] = (per, per_bytes)
    rows.append(f"| {n:,} | {p1:,} / {p2:,} | {b1:,} / {b2:,} | {per:.1f} | {per_bytes:,.0f} |")
lines = ["## Allocations per broadcast", "",
         f"Counted by `scripts/alloc-fanout.sh` (valgrind's DHAT, {vg}; repository {rev}): "
         "sockjs-test-server's `/broadcast` under DHAT, N websocket subscribers and one publisher "
         f"(sockjs-bench `--scenario fanout --rate {rate}`), two runs per N that differ only in how many "
         "messages are published. Per broadcast = difference in heap blocks allocated / difference in "
         "messages published: receiving the publisher's frame, the broadcast, and writing it to every "
         "subscriber and back to the publisher. The rate is low enough for the slowed-down server to keep "
         "up, so that every recipient is sent the broadcast's one shared frame (a message batched with "
         "others would get a frame of its own per recipient, and the per-recipient figure would show it).", "",
         "| subscribers | published (short / long run) | heap blocks (short / long run) | "
         "allocations per broadcast | bytes allocated per broadcast |",
         "| ---: | ---: | ---: | ---: | ---: |", *rows, ""]
if len(slopes) >= 2:
    (lo, (a, x)), (hi, (b, y)) = sorted(slopes.items())[0], sorted(slopes.items())[-1]
    per = (b - a) / (hi - lo)
    fixed = a - per * (lo + 1)
    lines += [f"Split over the recipients: {per:.2f} allocations ({(y - x) / (hi - lo):,.0f} bytes) per "
              f"recipient, {fixed:.1f} per broadcast whatever the number of recipients.", ""]
print("\n".join(lines))
if out:
    sys.path.insert(0, "bench")
    from report import replace_section
    replace_section(out, "## Allocations per broadcast", lines)
    print(f"== wrote the section into {out}")
PY
