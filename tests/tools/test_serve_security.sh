#!/usr/bin/env bash
# learnrec serve's security defaults from the command line, without a server: the warning for
# every interface without a token, the warning for too few file descriptors, the admin token
# kept out of every message and the help, the limits' flags. (The server itself:
# tests/rpc/test_limits.c; a served token file: test_cli.sh.) No serve here binds a port: each
# fails on its missing index after what it checks.
# usage: test_serve_security.sh PATH/TO/learnrec
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"
tok=tok-5e7a11c3
nothing=(--index "$tmp/none" --model "$tmp/none.safetensors")

# absent NAME TEXT HAYSTACK: HAYSTACK does not contain TEXT.
absent() {
  case "$3" in *"$2"*) fail "$1" "'$2' should not be in: $3" ;; *) ok "$1" ;; esac
}

# ---- every interface, without a token: a warning, before anything is bound ----
for addr in 0.0.0.0:0 '[::]:0' 0:0; do
  run "wildcard_$addr" 1 "$bin" serve "${nothing[@]}" --listen "$addr" &&
    expect "wildcard_${addr}_warns" "warning: listening on $addr, every network interface, without --admin-token" "$err"
done
run wildcard_with_token 1 "$bin" serve "${nothing[@]}" --listen 0.0.0.0:0 --admin-token "$tok" &&
  absent wildcard_with_token_no_warning "warning" "$err"
run loopback_by_default 1 "$bin" serve "${nothing[@]}" && absent loopback_by_default_no_warning "warning" "$err"
run loopback_explicit 1 "$bin" serve "${nothing[@]}" --listen 127.0.0.1:0 && absent loopback_no_warning "warning" "$err"
run help_default_listen 0 "$bin" serve --help && expect help_default_listen "(default 127.0.0.1:7070)" "$out"

# ---- the token: never in the help, a usage error or an error ----
run token_not_in_help 0 "$bin" serve --admin-token "$tok" --help && absent token_not_in_help "$tok" "$out"
run token_mistyped_option 2 "$bin" serve "--admin-tokn=$tok" &&
  expect token_mistyped_option_named "unknown option '--admin-tokn'" "$err" && absent token_mistyped_option "$tok" "$err"
run token_unknown_short 2 "$bin" serve "-T$tok" &&
  expect token_unknown_short_named "unknown option '-T'" "$err" && absent token_unknown_short "$tok" "$err"
run token_and_file 2 "$bin" serve "${nothing[@]}" --admin-token "$tok" --admin-token-file "$tmp/t" &&
  expect token_and_file_named "--admin-token or --admin-token-file, not both" "$err" && absent token_and_file "$tok" "$err"
run token_failed_start 1 "$bin" serve "${nothing[@]}" --admin-token "$tok" && absent token_failed_start "$tok" "$err$out"
run token_file_missing 1 "$bin" serve "${nothing[@]}" --admin-token-file "$tmp/missing" &&
  expect token_file_missing_named "--admin-token-file $tmp/missing: No such file" "$err"
: >"$tmp/empty"
run token_file_empty 1 "$bin" serve "${nothing[@]}" --admin-token-file "$tmp/empty" &&
  expect token_file_empty_named "the first line must hold the token" "$err"
printf '%s\n' "$tok" >"$tmp/token"
run token_file_read 1 "$bin" serve "${nothing[@]}" --admin-token-file "$tmp/token" --listen 0.0.0.0:0 &&
  absent token_file_counts_as_token "warning" "$err" && absent token_file_not_echoed "$tok" "$err$out"

# ---- file descriptors for --max-connections: raised when the hard limit allows, else a warning ----
run fds_short 1 bash -c 'ulimit -n 200 && exec "$0" serve --index "$1" --model "$1" --max-connections 1000' "$bin" "$tmp/none" &&
  expect fds_short_warns "--max-connections 1000 needs 1064 file descriptors, but the limit is 200" "$err"
run fds_enough 1 bash -c 'ulimit -n 2000 && exec "$0" serve --index "$1" --model "$1" --max-connections 100' "$bin" "$tmp/none" &&
  absent fds_enough_no_warning "warning" "$err"

# ---- the limits' flags ----
run help_limits 0 "$bin" serve --help
for flag in "--max-connections N" "--max-pending-bytes BYTES" "--frame-timeout S" "--idle-timeout S" "--admin-token-file F"; do
  expect "help_lists_${flag%% *}" "$flag" "$out"
done
expect help_idle_default "(default 300)" "$out"
expect help_frame_default "(default 5)" "$out"
expect help_connections_default "(default 1024)" "$out"
expect help_pending_default "(default 1048576)" "$out"
run idle_timeout_zero 2 "$bin" serve "${nothing[@]}" --idle-timeout 0 &&
  expect idle_timeout_zero_named "--idle-timeout expects a number in [0.001, 86400], got '0'" "$err"
run max_connections_zero 2 "$bin" serve "${nothing[@]}" --max-connections 0 &&
  expect max_connections_zero_named "--max-connections must be between 1 and 1000000, got 0" "$err"

# ---- the systemd units in tools/systemd: every learnrec command line they run is one this
# binary takes (with --help appended: options are checked, nothing runs) ----
units="$(dirname "$0")/../../tools/systemd"
for unit in "$units"/*.service; do
  name=$(basename "$unit" .service)
  n=0
  while IFS= read -r line; do
    n=$((n + 1))
    read -r -a words <<<"${line#*=}"
    [ "${words[0]}" = /usr/local/bin/learnrec ] || { fail "unit_${name}_$n" "not learnrec: $line"; continue; }
    run "unit_${name}_$n" 0 "$bin" "${words[@]:1}" --help
  done < <(sed -e ':a' -e '/\\$/N; s/\\\n//; ta' "$unit" | grep -E '^Exec(Start|StartPost)=')
  [ "$n" -gt 0 ] && ok "unit_${name}_has_commands" || fail "unit_${name}_has_commands" "no Exec lines in $unit"
done
if command -v systemd-analyze >/dev/null; then
  mkdir -p "$tmp/units"
  abs=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
  for u in "$units"/*; do sed "s#/usr/local/bin/learnrec#$abs#" "$u" >"$tmp/units/$(basename "$u")"; done
  if out=$(systemd-analyze verify "$tmp"/units/* 2>&1); then ok systemd_analyze_verify
  else fail systemd_analyze_verify "$out"; fi
else
  echo "skip systemd_analyze_verify: systemd-analyze is not installed"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
