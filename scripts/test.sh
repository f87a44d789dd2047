#!/usr/bin/env bash
# Runs every check and test of the project. This is the command the README
# names and the one CI runs (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

echo "== rustfmt"
cargo fmt --all -- --check

echo "== clippy"
cargo clippy --workspace --all-targets -- -D warnings

echo "== rustdoc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --quiet

echo "== cargo package: the library crates as crates.io would get them"
# Packages sockjs-core, sockjs-server and sockjs-redis together: a recent
# cargo (checked with 1.95) resolves each one's dependency on the others
# from the packages just made (a local registry overlay), so none needs to
# be on crates.io yet, and verifies each by building it from its tarball.
# The other members are publish = false (test support, load generator,
# test server) and are not packaged.
# --allow-dirty so that the script also runs on a tree with uncommitted
# changes; CI's tree is clean anyway.
mkdir -p target
cargo package --allow-dirty -p sockjs-core -p sockjs-server -p sockjs-redis 2>&1 | tee target/package-output.log

echo "== fuzz targets compile (crate outside the workspace)"
cargo check --quiet --manifest-path fuzz/Cargo.toml --bins

echo "== services the cluster tests run: redis-server, haproxy, nginx (Debian packages)"
bash scripts/install-services.sh

echo "== cargo test"
mkdir -p target
cargo test --workspace 2>&1 | tee target/test-output.log
# The optional features' own tests (axum's ConnectInfo; metrics are also
# exercised end to end by e2e/tests/metrics.rs through the test server).
cargo test -p sockjs-server --features metrics,axum --test mount --test session_api 2>&1 | tee -a target/test-output.log

echo "== sockjs-client end to end (Node and headless Chromium)"
./scripts/client-tests.sh 2>&1 | tee target/client-test-output.log

echo "== Autobahn|Testsuite text cases on the raw websocket endpoint (kosoku from PyPI)"
bash e2e/autobahn.sh 2>&1 | tee target/autobahn-output.log

# One summary line for the whole run: cargo's "test result" lines plus the
# client suites' final line.
cargo_passed=$(grep -o '[0-9]* passed' target/test-output.log | awk '{s+=$1} END {print s+0}')
cargo_failed=$(grep -o '[0-9]* failed' target/test-output.log | awk '{s+=$1} END {print s+0}')
# Wire tests that need a server of their own report themselves skipped when
# SOCKJS_TEST_URL points them at an external one (see e2e/tests/common).
cargo_skipped=$({ grep -o 'SKIPPED: [^ ]* needs its own server' target/test-output.log || true; } | wc -l | tr -d ' ')
client_passed=$(tail -n 1 target/client-test-output.log | awk '{print $1}')
client_failed=$(tail -n 1 target/client-test-output.log | awk '{print $3}')
autobahn_passed=$(sed -n 's/^\([0-9]*\) cases passed$/\1/p' target/autobahn-output.log | tail -n 1)
autobahn_passed=${autobahn_passed:-0}
# One per crate built from its package (a failed one stops the script).
packages_passed=$(grep -c '^ *Verifying ' target/package-output.log || true)
echo "== summary: cargo ${cargo_passed} passed, ${cargo_failed} failed, ${cargo_skipped} skipped; sockjs-client ${client_passed} passed, ${client_failed} failed; autobahn ${autobahn_passed} passed; cargo package ${packages_passed} passed"
echo "$((cargo_passed + client_passed + autobahn_passed + packages_passed)) passed, $((cargo_failed + client_failed)) failed"
