#!/usr/bin/env python3
"""Summarises DNSJAIL_HOOK_TRACE files (hook/trace.h): the median time of each of the hook's
phases, per stage, in the order the hook passes them.

usage: hook-trace.py FILE...

Each line of FILE is "STAGE CONTAINER PHASE MICROSECONDS", a phase's time since the previous
mark (the first since the hook's main began). One container's run of a stage is one block of
lines. Printed per stage: each phase's median, 25th and 75th percentile and how many runs
passed it (a phase on one path only, e.g. a refused container's, has fewer), then the median
of the runs' totals. The time before main (exec, and dynamic linking where the hook is not
static) is not in the trace.
"""
import sys


def percentile(sorted_values, q):
    if not sorted_values:
        return 0.0
    pos = (len(sorted_values) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: hook-trace.py FILE...")
    order = {}    # stage -> phases in first-seen order
    times = {}    # (stage, phase) -> [ms]
    totals = {}   # (stage, container) -> ms
    for path in sys.argv[1:]:
        with open(path) as f:
            for n, line in enumerate(f, 1):
                fields = line.split()
                if len(fields) != 4 or not fields[3].lstrip("-").isdigit():
                    sys.exit("%s:%d: not a trace line: %r" % (path, n, line))
                stage, cid, phase, usec = fields
                ms = int(usec) / 1000.0
                phases = order.setdefault(stage, [])
                if phase not in phases:
                    phases.append(phase)
                times.setdefault((stage, phase), []).append(ms)
                totals[(stage, cid)] = totals.get((stage, cid), 0.0) + ms
    for stage, phases in order.items():
        runs = sorted(v for (s, _), v in totals.items() if s == stage)
        print("# %s: %d runs; per phase: median p25 p75 (ms), runs" % (stage, len(runs)))
        for phase in phases:
            v = sorted(times[(stage, phase)])
            print("%-10s %-24s %8.3f %8.3f %8.3f %5d" % (
                stage, phase, percentile(v, 0.5), percentile(v, 0.25), percentile(v, 0.75),
                len(v)))
        print("%-10s %-24s %8.3f %8.3f %8.3f %5d" % (
            stage, "total(main..exit)", percentile(runs, 0.5), percentile(runs, 0.25),
            percentile(runs, 0.75), len(runs)))


if __name__ == "__main__":
    main()
