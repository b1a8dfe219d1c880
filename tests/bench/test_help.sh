#!/usr/bin/env bash
# Every program and script in bench/ answers --help with its usage at once (exit 0, nothing run)
# and refuses an unknown option (exit 2) instead of starting a benchmark.
# usage: test_help.sh BENCH_BUILD_DIR BENCH_SOURCE_DIR
set -u
bin_dir=$(realpath "$1")
src_dir=$(realpath "$2")
work=$(mktemp -d) # each program runs here: a --help that started work would leave files
trap 'rm -rf "$work"' EXIT
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n  %s\n' "$1" "$2"; }

# check NAME CMD...: --help prints a usage in 10 s with exit 0; --no-such-option exits 2.
check() {
  local name="$1"
  shift
  local out rc
  out=$(cd "$work" && timeout 10 "$@" --help 2>&1)
  rc=$?
  if [ "$rc" -eq 0 ] && printf '%s' "$out" | grep -qi 'usage'; then ok "${name}_help"; else
    fail "${name}_help" "exit $rc, output: $(printf '%s' "$out" | head -3)"; fi
  if [ -n "$(ls -A "$work")" ]; then fail "${name}_help_writes_nothing" "$(ls "$work")"; rm -rf "${work:?}"/*; fi
  out=$(cd "$work" && timeout 10 "$@" --no-such-option 2>&1)
  rc=$?
  if [ "$rc" -eq 2 ] && printf '%s' "$out" | grep -q -- '--no-such-option\|usage\|required'; then
    ok "${name}_refuses_unknown_options"; else
    fail "${name}_refuses_unknown_options" "exit $rc, output: $(printf '%s' "$out" | head -3)"; fi
}

for p in bench_index bench_content bench_towers probe_factory bench_llm version_without bench_filter; do check "$p" "$bin_dir/$p"; done
for s in "$src_dir"/*.sh; do check "$(basename "$s")" bash "$s"; done
for s in "$src_dir"/*.py; do check "$(basename "$s")" /usr/bin/python3 "$s"; done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
