#!/usr/bin/env python3
"""Runs container starts in interleaved rounds and says what each variant costs.

usage: start-rounds.py PLAN ROUNDS WARMUP [SEED]

PLAN: one command a line, tab-separated fields
    NAME CHECK NETNS STDIN ARGV...
  NAME   GROUP/VARIANT, e.g. runc-fresh/jailed: paired differences are taken inside a group
  CHECK  what must be true after each run, outside the timing: none; hook (the hook ran:
         no record of the container left in the state directory); disabled (also: no jail_*
         event for it in the log); jailed (the log has jail_started and jail_stopped for it,
         its daemons are gone, and NETNS, when not "-", holds no dnsjail table)
  NETNS  a persistent network namespace's path, or -
  STDIN  a file for the command's stdin, or -
  ARGV   the command; @ID@ is replaced by a container id of its own for every run. When it
         has --cidfile FILE (podman), the id the hook saw is read from FILE after the run.

Each round runs every command of the plan once, in an order shuffled anew each round (SEED
makes it repeatable), so a neighbour's burst of load falls on every variant alike instead of
on one block of runs. The time of a run is CLOCK_MONOTONIC (time.perf_counter_ns) around the
whole command, the same wrapper for every variant. A run that fails (exit status, timeout,
a check) stops everything with its output: no figures from a broken round.

Env: W_LOG (the hook's log), W_STATE (its state directories, ':'-separated), W_DAEMON_EXES (the daemons'
executables, ':'-separated), BENCH_RESULTS (appended "key value" lines), RAW_OUT (a file for
every run's time, one "round name ms" line each), RUN_TIMEOUT (seconds, default 60),
SLOW_MS (default 5000: a run slower than that fails, since it means a runtime waited for a
hook's timeout rather than for a hook's work) unless ALLOW_SLOW=1, which keeps such runs in
the figures, prints the first one's output and counts them per variant.
"""
import json
import os
import random
import subprocess
import sys
import time

TARGETS = {("jailed", "noop"): 1.0, ("disabled", "noop"): 0.5}
# The paired differences printed per group, when the group has both variants.
PAIRS = [("noop", "plain"), ("disabled", "noop"), ("jailed", "noop"), ("disabled", "plain"),
         ("jailed", "plain"), ("jailed-base", "noop"), ("jailed", "jailed-base"),
         ("jailed-trace", "jailed"), ("disabled-prestart", "noop"), ("disabled-poststop", "noop"),
         ("disabled-base", "noop"), ("disabled", "disabled-base"),
         ("base-disabled-prestart", "noop"), ("base-disabled-poststop", "noop"),
         ("disabled-prestart", "base-disabled-prestart"),
         ("disabled-poststop", "base-disabled-poststop")]


def die(msg):
    sys.stdout.flush()
    sys.stderr.write("start-rounds.py: %s\n" % msg)
    sys.exit(1)


def read_plan(path):
    plan = []
    for line in open(path):
        line = line.rstrip("\n")
        if not line:
            continue
        name, check, netns, stdin, *argv = line.split("\t")
        if "/" not in name or check not in ("none", "hook", "disabled", "jailed") or not argv:
            die("bad plan line: %r" % line)
        plan.append({"name": name, "check": check, "netns": netns, "stdin": stdin,
                     "argv": argv})
    return plan


def percentile(sorted_values, p):
    """Linear interpolation between closest ranks (numpy's default)."""
    if not sorted_values:
        return float("nan")
    k = (len(sorted_values) - 1) * p
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


def spread(values):
    s = sorted(values)
    return {"median": percentile(s, 0.5), "p25": percentile(s, 0.25), "p75": percentile(s, 0.75),
            "min": s[0], "max": s[-1]}


class Checker:
    def __init__(self):
        self.log = os.environ.get("W_LOG", "")
        self.states = [s for s in os.environ.get("W_STATE", "").split(":") if s]
        self.exes = set(e for e in os.environ.get("W_DAEMON_EXES", "").split(":") if e)
        self.log_offset = self._log_size()

    def _log_size(self):
        try:
            return os.path.getsize(self.log) if self.log else 0
        except OSError:
            return 0

    def _new_events(self):
        """The hook's log lines written since the last call, as (event, container) pairs."""
        events = []
        if not self.log:
            return events
        try:
            with open(self.log, "rb") as f:
                f.seek(self.log_offset)
                data = f.read()
        except OSError:
            return events
        # Only whole lines: a line still being written is read next time.
        end = data.rfind(b"\n") + 1
        self.log_offset += end
        for line in data[:end].splitlines():
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            events.append((ev.get("event", ""), ev.get("container", "")))
        return events

    def _daemons_for(self, cid):
        """Live daemons (not zombies: those have no exe link) whose argv names container CID.
        Daemons started without the id on their command line (pre-started spares) are not
        counted: they are not the container's to leave behind."""
        pids = []
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                exe = os.readlink("/proc/%s/exe" % pid)
                if exe.endswith(" (deleted)"):
                    exe = exe[:-len(" (deleted)")]
                if exe not in self.exes:
                    continue
                argv = open("/proc/%s/cmdline" % pid, "rb").read().split(b"\0")
            except OSError:
                continue
            for i in range(len(argv) - 1):
                if argv[i] == b"--container-id" and argv[i + 1] == cid.encode():
                    pids.append(int(pid))
        return pids

    def after(self, cmd, cid):
        """What the run must have left; an error message, or None."""
        check = cmd["check"]
        if check == "none":
            return None
        for state in self.states:
            if os.path.exists(os.path.join(state, "containers", cid)):
                return "the hook left a record of container %s in %s" % (cid, state)
        # The hook writes its log before it exits; the lines are there once the runtime
        # returned.
        mine = [e for e, c in self._new_events() if c == cid]
        if check == "disabled":
            jail = [e for e in mine if e.startswith("jail_")]
            if jail:
                return "container %s was not to be jailed but the log says %s" % (cid, jail)
            return None
        if check != "jailed":
            return None
        if "jail_started" not in mine or "jail_stopped" not in mine:
            return "container %s: expected jail_started and jail_stopped in %s, got %s" % (
                cid, self.log, mine or "nothing")
        # The daemons exit on the container's pidfd, right after it: wait for that (a leak
        # fails the bench), so a daemon's exit never runs into the next timed start.
        deadline = time.monotonic() + 10
        while self._daemons_for(cid):
            if time.monotonic() > deadline:
                return "daemons of container %s still alive 10 s after it exited: %s" % (
                    cid, self._daemons_for(cid))
            time.sleep(0.005)
        if cmd["netns"] != "-":
            r = subprocess.run(["nsenter", "--net=" + cmd["netns"], "nft", "list", "table", "inet",
                                "dnsjail"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
            if r.returncode == 0:
                return "the last container of %s left its table inet dnsjail there" % cmd["netns"]
        return None


def run_once(cmd, cid, timeout):
    argv = [a.replace("@ID@", cid) for a in cmd["argv"]]
    stdin = open(cmd["stdin"], "rb") if cmd["stdin"] != "-" else subprocess.DEVNULL
    try:
        t0 = time.perf_counter_ns()
        r = subprocess.run(argv, stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout)
        t1 = time.perf_counter_ns()
    except subprocess.TimeoutExpired as e:
        die("%s (container %s) did not finish in %d s:\n  %s\n%s" % (
            cmd["name"], cid, timeout, " ".join(argv), (e.output or b"").decode(errors="replace")))
    finally:
        if cmd["stdin"] != "-":
            stdin.close()
    if r.returncode != 0:
        die("%s (container %s) failed with exit status %d:\n  %s\n%s" % (
            cmd["name"], cid, r.returncode, " ".join(argv), r.stdout.decode(errors="replace")))
    ms = (t1 - t0) / 1e6
    if ms > SLOW_MS:
        what = "%s (container %s) took %.0f ms, over SLOW_MS=%d (a hook timeout?)" % (
            cmd["name"], cid, ms, SLOW_MS)
        if not ALLOW_SLOW:
            die("%s; its output:\n%s" % (what, r.stdout.decode(errors="replace")))
        SLOW.setdefault(cmd["name"], 0)
        if sum(SLOW.values()) == 0:
            print("# %s; its output:\n%s" % (what, r.stdout.decode(errors="replace") or "(none)"))
        SLOW[cmd["name"]] += 1
    return ms


SLOW_MS = int(os.environ.get("SLOW_MS", "5000"))
ALLOW_SLOW = os.environ.get("ALLOW_SLOW", "0") == "1"
SLOW = {}


def hook_id(cmd, cid):
    """The container id the runtime gave the hook: ours, or the one in the command's cid file."""
    argv = cmd["argv"]
    for i in range(len(argv) - 1):
        if argv[i] == "--cidfile":
            path = argv[i + 1].replace("@ID@", cid)
            try:
                with open(path) as f:
                    return f.read().strip() or cid
            finally:
                os.unlink(path)
    return cid


def main():
    if len(sys.argv) < 4:
        die("usage: start-rounds.py PLAN ROUNDS WARMUP [SEED]")
    plan = read_plan(sys.argv[1])
    rounds, warmup = int(sys.argv[2]), int(sys.argv[3])
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else random.SystemRandom().randrange(1 << 30)
    timeout = int(os.environ.get("RUN_TIMEOUT", "60"))
    rng = random.Random(seed)
    checker = Checker()
    raw = open(os.environ["RAW_OUT"], "a") if os.environ.get("RAW_OUT") else None
    results = {c["name"]: [] for c in plan}
    print("# %d commands, %d warm-up rounds, then %d rounds; order shuffled every round (seed %d)"
          % (len(plan), warmup, rounds, seed))
    sys.stdout.flush()
    serial = 0
    started = time.monotonic()
    for rnd in range(-warmup, rounds):
        order = list(plan)
        rng.shuffle(order)
        for cmd in order:
            serial += 1
            cid = "b%d-%s" % (serial, cmd["name"].replace("/", "-"))
            ms = run_once(cmd, cid, timeout)
            problem = checker.after(cmd, hook_id(cmd, cid))
            if problem:
                die("round %d, %s: %s" % (rnd, cmd["name"], problem))
            if rnd >= 0:
                results[cmd["name"]].append(ms)
                if raw:
                    raw.write("%d %s %.3f\n" % (rnd, cmd["name"], ms))
        if rnd >= 0 and (rnd + 1) % max(5, rounds // 5) == 0:
            print("# round %d of %d done (%.0f s)" % (rnd + 1, rounds, time.monotonic() - started))
            sys.stdout.flush()
    report(plan, results, rounds)


def fmt_spread(s, signed=False):
    f = "%+.2f" if signed else "%.2f"
    return ((f + " [" + f + " .. " + f + "]") % (s["median"], s["p25"], s["p75"]),
            ("%.2f .. %.2f" % (s["min"], s["max"])))


def report(plan, results, rounds):
    record = open(os.environ["BENCH_RESULTS"], "a") if os.environ.get("BENCH_RESULTS") else None
    groups = []
    for c in plan:
        g = c["name"].split("/")[0]
        if g not in groups:
            groups.append(g)
    for g in groups:
        variants = [c["name"].split("/", 1)[1] for c in plan if c["name"].startswith(g + "/")]
        print()
        print("## %s: %d rounds, ms (median [p25 .. p75], min .. max)" % (g, rounds))
        for v in variants:
            s = spread(results[g + "/" + v])
            mid, ends = fmt_spread(s)
            slow = SLOW.get(g + "/" + v, 0)
            print("  %-18s %-28s %s%s" % (v, mid, ends, "   %d runs over %d ms (warm-ups included)"
                                          % (slow, SLOW_MS) if slow else ""))
            if record:
                for k in ("median", "p25", "p75", "min", "max"):
                    record.write("start.%s.%s.%s_ms %.3f\n" % (g, v, k, s[k]))
        print("  paired per round (the same round's runs subtracted), ms:")
        for a, b in PAIRS:
            if a not in variants or b not in variants:
                continue
            diffs = [x - y for x, y in zip(results[g + "/" + a], results[g + "/" + b])]
            s = spread(diffs)
            mid, ends = fmt_spread(s, signed=True)
            verdict = ""
            if (a, b) in TARGETS:
                t = TARGETS[(a, b)]
                verdict = "target <= %.1f: %s" % (t, "met" if s["median"] <= t else "NOT met")
            print("  %-18s %-34s %-16s %s" % ("%s-%s" % (a, b), mid, ends, verdict))
            if record:
                for k in ("median", "p25", "p75"):
                    record.write("start.%s.%s_minus_%s.%s_ms %.3f\n" % (g, a, b, k, s[k]))


if __name__ == "__main__":
    main()
