#!/usr/bin/env python3
"""A stand-in for systemd-resolved's varlink socket (io.systemd.Resolve) in the e2e tests.

Like the real one it runs outside the container and resolves what a client asks: a
ResolveHostname call's name is sent as an A query to a DNS server of the fake internet (the
canary), so a token in the name reaches it when the socket is a door. Every connection is
recorded in LOG first ("conn N data=..."), so a test can tell that nobody used it.

usage: sock-varlink.py SOCKET_PATH LOG DNS_HOST DNS_PORT     (run in the internet namespace)
Writes "ready" to stdout once the socket listens.
"""
import json
import os
import socket
import struct
import sys


def query(name, host, port):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", 0x4c54, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(msg, (host, port))
        return len(s.recv(4096))


def main():
    path, log_path, host, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    log = open(log_path, "a", buffering=1)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(8)
    print("ready", flush=True)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        conn.settimeout(5)
        data = b""
        try:
            while b"\0" not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        log.write("conn %d data=%r\n" % (n, data))
        try:
            call = json.loads(data.split(b"\0")[0])
            got = query(call["parameters"]["name"], host, port)
            reply = {"parameters": {"answer_bytes": got}}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.write("conn %d failed: %s\n" % (n, e))
            reply = {"error": "io.systemd.Resolve.NoNameServers", "parameters": {}}
        try:
            conn.sendall(json.dumps(reply).encode() + b"\0")
        except OSError:
            pass
        conn.close()


if __name__ == "__main__":
    main()
