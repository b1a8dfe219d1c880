#!/usr/bin/env bash
# HAProxy in front of learnrec serve replicas: prints a configuration with both fronts.
#
# usage: tools/haproxy-config.sh --replica HOST:PORT,HTTPPORT [--replica ...]
#                                [--listen HOST:PORT] [--http-listen HOST:PORT]
#                                [--check-interval MS] [--stats HOST:PORT]
#   --replica        a replica's msgpack-rpc address and its HTTP port (serve's --listen and the
#                    port of its --http), once per replica
#   --listen         where HAProxy takes msgpack-rpc (default 127.0.0.1:7000)
#   --http-listen    where HAProxy takes HTTP (default 127.0.0.1:7001)
#   --check-interval health checks every MS milliseconds (default 500); a replica is out after
#                    3 failed checks, or at once when a connection to it fails, and back after
#                    2 good checks; give each replica's serve a --drain-delay of at least 4
#                    intervals (2 s at 500 ms)
#   --stats          also serve HAProxy's stats page there (off by default)
# Both backends balance leastconn and take a replica out when it is not ready (loading a
# version, reloading one, or draining after SIGTERM). HTTP: POST /recommend is idempotent, so a
# request whose connection failed, got no answer, timed out or got a 5xx is sent again to another
# replica (retry-on all-retryable-errors). msgpack-rpc (mode tcp): the check sends a ping request
# in msgpack and expects its answer byte for byte (a replica that is not ready answers ping with
# an error, as its /healthz with 503); HAProxy cannot retry inside a TCP stream, so the client
# library dials again and resends its idempotent calls (docs/rpc.md).
# docs/operations.md has the whole deployment.
set -euo pipefail
replicas=() listen=127.0.0.1:7000 http_listen=127.0.0.1:7001 inter=500 stats=""
usage() { echo "usage: tools/haproxy-config.sh --replica HOST:PORT,HTTPPORT [--replica ...] [--listen HOST:PORT] [--http-listen HOST:PORT] [--check-interval MS] [--stats HOST:PORT] (try --help)" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    --replica|--listen|--http-listen|--check-interval|--stats)
      [ $# -ge 2 ] || { echo "tools/haproxy-config.sh: $1 needs a value" >&2; usage; }
      case "$1" in
        --replica) replicas+=("$2") ;;
        --listen) listen="$2" ;;
        --http-listen) http_listen="$2" ;;
        --check-interval) inter="$2" ;;
        --stats) stats="$2" ;;
      esac
      shift 2 ;;
    *) echo "tools/haproxy-config.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ ${#replicas[@]} -gt 0 ] || { echo "tools/haproxy-config.sh: give at least one --replica HOST:PORT,HTTPPORT" >&2; usage; }
case "$inter" in ''|*[!0-9]*) echo "tools/haproxy-config.sh: --check-interval expects milliseconds, got '$inter'" >&2; exit 2 ;; esac
for r in "${replicas[@]}"; do
  if ! [[ "$r" =~ ^(.+):([0-9]+),([0-9]+)$ ]]; then
    echo "tools/haproxy-config.sh: --replica expects HOST:PORT,HTTPPORT (e.g. 127.0.0.1:7070,7071), got '$r'" >&2
    exit 2
  fi
done

# servers FIELD: one server line per replica, at its msgpack-rpc port (2) or its HTTP port (3)
servers() {
  local i=0 r
  for r in "${replicas[@]}"; do
    [[ "$r" =~ ^(.+):([0-9]+),([0-9]+)$ ]]
    i=$((i + 1))
    echo "    server replica$i ${BASH_REMATCH[1]}:${BASH_REMATCH[$1]} check"
  done
}

# msgpack-rpc [0, 1, "ping", {}] and its answer [1, 1, nil, 1]
ping_request=940001a470696e6780
ping_answer=940101c001

cat <<EOF
# learnrec behind HAProxy, made by tools/haproxy-config.sh (docs/operations.md)
global
    maxconn 4096

defaults
    timeout connect 1s
    timeout client 300s
    timeout server 300s
    timeout check 1s
    retries 3
    option redispatch 1

frontend learnrec_http
    mode http
    bind $http_listen
    default_backend learnrec_http

backend learnrec_http
    mode http
    balance leastconn
    # POST /recommend changes nothing: send it again to another replica when its connection
    # failed, it got no answer, a cut or bad one, or a 5xx (a replica draining or gone)
    retry-on all-retryable-errors
    # the whole request (body too) in HAProxy's buffer before it goes out: only such a request
    # can be sent again. Without it, a request caught on a replica killed mid-answer came back
    # 502 now and then, never retried (test_replicas under ASan: 2 runs in 5; with it 0 in 6,
    # the caught requests logged as retried on another replica)
    option http-buffer-request
    option httpchk GET /healthz
    http-check expect status 200
    default-server inter ${inter}ms fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down
EOF
servers 3
cat <<EOF

frontend learnrec_rpc
    mode tcp
    bind $listen
    default_backend learnrec_rpc

backend learnrec_rpc
    mode tcp
    balance leastconn
    # a ping in msgpack-rpc, its answer expected byte for byte: a replica draining or loading a
    # version answers ping with an error instead, as its /healthz with 503
    option tcp-check
    tcp-check connect
    tcp-check send-binary $ping_request
    tcp-check expect binary $ping_answer
    default-server inter ${inter}ms fall 3 rise 2 observe layer4 error-limit 1 on-error mark-down
EOF
servers 2
if [ -n "$stats" ]; then
  cat <<EOF

frontend stats
    mode http
    bind $stats
    stats enable
    stats uri /
EOF
fi
