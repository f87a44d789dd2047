#!/usr/bin/env bash
# Side-by-side performance comparison: our sockjs-test-server, the reference
# sockjs-node 0.3.24 server (bench/node: /echo and /broadcast), a raw
# tokio-tungstenite echo server (the ceiling, `ws-ceiling` of
# crates/sockjs-bench) and, for the fan-out cases, the Rust Socket.IO server
# socketioxide (bench/socketioxide, its own Cargo project), all loaded by
# sockjs-bench (and, for memory after load, sockjs-soak). Writes
# docs/PERFORMANCE.md.
#
# Usage: scripts/compare.sh [--quick] [--rounds N] [--only fanout] [--note TEXT] [--out FILE]
#   --quick        short durations, smaller idle counts, 1 round (for trying it out)
#   --rounds N     rounds of every scenario (default 3; medians are reported)
#   --only fanout  only the fan-out cases; rewrites only the report's
#                  "Fan-out" section, leaving the rest as it was
#   --note T       a sentence about the conditions, copied into the report
#   --out F        report path (default docs/PERFORMANCE.md)
#
# Each server runs pinned to CPU 0 and the load generator to CPU 1
# (taskset); every run starts a fresh server; within a round, the servers of
# a scenario run one after the other, in an order that alternates between
# rounds. This is a measurement script, not a test: it never fails on a
# missed target, only on a broken setup.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
ROUNDS=3
ONLY=""
NOTE=""
OUT=docs/PERFORMANCE.md
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1; ROUNDS=1 ;;
        --rounds) ROUNDS="$2"; shift ;;
        --only) ONLY="$2"; shift ;;
        --note) NOTE="$2"; shift ;;
        --out) OUT="$2"; shift ;;
        *) echo "usage: $0 [--quick] [--rounds N] [--only fanout] [--note TEXT] [--out FILE]" >&2; exit 2 ;;
    esac
    shift
done
if [ -n "$ONLY" ] && [ "$ONLY" != fanout ]; then
    echo "--only: the one subset is fanout" >&2
    exit 2
fi

# HOLD: idle websocket sessions are held past one heartbeat (25 s); the
# idle xhr-streaming and eventsource cases (HTTP_HOLD) only need their
# memory read, which happens before the hold. PACED_N sessions send
# PACED_RATE messages per second each (the open-load case); FAIR_N
# sessions x 1 in flight is the fairness case; SOAK_S seconds of sockjs-soak.
if [ "$QUICK" = 1 ]; then
    WARMUP=1; DURATION=3; HOLD=3; HTTP_HOLD=2; IDLE_N=2000; SCALE_N=4000; SCALE_CHECKS=1000,2000; FAN_N=(1000 2000)
    PACED_N=2000; SOAK_S=8
else
    WARMUP=3; DURATION=10; HOLD=30; HTTP_HOLD=5; IDLE_N=10000; SCALE_N=19000; SCALE_CHECKS=1000,5000,10000; FAN_N=(1000 10000)
    PACED_N=10000; SOAK_S=20
fi
PACED_RATE=2
FAIR_N=1000
# The saturation cases' closed-loop window (bench/report.py's FANOUT_WINDOW).
FAN_WINDOW=128

# Up to 19,000 sockets on each side: raise the soft open-files limit (for
# this shell, hence for both the servers and the client) to the hard one.
ulimit -n "$(ulimit -Hn)"
if [ "$(ulimit -n)" -lt $((SCALE_N + 200)) ]; then
    echo "open-files limit $(ulimit -n) is too low for $SCALE_N sessions" >&2
    exit 1
fi
CPUS=$(nproc)
if [ "$CPUS" -ge 2 ]; then
    SERVER_CPU=(taskset -c 0); CLIENT_CPU=(taskset -c 1)
else
    echo "warning: one CPU, server and client not pinned apart" >&2
    SERVER_CPU=(); CLIENT_CPU=()
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
BIN="$CARGO_TARGET_DIR/release"
echo "== building (release)"
# sockjs-bench's package holds ws-ceiling and sockjs-soak too.
cargo build --release --quiet -p sockjs-test-server -p sockjs-bench
# socketioxide, pinned by bench/socketioxide/Cargo.lock; without it the
# comparison goes on without its rows.
SIO=()
if cargo build --release --quiet --manifest-path bench/socketioxide/Cargo.toml; then
    SIO=(sio sio_ordered)
    SOCKETIOXIDE_VERSION=$(sed -n '/^name = "socketioxide"$/{n;s/^version = "\(.*\)"$/\1/p}' bench/socketioxide/Cargo.lock)
else
    echo "warning: socketioxide did not build; its rows are left out" >&2
    SOCKETIOXIDE_VERSION="not built"
fi

# The reference server: sockjs@0.3.24 pinned by bench/node/package-lock.json,
# installed into an ignored folder (target/ is in .gitignore).
NODE_DIR="${NODE_DIR:-$PWD/target/bench-node}"
mkdir -p "$NODE_DIR"
cp bench/node/package.json bench/node/package-lock.json bench/node/server.js "$NODE_DIR/"
if ! grep -q '"version": "0.3.24"' "$NODE_DIR/node_modules/sockjs/package.json" 2>/dev/null; then
    echo "== npm ci (sockjs@0.3.24) in $NODE_DIR"
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
SOCKJS_NODE_VERSION=$(node -p "require('$NODE_DIR/node_modules/sockjs/package.json').version")

WORK=$(mktemp -d)
RESULTS="$WORK/results.jsonl"
COMMANDS="$WORK/commands.txt"
: >"$RESULTS"
: >"$COMMANDS"
SERVER_PID=""
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

# start_server KIND: starts a fresh server, sets SERVER_PID and ADDR.
start_server() {
    local log="$WORK/server.log"
    : >"$log"
    case "$1" in
        # serve() accepts 10,000 connections by default; the scale case needs
        # 19,000 (sockjs-node has no such cap). OURS_STATS=1 adds --stats
        # (GET /_stats: live sessions, which the soak waits on; sockjs-node's
        # bench/node/server.js always answers it).
        ours) "${SERVER_CPU[@]}" "$BIN/sockjs-test-server" --port 0 --max-connections 20000 ${OURS_STATS:+--stats} >"$log" 2>&1 & ;;
        node) "${SERVER_CPU[@]}" node "$NODE_DIR/server.js" --port 0 >"$log" 2>&1 & ;;
        ceiling) "${SERVER_CPU[@]}" "$BIN/ws-ceiling" --port 0 >"$log" 2>&1 & ;;
        # SIO_ECHO=1 makes it echo instead of broadcasting.
        sio) "${SERVER_CPU[@]}" "$BIN/socketioxide-bench-server" --port 0 ${SIO_ECHO:+--echo} >"$log" 2>&1 & ;;
        sio_ordered) "${SERVER_CPU[@]}" "$BIN/socketioxide-bench-server" --port 0 --ordered ${SIO_ECHO:+--echo} >"$log" 2>&1 & ;;
    esac
    # taskset execs the server: $! is the server's own pid.
    SERVER_PID=$!
    for _ in $(seq 1 100); do
        ADDR=$(sed -n 's/.* listening on http:\/\/\(.*\)$/\1/p' "$log" | head -n1)
        if [ -n "$ADDR" ]; then return 0; fi
        sleep 0.1
    done
    echo "server $1 did not start:" >&2
    cat "$log" >&2
    exit 1
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
    # Let the kernel settle closed sockets between runs.
    sleep 1
}

# run CASE SERVER PATH ARGS...: one scenario against one fresh server, at
# the service PATH (/echo, /broadcast).
run() {
    local case="$1" server="$2" path="$3"
    shift 3
    start_server "$server"
    local load started=$SECONDS
    load=$(cut -d' ' -f1 /proc/loadavg)
    echo "sockjs-bench http://ADDR$path --label $case/$server $* --server-pid PID" >>"$COMMANDS"
    printf '== round %s: %-14s %-8s (load %s) ' "$ROUND" "$case" "$server" "$load"
    local line
    line=$("${CLIENT_CPU[@]}" "$BIN/sockjs-bench" "http://$ADDR$path" --label "$case/$server" --server-pid "$SERVER_PID" \
        "$@" 2>>"$WORK/bench.log") || true
    stop_server
    record "$line" "$load" "$started"
}

# record LINE LOAD STARTED: one result line (JSON) into RESULTS, with the
# round and the load average, and a progress line.
record() {
    if [ -z "$1" ]; then
        echo "no result (see $WORK/bench.log)"
        return
    fi
    echo "$1" | python3 -c 'import json,sys; v=json.loads(sys.stdin.read()); print(v.get("throughput_per_s"), "/s  p50", (v.get("latency_us") or {}).get("p50"), "us  errors", sum(v.get(k, 0) for k in ["lost", "duplicated", "reordered", "corrupted", "errors"]), " (%ss)" % sys.argv[1])' "$((SECONDS - $3))"
    echo "$1" | python3 -c 'import json,sys; v=json.loads(sys.stdin.read()); v["round"]=int(sys.argv[1]); v["loadavg_1m"]=float(sys.argv[2]); print(json.dumps(v))' "$ROUND" "$2" >>"$RESULTS"
}

# soak SERVER: sockjs-soak's mixed load (every transport, sessions aborted
# and abandoned) for SOAK_S seconds against a fresh server, which must then
# reclaim every session; its RSS before, at the peak and after (settled).
soak() {
    local server="$1"
    OURS_STATS=1 start_server "$server"
    local load started=$SECONDS
    load=$(cut -d' ' -f1 /proc/loadavg)
    local args=(--duration "$SOAK_S" --rounds 1 --disconnect-delay-ms 5000 --json --label "soak/$server")
    echo "sockjs-soak --target http://ADDR --server-pid PID ${args[*]}" >>"$COMMANDS"
    printf '== round %s: %-14s %-8s (load %s) ' "$ROUND" soak "$server" "$load"
    local line
    line=$("${CLIENT_CPU[@]}" "$BIN/sockjs-soak" --target "http://$ADDR" --server-pid "$SERVER_PID" "${args[@]}" \
        2>>"$WORK/bench.log" | grep '^{' | tail -n1) || true
    stop_server
    record "$line" "$load" "$started"
}

T=(--warmup "$WARMUP" --duration "$DURATION")
LOAD_START=$(cat /proc/loadavg)
STARTED=$(date -u +"%Y-%m-%d %H:%M UTC")
# sio_run CASE SERVER --scenario NAME ARGS...: the same load in Socket.IO
# terms (sio-NAME: sio-ws, sio-fanout) against socketioxide, at the
# server's root.
sio_run() {
    local case="$1" server="$2" scenario="$4"
    shift 4
    run "$case" "$server" "" --scenario "sio-${scenario}" "$@"
}

# Fan-out: a publisher paced at 100,000 deliveries per second (the
# sockjs-bench default: busy, not saturated), a drain long enough for a
# server that falls behind to catch up. socketioxide runs the same loads
# as Socket.IO events, both as written idiomatically (a task per event)
# and with its events handed on in arrival order (--ordered).
fanout_cases() {
    local n s
    for n in "${FAN_N[@]}"; do
        for s in "${ORDER[@]}" "${SIO[@]}"; do
            case "$s" in
                sio*) sio_run "fanout_$n" "$s" --scenario fanout --sessions "$n" --size 64 --drain 30 "${T[@]}" ;;
                *) run "fanout_$n" "$s" /broadcast --scenario fanout --sessions "$n" --size 64 --drain 30 "${T[@]}" ;;
            esac
        done
    done
    for s in "${ORDER[@]}"; do
        run fanout_mix "$s" /broadcast --scenario fanout --sessions "${FAN_N[0]}" --xhr-share 25 --size 64 --drain 30 "${T[@]}"
    done
    # Saturation: a closed loop (the publisher at most FAN_WINDOW messages
    # ahead of the slowest subscriber, as fast as that allows), so each
    # server runs at its own sustainable maximum with bounded queues.
    for n in "${FAN_N[@]}"; do
        for s in "${ORDER[@]}" "${SIO[@]}"; do
            case "$s" in
                sio*) sio_run "fanout_sat_$n" "$s" --scenario fanout --sessions "$n" --rate 1000000 --window "$FAN_WINDOW" --size 64 --drain 30 "${T[@]}" ;;
                *) run "fanout_sat_$n" "$s" /broadcast --scenario fanout --sessions "$n" --rate 1000000 --window "$FAN_WINDOW" --size 64 --drain 30 "${T[@]}" ;;
            esac
        done
    done
    for s in "${ORDER[@]}"; do
        run fanout_sat_mix "$s" /broadcast --scenario fanout --sessions "${FAN_N[0]}" --xhr-share 25 --rate 1000000 --window "$FAN_WINDOW" --size 64 --drain 30 "${T[@]}"
    done
    # Echo beside socketioxide: ours on a framed websocket, socketioxide on
    # Socket.IO events over a websocket.
    if [ ${#SIO[@]} -gt 0 ]; then
        run sio_echo ours /echo --scenario ws --sessions 100 --in-flight 10 --size 64 "${T[@]}"
        for s in "${SIO[@]}"; do
            SIO_ECHO=1 sio_run sio_echo "$s" --scenario ws --sessions 100 --in-flight 10 --size 64 "${T[@]}"
        done
    fi
}

BENCH_T0=$SECONDS
for ROUND in $(seq 1 "$ROUNDS"); do
    if [ $((ROUND % 2)) = 1 ]; then ORDER=(node ours); else ORDER=(ours node); fi
    if [ "$ONLY" = fanout ]; then
        fanout_cases
        continue
    fi
    for s in "${ORDER[@]}"; do run ws_throughput "$s" /echo --scenario ws --sessions 100 --in-flight 10 --size 64 "${T[@]}"; done
    for s in ceiling "${ORDER[@]}"; do run raw_throughput "$s" /echo --scenario raw-ws --sessions 100 --in-flight 10 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run ws_fair "$s" /echo --scenario ws --sessions "$FAIR_N" --in-flight 1 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run raw_fair "$s" /echo --scenario raw-ws --sessions "$FAIR_N" --in-flight 1 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run ws_paced "$s" /echo --scenario ws --sessions "$PACED_N" --rate "$PACED_RATE" --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run ws_latency "$s" /echo --scenario ws --sessions 1 --in-flight 1 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run xhr_streaming "$s" /echo --scenario xhr-streaming --sessions 100 --in-flight 10 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run xhr_polling "$s" /echo --scenario xhr-polling --sessions 50 --in-flight 1 --size 64 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run connect "$s" /echo --scenario connect --sessions 10 "${T[@]}"; done
    for s in "${ORDER[@]}"; do run idle_memory "$s" /echo --scenario idle --sessions "$IDLE_N" --size 64 --duration "$HOLD"; done
    for s in "${ORDER[@]}"; do run idle_xhr "$s" /echo --scenario idle --transport xhr-streaming --sessions "$IDLE_N" --size 64 --duration "$HTTP_HOLD"; done
    for s in "${ORDER[@]}"; do run idle_es "$s" /echo --scenario idle --transport eventsource --sessions "$IDLE_N" --size 64 --duration "$HTTP_HOLD"; done
    run scale ours /echo --scenario idle --sessions "$SCALE_N" --checkpoints "$SCALE_CHECKS" --size 64 --duration "$HOLD"
    for s in "${ORDER[@]}"; do soak "$s"; done
    fanout_cases
done
LOAD_END=$(cat /proc/loadavg)
echo "== measured for $(((SECONDS - BENCH_T0) / 60)) min $(((SECONDS - BENCH_T0) % 60)) s"
FINISHED=$(date -u +"%Y-%m-%d %H:%M UTC")

mkdir -p "$(dirname "$OUT")"
QUICK_FLAG=""
if [ "$QUICK" = 1 ]; then QUICK_FLAG="--quick"; fi
python3 bench/report.py "$RESULTS" \
    --commands "$COMMANDS" \
    --started "$STARTED" --finished "$FINISHED" \
    --load-start "$LOAD_START" --load-end "$LOAD_END" \
    --rounds "$ROUNDS" $QUICK_FLAG \
    --idle-sessions "$IDLE_N" --scale-sessions "$SCALE_N" \
    --fair-sessions "$FAIR_N" --paced-sessions "$PACED_N" --paced-rate "$PACED_RATE" --soak-seconds "$SOAK_S" \
    --fanout-sessions "${FAN_N[*]}" ${ONLY:+--only "$ONLY"} \
    --note "$NOTE" \
    --machine "nproc: $CPUS; CPU: $(lscpu | sed -n 's/^Model name: *//p' | head -n1); kernel: $(uname -r); memory: $(free -g | awk '/^Mem:/ {print $2}') GiB" \
    --versions "$(rustc --version); node $(node --version); sockjs-node $SOCKJS_NODE_VERSION; socketioxide $SOCKETIOXIDE_VERSION; repository $(git rev-parse --short HEAD)" \
    --out "$OUT"
cp "$RESULTS" "$WORK/results-kept.jsonl"
echo "== wrote $OUT (raw results: $RESULTS)"
