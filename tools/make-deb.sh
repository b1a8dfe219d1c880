#!/usr/bin/env bash
# make deb: a Debian package of what `make install` puts in place, under /usr: the learnrec
# binary (FAISS linked in statically, as always), the client library with its header and
# pkg-config file, the systemd units, the HAProxy and rolling-publish scripts, the docs.
# Depends lists the Debian packages of the shared libraries the binary and the library load
# here (found with dpkg -S).
#
# usage: tools/make-deb.sh BUILD_DIR [OUT_DIR]   (writes OUT_DIR/learnrec_VERSION_ARCH.deb;
#                                                 OUT_DIR defaults to BUILD_DIR)
set -euo pipefail
case "${1:-}" in -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac
[ $# -ge 1 ] || { echo "usage: tools/make-deb.sh BUILD_DIR [OUT_DIR] (try --help)" >&2; exit 2; }
build="$(cd "$1" && pwd)" out="${2:-$1}"
[ -x "$build/learnrec" ] || { echo "tools/make-deb.sh: no learnrec in $build: build first (make build)" >&2; exit 1; }
mkdir -p "$out"
out="$(cd "$out" && pwd)"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
DESTDIR="$stage/root" cmake --install "$build" --prefix /usr > /dev/null
# the units were written for /usr/local (make install's default prefix)
sed -i 's|/usr/local/bin/learnrec|/usr/bin/learnrec|g' "$stage"/root/usr/lib/systemd/system/*
version=$("$build/learnrec" version | sed -n 's/^learnrec \([0-9][0-9.]*\).*/\1/p' | head -1)
[ -n "$version" ] || { echo "tools/make-deb.sh: cannot read the version from learnrec version" >&2; exit 1; }
arch=$(dpkg --print-architecture)
deps=$( { ldd "$build/learnrec"; ldd "$stage"/root/usr/lib/liblearnrec_client.so.*.*; } |
  sed -n 's/.* => \(\/[^ ]*\) .*/\1/p' | sort -u | while read -r lib; do
    dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || true
  done | cut -d: -f1 | sort -u | paste -sd, | sed 's/,/, /g')
mkdir -p "$stage/root/DEBIAN"
cat > "$stage/root/DEBIAN/control" <<CONTROL
Package: learnrec
Version: $version
Architecture: $arch
Maintainer: learnrec developers <learnrec@localhost>
Section: science
Priority: optional
Depends: $deps
Description: LLM-adapted two-tower retrieval engine (LEARN)
 learnrec trains the PAL towers over content embeddings, builds FAISS indexes of the item
 tower's outputs and serves recommendations over msgpack-rpc and HTTP. This package holds the
 learnrec command, the client library (liblearnrec_client, lr_rpc.h, learnrec-client.pc), the
 systemd units, the HAProxy and rolling-publish scripts and the documentation.
CONTROL
deb="$out/learnrec_${version}_${arch}.deb"
dpkg-deb --root-owner-group --build "$stage/root" "$deb" > /dev/null
echo "wrote $deb"
