#!/usr/bin/env bash
# Issue 5's index benchmark in one run: both datasets, learnrec, raw FAISS (the same build through
# the C API, and Debian's python3-faiss) and hnswlib, then the 1M-item rebuild job.
#
# usage: bench/index_all.sh OUTDIR [MODEL]
#   OUTDIR gets clustered.* and towers.* (CSV, SVG, logs). MODEL is a trained model for 1,024-d
#   content (default: one trained here on the 1M catalogue, 3 epochs, about 3 minutes; make
#   demo's model reads the default 2,048-d learned projection, fitted on other text, so it does
#   not fit this content). The 1M synthetic catalogue, its content and the towers' outputs are
#   made in OUTDIR/s1m unless already there (the content fit alone takes about 4 minutes and
#   writes 4 GB).
# Needs build/ (make), /usr/bin/python3 with numpy, python3-faiss and python3-hnswlib.
set -euo pipefail
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "index_all.sh: unknown option '$a' (try --help)" >&2; exit 2 ;;
  esac
done
if [ $# -lt 1 ] || [ $# -gt 2 ]; then
  echo "usage: bench/index_all.sh OUTDIR [MODEL] (try --help)" >&2
  exit 2
fi
out="$1"
model="${2:-}"
bin=build/learnrec
bench=build/bench/bench_index
py=/usr/bin/python3
mkdir -p "$out/s1m"
s="$out/s1m"

echo "== clustered: 1M x 64 unit vectors around 1,000 centres"
"$bench" --save 1 --out "$out/clustered" | tee "$out/clustered.log"
"$py" bench/peers_index.py "$out/clustered" "$(grep -o 'learnrec index [^:]*' "$out/clustered.log" | cut -d' ' -f3)" \
    2>&1 | tee "$out/clustered_peers.log"

echo "== towers: the item tower's outputs for a 1M-item synthetic catalogue, user-tower queries"
[ -f "$s/synth.item" ] || "$bin" dataset synth --items 1000000 --users 20000 --seed 9 --out "$s"
# 1,024-d random projection: the content the documented 1M runs used (the default before issue 16)
[ -f "$s/content.npy" ] || "$bin" content fit --data "$s" --out "$s/content.npy" --encoder-out "$s/enc.bin" \
    --projection random --dim 1024
if [ -z "$model" ]; then
  model="$s/model.safetensors"
  [ -f "$model" ] || "$bin" train --data "$s" --content "$s/content.npy" --out "$model" --epochs 3
fi
[ -f "$s/items.npy" ] || "$bin" embed-items --model "$model" --content "$s/content.npy" --out "$s/items.npy"
[ -f "$s/users.npy" ] || "$bin" embed-users --data "$s" --model "$model" --content "$s/content.npy" --out "$s/users.npy"
"$bench" --items "$s/items.npy" --query-vectors "$s/users.npy" --save 1 --out "$out/towers" | tee "$out/towers.log"
"$py" bench/peers_index.py "$out/towers" "$(grep -o 'learnrec index [^:]*' "$out/towers.log" | cut -d' ' -f3)" \
    2>&1 | tee "$out/towers_peers.log"

echo "== the 1M-item rebuild job"
rm -rf "$s/ix"
/usr/bin/time -v "$bin" rebuild --data "$s" --model "$model" --content "$s/content.npy" --out "$s/ix" \
    2>&1 | tee "$out/rebuild.log"
