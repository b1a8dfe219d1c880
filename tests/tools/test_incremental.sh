#!/usr/bin/env bash
# Incremental rebuild (issue 15 item 5), from the command line: a second rebuild of the same
# catalogue reuses everything; a catalogue with items edited, removed and added reuses the rest
# (vectors, codes, quantizer) and gives the same item vectors as a --full rebuild; a new model, or
# an index given as another factory, builds everything again; the manifest says what was reused.
# usage: test_incremental.sh PATH/TO/learnrec
set -u
bin="$1"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"
export OMP_NUM_THREADS=1 # small indexes; the machine may be shared

rebuild() { "$bin" rebuild --model "$tmp/m.safetensors" --target-recall 0.9 --out "$tmp/ix" "$@"; }
# reused NAME VERSION EXPECTED: the version's manifest "reused" as "from vectors codes quantizer points".
reused() {
  got=$(/usr/bin/python3 -c "import json; r=json.load(open('$tmp/ix/versions/$2/manifest.json')).get('reused'); print('none' if r is None else '%s %d %d %s' % (r['from'], r['vectors'], r['codes'], r['quantizer']))")
  expect "$1" "$3" "$got"
}

run synth 0 "$bin" dataset synth --items 3000 --users 1500 --seed 5 --out "$tmp/d1" &&
  run content 0 "$bin" content fit --data "$tmp/d1" --out "$tmp/c1.npy" --encoder-out "$tmp/e.bin" --dim 64 &&
  run train 0 "$bin" train --data "$tmp/d1" --content "$tmp/c1.npy" --out "$tmp/m.safetensors" --epochs 1 \
    --hidden 32 --heads 2 --dim 16 --threads 1 &&
  run rebuild_first 0 rebuild --data "$tmp/d1" --content "$tmp/c1.npy" --index IVF16,SQ8 ||
  { echo "$passed passed, $failed failed"; exit 1; }
expect first_builds_everything "no current version to start from" "$err"
reused first_records_nothing v000001 "none"
expect version_has_rows_and_vectors "attributes.safetensors index.faiss manifest.json rows.safetensors vectors.npy" \
  "$(ls "$tmp/ix/versions/v000001" | tr '\n' ' ')"

run rebuild_same 0 rebuild --data "$tmp/d1" --content "$tmp/c1.npy"
expect same_reuses_all "item tower over 0 new or changed items of 3000; 3000 kept from v000001" "$err"
reused same_manifest v000002 "v000001 3000 3000 True"

# d2: 30 items edited (their content moved), 30 removed (with their interactions), 30 added.
/usr/bin/python3 - "$tmp" <<'EOF'
import numpy as np, os, shutil, sys
t = sys.argv[1]
os.makedirs(t + "/d2")
c1 = np.load(t + "/c1.npy")
lines = open(t + "/d1/synth.item").read().splitlines()
head, rows = lines[0], lines[1:]
removed = {r.split("\t")[0] for r in rows[100:130]}
keep = [r for r in rows if r.split("\t")[0] not in removed]
keep_rows = [i for i, r in enumerate(rows) if r.split("\t")[0] not in removed]
new = ["new%d\tnew item %d\tnew item %d\tb\tx > y" % (i, i, i) for i in range(30)]
rng = np.random.default_rng(1)
c2 = np.concatenate([c1[keep_rows], rng.standard_normal((30, c1.shape[1])).astype(np.float32)])
c2[500:530] += 0.5  # edited: the first 30 kept items past 500
open(t + "/d2/synth.item", "w").write("\n".join([head] + keep + new) + "\n")
inter = open(t + "/d1/synth.inter").read().splitlines()
open(t + "/d2/synth.inter", "w").write("\n".join([inter[0]] + [l for l in inter[1:] if l.split("\t")[1] not in removed]) + "\n")
shutil.copy(t + "/d1/synth.user", t + "/d2/synth.user")
np.save(t + "/c2.npy", c2)
EOF
run rebuild_changed 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy"
expect changed_embeds_60 "item tower over 60 new or changed items of 3000; 2940 kept from v000002" "$err"
reused changed_manifest v000003 "v000002 2940 2940 True"
run rebuild_full 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy" --full
reused full_reuses_nothing v000004 "none"
got=$(/usr/bin/python3 -c "
import numpy as np
a = np.load('$tmp/ix/versions/v000003/vectors.npy'); b = np.load('$tmp/ix/versions/v000004/vectors.npy')
print(a.shape == b.shape, float(np.abs(a.astype(np.float32) - b.astype(np.float32)).max()) < 1e-6)")
expect incremental_vectors_equal_full "True True" "$got"
# the incremental index answers as it should: its ANN recall through eval
run use_v3 0 "$bin" index use "$tmp/ix" --version v000003
run eval_v3 0 "$bin" eval --data "$tmp/d2" --model "$tmp/m.safetensors" --content "$tmp/c2.npy" --index "$tmp/ix" --json "$tmp/e3.json"
run use_v4 0 "$bin" index use "$tmp/ix" --version v000004
run eval_v4 0 "$bin" eval --data "$tmp/d2" --model "$tmp/m.safetensors" --content "$tmp/c2.npy" --index "$tmp/ix" --json "$tmp/e4.json"
# tuned to 0.9 on validation histories: the test users' recall is close to it, and the
# incremental index (its points kept) no worse than the full one (tuned again)
got=$(/usr/bin/python3 -c "import json; a, b = (json.load(open('$tmp/e%d.json' % v))['ann_recall@10'] for v in (3, 4)); print(a >= 0.85, a >= b - 0.02, round(a, 3), round(b, 3))")
expect incremental_index_recall "True True" "$got"

# a damaged previous version: tonight's job still succeeds, building everything, and says why
/usr/bin/python3 -c "
p = '$tmp/ix/versions/v000004/rows.safetensors'
b = bytearray(open(p, 'rb').read()); b[len(b) // 2] ^= 1
open(p, 'wb').write(b)"
run rebuild_after_damage 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy"
expect damage_builds_everything "v000004 cannot be reused" "$err"
reused damage_reuses_nothing v000005 "none"

# another model: everything again, and the reason said
run train2 0 "$bin" train --data "$tmp/d2" --content "$tmp/c2.npy" --out "$tmp/m.safetensors" --epochs 1 \
  --hidden 32 --heads 2 --dim 16 --threads 1 --seed 9
run rebuild_new_model 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy"
expect new_model_builds_everything "was built by model" "$err"
# a fast-scan index keeps the vectors but not the codes
run rebuild_fs 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy" --index IVF16,PQ8x4fs
run rebuild_fs_again 0 rebuild --data "$tmp/d2" --content "$tmp/c2.npy"
expect fs_builds_the_index "building the index" "$err"
reused fs_keeps_vectors v000008 "v000007 3000 0 False"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
