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
import socket
import struct
import sys

from fake_socket import serve


def query(name, host, port):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"
    msg = struct.pack(">HHHHHH", 0x4c54, 0x0100, 1, 0, 0, 0) + wire + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(msg, (host, port))
        return len(s.recv(4096))


def resolver(host, port):
    def answer(n, data, log):
        try:
            call = json.loads(data.split(b"\0")[0])
            got = query(call["parameters"]["name"], host, port)
            reply = {"parameters": {"answer_bytes": got}}
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.write("conn %d failed: %s\n" % (n, e))
            reply = {"error": "io.systemd.Resolve.NoNameServers", "parameters": {}}
        return json.dumps(reply).encode() + b"\0"
    return answer


def main():
    serve(sys.argv[1], sys.argv[2], b"\0", resolver(sys.argv[3], int(sys.argv[4])))


if __name__ == "__main__":
    main()
