#!/usr/bin/env bash
# Index codes at a catalogue size past one million (issue 17, item 7), in one run: the catalogue
# grown to N from the item tower's outputs, then each FACTORY:DTYPE built, published with its
# re-scoring vectors in DTYPE (f16 or f32), opened as serve opens it and searched one query at a
# time on one core (bench_scale: recall@10 against exact search, the setting of most QPS at 0.95
# chosen on 1,000 queries and measured on 1,000 others).
#
# usage: bench/scale.sh ITEMS.npy QUERIES.npy N OUTDIR [FACTORY:DTYPE ...]
#   ITEMS.npy: the item tower's outputs for a catalogue (bench/index_all.sh makes 1M of them in
#   OUTDIR/s1m/items.npy); QUERIES.npy: user-tower vectors (its users.npy). Default factories, at
#   N = 10M: IVF12649,SQ8:f32 (the engine's default), IVF12649,SQ8:f16 (the same codes, published
#   again), IVF16384,PQ32np:f16, IVF16384,PQ64x4fs:f16, IVF12649,SQ4:f16.
#   OUTDIR gets the data (x.npy, q.npy, gt.bin: 3 GB at 10M), one version directory and one log
#   per factory, and summary.txt (the RESULT lines).
set -euo pipefail
for a in "$@"; do
  case "$a" in
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  esac
done
if [ $# -lt 4 ]; then
  echo "usage: bench/scale.sh ITEMS.npy QUERIES.npy N OUTDIR [FACTORY:DTYPE ...] (try --help)" >&2
  exit 2
fi
items="$1" queries="$2" n="$3" out="$4"
shift 4
[ $# -gt 0 ] || set -- "IVF12649,SQ8:f32" "IVF12649,SQ8:f16" "IVF16384,PQ32np:f16" "IVF16384,PQ64x4fs:f16" \
  "IVF12649,SQ4:f16"
b=build/bench/bench_scale
declare -A built # factory -> the version directory built for it in this run
mkdir -p "$out"
echo "== $(date -u +%FT%TZ) $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
[ -f "$out/gt.bin" ] || "$b" prepare --items "$items" --query-vectors "$queries" --n "$n" --out "$out"
for spec in "$@"; do
  factory="${spec%:*}" dtype="${spec##*:}"
  name=$(printf '%s_%s' "$factory" "$dtype" | tr -c 'A-Za-z0-9_\n' '_')
  echo "== $factory, $dtype re-scoring vectors"
  rm -rf "$out/$name"
  if [ -n "${built[$factory]:-}" ]; then # the same codes, the vectors in the other dtype
    "$b" republish --index "${built[$factory]}" --vectors "$dtype" --out "$out/$name" | tee "$out/$name.log"
  else
    "$b" build --dir "$out" --factory "$factory" --vectors "$dtype" --out "$out/$name" | tee "$out/$name.log"
    built[$factory]="$out/$name"
  fi
  "$b" search --dir "$out" --index "$out/$name" | tee -a "$out/$name.log"
done
grep -h '^RESULT\|^build' "$out"/*.log | tee "$out/summary.txt"
