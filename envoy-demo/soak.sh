#!/usr/bin/env bash
# The soak run, in one command (issue #20): builds the module, gets Envoy and
# the Node packages, and runs envoy-demo/bench/soak.mjs — 30 minutes of mixed
# load on two workers with provider faults, memory sampled each minute.
# Results go into envoy-demo/BENCHMARK.md ("Soak"); the exit status is 1 when
# a verdict fails (a request forwarded without a session, a logged-out copy
# accepted, a VM restart).
#
#   bash envoy-demo/soak.sh [--minutes 30] [--sessions 1000] [--out FILE]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_rust
ensure_envoy
ensure_node_modules
build_filter
exec node envoy-demo/bench/soak.mjs "$@"
