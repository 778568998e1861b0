#!/usr/bin/env python3
"""A stand-in for a container engine's API socket (docker.sock) in the e2e tests.

Like the real one it runs outside the container and does what a client asks: here it relays
whatever a client sends to a TCP address of the fake internet, so a token that a container
writes into the socket reaches the canary when the socket is a door. It records every
connection in LOG first ("conn N data=..."), so a test can tell that nobody used it.

usage: sock-relay.py SOCKET_PATH LOG HOST PORT     (run in the internet namespace)
Writes "ready" to stdout once the socket listens.
"""
import socket
import sys

from fake_socket import serve


def relay(host, port):
    def answer(n, data, log):
        try:
            with socket.create_connection((host, port), timeout=5) as out:
                out.sendall(data)
                return out.recv(4096)
        except OSError as e:
            log.write("conn %d relay failed: %s\n" % (n, e))
            return None
    return answer


def main():
    serve(sys.argv[1], sys.argv[2], b"\r\n\r\n", relay(sys.argv[3], int(sys.argv[4])))


if __name__ == "__main__":
    main()
