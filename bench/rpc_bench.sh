#!/bin/bash
# One comparison of `learnrec serve` with the reference Python server (bench/py_rpc_server.py:
# asyncio + torch + python3-faiss, one thread each) on the same published index.
#
# usage: bench/rpc_bench.sh OUTDIR MODEL CONTENT DATA INDEXDIR
#
# For each server, two runs of `learnrec bench` (random histories of 20 items, k = 10):
#   rate1000: 8 connections, open loop at 1,000 requests/s: the latency at that load (p99);
#   peak:     16 connections, closed loop (--rate 0): the most requests/s it answers.
# learnrec serve runs with 2 worker threads. Each run gets a freshly started server; learnrec's
# rate1000 run is repeated (REPEATS times, one after the other) because a p99 from one run on a
# shared 2-vCPU machine says little about the next: the table gives every repeat and the worst.
# Logs, each run's JSON and setup.txt go to OUTDIR; a markdown table goes to stdout and
# OUTDIR/table.md. The binaries are this repository's build/learnrec and Debian's /usr/bin/python3.
# Environment: LEARNREC (the binary), DURATION (seconds per run, default 20), THREADS (workers
# of learnrec serve, default 2), REPEATS (learnrec rate1000 runs, default 5).
set -euo pipefail

for a in "$@"; do
    case "$a" in
        -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "rpc_bench.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
    esac
done
if [ $# -ne 5 ]; then
    echo "usage: $0 OUTDIR MODEL CONTENT DATA INDEXDIR (try --help)" >&2
    exit 2
fi
OUT=$1 MODEL=$2 CONTENT=$3 DATA=$4 INDEX=$5
REPO=$(cd "$(dirname "$0")/.." && pwd)
LEARNREC=${LEARNREC:-$REPO/build/learnrec}
DURATION=${DURATION:-20}
THREADS=${THREADS:-2}
REPEATS=${REPEATS:-5}
PY=/usr/bin/python3
mkdir -p "$OUT"

for f in "$MODEL" "$CONTENT" "$DATA" "$INDEX/current/index.faiss"; do
    [ -e "$f" ] || { echo "$0: $f does not exist" >&2; exit 1; }
done
[ -x "$LEARNREC" ] || { echo "$0: $LEARNREC is not executable" >&2; exit 1; }

SERVER_PID=
stop_server() {
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID"
        for _ in $(seq 1 100); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$SERVER_PID" 2>/dev/null && kill -KILL "$SERVER_PID"
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    SERVER_PID=
}
trap stop_server EXIT

# start_server LOGNAME CMD...: starts it in the background and waits for its first line,
# `listening on HOST:PORT ...` (at most 120 s: the Python server loads torch and FAISS first);
# sets PORT.
start_server() {
    local log=$1
    shift
    "$@" >"$OUT/$log.out" 2>"$OUT/$log.err" &
    SERVER_PID=$!
    PORT=
    for _ in $(seq 1 1200); do
        if [ -s "$OUT/$log.out" ]; then
            PORT=$(head -n 1 "$OUT/$log.out" | sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\).*/\1/p')
            [ -n "$PORT" ] && break
        fi
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            echo "$0: $log: the server exited before listening:" >&2
            tail -n 20 "$OUT/$log.err" >&2
            exit 1
        fi
        sleep 0.1
    done
    [ -n "$PORT" ] || { echo "$0: $log: no 'listening on HOST:PORT' line" >&2; exit 1; }
}

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "host: $(uname -n), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
    echo "learnrec: $("$LEARNREC" version 2>&1 | head -n 1)"
    echo "python: $("$PY" -c 'import sys, torch, faiss, msgpack; print(sys.version.split()[0], "torch", torch.__version__, "faiss", faiss.__version__, "msgpack", msgpack.version)')"
    echo "index: $INDEX -> $(readlink "$INDEX/current")"
    cat "$INDEX/current/manifest.json"
    echo
    echo "model: $MODEL; content: $CONTENT; data: $DATA"
    echo "runs: ${DURATION} s each; learnrec serve --threads $THREADS; learnrec rate1000 x $REPEATS"
} >"$OUT/setup.txt" 2>&1

runs_of() { # the runs of a server: learnrec's rate1000 repeated, each with its own name
    if [ "$1" = learnrec ]; then
        for i in $(seq 1 "$REPEATS"); do echo "rate1000-$i"; done
    else
        echo rate1000
    fi
    echo peak
}

for server in learnrec python; do
    for run in $(runs_of $server); do
        if [ $server = learnrec ]; then
            start_server "$server-$run-server" "$LEARNREC" serve --index "$INDEX" --model "$MODEL" \
                --content "$CONTENT" --data "$DATA" --listen 127.0.0.1:0 --threads "$THREADS"
        else
            start_server "$server-$run-server" "$PY" "$REPO/bench/py_rpc_server.py" --index "$INDEX" \
                --model "$MODEL" --content "$CONTENT" --listen 127.0.0.1:0
        fi
        if [ $run != peak ]; then
            load=(--concurrency 8 --rate 1000)
        else
            load=(--concurrency 16 --rate 0)
        fi
        echo "$server $run: 127.0.0.1:$PORT, ${load[*]}, ${DURATION} s" >&2
        "$LEARNREC" bench --connect "127.0.0.1:$PORT" "${load[@]}" --duration "$DURATION" \
            --json "$OUT/$server-$run.json" >"$OUT/$server-$run.log" 2>&1 ||
            echo "$0: the $server $run run failed (see $OUT/$server-$run.log)" >&2
        stop_server
    done
done

"$PY" - "$OUT" "$THREADS" "$REPEATS" <<'EOF' | tee "$OUT/table.md"
import json, os, sys

out, threads, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])


def load(name):
    try:
        with open(os.path.join(out, name + ".json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cells(r):
    if r is None:
        return ["-"] * 5
    lat = r.get("latency_ms", {})
    return ["%.0f" % r["throughput"], "%.2f" % lat.get("p50", float("nan")),
            "%.2f" % lat.get("p99", float("nan")), "%d" % r.get("errors", 0),
            "%d / %d" % (r.get("completed", 0), r.get("sent", 0))]


print("| server | 1,000 req/s offered: served req/s | p50 ms | p99 ms | errors | completed / sent "
      "| peak (16 conns, closed loop): req/s | p50 ms | p99 ms | errors | completed / sent |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
learnrec = [load("learnrec-rate1000-%d" % i) for i in range(1, repeats + 1)]
worst = max((r for r in learnrec if r), key=lambda r: r.get("latency_ms", {}).get("p99", 0), default=None)
print("| learnrec serve, %s worker threads (the worst p99 of %d runs) | %s |"
      % (threads, repeats, " | ".join(cells(worst) + cells(load("learnrec-peak")))))
print("| py_rpc_server.py (asyncio, torch + faiss, 1 thread) | %s |"
      % " | ".join(cells(load("python-rate1000")) + cells(load("python-peak"))))
print()
print("learnrec at 1,000 req/s, run by run: p99 " +
      ", ".join("%.2f" % r["latency_ms"]["p99"] if r else "-" for r in learnrec) + " ms; p99.9 " +
      ", ".join("%.2f" % r["latency_ms"].get("p99.9", float("nan")) if r else "-" for r in learnrec) + " ms")
EOF
