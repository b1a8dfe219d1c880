"""Interop test of `learnrec serve` with a msgpack-rpc client nobody here wrote: Debian's
python3-msgpack (msgpack.Packer / msgpack.Unpacker(raw=False)) over a raw socket, plus urllib
for the HTTP side. The protocol under test is docs/rpc.md.

usage: /usr/bin/python3 test_interop.py LEARNREC_BIN WORKDIR

It builds its own small world with the command line (synthetic dataset, content, a small model,
a Flat and an IVF8,SQ8 index), starts the server, and prints one `ok NAME` / `FAIL NAME` line per
check; the exit status is 1 when any check failed. The work directory is removed when every
check passed and kept otherwise."""
import json
import math
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import msgpack
import numpy as np

learnrec, workroot = os.path.abspath(sys.argv[1]), sys.argv[2]
os.makedirs(workroot, exist_ok=True)
W = tempfile.mkdtemp(prefix="interop-", dir=workroot)
TOKEN = "secret"
NEW_ID = 100000
T_START = time.monotonic()

# Tolerance for scores and vector elements computed twice by the same towers (the server's
# request path vs the offline embed-users/search commands, or vs itself): both are float32 with
# possibly different batch composition and so different summation order inside the matrix
# products. Each dot product of two unit vectors of dimension 16 is then off by a few float32
# ulps per layer (about 1e-7 each), so 1e-5 is a hundredfold margin that still catches any real
# difference (a wrong position, a missing layer norm, a different history cut all move scores by
# 1e-2 or more).
TOL = 1e-5

results = []


def check(fn):
    """Runs a named check now: prints ok/FAIL, records the outcome."""
    t0 = time.monotonic()
    try:
        fn()
        results.append(True)
        print("ok   %s (%.1f s)" % (fn.__name__, time.monotonic() - t0), flush=True)
    except Exception as e:  # an assertion, or the server misbehaving (timeout, reset, ...)
        results.append(False)
        print("FAIL %s\n  %s: %s" % (fn.__name__, type(e).__name__, e), flush=True)
    return fn


def run(*args):
    """Runs a learnrec command; raises with its stderr when it fails."""
    cmd = [learnrec] + [str(a) for a in args]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (" ".join(cmd[1:3]), p.returncode, p.stdout,
                                                      p.stderr))
    return p.stdout


# ---- a msgpack-rpc client over a raw socket -----------------------------------------------------

class Client:
    def __init__(self, port, timeout=10.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.packer = msgpack.Packer(use_bin_type=True)
        self.msgid = 0
        self.stash = {}

    def close(self):
        self.sock.close()

    def frame(self, method, params, msgid=None):
        if msgid is None:
            self.msgid += 1
            msgid = self.msgid
        return msgid, self.packer.pack([0, msgid, method, params])

    def recv(self):
        """The next message from the server; EOFError when it closed the connection."""
        while True:
            for msg in self.unpacker:
                return msg
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("the server closed the connection")
            self.unpacker.feed(data)

    def response(self, msgid):
        while msgid not in self.stash:
            msg = self.recv()
            assert isinstance(msg, list) and len(msg) == 4 and msg[0] == 1, "not a response: %r" % (msg,)
            self.stash[msg[1]] = msg
        return self.stash.pop(msgid)

    def call(self, method, params=None):
        """Returns (error, result) of one request."""
        msgid, data = self.frame(method, params)
        self.sock.sendall(data)
        _, _, err, res = self.response(msgid)
        return err, res

    def ok(self, method, params=None):
        err, res = self.call(method, params)
        assert err is None, "%s: error %r" % (method, err)
        return res


def expect_error(client, code, method, params):
    err, res = client.call(method, params)
    assert err is not None, "%s %r: no error, result %r" % (method, params, res)
    assert isinstance(err, list) and len(err) == 2 and err[0] == code and isinstance(err[1], str), \
        "%s %r: error %r, expected [%d, message]" % (method, params, err, code)
    assert res is None, "an error response carries result %r, expected nil" % (res,)


def closed_by_server(sock, timeout=5.0):
    """Reads until EOF. The server may first send one [1, 0, [1, "..."], nil]; anything else, or
    no EOF within the timeout, fails."""
    unp = msgpack.Unpacker(raw=False)
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        assert left > 0, "the connection is still open after %.0f s" % timeout
        sock.settimeout(left)
        try:
            data = sock.recv(1 << 16)
        except ConnectionResetError:
            return
        except socket.timeout:
            raise AssertionError("the connection is still open after %.0f s" % timeout)
        if not data:
            return
        unp.feed(data)
        for msg in unp:
            assert isinstance(msg, list) and len(msg) == 4 and msg[0] == 1 and msg[1] == 0 and \
                isinstance(msg[2], list) and msg[2][0] == 1 and msg[3] is None, \
                "before closing, expected [1, 0, [1, msg], nil], got %r" % (msg,)


def same_ranking(got, want, tol=TOL, what=""):
    """got and want are [[id, score], ...] best first. Scores must agree within tol position by
    position; ids must agree except where the reference has a near tie (two scores within 2 tol,
    whose order float rounding may flip) or at the last position (which may swap with the first
    item past k when they nearly tie)."""
    assert len(got) == len(want), "%s%d results, expected %d" % (what, len(got), len(want))
    for i, ((gi, gs), (wi, ws)) in enumerate(zip(got, want)):
        assert abs(gs - ws) <= tol, "%sposition %d: score %.8f, expected %.8f (id %d vs %d)" % (
            what, i, gs, ws, gi, wi)
        if gi != wi:
            near = [j for j in (i - 1, i + 1) if 0 <= j < len(want) and abs(want[j][1] - ws) <= 2 * tol]
            assert near or i == len(want) - 1, "%sposition %d: id %d, expected %d (score %.8f, no tie)" % (
                what, i, gi, wi, ws)
    gs = {g[0] for g in got}
    assert len(gs) == len(got), "%sduplicate ids in %r" % (what, got)


# ---- the world ------------------------------------------------------------------------------------

def read_atomic(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split("\t")
        rows = [line.rstrip("\n").split("\t") for line in f if line.strip()]
    return [h.split(":")[0] for h in header], rows


def test_histories(data_dir):
    """Each user's test history as learnrec reads the RecBole rating files
    (datasets/recbole.c load_ratings): item index = line order of synth.item, user index = line
    order of synth.user, each user's interactions sorted by timestamp (file order breaking
    ties), the last one is the test target and the history is everything before it. The server
    itself cuts to the model's newest max_len items, as embed-users does."""
    cols, items = read_atomic(os.path.join(data_dir, "synth.item"))
    item_index = {r[cols.index("item_id")]: i for i, r in enumerate(items)}
    cols, users = read_atomic(os.path.join(data_dir, "synth.user"))
    user_index = {r[cols.index("user_id")]: i for i, r in enumerate(users)}
    cols, inter = read_atomic(os.path.join(data_dir, "synth.inter"))
    uc, ic, tc = cols.index("user_id"), cols.index("item_id"), cols.index("timestamp")
    seqs = [[] for _ in users]
    for n, r in enumerate(inter):
        seqs[user_index[r[uc]]].append((float(r[tc]), n, item_index[r[ic]]))
    return [[it for _, _, it in sorted(s)][:-1] for s in seqs]


class Server:
    def __init__(self, index_dir, extra=()):
        self.err_path = os.path.join(W, "serve-%s.err" % os.path.basename(index_dir))
        self.err = open(self.err_path, "w")
        cmd = [learnrec, "serve", "--index", index_dir, "--model", W + "/m.safetensors",
               "--content", W + "/c.npy", "--data", W + "/data", "--encoder", W + "/enc.bin",
               "--listen", "127.0.0.1:0", "--http", "127.0.0.1:0", "--admin-token", TOKEN,
               "--threads", "2"] + list(extra)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        ready, _, _ = select.select([self.proc.stdout], [], [], 30)
        line = self.proc.stdout.readline() if ready else ""
        # listening on 127.0.0.1:PORT (msgpack-rpc), http 127.0.0.1:HPORT
        try:
            words = line.split()
            assert words[:2] == ["listening", "on"] and "(msgpack-rpc)," in words and words[-2] == "http"
            self.port = int(words[2].rsplit(":", 1)[1])
            self.http_port = int(words[-1].rsplit(":", 1)[1])
        except (AssertionError, IndexError, ValueError):
            self.kill()
            raise AssertionError("serve's first line is %r, expected 'listening on 127.0.0.1:PORT "
                                 "(msgpack-rpc), http 127.0.0.1:HPORT'; stderr:\n%s" % (line, self.stderr()))
        # keep draining stdout so the server never blocks on a full pipe
        threading.Thread(target=self.proc.stdout.read, daemon=True).start()

    def stderr(self):
        self.err.flush()
        with open(self.err_path) as f:
            return f.read()[-3000:]

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def client(self):
        return Client(self.port)

    def http(self, path, body=None):
        req = urllib.request.Request("http://127.0.0.1:%d%s" % (self.http_port, path),
                                     data=None if body is None else json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()


world = {}


@check
def build_world():
    # dataset synth accepts 1000 items at least, so the smallest catalogue it makes
    run("dataset", "synth", "--items", 1000, "--users", 600, "--seed", 3, "--out", W + "/data")
    run("content", "fit", "--data", W + "/data", "--out", W + "/c.npy", "--encoder-out",
        W + "/enc.bin")
    run("train", "--data", W + "/data", "--content", W + "/c.npy", "--out", W + "/m.safetensors",
        "--epochs", 1, "--hidden", 32, "--dim", 16, "--heads", 2, "--threads", 2)
    # ix: exact (Flat), so that an added item's own vector finds it first with score 1;
    # ix_ivf: what a real catalogue gets (IVF, 8-bit codes, tuned nprobe and re-scoring)
    run("rebuild", "--data", W + "/data", "--model", W + "/m.safetensors", "--content",
        W + "/c.npy", "--out", W + "/ix", "--index", "Flat")
    run("rebuild", "--data", W + "/data", "--model", W + "/m.safetensors", "--content",
        W + "/c.npy", "--out", W + "/ix_ivf", "--index", "IVF8,SQ8")
    run("embed-users", "--data", W + "/data", "--model", W + "/m.safetensors", "--content",
        W + "/c.npy", "--split", "test", "--out", W + "/u.npy")
    for ix in ("ix", "ix_ivf"):
        run("search", "--index", W + "/" + ix, "--vectors", W + "/u.npy", "-k", 10, "--json",
            W + "/s_%s.json" % ix)
    world["hist"] = test_histories(W + "/data")
    world["u"] = np.load(W + "/u.npy")
    for ix in ("ix", "ix_ivf"):
        with open(W + "/s_%s.json" % ix) as f:
            world["s_" + ix] = json.load(f)["results"]
    assert world["u"].shape == (600, 16), "u.npy is %r" % (world["u"].shape,)
    # the users the offline path has a vector for (a zero row: no test target)
    world["users"] = [u for u in range(600) if np.any(world["u"][u])]
    assert len(world["users"]) > 500, "only %d users with a test vector" % len(world["users"])


if not results[-1]:
    print("FAIL: cannot build the world, nothing else to check (kept %s)" % W)
    sys.exit(1)

srv = None


@check
def serve_starts():
    global srv
    srv = Server(W + "/ix")


if not results[-1]:
    print("FAIL: the server did not start (kept %s)" % W)
    sys.exit(1)

c = srv.client()
HIST0 = world["hist"][world["users"][0]]


@check
def ping_returns_1():
    assert c.ok("ping") == 1
    assert c.ok("ping", {}) == 1


@check
def stats_has_count_and_dim():
    st = c.ok("stats")
    assert isinstance(st, dict), "stats is %r" % (st,)
    assert st.get("count") == 1000 and st.get("dim") == 16, "stats: %r" % (st,)


@check
def pipelined_requests_match_by_msgid():
    # 10 recommends and 10 pings interleaved, msgids not in order, all in one write; five rounds
    # on a fresh connection (a server that keeps pointers into its read buffer past the next
    # frame fails this only some of the time)
    users = world["users"][:10]
    single = {u: c.ok("recommend", {"history": world["hist"][u], "k": 5}) for u in users}
    p = srv.client()
    for rnd in range(5):
        frames, want = [], {}
        for i in range(20):
            msgid = 1000 * (rnd + 1) + (i * 7) % 20
            if i % 2 == 0:
                u = users[i // 2]
                frames.append(p.frame("recommend", {"history": world["hist"][u], "k": 5}, msgid)[1])
                want[msgid] = u
            else:
                frames.append(p.frame("ping", None if rnd % 2 else {}, msgid)[1])
                want[msgid] = None
        p.sock.sendall(b"".join(frames))
        got = {}
        for _ in range(20):
            msg = p.recv()
            assert msg[0] == 1 and msg[1] in want and msg[1] not in got, "unexpected %r" % (msg,)
            assert msg[2] is None, "round %d, msgid %d (%s): error %r" % (
                rnd, msg[1], "ping" if want[msg[1]] is None else "recommend", msg[2])
            got[msg[1]] = msg[3]
        for msgid, u in want.items():
            if u is None:
                assert got[msgid] == 1
            else:
                same_ranking(got[msgid], single[u], what="round %d, msgid %d: " % (rnd, msgid))
    p.close()


@check
def method_name_as_bin():
    assert c.ok(b"ping") == 1
    a = c.ok(b"recommend", {"history": HIST0, "k": 5})
    b = c.ok("recommend", {"history": HIST0, "k": 5})
    assert a == b, "%r != %r" % (a, b)


@check
def params_as_one_element_array():
    a = c.ok("recommend", [{"history": HIST0, "k": 7}])
    b = c.ok("recommend", {"history": HIST0, "k": 7})
    assert len(a) == 7 and a == b, "%r != %r" % (a, b)


@check
def notification_is_not_answered():
    n = srv.client()
    n.sock.sendall(msgpack.packb([2, "ping", []]))
    assert n.ok("ping") == 1  # the next response is the ping's, not one for the notification
    assert not n.stash, "stray responses %r" % (n.stash,)
    n.close()


@check
def recommend_equals_encode_user_then_search():
    for u in world["users"][:20]:
        h = world["hist"][u]
        vec = c.ok("encode_user", {"history": h})
        assert len(vec) == 16 and abs(math.sqrt(sum(x * x for x in vec)) - 1) < 1e-5, "vector %r" % (vec,)
        found = c.ok("search", {"vector": vec, "k": 10})
        rec = c.ok("recommend", {"history": h, "k": 10})
        assert [r[0] for r in rec] == [r[0] for r in found], "user %d: %r vs %r" % (u, rec, found)
        same_ranking(rec, found, what="user %d: " % u)


@check
def encode_user_equals_embed_users():
    users = world["users"]
    for s in range(0, len(users), 200):
        chunk = users[s:s + 200]
        vecs = c.ok("encode_user", {"histories": [world["hist"][u] for u in chunk]})
        assert len(vecs) == len(chunk)
        err = np.abs(np.asarray(vecs, np.float32) - world["u"][chunk]).max()
        assert err <= TOL, "max abs difference to embed-users: %g" % err


def recommend_equals_offline(client, key):
    users = world["users"]
    for s in range(0, len(users), 200):
        chunk = users[s:s + 200]
        recs = client.ok("recommend", {"histories": [world["hist"][u] for u in chunk], "k": 10})
        assert len(recs) == len(chunk)
        for u, rec in zip(chunk, recs):
            same_ranking(rec, world[key][u], what="user %d: " % u)
    for u in users[:10]:  # the single form too
        same_ranking(client.ok("recommend", {"history": world["hist"][u], "k": 10}), world[key][u],
                     what="user %d (single): " % u)


@check
def recommend_equals_offline_search():
    recommend_equals_offline(c, "s_ix")


@check
def error_unknown_method():
    expect_error(c, 2, "no_such_method", {})


def response_bytes(sock):
    """The next response's bytes, cut by a raw=True unpacker (which takes any str)."""
    unp, buf = msgpack.Unpacker(raw=True), b""
    while True:
        data = sock.recv(1 << 16)
        assert data, "the server closed the connection"
        buf += data
        unp.feed(data)
        for _ in unp:
            return buf[:unp.tell()]


@check
def error_for_a_method_name_not_utf8_decodes_strictly():
    # the bytes ff fe as the method name, as bin and as str (surrogateescape packs the raw bytes
    # into a str); unpackb(raw=False) raises on a str that is not UTF-8, which a server echoing
    # the name as it came would send
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    for packer, name in ((msgpack.Packer(use_bin_type=True), b"\xff\xfe"),
                         (msgpack.Packer(unicode_errors="surrogateescape"), "\udcff\udcfe")):
        s.sendall(packer.pack([0, 7, name, {}]))
        msg = msgpack.unpackb(response_bytes(s), raw=False)
        assert msg[:2] == [1, 7] and msg[3] is None and msg[2][0] == 2, "response %r" % (msg,)
        assert "\\xff\\xfe" in msg[2][1], "message %r" % (msg[2][1],)
    s.close()


@check
def error_missing_history():
    expect_error(c, 1, "recommend", {"k": 5})


@check
def error_k_too_large():
    expect_error(c, 4, "recommend", {"history": HIST0, "k": 1001})


@check
def error_nan_in_search_vector():
    expect_error(c, 1, "search", {"vector": [float("nan")] + [0.25] * 15, "k": 5})


@check
def error_wrong_dimension():
    expect_error(c, 1, "search", {"vector": [0.25] * 15, "k": 5})


@check
def error_add_items_without_token():
    expect_error(c, 5, "add_items", {"items": [{"id": NEW_ID, "text": "anything"}]})
    expect_error(c, 5, "add_items", {"items": [{"id": NEW_ID, "text": "anything"}], "token": "wrong"})


@check
def garbage_bytes_close_only_that_connection():
    other = srv.client()
    assert other.ok("ping") == 1
    bad = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    bad.sendall(b"\xc1\xc1\xc1")
    closed_by_server(bad)
    bad.close()
    assert other.ok("ping") == 1
    other.close()


@check
def huge_bin_frame_closes_that_connection():
    other = srv.client()
    bad = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    bad.sendall(b"\x94\x00\x01\xa4ping\xc6\x7f\xff\xff\xff")  # [0, 1, "ping", <2 GB bin...>
    closed_by_server(bad)
    bad.close()
    assert other.ok("ping") == 1
    assert srv.client().ok("ping") == 1  # and it still accepts connections
    other.close()


with open(W + "/data/synth.item") as f:
    f.readline()
    NEW_TEXT = f.readline().rstrip("\n").split("\t", 1)[1] + " Limited edition, blue."


@check
def add_items_then_it_is_found():
    rep = c.ok("recommend", {"history": [NEW_ID], "k": 5, "report": True})
    assert rep["unknown"] == [NEW_ID], "before add_items: %r" % (rep,)
    res = c.ok("add_items", {"items": [{"id": NEW_ID, "text": NEW_TEXT}], "token": TOKEN})
    assert res == {"added": 1}, "add_items: %r" % (res,)
    expect_error(c, 8, "add_items", {"items": [{"id": NEW_ID, "text": NEW_TEXT}], "token": TOKEN})
    # a one-item history through the user tower is that item through the item tower: the vector
    # the index now holds for it, so an exact (Flat) search finds it first, with score 1
    world["new_vec"] = vec = c.ok("encode_user", {"history": [NEW_ID]})
    found = c.ok("search", {"vector": vec, "k": 5})
    assert found[0][0] == NEW_ID and abs(found[0][1] - 1) < 1e-4, "search: %r" % (found,)
    rec = c.ok("recommend", {"history": [NEW_ID], "k": 5})
    assert rec[0][0] == NEW_ID and abs(rec[0][1] - 1) < 1e-4, "recommend: %r" % (rec,)
    rep = c.ok("recommend", {"history": HIST0 + [NEW_ID, NEW_ID, NEW_ID], "k": 10, "report": True})
    assert rep["unknown"] == [] and len(rep["items"]) == 10, "repeated in a history: %r" % (rep,)
    item = c.ok("item", {"id": NEW_ID})
    assert item.get("in_index") is True and item.get("added") is True, "item: %r" % (item,)


@check
def remove_items_then_it_is_gone():
    expect_error(c, 5, "remove_items", {"ids": [NEW_ID]})
    res = c.ok("remove_items", {"ids": [NEW_ID], "token": TOKEN})
    assert res == {"removed": 1}, "remove_items: %r" % (res,)
    vec = world.get("new_vec") or c.ok("encode_user", {"history": [NEW_ID]})
    found = c.ok("search", {"vector": vec, "k": 10})
    assert NEW_ID not in [f[0] for f in found] and len(found) == 10, "search: %r" % (found,)
    rec = c.ok("recommend", {"history": [NEW_ID], "k": 10})
    assert NEW_ID not in [r[0] for r in rec], "recommend: %r" % (rec,)


@check
def http_healthz():
    status, body = srv.http("/healthz")
    assert status == 200, "GET /healthz: %d %r" % (status, body)


@check
def http_metrics():
    status, body = srv.http("/metrics")
    assert status == 200 and "learnrec_requests_total" in body, "GET /metrics: %d %r" % (status, body[:500])


@check
def http_recommend_equals_msgpack():
    params = {"history": HIST0, "k": 10}
    status, body = srv.http("/recommend", params)
    assert status == 200, "POST /recommend: %d %r" % (status, body)
    got = json.loads(body)["results"]
    # JSON prints the float32 scores in decimal: equal within printing precision
    same_ranking(got, c.ok("recommend", params))
    status, body = srv.http("/recommend", {"k": 10})
    assert status == 400 and json.loads(body)["error"]["code"] == 1, "missing history: %d %r" % (status, body)


@check
def http_error_for_a_bad_body_is_utf8_json():
    # jansson's parse error quotes the token so far: here a backslash and the first byte of an
    # e-acute, which the server used to pass on as it came (and answered "{}"); and a body that
    # is not UTF-8 at all
    for raw in ('{"history": "\\\u00e9"}'.encode(), b'{"history": [1], "k": "\xff\xfe"}'):
        req = urllib.request.Request("http://127.0.0.1:%d/recommend" % srv.http_port, data=raw)
        try:
            urllib.request.urlopen(req, timeout=10)
            raise AssertionError("%r: accepted" % raw)
        except urllib.error.HTTPError as e:
            status, body = e.code, e.read()
        err = json.loads(body.decode("utf-8"))["error"]  # strict: raises on bytes that are not UTF-8
        assert status == 400 and err["code"] == 1 and err["message"], "%r: %d %r" % (raw, status, body)


# ---- attributes, filters, caps, similar: against the exact index's full ranking ----------------

def synth_attributes():
    """Each item's brand and category levels as synth.item gives them (item index = line order)."""
    cols, rows = read_atomic(W + "/data/synth.item")
    b, k = cols.index("brand"), cols.index("categories")
    return [{"brand": [r[b]] if r[b] else [], "category": [x for x in r[k].split(" > ") if x]} for r in rows]


ATTRS = synth_attributes()


def full_ranking(vec):
    """Every item, best first, from the Flat index: the exact order filters must agree with."""
    return [h[0] for h in c.ok("search", {"vector": vec, "k": 1000})]


@check
def item_returns_the_datasets_attributes():
    for i in (0, 7, 500, 999):
        got = c.ok("item", {"id": i})["attributes"]
        assert got == ATTRS[i], "item %d: %r, synth.item says %r" % (i, got, ATTRS[i])


@check
def filters_keep_the_exact_order_of_the_items_that_pass():
    vec = c.ok("encode_user", {"history": HIST0})
    order = full_ranking(vec)
    brand = ATTRS[order[0]]["brand"][0]
    top = ATTRS[order[1]]["category"][0]
    cases = [
        ({"brand": [brand]}, lambda a, i: brand in a["brand"]),
        ({"category": top, "not": {"brand": [brand]}}, lambda a, i: top in a["category"] and brand not in a["brand"]),
        ({"ids": order[5:40], "not": {"ids": order[6:8]}}, lambda a, i: i in order[5:40] and i not in order[6:8]),
    ]
    for flt, passes in cases:
        want = [i for i in order if passes(ATTRS[i], i)][:10]
        got = [h[0] for h in c.ok("search", {"vector": vec, "k": 10, "filter": flt})]
        assert got == want, "filter %r: %r, the exact order says %r" % (flt, got, want)
        rec = [h[0] for h in c.ok("recommend", {"history": HIST0, "k": 10, "filter": flt})]
        assert rec == want, "recommend with filter %r: %r, want %r" % (flt, rec, want)


@check
def max_per_is_the_greedy_pass_over_the_exact_order():
    vec = c.ok("encode_user", {"history": HIST0})
    order = full_ranking(vec)
    want, seen = [], {}
    for i in order:
        vals = ATTRS[i]["category"]
        if any(seen.get(v, 0) >= 2 for v in vals):
            continue
        for v in vals:
            seen[v] = seen.get(v, 0) + 1
        want.append(i)
        if len(want) == 10:
            break
    got = [h[0] for h in c.ok("search", {"vector": vec, "k": 10, "max_per": {"category": 2}})]
    assert got == want, "max_per: %r, the greedy pass says %r" % (got, want)


@check
def similar_excludes_the_item_and_agrees_with_its_own_filtered_form():
    every = [h[0] for h in c.ok("similar", {"id": 12, "k": 999})]
    assert 12 not in every and len(every) == 999, "similar: %d results, 12 in them: %s" % (len(every), 12 in every)
    brand = ATTRS[every[0]]["brand"][0]
    want = [i for i in every if brand in ATTRS[i]["brand"]][:5]
    got = [h[0] for h in c.ok("similar", {"id": 12, "k": 5, "filter": {"brand": brand}})]
    assert got == want, "similar with a filter: %r, want %r" % (got, want)
    expect_error(c, 3, "similar", {"id": 5000})
    expect_error(c, 1, "search", {"vector": [0.0] * 15 + [1.0], "filter": {"colour": ["red"]}})


@check
def sigterm_exits_0():
    c.close()
    srv.proc.send_signal(signal.SIGTERM)
    try:
        rc = srv.proc.wait(10)
    except subprocess.TimeoutExpired:
        srv.kill()
        raise AssertionError("still running 10 s after SIGTERM")
    assert rc == 0, "exit status %d; stderr:\n%s" % (rc, srv.stderr())


# ---- the same over an IVF index with 8-bit codes ------------------------------------------------

srv2 = None


@check
def ivf_serve_starts():
    global srv2
    srv2 = Server(W + "/ix_ivf")


if srv2 is not None:
    c2 = srv2.client()

    @check
    def ivf_stats():
        st = c2.ok("stats")
        assert st.get("count") == 1000 and st.get("dim") == 16, "stats: %r" % (st,)
        with open(W + "/ix_ivf/current/manifest.json") as f:
            man = json.load(f)
        assert man["factory"].startswith("IVF8"), "manifest: %r" % (man,)
        assert st.get("nprobe") == man["nprobe"], "stats nprobe %r, manifest %r" % (st.get("nprobe"), man["nprobe"])

    @check
    def ivf_recommend_equals_encode_user_then_search():
        for u in world["users"][:20]:
            h = world["hist"][u]
            found = c2.ok("search", {"vector": c2.ok("encode_user", {"history": h}), "k": 10})
            same_ranking(c2.ok("recommend", {"history": h, "k": 10}), found, what="user %d: " % u)

    @check
    def ivf_recommend_equals_offline_search():
        recommend_equals_offline(c2, "s_ix_ivf")

    @check
    def ivf_sigterm_exits_0():
        c2.close()
        srv2.proc.send_signal(signal.SIGTERM)
        try:
            rc = srv2.proc.wait(10)
        except subprocess.TimeoutExpired:
            srv2.kill()
            raise AssertionError("still running 10 s after SIGTERM")
        assert rc == 0, "exit status %d" % rc

for s in (srv, srv2):
    if s is not None:
        s.kill()
failed = results.count(False)
print("%d checks, %d failed, %.1f s" % (len(results), failed, time.monotonic() - T_START))
if failed:
    print("kept %s" % W)
    sys.exit(1)
shutil.rmtree(W, ignore_errors=True)
