#!/usr/bin/python3
"""Checks a published index directory from outside learnrec, the way bench/faults.sh needs it.

usage: bench/faults_check.py IXDIR

Prints one line of key=value pairs:
  current     the version `current` names (a relative link to versions/vNNNNNN), or "none"
  versions    version directories under versions/
  complete    of those, the ones whose every file has the checksum its manifest records, and
              whose manifest (format 3) carries its own checksum, verified
  partial     the others: a version directory with a file missing, extra, or damaged
  temporaries what a crashed or failed publish leaves: versions/.tmp-*, .current.tmp.*, and
              *.tmp.* files inside version directories
  newest      the highest version directory
  tmpdirs     of the temporaries, versions/.tmp-* (a version being written, or being pruned)
  tmplinks    of the temporaries, .current.tmp.* (a new `current` not yet renamed over it)
Exit 0 when `current` names a complete version and no version is partial, 1 otherwise (the
first problem found goes to stderr), 2 on a usage error. An independent implementation of the
checks of index/publish.c and index/manifest_seal.c, from their description in
docs/operations.md.
"""
import argparse
import json
import os
import re
import sys
import zlib

SEAL_KEY = b'"manifest_crc32": '
SEAL_END = b"\n}\n"


def crc_of(path):
    crc = 0
    with open(path, "rb") as f:
        while True:
            block = f.read(1 << 20)
            if not block:
                return crc
            crc = zlib.crc32(block, crc)


def manifest_problem(text, fmt):
    """None when the manifest's own checksum holds (or it is format 1 or 2, which has none)."""
    at = text.rfind(SEAL_KEY)
    if at < 0:
        return None if fmt < 3 else "format %d without its checksum" % fmt
    digits = at + len(SEAL_KEY)
    m = re.match(rb"[0-9]{1,10}", text[digits:])
    if not m or text[digits + m.end():] != SEAL_END:
        return "checksum not followed by the end"
    if zlib.crc32(text[:digits]) != int(m.group(0)):
        return "checksum mismatch"
    return None


def version_problem(vdir):
    """None when the version directory is complete, else what is wrong with it."""
    path = os.path.join(vdir, "manifest.json")
    try:
        with open(path, "rb") as f:
            text = f.read()
        man = json.loads(text)
    except (OSError, ValueError) as e:
        return "manifest: %s" % e
    bad = manifest_problem(text, int(man.get("format_version", 0)))
    if bad:
        return "manifest: " + bad
    want = {"manifest.json": None, "index.faiss": man["index_crc32"]}
    if man.get("rescore_depth", 0):
        want["vectors.npy"] = man["vectors_crc32"]
    if man.get("removed_count", 0):
        want["removed.txt"] = man["removed_crc32"]
    have = set(os.listdir(vdir))
    if have != set(want):
        return "files %s, expected %s" % (sorted(have), sorted(want))
    for name, crc in want.items():
        if crc is not None and crc_of(os.path.join(vdir, name)) != crc:
            return "%s: checksum mismatch" % name
    return None


def main():
    ap = argparse.ArgumentParser(description="Checks a published index directory (see the module text).")
    ap.add_argument("ixdir")
    a = ap.parse_args()
    vroot = os.path.join(a.ixdir, "versions")
    names = sorted(os.listdir(vroot)) if os.path.isdir(vroot) else []
    versions = [n for n in names if re.fullmatch(r"v[0-9]{6}", n)]
    temporaries = [n for n in names if n.startswith(".tmp-")]
    temporaries += [n for n in os.listdir(a.ixdir) if n.startswith(".current.tmp.")] if os.path.isdir(a.ixdir) else []
    problems = {}
    for v in versions:
        vdir = os.path.join(vroot, v)
        temporaries += [v + "/" + n for n in os.listdir(vdir) if ".tmp." in n]
        p = version_problem(vdir)
        if p:
            problems[v] = p
    link = os.path.join(a.ixdir, "current")
    target = os.readlink(link) if os.path.islink(link) else ""
    current = target[len("versions/"):] if re.fullmatch(r"versions/v[0-9]{6}", target) else "none"
    tmpdirs = sum(1 for n in names if n.startswith(".tmp-"))
    print("current=%s versions=%d complete=%d partial=%d temporaries=%d newest=%s tmpdirs=%d tmplinks=%d" % (
        current, len(versions), len(versions) - len(problems), len(problems), len(temporaries),
        versions[-1] if versions else "none", tmpdirs, len(temporaries) - tmpdirs - sum(".tmp." in t for t in temporaries)))
    if temporaries:
        print("  temporaries: %s" % " ".join(temporaries[:10]))
    for v, p in problems.items():
        print("%s: %s" % (v, p), file=sys.stderr)
    if current == "none" or current not in versions:
        print("current (%r) names no version" % target, file=sys.stderr)
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
