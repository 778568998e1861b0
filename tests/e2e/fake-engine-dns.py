#!/usr/bin/python3
"""A container engine's embedded resolver, as Docker 20.10 runs one on a user-defined network:
a process OUTSIDE the container's network namespace (dockerd; here the test starts it in the
world's host namespace) holds 127.0.0.11:PORT inside it, answers the names it owns
(containers' names and aliases) and forwards every other question to UPSTREAM:53 through a
socket it makes inside that namespace for each question, relaying the answer. Datagrams that are no DNS question are echoed back with
"engine:" in front, so that a test can see whether the real port (the side door) answers.

Usage: fake-engine-dns.py NSPATH LOG PORT UPSTREAM NAME=ADDR...
Prints "ready" once bound; appends one line per datagram to LOG ("owned NAME", "forwarded
NAME", "echo DATA").
"""
import os
import socket
import struct
import sys

from netns import setns


def socket_in(target, home):
    """A UDP socket of the namespace TARGET; the thread comes back HOME."""
    setns(target)
    try:
        return socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    finally:
        setns(home)


def question(data):
    """(name, end offset of the question) or None."""
    if len(data) < 12 or struct.unpack(">H", data[4:6])[0] != 1:
        return None
    pos, labels = 12, []
    while pos < len(data):
        n = data[pos]
        if n == 0:
            if pos + 5 > len(data):
                return None
            return ".".join(labels).lower(), pos + 5
        if n > 63 or pos + 1 + n > len(data):
            return None
        labels.append(data[pos + 1:pos + 1 + n].decode("ascii", "replace"))
        pos += 1 + n
    return None


def main():
    nspath, log_path, port, upstream = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    owned = dict(arg.lower().split("=", 1) for arg in sys.argv[5:])
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(nspath, os.O_RDONLY)
    s = socket_in(target, home)
    s.bind(("127.0.0.11", port))
    print("ready", flush=True)
    with open(log_path, "a", buffering=1) as log:
        while True:
            data, peer = s.recvfrom(4096)
            q = question(data)
            if q is None:
                log.write("echo %r\n" % data[:60])
                s.sendto(b"engine:" + data, peer)
                continue
            name, end = q
            qtype = struct.unpack(">H", data[end - 4:end - 2])[0]
            if name in owned:
                log.write("owned %s\n" % name)
                answer = b"\xc0\x0c" + struct.pack(">HHIH", 1, 1, 600, 4)
                answer += socket.inet_aton(owned[name])
                flags = 0x8580  # QR AA RD RA
                count = 1 if qtype == 1 else 0
                s.sendto(data[:2] + struct.pack(">HHHHH", flags, 1, count, 0, 0) +
                         data[12:end] + (answer if count else b""), peer)
                continue
            # Not ours: asked of the upstream from inside the namespace, as Docker 20.10 does.
            log.write("forwarded %s\n" % name)
            f = socket_in(target, home)
            f.settimeout(3)
            try:
                f.sendto(data, (upstream, 53))
                reply = f.recv(4096)
                s.sendto(reply, peer)
            except OSError as e:
                log.write("forward failed %s\n" % e)
            finally:
                f.close()


if __name__ == "__main__":
    main()
