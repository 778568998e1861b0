#!/usr/bin/env python3
"""A stand-in for a container engine's API socket (docker.sock) in the e2e tests.

Like the real one it runs outside the container and does what a client asks: here it relays
whatever a client sends to a TCP address of the fake internet, so a token that a container
writes into the socket reaches the canary when the socket is a door. It records every
connection in LOG first ("conn N data=..."), so a test can tell that nobody used it.

usage: sock-relay.py SOCKET_PATH LOG HOST PORT     (run in the internet namespace)
Writes "ready" to stdout once the socket listens.
"""
import os
import socket
import sys


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
            while b"\r\n\r\n" not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        log.write("conn %d data=%r\n" % (n, data))
        try:
            with socket.create_connection((host, port), timeout=5) as out:
                out.sendall(data)
                reply = out.recv(4096)
            conn.sendall(reply)
        except OSError as e:
            log.write("conn %d relay failed: %s\n" % (n, e))
        conn.close()


if __name__ == "__main__":
    main()
