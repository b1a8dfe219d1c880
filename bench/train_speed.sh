#!/usr/bin/env bash
# Training speed (issue 16): examples per second of `learnrec train` on a long-history catalogue
# shaped like MovieLens (671 users, 9,125 items, about 150 items per user) and on Amazon
# Scientific, each training layout and negative sampling for one epoch, with PyTorch's layouts
# of the same model and loss on Scientific (bench/torch_pal.py) in the same run.
#
# usage: bench/train_speed.sh OUTDIR [BEFORE]
#   OUTDIR gets the datasets, content, logs and summary.md; BEFORE (optional) is a learnrec binary
#   built from an earlier commit, run with its defaults for the "before" rows. The Scientific
#   rows read ../shared/datasets/amazon-scientific (SCI=DIR overrides). Every run uses both
#   cores; examples/s is learnrec's own figure for the epoch, with its validation pass and without
#   it (the steps alone, as bench/torch_pal.py counts).
set -euo pipefail
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/train_speed.sh: unknown option $a (usage: bench/train_speed.sh OUTDIR [BEFORE])" >&2; exit 2 ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: bench/train_speed.sh OUTDIR [BEFORE] (try --help)" >&2
  exit 2
fi
out="$1" before="${2:-}"
here="$(cd "$(dirname "$0")/.." && pwd)"
lr="$here/build/learnrec"
sci="${SCI:-$here/../shared/datasets/amazon-scientific}"
mkdir -p "$out"
summary="$out/summary.md"
: > "$summary"

if [ ! -f "$out/ml/synth.inter" ]; then
  "$lr" dataset synth --out "$out/ml" --items 9125 --users 671 --mean-len 149 --seed 3
  # the content every row of docs/benchmarks.md was measured with (the default before issue 16's
  # quality work), which PyTorch reads too
  "$lr" content fit --data "$out/ml" --out "$out/ml_c.npy" --encoder-out "$out/ml_enc.bin" --projection random --dim 1024
fi
if [ -d "$sci" ] && [ ! -f "$out/sci_c.npy" ]; then
  "$lr" content fit --data "$sci" --out "$out/sci_c.npy" --encoder-out "$out/sci_enc.bin" --projection random --dim 1024
fi

# one epoch of learnrec: NAME BINARY DATA CONTENT [train options]
one_epoch() {
  local name="$1" bin="$2" data="$3" content="$4"
  shift 4
  "$bin" train --data "$data" --content "$content" --out "$out/$name.safetensors" --epochs 1 "$@" \
      > "$out/$name.log" 2>&1
  local line
  line=$(grep '^trained' "$out/$name.log")
  echo "| $name | $* | $(echo "$line" | sed 's/.*(\([0-9]*\) examples\/s.*/\1/') |\
 $(echo "$line" | sed -n 's/.*; \([0-9]*\) in the steps.*/\1/p') |\
 $(echo "$line" | sed 's/.*Recall@10 \([0-9.]*\).*/\1/') |" \
      | tee -a "$summary"
}

echo "| run | options | examples/s | in the steps | valid R@10 after 1 epoch |" | tee -a "$summary"
echo "|---|---|---|---|---|" | tee -a "$summary"
for data in ml sci; do
  if [ "$data" = ml ]; then d="$out/ml" c="$out/ml_c.npy"; else d="$sci" c="$out/sci_c.npy"; fi
  [ -d "$d" ] || { echo "| $data | skipped: $d is missing | | | |" | tee -a "$summary"; continue; }
  if [ -n "$before" ]; then one_epoch "${data}_before" "$before" "$d" "$c"; fi
  one_epoch "${data}_default" "$lr" "$d" "$c"
  # the layouts the default does not take here (one pass per prefix is the before's on ml)
  one_epoch "${data}_windows_full" "$lr" "$d" "$c" --positions oldest --negatives full
  if [ "$data" = sci ]; then
    one_epoch "${data}_windows_sampled" "$lr" "$d" "$c" --positions oldest --negatives sampled
  fi
done

if [ -d "$sci" ]; then
  echo | tee -a "$summary"
  echo "PyTorch on Scientific, the same model (1 layer, H 256, 4 heads, D 64) and full-softmax loss:" | tee -a "$summary"
  common=(--content "$out/sci_c.npy" --data "$sci" --threads 2 --batch 1024 --layers 1 --hidden 256
          --heads 4 --dim 64)
  for spec in "newest packed-free 34" "oldest windows 34"; do
    set -- $spec
    /usr/bin/python3 "$here/bench/torch_pal.py" "${common[@]}" --positions "$1" --layout "$2" \
        --steps "$3" --warmup-steps 2 2> "$out/torch_$2.err" | tee -a "$summary"
  done
fi
echo "wrote $summary"
