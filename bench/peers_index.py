#!/usr/bin/python3
"""The peers of learnrec's index on the same vectors: hnswlib and raw FAISS (Python).

usage: /usr/bin/python3 bench/peers_index.py PREFIX FACTORY

Reads PREFIX_x.npy and PREFIX_q.npy written by `bench_index --save 1 --out PREFIX`, measures
build time, resident memory and recall@100 (against exact inner-product search) versus queries
per second on one thread, one query at a time and in batches of 64, appends the rows to
PREFIX.csv (next to learnrec's) and draws every engine's curve in PREFIX_all.svg.

    build/bench/bench_index --save 1 --out /tmp/bi            # learnrec, and the vectors
    /usr/bin/python3 bench/peers_index.py /tmp/bi IVF4000,SQ8

(bench/index_all.sh runs both of the issue's datasets this way.) Raw FAISS here is Debian's
python3-faiss: the same source, the generic (non-AVX2) build behind Python. The same-build raw
FAISS peer is measured by bench_index itself ("faiss-c" rows).

Needs Debian's python3-hnswlib and python3-faiss (bench only: `apt-get install python3-hnswlib
python3-faiss`); never a build dependency.
"""
import csv
import math
import sys
import time

import numpy as np


def rss_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1048576


def recall(found, exact):
    k = exact.shape[1]
    return sum(len(set(a) & set(b)) for a, b in zip(found, exact)) / (len(exact) * k)


def sweep(name, search, settings, q, exact, k, rows):
    """search(setting, queries, k) -> ids; times single queries and batches of 64."""
    for s in settings:
        t = time.perf_counter()
        ids = np.vstack([search(s, q[i:i + 1], k) for i in range(len(q))])
        qps1 = len(q) / (time.perf_counter() - t)
        nb = len(q) // 64 * 64
        t = time.perf_counter()
        for i in range(0, nb, 64):
            search(s, q[i:i + 64], k)
        qps64 = nb / (time.perf_counter() - t)
        r = recall(ids, exact)
        rows.append([name, s, r, qps1, qps64])
        print("| %s | %s | %.4f | %.0f | %.0f |" % (name, s, r, qps1, qps64), flush=True)


def svg(path, rows, title):
    W, H, L, R, T, B = 760, 500, 70, 20, 40, 60
    qmax = max(max(r[3], r[4]) for r in rows)
    lmax = math.ceil(math.log10(qmax))
    lmin = lmax - 4
    colours = ["#1f77b4", "#aec7e8", "#d62728", "#ff9896", "#2ca02c", "#98df8a", "#9467bd",
               "#c5b0d5", "#ff7f0e", "#ffbb78"]
    out = ["<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='12'>" % (W, H),
           "<rect width='100%%' height='100%%' fill='white'/><text x='%d' y='24' font-size='14'>%s</text>" % (L, title)]
    for d in range(5):
        y = T + (H - T - B) * (1 - d / 4)
        out.append("<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#ddd'/><text x='5' y='%.1f'>1e%d</text>" % (L, y, W - R, y, y + 4, lmin + d))
    for r10 in range(0, 11, 2):
        x = L + (W - L - R) * r10 / 10
        out.append("<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#ddd'/><text x='%.1f' y='%d'>%.1f</text>" % (x, T, x, H - B, x - 8, H - B + 18, 0.5 + r10 / 20))
    out.append("<text x='%d' y='%d'>recall@100</text><text x='5' y='%d'>QPS (one thread)</text>" % (W // 2, H - 20, T - 8))
    series = []
    for r in rows:
        for mode, qps in (("1 query", r[3]), ("batch 64", r[4])):
            key = "%s, %s" % (r[0], mode)
            if key not in series:
                series.append(key)
    for i, key in enumerate(series):
        c = colours[i % len(colours)]
        pts = []
        for r in rows:
            for mode, qps in (("1 query", r[3]), ("batch 64", r[4])):
                if "%s, %s" % (r[0], mode) == key and r[2] >= 0.5 and qps > 0:
                    pts.append((L + (W - L - R) * (r[2] - 0.5) / 0.5,
                                T + (H - T - B) * (1 - (math.log10(qps) - lmin) / 4)))
        # the Pareto frontier: for each recall, the fastest setting (settings that are both
        # slower and less accurate than another are left out)
        pts.sort(key=lambda p: (-p[0], p[1]))
        front, best_y = [], float("inf")
        for p in pts:
            if p[1] < best_y:  # smaller y is more QPS
                front.append(p)
                best_y = p[1]
        pts = sorted(front)
        if pts:
            out.append("<polyline fill='none' stroke='%s' points='%s'/>" % (c, " ".join("%.1f,%.1f" % p for p in pts)))
        for x, y in pts:
            out.append("<circle cx='%.1f' cy='%.1f' r='2.5' fill='%s'/>" % (x, y, c))
        out.append("<text x='%d' y='%d' fill='%s'>%s</text>" % (L + 10, H - B - 12 - 15 * (len(series) - 1 - i), c, key))
    out.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(out))


def main():
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        sys.exit(0)
    if len(sys.argv) != 3 or any(a.startswith("-") for a in sys.argv[1:]):
        print("usage: /usr/bin/python3 bench/peers_index.py PREFIX FACTORY (try --help)", file=sys.stderr)
        sys.exit(2)
    prefix, factory = sys.argv[1], sys.argv[2]
    import faiss
    import hnswlib
    x = np.load(prefix + "_x.npy")
    q = np.load(prefix + "_q.npy")
    n, d = x.shape
    k = 100
    flat = faiss.IndexFlatIP(d)
    flat.add(x)
    _, exact = flat.search(q, k)
    del flat
    rows = []
    print("| engine | setting | recall@100 | QPS, 1 query | QPS, batches of 64 |\n|---|---|---|---|---|")

    # raw FAISS, the same factory string, trained on the same kind of sample
    faiss.omp_set_num_threads(2)
    m0, t = rss_mb(), time.perf_counter()
    ix = faiss.index_factory(d, factory, faiss.METRIC_INNER_PRODUCT)
    nlist = int(factory.split(",")[0][3:])
    m = min(n, 64 * nlist)
    ix.train(np.ascontiguousarray(x[:: max(1, n // m)][:m]))
    ix.add(x)
    print("faiss %s: built in %.1f s (2 threads), +%.0f MB" % (factory, time.perf_counter() - t, rss_mb() - m0), file=sys.stderr)
    faiss.omp_set_num_threads(1)
    ps = faiss.ParameterSpace()

    def faiss_search(nprobe, qq, kk):
        ps.set_index_parameter(ix, "nprobe", nprobe)
        return ix.search(qq, kk)[1]
    sweep("faiss-py " + factory, faiss_search, [1, 2, 4, 8, 16, 32, 64], q, exact, k, rows)
    if "PQ" in factory:  # PQ codes alone rank poorly: FAISS's own exact re-ranking, 8x deep
        refine = faiss.IndexRefineFlat(ix, faiss.swig_ptr(x))
        refine.k_factor = 8

        def refine_search(nprobe, qq, kk):
            ps.set_index_parameter(ix, "nprobe", nprobe)
            return refine.search(qq, kk)[1]
        sweep("faiss-py %s + RFlat x8" % factory, refine_search, [4, 8, 16], q, exact, k, rows)
        del refine
    del ix

    # hnswlib
    m0, t = rss_mb(), time.perf_counter()
    h = hnswlib.Index(space="ip", dim=d)
    h.init_index(max_elements=n, M=16, ef_construction=100, random_seed=1)
    h.set_num_threads(2)
    h.add_items(x)
    print("hnswlib M16 efC100: built in %.1f s (2 threads), +%.0f MB" % (time.perf_counter() - t, rss_mb() - m0), file=sys.stderr)
    h.set_num_threads(1)

    def hnsw_search(ef, qq, kk):
        h.set_ef(ef)
        return h.knn_query(qq, k=kk)[0]
    sweep("hnswlib M16", hnsw_search, [100, 150, 200, 250, 300, 400], q, exact, k, rows)

    with open(prefix + ".csv") as f:
        mine = [r for r in csv.reader(f)][1:]
    allrows = [[r[0], "nprobe %s depth %s" % (r[1], r[2]), float(r[3]), float(r[4]), float(r[5])] for r in mine]
    with open(prefix + ".csv", "a") as f:
        w = csv.writer(f)
        for r in rows:
            w.writerow([r[0], r[1], "", "%.4f" % r[2], "%.1f" % r[3], "%.1f" % r[4]])
    svg(prefix + "_all.svg", allrows + rows, "%d x %d vectors: recall@100 vs QPS, one thread" % (n, d))
    print("wrote %s.csv and %s_all.svg" % (prefix, prefix))


if __name__ == "__main__":
    main()
