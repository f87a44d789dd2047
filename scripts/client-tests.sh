#!/usr/bin/env bash
# Runs the official sockjs-client against our sockjs-test-server: in Node
# (websocket, xhr-streaming, xhr-polling, eventsource), against three nodes
# behind HAProxy and nginx (e2e/client/cluster.js, with deploy/*), and in
# headless Chromium (every browser transport, cross-origin). Part of
# scripts/test.sh.
#
# Installs what is missing: the npm packages pinned in e2e/package-lock.json
# (npm ci) and, when running as root, Debian's chromium, haproxy, nginx and
# redis-server (scripts/install-services.sh). Otherwise it stops and prints
# the command to run. Extra arguments go to e2e/client/run.js (--only
# SUBSTRING, --no-browser), except --no-cluster, which skips the multi-node
# suite and its installs.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  echo "client-tests: Node.js 18+ and npm are needed: apt-get install -y nodejs npm" >&2
  exit 1
fi

# npm ci when node_modules was not installed from this exact lockfile.
lock_sum="$(sha256sum e2e/package-lock.json | cut -d' ' -f1)"
stamp=e2e/node_modules/.installed-from-lock
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$lock_sum" ]; then
  echo "client-tests: npm ci (sockjs-client, playwright-core)"
  (cd e2e && npm ci --no-audit --no-fund --loglevel=error)
  echo "$lock_sum" >"$stamp"
fi

chromium="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "client-tests: installing Debian's chromium"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "client-tests: headless Chromium is needed at $chromium: sudo apt-get install -y chromium" >&2
    echo "client-tests: (or set CHROMIUM_PATH, or pass --no-browser to skip the browser suite)" >&2
    exit 1
  fi
fi

cluster=--cluster
args=()
for a in "$@"; do
  if [ "$a" = --no-cluster ]; then cluster=; else args+=("$a"); fi
done
if [ -n "$cluster" ]; then
  ./scripts/install-services.sh
fi

cargo build --quiet -p sockjs-test-server
cargo build --quiet -p sockjs-server --example chat
target_dir="${CARGO_TARGET_DIR:-$root/target}"
server="$target_dir/debug/sockjs-test-server"
chat="$target_dir/debug/examples/chat"

cd e2e
exec node client/run.js --server "$server" --chat "$chat" $cluster ${args[@]+"${args[@]}"}
