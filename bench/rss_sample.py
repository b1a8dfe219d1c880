#!/usr/bin/python3
"""Samples a process's resident memory until it exits (or this sampler is sent SIGTERM).

usage: rss_sample.py PID EVERY_S OUT.tsv

Every EVERY_S seconds appends "t vmrss_kb rssanon_kb rssfile_kb" to OUT.tsv, t in seconds on
CLOCK_MONOTONIC (time.monotonic(), the clock of `learnrec bench --record-ids`), from
/proc/PID/status: VmRSS = RssAnon (heap, stacks: the process's own memory) + RssFile (pages of
mapped files it touched, e.g. the content matrix and re-scoring vectors) + RssShmem.
"""
import signal
import sys
import time


def sample(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "RssAnon", "RssFile"):
                fields[key] = int(value.split()[0])
    return fields


def main():
    if len(sys.argv) > 1 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0)
    if len(sys.argv) != 4 or sys.argv[1].startswith("-"):
        print("usage: rss_sample.py PID EVERY_S OUT.tsv (try --help)", file=sys.stderr)
        sys.exit(2)
    pid, every, out = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "w", buffering=1) as f:
        f.write("# t_monotonic_s vmrss_kb rssanon_kb rssfile_kb (pid %d)\n" % pid)
        next_at = time.monotonic()
        while True:
            try:
                s = sample(pid)
            except (OSError, ValueError):
                return  # the process is gone
            if "VmRSS" not in s:
                return  # a zombie: it exited, its parent has not reaped it yet
            f.write("%.3f %d %d %d\n" % (time.monotonic(), s.get("VmRSS", 0), s.get("RssAnon", 0),
                                        s.get("RssFile", 0)))
            next_at += every
            time.sleep(max(0.0, next_at - time.monotonic()))


if __name__ == "__main__":
    main()
