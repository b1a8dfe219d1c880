#!/usr/bin/python3
"""The report of bench/soak.sh, from `learnrec bench --json` (with --interval) and
bench/rss_sample.py's samples of the server's memory.

usage: soak_report.py BENCH.json RSS.tsv --rate R --duration S [--warmup W] [--tolerance P]
                      [--server-alive 0|1]

Prints a table, one row per interval of the load: requests sent, answered, errors, pending at its
end, latency p50/p99/max of the answers received in it, and the server's VmRSS and RssAnon at its
end; then the memory level at the end of the warm-up (the first sample W seconds or more into
the load), the largest deviation from it after, and PASS/FAIL per criterion. Exit status 1 when
any fails.
"""
import argparse
import json
import sys


def read_rss(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                t, vm, anon, file_ = (float(x) for x in line.split())
                rows.append((t, vm / 1024, anon / 1024, file_ / 1024))
    return rows


def at(rss, t):
    """The last sample at or before t."""
    before = [r for r in rss if r[0] <= t]
    return before[-1] if before else None


def deviation(rss, t_lo, t_hi, col):
    """(level, the largest |x / level - 1| over [t_lo, t_hi], when it was) of column col."""
    window = [r for r in rss if t_lo <= r[0] <= t_hi]
    if not window:
        return None, None, None
    level = window[0][col]
    worst = max(window, key=lambda r: abs(r[col] / level - 1))
    return level, worst[col] / level - 1, worst[0]


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("bench")
    p.add_argument("rss")
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--warmup", type=float, default=60.0)
    p.add_argument("--tolerance", type=float, default=5.0, help="percent")
    p.add_argument("--server-alive", type=int, default=1)
    a = p.parse_args()
    b, rss = json.load(open(a.bench)), read_rss(a.rss)
    t0 = b["started_monotonic_s"]
    print("| t (s) | sent | ok | errors | pending | p50 ms | p99 ms | max ms | VmRSS MB | RssAnon MB |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for i in b["intervals"]:
        lat, r = i["latency_ms"], at(rss, t0 + i["t_s"])
        print("| %.0f%s | %d | %d | %d | %d | %.3f | %.3f | %.3f | %s | %s |" % (
            i["t_s"], " (partial)" if i.get("partial") else "", i["sent"], i["ok"], i["errors"], i["pending"], lat["p50"], lat["p99"], lat["max"],
            "%.1f" % r[1] if r else "-", "%.1f" % r[2] if r else "-"))
    lat = b["latency_ms"]
    print("whole run: sent %d, completed %d, errors %d %s, unanswered %d, failed connections %d; "
          "p50 %.3f p99 %.3f p99.9 %.3f max %.3f ms" % (
              b["sent"], b["completed"], b["errors"], json.dumps(b["errors_by_code"]), b["unanswered"],
              b["failed_connections"], lat["p50"], lat["p99"], lat["p99.9"], lat["max"]))
    t_end = t0 + max((i["t_s"] for i in b["intervals"]), default=a.duration)
    if rss:
        print("memory MB at the start of the load: VmRSS %.1f, RssAnon %.1f, RssFile %.1f; peak VmRSS %.1f"
              % (*(at(rss, t0) or rss[0])[1:4], max(r[1] for r in rss)))
    crit = [("no errors (%d)" % b["errors"], b["errors"] == 0),
            ("no unanswered request (%d; failed connections %d)" % (b["unanswered"], b["failed_connections"]),
             b["unanswered"] == 0 and b["failed_connections"] == 0),
            ("the load was offered: %d sent of %.0f due" % (b["sent"], a.rate * a.duration),
             b["sent"] >= 0.99 * a.rate * a.duration),
            ("the server was alive at the end of the load", a.server_alive == 1)]
    for name, col in (("VmRSS", 1), ("RssAnon", 2)):
        level, dev, when = deviation(rss, t0 + a.warmup, t_end, col)
        if level is None:
            crit.append(("%s: samples after the warm-up" % name, False))
            continue
        print("%s after the warm-up (%.0f s): level %.1f MB, largest deviation %+.2f%% (at %.0f s)"
              % (name, a.warmup, level, 100 * dev, when - t0))
        crit.append(("%s within +-%.0f%% of its level after the warm-up" % (name, a.tolerance),
                     abs(dev) <= a.tolerance / 100))
    for name, ok in crit:
        print("%s %s" % ("PASS" if ok else "FAIL", name))
    sys.exit(0 if all(ok for _, ok in crit) else 1)


if __name__ == "__main__":
    main()
