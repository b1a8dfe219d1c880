#!/usr/bin/env bash
# make fuzz: runs each libFuzzer harness of tests/fuzz for FUZZ_SECONDS (default 60) on its seed
# corpus (tests/fuzz/corpus/NAME, plus the tokenizer and config files of ../shared/fixtures when
# present), in BUILD/fuzz. Prints per harness: executions, executions/s, coverage (edges) and
# crashes. A crash is saved in BUILD/fuzz/crashes/NAME/; copy it to tests/fuzz/regress/NAME/ once
# fixed, and `make test` replays it from then on. Exits 1 when any harness crashed.
# usage: tools/fuzz.sh BUILD_DIR SECONDS [SHARED_DIR]
set -u
build="$1" seconds="$2" shared="${3:-}"
here=$(cd "$(dirname "$0")/.." && pwd)
status=0
printf '%-16s %12s %10s %8s %8s\n' harness executions exec/s edges crashes
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  h=${bin##*/fuzz_}
  work="$build/fuzz/corpus/$h" crashes="$build/fuzz/crashes/$h"
  mkdir -p "$work" "$crashes"
  cp -n "$here/tests/fuzz/corpus/$h"/* "$work"/ 2>/dev/null
  if [ -n "$shared" ] && [ -d "$shared/fixtures" ]; then
    case "$h" in
      tokenizer_json) for f in "$shared"/fixtures/{llm,tokenizers}/*/tokenizer.json; do cp -n "$f" "$work/shared_$(basename "$(dirname "$f")").json"; done ;;
      llm_config) for f in "$shared"/fixtures/llm/*/config.json; do cp -n "$f" "$work/shared_$(basename "$(dirname "$f")").json"; done ;;
    esac
  fi
  log="$build/fuzz/$h.log"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$crashes/" \
    -timeout=10 -rss_limit_mb=4096 "$work" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  n_crash=$(find "$crashes" -type f | wc -l)
  printf '%-16s %12s %10s %8s %8s\n' "$h" "${execs:-?}" "${rate:-?}" "${edges:-?}" "$n_crash"
  if [ "$rc" -ne 0 ] || [ "$n_crash" -gt 0 ]; then
    status=1
    echo "  $h: crashed (exit $rc); the input is in $crashes; the report: $log" >&2
  fi
done
exit $status
