#!/usr/bin/env bash
# Throughput through HAProxy with 1, 2 and 3 replicas on this machine, the CPU each request costs
# (replicas and HAProxy, from /proc), and HAProxy's added latency at a fixed rate (issue 17 item 5).
#
# usage: bench/replicas.sh WORLD OUTDIR [SECONDS]
#   WORLD: a directory with index/, model.safetensors, content.npy and data/ (what `make demo`
#   leaves in /tmp/learnrec-demo); OUTDIR gets the logs and summary.md; SECONDS per run
#   (default 10). Every replica runs `serve --threads 1`; the load generator is `learnrec bench`
#   over msgpack-rpc (histories of 20, k 10), closed loop with 8 connections for throughput, open
#   loop at 1,000 requests/s for latency, straight to one replica and through HAProxy.
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 2 ] || { echo "usage: bench/replicas.sh WORLD OUTDIR [SECONDS] (try --help)" >&2; exit 2; }
world="$1" out="$2" secs="${3:-10}"
here="$(cd "$(dirname "$0")/.." && pwd)"
bin="$here/build/learnrec"
command -v haproxy >/dev/null || { echo "bench/replicas.sh: haproxy is not installed" >&2; exit 1; }
mkdir -p "$out"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; [ -f "$out/hap.pid" ] && kill "$(cat "$out/hap.pid")" 2>/dev/null; wait 2>/dev/null || true; }
trap cleanup EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; } # user + system clock ticks
hz=$(getconf CLK_TCK)
read -r -a ports <<< "$(/usr/bin/python3 -c "
import socket
ss = [socket.socket() for _ in range(9)]
for s in ss: s.bind(('127.0.0.1', 0))
print(' '.join(str(s.getsockname()[1]) for s in ss))")"
replicas=()
for i in 0 1 2; do
  rp=${ports[$((2 * i))]} hp=${ports[$((2 * i + 1))]}
  "$bin" serve --index "$world/index" --model "$world/model.safetensors" --content "$world/content.npy" \
      --data "$world/data" --listen "127.0.0.1:$rp" --http "127.0.0.1:$hp" --threads 1 > "$out/r$i.log" 2>&1 &
  pids+=($!)
  replicas+=("127.0.0.1:$rp,$hp")
done
sleep 3
summary="$out/summary.md"
echo "| replicas | requests/s (closed loop, 8 connections) | p50 ms | p99 ms | replica CPU ms per request | HAProxy CPU ms per request |" > "$summary"
echo "|---|---|---|---|---|---|" >> "$summary"
for n in 1 2 3; do
  args=()
  for ((i = 0; i < n; i++)); do args+=(--replica "${replicas[$i]}"); done
  "$here/tools/haproxy-config.sh" "${args[@]}" --listen "127.0.0.1:${ports[6]}" --http-listen "127.0.0.1:${ports[7]}" \
      > "$out/haproxy$n.cfg"
  haproxy -f "$out/haproxy$n.cfg" -D -p "$out/hap.pid"
  sleep 2
  hp=$(cat "$out/hap.pid")
  before=0; for ((i = 0; i < n; i++)); do before=$((before + $(ticks "${pids[$i]}"))); done
  hbefore=$(ticks "$hp")
  "$bin" bench --connect "127.0.0.1:${ports[6]}" --rate 0 --concurrency 8 --duration "$secs" > "$out/closed$n.out"
  after=0; for ((i = 0; i < n; i++)); do after=$((after + $(ticks "${pids[$i]}"))); done
  hafter=$(ticks "$hp")
  kill "$hp"; rm -f "$out/hap.pid"; sleep 1
  done_n=$(sed -n 's/.*completed \([0-9]*\),.*/\1/p' "$out/closed$n.out")
  rate=$(sed -n 's/^throughput \([0-9.]*\) req.*/\1/p' "$out/closed$n.out")
  p50=$(sed -n 's/.*p50 \([0-9.]*\) .*/\1/p' "$out/closed$n.out")
  p99=$(sed -n 's/.* p99 \([0-9.]*\) .*/\1/p' "$out/closed$n.out")
  awk -v n="$n" -v r="$rate" -v a="$p50" -v b="$p99" -v c=$((after - before)) -v h=$((hafter - hbefore)) -v d="$done_n" -v hz="$hz" \
      'BEGIN { printf "| %d | %.0f | %s | %s | %.3f | %.3f |\n", n, r, a, b, 1000 * c / hz / d, 1000 * h / hz / d }' >> "$summary"
done
# HAProxy's added latency: one replica at 1,000 requests/s, straight and through HAProxy
"$here/tools/haproxy-config.sh" --replica "${replicas[0]}" --listen "127.0.0.1:${ports[6]}" \
    --http-listen "127.0.0.1:${ports[7]}" > "$out/haproxy1.cfg"
haproxy -f "$out/haproxy1.cfg" -D -p "$out/hap.pid"
sleep 2
echo >> "$summary"
echo "| one replica at 1,000 requests/s | p50 ms | p90 ms | p99 ms | p99.9 ms |" >> "$summary"
echo "|---|---|---|---|---|" >> "$summary"
for via in straight haproxy; do
  target="${replicas[0]%,*}"
  [ "$via" = haproxy ] && target="127.0.0.1:${ports[6]}"
  "$bin" bench --connect "$target" --rate 1000 --concurrency 8 --duration "$secs" > "$out/lat_$via.out"
  sed -n 's/^latency ms: p50 \([0-9.]*\) p90 \([0-9.]*\) p99 \([0-9.]*\) p99.9 \([0-9.]*\) .*/| '"$via"' | \1 | \2 | \3 | \4 |/p' \
      "$out/lat_$via.out" >> "$summary"
done
cat "$summary"
