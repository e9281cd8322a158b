#!/usr/bin/env bash
# The long runs (tests/fuzz/README.md, "Figures"): each target in turn, alone
# and at the lowest priority, until 10 million executions or the time limit,
# growing its checked-in corpus; then `cargo fuzz cmin` shrinks the corpus to
# the inputs that keep its coverage. Logs go to tests/fuzz/logs/<target>.log.
#
#   bash tests/fuzz/long.sh [seconds per target] [target...]   default 3600, all
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-3600}"
[ "$#" -gt 0 ] && shift
# shellcheck source=tests/setup.sh
source tests/setup.sh
ensure_fuzz
dir=tests/fuzz
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
nice -n 19 cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz build "${flags[@]}" >/dev/null 2>&1
mkdir -p "$dir/logs"
# Stopping this script must stop the fuzzer too: the fuzzer binary is a child
# of `cargo fuzz run`, and killing cargo alone once left three runs going on,
# writing into the same log and corpus.
fuzz_pid=""
stop_fuzzer() {
  if [ -n "$fuzz_pid" ]; then
    pkill -TERM -P "$fuzz_pid" 2>/dev/null || true
    kill -TERM "$fuzz_pid" 2>/dev/null || true
  fi
  exit 143
}
trap stop_fuzzer INT TERM HUP
for target in "${targets[@]}"; do
  log="$dir/logs/$target.log"
  printf '[long] %s: start %s\n' "$target" "$(date -u +%FT%TZ)"
  nice -n 19 cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz run "${flags[@]}" "$target" -- \
    -runs=10000000 -max_total_time="$seconds" -max_len="$(max_len "$target")" -rss_limit_mb=2048 -malloc_limit_mb=2048 \
    -timeout=5 -report_slow_units=1 -print_final_stats=1 -artifact_prefix="$dir/artifacts/$target/" >"$log" 2>&1 &
  fuzz_pid=$!
  fuzz_status=0
  wait "$fuzz_pid" || fuzz_status=$?
  fuzz_pid=""
  if [ "$fuzz_status" -ne 0 ]; then printf '[long] %s: FAILED (see %s)\n' "$target" "$log"; fi
  mkdir -p "$dir/artifacts/$target"
  # An input over -report_slow_units is no crash, so it would pass unnoticed:
  # one configuration load of 11 s once did (finding 12).
  for slow in "$dir/artifacts/$target"/slow-unit-*; do
    if [ -e "$slow" ]; then printf '[long] %s: SLOW INPUT %s\n' "$target" "$slow"; fi
  done
  grep -E '^stat::|DONE' "$log" | sed "s/^/[long] $target: /"
  nice -n 19 cargo "+$TINYAUTH_FUZZ_TOOLCHAIN" fuzz cmin "${flags[@]}" "$target" -- -use_counters=0 >"$dir/logs/$target.cmin.log" 2>&1 ||
    printf '[long] %s: cmin FAILED\n' "$target"
  printf '[long] %s: corpus %s files, %s\n' "$target" "$(find "$dir/corpus/$target" -type f | wc -l)" "$(du -sh "$dir/corpus/$target" | cut -f1)"
done
