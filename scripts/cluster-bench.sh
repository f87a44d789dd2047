#!/usr/bin/env bash
# Cross-node fan-out: three sockjs-test-server nodes linked by sockjs-redis
# (`--redis`) with the subscribers spread over them and one publisher on the
# first, beside the same load on one node without Redis, in one run.
# sockjs-bench's fanout scenario (`--nodes` spreads the subscribers) checks
# every message at every subscriber (exactly once, in order).
#
# Usage: scripts/cluster-bench.sh [--subscribers N] [--duration S] [--out FILE]
#   --out F  also writes the figures as the "Cross-node fan-out" section of
#            the report F (docs/PERFORMANCE.md), which scripts/compare.sh
#            keeps when it rewrites the rest
#
# Pinned like compare.sh: the nodes and redis-server on CPU 0, the load
# generator on CPU 1 (so three nodes share the one core one node has).
# Needs redis-server (scripts/install-services.sh). Not a test: it never
# fails on a figure.
set -euo pipefail
cd "$(dirname "$0")/.."

SUBS=1000
DURATION=10
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --subscribers) SUBS="$2"; shift ;;
        --duration) DURATION="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        *) echo "usage: $0 [--subscribers N] [--duration S] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
command -v redis-server >/dev/null || { echo "redis-server is not installed (scripts/install-services.sh)" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
cargo build --release --quiet -p sockjs-test-server -p sockjs-bench

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# node NAME [ARGS...]: starts a node; sets ADDR and NODE_PID.
node() {
    local name="$1" log="$WORK/$1.log"
    shift
    taskset -c 0 "$BIN/sockjs-test-server" --port 0 --max-connections 20000 --node-id "$name" "$@" >"$log" 2>&1 &
    NODE_PID=$!
    PIDS+=("$NODE_PID")
    ADDR=""
    for _ in $(seq 1 100); do
        ADDR=$(sed -n 's/.* listening on http:\/\/\(.*\)$/\1/p' "$log" | head -n1)
        if [ -n "$ADDR" ]; then return 0; fi
        sleep 0.1
    done
    echo "node $name did not start:" >&2
    cat "$log" >&2
    exit 1
}

RESULTS="$WORK/results.jsonl"
: >"$RESULTS"
COMMANDS=()
# bench CASE BASE PIDS [ARGS...]
bench() {
    local case="$1" base="$2" pids="$3"
    shift 3
    local args=(--label "$case" --scenario fanout --sessions "$SUBS" --size 64 --warmup 3 --duration "$DURATION" --drain 30 --server-pid "$pids" "$@")
    COMMANDS+=("sockjs-bench http://ADDR/broadcast ${args[*]}")
    echo "== $case" >&2
    taskset -c 1 "$BIN/sockjs-bench" "$base/broadcast" "${args[@]}" >>"$RESULTS"
}

PACED=(--rate $((100000 / (SUBS + 1))))
CLOSED=(--rate 1000000 --window 128)

# One node, no Redis.
node solo
bench "one node, paced" "http://$ADDR" "$NODE_PID" "${PACED[@]}"
bench "one node, saturation (window 128)" "http://$ADDR" "$NODE_PID" "${CLOSED[@]}"
kill "$NODE_PID"; wait "$NODE_PID" 2>/dev/null || true

# Three nodes on one Redis.
REDIS_PORT=$(free_port)
taskset -c 0 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no >"$WORK/redis.log" 2>&1 &
PIDS+=("$!")
REDIS_PID=$!
for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$REDIS_PORT") 2>/dev/null; then break; fi
    sleep 0.1
done
URL="redis://127.0.0.1:$REDIS_PORT/"
node n1 --redis "$URL"; A1=$ADDR; P1=$NODE_PID
node n2 --redis "$URL"; A2=$ADDR; P2=$NODE_PID
node n3 --redis "$URL"; A3=$ADDR; P3=$NODE_PID
# Each node is linked once its /broadcast service is built; the first
# broadcasts could still find a node connecting: the warm-up covers it.
bench "three nodes on Redis, paced" "http://$A1" "$P1,$P2,$P3,$REDIS_PID" --nodes "http://$A2/broadcast,http://$A3/broadcast" "${PACED[@]}"
bench "three nodes on Redis, saturation (window 128)" "http://$A1" "$P1,$P2,$P3,$REDIS_PID" --nodes "http://$A2/broadcast,http://$A3/broadcast" "${CLOSED[@]}"

printf '%s\n' "${COMMANDS[@]}" >"$WORK/commands.txt"
python3 - "$RESULTS" "$WORK/commands.txt" "$OUT" "$SUBS" "$(git rev-parse --short HEAD)" "$(redis-server --version | awk '{print $3}')" <<'PY'
import json, sys
path, commands, out, subs, rev, redis = sys.argv[1:]
runs = [json.loads(l) for l in open(path) if l.strip()]
def fmt(x, d=0):
    return "-" if x is None else f"{x:,.{d}f}"
rows = []
for r in runs:
    bad = sum(r[k] for k in ["lost", "duplicated", "reordered", "corrupted", "errors"])
    rows.append(f"| {r['label']} | {fmt(r['published_per_s'])} | {fmt(r['throughput_per_s'])} | "
                f"{fmt(r['latency_us']['p50'])} | {fmt(r['latency_us']['p99'])} | "
                f"{fmt(r['server_cpu_percent'], 1)} | {fmt(r['client_cpu_percent'], 1)} | {bad} |")
lines = ["## Cross-node fan-out", "",
         f"Taken by `scripts/cluster-bench.sh` (repository {rev}, redis-server {redis}): {int(subs):,} websocket "
         "subscribers and one publisher on `/broadcast`. One node: a single sockjs-test-server. Three nodes: "
         "three sockjs-test-servers with `--redis` (sockjs-redis), the subscribers spread round robin over "
         "them (sockjs-bench `--nodes`), the publisher on the first; each broadcast goes to the first node's "
         "subscribers directly and to the others' through Redis. All servers and redis-server share CPU 0 "
         "(server CPU % is their sum, of one core), the load generator runs on CPU 1. Paced: 100,000 "
         "deliveries/s offered; saturation: the closed loop of the Fan-out section (window 128). Every "
         "subscriber checks every message: exactly once, in order.", "",
         "| case | published msg/s | deliveries/s | p50 µs | p99 µs | server CPU % | client CPU % | lost, duplicated, reordered, corrupted, errors |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |", *rows, "", "Commands:", "", "```sh",
         *[l.rstrip() for l in open(commands)], "```", ""]
print("\n".join(lines))
if out:
    sys.path.insert(0, "bench")
    from report import replace_section
    replace_section(out, "## Cross-node fan-out", lines)
    print(f"== wrote the section into {out}")
PY
