#!/usr/bin/env bash
# Faults the rebuild job and the server must survive, from the command line (issue 14 item 4; the
# long runs, with random kills and a full tmpfs, are bench/faults.sh):
#   a version damaged after publishing: each of its files truncated and with a byte flipped;
#     `reload` refuses it naming the file and the server keeps serving its version; `serve`
#     refuses it at start (exit 1, the file named);
#   a disk full during publish, injected as a file size limit (ulimit -f, SIGXFSZ ignored: writes
#     past it fail with EFBIG, no root needed): rebuild fails naming the file and the cause, leaves
#     no temporary, `current` stays on the previous version, which a running server keeps
#     serving and reloads.
# usage: test_faults.sh PATH/TO/learnrec
set -u
bin="$1"
tmp=$(mktemp -d)
spid=
trap '[ -n "$spid" ] && kill "$spid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"' EXIT
. "$(dirname "$0")/cli_lib.sh"
export OMP_NUM_THREADS=1 # small indexes; the machine may be shared

# serve_start LOG: a server on $tmp/ix, port in $port; 1 when it exits before listening.
serve_start() {
  "$bin" serve --index "$tmp/ix" --model "$tmp/m.safetensors" --content "$tmp/c.npy" --listen 127.0.0.1:0 \
    --threads 1 >"$tmp/$1.out" 2>"$tmp/$1.err" &
  spid=$!
  port=
  for _ in $(seq 600); do
    port=$(sed -n 's/^listening on [^ ]*:\([0-9][0-9]*\).*/\1/p' "$tmp/$1.out" 2>/dev/null)
    [ -n "$port" ] && return 0
    kill -0 "$spid" 2>/dev/null || { wait "$spid"; spid=; return 1; }
    sleep 0.1
  done
  return 1
}
q() { "$bin" query --connect "127.0.0.1:$port" --timeout 60000 "$@"; }
# serving NAME VERSION: the running server reports VERSION and answers a recommend call.
serving() {
  if q --method stats --json 2>&1 | grep -q "\"version\":\"$2\"" && q --history 1,2,3 -k 3 >/dev/null 2>&1; then
    ok "$1"; else fail "$1" "stats: $(q --method stats --json 2>&1)"; fi
}
rebuild() { "$bin" rebuild --data "$tmp/s" --model "$tmp/m.safetensors" --content "$tmp/c.npy" --target-recall 0.9 "$@"; }
# no_debris NAME: nothing a publish leaves behind when it fails, and `current` on VERSION.
no_debris() {
  local left
  left=$(ls -A "$tmp/ix/versions" "$tmp/ix" | grep '^\.tmp-\|^\.current\.tmp\|^v000003')
  if [ -z "$left" ] && [ "$(readlink "$tmp/ix/current")" = "versions/$2" ]; then ok "$1"; else
    fail "$1" "left: $left; current -> $(readlink "$tmp/ix/current")"; fi
}

run synth 0 "$bin" dataset synth --items 1000 --users 1500 --seed 4 --out "$tmp/s" &&
  run content 0 "$bin" content fit --data "$tmp/s" --out "$tmp/c.npy" --encoder-out "$tmp/e.bin" --dim 64 &&
  run train 0 "$bin" train --data "$tmp/s" --content "$tmp/c.npy" --out "$tmp/m.safetensors" --epochs 1 \
    --hidden 32 --heads 2 --dim 16 --threads 1 &&
  run rebuild_v1 0 rebuild --out "$tmp/ix" --index IVF8,PQ8x4fs || { echo "0 passed, 1 failed"; exit 1; }
if ! serve_start serve; then fail serve_v1 "$(cat "$tmp/serve.err")"; echo "$passed passed, $failed failed"; exit 1; fi
run rebuild_v2 0 rebuild --out "$tmp/ix" --index IVF8,PQ8x4fs
v2="$tmp/ix/versions/v000002"
cp -a "$v2" "$tmp/pristine"
# a fast-scan index keeps its vectors for re-scoring, and the version its items' attributes and rows
expect version_files "attributes.safetensors index.faiss manifest.json rows.safetensors vectors.npy" "$(ls "$v2" | tr '\n' ' ')"

# ---- a version damaged after publishing ----
# damage FILE HOW: truncated to half its length, or its middle byte flipped.
damage() {
  /usr/bin/python3 - "$1" "$2" <<'EOF'
import os, sys
p, how = sys.argv[1], sys.argv[2]
n = os.path.getsize(p)
with open(p, "r+b") as f:
    if how == "truncated":
        f.truncate(n // 2)
    else:
        f.seek(n // 2)
        b = f.read(1)[0]
        f.seek(n // 2)
        f.write(bytes([b ^ 0xFF]))
EOF
}
for f in index.faiss vectors.npy manifest.json; do
  for how in truncated flipped; do
    rm -rf "$v2" && cp -a "$tmp/pristine" "$v2" && damage "$v2/$f" "$how"
    run "reload_refuses_${f}_$how" 1 q --method reload &&
      expect "reload_names_${f}_$how" "versions/v000002/$f" "$err"
    serving "old_version_kept_after_${f}_$how" v000001
    main_pid=$spid main_port=$port
    if serve_start start; then
      fail "serve_refuses_${f}_$how" "it started"
      kill "$spid"; wait "$spid"
    else
      expect "serve_refuses_${f}_${how}_naming_it" "versions/v000002/$f" "$(cat "$tmp/start.err")"
    fi
    spid=$main_pid port=$main_port
  done
done
rm -rf "$v2" && cp -a "$tmp/pristine" "$v2"
run reload_repaired 0 q --method reload --json && expect reload_repaired_version '"version":"v000002"' "$out"

# ---- a full disk while publishing: writes fail past a file size limit ----
# full_disk NAME LIMIT_KB FACTORY: rebuild under the limit fails cleanly; v000002 stays.
full_disk() {
  ( trap '' XFSZ; ulimit -f "$2"; exec "$bin" rebuild --data "$tmp/s" --model "$tmp/m.safetensors" \
      --content "$tmp/c.npy" --target-recall 0.9 --out "$tmp/ix" --index "$3" ) >"$tmp/out" 2>"$tmp/err"
  local rc=$?
  err=$(cat "$tmp/err")
  if [ "$rc" = 1 ]; then ok "$1_fails"; else fail "$1_fails" "exit $rc: $err"; fi
  expect "$1_names_the_file" "$tmp/ix/versions/.tmp-v000003-" "$err"
  expect "$1_names_the_cause" "File too large" "$err"
  no_debris "$1_leaves_nothing" v000002
  run "$1_index_still_loads" 0 "$bin" index info "$tmp/ix" && expect "$1_index_info_version" "version: v000002" "$out"
  serving "$1_server_still_answers" v000002
  run "$1_reload" 0 q --method reload --json && expect "$1_reload_serves_it" '"version":"v000002"' "$out"
}
index_kb=$(( $(stat -c %s "$v2/index.faiss") / 1024 ))
full_disk full_disk_in_index 4 IVF8,PQ8x4fs                      # index.faiss cut short
full_disk full_disk_in_vectors $((index_kb + 8)) IVF8,PQ8x4fs    # index.faiss whole, vectors.npy not
# an exact index keeps no vectors: index.faiss is the last big file, and the limit falls in the
# final buffer its writer flushes at close (FAISS's own writer ignored that failure)
run flat_size 0 rebuild --out "$tmp/flat" --index IVF8,Flat
flat=$(stat -c %s "$tmp/flat/current/index.faiss")
full_disk full_disk_at_the_end_of_the_index $(( (flat - 1) / 1024 )) IVF8,Flat

kill "$spid" 2>/dev/null
wait "$spid" 2>/dev/null
spid=
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
