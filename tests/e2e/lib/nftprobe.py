#!/usr/bin/python3
"""nftables.sh's probes and listeners: connects, sends and serves TCP and UDP from inside
and outside the jail's namespace (see the subcommands at the end)."""
import errno, os, socket, struct, sys, time

def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET

def serve_tcp(host, port, banner):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(16)
    while True:
        c, _ = s.accept()
        try:
            c.sendall(banner.encode() + b"\n")
        except OSError:
            pass
        c.close()

def serve_udp(host, port):
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.bind((host, int(port)))
    while True:
        data, peer = s.recvfrom(2048)
        s.sendto(data, peer)

def name(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if e.errno else type(e).__name__

def tcp(host, port):
    # Prints the outcome and the seconds it took: "banner:TEXT", "connected", "error:ENAME",
    # "timeout".
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(3)
    start = time.monotonic()
    try:
        s.connect((host, int(port)))
        data = s.recv(100).decode(errors="replace").strip()
        outcome = "banner:" + data if data else "connected"
    except socket.timeout:
        outcome = "timeout"
    except OSError as e:
        outcome = "error:" + name(e)
    print(outcome, "%.3f" % (time.monotonic() - start))

def udp(host, port):
    # "reply", "send-error:ENAME", "recv-error:ENAME" or "timeout".
    s = socket.socket(family(host), socket.SOCK_DGRAM)
    s.settimeout(2)
    s.connect((host, int(port)))  # connected, so ICMP errors come back as recv errors
    try:
        s.send(b"leak?")
    except OSError as e:
        print("send-error:" + name(e))
        return
    try:
        s.recv(100)
        print("reply")
    except socket.timeout:
        print("timeout")
    except OSError as e:
        print("recv-error:" + name(e))

def checksum(data):
    total = sum(int.from_bytes(data[i:i + 2], "big") for i in range(0, len(data) - 1, 2))
    if len(data) % 2:
        total += data[-1] << 8
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF

def ping(host):
    # One ICMP echo over a raw socket (root; no iputils needed): "reply", "send-error:ENAME",
    # "recv-error:ENAME" or "timeout".
    v6 = family(host) == socket.AF_INET6
    s = socket.socket(family(host), socket.SOCK_RAW,
                      socket.IPPROTO_ICMPV6 if v6 else socket.IPPROTO_ICMP)
    ident = os.getpid() & 0xFFFF
    request, reply = (128, 129) if v6 else (8, 0)
    packet = struct.pack("!BBHHH", request, 0, 0, ident, 1) + b"dnsjail-test"
    if not v6:  # the kernel fills in the ICMPv6 checksum, not the ICMPv4 one
        packet = packet[:2] + struct.pack("!H", checksum(packet)) + packet[4:]
    s.connect((host, 0))
    try:
        s.send(packet)
    except OSError as e:
        print("send-error:" + name(e))
        return
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        s.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            data = s.recv(2048)
        except socket.timeout:
            break
        except OSError as e:
            print("recv-error:" + name(e))
            return
        if not v6:
            data = data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets deliver the IP header too
        if len(data) >= 8 and data[0] == reply and struct.unpack("!H", data[4:6])[0] == ident:
            print("reply")
            return
    print("timeout")

{"serve-tcp": serve_tcp, "serve-udp": serve_udp, "tcp": tcp, "udp": udp,
 "ping": ping}[sys.argv[1]](*sys.argv[2:])
