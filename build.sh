#!/usr/bin/env bash
# Builds the filter as shipped: target/tinyauth_wasm.wasm (cargo's release
# build, then tools/optimize-wasm.mjs). Installs the Rust target and the pinned
# binaryen (npm, tests/e2e) first if they are missing.
#
#   bash build.sh
set -euo pipefail
cd "$(dirname "$0")"
# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_rust
ensure_node_modules
build_filter
