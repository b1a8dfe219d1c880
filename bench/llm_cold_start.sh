#!/bin/bash
# Cold start with the LLM inside the server: how long `add_items` takes, end to end over
# msgpack-rpc, for a new item known only by its text (about 40 tokens), with a Qwen2-0.5B-shaped
# model (random bfloat16 weights from bench/llm_gen.py) in `learnrec serve --llm`.
#
# usage: bench/llm_cold_start.sh [--dir DIR] [--model qwen2-0.5b|llama-1b|tiny] [--calls N]
#                                [--threads N] [--text "..."]
#
# Makes (or reuses) in DIR (default /tmp/learnrec-llm-bench): the model, a 1,000-item synthetic
# catalogue, its content from the same model (learnrec content llm), small towers trained on it,
# an index (rebuild); then starts `serve --llm` with --threads N workers (default 2) and times N
# add_items calls (default 20), each a fresh item of one ~40-token text, from a Python client
# (Debian's python3-msgpack) on loopback: the time from sending the request to the answer. After
# each call the new item is checked to be served (`item` says it is in the index). Prints p50, p90
# and max, and the server's peak resident memory (VmHWM). --text sets the item's text (default: a
# 40-token title, brand and category with the fixture tokenizer; its token count is printed).
set -euo pipefail
DIR=/tmp/learnrec-llm-bench MODEL=qwen2-0.5b CALLS=20 THREADS=2
TEXT="Title: Nitrile Exam Gloves, Blue. Brand: Walnov. Category: Lab Supplies > Gloves"
for a in "$@"; do case "$a" in -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac; done
CMD="bench/llm_cold_start.sh $*"
while [ $# -gt 0 ]; do
  case "$1" in
    --dir|--model|--calls|--threads|--text)
      [ $# -ge 2 ] || { echo "llm_cold_start.sh: $1 needs a value (try --help)" >&2; exit 2; }
      case "$1" in --dir) DIR=$2 ;; --model) MODEL=$2 ;; --calls) CALLS=$2 ;; --threads) THREADS=$2 ;; --text) TEXT=$2 ;; esac
      shift 2 ;;
    *) echo "llm_cold_start.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
REPO=$(cd "$(dirname "$0")/.." && pwd)
BIN=${LEARNREC:-$REPO/build/learnrec}
PY=/usr/bin/python3
TOKENIZER=$REPO/../shared/fixtures/llm/qwen2-bytelevel/tokenizer.json
[ -x "$BIN" ] || { echo "llm_cold_start.sh: $BIN is not built (make build)" >&2; exit 1; }
[ -f "$TOKENIZER" ] || { echo "llm_cold_start.sh: needs the fixture tokenizer $TOKENIZER" >&2; exit 1; }
mkdir -p "$DIR"
md=$DIR/$MODEL cat=$DIR/cold-$MODEL
$PY "$REPO/bench/llm_gen.py" "$MODEL" "$md" --tokenizer "$TOKENIZER" >&2
if [ ! -f "$cat/ix/current/manifest.json" ]; then
  rm -rf "$cat"
  "$BIN" dataset synth --items 1000 --users 1500 --seed 5 --out "$cat" >&2
  "$BIN" content llm --model "$md" --data "$cat" --out "$cat/c.npy" >&2
  "$BIN" train --data "$cat" --content "$cat/c.npy" --out "$cat/m.safetensors" --epochs 2 --hidden 64 --heads 2 \
    --dim 32 >&2
  "$BIN" rebuild --data "$cat" --model "$cat/m.safetensors" --content "$cat/c.npy" --out "$cat/ix" --index Flat >&2
fi
"$BIN" serve --index "$cat/ix" --model "$cat/m.safetensors" --content "$cat/c.npy" --llm "$md" \
  --listen 127.0.0.1:0 --threads "$THREADS" >"$DIR/serve.out" 2>"$DIR/serve.err" &
spid=$!
trap 'kill $spid 2>/dev/null' EXIT
for _ in $(seq 600); do grep -q listening "$DIR/serve.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*:\([0-9]*\) (msgpack-rpc).*/\1/p' "$DIR/serve.out")
[ -n "$port" ] || { echo "llm_cold_start.sh: serve did not start: $(cat "$DIR/serve.err")" >&2; exit 1; }

echo "command: $CMD"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; load $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s 1\n' "$TEXT" >"$DIR/one.txt"
"$BIN" content tokenize --model "$md" --texts "$DIR/one.txt" --json "$DIR/one.json" >/dev/null
echo "the item's text: $($PY -c "import json; print(len(json.load(open('$DIR/one.json'))[0]))") tokens"
$PY - "$port" "$CALLS" "$spid" "$TEXT" <<'EOF'
import socket, sys, time, msgpack
port, calls, pid = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
unp = msgpack.Unpacker(raw=False)
def call(msgid, method, params):
    s.sendall(msgpack.packb([0, msgid, method, params]))
    while True:
        for m in unp:
            return m
        unp.feed(s.recv(1 << 16))
words = sys.argv[4]
times, first = [], None
for i in range(calls + 1):  # the first call warms the server (pages of the weights come in)
    text = f"{words} {i}"
    t0 = time.perf_counter()
    r = call(i, "add_items", {"items": [{"id": 1000000 + i, "text": text}]})
    dt = time.perf_counter() - t0
    assert r[2] is None, r[2]
    it = call(10**6 + i, "item", {"id": 1000000 + i})
    assert it[3]["in_index"], it
    if i: times.append(dt)
    else: first = dt
times.sort()
q = lambda p: times[min(len(times) - 1, int(p * len(times)))]
hwm = [l for l in open(f"/proc/{pid}/status") if l.startswith("VmHWM")][0].split()[1]
print(f"add_items of one text (first call excluded, {len(times)} calls): "
      f"p50 {q(0.5)*1000:.0f} ms, p90 {q(0.9)*1000:.0f} ms, max {times[-1]*1000:.0f} ms; "
      f"first call {first*1000:.0f} ms; server peak RSS {int(hwm)/1024:.0f} MiB")
EOF
