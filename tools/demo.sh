#!/usr/bin/env bash
# The main job end to end on the embedded default: a synthetic catalogue, then its summary.
# usage: tools/demo.sh PATH/TO/learnrec [WORKDIR]
set -euo pipefail
bin="$1"
work="${2:-${TMPDIR:-/tmp}/learnrec-demo}"
mkdir -p "$work"
echo "== 1. synthetic catalogue (the embedded default) -> $work/data"
"$bin" dataset synth --items 3000 --users 6000 --seed 1 --out "$work/data"
echo
echo "== 2. what was generated"
"$bin" dataset info "$work/data"
echo
echo "== 3. a few items"
awk -F'\t' 'NR > 1 && NR <= 6 { printf "  item %s: %s\n", $1, $2 }' "$work/data/synth.item"
echo
echo "== 4. content embeddings: the built-in text encoder, fitted on the catalogue"
"$bin" content fit --data "$work/data" --out "$work/content.npy" --encoder-out "$work/encoder.bin"
"$bin" content info "$work/content.npy"
echo
echo "== 5. train the PAL towers on the users' behaviour (a short run; see docs/training.md)"
"$bin" train --data "$work/data" --content "$work/content.npy" --out "$work/model.safetensors" --epochs 6
echo
echo "== 6. full-ranking evaluation on the test targets, with the baselines"
"$bin" eval --data "$work/data" --model "$work/model.safetensors" --content "$work/content.npy"
echo
echo "demo done; files in $work"
