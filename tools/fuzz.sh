#!/usr/bin/env bash
# make fuzz: runs each libFuzzer harness of tests/fuzz for FUZZ_SECONDS (default 60) on its seed
# corpus (tests/fuzz/corpus/NAME, plus, when present, the tokenizer and config files of
# ../shared/fixtures and seeds cut from ../shared/datasets), in BUILD/fuzz. Prints per harness:
# executions, executions/s, coverage (edges) and crashes. A crash is saved in
# BUILD/fuzz/crashes/NAME/; copy it to tests/fuzz/regress/NAME/ once fixed, and `make test`
# replays it from then on. Exits 1 when any harness crashed.
# usage: tools/fuzz.sh BUILD_DIR SECONDS [SHARED_DIR]
set -u
build="$1" seconds="$2" shared="${3:-}"
here=$(cd "$(dirname "$0")/.." && pwd)
status=0
N=200 # users, items or lines a real-file seed keeps

# Seeds from the real datasets in ../shared (whose licences keep them out of the repository),
# cut to a few hundred lines and kept consistent so that they load: the harnesses' input format
# is the files as "==> NAME <==" sections (tests/fuzz/fuzz_sections.h).
real_recbole_seeds() { # DATASETS_DIR WORK_DIR
  local sci="$1/amazon-scientific/Scientific" ml="$1/ml-100k/ml-100k"
  # UniSRec split: items and users below N, and the rows of the users whose items all are
  if [ -f "$sci.train.inter" ] && [ ! -f "$2/shared_scientific" ]; then
    awk -F'\t' -v n=$N '
      function bad_row(  k, h, i) { if ($1 >= n || $3 >= n) return 1
        k = split($2, h, " "); for (i = 1; i <= k; i++) if (h[i] >= n) return 1; return 0 }
      FNR == 1 { f++; if (f > 4) printf "==> ds.%s <==\n", name[f - 4] }
      BEGIN { split("item2index user2index text train.inter valid.inter test.inter", name, " ") }
      f == 1 { if ($2 < n) keep[$1] = 1; next }
      f <= 4 { if (FNR > 1 && bad_row()) bad[$1] = 1; next }
      f <= 6 { if ($2 < n) print; next }
      f == 7 { if (FNR == 1 || ($1 in keep)) print; next }
      { if (FNR == 1 || !($1 in bad)) print }' \
      "$sci.item2index" "$sci".{train,valid,test}.inter "$sci.item2index" "$sci.user2index" \
      "$sci.text" "$sci".{train,valid,test}.inter >"$2/shared_scientific"
  fi
  # ratings: the first N lines of ml-100k.inter, with the items and users they name
  if [ -f "$ml.inter" ] && [ ! -f "$2/shared_ml-100k" ]; then
    awk -F'\t' -v n=$N '
      FNR == 1 { f++ }
      f == 1 { if (FNR <= n + 1) { inter = inter $0 "\n"; if (FNR > 1) { u[$1]; i[$2] } } next }
      f == 2 { if (FNR == 1 || ($1 in i)) item = item $0 "\n"; next }
      { if (FNR == 1 || ($1 in u)) user = user $0 "\n" }
      END { printf "==> ds.inter <==\n%s==> ds.item <==\n%s==> ds.user <==\n%s", inter, item, user }' \
      "$ml.inter" "$ml.item" "$ml.user" >"$2/shared_ml-100k"
  fi
}

real_amazon_seeds() { # DATASETS_DIR WORK_DIR
  local sci="$1/amazon-scientific/Scientific" f name
  # raw Amazon 2018 files, when ../shared has any: their first N lines
  for f in "$1"/*/*_5.json.gz; do
    [ -f "$f" ] || continue
    name=$(basename "$f" _5.json.gz)
    [ -f "$2/shared_$name" ] && continue
    { echo '==> Cat_5.json.gz <=='; zcat "$f" | head -n $N
      if [ -f "$(dirname "$f")/meta_$name.json.gz" ]; then
        echo '==> meta_Cat.json.gz <=='; zcat "$(dirname "$f")/meta_$name.json.gz" | head -n $N
      fi; } >"$2/shared_$name"
  done
  # Scientific (Amazon 2018 data as the UniSRec split) back in the raw form: the first N/20 users'
  # sequences as reviews a day apart, the items' texts as titles
  if [ -f "$sci.test.inter" ] && [ ! -f "$2/shared_scientific" ]; then
    awk -F'\t' -v n=$((N / 20)) '
      function esc(s,  out, i, c) { out = ""
        for (i = 1; i <= length(s); i++) { c = substr(s, i, 1); out = out (c == "\\" || c == "\"" ? "\\" c : c) }
        return out }
      FNR == 1 { f++ }
      f == 1 { asin[$2] = $1; next }
      f == 2 { user[$2] = $1; next }
      f == 3 { if (FNR > 1 && FNR <= n + 1) { k = split($2, h, " "); h[++k] = $3
                 for (j = 1; j <= k; j++) { used[asin[h[j]]]
                   rev = rev sprintf("{\"reviewerID\": \"%s\", \"asin\": \"%s\", \"overall\": 5.0, \"unixReviewTime\": %d}\n",
                                     user[$1], asin[h[j]], 1400000000 + 86400 * j) } }
               next }
      FNR > 1 && ($1 in used) { meta = meta sprintf("{\"asin\": \"%s\", \"title\": \"%s\"}\n", $1, esc($2)) }
      END { printf "==> Cat_5.json.gz <==\n%s==> meta_Cat.json.gz <==\n%s", rev, meta }' \
      "$sci.item2index" "$sci.user2index" "$sci.test.inter" "$sci.text" >"$2/shared_scientific"
  fi
}

printf '%-16s %12s %10s %8s %8s\n' harness executions exec/s edges crashes
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  h=${bin##*/fuzz_}
  work="$build/fuzz/corpus/$h" crashes="$build/fuzz/crashes/$h"
  mkdir -p "$work" "$crashes"
  cp -n "$here/tests/fuzz/corpus/$h"/* "$work"/ 2>/dev/null
  if [ -n "$shared" ] && [ -d "$shared/fixtures" ]; then
    case "$h" in
      tokenizer_json) for f in "$shared"/fixtures/{llm,tokenizers}/*/tokenizer.json; do cp -n "$f" "$work/shared_$(basename "$(dirname "$f")").json"; done ;;
      llm_config) for f in "$shared"/fixtures/llm/*/config.json; do cp -n "$f" "$work/shared_$(basename "$(dirname "$f")").json"; done ;;
    esac
  fi
  if [ -n "$shared" ] && [ -d "$shared/datasets" ]; then
    case "$h" in
      recbole) real_recbole_seeds "$shared/datasets" "$work" ;;
      amazon) real_amazon_seeds "$shared/datasets" "$work" ;;
    esac
  fi
  log="$build/fuzz/$h.log"
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$crashes/" \
    -timeout=10 -rss_limit_mb=4096 "$work" >"$log" 2>&1
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  edges=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
  n_crash=$(find "$crashes" -type f | wc -l)
  printf '%-16s %12s %10s %8s %8s\n' "$h" "${execs:-?}" "${rate:-?}" "${edges:-?}" "$n_crash"
  if [ "$rc" -ne 0 ] || [ "$n_crash" -gt 0 ]; then
    status=1
    echo "  $h: crashed (exit $rc); the input is in $crashes; the report: $log" >&2
  fi
done
exit $status
