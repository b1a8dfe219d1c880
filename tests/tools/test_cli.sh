#!/usr/bin/env bash
# Drives the learnrec binary as a user would: exit codes, --help on every command, real output.
# usage: test_cli.sh PATH/TO/learnrec SHARED_DIR [local|shared|all]
#   local: everything that needs nothing outside the repository (datasets it writes itself);
#   shared: the same dataset and content checks on the real datasets in SHARED_DIR, or exit 77
#   (ctest: skipped) with the missing path when they are not there; all (default): both.
set -u
bin="$1"
shared="$2"
mode="${3:-all}"
sci="$shared/datasets/amazon-scientific"
ml="$shared/datasets/ml-100k"
if [ "$mode" = shared ]; then
  for d in "$sci" "$ml"; do
    if [ ! -d "$d" ]; then
      echo "skipped: test_cli's real-data checks need $d, which is missing; run make test" \
           "SHARED=/path/to/shared (or cmake -DLR_SHARED_DIR=...; README: Datasets)"
      echo "0 passed, 0 failed, 1 skipped"
      exit 77
    fi
  done
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"

# dataset_info_checks NAME PATH USERS ITEMS INTERACTIONS FORMAT: info and info --json agree.
dataset_info_checks() {
  local name="$1" path="$2" users="$3" items="$4" inter="$5" format="$6"
  run "info_$name" 0 "$bin" dataset info "$path" || return
  expect "info_${name}_counts" "users: $users
items: $items
interactions: $inter" "$out"
  expect "info_${name}_format" "format: $format" "$out"
  expect "info_${name}_text" "items without text: 0" "$out"
  if run "info_json_$name" 0 "$bin" dataset info "$path" --json; then
    got=$(printf '%s' "$out" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["users"], d["items"], d["interactions"], d["format"])')
    expect "info_json_${name}_is_valid_json" "$users $items $inter $format" "$got"
  fi
}

# ---- content embeddings ----
# content_checks DATA ITEMS: fit, info, the cold-start encode, import, on a dataset of ITEMS items.
content_checks() {
  local data="$1" n="$2"
  run content_fit 0 "$bin" content fit --data "$data" --out "$tmp/c.npy" --encoder-out "$tmp/enc.bin" --dim 256 || return
  expect content_fit_reports_features "fitted on $n item texts" "$out"
  run content_info_matrix 0 "$bin" content info "$tmp/c.npy" && expect content_info_matrix_shape "rows: $n
dim: 256" "$out"
  expect content_info_unit_rows "row norm: min 1.0000, mean 1.0000, max 1.0000" "$out"
  run content_info_encoder 0 "$bin" content info "$tmp/enc.bin" && expect content_info_encoder_kind "kind: text encoder" "$out"
  # the cold-start path: an item's text encoded later equals its row from the fit (to float
  # rounding: the learned projection multiplies one row by sgemv, a catalogue by sgemm)
  text=$("$bin" dataset texts "$data" | sed -n '8p')
  run content_encode_to_npy 0 "$bin" content encode --encoder "$tmp/enc.bin" --text "$text" --out "$tmp/one.npy"
  got=$(/usr/bin/python3 -c "import numpy as np; a=np.load('$tmp/c.npy'); b=np.load('$tmp/one.npy'); print(b.shape, float(abs(a[7]-b).max()) < 1e-6)")
  expect content_encode_matches_fit "(256,) True" "$got"
  run content_encode_prints_json 0 "$bin" content encode --encoder "$tmp/enc.bin" --text "nitrile gloves" --text "beaker"
  got=$(printf '%s\n' "$out" | /usr/bin/python3 -c 'import json,sys; v=[json.loads(l) for l in sys.stdin]; print(len(v), len(v[0]), round(sum(x*x for x in v[0]), 4))')
  expect content_encode_json_rows "2 256 1.0" "$got"
  run content_import_f16 0 "$bin" content import --from "$tmp/c.npy" --data "$data" --out "$tmp/c16.npy" --dtype f16
  run content_import_wrong_rows 1 "$bin" content import --from "$tmp/one.npy" --data "$data" --out "$tmp/x.npy" &&
    expect content_import_wrong_rows_message "but the dataset has $n items" "$err"
  run content_encode_bad_encoder 1 "$bin" content encode --encoder "$tmp/c.npy" --text x &&
    expect content_encode_bad_encoder_message "not a learnrec text encoder" "$err"
  run content_fit_needs_args 2 "$bin" content fit --data "$data"
  run content_fit_bad_projection 2 "$bin" content fit --data "$data" --out a --encoder-out b --projection pca
  run dataset_texts_one_line_per_item 0 "$bin" dataset texts "$data" &&
    expect dataset_texts_count "$n" "$(printf '%s\n' "$out" | wc -l)"
}

# The real datasets: their counts as their README gives them, and the content commands on them.
shared_checks() {
  dataset_info_checks scientific "$sci" 8442 4385 59427 recbole-seq
  dataset_info_checks ml100k "$ml" 943 1682 100000 recbole-rating
  content_checks "$sci" 4385
}
if [ "$mode" = shared ]; then
  shared_checks
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
  exit
fi
if [ "$mode" = all ] && [ -d "$sci" ] && [ -d "$ml" ]; then shared_checks; fi

run no_command_is_a_usage_error 2 "$bin" && expect no_command_prints_commands "dataset" "$err"
run help_lists_commands 0 "$bin" --help && expect help_lists_commands "version" "$out"
run unknown_command_is_a_usage_error 2 "$bin" bogus && expect unknown_command_is_named "unknown command 'bogus'" "$err"

# --help on every command and subcommand listed by the help of its parent
for cmd in $("$bin" --help | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1}'); do
  run "help_of_$cmd" 0 "$bin" "$cmd" --help && expect "help_of_$cmd" "usage: learnrec $cmd" "$out"
done
for group in dataset content index; do
  for sub in $("$bin" "$group" --help | awk '/^commands:/{on=1; next} on && !NF {exit} on {print $1}'); do
    run "help_of_${group}_$sub" 0 "$bin" "$group" "$sub" --help &&
      expect "help_of_${group}_$sub" "usage: learnrec $group $sub" "$out"
  done
done

run version_runs 0 "$bin" version && expect version_names_the_faiss_core "core (self-test ok)" "$out"
expect version_names_openblas "blas: OpenBLAS" "$out"
run version_rejects_arguments 2 "$bin" version extra
# the program sets passive OpenMP waiting for itself (learnrec.c), unless the operator chose
run version_omp_passive_by_default 0 env -u OMP_WAIT_POLICY "$bin" version &&
  expect version_omp_passive_by_default "openmp: OMP_WAIT_POLICY=passive" "$out"
run version_omp_operator_choice 0 env OMP_WAIT_POLICY=active "$bin" version &&
  expect version_omp_operator_choice "openmp: OMP_WAIT_POLICY=active" "$out"

# ---- the option parser (tools/options.c): every kind of bad value, the same words everywhere ----
# usage_error NAME TEXT ARGS...: exit 2, TEXT on stderr followed by the pointer to --help, no output.
usage_error() {
  local name="$1" text="$2"
  shift 2
  run "$name" 2 "$bin" "$@" || return
  expect "$name" "$text" "$err"
  case "$err" in *"--help'."*) ;; *) fail "${name}_points_to_help" "no 'Try ... --help' in: $err" ;; esac
  [ -z "$out" ] || fail "${name}_prints_nothing" "stdout: $out"
}
usage_error opt_size_out_of_range "learnrec search: -k must be between 1 and 100000, got 0" search --index x --vectors y -k 0
usage_error opt_size_attached_short "-k must be between 1 and 100000, got 0" search --index x --vectors y -k0
usage_error opt_size_with_equals "--items must be between 1000 and 1000000, got 10" dataset synth --items=10 --out x
usage_error opt_size_prefix_of_name "--items must be between 1000 and 1000000, got 10" dataset synth --item 10 --out x
usage_error opt_size_malformed "--items expects a non-negative integer, got '12x'" dataset synth --items 12x --out x
usage_error opt_u64_negative "--seed expects a non-negative integer, got '-1'" dataset synth --seed -1 --out x
usage_error opt_double_open_end "--target-recall expects a number in (0, 1], got '0'" build-index --items i --out o --target-recall 0
usage_error opt_double_above "--target-recall expects a number in (0, 1], got '1.5'" rebuild --data d --model m --out o --target-recall 1.5
usage_error opt_double_closed_ends "--rate expects a number in [0, 1e+07], got '-1'" bench --connect a --rate -1
usage_error opt_double_malformed "--duration expects a number in [0.001, 86400], got '10s'" bench --connect a --duration 10s
usage_error bench_mix_unknown_method "--mix expects METHOD=WEIGHT,... with each of recommend, search, item, stats at most once" bench --connect a --mix recommend=7,click=3
usage_error bench_mix_method_twice "--mix expects METHOD=WEIGHT" bench --connect a --mix item=1,item=2
usage_error bench_mix_no_weight "--mix: give at least one method a weight above 0, got 'stats=0'" bench --connect a --mix stats=0
usage_error opt_float_bounds "--dropout expects a number in [0, 1), got '1'" train --data d --out o --dropout 1
usage_error opt_float_nan "--lr expects a number in (0, inf), got 'nan'" train --data d --out o --lr nan
usage_error opt_choice_bad "--rescore expects auto or off, got 'maybe'" build-index --items i --out o --rescore maybe
usage_error opt_choice_three "--mode expects content, id or both, got 'magic'" train --data d --out o --mode magic
usage_error opt_choice_split "--split expects valid or test, got 'train'" eval --data d --model m --split train
usage_error opt_custom_bad "--tune-k expects 1 to 8 ascending values of k" rebuild --data d --model m --out o --tune-k 10,x
usage_error opt_missing_value "learnrec dataset synth: --items needs a value" dataset synth --out x --items
usage_error opt_missing_value_short "-k needs a value" query --connect a --history 1 -k
usage_error opt_unknown "learnrec train: unknown option '--bogus'" train --bogus
usage_error opt_unknown_short "unknown option '-x'" search -x
usage_error opt_unknown_no_options "learnrec dataset texts: unknown option '--frob'" dataset texts --frob
usage_error opt_ambiguous_prefix "ambiguous option '--h'" train --h 1
usage_error opt_flag_with_value "--json takes no value, got '--json=1'" dataset info x --json=1
usage_error opt_required_several "learnrec build-index: --items and --out are required" build-index --items i
usage_error opt_required_one "--connect HOST:PORT is required" query --history 1
usage_error opt_extra_argument "learnrec eval: unexpected argument 'extra'" eval --data d --model m extra
usage_error opt_second_positional "expected one DIR; unexpected argument 'b'" index info a b
usage_error opt_missing_positional "learnrec content info: missing FILE" content info
usage_error opt_repeated_needs_one "one of --encoder and --llm, and at least one --text, are required" content encode --encoder e
# "--" ends the options: what follows is an argument even if it starts with '-'
run opt_double_dash_ends_options 1 "$bin" dataset info -- -x && expect opt_double_dash_ends_options "-x" "$err"
# the help is made from the table: every option with its value's name and its default, on stdout
run opt_help_lists_options 0 "$bin" build-index --help &&
  expect opt_help_usage_line "usage: learnrec build-index --items items.npy" "$out" &&
  expect opt_help_default_from_table "--target-recall R" "$out" && expect opt_help_default_value "(default 0.95)" "$out" &&
  expect opt_help_choice_names "--rescore auto|off" "$out" && expect opt_help_lists_help "-h, --help" "$out"
run opt_help_short_option 0 "$bin" search -h && expect opt_help_short_option "-k, --k K" "$out" &&
  expect opt_help_size_default "results per query (default 10)" "$out"
run opt_help_choice_default 0 "$bin" train --help && expect opt_help_choice_default "--mode content|id|both" "$out" &&
  expect opt_help_keeps_description "Trains the PAL towers (LEARN)" "$out"
run opt_help_positional 0 "$bin" dataset texts --help && expect opt_help_positional "usage: learnrec dataset texts PATH" "$out"

# the same two layouts in small, written here: a sequence split and ratings with .item/.user
mkdir -p "$tmp/seq" "$tmp/rat"
h='user_id:token	item_id_list:token_seq	item_id:token'
printf 'a\t0\nb\t1\nc\t2\nd\t3\ne\t4\n' > "$tmp/seq/D.item2index"
printf 'u0\t0\nu1\t1\n' > "$tmp/seq/D.user2index"
printf 'item_id:token\ttext:token_seq\na\tA\nb\tB\nc\tC\nd\tD\ne\tE\n' > "$tmp/seq/D.text"
printf '%s\n0\t0 1\t2\n0\t0\t1\n1\t3\t4\n' "$h" > "$tmp/seq/D.train.inter"
printf '%s\n0\t0 1 2\t3\n1\t3 4\t0\n' "$h" > "$tmp/seq/D.valid.inter"
printf '%s\n0\t0 1 2 3\t4\n1\t3 4 0\t2\n' "$h" > "$tmp/seq/D.test.inter"
dataset_info_checks small_seq "$tmp/seq" 2 5 9 recbole-seq
printf 'user_id:token\titem_id:token\trating:float\ttimestamp:float\n1\t10\t4\t5\n1\t11\t3\t6\n2\t10\t2\t7\n1\t12\t1\t8\n' > "$tmp/rat/M.inter"
printf 'item_id:token\tmovie_title:token_seq\tclass:token_seq\n10\tToy Story\tComedy\n11\tHeat\tAction\n12\tBabe\tDrama\n' > "$tmp/rat/M.item"
dataset_info_checks small_ratings "$tmp/rat" 2 3 4 recbole-rating

run info_missing_path_is_an_error 1 "$bin" dataset info "$tmp/nothing-here" &&
  expect info_missing_path_message "nothing-here" "$err"
run info_without_path_is_a_usage_error 2 "$bin" dataset info && expect info_without_path_message "missing PATH" "$err"
run info_unknown_option 2 "$bin" dataset info "$tmp/seq" --frobnicate

run synth_rejects_too_few_items 2 "$bin" dataset synth --items 10 --out "$tmp/s" &&
  expect synth_range_message "--items must be between 1000 and 1000000" "$err"
run synth_needs_out 2 "$bin" dataset synth --items 2000
run synth_rejects_bad_seed 2 "$bin" dataset synth --seed abc --out "$tmp/s"
if run synth_writes_files 0 "$bin" dataset synth --items 2000 --users 300 --seed 7 --out "$tmp/a"; then
  run synth_info_reads_back 0 "$bin" dataset info "$tmp/a" &&
    expect synth_info_counts "users: 300
items: 2000" "$out"
  run synth_same_seed 0 "$bin" dataset synth --items 2000 --users 300 --seed 7 --out "$tmp/b"
  if cmp -s "$tmp/a/synth.inter" "$tmp/b/synth.inter" && cmp -s "$tmp/a/synth.item" "$tmp/b/synth.item"; then
    ok synth_same_seed_same_files
  else
    fail synth_same_seed_same_files "files differ for the same seed"
  fi
  run synth_other_seed 0 "$bin" dataset synth --items 2000 --users 300 --seed 8 --out "$tmp/c"
  if cmp -s "$tmp/a/synth.inter" "$tmp/c/synth.inter"; then
    fail synth_other_seed_other_files "seed 8 wrote the same interactions as seed 7"
  else
    ok synth_other_seed_other_files
  fi
fi

[ -d "$tmp/a" ] && content_checks "$tmp/a" 2000

# ---- reconnection: bench and query against a server whose first N connections drop ----
drop_server() { # N: starts tests/tools/drop_server.py; sets dpid and dport
  rm -f "$tmp/dport"
  /usr/bin/python3 "$(dirname "$0")/drop_server.py" "$tmp/dport" "$1" > "$tmp/drop.out" 2>&1 &
  dpid=$!
  for _ in $(seq 100); do [ -f "$tmp/dport" ] && break; sleep 0.05; done
  dport=$(cat "$tmp/dport" 2>/dev/null || echo 1)
}
drop_server_stop() { kill "$dpid" 2>/dev/null; wait "$dpid" 2>/dev/null; }
# bench, closed loop on 2 connections: each drops its first request, is dialled again and the
# request sent again there; nothing is lost
drop_server 2
if run bench_redials 0 "$bin" bench --connect "127.0.0.1:$dport" --items 100 --rate 0 --duration 0.3 --concurrency 2; then
  expect bench_redial_counts "failed connections 2 (dialled again 2, requests sent again 2)" "$out"
  expect bench_redial_nothing_lost "errors 0, unanswered 0," "$out"
fi
drop_server_stop
# query: the client dials again and sends its idempotent call once more
drop_server 1
run query_redials 0 "$bin" query --connect "127.0.0.1:$dport" --method ping --json &&
  expect query_redial_answer "pong" "$out"
drop_server_stop
expect query_redial_sent_twice "read 2 answered 1" "$(cat "$tmp/drop.out")"

# ---- towers: train, embed-items, eval on a small synthetic catalogue ----
if run towers_synth 0 "$bin" dataset synth --items 1000 --users 1500 --seed 4 --out "$tmp/s4" &&
   run towers_content 0 "$bin" content fit --data "$tmp/s4" --out "$tmp/s4c.npy" --encoder-out "$tmp/s4e.bin" --dim 64; then
  if run train_small_model 0 "$bin" train --data "$tmp/s4" --content "$tmp/s4c.npy" --out "$tmp/m.safetensors" \
        --epochs 3 --hidden 32 --heads 2 --dim 16 --threads 1; then
    expect train_reports_best_epoch "best valid Recall@10" "$out"
    run embed_items_writes_unit_rows 0 "$bin" embed-items --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --out "$tmp/items.npy"
    got=$(/usr/bin/python3 -c "import numpy as np; a=np.load('$tmp/items.npy'); print(a.shape, round(float(np.linalg.norm(a,axis=1).min()),4))")
    expect embed_items_shape "(1000, 16) 1.0" "$got"
    if run eval_small_model 0 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --json "$tmp/e.json" --per-user "$tmp/pu.jsonl" --per-user-k 20; then
      expect eval_table_has_baselines "| popularity  " "$out"
      expect eval_table_has_variant_c "| variant (c): content, no PAL |" "$out"
      got=$(/usr/bin/python3 -c "import json; d=json.load(open('$tmp/e.json')); print(d['split'], d['users'], sorted(k for k in d if '@' in k or k=='mrr'), 'popularity' in d['baselines'], 0 <= d['recall@10'] <= 1)")
      expect eval_json_fields "test 1500 ['mrr', 'ndcg@10', 'ndcg@50', 'recall@10', 'recall@50'] True True" "$got"
      # the slices partition the users; the per-user lines give back the overall recall@10 (no
      # ties with float scores) and the cold slice (targets nobody trained on)
      got=$(/usr/bin/python3 - "$tmp/e.json" "$tmp/pu.jsonl" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); s = d["slices"]
lines = [json.loads(l) for l in open(sys.argv[2])]
h = sum(b["users"] for b in s["history_length"]); p = sum(b["users"] for b in s["target_popularity"])
r10 = sum(1 for l in lines if l["rank"] <= 10 and l["ties"] == 0) / len(lines)
cold = sum(1 for l in lines if l["target_popularity"] == 0)
top_ok = all(len(l["top"]) == 20 and (l["rank"] > 20 or l["top"][l["rank"] - 1] == l["target_index"]) for l in lines)
print(len(lines) == d["users"], h == d["users"], p == d["users"], abs(r10 - d["recall@10"]) < 1e-9,
      cold == s["cold_start"]["users"] == d["cold_start"]["users"], top_ok)
PY
)
      expect eval_slices_and_per_user "True True True True True True" "$got"
    fi
    # --exclude-history: no user's top list holds an item of its history (without it some do;
    # synth's item tokens are their indexes)
    if run eval_exclude_history 0 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" \
          --per-user "$tmp/pux.jsonl" --per-user-k 20 --exclude-history --json "$tmp/ex.json"; then
      expect eval_exclude_history_row "| PAL towers, history left out |" "$out"
      got=$(/usr/bin/python3 - "$tmp/s4/synth.inter" "$tmp/pu.jsonl" "$tmp/pux.jsonl" "$tmp/ex.json" <<'PY'
import collections, json, sys
seq = collections.defaultdict(list)
for i, l in enumerate(open(sys.argv[1])):
    if i:
        u, it, ts = l.rstrip("\n").split("\t")
        seq[u].append((float(ts), it))
def in_history(path):
    hits = 0
    for l in open(path):
        d = json.loads(l)
        s = [it for _, it in sorted(seq[d["user"]])]
        hits += len(set(s[:-1]) & {str(x) for x in d["top"]})
    return hits
print(in_history(sys.argv[2]) > 0, in_history(sys.argv[3]), json.load(open(sys.argv[4]))["exclude_history"])
PY
)
      expect eval_exclude_history_leaves_history_out "True 0 True" "$got"
    fi
    run eval_valid_split 0 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --split valid &&
      expect eval_valid_split_named "valid split" "$out"
    run eval_wrong_content 1 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/c.npy" &&
      expect eval_wrong_content_message "rows, but the dataset has 1000 items" "$err"
  fi
  # ---- the index over the item tower's outputs ----
  if [ -f "$tmp/items.npy" ] && run build_index 0 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ix" --index IVF8,Flat --target-recall 0.9; then
    expect build_index_tunes_k10 "recall@10" "$out"
    expect build_index_tunes_k100 "recall@100" "$out"
    expect build_index_names_its_queries "tuned on 1000 items, each left out of its own results" "$out"
    run index_info 0 "$bin" index info "$tmp/ix" && expect index_info_fields "vectors: 1000
dim: 16
index: IVF8,Flat" "$out"
    expect index_info_lists_points "operating points (tuned on 1000 items, each left out of its own results):" "$out"
    got=$(printf '%s\n' "$out" | awk '/^ +(10|100) /{print $1}' | tr '\n' ' ')
    expect index_info_points_k "10 100 " "$got"
    # tuned on given queries (the users' vectors), for the k asked
    run build_index_queries 0 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ixq" --index IVF8,Flat \
      --queries "$tmp/items.npy" --tune-k 5,20,50 &&
      expect build_index_queries_named "tuned on 1000 query vectors from $tmp/items.npy" "$out"
    expect build_index_queries_k50 "recall@50" "$out"
    # the re-scoring vectors' dtype (4-bit PQ codes need re-scoring): auto is float32 for 1,000
    # items, float16 when asked
    dtype_of() { "$bin" index info "$1" --json | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["vectors_dtype"])'; }
    run build_index_vectors_auto 0 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ixpq" --index IVF8,PQ4x4fs \
      --target-recall 0.9 && expect build_index_vectors_auto_f32 "f32" "$(dtype_of "$tmp/ixpq")"
    run build_index_vectors_f16 0 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ix16" --index IVF8,PQ4x4fs \
      --target-recall 0.9 --vectors-dtype f16 && expect build_index_vectors_f16_kept "f16" "$(dtype_of "$tmp/ix16")"
    run build_index_vectors_bad_dtype 2 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ix16" --vectors-dtype f64 &&
      expect build_index_vectors_bad_dtype_named "--vectors-dtype expects auto, f32 or f16, got 'f64'" "$err"
    run build_index_bad_tune_k 2 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ixq" --tune-k 100,10 &&
      expect build_index_bad_tune_k_named "--tune-k expects 1 to 8 ascending values" "$err"
    run build_index_queries_wrong_dim 1 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ixq" --queries "$tmp/s4c.npy" &&
      expect build_index_queries_wrong_dim_named "has 64-d rows, the items 16-d" "$err"
    run index_info_json 0 "$bin" index info "$tmp/ix" --json
    got=$(printf '%s' "$out" | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["dim"], d["version"])')
    expect index_info_json_fields "1000 16 v000001" "$got"
    run search_json 0 "$bin" search --index "$tmp/ix" --vectors "$tmp/items.npy" -k 5 --nprobe 8 --json "$tmp/r.json"
    got=$(/usr/bin/python3 -c "import json; r=json.load(open('$tmp/r.json'))['results']; print(len(r), len(r[0]), r[3][0][0], all(abs(x[1]) <= 1.0001 for x in r[0]))")
    expect search_finds_each_item_first "1000 5 3 True" "$got"
    # versions: a second publish, the list, a rollback to the first
    run build_index_again 0 "$bin" build-index --items "$tmp/items.npy" --out "$tmp/ix" --index IVF4,Flat --target-recall 0.9
    run index_list 0 "$bin" index list "$tmp/ix" --verify
    got=$(printf '%s\n' "$out" | awk '/v00000/{print ($1 == "*" ? "*" $2 : $1), $NF}' | tr '\n' ' ')
    expect index_list_marks_current "v000001 ok *v000002 ok " "$got"
    run index_use_rollback 0 "$bin" index use "$tmp/ix" --version v000001 &&
      expect index_use_says_current "current is now v000001 (1000 vectors, IVF8,Flat" "$out"
    run index_info_after_rollback 0 "$bin" index info "$tmp/ix" && expect index_info_rolled_back "version: v000001" "$out"
    run index_use_bad_name 1 "$bin" index use "$tmp/ix" --version ../v000001 &&
      expect index_use_bad_name_message "is not a version name" "$err"
    printf 'x' >> "$tmp/ix/current/index.faiss"
    run index_info_damaged 1 "$bin" index info "$tmp/ix" && expect index_info_damaged_message "the file is damaged" "$err"
    run search_missing_index 1 "$bin" search --index "$tmp/nothing" --vectors "$tmp/items.npy" &&
      expect search_missing_index_named "$tmp/nothing/current/manifest.json: no index there" "$err"
    case "$err" in *"line -1"*) fail search_missing_index_has_no_position "$err" ;; *) ok search_missing_index_has_no_position ;; esac
  fi
  # ---- the rebuild job, and eval through its index ----
  if [ -f "$tmp/m.safetensors" ] && run rebuild_job 0 "$bin" rebuild --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --out "$tmp/rix" --index IVF8,PQ8x4fs --target-recall 0.9; then
    expect rebuild_reports_recall "users' validation histories through the user tower, against exact search" "$out"
    expect rebuild_tunes_k100 "recall@100" "$out"
    expect rebuild_publishes_attributes "attributes: brand (" "$out"
    [ -f "$tmp/rix/current/attributes.safetensors" ] && ok rebuild_attributes_file || fail rebuild_attributes_file "no attributes.safetensors"
    run eval_through_index 0 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --index "$tmp/rix" --json "$tmp/ei.json" &&
      expect eval_through_index_row "PAL towers through the index" "$out"
    got=$(/usr/bin/python3 -c "import json; d=json.load(open('$tmp/ei.json')); print(0 < d['ann_recall@10'] <= 1, 0 < d['ann_recall@50'] <= 1, 'through_index' in d)")
    expect eval_json_has_ann_recall "True True True" "$got"
    run eval_index_of_another_model 1 "$bin" eval --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --index "$tmp/ix" &&
      expect eval_index_model_mismatch "built for model (none), not" "$err"
  fi
  # ---- the user tower's vectors, the server, its client and load generator ----
  if [ -f "$tmp/m.safetensors" ] && [ -d "$tmp/rix" ]; then
    run embed_users 0 "$bin" embed-users --data "$tmp/s4" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --out "$tmp/u.npy" &&
      expect embed_users_counts "with a test target" "$out"
    "$bin" serve --index "$tmp/rix" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --data "$tmp/s4" \
      --listen 127.0.0.1:0 --threads 1 >"$tmp/serve.out" 2>"$tmp/serve.err" &
    spid=$!
    for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*:\([0-9]*\) (msgpack-rpc).*/\1/p' "$tmp/serve.out")
    run query_table 0 "$bin" query --connect "127.0.0.1:$port" --history 1,2,3 -k 4 &&
      expect query_table_rows "   4  " "$out"
    run query_text 0 "$bin" query --connect "127.0.0.1:$port" --history 1,2,3 -k 2 --text &&
      expect query_text_has_item_text "Title:" "$out"
    run query_item_attributes 0 "$bin" query --connect "127.0.0.1:$port" --method item --params '{"id": 3}' --json
    got=$(printf '%s' "$out" | /usr/bin/python3 -c "import json,sys; a=json.load(sys.stdin)['attributes']; print(sorted(a), len(a['brand']), len(a['category']))")
    expect item_has_brand_and_category_levels "['brand', 'category'] 1 3" "$got"
    run query_similar 0 "$bin" query --connect "127.0.0.1:$port" --similar 3 -k 4 --json
    got=$(printf '%s' "$out" | /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin)['results']; print(len(r), 3 in [x[0] for x in r])")
    expect similar_gives_k_others "4 False" "$got"
    run query_filter_ids 0 "$bin" query --connect "127.0.0.1:$port" --history 1,2,3 -k 10 --filter '{"ids": [5, 6, 7]}' --json
    got=$(printf '%s' "$out" | /usr/bin/python3 -c "import json,sys; r=json.load(sys.stdin)['results']; print(sorted(x[0] for x in r))")
    expect filter_ids_only_those "[5, 6, 7]" "$got"
    brand=$(printf '%s' "$("$bin" query --connect "127.0.0.1:$port" --method item --params '{"id": 3}' --json)" | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['attributes']['brand'][0])")
    run query_max_per 0 "$bin" query --connect "127.0.0.1:$port" --history 1,2,3 -k 5 --max-per '{"brand": 1}' --filter "{\"not\": {\"brand\": [\"$brand\"]}}" --json
    got=$(printf '%s' "$out" | /usr/bin/python3 -c "import json,sys; print(len(json.load(sys.stdin)['results']))")
    expect max_per_still_k "5" "$got"
    run query_bad_filter 2 "$bin" query --connect "127.0.0.1:$port" --history 1 --filter '[1]' &&
      expect query_bad_filter_message "--filter must be a JSON object" "$err"
    run query_stats 0 "$bin" query --connect "127.0.0.1:$port" --method stats --json &&
      expect query_stats_version '"version":"v000001"' "$out"
    run query_server_error 1 "$bin" query --connect "127.0.0.1:$port" --history 1 -k 100000 &&
      expect query_server_error_named "too_large:" "$err"
    run query_bad_params 2 "$bin" query --connect "127.0.0.1:$port" --method item --params '{"id": '
    run bench_short 0 "$bin" bench --connect "127.0.0.1:$port" --rate 200 --duration 1 --concurrency 2 &&
      expect bench_reports_percentiles "p99" "$out"
    # a fast-scan index: a request's nprobe takes the engine's write-lock path, and still answers
    run bench_nprobe 0 "$bin" bench --connect "127.0.0.1:$port" --rate 100 --duration 0.5 --concurrency 2 --nprobe 2 &&
      expect bench_nprobe_answered "nprobe=2, histories" "$out" && expect bench_nprobe_no_errors "errors 0," "$out"
    # every method of the mix answered, per method, per interval and per request in the record
    if run bench_mix 0 "$bin" bench --connect "127.0.0.1:$port" --rate 200 --duration 1 --concurrency 4 \
         --mix recommend=1,search=1,item=1,stats=1 --interval 0.5 --json "$tmp/mix.json" --record-ids "$tmp/mix.rec"; then
      expect bench_mix_named "mix recommend=1 search=1 item=1 stats=1, k=10" "$out"
      expect bench_mix_interval_line "[    0.5 s] sent " "$out"
      expect bench_mix_method_line "  search    sent " "$out"
      got=$(/usr/bin/python3 - "$tmp/mix.json" "$tmp/mix.rec" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
m = d["methods"]
rec = [l.split() for l in open(sys.argv[2]) if not l.startswith("#")]
by = {}
for r in rec:
    by.setdefault(r[1], []).append(r)
print(sorted(m), all(m[x]["sent"] > 0 and m[x]["ok"] == m[x]["sent"] for x in m),
      sum(m[x]["sent"] for x in m) == d["sent"] == sum(i["sent"] for i in d["intervals"]), len(d["intervals"]) >= 2,
      len(rec) == d["sent"], all(r[5] == "ok" and float(r[2]) <= float(r[3]) <= float(r[4]) for r in rec),
      all(len(r) == 16 for r in by["recommend"] + by["search"]), {r[6] for r in by["stats"]}, {len(r) for r in by["item"]})
PY
)
      expect bench_mix_counts_and_record "['item', 'recommend', 'search', 'stats'] True True True True True True {'v000001'} {6}" "$got"
    fi
    # a server that stops answering: its requests are counted and recorded as unanswered
    kill -STOP "$spid"
    run bench_stalled_server 0 "$bin" bench --connect "127.0.0.1:$port" --items 1000 --rate 20 --duration 0.5 \
      --concurrency 2 --interval 0.25 --record-ids "$tmp/stall.rec"
    kill -CONT "$spid"
    expect bench_stalled_unanswered "errors 0, unanswered 10," "$out"
    expect bench_stalled_pending_line "ok 0, errors 0, pending 10 (oldest " "$out"
    expect bench_stalled_recorded "10 unanswered" "$(grep -c ' - unanswered$' "$tmp/stall.rec") unanswered"
    kill -TERM "$spid"
    wait "$spid"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok serve_exits_0_on_sigterm; else fail serve_exits_0_on_sigterm "exit $rc: $(cat "$tmp/serve.err")"; fi
    run serve_wrong_model 1 "$bin" serve --index "$tmp/ix" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --listen 127.0.0.1:0 &&
      expect serve_wrong_model_named "built for model" "$err"
    # the token from a file, and short timeouts, as flags (their effects: tests/rpc/test_limits.c)
    printf 'tok-77c1e0\n' >"$tmp/token"
    "$bin" serve --index "$tmp/rix" --model "$tmp/m.safetensors" --content "$tmp/s4c.npy" --listen 127.0.0.1:0 \
      --threads 1 --admin-token-file "$tmp/token" --idle-timeout 0.3 --frame-timeout 0.3 >"$tmp/serve.out" 2>"$tmp/serve.err" &
    spid=$!
    for _ in $(seq 100); do grep -q listening "$tmp/serve.out" 2>/dev/null && break; sleep 0.1; done
    port=$(sed -n 's/.*:\([0-9]*\) (msgpack-rpc).*/\1/p' "$tmp/serve.out")
    run reload_with_file_token 0 "$bin" query --connect "127.0.0.1:$port" --method reload --params '{"token": "tok-77c1e0"}' --json &&
      expect reload_with_file_token_ok '"version":"v000001"' "$out"
    run reload_query_token_file 0 "$bin" query --connect "127.0.0.1:$port" --method reload --admin-token-file "$tmp/token" --json &&
      expect reload_query_token_file_ok '"version":"v000001"' "$out"
    run query_token_file_missing 1 "$bin" query --connect "127.0.0.1:$port" --method reload --admin-token-file "$tmp/nope" &&
      expect query_token_file_missing_named "--admin-token-file $tmp/nope" "$err"
    if run reload_wrong_token 1 "$bin" query --connect "127.0.0.1:$port" --method reload --params '{"token": "tok-77c1e1"}'; then
      expect reload_wrong_token_unauthorized "unauthorized:" "$err"
      case "$err$(cat "$tmp/serve.err")" in *tok-77c1e*) fail token_never_echoed "$err" ;; *) ok token_never_echoed ;; esac
    fi
    if exec 3<>"/dev/tcp/127.0.0.1/$port"; then # says nothing: closed after --idle-timeout
      timeout 20 cat <&3 >/dev/null
      rc=$?
      exec 3<&-
      if [ "$rc" -eq 0 ]; then ok serve_idle_timeout_closes; else fail serve_idle_timeout_closes "still open after 20 s"; fi
    fi
    kill -TERM "$spid"
    wait "$spid"
  fi
  run serve_needs_index 2 "$bin" serve --model "$tmp/m.safetensors"
  run serve_bad_limit 2 "$bin" serve --index x --model y --max-k 0
  run query_no_server 1 "$bin" query --connect 127.0.0.1:1 --history 1 && expect query_no_server_named "127.0.0.1:1" "$err"
  run train_bad_mode 2 "$bin" train --data "$tmp/s4" --content "$tmp/s4c.npy" --out "$tmp/x" --mode magic
  run train_needs_content 2 "$bin" train --data "$tmp/s4" --out "$tmp/x"
  # an id-mode model indexes items by its own table: another catalogue is refused, not read past
  if [ -d "$tmp/a" ] && run train_id_model 0 "$bin" train --data "$tmp/a" --mode id --out "$tmp/mid.safetensors" \
       --epochs 1 --hidden 32 --heads 2 --dim 16; then
    run rebuild_id_model_other_catalogue 1 "$bin" rebuild --data "$tmp/s4" --model "$tmp/mid.safetensors" --out "$tmp/rid" &&
      expect rebuild_id_model_mismatch_named "the model was trained on 2000 items, the dataset has 1000" "$err"
  fi
  run eval_missing_model 1 "$bin" eval --data "$tmp/s4" --model "$tmp/none.safetensors" --content "$tmp/s4c.npy"
fi

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
