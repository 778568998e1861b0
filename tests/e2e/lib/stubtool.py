#!/usr/bin/python3
"""stub-standalone.sh's client of a dnsjail-dnsstub run by hand: queries, floods, the
control socket, launching the stub with its descriptors (see the subcommands at the end)."""
import json, os, random, select, socket, struct, sys, time

from daemonctl import control, launch
from ports import free_port

def query(qid, name, qtype=1, flags=0x0100):
    wire = b"".join(bytes([len(l)]) + l.encode() for l in name.split(".") if l) + b"\0"
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + wire + struct.pack(">HH", qtype, 1)

def tcp_pipeline(host, port, count):
    # COUNT queries in one write on one connection; every answer must come back, in order.
    s = socket.create_connection((host, int(port)), timeout=3)
    names = ["q%d.pipeline.example" % i for i in range(count)]
    s.sendall(b"".join(struct.pack(">H", len(q)) + q
                       for q in (query(1000 + i, n) for i, n in enumerate(names))))
    buf = b""
    answers = []
    while len(answers) < count:
        data = s.recv(65536)
        if not data:
            break
        buf += data
        while len(buf) >= 2 and len(buf) >= 2 + struct.unpack(">H", buf[:2])[0]:
            length = struct.unpack(">H", buf[:2])[0]
            answers.append(buf[2:2 + length])
            buf = buf[2 + length:]
    s.close()
    if len(answers) != count:
        print("got %d answers of %d" % (len(answers), count))
        return 1
    for i, a in enumerate(answers):
        qid, flags, qd, an = struct.unpack(">HHHH", a[:8])
        if qid != 1000 + i or flags & 0x800F != 0x8000 or an != 1 or a[-4:] != bytes([6, 6, 6, 6]):
            print("answer %d wrong: %s" % (i, a.hex()))
            return 1
    return 0

def udp_exchange(host, port, packet, timeout=1.0):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    s.sendto(packet, (host, int(port)))
    try:
        return s.recv(4096)
    except socket.timeout:
        return None
    finally:
        s.close()

def malformed(host, port):
    # Prints what each broken packet got: "none" or the rcode.
    packets = {
        "short": b"\x12\x34\x01",
        "response": struct.pack(">HHHHHH", 7, 0x8180, 1, 0, 0, 0) + b"\0\0\1\0\1",
        "truncated-name": struct.pack(">HHHHHH", 8, 0x0100, 1, 0, 0, 0) + b"\x07exam",
        "pointer-loop": struct.pack(">HHHHHH", 9, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\0\1\0\1",
        "label-64": struct.pack(">HHHHHH", 10, 0x0100, 1, 0, 0, 0) + b"\x40" + b"a" * 64 + b"\0\0\1\0\1",
        "qdcount-2": struct.pack(">HHHHHH", 11, 0x0100, 2, 0, 0, 0) + b"\0\0\1\0\1",
        "update": struct.pack(">HHHHHH", 12, 0x2800, 1, 0, 0, 0) + b"\0\0\6\0\1",
    }
    out = []
    for name, p in packets.items():
        a = udp_exchange(host, port, p, 0.5)
        out.append("%s=%s" % (name, "none" if a is None else "rcode%d" % (a[3] & 15)))
    print(" ".join(out))
    return 0

def flood(host, port, count):
    # Sends COUNT queries as fast as the socket takes them and collects what comes back.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
    s.connect((host, int(port)))
    s.setblocking(False)
    answers = 0
    start = time.monotonic()
    for i in range(count):
        while True:
            try:
                s.send(query(i & 0xFFFF, "f%d.flood.example" % i))
                break
            except BlockingIOError:
                select.select([], [s], [], 0.1)
        try:
            while True:
                s.recv(4096)
                answers += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
    deadline = time.monotonic() + 1
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 0.2)
        if not r:
            break
        try:
            s.recv(4096)
            answers += 1
        except (BlockingIOError, ConnectionRefusedError):
            pass
    print("%.3f %d" % (time.monotonic() - start, answers))
    return 0

def check_log(path, container):
    # Every line JSON; dns_query lines carry the documented fields. Prints counts per event
    # and the sum of suppressed counts.
    counts = {}
    suppressed = 0
    want = ["time", "event", "container", "client", "proto", "qname", "qtype", "rcode", "answer"]
    with open(path, "rb") as f:
        for number, raw in enumerate(f, 1):
            line = json.loads(raw)
            event = line["event"]
            counts[event] = counts.get(event, 0) + 1
            if event == "dns_query":
                missing = [k for k in want if k not in line]
                if missing or line["container"] != container or line["proto"] not in ("udp", "tcp"):
                    print("line %d: bad fields %s: %s" % (number, missing, raw))
                    return 1
                if not line["time"].endswith("Z") or len(line["time"]) != 24:
                    print("line %d: time %s" % (number, line["time"]))
                    return 1
            if event == "log_suppressed":
                suppressed += line["count"]
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())), "suppressed=%d" % suppressed)
    return 0

def find_line(path, **fields):
    # Exit 0 when some line has all FIELDS (values compared as JSON text).
    with open(path, "rb") as f:
        for raw in f:
            line = json.loads(raw)
            if all(json.dumps(line.get(k)) == v for k, v in fields.items()):
                return 0
    return 1

cmd, args = sys.argv[1], sys.argv[2:]
if cmd == "free-port":
    print(free_port())
elif cmd == "launch":
    launch(args)
elif cmd == "pipeline":
    sys.exit(tcp_pipeline(args[0], args[1], int(args[2])))
elif cmd == "malformed":
    sys.exit(malformed(args[0], args[1]))
elif cmd == "control":
    sys.exit(control(*args))
elif cmd == "flood":
    sys.exit(flood(args[0], args[1], int(args[2])))
elif cmd == "check-log":
    sys.exit(check_log(args[0], args[1]))
elif cmd == "find-line":
    sys.exit(find_line(args[0], **dict(a.split("=", 1) for a in args[1:])))
else:
    sys.exit("unknown command " + cmd)
