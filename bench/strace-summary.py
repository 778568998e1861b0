#!/usr/bin/env python3
"""Summarizes an `strace -f -tt -T -o FILE` trace of the dnsjail hook for container-start.sh.

Prints, per process (the hook and what it forks and execs): what it runs, when it started and
ended relative to the first line, and the time it spent inside system calls; then the slowest
single system calls; then the time the hook process spent in each kind of call.

usage: strace-summary.py FILE
"""
import collections
import re
import sys

LINE = re.compile(r"^(\d+)\s+(\d+):(\d+):(\d+\.\d+)\s+(.*)$")
DURATION = re.compile(r"<(\d+\.\d+)>$")
CALL = re.compile(r"^(?:<\.\.\. )?([a-z0-9_]+)")


def main():
    first = None
    procs = collections.OrderedDict()
    slow = []
    for raw in open(sys.argv[1], errors="replace"):
        m = LINE.match(raw.rstrip("\n"))
        if not m:
            continue
        pid = int(m.group(1))
        ts = int(m.group(2)) * 3600 + int(m.group(3)) * 60 + float(m.group(4))
        rest = m.group(5)
        if first is None:
            first = ts
        p = procs.setdefault(pid, {"start": ts, "end": ts, "exe": "", "in_calls": 0.0,
                                   "by_call": collections.Counter()})
        p["end"] = ts
        if rest.startswith(("execve(", "execveat(")) and "= 0" in rest:
            argv0 = re.search(r'\["([^"]*)"', rest)  # argv[0]: execveat's path is ""
            p["exe"] = argv0.group(1) if argv0 else rest[:40]
        call = CALL.match(rest)
        d = DURATION.search(rest)
        if call and d:
            seconds = float(d.group(1))
            p["in_calls"] += seconds
            p["by_call"][call.group(1)] += seconds
            slow.append((seconds, pid, rest[:110]))
    if first is None:
        print("  (empty trace)")
        return
    print("#### trace %s: %d processes" % (sys.argv[1].rsplit("/", 1)[-1], len(procs)))
    for pid, p in procs.items():
        print("  pid %-7d %-28s from %7.2f ms to %8.2f ms, in system calls %6.2f ms" % (
            pid, (p["exe"].rsplit("/", 1)[-1] or "(forked)")[:28], (p["start"] - first) * 1000,
            (p["end"] - first) * 1000, p["in_calls"] * 1000))
    print("  slowest system calls:")
    for seconds, pid, text in sorted(slow, reverse=True)[:10]:
        print("    %7.2f ms  pid %-7d %s" % (seconds * 1000, pid, text))
    hook = next(iter(procs.values()))
    print("  the first process, time in system calls by call: " + ", ".join(
        "%s %.2f ms" % (c, s * 1000) for c, s in hook["by_call"].most_common(8)))


main()
