#!/usr/bin/python3
"""What system-log.sh needs of a datagram receiver standing in for journald or a syslog daemon.

usage: syslogrecv.py receive SOCKET OUT   bind SOCKET (mode 0666), write OUT.ready, then record
                                          every datagram as one line of JSON (its bytes as text)
       syslogrecv.py send SOCKET TEXT     send TEXT as one datagram (a marker: once it is
                                          recorded, everything sent before it is too)
       syslogrecv.py has OUT STRING...    exit 0 when one datagram contains every STRING
       syslogrecv.py only OUT STRING      exit 0 when every datagram contains STRING
       syslogrecv.py journal-form OUT     exit 0 when every datagram is KEY=VALUE lines with
                                          MESSAGE= last and on one line (journald's native form)
       syslogrecv.py syslog-line OUT NAME exit 0 when a datagram is "<30>dnsjail-dnsstub[PID]: "
                                          and a JSON line whose qname is NAME (RFC 3164)
"""
import json
import os
import re
import socket
import sys


def datagrams(path):
    with open(path) as f:
        return [json.loads(line) for line in f]


def receive(path, out):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    open(out + ".ready", "w").close()
    with open(out, "a") as f:
        while True:
            data = s.recv(65536)
            f.write(json.dumps(data.decode("utf-8", "replace")) + "\n")
            f.flush()


def send(path, text):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.sendto(text.encode(), path)
    return 0


def has(out, wanted):
    return 0 if any(all(w in d for w in wanted) for d in datagrams(out)) else 1


def only(out, wanted):
    return 0 if all(wanted in d for d in datagrams(out)) else 1


def journal_form(out):
    for d in datagrams(out):
        head, sep, message = d.partition("MESSAGE=")
        fields = head.split("\n")[:-1]
        if not sep or "\n" in message or not all(re.match(r"[A-Z_]+=", f) for f in fields):
            return 1
    return 0


def syslog_line(out, name):
    pattern = re.compile(r'<30>dnsjail-dnsstub\[[0-9]+\]: \{.*"qname":"%s"' % re.escape(name))
    return 0 if any(pattern.match(d) for d in datagrams(out)) else 1


def main(argv):
    cmd, args = argv[1], argv[2:]
    if cmd == "receive":
        receive(*args)
    if cmd == "send":
        return send(*args)
    if cmd == "has":
        return has(args[0], args[1:])
    if cmd == "only":
        return only(*args)
    if cmd == "journal-form":
        return journal_form(*args)
    if cmd == "syslog-line":
        return syslog_line(*args)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
