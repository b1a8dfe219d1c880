#!/usr/bin/env bash
# Installs what learnrec needs on Debian 12 and builds FAISS (with its C API) from Debian's own
# faiss source package into a cache that later builds reuse.
#
# Debian's libfaiss-dev ships the C API headers but no C API library, and a FAISS compiled
# without AVX2. We build the `faiss_avx2` (or, on a CPU without AVX2, the generic `faiss`) and
# `faiss_c` targets from `apt-get source faiss`. No other download happens: apt reaches only the
# registry already configured on the machine.
#
# The terminal shows one line per step with its time; the output of apt and of the compiler goes
# to install-deps.log in the cache directory (shown, with its last lines, when a step fails).
#
# Usage: tools/install-deps.sh [--cache DIR] [--print-prefix]
#   --cache DIR       where the FAISS build lives (default: $LEARNREC_CACHE or /var/cache/learnrec)
#   --print-prefix    print the FAISS prefix on stdout when done (the Makefile reads it)
# shellcheck disable=SC2317  # the step functions are called through run_step
set -euo pipefail

cache="${LEARNREC_CACHE:-/var/cache/learnrec}"
print_prefix=0
while [ $# -gt 0 ]; do
  case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --print-prefix) print_prefix=1; shift ;;
    -h|--help) sed -n '2,/^set /{/^# shellcheck/d;/^#/s/^# \{0,1\}//p}' "$0"; exit 0 ;;
    *) echo "install-deps: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# stdout carries only the prefix (--print-prefix); everything for people goes to stderr.
log() { echo "install-deps: $*" >&2; }

# ---- steps and their log -----------------------------------------------------------------------
# A fresh log per run that does any work: it is there to explain the last run, and appending a
# FAISS build's compiler output on every rebuild would only grow it. Runs with nothing to do (the
# common case: `make` calls this on every build) do not touch it, so the log of the run that built
# the cache stays until the next run that has work to do.
logfile="$cache/install-deps.log"
log_opened=0
open_log() {
  [ "$log_opened" -eq 0 ] || return 0
  if ! mkdir -p "$cache" 2>/dev/null || ! : > "$logfile" 2>/dev/null; then
    log "cannot write $logfile (pass --cache DIR for a writable directory, or run as root)"
    exit 1
  fi
  echo "# install-deps $(date '+%Y-%m-%d %H:%M:%S %z'), cache $cache" >> "$logfile"
  log_opened=1
}

# run_step LABEL COMMAND [ARGS...]: runs COMMAND (often one of the functions below) in a subshell
# with errexit on and its output in the log, and prints one line: the step, then its time. When it
# fails: the step, the log's path and the log's last lines, then exit with the command's status.
# errexit is ignored inside anything run as an `if`, `&&` or `||` condition, however it is set
# there; so the subshell runs as a plain statement, with errexit off around it only to read its
# status. Call run_step itself as a plain statement too, never as a condition.
step=0
steps=0
run_step() {
  local label="$1" start=$SECONDS status
  shift
  open_log
  step=$((step + 1))
  printf 'install-deps: [%d/%d] %s ... ' "$step" "$steps" "$label" >&2
  printf '\n# ---- [%d/%d] %s\n' "$step" "$steps" "$label" >> "$logfile"
  set +e
  ( set -e; "$@" ) < /dev/null >> "$logfile" 2>&1
  status=$?
  set -e
  if [ "$status" -eq 0 ]; then
    echo "done in $((SECONDS - start)) s" >&2
    return 0
  fi
  echo "FAILED after $((SECONDS - start)) s (status $status)" >&2
  log "step ${step} of ${steps} failed; full log: $logfile; its last 30 lines:"
  tail -n 30 "$logfile" | sed 's/^/  | /' >&2
  echo "# ---- step failed with status $status" >> "$logfile"
  exit "$status"
}

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root to run: $* (run as root, or install sudo)"; exit 1; fi
}

# ---- Debian packages ---------------------------------------------------------------------------
packages=(build-essential cmake pkg-config dpkg-dev
          libfaiss-dev libopenblas-dev libopenblas-openmp-dev liblapack-dev libevent-dev libmsgpack-dev
          zlib1g-dev libjansson-dev libpcre2-dev libutf8proc-dev libsentencepiece-dev
          libxxhash-dev python3 python3-msgpack python3-numpy haproxy)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

install_packages() {
  as_root apt-get update -q
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
    "${missing[@]}"
}

# The cache directory for the installed libfaiss-dev's version and this CPU.
if grep -qw avx2 /proc/cpuinfo 2>/dev/null; then variant=avx2; else variant=generic; fi
set_prefix() {
  faiss_version=$(dpkg-query -W -f='${source:Version}' libfaiss-dev)
  prefix="$cache/faiss-${faiss_version}-${variant}"
}

# Count the steps ahead, for the [n/N] of each line: installing the packages, then four for FAISS
# unless the installed libfaiss-dev's version is already in the cache. (If libfaiss-dev is among
# the packages to install, its version is not known yet and FAISS is counted; should the cache
# hold that version after all, the run stops early, after the first step.)
faiss_cached=0
case " ${missing[*]} " in
  *" libfaiss-dev "*) ;;
  *) set_prefix; [ ! -f "$prefix/.complete" ] || faiss_cached=1 ;;
esac
[ "${#missing[@]}" -eq 0 ] || steps=$((steps + 1))
[ "$faiss_cached" -eq 1 ] || steps=$((steps + 4))

if [ "$steps" -eq 0 ]; then
  log "Debian packages present; FAISS ${faiss_version} (${variant}) found in $prefix"
  [ "$print_prefix" -eq 1 ] && echo "$prefix"
  exit 0
fi

if [ "${#missing[@]}" -gt 0 ]; then
  run_step "installing ${#missing[@]} missing Debian package(s) (apt-get update, apt-get install)" \
    install_packages
else
  log "Debian packages present"
fi

set_prefix
if [ -f "$prefix/.complete" ]; then
  log "FAISS ${faiss_version} (${variant}) found in $prefix"
  [ "$print_prefix" -eq 1 ] && echo "$prefix"
  exit 0
fi

# ---- FAISS from Debian's source package -------------------------------------------------------
# deb-src lines mirror the machine's own deb lines, so apt reaches only the registry it already uses.
deb_src_files=(/etc/apt/sources.list.d/learnrec-deb-src.sources
               /etc/apt/sources.list.d/learnrec-deb-src.list)
deb_src_present() { local f; for f in "${deb_src_files[@]}"; do [ ! -f "$f" ] || echo "$f"; done; }
ensure_deb_src() {
  if apt-get source --print-uris faiss >/dev/null 2>&1; then return 0; fi
  local out=/etc/apt/sources.list.d/learnrec-deb-src.sources
  log "adding deb-src entries derived from the existing apt sources"
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
  if [ -s "$tmp" ]; then as_root install -m 0644 "$tmp" "$out"; fi
  # one-line format: deb [opts] uri suite comps -> deb-src [opts] uri suite comps
  if [ -f /etc/apt/sources.list ] || ls /etc/apt/sources.list.d/*.list >/dev/null 2>&1; then
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | sed -n 's/^[[:space:]]*deb[[:space:]]\+/deb-src /p' > "$tmp" || true
    if [ -s "$tmp" ]; then
      as_root install -m 0644 "$tmp" /etc/apt/sources.list.d/learnrec-deb-src.list
    fi
  fi
  rm -f "$tmp"
  as_root apt-get update -q
  if ! apt-get source --print-uris faiss >/dev/null 2>&1; then
    log "apt cannot find the faiss source package even after adding deb-src entries;"
    log "check /etc/apt/sources.list.d/ and that 'apt-get update' succeeds"
    exit 1
  fi
}

fetch_source() {
  ensure_deb_src
  (cd "$work" && apt-get source -q "faiss=${faiss_version}")
  [ -n "$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'faiss-*')" ] || {
    log "apt-get source produced no faiss-* directory in $work"; exit 1; }
}

if [ "$variant" = avx2 ]; then
  core_target=faiss_avx2; opt_level=avx2
else
  core_target=faiss; opt_level=generic
fi
jobs=$(nproc)

configure_faiss() {
  # The C API links the generic `faiss` target; point it at the core we build so that
  # only one FAISS core is compiled and the C API calls the AVX2 kernels.
  sed -i "s/target_link_libraries(faiss_c PRIVATE faiss)/target_link_libraries(faiss_c PRIVATE ${core_target})/" \
    "$src/c_api/CMakeLists.txt"
  grep -q "target_link_libraries(faiss_c PRIVATE ${core_target})" "$src/c_api/CMakeLists.txt" || {
    log "could not retarget faiss_c at ${core_target} in $src/c_api/CMakeLists.txt"; exit 1; }
  cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release \
    -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DFAISS_ENABLE_C_API=ON -DBUILD_TESTING=OFF \
    -DBUILD_SHARED_LIBS=OFF -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DFAISS_OPT_LEVEL="$opt_level" \
    -DBLA_VENDOR=OpenBLAS
}

build_faiss() {
  cmake --build "$work/build" -j "$jobs" --target "$core_target" faiss_c
}

# Staged in $prefix.partial and renamed at the end, so a cache directory is complete or absent.
install_faiss() {
  local stage="$prefix.partial"
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
}

work=$(mktemp -d "${TMPDIR:-/tmp}/learnrec-faiss.XXXXXX")
trap 'rm -rf "$work"' EXIT

deb_src_before=$(deb_src_present)
run_step "fetching Debian's faiss source ${faiss_version} (apt-get source)" fetch_source
if [ "$(deb_src_present)" != "$deb_src_before" ]; then
  log "added deb-src entries derived from this machine's apt sources:" \
      "$(deb_src_present | paste -sd ' ')"
fi
src=$(find "$work" -mindepth 1 -maxdepth 1 -type d -name 'faiss-*' | head -n 1)

run_step "configuring FAISS (${variant}; cmake)" configure_faiss
run_step "building ${core_target} and faiss_c with ${jobs} jobs (about 3 minutes on 2 cores)" \
  build_faiss
run_step "installing into $prefix" install_faiss

log "FAISS ${faiss_version} (${variant}) installed in $prefix ($SECONDS s in all)"
[ "$print_prefix" -eq 1 ] && echo "$prefix"
exit 0
