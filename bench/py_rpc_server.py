#!/usr/bin/python3
"""The reference Python msgpack-rpc server that `learnrec serve` is compared against.

A fair, straightforward Python implementation of the retrieval stage, over the same published
index: the user tower in PyTorch (bench/torch_pal.py's PAL with learnrec's safetensors weights),
the search in python3-faiss with the manifest's nprobe, optional exact re-scoring with the
published item vectors, removed ids skipped. One process, asyncio, torch and FAISS on one thread
each; every request is answered as soon as it is read (no batching across requests).

    /usr/bin/python3 bench/py_rpc_server.py --index DIR --model M.safetensors --content C.npy \\
        --listen 127.0.0.1:7080

Prints `listening on HOST:PORT` once bound (port 0: any free port; the real one is printed).

The wire protocol is docs/rpc.md's: requests [0, msgid, method, params], responses
[1, msgid, error, result], notifications [2, method, params]; params a map or [map]; errors
[code, message]. Methods: ping, stats, encode_user, recommend, search (with k, nprobe, exclude,
exclude_history, report, and the batch forms histories/vectors). The admin methods (add_items,
remove_items, reload) and `item` are not implemented: they answer unknown_method. An empty
history answers an empty list (learnrec serve without --data does the same). Bytes that are
not msgpack close the connection after a [1, 0, [1, msg], nil]; a frame larger than
--max-frame too, once that many bytes have arrived (msgpack's Unpacker does not act on a
length it has only seen in a header, as learnrec serve does).

The user tower takes learnrec's inference shortcut (the last block at the newest position only,
torch_pal.PAL.users_last), as torch_pal.py takes learnrec's training shortcuts, so that the
comparison measures the implementation and not the algorithm. Results equal learnrec's: user
vectors within ~4e-7 of `learnrec serve`'s encode_user, and the same top k as `learnrec search` on the
same index.

Needs Debian's interpreter: numpy, torch, msgpack, faiss (python3-faiss).
"""
import argparse
import asyncio
import json
import os
import sys
import time


def make_parser():
    """The command line, built before the heavy imports so that --help and a wrong option are
    answered where torch or faiss is not installed."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", required=True, help="a published learnrec index directory")
    ap.add_argument("--model", required=True, help="the towers' .safetensors")
    ap.add_argument("--content", help="the content .npy the items were embedded from")
    ap.add_argument("--listen", default="127.0.0.1:7080", help="HOST:PORT (port 0: any)")
    ap.add_argument("--max-frame", type=int, default=33554432)
    ap.add_argument("--max-history", type=int, default=10000)
    ap.add_argument("--max-k", type=int, default=1000)
    ap.add_argument("--max-batch", type=int, default=256)
    return ap


if __name__ == "__main__":
    make_parser().parse_args()  # --help, or exit 2 on a wrong option, before the heavy imports

# One thread each, set before the libraries load: torch.set_num_threads alone leaves Debian's
# OpenBLAS (under torch's and numpy's matrix products) starting a worker per core that spins
# between calls, which would take a second core away from the load generator.
for _v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_v] = "1"

import faiss  # noqa: E402
import msgpack  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import torch_pal  # noqa: E402

BAD_REQUEST, UNKNOWN_METHOD, NOT_FOUND, TOO_LARGE, INTERNAL = 1, 2, 3, 4, 9
MAX_EXTRA = 4096  # over-fetch bound for removed ids (index/tombstones.c)


class RpcError(Exception):
    def __init__(self, code, message):
        super().__init__(message)
        self.code, self.message = code, message


def _int(v, what):
    if isinstance(v, bool) or not isinstance(v, int):
        raise RpcError(BAD_REQUEST, f"{what} must be an integer")
    return v


def _ids(v, what):
    if not isinstance(v, list):
        raise RpcError(BAD_REQUEST, f"{what} must be an array of item ids")
    for x in v:
        if isinstance(x, bool) or not isinstance(x, int):
            raise RpcError(BAD_REQUEST, f"{what} must hold integer item ids")
    return v


class Engine:
    def __init__(self, args):
        self.model, self.cfg = torch_pal.load_pal(args.model)
        content = None
        if self.cfg["mode"] != "id":
            if not args.content:
                raise SystemExit(f"{args.model}: a {self.cfg['mode']}-mode model needs --content")
            # read once to compute the table below, then dropped
            content = torch.from_numpy(np.ascontiguousarray(np.load(args.content), np.float32))
        # every item's input row, computed once (learnrec's server keeps the same cache)
        self.table = torch_pal.item_inputs(self.model, self.cfg, content)
        self.n_known = self.table.shape[0]
        self.dim = self.cfg["out_dim"]

        base = os.path.join(args.index, "current")
        with open(os.path.join(base, "manifest.json")) as f:
            self.manifest = json.load(f)
        self.index = faiss.read_index(os.path.join(base, "index.faiss"))
        if self.index.d != self.dim:
            raise SystemExit(f"{base}: {self.index.d}-d index, the model outputs {self.dim}-d")
        self.factory = self.manifest.get("factory", "")
        self.ivf = None
        if self.factory.startswith("IVF"):
            try:
                self.ivf = faiss.extract_index_ivf(self.index)
            except Exception:
                self.ivf = None
        self.nprobe = int(self.manifest.get("nprobe", 0))
        if self.nprobe:
            faiss.ParameterSpace().set_index_parameter(self.index, "nprobe", self.nprobe)
        self.depth = int(self.manifest.get("rescore_depth", 0))
        self.vectors = None
        vpath = os.path.join(base, "vectors.npy")
        if self.depth and os.path.exists(vpath):
            v = np.load(vpath, mmap_mode="r")
            self.vectors = v if v.dtype == np.float32 else np.ascontiguousarray(v, np.float32)
        else:
            self.depth = 0
        self.removed = set()
        rpath = os.path.join(base, "removed.txt")
        if os.path.exists(rpath):
            with open(rpath) as f:
                self.removed = {int(x) for x in f.read().split()}
        self.version = self.manifest.get("version", os.path.basename(os.path.realpath(base)))
        self.started = time.monotonic()
        self.requests = 0
        self.max_history, self.max_k, self.max_batch = args.max_history, args.max_k, args.max_batch

    # ---- helpers -----------------------------------------------------------------------------

    def _k(self, p):
        k = _int(p.get("k", 10), "k")
        if k < 1:
            raise RpcError(BAD_REQUEST, "k must be at least 1")
        if k > self.max_k:
            raise RpcError(TOO_LARGE, f"k {k} is above the limit {self.max_k}")
        return k

    def _histories(self, p):
        """Returns (histories, batch): the known ids of each history and the unknown ones."""
        if "histories" in p and p["histories"] is not None:
            hs, batch = p["histories"], True
            if not isinstance(hs, list):
                raise RpcError(BAD_REQUEST, "histories must be an array of arrays of item ids")
            if len(hs) > self.max_batch:
                raise RpcError(TOO_LARGE, f"{len(hs)} histories, the limit is {self.max_batch}")
        elif "history" in p and p["history"] is not None:
            hs, batch = [p["history"]], False
        else:
            raise RpcError(BAD_REQUEST, "missing history (or histories)")
        known, unknown = [], []
        for h in hs:
            _ids(h, "history")
            if len(h) > self.max_history:
                raise RpcError(TOO_LARGE, f"history of {len(h)} ids, the limit is {self.max_history}")
            n = self.n_known
            known.append([x for x in h if 0 <= x < n])
            unknown.append([x for x in h if not 0 <= x < n])
        return known, unknown, batch

    def _vectors(self, p):
        if "vectors" in p and p["vectors"] is not None:
            vs, batch = p["vectors"], True
            if not isinstance(vs, list):
                raise RpcError(BAD_REQUEST, "vectors must be an array of float arrays")
            if len(vs) > self.max_batch:
                raise RpcError(TOO_LARGE, f"{len(vs)} vectors, the limit is {self.max_batch}")
        elif "vector" in p and p["vector"] is not None:
            vs, batch = [p["vector"]], False
        else:
            raise RpcError(BAD_REQUEST, "missing vector (or vectors)")
        for v in vs:
            if not isinstance(v, list) or len(v) != self.dim:
                raise RpcError(BAD_REQUEST, f"a vector must be an array of {self.dim} numbers")
        try:
            q = np.array(vs, dtype=np.float32)
        except (TypeError, ValueError):
            raise RpcError(BAD_REQUEST, "a vector must hold numbers only")
        if q.dtype != np.float32 or q.shape != (len(vs), self.dim):
            raise RpcError(BAD_REQUEST, "a vector must hold numbers only")
        if not np.isfinite(q).all():
            raise RpcError(BAD_REQUEST, "a vector has a NaN or Inf value")
        return q, batch

    def _nprobe(self, p):
        n = p.get("nprobe")
        if n is None:
            return None
        n = _int(n, "nprobe")
        if n < 1:
            raise RpcError(BAD_REQUEST, "nprobe must be at least 1")
        return n

    def _search(self, q, k, nprobe, excludes):
        """Top k per row of q (nq, D) float32: faiss, exact re-scoring of the best max(depth, k)
        candidates, removed and excluded ids skipped. Returns a list of [[id, score], ...]."""
        extra = min(len(self.removed), MAX_EXTRA) + max((len(e) for e in excludes), default=0)
        want = k + extra
        fetch = max(self.depth, want) if self.depth else want
        params = None
        if nprobe is not None and self.ivf is not None:
            params = faiss.SearchParametersIVF(nprobe=min(nprobe, self.ivf.nlist))
        if params is not None:
            D, I = self.index.search(q, fetch, params=params)
        else:
            D, I = self.index.search(q, fetch)
        out = []
        for r in range(q.shape[0]):
            ids, scores = I[r], D[r]
            ok = ids >= 0
            ids, scores = ids[ok], scores[ok]
            if self.depth:
                inside = ids < self.vectors.shape[0]
                if inside.any():
                    scores = scores.copy()
                    scores[inside] = self.vectors[ids[inside]] @ q[r]
                order = np.lexsort((ids, -scores))  # best first, ties by id
                ids, scores = ids[order], scores[order]
            skip = excludes[r]
            res = []
            for i, s in zip(ids.tolist(), scores.tolist()):
                if i in skip or i in self.removed:
                    continue
                res.append([i, s])
                if len(res) == k:
                    break
            out.append(res)
        return out

    def _excludes(self, p, n, histories=None):
        ex = p.get("exclude")
        base = set(_ids(ex, "exclude")) if ex is not None else set()
        eh = p.get("exclude_history", False)
        if not isinstance(eh, bool):
            raise RpcError(BAD_REQUEST, "exclude_history must be true or false")
        if eh and histories is not None:
            return [base | set(h) for h in histories]
        return [base] * n

    # ---- methods -----------------------------------------------------------------------------

    def ping(self, p):
        return 1

    def stats(self, p):
        # the names learnrec serve uses (its stats has no uptime or requests yet)
        return {"version": self.version, "factory": self.factory, "count": int(self.index.ntotal),
                "dim": int(self.index.d), "nprobe": self.nprobe, "rescore_depth": self.depth,
                "removed": len(self.removed), "threads": 1, "queue_depth": 0,
                "uptime": time.monotonic() - self.started, "requests": self.requests}

    def encode_user(self, p):
        known, _, batch = self._histories(p)
        u = torch_pal.user_vectors(self.model, self.table, known).numpy()
        return u.tolist() if batch else u[0].tolist()

    def recommend(self, p):
        known, unknown, batch = self._histories(p)
        k, nprobe = self._k(p), self._nprobe(p)
        report = p.get("report", False)
        if not isinstance(report, bool):
            raise RpcError(BAD_REQUEST, "report must be true or false")
        raw = p["histories"] if batch else [p["history"]]
        excludes = self._excludes(p, len(known), raw)
        u = torch_pal.user_vectors(self.model, self.table, known).numpy()
        nonempty = [i for i, h in enumerate(known) if h]
        results = [[] for _ in known]
        if nonempty:
            q = u if len(nonempty) == len(known) else u[nonempty]
            found = self._search(q, k, nprobe, [excludes[i] for i in nonempty])
            for i, r in zip(nonempty, found):
                results[i] = r
        if report:
            results = [{"items": r, "unknown": un} for r, un in zip(results, unknown)]
        return results if batch else results[0]

    def search(self, p):
        q, batch = self._vectors(p)
        k, nprobe = self._k(p), self._nprobe(p)
        found = self._search(q, k, nprobe, self._excludes(p, q.shape[0]))
        return found if batch else found[0]

    METHODS = {"ping": ping, "stats": stats, "encode_user": encode_user, "recommend": recommend,
               "search": search}

    def call(self, method, params):
        """Runs one request: returns (error, result)."""
        self.requests += 1
        if isinstance(method, bytes):
            try:
                method = method.decode("utf-8")
            except UnicodeDecodeError:
                return [BAD_REQUEST, "the method name is not UTF-8"], None
        if not isinstance(method, str):
            return [BAD_REQUEST, "the method name must be a string"], None
        fn = self.METHODS.get(method)
        if fn is None:
            return [UNKNOWN_METHOD, f"unknown method '{method[:64]}'"], None
        if params is None:
            params = {}
        elif isinstance(params, list) and len(params) == 1 and isinstance(params[0], dict):
            params = params[0]
        elif isinstance(params, list) and not params:
            params = {}
        if not isinstance(params, dict):
            return [BAD_REQUEST, "params must be a map or an array holding one map"], None
        try:
            return None, fn(self, params)
        except RpcError as e:
            return [e.code, e.message], None
        except Exception as e:  # the engine failed: say so, keep serving
            return [INTERNAL, f"{type(e).__name__}: {e}"], None


class Connection(asyncio.Protocol):
    def __init__(self, engine, max_frame):
        self.engine = engine
        self.unpacker = msgpack.Unpacker(raw=False, max_buffer_size=max_frame,
                                         strict_map_key=False)
        self.packer = msgpack.Packer(use_single_float=True)
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport

    def _fail(self, message):
        try:
            self.transport.write(self.packer.pack([1, 0, [BAD_REQUEST, message], None]))
        finally:
            self.transport.close()

    def data_received(self, data):
        try:
            self.unpacker.feed(data)
        except msgpack.BufferFull:
            return self._fail("frame larger than the limit")
        try:
            for msg in self.unpacker:  # every complete frame, each answered as soon as it is done
                if self.transport.is_closing():
                    return
                kind = msg[0] if isinstance(msg, list) and msg else None
                msgid = msg[1] if kind == 0 and len(msg) == 4 else None
                if kind == 0 and not isinstance(msgid, bool) and isinstance(msgid, int) and \
                        0 <= msgid <= 0xffffffff:
                    err, res = self.engine.call(msg[2], msg[3])
                    self.transport.write(self.packer.pack([1, msgid, err, res]))
                elif kind == 2 and len(msg) == 3:  # notification: run, never answered
                    self.engine.call(msg[1], msg[2])
                else:  # msgpack, but not a request: answered, the connection stays
                    self.transport.write(self.packer.pack(
                        [1, 0, [BAD_REQUEST, "expected a request [0, msgid, method, params] or a "
                                "notification [2, method, params]"], None]))
        except (msgpack.UnpackException, ValueError) as e:
            return self._fail(f"cannot parse the frame: {e}")


async def serve(args):
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    faiss.omp_set_num_threads(1)
    engine = Engine(args)
    host, _, port = args.listen.rpartition(":")
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: Connection(engine, args.max_frame), host or "0.0.0.0",
                                      int(port), reuse_address=True)
    real = server.sockets[0].getsockname()[1]
    print(f"listening on {host}:{real}", flush=True)
    stop = asyncio.Event()
    import signal
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main():
    args = make_parser().parse_args()
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
