#!/usr/bin/python3
"""daemon-ready: start-up of two builds of a daemon, paired: each round starts BINARY_A and
BINARY_B (order alternating) standalone as root dropping to nobody, as
tests/e2e/stub-standalone.sh does, and times exec to the byte on --ready-fd; the daemon is then
stopped with SIGTERM. Loopback only (--listen 127.0.0.1 on a free port).
Usage: bench/daemon-ready.py ROUNDS BINARY_A BINARY_B [daemon options...]
Prints each build's median and quartiles and the median of the paired differences (B - A)."""
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def one_start(binary, extra):
    r, w = os.pipe()
    port = free_port()
    args = [binary, "--listen", f"127.0.0.1:{port}", "--user", "nobody", "--ready-fd", str(w)]
    t0 = time.perf_counter_ns()
    p = subprocess.Popen(args + extra, pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    byte = os.read(r, 1)
    t1 = time.perf_counter_ns()
    os.close(r)
    p.send_signal(signal.SIGTERM)
    p.wait()
    if byte != b"R":
        sys.exit(f"{binary} did not report ready ({byte!r})")
    return (t1 - t0) / 1e6


def quartiles(xs):
    q = statistics.quantiles(xs, n=4)
    return f"median {statistics.median(xs):.3f} ms (quartiles {q[0]:.3f} - {q[2]:.3f})"


def main():
    rounds, a, b = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    extra = sys.argv[4:]
    ta, tb = [], []
    for i in range(rounds):
        if i % 2 == 0:
            ta.append(one_start(a, extra))
            tb.append(one_start(b, extra))
        else:
            tb.append(one_start(b, extra))
            ta.append(one_start(a, extra))
    diff = [y - x for x, y in zip(ta, tb)]
    print(f"A {a}: {quartiles(ta)}")
    print(f"B {b}: {quartiles(tb)}")
    print(f"B - A, paired: {quartiles(diff)}")


main()
