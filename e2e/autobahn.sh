#!/usr/bin/env bash
# Autobahn|Testsuite fuzzingclient cases for text (1-10 minus the binary-echo
# cases 1.2, 9.2, 9.4, 9.6, 9.8) against the raw websocket endpoint of the
# standard test server, run by `kosoku` (PyPI). Part of scripts/test.sh; it
# needs PyPI once to install kosoku into a virtualenv.
#
# Run with: bash e2e/autobahn.sh            (reports in target/autobahn/)
# Env: CARGO_TARGET_DIR (default: target), KOSOKU_VENV (default:
# $CARGO_TARGET_DIR/kosoku-venv), PARALLELISM (default 2).
set -euo pipefail

cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
venv="${KOSOKU_VENV:-$target/kosoku-venv}"
reports="$target/autobahn"

if [ ! -x "$venv/bin/kosoku" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet kosoku
fi

cargo build --quiet -p sockjs-test-server
# Cases 9.1.6 and 9.3.x send 16 MiB messages, some in 65536 fragments: lift
# those limits for this run (the defaults refuse them with 1009 by design).
log="$(mktemp)"
"$target/debug/sockjs-test-server" --port 0 --max-message-size 16777216 --max-fragments 100000 >"$log" &
server=$!
trap 'kill "$server" 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  grep -q "listening on" "$log" && break
  sleep 0.1
done
addr="$(sed -n 's/^sockjs-test-server listening on http:\/\///p' "$log")"
[ -n "$addr" ] || { echo "test server did not start" >&2; exit 1; }

cases=()
for c in 1 2 3 4 5 6 7 9 10; do cases+=(-i "$c.*"); done
for c in 1.2 9.2 9.4 9.6 9.8; do cases+=(-x "$c.*"); done
"$venv/bin/kosoku" -p "${PARALLELISM:-2}" "${cases[@]}" -o "$reports" "ws://$addr/echo/websocket"
