#!/usr/bin/python3
"""A server that something outside a container holds inside the container's network namespace,
as Docker's embedded DNS (127.0.0.11) is: it enters namespace NSPATH only to create its
sockets, comes back to the namespace it was started in, and serves them from there.

Usage: foreign-server.py NSPATH LOG RELAY_HOST RELAY_PORT SPEC...
  SPEC is udp/ADDR/PORT or tcp/ADDR/PORT (ADDR "::" is a dual-stack wildcard, "0.0.0.0" the
  IPv4 one). Whatever a client sends is written to LOG, relayed to RELAY_HOST:RELAY_PORT (the
  test world's canary, over UDP or TCP as it came), and answered with b"relayed".
Prints "ready" once every socket is bound.
"""
import os
import select
import socket
import sys

from netns import setns


def bind(spec):
    proto, addr, port = spec.split("/")
    family = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(family, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    s.bind((addr, int(port)))
    if proto == "tcp":
        s.listen(16)
    return proto, s


def main():
    nspath, log_path, relay_host, relay_port = sys.argv[1:5]
    home = os.open("/proc/self/ns/net", os.O_RDONLY)
    target = os.open(nspath, os.O_RDONLY)
    setns(target)
    socks = [bind(spec) for spec in sys.argv[5:]]
    setns(home)
    log = open(log_path, "a", buffering=1)
    print("ready", flush=True)

    def relay(proto, data):
        log.write("%s %r\n" % (proto, data))
        family = socket.AF_INET6 if ":" in relay_host else socket.AF_INET
        out = socket.socket(family, socket.SOCK_DGRAM if proto == "udp" else socket.SOCK_STREAM)
        out.settimeout(2)
        try:
            if proto == "udp":
                out.sendto(data, (relay_host, int(relay_port)))
            else:
                out.connect((relay_host, int(relay_port)))
                out.sendall(data)
        except OSError as e:
            log.write("relay failed: %s\n" % e)
        finally:
            out.close()

    by_fd = {s.fileno(): (proto, s) for proto, s in socks}
    while True:
        ready, _, _ = select.select(list(by_fd), [], [])
        for fd in ready:
            proto, s = by_fd[fd]
            try:
                if proto == "udp":
                    data, peer = s.recvfrom(2048)
                    relay("udp", data)
                    s.sendto(b"relayed", peer)
                else:
                    conn, _ = s.accept()
                    conn.settimeout(2)
                    data = conn.recv(2048)
                    relay("tcp", data)
                    conn.sendall(b"relayed")
                    conn.close()
            except OSError as e:
                log.write("serve failed: %s\n" % e)


if __name__ == "__main__":
    main()
