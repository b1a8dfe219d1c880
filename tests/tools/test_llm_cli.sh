#!/usr/bin/env bash
# The in-engine LLM from the command line, as a user drives it: content tokenize, content llm
# (resumable), content encode --llm, and the whole path a cold-start item takes: content from the
# LLM, towers trained on it, rebuild, serve --llm, the item added by its text over msgpack-rpc and
# then recommended.
# usage: test_llm_cli.sh PATH/TO/learnrec SHARED_DIR TESTS_DIR [local|shared]
#   local: a tiny model this test writes (tests/tools/tiny_llm.py); shared: the reference fixtures
#   in SHARED_DIR/fixtures (ids and embeddings equal to Hugging Face's), or exit 77 without them.
set -u
bin="$1"
shared="$2"
here="$3"
mode="${4:-local}"
py=/usr/bin/python3
fx="$shared/fixtures"
if [ "$mode" = shared ] && { [ ! -d "$fx/llm" ] || [ ! -d "$fx/tokenizers" ]; }; then
  echo "skipped: the LLM's reference checks need $fx/llm and $fx/tokenizers, which are missing;" \
       "run make test SHARED=/path/to/shared (README: Datasets)"
  echo "0 passed, 0 failed, 1 skipped"
  exit 77
fi
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill -9 $spid 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

# same_ids NAME GOT.json WANT.json: two lists of lists of ids are equal; names the first difference.
same_ids() {
  local got
  got=$($py - "$2" "$3" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
if len(a) != len(b): print(f"{len(a)} lists, expected {len(b)}"); sys.exit()
for i, (x, y) in enumerate(zip(a, b)):
    if x != y:
        j = next((k for k in range(min(len(x), len(y))) if x[k] != y[k]), min(len(x), len(y)))
        print(f"text {i}: first difference at token {j}: got {x[j:j+5]}, expected {y[j:j+5]} ({len(x)} vs {len(y)} ids)")
        sys.exit()
print("equal")
EOF
)
  expect "$1" "equal" "$got"
}

# close_rows NAME A.npy B.npy TOL: same shape, every row within TOL relative (L2) of the other's.
close_rows() {
  local got
  got=$($py -c "
import numpy as np, sys
a, b = np.load('$2').astype(np.float64), np.load('$3').astype(np.float64)
if a.shape != b.shape: print('shapes', a.shape, b.shape); sys.exit()
d = np.linalg.norm(a - b, axis=-1) / np.maximum(np.linalg.norm(b, axis=-1), 1e-30)
print('close' if d.max() <= $4 else f'row {int(d.argmax())} differs by {d.max():.3g} relative')")
  expect "$1" "close" "$got"
}

# ---- the whole path of a cold-start item, on model directory $1 (dim $2) ----
pipeline() {
  local llm="$1" dim="$2" tag="$3" s="$tmp/s_$3"
  run "${tag}_synth" 0 "$bin" dataset synth --items 1000 --users 1500 --seed 9 --out "$s" || return
  run "${tag}_content_llm" 0 "$bin" content llm --model "$llm" --data "$s" --out "$s/c.npy" --batch 16 || return
  expect "${tag}_content_llm_reports" "encoded 1000 texts with Qwen2ForCausalLM (dim $dim)" "$out"
  got=$($py -c "import numpy as np; a=np.load('$s/c.npy'); print(a.shape, round(float(np.linalg.norm(a,axis=1).min()),4))")
  expect "${tag}_content_rows_unit" "(1000, $dim) 1.0" "$got"
  [ -e "$s/c.npy.partial" ] && fail "${tag}_no_partial_left" "$s/c.npy.partial remains" || ok "${tag}_no_partial_left"
  # row 7 is what content encode --llm makes of item 7's text: one encoder, offline and online
  text7=$($py -c "
import csv, glob
f = glob.glob('$s/*.item')[0]
r = list(csv.reader(open(f, encoding='utf-8'), delimiter='\t', quoting=csv.QUOTE_NONE))
print(r[8][1])")
  run "${tag}_encode_llm" 0 "$bin" content encode --llm "$llm" --text "$text7" --out "$s/one.npy" &&
    got=$($py -c "import numpy as np; a=np.load('$s/c.npy')[7]; b=np.load('$s/one.npy'); print(b.shape, float(abs(a-b).max()) < 1e-5)") &&
    expect "${tag}_encode_equals_catalogue_row" "($dim,) True" "$got"
  # a template over the dataset's fields: row 7 is the LLM's vector of item 7's "title | brand"
  run "${tag}_content_llm_template" 0 "$bin" content llm --model "$llm" --data "$s" --out "$s/tc.npy" \
    --template '{title} | {brand} ({id})' &&
    tb7=$($py -c "
import csv, glob
f = glob.glob('$s/*.item')[0]
r = list(csv.reader(open(f, encoding='utf-8'), delimiter='\t', quoting=csv.QUOTE_NONE))
h = [c.split(':')[0] for c in r[0]]
row = dict(zip(h, r[8]))
print(row['title'] + ' | ' + row['brand'] + ' (' + row['item_id'] + ')')") &&
    run "${tag}_encode_template_text" 0 "$bin" content encode --llm "$llm" --text "$tb7" --out "$s/t7.npy" &&
    got=$($py -c "import numpy as np; a=np.load('$s/tc.npy')[7]; b=np.load('$s/t7.npy'); c=np.load('$s/c.npy')[7]; print(float(abs(a-b).max()) < 1e-5, float(abs(a-c).max()) > 1e-3)") &&
    expect "${tag}_template_fills_fields" "True True" "$got"
  run "${tag}_train" 0 "$bin" train --data "$s" --content "$s/c.npy" --out "$s/m.safetensors" --epochs 2 \
    --hidden 32 --heads 2 --dim 16 --threads 1 || return
  run "${tag}_rebuild" 0 "$bin" rebuild --data "$s" --model "$s/m.safetensors" --content "$s/c.npy" --out "$s/ix" \
    --index IVF4,Flat --target-recall 0.9 || return
  "$bin" serve --index "$s/ix" --model "$s/m.safetensors" --content "$s/c.npy" --llm "$llm" --admin-token t \
    --listen 127.0.0.1:0 --threads 1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
  spid=$!
  for _ in $(seq 300); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
  port=$(sed -n 's/.*:\([0-9]*\) (msgpack-rpc).*/\1/p' "$tmp/serve.out")
  if [ -z "$port" ]; then fail "${tag}_serve_llm" "no port: $(cat "$tmp/serve.err")"; kill -9 $spid; spid=; return; fi
  ok "${tag}_serve_llm"
  # the best item for a history; a new item with that item's text; it must be recommended beside it
  local q=(query --connect "127.0.0.1:$port" --json --method recommend)
  run "${tag}_recommend" 0 "$bin" "${q[@]}" --params '{"history": [1, 2, 3], "k": 5}' || return
  top=$(printf '%s' "$out" | $py -c 'import json,sys; print(json.load(sys.stdin)[0][0])')
  ttext=$($py -c "
import csv, glob, json
f = glob.glob('$s/*.item')[0]
r = list(csv.reader(open(f, encoding='utf-8'), delimiter='\t', quoting=csv.QUOTE_NONE))
print(json.dumps(r[1 + $top][1]))")
  run "${tag}_add_items_text" 0 "$bin" query --connect "127.0.0.1:$port" --json --method add_items \
    --params "{\"items\": [{\"id\": 100000, \"text\": $ttext}], \"token\": \"t\"}" &&
    expect "${tag}_add_items_added" '"added":1' "$out"
  run "${tag}_recommend_after" 0 "$bin" "${q[@]}" --params '{"history": [1, 2, 3], "k": 5}' &&
    got=$(printf '%s' "$out" | $py -c "
import json,sys
r = {i: s for i, s in json.load(sys.stdin)}
print(100000 in r and abs(r[100000] - r.get($top, 9)) < 1e-5)") &&
    expect "${tag}_new_item_recommended_beside_its_twin" "True" "$got"
  run "${tag}_item_added" 0 "$bin" query --connect "127.0.0.1:$port" --json --method item --params '{"id": 100000}' &&
    expect "${tag}_item_says_added" '"added":true' "$out"
  kill -TERM $spid; wait $spid 2>/dev/null; spid=
  # towers trained on other content: the server refuses an LLM of another width, naming both
  run "${tag}_fit" 0 "$bin" content fit --data "$s" --out "$s/tf.npy" --encoder-out "$s/e.bin" --dim 24 &&
    run "${tag}_train_tf" 0 "$bin" train --data "$s" --content "$s/tf.npy" --out "$s/m2.safetensors" --epochs 1 \
      --hidden 16 --heads 2 --dim 8 --threads 1 &&
    run "${tag}_rebuild_tf" 0 "$bin" rebuild --data "$s" --model "$s/m2.safetensors" --content "$s/tf.npy" --out "$s/ix2" \
      --index Flat --target-recall 0.9 &&
    run "${tag}_serve_llm_wrong_width" 1 "$bin" serve --index "$s/ix2" --model "$s/m2.safetensors" --content "$s/tf.npy" \
      --llm "$llm" --listen 127.0.0.1:0 &&
    expect "${tag}_serve_llm_wrong_width_named" "makes $dim-dimensional content, but the towers were trained on 24-dimensional" "$err"
}

# ---- resumable: an interrupted content llm continues, and its output equals an uninterrupted one ----
resume_checks() {
  local llm="$1"
  $py -c "
import random
random.seed(3)
w = 'nitrile gloves beaker flask pipette lab coat microscope slide burette funnel clamp'.split()
for i in range(6000): print(' '.join(random.choice(w) for _ in range(random.randint(3, 40))))" >"$tmp/many.txt"
  run resume_whole 0 "$bin" content llm --model "$llm" --texts "$tmp/many.txt" --out "$tmp/whole.npy" --batch 8 --threads 1 || return
  "$bin" content llm --model "$llm" --texts "$tmp/many.txt" --out "$tmp/cut.npy" --batch 8 --threads 1 >/dev/null 2>&1 &
  local pid=$! size=0
  for _ in $(seq 400); do
    size=$(stat -c %s "$tmp/cut.npy.partial" 2>/dev/null || echo 0)
    [ "$size" -gt 200000 ] && break
    sleep 0.02
  done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  if [ -e "$tmp/cut.npy" ]; then
    fail resume_interrupted "the job finished before it could be interrupted; make the texts longer"
    return
  fi
  ok resume_no_output_while_partial
  printf 'torn' >>"$tmp/cut.npy.partial" # a record cut short by the kill
  run resume_continues 0 "$bin" content llm --model "$llm" --texts "$tmp/many.txt" --out "$tmp/cut.npy" --batch 8 --threads 1 &&
    expect resume_says_continuing "rows were made" "$err"
  close_rows resume_equals_whole "$tmp/cut.npy" "$tmp/whole.npy" 1e-5
  [ -e "$tmp/cut.npy.partial" ] && fail resume_partial_removed "left behind" || ok resume_partial_removed
  # another job's partial (other --max-tokens) is not continued
  "$bin" content llm --model "$llm" --texts "$tmp/many.txt" --out "$tmp/other.npy" --batch 8 --threads 1 >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 400); do [ "$(stat -c %s "$tmp/other.npy.partial" 2>/dev/null || echo 0)" -gt 100000 ] && break; sleep 0.02; done
  kill -9 $pid 2>/dev/null; wait $pid 2>/dev/null
  run resume_other_job 0 "$bin" content llm --model "$llm" --texts "$tmp/many.txt" --out "$tmp/other.npy" --batch 8 \
    --max-tokens 7 --threads 1 &&
    case "$err" in *"rows were made"*) fail resume_other_job_starts_over "$err" ;; *) ok resume_other_job_starts_over ;; esac
}

if [ "$mode" = local ]; then
  llm="$tmp/tiny"
  $py "$here/tiny_llm.py" "$llm" || { fail tiny_llm "tiny_llm.py failed"; exit 1; }
  printf 'Title: Nitrile Gloves. Brand: Lab. Category: Safety\n\nthe end\r\n' >"$tmp/t.txt"
  run tokenize_lines 0 "$bin" content tokenize --model "$llm" --texts "$tmp/t.txt" --json "$tmp/ids.json" &&
    expect tokenize_reports "tokenized 3 texts" "$out"
  got=$($py -c "
import json; ids = json.load(open('$tmp/ids.json')); v = len(json.load(open('$llm/tokenizer.json'))['model']['vocab'])
print(len(ids), len(ids[1]), all(0 <= i < v for r in ids for i in r), ids[2][-1] == 13)")
  expect tokenize_lines_split_on_newline_only "3 0 True True" "$got"
  printf '["two\\nlines", "<|endoftext|>x"]' >"$tmp/t.json"
  run tokenize_json 0 "$bin" content tokenize --model "$llm/tokenizer.json" --texts "$tmp/t.json" &&
    got=$(printf '%s' "$out" | $py -c "import json,sys; a=json.load(sys.stdin); print(len(a), 10 in a[0], a[1][0])") &&
    expect tokenize_json_texts_keep_newlines_and_special_tokens "2 True 285" "$got"
  run encode_llm_prints 0 "$bin" content encode --llm "$llm" --text "beaker" &&
    got=$(printf '%s' "$out" | $py -c "import json,sys; v=json.loads(sys.stdin.readline()); print(len(v), round(sum(x*x for x in v), 4))") &&
    expect encode_llm_unit_vector "32 1.0" "$got"
  run content_llm_needs_one_source 2 "$bin" content llm --model "$llm" --out x.npy &&
    expect content_llm_needs_one_source_named "give exactly one of --data and --texts" "$err"
  run content_llm_missing_model 1 "$bin" content llm --model "$tmp/nothing" --texts "$tmp/t.txt" --out "$tmp/x.npy" &&
    expect content_llm_missing_model_named "$tmp/nothing" "$err"
  run encode_needs_one 2 "$bin" content encode --llm "$llm" --encoder e --text x
  pipeline "$llm" 32 tiny
  resume_checks "$llm"
else
  # a bare tokenizer.model encodes as sentencepiece's encode() (no BOS), as its reference ids were made
  for t in qwen2-pretok llama3-pretok spm-bpe-bytefallback/tokenizer.model; do
    t=${t%/tokenizer.model}; m="$fx/tokenizers/$t"; [ -f "$m/tokenizer.model" ] && m="$m/tokenizer.model"
    run "tokenize_$t" 0 "$bin" content tokenize --model "$m" --texts "$fx/tokenizers/$t/texts.json" \
      --json "$tmp/$t.json" && same_ids "tokenize_${t}_ids_equal_reference" "$tmp/$t.json" "$fx/tokenizers/$t/token_ids.json"
  done
  for m in qwen2-bytelevel llama-spbpe baichuan2-wpack; do
    run "tokenize_$m" 0 "$bin" content tokenize --model "$fx/llm/$m" --texts "$fx/llm/$m/texts.txt" --json "$tmp/$m.json" &&
      same_ids "tokenize_${m}_ids_equal_reference" "$tmp/$m.json" "$fx/llm/$m/token_ids.json"
    run "content_llm_$m" 0 "$bin" content llm --model "$fx/llm/$m" --texts "$fx/llm/$m/texts.txt" --out "$tmp/$m.npy" &&
      close_rows "content_llm_${m}_equals_reference" "$tmp/$m.npy" "$fx/llm/$m/pooled.npy" 1e-4
  done
  pipeline "$fx/llm/qwen2-bytelevel" 64 qwen2
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
