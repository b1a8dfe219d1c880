#!/bin/bash
# The in-engine LLM's prefill speed against PyTorch on the same random-weight models: one command.
#
# usage: bench/llm_speed.sh [--dir DIR] [--models M[,M...]] [--tokens T] [--runs R]
#                           [--threads N[,N...]] [--batch B[,B...]]
#
# Writes each model (bench/llm_gen.py: qwen2-0.5b by default; llama-1b; tiny) into DIR (default
# /tmp/learnrec-llm-bench; an existing one is reused), then runs, for every thread count
# (default 1,2) and batch size (default 1,32) of texts T tokens long (default 40):
#   bench_llm (this repository's build/bench/bench_llm, or $BENCH_LLM) with mapped weights and
#   with --weights f32, and bench/llm_torch.py (Debian's /usr/bin/python3, torch float32),
#   each the best of R calls (default 3) after a warm-up.
# Before timing, llm_torch.py --check recomputes bench_llm's pooled rows on the same ids and the
# run stops unless they agree within 1e-3 (the two sides must compute the same thing).
# Prints the command, the machine and a markdown table (also DIR/table.md); the JSON lines of
# every run are in DIR/results.jsonl. Both sides run OpenBLAS's own (pthread) threads next to
# libgomp's: with libgomp's default wait policy its idle threads spin while sgemm runs, which on
# 2 cores slows both sides up to 4x at 2 threads; `OMP_WAIT_POLICY=passive bench/llm_speed.sh`
# measures them without that (the header line says which policy was in effect).
set -euo pipefail

DIR=/tmp/learnrec-llm-bench MODELS=qwen2-0.5b TOKENS=40 RUNS=3 THREADS=1,2 BATCH=1,32
for a in "$@"; do case "$a" in -h|--help) sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac; done
CMD="bench/llm_speed.sh $*"
while [ $# -gt 0 ]; do
    case "$1" in
        --dir|--models|--tokens|--runs|--threads|--batch)
            [ $# -ge 2 ] || { echo "llm_speed.sh: $1 needs a value (try --help)" >&2; exit 2; }
            case "$1" in
                --dir) DIR=$2 ;; --models) MODELS=$2 ;; --tokens) TOKENS=$2 ;;
                --runs) RUNS=$2 ;; --threads) THREADS=$2 ;; --batch) BATCH=$2 ;;
            esac
            shift 2 ;;
        *) echo "llm_speed.sh: unknown option '$1' (try --help)" >&2; exit 2 ;;
    esac
done
REPO=$(cd "$(dirname "$0")/.." && pwd)
BENCH_LLM=${BENCH_LLM:-$REPO/build/bench/bench_llm}
PY=/usr/bin/python3
TOKENIZER=$REPO/../shared/fixtures/llm/qwen2-bytelevel/tokenizer.json
[ -x "$BENCH_LLM" ] || { echo "llm_speed.sh: $BENCH_LLM is not built" >&2; exit 1; }
mkdir -p "$DIR"
RESULTS=$DIR/results.jsonl
: > "$RESULTS"

echo "command: $CMD"
echo "machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores, $(free -g | awk '/^Mem:/{print $2}') GiB;" \
     "OpenBLAS $(dpkg-query -W -f '${Version}' libopenblas0-pthread 2>/dev/null || echo '?');" \
     "torch $($PY -c 'import torch; print(torch.__version__)' 2>/dev/null || echo '?')"
echo "environment: OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-unset} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-unset}" \
     "(bench_llm and llm_torch.py set their thread counts themselves)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min; well above 0, other programs share the cores)"
echo

for model in ${MODELS//,/ }; do
    md=$DIR/$model
    tok=()
    [ -f "$TOKENIZER" ] && tok=(--tokenizer "$TOKENIZER")
    $PY "$REPO/bench/llm_gen.py" "$model" "$md" "${tok[@]}" >&2
    pooled=$DIR/$model.pooled.npy
    rm -f "$pooled"
    for w in mapped f32; do
        out=()
        [ "$w" = mapped ] && out=(--out "$pooled")
        echo "bench_llm $md --weights $w ..." >&2
        "$BENCH_LLM" "$md" --weights "$w" --threads "$THREADS" --batch "$BATCH" --tokens "$TOKENS" \
            --runs "$RUNS" "${out[@]}" >> "$RESULTS"
    done
    first=1
    for t in ${THREADS//,/ }; do
        check=()
        [ $first = 1 ] && check=(--check "$pooled")
        first=0
        echo "llm_torch.py $md --threads $t ..." >&2
        $PY "$REPO/bench/llm_torch.py" "$md" --threads "$t" --batch ${BATCH//,/ } --tokens "$TOKENS" \
            --runs "$RUNS" "${check[@]}" >> "$RESULTS" || {
            echo "llm_speed.sh: PyTorch and bench_llm disagree or failed (see $RESULTS)" >&2; exit 1; }
    done
done

$PY - "$RESULTS" <<'EOF' | tee "$DIR/table.md"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
check = [r for r in rows if "check" in r]
runs = [r for r in rows if "check" not in r]
get = {}
for r in runs:
    side = r["side"] if r["side"] == "pytorch" else "c-" + r["weights"]
    get[(r["model"], r["threads"], r["batch"], side)] = r
keys = sorted({(r["model"], r["threads"], r["batch"]) for r in runs})
print("| model | threads | batch × tokens | C mapped tok/s | C f32 tok/s | PyTorch tok/s "
      "| C/PyTorch mapped | C/PyTorch f32 | C GFLOP/s mapped / f32 | sgemm GFLOP/s model shapes / 2048² "
      "| % of sgemm mapped / f32 | RSS MiB C mapped | RSS MiB C f32 | RSS MiB PyTorch |")
print("|" + "---|" * 14)
for k in keys:
    cm, cf, pt = (get.get(k + (s,)) for s in ("c-mapped", "c-f32", "pytorch"))
    f = lambda r, key, fmt="{:,.0f}": fmt.format(r[key]) if r and key in r else "-"
    ratio = lambda c: f"{c['tokens_per_s'] / pt['tokens_per_s']:.2f}" if c and pt else "-"
    pct = lambda c: f"{100 * c['efficiency']:.0f}%" if c and "efficiency" in c else "-"
    rss = lambda r: f"{r['rss_mib']:,.0f} (peak {r['peak_rss_mib']:,.0f})" if r else "-"
    sg = next((r for r in (cm, cf) if r and "sgemm_model_gflops" in r), None)
    tok = (cm or cf or pt)["tokens"]
    print(f"| {k[0]} | {k[1]} | {k[2]} × {tok} | {f(cm, 'tokens_per_s')} | {f(cf, 'tokens_per_s')} "
          f"| {f(pt, 'tokens_per_s')} | {ratio(cm)} | {ratio(cf)} "
          f"| {f(cm, 'gflops', '{:.1f}')} / {f(cf, 'gflops', '{:.1f}')} "
          f"| {f(sg, 'sgemm_model_gflops', '{:.1f}')} / {f(sg, 'sgemm_square_gflops', '{:.1f}')} "
          f"| {pct(cm)} / {pct(cf)} "
          f"| {rss(cm)} | {rss(cf)} | {rss(pt)} |")
for c in check:
    print(f"\ncheck: PyTorch vs bench_llm pooled rows ({c['rows']} texts, {c['check']}): "
          f"max |diff| {c['max_abs_diff']:.2e}")
print("\ntok/s: prefill tokens per second, best of the runs; GFLOP/s counts the linear layers and "
      "causal attention (bench_llm --help); sgemm: OpenBLAS in bench_llm's own process, on the model's "
      "seven GEMM shapes at batch × tokens rows, and on square 2048 matrices; RSS: resident after "
      "the row's calls (mapped weight pages count), peak: the process's maximum so far, load included.")
EOF
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$DIR/table.md"
