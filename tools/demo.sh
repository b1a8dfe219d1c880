#!/usr/bin/env bash
# The main job end to end on the embedded default: a synthetic catalogue, content, training,
# evaluation, the index job, then the server answering a few users over msgpack-rpc and HTTP.
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
echo "== 7. the offline index job: item tower over every item, index, tuning, atomic publish"
rm -rf "$work/index"
"$bin" rebuild --data "$work/data" --model "$work/model.safetensors" --content "$work/content.npy" \
    --out "$work/index"
echo
echo "== 8. the server, in the background (msgpack-rpc and HTTP on free ports)"
"$bin" serve --index "$work/index" --model "$work/model.safetensors" --content "$work/content.npy" \
    --data "$work/data" --encoder "$work/encoder.bin" --listen 127.0.0.1:0 --http 127.0.0.1:0 \
    --admin-token demo >"$work/serve.out" 2>"$work/serve.log" &
pid=$!
trap 'kill "$pid" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  grep -q listening "$work/serve.out" 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/serve.log"; exit 1; }
  sleep 0.1
done
cat "$work/serve.out"
port=$(sed -n 's/.*:\([0-9]*\) (msgpack-rpc).*/\1/p' "$work/serve.out")
hport=$(sed -n 's/.*http [^:]*:\([0-9]*\)$/\1/p' "$work/serve.out")
echo
echo "== 9. three users' recent histories, recommended over msgpack-rpc (learnrec query)"
for user in u1 u2 u3; do
  # the user's 5 most recent items (item ids are the catalogue's row numbers)
  hist=$(awk -F'\t' -v u="$user" '$1 == u { print $2 }' "$work/data/synth.inter" | tail -5 | paste -sd,)
  echo "-- $user, history $hist; what they last saw:"
  for id in ${hist//,/ }; do
    "$bin" query --connect "127.0.0.1:$port" --method item --params "{\"id\": $id}" --json |
      sed 's/.*"text": *"\([^"]*\)".*/     \1/'
  done
  echo "   recommended:"
  "$bin" query --connect "127.0.0.1:$port" --history "$hist" -k 5 --text
done
echo
echo "== 10. a new item, added while serving, recommended at once (cold start)"
"$bin" query --connect "127.0.0.1:$port" --method add_items --json \
    --params '{"token": "demo", "items": [{"id": 1000000, "text": "Title: Nitrile Lab Gloves, Powder-Free. Brand: Demo. Category: Lab Supplies > Gloves"}]}'
"$bin" query --connect "127.0.0.1:$port" --method recommend --json --params '{"history": [1000000], "k": 3}'
echo
echo "== 11. the same server over HTTP: POST /recommend, GET /healthz"
http() { # bash's /dev/tcp: no HTTP client needed. Arguments: printf's.
  exec 3<>"/dev/tcp/127.0.0.1/$hport"
  # shellcheck disable=SC2059
  printf "$@" >&3
  sed -n '/^\r$/,$p' <&3 | tail -n +2
  exec 3<&-
}
body="{\"history\": [$hist], \"k\": 3}"
echo "POST /recommend $body"
http 'POST /recommend HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' "${#body}" "$body"
echo "GET /healthz"
http 'GET /healthz HTTP/1.0\r\n\r\n'
echo
echo "== 12. clean shutdown (SIGTERM: answer what is in flight, exit 0)"
kill -TERM "$pid"
status=0
wait "$pid" || status=$?
trap - EXIT
echo "server exited with status $status"
[ "$status" -eq 0 ]
echo
echo "demo done; files in $work"
