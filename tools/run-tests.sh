#!/usr/bin/env bash
# Runs ctest in each build directory given and ends with one line for all of them:
# "tests: N passed, N failed, N skipped". A test skips (ctest's SKIP_RETURN_CODE 77) when the data
# it reads from outside the repository (../shared, or -DLR_SHARED_DIR) is missing; each skip's
# reason, with the missing path, is printed above the total.
#
# usage: tools/run-tests.sh [-j JOBS] BUILD_DIR...   (exit 0 only when no test failed)
set -uo pipefail

jobs=$(nproc)
if [ "${1:-}" = "-j" ]; then jobs="$2"; shift 2; fi
[ $# -gt 0 ] || { echo "usage: tools/run-tests.sh [-j JOBS] BUILD_DIR..." >&2; exit 2; }

total_pass=0 total_fail=0 total_skip=0 status=0
for dir in "$@"; do
  log="$dir/ctest-output.log"
  (cd "$dir" && ctest --output-on-failure -j "$jobs") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  # one line per test: "  3/40 Test  #3: datasets/test_recbole ...........   Passed    0.31 sec"
  pass=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .* Passed ' "$log")
  skip=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: .*\*\*\*Skipped' "$log")
  ran=$(grep -cE '^ *[0-9]+/[0-9]+ Test +#[0-9]+: ' "$log")
  fail=$((ran - pass - skip))
  if [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then fail=1; fi # ctest itself failed (no tests found, ...)
  [ "$fail" -eq 0 ] || status=1
  echo "$dir: $pass passed, $fail failed, $skip skipped"
  if [ "$skip" -gt 0 ]; then
    grep -h '^skipped: ' "$dir/Testing/Temporary/LastTest.log" 2>/dev/null | sort -u | sed 's/^/  /'
  fi
  total_pass=$((total_pass + pass)) total_fail=$((total_fail + fail)) total_skip=$((total_skip + skip))
done
echo "tests: $total_pass passed, $total_fail failed, $total_skip skipped"
exit "$status"
