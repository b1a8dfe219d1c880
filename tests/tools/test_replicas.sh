#!/usr/bin/env bash
# Replicas behind HAProxy on loopback (issue 17 item 4): three `learnrec serve` replicas and
# HAProxy configured by tools/haproxy-config.sh; under load through HAProxy (learnrec bench over
# msgpack-rpc, a Python loop over HTTP) one replica is killed with SIGKILL, then
# tools/rolling-publish.sh moves the two left to a new version. No HTTP request may fail; over
# msgpack-rpc only the requests in flight on the killed replica's connections may drop, and each
# must be sent again by the client and answered.
# usage: test_replicas.sh PATH/TO/learnrec; skipped (exit 77) when haproxy is not installed.
set -u
bin="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tools="$here/../../tools"
if ! command -v haproxy >/dev/null; then
  echo "skipped: haproxy is not installed (tools/install-deps.sh installs Debian's haproxy)"
  exit 77
fi
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null; done; [ -f "$tmp/hap.pid" ] && kill "$(cat "$tmp/hap.pid")" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
. "$here/cli_lib.sh"
export OMP_NUM_THREADS=1

# free_ports N: N free loopback ports
free_ports() {
  /usr/bin/python3 -c "
import socket
ss = [socket.socket() for _ in range($1)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))"
}

run synth 0 "$bin" dataset synth --items 1000 --users 1500 --seed 4 --out "$tmp/s" &&
  run content 0 "$bin" content fit --data "$tmp/s" --out "$tmp/c.npy" --encoder-out "$tmp/e.bin" \
    --projection random --dim 64 &&
  run train 0 "$bin" train --data "$tmp/s" --content "$tmp/c.npy" --out "$tmp/m.safetensors" --epochs 1 \
    --hidden 32 --heads 2 --dim 16 --threads 1 &&
  run rebuild_v1 0 "$bin" rebuild --data "$tmp/s" --model "$tmp/m.safetensors" --content "$tmp/c.npy" \
    --out "$tmp/ix" --index IVF8,Flat --target-recall 0.9 || { echo "$passed passed, $failed failed"; exit 1; }
echo tok-$$ > "$tmp/token"

read -r -a ports <<< "$(free_ports 9)"
replicas=()
for i in 0 1 2; do
  rp=${ports[$((2 * i))]} hp=${ports[$((2 * i + 1))]}
  "$bin" serve --index "$tmp/ix" --model "$tmp/m.safetensors" --content "$tmp/c.npy" --data "$tmp/s" \
      --listen "127.0.0.1:$rp" --http "127.0.0.1:$hp" --threads 1 --drain-delay 2 \
      --admin-token-file "$tmp/token" > "$tmp/r$i.log" 2>&1 &
  pids+=($!)
  disown # no job notice when the test kills it
  replicas+=("127.0.0.1:$rp,$hp")
done
rpc_front=${ports[6]} http_front=${ports[7]} stats=${ports[8]}
"$tools/haproxy-config.sh" --replica "${replicas[0]}" --replica "${replicas[1]}" --replica "${replicas[2]}" \
    --listen "127.0.0.1:$rpc_front" --http-listen "127.0.0.1:$http_front" --stats "127.0.0.1:$stats" \
    --check-interval 200 > "$tmp/haproxy.cfg"
run haproxy_config_valid 0 haproxy -c -f "$tmp/haproxy.cfg"
haproxy -f "$tmp/haproxy.cfg" -D -p "$tmp/hap.pid" 2> "$tmp/haproxy.err"

# up_count: replicas HAProxy has UP in both backends
up_count() {
  /usr/bin/python3 -c "
import urllib.request
rows = urllib.request.urlopen('http://127.0.0.1:$stats/;csv', timeout=2).read().decode().splitlines()
print(sum(1 for r in rows if r.split(',')[1].startswith('replica') and r.split(',')[17].startswith('UP')))" 2>/dev/null || echo 0
}
for _ in $(seq 150); do [ "$(up_count)" = 6 ] && break; sleep 0.2; done
expect all_replicas_up "6" "$(up_count)"

run rebuild_v2 0 "$bin" rebuild --data "$tmp/s" --model "$tmp/m.safetensors" --content "$tmp/c.npy" \
    --out "$tmp/ix" --index IVF8,Flat --target-recall 0.9 --full

# load for 8 s: msgpack-rpc through HAProxy (closed loop: each connection always has a request
# in flight, so the kill catches some), and HTTP POST /recommend through HAProxy
"$bin" bench --connect "127.0.0.1:$rpc_front" --rate 0 --duration 8 --concurrency 6 --items 1000 \
    > "$tmp/bench.out" 2>&1 &
bench_pid=$!
/usr/bin/python3 - "$http_front" 8 > "$tmp/http.out" 2>&1 <<'PY' &
import json, sys, time, urllib.error, urllib.request
port, seconds = int(sys.argv[1]), float(sys.argv[2])
ok = failed = mixed = 0
codes, versions = {}, set()
end = time.monotonic() + seconds
# a batch of three histories with a report: each answer names the version that gave it, and one
# response must never hold two
body = json.dumps({"histories": [[1, 2, 3, 4], [5, 6, 7], [8, 9]], "k": 10, "report": True}).encode()
while time.monotonic() < end:
    try:
        r = urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/recommend", data=body), timeout=5)
        res = json.loads(r.read())["results"]
        named = {a["version"] for a in res}
        versions |= named
        mixed += len(named) != 1
        ok += r.status == 200 and len(res) == 3 and all(len(a["items"]) == 10 for a in res)
    except urllib.error.HTTPError as e:
        failed += 1
        codes[e.code] = codes.get(e.code, 0) + 1
    except Exception as e:
        failed += 1
        codes[type(e).__name__] = codes.get(type(e).__name__, 0) + 1
    time.sleep(0.005)
print(f"http ok {ok} failed {failed} {codes} mixed {mixed} versions {','.join(sorted(versions))}")
PY
http_pid=$!
sleep 2
kill -9 "${pids[2]}"
sleep 1
run rolling_publish 0 "$tools/rolling-publish.sh" --replica "${replicas[0]}" --replica "${replicas[1]}" \
    --version v000002 --admin-token-file "$tmp/token" --timeout 30 --learnrec "$bin"
wait "$bench_pid"
wait "$http_pid"
bench_out=$(cat "$tmp/bench.out") http_out=$(cat "$tmp/http.out")
echo "$bench_out" | sed -n '2p'
echo "$http_out"
expect http_no_failure "failed 0 {}" "$http_out"
# answers came from both versions over the rolling publish, never two in one response
expect http_one_version_per_response "mixed 0 versions v000001,v000002" "$http_out"
expect rpc_nothing_lost "errors 0, unanswered 0," "$bench_out"
# the killed replica's connections dropped; each was dialled again and the requests in flight on
# them were sent again (and answered: nothing was lost above)
read -r nf nd nr <<< "$(echo "$bench_out" |
  sed -n 's/.*failed connections \([0-9]*\) (dialled again \([0-9]*\), requests sent again \([0-9]*\)).*/\1 \2 \3/p')"
if [ "${nf:-0}" -ge 1 ] && [ "$nf" = "$nd" ] && [ "${nr:-0}" -ge 1 ]; then ok rpc_dropped_requests_sent_again
else fail rpc_dropped_requests_sent_again "$(echo "$bench_out" | sed -n '2p')"; fi
for i in 0 1; do
  got=$("$bin" query --connect "${replicas[$i]%,*}" --method stats --json 2>&1)
  expect "replica${i}_serves_v2" '"version":"v000002"' "$got"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
