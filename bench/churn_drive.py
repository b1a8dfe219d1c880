#!/usr/bin/python3
"""The churn of bench/churn.sh: reloads alternating two versions, and a stream of add_items and
remove_items, against a running `learnrec serve`, every call logged with its times.

usage: churn_drive.py --connect HOST:PORT --versions VA,VB --content C.npy --catalogue N
                      [--token T] [--start-in S] [--reloads R] [--every S] [--updates U]
                      [--batch B] --log FILE

At its start: `stats` (the version served first) and a probe of 200 `recommend` calls for random
histories, whose most frequent answers (up to 100 catalogue ids, the "hubs") are what the stream
touches, so that its changes show up in the load's answers and the checks have something to
check; then one add_items, remove_items (of those ids) and reload (of the version served), so
that memory these paths take once counts in the level before the churn. After --start-in seconds: R reloads, one every S seconds (or as soon as the previous one
answered, when a reload takes longer), each to the version of VA, VB that is not being served;
meanwhile, on its own connection, U update calls per second alternating add_items (B new ids,
never used before, above every catalogue id, each with the content row of a random hub, so that
it ties with that hub in answers) and remove_items (B ids: hubs, and ids added earlier). The
stream stops before the last reload, which drops what it added: the server ends on the version
and memory it started with. Every call is one line of the log:

    KIND SENT RECEIVED STATUS [VERSION | IDS...]

times in seconds of CLOCK_MONOTONIC (as `learnrec bench --record-ids`), KIND one of initial,
reload, add, remove, and start and end (of the churn); STATUS ok or the error's name. Prints a summary; exit status 1 when a call
failed.
"""
import argparse
import random
import socket
import statistics
import sys
import threading
import time

import msgpack
import numpy as np

CODES = {1: "bad_request", 2: "unknown_method", 3: "not_found", 4: "too_large", 5: "unauthorized",
         6: "overloaded", 7: "deadline_exceeded", 8: "conflict", 9: "internal"}


class Client:
    """msgpack-rpc over one socket, one call at a time."""

    def __init__(self, addr, timeout):
        host, port = addr.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=timeout)
        self.unpacker = msgpack.Unpacker(raw=False)
        self.msgid = 0

    def call(self, method, params):
        """(error name or None, result)."""
        self.msgid += 1
        self.sock.sendall(msgpack.packb([0, self.msgid, method, params], use_bin_type=True))
        while True:
            for frame in self.unpacker:
                if frame[1] != self.msgid:
                    raise RuntimeError("answer to msgid %r while waiting for %d" % (frame[1], self.msgid))
                err = frame[2]
                if err is None:
                    return None, frame[3]
                return CODES.get(err[0], "other") if isinstance(err, list) else "other", err
            data = self.sock.recv(1 << 16)
            if not data:
                raise RuntimeError("the server closed the connection")
            self.unpacker.feed(data)


class Log:
    def __init__(self, path):
        self.f = open(path, "w", buffering=1)
        self.lock = threading.Lock()
        self.f.write("# KIND SENT RECEIVED STATUS [VERSION | IDS...] (CLOCK_MONOTONIC s)\n")

    def write(self, kind, sent, received, status, rest):
        with self.lock:
            self.f.write("%s %.6f %.6f %s %s\n" % (kind, sent, received, status, " ".join(map(str, rest))))


def timed(client, method, params):
    sent = time.monotonic()
    status, result = client.call(method, params)
    return sent, time.monotonic(), status or "ok", result


def hubs(client, n_items, rng):
    """The catalogue ids recommend answers most often for random histories."""
    counts = {}
    for _ in range(200):
        history = [rng.randrange(n_items) for _ in range(20)]
        status, result = client.call("recommend", {"history": history, "k": 10})
        if status:
            raise RuntimeError("probe: recommend failed: %s %s" % (status, result))
        for item_id, _ in result:
            if item_id < n_items:
                counts[item_id] = counts.get(item_id, 0) + 1
    return sorted(counts, key=lambda i: -counts[i])[:100]


class Updates(threading.Thread):
    """The add_items / remove_items stream, on its own connection."""

    def __init__(self, a, log, hub_ids, content, rng):
        super().__init__(daemon=True)
        self.a, self.log, self.hubs, self.content, self.rng = a, log, hub_ids, content, rng
        self.client = Client(a.connect, 60)
        self.stop = threading.Event()
        self.next_id = a.catalogue + 1000000  # above every catalogue id
        self.added = []
        self.counts = {"add": [0, 0], "remove": [0, 0]}  # ok, failed
        self.error = None

    def step(self, i):
        token = {"token": self.a.token} if self.a.token else {}
        if i % 2 == 0:
            ids = list(range(self.next_id, self.next_id + self.a.batch))
            self.next_id += self.a.batch
            items = [{"id": x, "content": self.content[self.rng.choice(self.hubs)].astype(float).tolist()}
                     for x in ids]
            kind, (sent, recv, status, _) = "add", timed(self.client, "add_items", dict(items=items, **token))
            if status == "ok":
                self.added.extend(ids)
        else:
            ids = self.rng.sample(self.hubs, (self.a.batch + 1) // 2)
            if self.added:
                ids += self.rng.sample(self.added, min(len(self.added), self.a.batch // 2))
            kind, (sent, recv, status, _) = "remove", timed(self.client, "remove_items", dict(ids=ids, **token))
        self.counts[kind][status != "ok"] += 1
        self.log.write(kind, sent, recv, status, ids)

    def run(self):
        try:
            start, i = time.monotonic(), 0
            while not self.stop.is_set():
                self.step(i)
                i += 1
                self.stop.wait(max(0.0, start + i / self.a.updates - time.monotonic()))
        except Exception as e:  # the summary reports it; the checks count the missing calls
            self.error = e


def warm_up(a, client, log, hub_ids, content, current):
    """add_items, remove_items and reload once each, early in the load, so that memory these
    paths take once (buffers sized at first use) counts in the level before the churn."""
    token = {"token": a.token} if a.token else {}
    ids = list(range(a.catalogue + 999000, a.catalogue + 999000 + a.batch))
    items = [{"id": x, "content": content[h].astype(float).tolist()} for x, h in zip(ids, hub_ids)]
    for kind, method, params in (("add", "add_items", dict(items=items, **token)),
                                 ("remove", "remove_items", dict(ids=ids, **token)),
                                 ("reload", "reload", dict(version=current, **token))):
        sent, recv, status, result = timed(client, method, params)
        log.write(kind, sent, recv, status, [current] if kind == "reload" else ids)
        if status != "ok":
            sys.exit("churn_drive.py: warm-up %s failed: %s %s" % (method, status, result))


def reloads(a, client, log, current, updates):
    """The reloads; returns their (seconds taken, ok) and the version left current."""
    versions, took = a.versions.split(","), []
    token = {"token": a.token} if a.token else {}
    start = time.monotonic()
    for i in range(a.reloads):
        time.sleep(max(0.0, start + i * a.every - time.monotonic()))
        if i == a.reloads - 1 and updates:
            updates.stop.set()
            updates.join()
        target = versions[1] if current == versions[0] else versions[0]
        sent, recv, status, result = timed(client, "reload", dict(version=target, **token))
        if status == "ok":
            current = result["version"]
        log.write("reload", sent, recv, status, [result["version"] if status == "ok" else target])
        took.append((recv - sent, status == "ok"))
    return took, current


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--connect", required=True)
    p.add_argument("--versions", required=True, help="VA,VB: the two versions to alternate")
    p.add_argument("--content", required=True, help="the server's content matrix (.npy)")
    p.add_argument("--catalogue", type=int, required=True, help="catalogue items: ids 0..N-1")
    p.add_argument("--token", default="")
    p.add_argument("--start-in", type=float, default=0.0)
    p.add_argument("--reloads", type=int, default=100)
    p.add_argument("--every", type=float, default=3.0)
    p.add_argument("--updates", type=float, default=2.0, help="update calls per second (0: none)")
    p.add_argument("--batch", type=int, default=10)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--log", required=True)
    a = p.parse_args()
    t_start, rng, log = time.monotonic(), random.Random(a.seed), Log(a.log)
    client = Client(a.connect, 600)  # a reload of a large version takes a while
    sent, recv, status, stats = timed(client, "stats", {})
    if status != "ok":
        sys.exit("churn_drive.py: stats failed: %s" % (stats,))
    log.write("initial", sent, recv, status, [stats["version"]])
    hub_ids = hubs(client, a.catalogue, rng)
    content = np.load(a.content, mmap_mode="r")
    warm_up(a, client, log, hub_ids, content, stats["version"])
    time.sleep(max(0.0, t_start + a.start_in - time.monotonic()))
    now = time.monotonic()
    log.write("start", now, now, "ok", [])
    updates = Updates(a, log, hub_ids, content, rng) if a.updates > 0 else None
    if updates:
        updates.start()
    took, current = reloads(a, client, log, stats["version"], updates)
    now = time.monotonic()
    log.write("end", now, now, "ok", [])
    ok = [t for t, good in took if good]
    print("reloads: %d ok, %d failed; seconds each: min %.3f median %.3f max %.3f; serving %s at the end"
          % (len(ok), len(took) - len(ok), min(ok, default=0), statistics.median(ok) if ok else 0,
             max(ok, default=0), current))
    failed = len(took) - len(ok)
    if updates:
        c = updates.counts
        print("updates: add_items %d ok, %d failed; remove_items %d ok, %d failed; %d ids added in all"
              % (c["add"][0], c["add"][1], c["remove"][0], c["remove"][1], updates.next_id - a.catalogue - 1000000))
        failed += c["add"][1] + c["remove"][1]
        if updates.error:
            print("updates stopped early: %s" % updates.error)
            failed += 1
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
