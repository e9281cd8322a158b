#!/usr/bin/env bash
# The benchmark, in one command: builds tinyauth-wasm, the floor filters
# (noop-filter) and the JWT filter it is compared with (jwt-filter), gets Envoy,
# wrk and perf, and measures each configuration, forward auth through
# ext_authz included (see envoy-demo/bench/bench.mjs). Results:
# envoy-demo/BENCHMARK.md.
#
#   bash envoy-demo/bench.sh [--duration 5] [--rounds 3] [--sessions 1000] [--baseline-wasm FILE] [--no-perf]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_rust
ensure_envoy
ensure_node_modules
ensure_tools
build_filter
cargo build --quiet --release --example request_cost --target wasm32-wasip1
cargo build --quiet --example seal_session
(cd envoy-demo/bench/noop-filter && cargo build --quiet --release --target wasm32-wasip1)
(cd envoy-demo/bench/jwt-filter && cargo build --quiet --release --target wasm32-wasip1)
exec node envoy-demo/bench/bench.mjs "$@"
