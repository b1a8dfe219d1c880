#!/usr/bin/env bash
# Installs what learnrec needs on Debian 12 and builds FAISS (with its C API) from Debian's own
# faiss source package into a cache that later builds reuse.
#
# Debian's libfaiss-dev ships the C API headers but no C API library, and a FAISS compiled
# without AVX2. We build the `faiss_avx2` (or, on a CPU without AVX2, the generic `faiss`) and
# `faiss_c` targets from `apt-get source faiss`. No other download happens: apt reaches only the
# registry already configured on the machine.
#
# Usage: tools/install-deps.sh [--cache DIR] [--print-prefix]
#   --cache DIR       where the FAISS build lives (default: $LEARNREC_CACHE or /var/cache/learnrec)
#   --print-prefix    print the FAISS prefix on stdout when done (the Makefile reads it)
set -euo pipefail

cache="${LEARNREC_CACHE:-/var/cache/learnrec}"
print_prefix=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --print-prefix) print_prefix=1; shift ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-deps: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

log() { echo "install-deps: $*" >&2; }

packages=(build-essential cmake pkg-config dpkg-dev
          libfaiss-dev libopenblas-dev liblapack-dev libevent-dev libmsgpack-dev
          zlib1g-dev libjansson-dev python3 python3-msgpack python3-numpy)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $* (run as root, or install sudo)"; exit 1; fi
}

apt_updated=0
apt_update() {
  if [ "$apt_updated" -eq 0 ]; then
    log "apt-get update"
    as_root apt-get update -qq >&2
    apt_updated=1
  fi
}

if [ "${#missing[@]}" -gt 0 ]; then
  apt_update
  log "installing: ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi

# ---- FAISS from Debian's source package -------------------------------------------------------
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then variant=avx2; else variant=generic; fi
faiss_version=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
prefix="$cache/faiss-${faiss_version}-${variant}"

if [ -f "$prefix/.complete" ]; then
  log "FAISS ${faiss_version} (${variant}) found in $prefix"
  [ "$print_prefix" -eq 1 ] && echo "$prefix"
  exit 0
fi

# deb-src lines mirror the machine's own deb lines, so apt reaches only the registry it already uses.
ensure_deb_src() {
  if apt-get source --print-uris faiss >/dev/null 2>&1; then return 0; fi
  local out=/etc/apt/sources.list.d/learnrec-deb-src.sources
  log "adding deb-src entries derived from the existing apt sources ($out)"
  local tmp; tmp=$(mktemp)
  # deb822 files: copy each stanza whose Types has deb, with Types: deb-src.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    [ "$f" = "$out" ] && continue
    awk 'function flush() { if (n && isdeb) { for (i = 1; i <= n; i++) print buf[i]; print "" } n = 0; isdeb = 0 }
         /^[[:space:]]*$/ { flush(); next }
         /^[[:space:]]*#/ { next }
         /^Types:/ { if ((" " substr($0, 7) " ") ~ / deb /) isdeb = 1; $0 = "Types: deb-src" }
         { buf[++n] = $0 }
         END { flush() }' "$f" >> "$tmp"
  done
  # one-line format: deb [opts] uri suite comps -> deb-src [opts] uri suite comps
  if [ -f /etc/apt/sources.list ] || ls /etc/apt/sources.list.d/*.list >/dev/null 2>&1; then
    local lines
    lines=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' || true)
    if [ -n "$lines" ]; then
      echo "$lines" > /etc/apt/sources.list.d/learnrec-deb-src.list.tmp
      as_root mv /etc/apt/sources.list.d/learnrec-deb-src.list.tmp /etc/apt/sources.list.d/learnrec-deb-src.list
    fi
  fi
  if [ -s "$tmp" ]; then as_root install -m 0644 "$tmp" "$out"; fi
  rm -f "$tmp"
  apt_updated=0
  apt_update
  if ! apt-get source --print-uris faiss >/dev/null 2>&1; then
    log "apt cannot find the faiss source package even after adding deb-src entries;"
    log "check /etc/apt/sources.list.d/ and that 'apt-get update' succeeds"
    exit 1
  fi
}
ensure_deb_src

work=$(mktemp -d "${TMPDIR:-/tmp}/learnrec-faiss.XXXXXX")
trap 'rm -rf "$work"' EXIT
log "fetching Debian's faiss source (${faiss_version}) into $work"
(cd "$work" && apt-get source -qq "faiss=${faiss_version}" >&2)
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'faiss-*' | head -n 1)
[ -n "$src" ] || { log "apt-get source produced no faiss-* directory in $work"; exit 1; }

if [ "$variant" = avx2 ]; then
  core_target=faiss_avx2; opt_level=avx2
else
  core_target=faiss; opt_level=generic
fi
# The C API links the generic `faiss` target; point it at the core we build so that
# only one FAISS core is compiled and the C API calls the AVX2 kernels.
sed -i "s/target_link_libraries(faiss_c PRIVATE faiss)/target_link_libraries(faiss_c PRIVATE ${core_target})/" \
  "$src/c_api/CMakeLists.txt"
grep -q "target_link_libraries(faiss_c PRIVATE ${core_target})" "$src/c_api/CMakeLists.txt" || {
  log "could not retarget faiss_c at ${core_target} in $src/c_api/CMakeLists.txt"; exit 1; }

jobs=$(nproc)
log "building ${core_target} and faiss_c with ${jobs} jobs (about 4 minutes on 2 cores)"
cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
  -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=ON -DBUILD_TESTING=OFF \
  -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DFAISS_OPT_LEVEL="$opt_level" \
  -DBLA_VENDOR=OpenBLAS >&2
cmake --build "$work/build" -j "$jobs" --target "$core_target" faiss_c >&2

stage="$prefix.partial"
rm -rf "$stage"
mkdir -p "$stage/lib" "$stage/include"
cp "$work/build/faiss/lib${core_target}.a" "$stage/lib/libfaiss_core.a"
cp "$work/build/c_api/libfaiss_c.a" "$stage/lib/libfaiss_c.a"
(cd "$src" && find c_api -name '*.h' -exec install -D -m 0644 {} "$stage/include/faiss/{}" \;)
echo "$variant" > "$stage/VARIANT"
echo "$faiss_version" > "$stage/VERSION"
touch "$stage/.complete"
rm -rf "$prefix"
mv "$stage" "$prefix"
log "FAISS ${faiss_version} (${variant}) installed in $prefix"
[ "$print_prefix" -eq 1 ] && echo "$prefix"
exit 0
