#!/usr/bin/env bash
# Index candidates on the item tower's outputs against hnswlib, in one run (issue 15, item 7):
# each FACTORY through bench_index (learnrec's build, read back as the server reads it), then
# hnswlib and Debian's python3-faiss on the same vectors (bench/peers_index.py).
#
# usage: bench/towers_index.sh ITEMS.npy QUERIES.npy OUTDIR [FACTORY[:PER_LIST] ...]
#   ITEMS.npy: the item tower's outputs (e.g. a version's vectors.npy); QUERIES.npy: user-tower
#   vectors (learnrec embed-users), 1,000 of them used. Default factories: IVF4000,SQ8 (the
#   engine's default at 1M) and IVF16384_HNSW32,SQ8:16 (more lists, an HNSW coarse quantizer,
#   16 training samples per list). OUTDIR gets NAME.log/.csv/.svg per factory and peers.log.
set -euo pipefail
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done
if [ $# -lt 3 ]; then
  echo "usage: bench/towers_index.sh ITEMS.npy QUERIES.npy OUTDIR [FACTORY[:PER_LIST] ...] (try --help)" >&2
  exit 2
fi
items="$1" queries="$2" out="$3"
shift 3
[ $# -gt 0 ] || set -- "IVF4000,SQ8" "IVF16384_HNSW32,SQ8:16"
mkdir -p "$out"
first=""
for spec in "$@"; do
  factory="${spec%%:*}" per=""
  [ "$spec" != "$factory" ] && per="--per-list ${spec#*:}"
  name=$(printf '%s' "$factory" | tr -c 'A-Za-z0-9_\n' '_')
  save=""
  [ -z "$first" ] && save="--save 1" && first="$out/$name"
  echo "== $factory ${per}"
  # shellcheck disable=SC2086
  build/bench/bench_index --items "$items" --query-vectors "$queries" --factory "$factory" $per $save \
      --nprobe-max 256 --out "$out/$name" | tee "$out/$name.log"
done
echo "== hnswlib and python3-faiss on the same vectors"
/usr/bin/python3 bench/peers_index.py "$first" "${1%%:*}" 2>&1 | tee "$out/peers.log"
