#!/usr/bin/python3
"""The checks of bench/churn.sh, from the load's record, the churn's log and the memory samples.

usage: churn_check.py --record REC --log LOG --rss RSS --bench BENCH.json --catalogue N --mod M
                      --lacks VA=RA,VB=RB [--skip S] [--ratio X] [--tolerance P]

REC: `learnrec bench --record-ids` (per request: msgid method due sent received status ids|version);
LOG: bench/churn_drive.py's (reload, add, remove calls with their times); RSS:
bench/rss_sample.py's. The two versions each lack one marker set of catalogue ids: version VA
lacks the ids i < N with i % M == RA, VB those with i % M == RB.

What is checked, for every answer by the window [sent, received] of its request:
- versions: a version can have served it if it may have been current at some moment of the
  window: version j from when its reload was sent until the next reload was answered (the swap
  happens somewhere in between). An answer holding ids of both marker sets mixes versions; one
  holding ids of a set that every version possible then lacks came from a version that was not
  current. A stats answer must name a possible version.
- removals: an id removed (remove_items answered at t) must not appear in an answer sent after t
  and received before the next reload was sent; a reload already under way at t may restore it
  at any moment, so then nothing is checked.
- additions: an id added (add_items answered at t) must not appear in an answer sent after the
  first reload sent after t was answered: reloads drop added items; nor before it was added.
Latency: p99 of the successful answers due in the quiet part (from S seconds after the load's
start, or 1 s after the driver's warm-up calls if later, to the churn's start) and in the churn (its start to the last reload's answer: the
driver's start and end lines), by due time; the driver's warm-up calls come before the quiet
part.
Memory: mean VmRSS and RssAnon over the last 20 s before the churn and over the last 20 s of
the load (after the churn). PASS/FAIL per criterion; exit status 1 when any fails.
"""
import argparse
import bisect
import math
import json
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name in ("record", "log", "rss", "bench", "lacks"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--catalogue", type=int, required=True)
    p.add_argument("--mod", type=int, required=True)
    p.add_argument("--skip", type=float, default=10.0, help="seconds of the load's start left out of the quiet p99")
    p.add_argument("--ratio", type=float, default=3.0, help="the churn p99 may be this many times the quiet one")
    p.add_argument("--tolerance", type=float, default=5.0, help="memory after vs before, percent")
    return p.parse_args()


def read_log(path):
    """(initial version, reloads [(sent, received, version)] that succeeded, adds, removes, failed
    calls, the churn's (start, end))."""
    initial, reloads, adds, removes, failed, churn = None, [], [], [], [], [None, None]
    with open(path) as f:
        for line in f:
            if line.startswith("#"):
                continue
            kind, sent, recv, status, *rest = line.split()
            sent, recv = float(sent), float(recv)
            if status != "ok":
                failed.append(line.strip())
            elif kind == "initial":
                initial = rest[0]
            elif kind in ("start", "end"):
                churn[kind == "end"] = sent
            elif kind == "reload":
                reloads.append((sent, recv, rest[0]))
            elif kind in ("add", "remove"):
                (adds if kind == "add" else removes).append((sent, recv, [int(x) for x in rest]))
    return initial, reloads, adds, removes, failed, churn


class Timeline:
    """Which versions may have been current over a window, from the reloads' times."""

    def __init__(self, initial, reloads):
        self.versions = [initial] + [v for _, _, v in reloads]
        self.starts = [float("-inf")] + [s for s, _, _ in reloads]  # version j may be current from here
        self.ends = [r for _, r, _ in reloads] + [float("inf")]     # ... until here

    def possible(self, sent, recv):
        hi = bisect.bisect_right(self.starts, recv) - 1
        lo = bisect.bisect_left(self.ends, sent)
        return set(self.versions[lo:hi + 1])


def forbidden_windows(reloads, adds, removes):
    """id -> [(from, to)]: when an answer's whole window inside (from, to) must not hold the id."""
    sends, recvs = [s for s, _, _ in reloads], [r for _, r, _ in reloads]
    out = {}
    for _, t, ids in removes:
        j = bisect.bisect_right(recvs, t)  # the first reload answered after t
        if j < len(reloads) and reloads[j][0] > t:  # it was sent after t: the removal holds till then
            window = (t, reloads[j][0])
        elif j == len(reloads):
            window = (t, float("inf"))
        else:
            continue  # a reload was under way at t
        for i in ids:
            out.setdefault(i, []).append(window)
    for sent, t, ids in adds:
        j = bisect.bisect_right(sends, t)  # the first reload sent after t
        for i in ids:
            out.setdefault(i, []).append((float("-inf"), sent))
            if j < len(reloads):
                out[i].append((reloads[j][1], float("inf")))
    return out


def pct(v, p):
    """Nearest rank, as learnrec bench's."""
    if not v:
        return float("nan")
    v = sorted(v)
    return v[max(0, math.ceil(p * len(v)) - 1)]


def check_answers(a, timeline, lacks, windows):
    """Reads the record: latencies by due time, and every inconsistency found."""
    bad, seen, n, out = [], {"marker": 0, "churned": 0}, 0, {"answers": [], "failed": 0, "unanswered": 0}
    with open(a.record) as f:
        for line in f:
            if line.startswith("#"):
                continue
            msgid, method, due, sent, recv, status, *rest = line.split()
            if status == "unanswered":
                out["unanswered"] += 1
                continue
            if status != "ok":
                out["failed"] += 1
                continue
            due, sent, recv = float(due), float(sent), float(recv)
            out["answers"].append((due, recv - due))
            n += 1
            possible = timeline.possible(sent, recv)
            if method == "stats":
                if rest[0] not in possible:
                    bad.append("%s stats answered %s, possible %s" % (msgid, rest[0], sorted(possible)))
                continue
            ids = [int(x) for x in rest]
            sets = {v: [i for i in ids if i < a.catalogue and i % a.mod == r] for v, r in lacks.items()}
            holds = [v for v, s in sets.items() if s]  # versions whose missing ids the answer holds
            seen["marker"] += bool(holds)
            if len(holds) > 1:
                bad.append("%s %s mixes versions: %s" % (msgid, method, sets))
            elif holds and possible <= {holds[0]}:
                bad.append("%s %s holds %s, missing from %s, the only version possible" % (msgid, method, sets[holds[0]], holds[0]))
            churned = [i for i in ids if i in windows]
            seen["churned"] += bool(churned)
            for i in churned:
                for lo, hi in windows[i]:
                    if lo < sent and recv < hi:
                        bad.append("%s %s holds %d, removed or dropped over (%.3f, %.3f)" % (msgid, method, i, lo, hi))
    out.update(bad=bad, seen=seen, checked=n)
    return out


def rss_mean(path, lo, hi):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("#"):
                t, vm, anon, _ = (float(x) for x in line.split())
                if lo <= t <= hi:
                    rows.append((vm, anon))
    if not rows:
        return None
    return (sum(r[0] for r in rows) / len(rows) / 1024, sum(r[1] for r in rows) / len(rows) / 1024, len(rows))


def main():
    a = parse_args()
    lacks = {v: int(r) for v, r in (x.split("=") for x in a.lacks.split(","))}
    initial, reloads, adds, removes, failed_calls, (churn_lo, churn_hi) = read_log(a.log)
    bench = json.load(open(a.bench))
    t0 = bench["started_monotonic_s"]
    timeline = Timeline(initial, reloads)
    r = check_answers(a, timeline, lacks, forbidden_windows(reloads, adds, removes))
    if churn_lo is None or churn_hi is None:
        sys.exit("churn_check.py: %s has no start and end of the churn" % a.log)
    n_reloads = sum(churn_lo <= s <= churn_hi for s, _, _ in reloads)
    t_end = max((d + l for d, l in r["answers"]), default=t0)
    warm_end = max((rv for s, rv, *_ in reloads + adds + removes if s < churn_lo), default=t0)
    quiet_lo = max(t0 + a.skip, warm_end + 1)  # after the driver's warm-up calls
    quiet = [l for d, l in r["answers"] if quiet_lo <= d < churn_lo]
    churn = [l for d, l in r["answers"] if churn_lo <= d <= churn_hi]
    after = [l for d, l in r["answers"] if d > churn_hi]
    q99, c99 = 1e3 * pct(quiet, 0.99), 1e3 * pct(churn, 0.99)
    print("load: %d answers checked (%d ok), %d errors, %d unanswered" % (
        len(r["answers"]) + r["failed"], r["checked"], r["failed"], r["unanswered"]))
    print("churn: %d reloads ok over %.1f s, %d add_items and %d remove_items ok, %d admin calls failed"
          % (n_reloads, churn_hi - churn_lo, sum(churn_lo <= s for s, _, _ in adds),
             sum(churn_lo <= s for s, _, _ in removes), len(failed_calls)))
    print("p99 ms: quiet %.3f (%d answers from %.1f s into the load), churn %.3f (%d), after %.3f (%d); "
          "ratio %.2f" % (q99, len(quiet), quiet_lo - t0, c99, len(churn), 1e3 * pct(after, 0.99), len(after), c99 / q99))
    print("answers holding a marker id (what tells the versions apart): %d; holding an id the churn "
          "added or removed: %d" % (r["seen"]["marker"], r["seen"]["churned"]))
    print("mismatches: %d" % len(r["bad"]))
    for line in r["bad"][:10]:
        print("  " + line)
    for line in failed_calls[:10]:
        print("  failed: " + line)
    # memory: the last 20 s before the churn, and the last 20 s of the load at least 10 s after it
    before, end = rss_mean(a.rss, churn_lo - 20, churn_lo), rss_mean(a.rss, max(t_end - 20, churn_hi + 10), t_end)
    crit = [("no failed request (errors + unanswered + failed admin calls = 0)",
             r["failed"] + r["unanswered"] + len(failed_calls) == 0),
            ("churn p99 <= %.0fx quiet p99" % a.ratio, c99 <= a.ratio * q99),
            ("every answer consistent with one version current during it", not r["bad"]),
            ("at least 30 s of load after the churn (got %.1f s)" % (t_end - churn_hi), t_end - churn_hi >= 30)]
    for name, i in (("VmRSS", 0), ("RssAnon", 1)):
        if before and end:
            print("memory %s MB: before the churn %.1f, after %.1f (%+.1f%%; %d and %d samples)"
                  % (name, before[i], end[i], 100 * (end[i] / before[i] - 1), before[2], end[2]))
        crit.append(("%s after the churn <= before +%.0f%%" % (name, a.tolerance),
                     bool(before and end) and end[i] <= before[i] * (1 + a.tolerance / 100)))
    for name, ok in crit:
        print("%s %s" % ("PASS" if ok else "FAIL", name))
    sys.exit(0 if all(ok for _, ok in crit) else 1)


if __name__ == "__main__":
    main()
