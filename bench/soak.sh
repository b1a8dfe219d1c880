#!/bin/bash
# Issue 14's soak: `learnrec serve` under a steady mixed load for DURATION seconds, its latency
# interval by interval and its resident memory sampled throughout.
#
# usage: bench/soak.sh OUTDIR MODEL CONTENT DATA INDEXDIR
#
# Starts `learnrec serve` on INDEXDIR (THREADS workers), then `learnrec bench` open loop at RATE
# requests/s over CONNS connections for DURATION s, methods drawn by MIX, a line per INTERVAL s,
# while bench/rss_sample.py reads the server's /proc/PID/status every SAMPLE_S s. Then
# bench/soak_report.py prints a row per interval (requests, errors, pending, p50/p99/max, memory),
# the memory level at the end of the warm-up (WARMUP s), the largest deviation from it after, and
# PASS/FAIL for: no errors, no unanswered request, the load offered, the server alive at the end,
# VmRSS and RssAnon within +-TOLERANCE % of their level after the warm-up. Exit status 0 when all
# pass. Environment (defaults): LEARNREC (build/learnrec), DURATION (600), RATE (1000), CONNS
# (200), MIX (recommend=70,search=20,item=8,stats=2), THREADS (2), INTERVAL (60), WARMUP (60),
# SAMPLE_S (5), TOLERANCE (5). OUTDIR gets setup.txt, bench.log, bench.json, rss.tsv,
# serve.{out,err} and report.txt.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=serve_lib.sh
. "$REPO/bench/serve_lib.sh"
script_args "$0" "$@"
LEARNREC=${LEARNREC:-$REPO/build/learnrec}
DURATION=${DURATION:-600} RATE=${RATE:-1000} CONNS=${CONNS:-200}
MIX=${MIX:-recommend=70,search=20,item=8,stats=2} THREADS=${THREADS:-2} INTERVAL=${INTERVAL:-60}
WARMUP=${WARMUP:-60} SAMPLE_S=${SAMPLE_S:-5} TOLERANCE=${TOLERANCE:-5}
for f in "$MODEL" "$CONTENT" "$DATA" "$INDEX/current/manifest.json"; do
    [ -e "$f" ] || { echo "$0: $f does not exist" >&2; exit 1; }
done
[ -x "$LEARNREC" ] || { echo "$0: $LEARNREC is not executable" >&2; exit 1; }
mkdir -p "$OUT"
trap cleanup EXIT

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -n), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "learnrec: $("$LEARNREC" version 2>&1 | head -n 1)"
    echo "index: $INDEX -> $(readlink "$INDEX/current")"
    echo "model: $MODEL; content: $CONTENT; data: $DATA"
    echo "serve --threads $THREADS; bench --rate $RATE --concurrency $CONNS --duration $DURATION --mix $MIX"
    echo "interval $INTERVAL s, warm-up $WARMUP s, memory sampled every $SAMPLE_S s, tolerance $TOLERANCE %"
} >"$OUT/setup.txt"
cat "$OUT/setup.txt"

start_server serve --index "$INDEX" --model "$MODEL" --content "$CONTENT" --data "$DATA" --threads "$THREADS"
echo "server pid $SERVER_PID on 127.0.0.1:$PORT; $(tail -n 1 "$OUT/serve.err")"
start_sampler "$SAMPLE_S" "$OUT/rss.tsv"
"$LEARNREC" bench --connect "127.0.0.1:$PORT" --rate "$RATE" --concurrency "$CONNS" --duration "$DURATION" \
    --mix "$MIX" --interval "$INTERVAL" --json "$OUT/bench.json" 2>&1 | tee "$OUT/bench.log"
bench_rc=${PIPESTATUS[0]}
alive=0
server_alive && alive=1
stop_sampler
stop_server
echo "bench exit status $bench_rc; server alive at the end: $alive, exit status on SIGTERM $SERVER_RC"
[ -s "$OUT/bench.json" ] || { echo "$0: the bench wrote no report (see $OUT/bench.log)" >&2; exit 1; }
/usr/bin/python3 "$REPO/bench/soak_report.py" "$OUT/bench.json" "$OUT/rss.tsv" --rate "$RATE" \
    --duration "$DURATION" --warmup "$WARMUP" --tolerance "$TOLERANCE" --server-alive "$alive" |
    tee "$OUT/report.txt"
exit "${PIPESTATUS[0]}"
