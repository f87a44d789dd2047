#!/usr/bin/env bash
# Where an idle session's memory goes: sockjs-test-server runs under
# valgrind's DHAT while sockjs-bench's idle scenario holds N sessions open
# on /echo; at the server's exit, DHAT's picture of the heap at its peak
# (every session open) is summed by allocation site and printed per
# session, largest first. These are the bytes the program asked for; RSS
# adds the allocator's rounding and bookkeeping on top.
#
# Usage: scripts/alloc-idle.sh [--sessions 2000] [--transport websocket|xhr-streaming|eventsource] [--top 20]
#
# The server is built without its default allocator (mimalloc maps its
# own memory, which DHAT does not see), in a target folder of its own. Not
# a test: it never fails on a figure.
set -euo pipefail
cd "$(dirname "$0")/.."

N=2000
TRANSPORT=websocket
TOP=20
while [ $# -gt 0 ]; do
    case "$1" in
        --sessions) N="$2"; shift ;;
        --transport) TRANSPORT="$2"; shift ;;
        --top) TOP="$2"; shift ;;
        *) echo "usage: $0 [--sessions N] [--transport websocket|xhr-streaming|eventsource] [--top N]" >&2; exit 2 ;;
    esac
    shift
done
command -v valgrind >/dev/null || { echo "valgrind is not installed" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
cargo build --release --quiet -p sockjs-bench
DHAT_TARGET="$CARGO_TARGET_DIR/dhat"
cargo build --release --quiet -p sockjs-test-server --no-default-features --target-dir "$DHAT_TARGET"

WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

taskset -c 0 valgrind --tool=dhat --dhat-out-file="$WORK/dhat.out" \
    "$DHAT_TARGET/release/sockjs-test-server" --port 0 --max-connections 20000 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
ADDR=""
for _ in $(seq 1 300); do
    ADDR=$(sed -n 's/.* listening on http:\/\/\(.*\)$/\1/p' "$WORK/server.log" | head -n1)
    if [ -n "$ADDR" ]; then break; fi
    sleep 0.1
done
if [ -z "$ADDR" ]; then
    echo "server did not start:" >&2
    cat "$WORK/server.log" >&2
    exit 1
fi
taskset -c 1 "$CARGO_TARGET_DIR/release/sockjs-bench" "http://$ADDR/echo" --scenario idle \
    --transport "$TRANSPORT" --sessions "$N" --duration 5 >"$WORK/bench.log" 2>&1 || {
    echo "the idle run failed:" >&2
    cat "$WORK/bench.log" >&2
    exit 1
}
# SIGINT: the test server shuts down and DHAT writes its file.
kill -INT "$SERVER_PID"
wait "$SERVER_PID" || true
SERVER_PID=""

python3 - "$WORK/dhat.out" "$N" "$TOP" "$TRANSPORT" <<'EOF'
import json, re, sys

path, n, top, transport = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
d = json.load(open(path))
ftbl = d["ftbl"]
# Frames that only say "an allocation happened".
noise = re.compile(
    r"memalign|^alloc$|alloc_impl|^allocate|malloc|realloc|RawVec|finish_grow|do_reserve|__rust"
    r"|with_capacity_in|try_allocate|box_new_uninit|^~(alloc|raw_vec|boxed|sync|arc|mod)\.rs"
)

def site(pp):
    names = []
    for i in pp["fs"]:
        m = re.search(r"0x[0-9A-Fa-f]+: (.*?) \((.*?)\)$", ftbl[i])
        name, loc = (m.group(1), m.group(2)) if m else (ftbl[i], "")
        if "UnknownInlinedFun" in name:
            name = "~" + loc.split("/")[-1]
        if noise.search(name):
            continue
        names.append(name[:100])
        if len(names) == 3:
            break
    return " <- ".join(names)

rows = [(pp.get("gb", 0), pp.get("gbk", 0), site(pp)) for pp in d["pps"] if pp.get("gb", 0)]
rows.sort(key=lambda r: -r[0])
total = sum(r[0] for r in rows)
print(f"{n} idle {transport} sessions: heap at the peak {total / n:,.0f} bytes per session "
      f"(allocation sites, bytes and blocks per session; largest first)")
for gb, gbk, s in rows[:top]:
    print(f"{gb / n:8.1f} B {gbk / n:6.2f} blocks  {s}")
EOF
