#!/usr/bin/env python3
"""Catch-all listener of the e2e test world's fake internet.

Runs inside the "internet" namespace, where AnyIP makes every address local, so one wildcard
socket per port sees traffic aimed at any address. It records every TCP connection and its
first bytes, every UDP datagram and every ICMP/ICMPv6 echo request, one line each, in LOG.
A test sends a unique token in each probe and greps LOG for it: a token in LOG is a leak.
It answers too (HTTP-ish reply on TCP, an echo on UDP) so a positive control can see that the
probe got through.

usage: canary.py LOG TCP_PORTS UDP_PORTS   (ports comma-separated)
Writes "ready" to stdout once every socket is bound.
"""
import selectors
import socket
import sys
import time


def main():
    log = open(sys.argv[1], "a", buffering=1)
    tcp_ports = [int(p) for p in sys.argv[2].split(",") if p]
    udp_ports = [int(p) for p in sys.argv[3].split(",") if p]
    sel = selectors.DefaultSelector()

    def record(kind, port, peer, data=b""):
        log.write("%.3f %s port=%s from=%s data=%r\n" % (time.time(), kind, port, peer, data))

    def dual_stack(kind):
        s = socket.socket(socket.AF_INET6, kind)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return s

    for port in tcp_ports:
        s = dual_stack(socket.SOCK_STREAM)
        s.bind(("::", port))
        s.listen(64)
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("tcp-listen", port))
    for port in udp_ports:
        s = dual_stack(socket.SOCK_DGRAM)
        s.bind(("::", port))
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, ("udp", port))
    icmp4 = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    icmp4.setblocking(False)
    sel.register(icmp4, selectors.EVENT_READ, ("icmp4", 0))
    icmp6 = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    icmp6.setblocking(False)
    sel.register(icmp6, selectors.EVENT_READ, ("icmp6", 0))

    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            kind, port = key.data
            sock = key.fileobj
            try:
                if kind == "tcp-listen":
                    conn, peer = sock.accept()
                    record("tcp-accept", port, peer[0])
                    conn.setblocking(False)
                    sel.register(conn, selectors.EVENT_READ, ("tcp-conn", port))
                elif kind == "tcp-conn":
                    peer = sock.getpeername()[0]
                    data = sock.recv(4096)
                    sel.unregister(sock)
                    record("tcp-data", port, peer, data)
                    if data:
                        sock.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 7\r\n\r\ncanary\n")
                    sock.close()
                elif kind == "udp":
                    data, peer = sock.recvfrom(65535)
                    record("udp", port, peer[0], data)
                    sock.sendto(b"canary:" + data, peer)
                elif kind == "icmp4":
                    packet, peer = sock.recvfrom(65535)
                    header_len = (packet[0] & 0x0F) * 4
                    icmp = packet[header_len:]
                    if icmp and icmp[0] == 8:  # echo request
                        record("icmp4-echo", 0, peer[0], icmp[8:])
                elif kind == "icmp6":
                    icmp, peer = sock.recvfrom(65535)
                    if icmp and icmp[0] == 128:  # echo request
                        record("icmp6-echo", 0, peer[0], icmp[8:])
            except OSError as e:
                record("error", port, "-", repr(e).encode())
                if kind == "tcp-conn":
                    try:
                        sel.unregister(sock)
                    except (KeyError, ValueError):
                        pass
                    sock.close()


if __name__ == "__main__":
    main()
