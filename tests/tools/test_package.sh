#!/usr/bin/env bash
# The Debian package (issue 17 item 8): tools/make-deb.sh over the build, the package unpacked
# into a scratch root; `learnrec version` runs from it, the systemd units name its binary, and a
# program built against its client header, library and pkg-config file links and runs.
# usage: test_package.sh BUILD_DIR
set -u
build="$1"
here="$(cd "$(dirname "$0")" && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$here/cli_lib.sh"

if run make_deb 0 bash "$here/../../tools/make-deb.sh" "$build" "$tmp"; then
  deb=$(ls "$tmp"/learnrec_*.deb)
  run unpack 0 dpkg-deb -x "$deb" "$tmp/root"
  expect deb_depends_on_openmp_openblas "libopenblas0-openmp" "$(dpkg-deb -f "$deb" Depends)"
  run version_from_package 0 "$tmp/root/usr/bin/learnrec" version && expect version_names_faiss "faiss:" "$out"
  expect unit_uses_package_binary "ExecStart=/usr/bin/learnrec serve" "$(cat "$tmp/root/usr/lib/systemd/system/learnrec-serve.service")"
  cat > "$tmp/client.c" <<'C'
#include <stdio.h>
#include <lr_rpc.h>
int main(void) { /* nothing listens on port 1: the client must say so */
    lr_err err = {0};
    lr_rpc_client *c = NULL;
    int rc = lr_rpc_client_connect("127.0.0.1:1", 500, &c, &err);
    printf("rc %d: %s\n", rc, err.msg);
    lr_rpc_client_close(c);
    return rc == LR_OK;
}
C
  pc="$tmp/root/usr/lib/pkgconfig"
  if ldd "$tmp"/root/usr/lib/liblearnrec_client.so.0 | grep -q libasan; then
    echo "ok   client_checks skipped: a sanitizer build's library needs its runtime loaded first"
  elif run client_builds 0 sh -c "cc -std=c11 -o '$tmp/client' '$tmp/client.c' \$(PKG_CONFIG_PATH='$pc' pkg-config --cflags --libs learnrec-client)"; then
    run client_runs 0 env LD_LIBRARY_PATH="$tmp/root/usr/lib" "$tmp/client" &&
      expect client_reports_refused "connect(127.0.0.1:1): Connection refused" "$out"
  fi
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
