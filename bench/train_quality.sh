#!/usr/bin/env bash
# Quality of the towers on Amazon Scientific (issue 16): complete `learnrec train` runs of each
# variant (content encoder options x training options x seeds), each ranked on the valid and test
# splits with `learnrec eval`, with and without --exclude-history.
#
# usage: bench/train_quality.sh OUTDIR [VARIANTS]
#   VARIANTS (default bench/train_quality.txt): one variant per line,
#     NAME | content fit options | train options | seeds
#   e.g. "svd | --projection svd | | 1 2 3"; lines starting with # are skipped.
#   Runs go two at a time, one thread each (the two vCPUs this was measured on); each run keeps
#   its log, model and eval tables in OUTDIR, and OUTDIR/summary.md gets one row per run and the
#   mean and spread over the seeds of each variant. SCI=DIR overrides the dataset
#   (default ../shared/datasets/amazon-scientific).
set -euo pipefail
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "bench/train_quality.sh: unknown option $a (usage: bench/train_quality.sh OUTDIR [VARIANTS])" >&2; exit 2 ;;
  esac
done
if [ $# -lt 1 ]; then
  echo "usage: bench/train_quality.sh OUTDIR [VARIANTS] (try --help)" >&2
  exit 2
fi
here="$(cd "$(dirname "$0")/.." && pwd)"
out="$1" variants="${2:-$here/bench/train_quality.txt}"
lr="$here/build/learnrec"
sci="${SCI:-$here/../shared/datasets/amazon-scientific}"
[ -d "$sci" ] || { echo "bench/train_quality.sh: skipped: $sci is missing" >&2; exit 0; }
mkdir -p "$out"

trim() { sed 's/^ *//; s/ *$//' <<< "$1"; }

# the content of one set of encoder options, fitted once
content_for() {
  local opts="$1" key
  key=$(echo "content $opts" | md5sum | cut -c1-12)
  if [ ! -f "$out/$key.npy" ]; then
    # shellcheck disable=SC2086
    "$lr" content fit --data "$sci" --out "$out/$key.npy" --encoder-out "$out/$key.bin" $opts > "$out/$key.log"
  fi
  echo "$out/$key.npy"
}

# one run: NAME SEED CONTENT TRAIN_OPTS
one_run() {
  local name="$1" seed="$2" content="$3" topts="$4" run="$out/$1.seed$2"
  # shellcheck disable=SC2086
  "$lr" train --data "$sci" --content "$content" --out "$run.safetensors" --threads 1 --seed "$seed" $topts \
      > "$run.log" 2>&1
  for split in valid test; do
    "$lr" eval --data "$sci" --content "$content" --model "$run.safetensors" --split "$split" > "$run.$split.txt"
    "$lr" eval --data "$sci" --content "$content" --model "$run.safetensors" --split "$split" --exclude-history \
        > "$run.$split.x.txt"
  done
}

runs=()
while IFS= read -r line; do
  case "$line" in ''|'#'*) continue ;; esac
  IFS='|' read -r name copts topts seeds <<< "$line"
  name=$(trim "$name") copts=$(trim "$copts") topts=$(trim "$topts") seeds=$(trim "${seeds:-1}")
  content=$(content_for "$copts")
  for seed in $seeds; do
    runs+=("$name.seed$seed")
    if [ ! -f "$out/$name.seed$seed.test.x.txt" ]; then
      one_run "$name" "$seed" "$content" "$topts" &
      if [ "$(jobs -rp | wc -l)" -ge 2 ]; then wait -n; fi
    fi
  done
done < "$variants"
wait

# the table: R@10 and N@10 from each eval's towers row
metric() { awk -F'|' '/^\| PAL towers/ {gsub(/ /, "", $4); gsub(/ /, "", $5); print $4, $5}' "$1"; }
{
  echo "| run | valid R@10 | test R@10 | test N@10 | test R@10, history left out | N@10, history left out | epochs (best) | minutes |"
  echo "|---|---|---|---|---|---|---|---|"
  for r in "${runs[@]}"; do
    read -r vr _ < <(metric "$out/$r.valid.txt")
    read -r tr tn < <(metric "$out/$r.test.txt")
    read -r xr xn < <(metric "$out/$r.test.x.txt")
    ep=$(sed -n 's/^trained \([0-9]*\) epochs in \([0-9.]*\) s.*at epoch \([0-9]*\);.*/\1 (\3)/p' "$out/$r.log")
    mins=$(sed -n 's/^trained [0-9]* epochs in \([0-9.]*\) s.*/\1/p' "$out/$r.log" | awk '{printf "%.1f", $1 / 60}')
    echo "| $r | $vr | $tr | $tn | $xr | $xn | $ep | $mins |"
  done
  echo
  echo "| variant | seeds | valid R@10 mean (min-max) | test R@10 mean (min-max) | test N@10 mean (min-max) |"
  echo "|---|---|---|---|---|"
  for v in $(printf '%s\n' "${runs[@]}" | sed 's/\.seed[0-9]*$//' | awk '!seen[$0]++'); do
    for r in "${runs[@]}"; do
      [ "${r%.seed*}" = "$v" ] || continue
      echo "$(metric "$out/$r.valid.txt" | cut -d' ' -f1) $(metric "$out/$r.test.txt")"
    done | awk -v v="$v" '
      { n++; for (i = 1; i <= 3; i++) { s[i] += $i; if (n == 1 || $i < lo[i]) lo[i] = $i; if (n == 1 || $i > hi[i]) hi[i] = $i } }
      END { printf "| %s | %d |", v, n; for (i = 1; i <= 3; i++) printf " %.4f (%.4f-%.4f) |", s[i] / n, lo[i], hi[i]; print "" }'
  done
} > "$out/summary.md"
cat "$out/summary.md"
