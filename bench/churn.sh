#!/bin/bash
# Issue 14's reloads and updates under load: RELOADS reloads alternating two versions, and a
# stream of add_items and remove_items, while `learnrec bench` runs a steady mixed load.
#
# usage: bench/churn.sh OUTDIR MODEL CONTENT DATA INDEXDIR
#
# 1. Two versions of INDEXDIR's current one are published into OUTDIR/ix with
#    build/bench/version_without: A without the catalogue ids i % MOD == 0, B without those with
#    i % MOD == 1 (the marker sets: an answer holding one tells which version served it).
# 2. `learnrec serve` (THREADS workers, an admin token) starts on A; bench/rss_sample.py samples its
#    memory every SAMPLE_S s; `learnrec bench` runs open loop at RATE req/s over CONNS
#    connections, methods drawn by MIX, for QUIET + RELOADS * EVERY + AFTER seconds, recording
#    every answer's times and ids (--record-ids).
# 3. After QUIET s, bench/churn_drive.py reloads every EVERY s to the other version, RELOADS times,
#    while it sends UPDATES add_items / remove_items calls per second (BATCH ids each); the stream
#    stops before the last reload, which returns the server to A. Then AFTER s of load alone.
# 4. bench/churn_check.py prints the quiet p99 (from SKIP s into the load to the first reload), the
#    churn p99, their ratio, the mismatches (answers no version current during them could give),
#    failed requests, memory before and after the churn, and PASS/FAIL per criterion: no failed
#    request, churn p99 <= RATIO x quiet p99, no mismatch, >= 30 s of load after the churn, VmRSS
#    and RssAnon after <= before + TOLERANCE %. Exit status 0 when all pass.
# Environment (defaults): LEARNREC (build/learnrec), VERSION_WITHOUT (build/bench/version_without),
# RELOADS (100), EVERY (3), QUIET (60), AFTER (60), RATE (1000), CONNS (200),
# MIX (recommend=70,search=20,item=8,stats=2), THREADS (2), MOD (20), UPDATES (2), BATCH (10),
# SAMPLE_S (2), SKIP (10), RATIO (3), TOLERANCE (5). OUTDIR gets ix/ (the two versions: as large as
# INDEXDIR's current version, twice), setup.txt, bench.{log,json}, record.txt, churn.log, rss.tsv,
# serve.{out,err}, report.txt.
set -uo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=serve_lib.sh
. "$REPO/bench/serve_lib.sh"
script_args "$0" "$@"
LEARNREC=${LEARNREC:-$REPO/build/learnrec}
VERSION_WITHOUT=${VERSION_WITHOUT:-$REPO/build/bench/version_without}
RELOADS=${RELOADS:-100} EVERY=${EVERY:-3} QUIET=${QUIET:-60} AFTER=${AFTER:-60}
RATE=${RATE:-1000} CONNS=${CONNS:-200} MIX=${MIX:-recommend=70,search=20,item=8,stats=2}
THREADS=${THREADS:-2} MOD=${MOD:-20} UPDATES=${UPDATES:-2} BATCH=${BATCH:-10} SAMPLE_S=${SAMPLE_S:-2}
SKIP=${SKIP:-10} RATIO=${RATIO:-3} TOLERANCE=${TOLERANCE:-5}
PY=/usr/bin/python3
TOKEN=churn-$$-$RANDOM
for f in "$MODEL" "$CONTENT" "$DATA" "$INDEX/current/manifest.json"; do
    [ -e "$f" ] || { echo "$0: $f does not exist" >&2; exit 1; }
done
for x in "$LEARNREC" "$VERSION_WITHOUT"; do
    [ -x "$x" ] || { echo "$0: $x is not executable (build it: cmake --build build)" >&2; exit 1; }
done
mkdir -p "$OUT"
DRIVER_PID= BENCH_PID=
trap '[ -n "$DRIVER_PID" ] && kill "$DRIVER_PID" 2>/dev/null; [ -n "$BENCH_PID" ] && kill "$BENCH_PID" 2>/dev/null; cleanup' EXIT

# ---- 1. the two versions ----
N=$("$PY" -c 'import numpy, sys; print(numpy.load(sys.argv[1], mmap_mode="r").shape[0])' "$CONTENT") || exit 1
awk -v n="$N" -v m="$MOD" 'BEGIN { for (i = 0; i < n; i += m) print i }' >"$OUT/lacks_a.txt"
awk -v n="$N" -v m="$MOD" 'BEGIN { for (i = 1; i < n; i += m) print i }' >"$OUT/lacks_b.txt"
rm -rf "$OUT/ix"
VB=$("$VERSION_WITHOUT" "$INDEX" "$OUT/ix" "$OUT/lacks_b.txt" | cut -d' ' -f1) || exit 1
VA=$("$VERSION_WITHOUT" "$INDEX" "$OUT/ix" "$OUT/lacks_a.txt" | cut -d' ' -f1) || exit 1 # current: A
LOAD_S=$("$PY" -c "print($QUIET + $RELOADS * $EVERY + $AFTER)")
{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -n), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "learnrec: $("$LEARNREC" version 2>&1 | head -n 1)"
    echo "index: $INDEX -> $(readlink "$INDEX/current"), $N catalogue items"
    echo "versions in $OUT/ix: $VA lacks ids i % $MOD == 0, $VB lacks i % $MOD == 1"
    echo "model: $MODEL; content: $CONTENT; data: $DATA"
    echo "serve --threads $THREADS; bench --rate $RATE --concurrency $CONNS --duration $LOAD_S --mix $MIX"
    echo "churn: after $QUIET s, $RELOADS reloads every $EVERY s, $UPDATES update calls/s of $BATCH ids; then $AFTER s"
} >"$OUT/setup.txt"
cat "$OUT/setup.txt"

# ---- 2. the server, its memory, the load ----
start_server serve --index "$OUT/ix" --model "$MODEL" --content "$CONTENT" --data "$DATA" \
    --threads "$THREADS" --admin-token "$TOKEN"
echo "server pid $SERVER_PID on 127.0.0.1:$PORT; $(tail -n 1 "$OUT/serve.err")"
start_sampler "$SAMPLE_S" "$OUT/rss.tsv"
"$LEARNREC" bench --connect "127.0.0.1:$PORT" --rate "$RATE" --concurrency "$CONNS" --duration "$LOAD_S" \
    --mix "$MIX" --items "$N" --interval 10 --json "$OUT/bench.json" --record-ids "$OUT/record.txt" \
    >"$OUT/bench.log" 2>&1 &
BENCH_PID=$!

# ---- 3. the churn ----
"$PY" "$REPO/bench/churn_drive.py" --connect "127.0.0.1:$PORT" --token "$TOKEN" --versions "$VA,$VB" \
    --content "$CONTENT" --catalogue "$N" --start-in "$QUIET" --reloads "$RELOADS" --every "$EVERY" \
    --updates "$UPDATES" --batch "$BATCH" --log "$OUT/churn.log" &
DRIVER_PID=$!
wait "$DRIVER_PID"
driver_rc=$?
DRIVER_PID=
wait "$BENCH_PID"
bench_rc=$?
BENCH_PID=
cat "$OUT/bench.log"
alive=0
server_alive && alive=1
stop_sampler
stop_server
echo "driver exit status $driver_rc, bench $bench_rc; server alive at the end: $alive, exit status on SIGTERM $SERVER_RC"

# ---- 4. the checks ----
[ -s "$OUT/bench.json" ] || { echo "$0: the bench wrote no report" >&2; exit 1; }
"$PY" "$REPO/bench/churn_check.py" --record "$OUT/record.txt" --log "$OUT/churn.log" --rss "$OUT/rss.tsv" \
    --bench "$OUT/bench.json" --catalogue "$N" --mod "$MOD" --lacks "$VA=0,$VB=1" --skip "$SKIP" \
    --ratio "$RATIO" --tolerance "$TOLERANCE" | tee "$OUT/report.txt"
rc=${PIPESTATUS[0]}
if [ "$alive" -ne 1 ]; then echo "FAIL the server was alive at the end" | tee -a "$OUT/report.txt"; rc=1; fi
exit "$rc"
