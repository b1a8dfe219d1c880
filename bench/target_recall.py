"""Does build-index's --target-recall hold on queries it was not tuned on?

Builds an index with `learnrec build-index` (default tuning: no --queries) and measures, through
`learnrec search`, the recall@10 and recall@100 of fresh queries drawn from the same distribution
as the items (not copies of items, and not indexed), against exact inner-product search (numpy).
With --queries it also tunes a second index on those query vectors and measures both indexes on
them (e.g. user-tower outputs, which come from another distribution than the items).

usage: /usr/bin/python3 bench/target_recall.py LEARNREC OUTDIR
           (--clustered N | --items X.npy) [--fresh 1000] [--queries Q.npy] [--target 0.95]
           [--old-learnrec OLD_BIN]
  --clustered N   N unit vectors (64-d) around 1,000 random centres, as bench_index draws them;
                  the fresh queries are further draws from the same centres
  --noise S       the clustered points' noise per dimension (default 0.35; centres are N(0, 1))
  --items X.npy   given vectors (e.g. item-tower outputs): --fresh rows drawn at random are held
                  out of the index and serve as the fresh queries
  --old-learnrec  the same build-index run with another binary (an older version), for comparison
Prints one table row per (binary, index, query set, k): the operating point the index chose and
the recall measured. Needs /usr/bin/python3 with numpy.
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

import numpy as np


def clustered(n, dim, rng, centres, noise):
    c = centres[rng.integers(0, len(centres), n)]
    x = c + noise * rng.standard_normal((n, dim), dtype=np.float32)
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def exact_topk(x, q, k, chunk=256):
    out = np.empty((len(q), k), np.int64)
    for i in range(0, len(q), chunk):
        s = q[i:i + chunk] @ x.T
        part = np.argpartition(-s, k, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(s, part, axis=1), axis=1)
        out[i:i + chunk] = np.take_along_axis(part, order, axis=1)
    return out


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s%s" % (" ".join(cmd), r.stdout, r.stderr))
    return r.stdout


def searched_recall(learnrec, ix, qpath, q, x, k, out):
    jpath = os.path.join(out, "r.json")
    run([learnrec, "search", "--index", ix, "--vectors", qpath, "-k", str(k), "--json", jpath])
    with open(jpath) as f:
        res = json.load(f)["results"]
    truth = exact_topk(x, q, k)
    hit = sum(len(set(t.tolist()) & {r[0] for r in row}) for t, row in zip(truth, res))
    return hit / (len(q) * k)


def points(learnrec, ix, log):
    """The operating points of an index; an older learnrec tuned one setting for k = 10 and said
    so in its build-index line."""
    info = json.loads(run([learnrec, "index", "info", ix, "--json"]))
    if info.get("operating_points"):
        return info["operating_points"]
    m = re.search(r"nprobe (\d+), re-scoring depth (\d+): recall@10 ([0-9.]+)", log)
    return [{"k": "all", "nprobe": int(m.group(1)), "rescore_depth": int(m.group(2)),
             "recall": float(m.group(3))}]


def point_for(pts, k):
    for p in pts:
        if p["k"] == "all" or p["k"] >= k:
            return p
    return pts[-1]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("learnrec")
    ap.add_argument("out")
    ap.add_argument("--clustered", type=int)
    ap.add_argument("--noise", type=float, default=0.35)
    ap.add_argument("--centres", type=int, default=1000)
    ap.add_argument("--items")
    ap.add_argument("--fresh", type=int, default=1000)
    ap.add_argument("--queries")
    ap.add_argument("--target", type=float, default=0.95)
    ap.add_argument("--old-learnrec")
    a = ap.parse_args()
    if bool(a.clustered) == bool(a.items):
        sys.exit("give one of --clustered N and --items X.npy")
    os.makedirs(a.out, exist_ok=True)
    rng = np.random.default_rng(2026)
    if a.clustered:
        centres = rng.standard_normal((a.centres, 64), dtype=np.float32)
        x = clustered(a.clustered, 64, rng, centres, a.noise)
        fresh = clustered(a.fresh, 64, rng, centres, a.noise)
        what = "%d clustered unit vectors (64-d, %d centres, noise %.2f)" % (a.clustered, a.centres, a.noise)
    else:
        allx = np.load(a.items).astype(np.float32)
        held = np.zeros(len(allx), bool)
        held[rng.choice(len(allx), a.fresh, replace=False)] = True
        x, fresh = allx[~held], allx[held]
        what = "%s less %d rows held out (%d x %d)" % (a.items, a.fresh, len(x), x.shape[1])
    xpath, fpath = os.path.join(a.out, "x.npy"), os.path.join(a.out, "fresh.npy")
    np.save(xpath, x)
    np.save(fpath, fresh)
    sets = [("fresh items", fpath, fresh)]
    if a.queries:
        uq = np.load(a.queries).astype(np.float32)
        uq = uq[np.linalg.norm(uq, axis=1) > 0]
        uq = uq[rng.choice(len(uq), min(len(uq), 1000), replace=False)]
        upath = os.path.join(a.out, "users.npy")
        np.save(upath, uq)
        sets.append(("users", upath, uq))
    print("## %s, target recall %.2f\n" % (what, a.target))
    print("| binary | tuned on | queries | k | nprobe | re-scored | recall at tuning | recall measured |")
    print("|---|---|---|---|---|---|---|---|")
    bins = ([("new", a.learnrec)] if a.learnrec != "-" else []) + ([("old", a.old_learnrec)] if a.old_learnrec else [])
    for name, binary in bins:
        builds = [("default", [])]
        if a.queries and name == "new":
            builds.append(("--queries", ["--queries", os.path.join(a.out, "tune_users.npy")]))
            # tune on other users than the ones measured
            allu = np.load(a.queries).astype(np.float32)
            allu = allu[np.linalg.norm(allu, axis=1) > 0]
            np.save(os.path.join(a.out, "tune_users.npy"), allu[rng.choice(len(allu), min(len(allu), 2000), replace=False)])
        for bname, extra in builds:
            ix = os.path.join(a.out, "ix-%s-%s" % (name, bname.strip("-")))
            run(["rm", "-rf", ix])
            t0 = time.time()
            log = run([binary, "build-index", "--items", xpath, "--out", ix, "--target-recall", str(a.target)] + extra)
            took = time.time() - t0
            pts = points(binary, ix, log)
            for sname, spath, sq in sets:
                for k in (10, 100):
                    p = point_for(pts, k)
                    r = searched_recall(binary, ix, spath, sq, x, k, a.out)
                    tuned = "%.3f" % p["recall"] + ("" if p["k"] != "all" else " (at k=10)")
                    print("| %s | %s | %s | %d | %s | %s | %s | **%.3f** |" % (
                        name, bname, sname, k, p["nprobe"], p["rescore_depth"], tuned, r), flush=True)
            sys.stderr.write("%s %s: build-index %.1f s\n%s" % (name, bname, took, log))
    print("\ncommand: /usr/bin/python3 bench/target_recall.py %s" % " ".join(sys.argv[1:]))


if __name__ == "__main__":
    main()
