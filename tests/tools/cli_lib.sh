# Checks shared by the command-line test scripts (sourced; they set $tmp first).
passed=0
failed=0

# run NAME WANT_EXIT CMD...: runs CMD, keeps stdout/stderr in $out/$err, checks the exit code.
run() {
  local name="$1" want="$2"
  shift 2
  "$@" >"$tmp/out" 2>"$tmp/err"
  local got=$?
  out=$(cat "$tmp/out")
  err=$(cat "$tmp/err")
  if [ "$got" -ne "$want" ]; then
    fail "$name" "exit $got, expected $want; stderr: $err"
    return 1
  fi
  return 0
}
ok() { passed=$((passed + 1)); echo "ok   $1"; }
fail() { failed=$((failed + 1)); printf 'FAIL %s\n  %s\n' "$1" "$2"; }
# expect NAME TEXT HAYSTACK: HAYSTACK contains TEXT.
expect() {
  case "$3" in *"$2"*) ok "$1" ;; *) fail "$1" "expected '$2' in: $3" ;; esac
}
