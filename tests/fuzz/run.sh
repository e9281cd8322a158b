#!/usr/bin/env bash
# The fuzz targets' smoke run (part of tests/run.sh): builds every target of
# tests/fuzz once and runs each for a while from its checked-in corpus,
# failing on any crash, failed assertion, timeout or memory blow-up.
#
#   bash tests/fuzz/run.sh [seconds] [target...]    default: 30 s, every target
#
# New inputs go to a temporary directory, so the checked-in corpora
# (tests/fuzz/corpus/<target>) stay as they are; a failing input is kept in
# tests/fuzz/artifacts/<target>/ (reproduce it with
# `cargo +nightly-2026-05-20 fuzz run --fuzz-dir tests/fuzz -s none -O <target> <file>`).
# Installs the nightly toolchain and cargo-fuzz first (tests/setup.sh fuzz).
set -euo pipefail
cd "$(dirname "$0")/../.."

seconds="${1:-30}"
[ "$#" -gt 0 ] && shift
case "$seconds" in
  '' | *[!0-9]*) echo "usage: bash tests/fuzz/run.sh [seconds] [target...]" >&2; exit 2 ;;
esac

# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_fuzz

dir=tests/fuzz
# The same flags for the build and every run, so nothing is rebuilt: no
# sanitizer (src/ and the harness are safe Rust; ASan would halve the
# executions), release code with overflow checks everywhere and debug
# assertions in the filter and the harness (tests/fuzz/Cargo.toml's profile).
flags=(--fuzz-dir "$dir" --sanitizer none --release)

# Longest input per target: room for a real configuration or provider
# document, while keeping the corpora small (a few MB in all).
max_len() {
  case "$1" in
    path) echo 512 ;;
    cookies | request) echo 2048 ;;
    *) echo 8192 ;;
  esac
}
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  mapfile -t targets < <(cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz list --fuzz-dir "$dir")
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
started=$SECONDS
if ! cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz build "${flags[@]}" >"$scratch/build.log" 2>&1; then
  tail -n 40 "$scratch/build.log" >&2
  echo "[fuzz] build failed: cargo +$TINYAUTH_FUZZ_TOOLCHAIN fuzz build ${flags[*]}" >&2
  exit 1
fi
printf '[fuzz] built %d targets in %ds\n' "${#targets[@]}" "$((SECONDS - started))"

failed=()
for target in "${targets[@]}"; do
  mkdir -p "$scratch/$target" "$dir/artifacts/$target" "$dir/corpus/$target"
  log="$scratch/$target.log"
  if cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz run "${flags[@]}" "$target" "$scratch/$target" "$dir/corpus/$target" -- \
      -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=2048 -malloc_limit_mb=2048 -timeout=10 \
      -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" >"$log" 2>&1; then
    runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")"
    speed="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")"
    cov="$(grep -Eo 'cov: [0-9]+ ft: [0-9]+' "$log" | tail -n 1)"
    printf '[fuzz] %-9s ok: %s runs in %ss (%s/s), %s\n' "$target" "$runs" "$seconds" "$speed" "$cov"
  else
    printf '[fuzz] %-9s FAILED; the end of its log:\n' "$target" >&2
    grep -v '^#' "$log" | tail -n 40 >&2
    failed+=("$target")
  fi
done
if [ "${#failed[@]}" -gt 0 ]; then
  echo "[fuzz] failing targets: ${failed[*]} (inputs in $dir/artifacts/)" >&2
  echo "fuzz: $((${#targets[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
echo "fuzz: ${#targets[@]} passed, 0 failed"
