#!/usr/bin/env bash
# Rolling publish: tells each replica of `learnrec serve`, one at a time, to reload a published
# index version, and goes on to the next only once the last one reports the new version on its
# /healthz ("ok VERSION"). If a replica fails to, the replicas already moved are told to reload
# the version they served before (newest first) and the script exits 1.
#
# usage: tools/rolling-publish.sh --replica HOST:PORT,HTTPPORT [--replica ...] [--version V]
#                                 [--admin-token-file F] [--timeout S] [--learnrec BIN]
#   --replica           a replica's msgpack-rpc address and HTTP port, in the order to move them
#   --version           the version to serve, e.g. v000004 (default: what each replica's index
#                       directory's `current` points to, as `learnrec rebuild` publishes it)
#   --admin-token-file  the replicas' admin token (reload is an admin method)
#   --timeout           seconds a replica may take to report the new version (default 120)
#   --learnrec          the learnrec binary (default: learnrec on PATH, else ../build/learnrec)
# Replicas may read one shared index directory or their own copies (rsync a version directory
# to each before: a published version never changes). Between replicas HAProxy keeps the
# others serving: a replica reloading answers 503 on /healthz and is out of rotation
# (tools/haproxy-config.sh, docs/operations.md).
set -euo pipefail
replicas=() version="" token_file="" timeout=120 bin=""
usage() { echo "usage: tools/rolling-publish.sh --replica HOST:PORT,HTTPPORT [--replica ...] [--version V] [--admin-token-file F] [--timeout S] [--learnrec BIN] (try --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    --replica|--version|--admin-token-file|--timeout|--learnrec)
      [ $# -ge 2 ] || { echo "tools/rolling-publish.sh: $1 needs a value" >&2; usage; }
      case "$1" in
        --replica) replicas+=("$2") ;;
        --version) version="$2" ;;
        --admin-token-file) token_file="$2" ;;
        --timeout) timeout="$2" ;;
        --learnrec) bin="$2" ;;
      esac
      shift 2 ;;
    *) echo "tools/rolling-publish.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ ${#replicas[@]} -gt 0 ] || { echo "tools/rolling-publish.sh: give at least one --replica" >&2; usage; }
case "$timeout" in ''|*[!0-9]*) echo "tools/rolling-publish.sh: --timeout expects whole seconds, got '$timeout'" >&2; exit 2 ;; esac
if [ -z "$bin" ]; then
  bin=$(command -v learnrec || true)
  [ -n "$bin" ] || bin="$(cd "$(dirname "$0")/.." && pwd)/build/learnrec"
fi
[ -x "$bin" ] || { echo "tools/rolling-publish.sh: no learnrec binary at '$bin' (give --learnrec BIN)" >&2; exit 2; }
for r in "${replicas[@]}"; do
  [[ "$r" =~ ^(.+):([0-9]+),([0-9]+)$ ]] ||
    { echo "tools/rolling-publish.sh: --replica expects HOST:PORT,HTTPPORT, got '$r'" >&2; exit 2; }
done

log() { echo "rolling-publish: $*" >&2; }
host_of() { [[ "$1" =~ ^(.+):([0-9]+),([0-9]+)$ ]]; echo "${BASH_REMATCH[1]}"; }
rpc_of() { [[ "$1" =~ ^(.+):([0-9]+),([0-9]+)$ ]]; echo "${BASH_REMATCH[1]}:${BASH_REMATCH[2]}"; }
http_of() { [[ "$1" =~ ^(.+):([0-9]+),([0-9]+)$ ]]; echo "${BASH_REMATCH[1]}:${BASH_REMATCH[3]}"; }

# GET /healthz's body ("ok v000003", "reloading v000003", ...), or nothing when unreachable
health() {
  local hp="$1" h p
  h="${hp%:*}" p="${hp##*:}"
  { exec 3<>"/dev/tcp/$h/$p" && printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$h" >&3 &&
    timeout 5 cat <&3 | tail -n 1; exec 3>&-; } 2>/dev/null || true
}

# reload REPLICA VERSION: asks for it ("" = current); prints the version now served
reload() {
  local params='{}' args=()
  [ -n "$2" ] && params="{\"version\": \"$2\"}"
  [ -n "$token_file" ] && args+=(--admin-token-file "$token_file")
  "$bin" query --connect "$(rpc_of "$1")" --method reload --params "$params" --json --timeout $((timeout * 1000)) \
      "${args[@]}" | sed -n 's/.*"version":"\([^"]*\)".*/\1/p'
}

# wait_ok REPLICA VERSION: until /healthz says "ok VERSION", at most --timeout seconds
wait_ok() {
  local end=$((SECONDS + timeout)) body
  while [ $SECONDS -lt $end ]; do
    body=$(health "$(http_of "$1")")
    [ "$body" = "ok $2" ] && return 0
    sleep 0.2
  done
  log "$1: /healthz says '${body:-nothing}' after ${timeout} s, not 'ok $2'"
  return 1
}

moved=() before=()
rollback() {
  local i
  for ((i = ${#moved[@]} - 1; i >= 0; i--)); do
    log "rolling back ${moved[i]} to ${before[i]}"
    if reload "${moved[i]}" "${before[i]}" > /dev/null && wait_ok "${moved[i]}" "${before[i]}"; then :; else
      log "${moved[i]}: could not roll back to ${before[i]}: see its log"
    fi
  done
  exit 1
}

for r in "${replicas[@]}"; do
  old=$(health "$(http_of "$r")")
  if [ "${old%% *}" != ok ]; then
    log "$r: not serving before the publish (/healthz: '${old:-nothing}'); stopping"
    rollback
  fi
  old=${old#ok }
  log "$r: serving $old; reloading ${version:-current}"
  if ! got=$(reload "$r" "$version") || [ -z "$got" ]; then
    log "$r: reload failed"
    rollback
  fi
  moved+=("$r")
  before+=("$old")
  wait_ok "$r" "$got" || rollback
  log "$r: serving $got"
done
log "done: ${#replicas[@]} replicas serve ${got}"
