#!/usr/bin/env bash
# Builds the filter as shipped: target/tinyauth_wasm.wasm (cargo's release
# build, then tools/optimize-wasm.mjs). Installs the Rust target and the pinned
# binaryen (npm, tests/e2e) first if they are missing.
#
#   bash build.sh
set -euo pipefail
exec bash "$(dirname "$0")/tests/setup.sh" filter
