#!/usr/bin/env python3
"""Helpers of tests/e2e/flows.sh (flows the jail never admitted). One role per call:

  listen LOG PORT            (internet) TCP server: logs every line each connection sends
  sender HOST PORT TAG TRIGGER STATUS
                             (container's namespace, started before the hook) connects, sends
                             "hello-TAG", waits for the file TRIGGER, then sends "token-TAG"
                             ten times; writes "ok" or "error:ERRNO" to STATUS
  serve TCPPORT UDPPORT TAG  (in the container) TCP: answers "served-TAG udp=N" to a line,
                             N being the datagrams answered so far; UDP: answers "udp-TAG",
                             twice
  client HOST TCPPORT UDPPORT TAG
                             (internet) TCP request, one datagram, then TCP requests until the
                             server says it answered the datagram; prints tcp=... udp=...
"""
import errno
import os
import selectors
import socket
import sys
import time


def listen(log_path, port):
    log = open(log_path, "a", buffering=1)
    srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("::", int(port)))
    srv.listen(16)
    sel = selectors.DefaultSelector()
    sel.register(srv, selectors.EVENT_READ)
    print("ready", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is srv:
                conn, _ = srv.accept()
                sel.register(conn, selectors.EVENT_READ)
                continue
            try:
                data = key.fileobj.recv(4096)
            except OSError:
                data = b""
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()
                continue
            log.write("%.3f %r\n" % (time.time(), data))


def sender(host, port, tag, trigger, status):
    s = socket.create_connection((host, int(port)), timeout=5)
    s.sendall(("hello-%s\n" % tag).encode())
    while not os.path.exists(trigger):
        time.sleep(0.05)
    result = "ok"
    try:
        for _ in range(10):
            s.sendall(("token-%s\n" % tag).encode())
            time.sleep(0.2)
    except OSError as e:
        result = "error:" + errno.errorcode.get(e.errno, str(e.errno))
    with open(status + ".tmp", "w") as f:
        f.write(result + "\n")
    os.rename(status + ".tmp", status)


def serve(tcp_port, udp_port, tag):
    answered = 0
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind(("0.0.0.0", int(tcp_port)))
    tcp.listen(16)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("0.0.0.0", int(udp_port)))
    sel = selectors.DefaultSelector()
    sel.register(tcp, selectors.EVENT_READ)
    sel.register(udp, selectors.EVENT_READ)
    print("serving", flush=True)
    while True:
        for key, _ in sel.select():
            if key.fileobj is udp:
                _, peer = udp.recvfrom(4096)
                # Twice: a refused first answer must not open the way for the second.
                for _ in range(2):
                    try:
                        udp.sendto(("udp-%s" % tag).encode(), peer)
                    except OSError:
                        pass
                answered += 1
                print("udp answered %d" % answered, flush=True)
                continue
            conn, _ = tcp.accept()
            conn.settimeout(5)
            try:
                conn.recv(4096)
                conn.sendall(("served-%s udp=%d\n" % (tag, answered)).encode())
            except OSError:
                pass
            conn.close()


def request(host, port):
    try:
        with socket.create_connection((host, int(port)), timeout=5) as s:
            s.sendall(b"status\n")
            return s.recv(4096).decode().strip()
    except OSError as e:
        return "error:" + errno.errorcode.get(e.errno, str(e.errno))


def client(host, tcp_port, udp_port, tag):
    first = request(host, tcp_port)
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.sendto(("ping-%s" % tag).encode(), (host, int(udp_port)))
    # The positive event: the server has answered the datagram (it says so over TCP, which
    # takes the same path back as its UDP answer, sent before).
    deadline = time.time() + 10
    status = ""
    while time.time() < deadline:
        status = request(host, tcp_port)
        if status.endswith("udp=1"):
            break
        time.sleep(0.1)
    udp.settimeout(2 if status.endswith("udp=1") else 0.1)
    try:
        reply = udp.recv(4096).decode()
    except OSError:
        reply = "none"
    print("tcp=%s after=%s udp=%s" % (first, status, reply), flush=True)


if __name__ == "__main__":
    role, args = sys.argv[1], sys.argv[2:]
    {"listen": listen, "sender": sender, "serve": serve, "client": client}[role](*args)
