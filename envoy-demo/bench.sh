#!/usr/bin/env bash
# The benchmark, in one command: builds tinyauth-wasm, the floor filters
# (noop-filter) and the JWT filter it is compared with (jwt-filter), gets Envoy,
# wrk and perf, and measures each configuration, forward auth through
# ext_authz included (see envoy-demo/bench/bench.mjs). Results:
# envoy-demo/BENCHMARK.md.
#
#   bash envoy-demo/bench.sh [--duration 5] [--rounds 3] [--sessions 1000] [--launches 7] [--baseline-wasm FILE] [--no-perf]
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
# The floors and the JWT filter are built as the shipped module is (export
# trimming and wasm-opt), keeping only the callbacks they implement: Envoy
# enters the VM for every exported callback, so untrimmed they would pay, on
# every request, for entries (response headers and body, access log, done)
# that tinyauth-wasm does not export.
REQUEST_ONLY=memory,_initialize,proxy_abi_version_0_2_1,proxy_on_memory_allocate,proxy_on_vm_start,proxy_on_configure,proxy_on_context_create,proxy_on_request_headers,proxy_on_delete
for filter in noop jwt; do
  dir=envoy-demo/bench/$filter-filter
  (cd "$dir" && cargo build --quiet --release --target wasm32-wasip1)
  node tools/optimize-wasm.mjs --exports "$REQUEST_ONLY" \
    "$dir/target/wasm32-wasip1/release/${filter}_filter.wasm" "$dir/target/${filter}_filter.wasm"
done
exec node envoy-demo/bench/bench.mjs "$@"
