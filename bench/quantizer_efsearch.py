#!/usr/bin/env python3
"""Recall@100 of an IVF index with an HNSW coarse quantizer as its quantizer's efSearch grows.

usage: /usr/bin/python3 bench/quantizer_efsearch.py INDEX.faiss ITEMS.npy QUERIES.npy

INDEX.faiss: e.g. the IVF16384_HNSW32,SQ8 file bench/towers_index.sh leaves in its OUTDIR;
ITEMS.npy / QUERIES.npy: the vectors it was built on and the queries (bench_index --save 1
writes both). Exact inner-product search is the ground truth. FAISS 1.7.3 searches the centroid
graph with efSearch 16 unless told otherwise, whatever nprobe asks for: this shows what that
costs in recall. Timings are of Debian's generic python3-faiss build, for comparison only.
Needs python3-faiss and numpy.
"""
import sys
import time

import numpy as np


def main():
    if len(sys.argv) != 4 or sys.argv[1] in ("-h", "--help"):
        print(__doc__)
        sys.exit(0 if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help") else 2)
    import faiss
    x, q = np.load(sys.argv[2]), np.load(sys.argv[3])[:1000]
    k = 100
    flat = faiss.IndexFlatIP(x.shape[1])
    flat.add(x)
    _, exact = flat.search(q, k)
    del flat
    ix = faiss.read_index(sys.argv[1])
    ps = faiss.ParameterSpace()
    faiss.omp_set_num_threads(1)
    print("| quantizer efSearch | nprobe | recall@100 | QPS, batch of %d, generic build |" % len(q))
    print("|---|---|---|---|")
    for efs in (16, 64, 256):
        for nprobe in (64, 128, 256):
            ps.set_index_parameter(ix, "nprobe", nprobe)
            ps.set_index_parameter(ix, "quantizer_efSearch", max(efs, nprobe) if efs > 16 else 16)
            t = time.perf_counter()
            _, found = ix.search(q, k)
            dt = time.perf_counter() - t
            r = np.mean([len(set(a) & set(b)) / k for a, b in zip(found, exact)])
            print("| %d | %d | %.4f | %.0f |" % (max(efs, nprobe) if efs > 16 else 16, nprobe, r, len(q) / dt), flush=True)


if __name__ == "__main__":
    main()
