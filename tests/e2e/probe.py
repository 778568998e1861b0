#!/usr/bin/python3
"""Runs inside a test container and tries to reach the outside in every way the jail must stop.

Each argument is one probe, fields separated by '|':
  dns|LABEL|QNAME|QTYPE|SERVER|udp-or-tcp     SERVER "-" means the resolv.conf server
  tcp|LABEL|HOST|PORT|TOKEN                    connect, send TOKEN, read the reply
  udp|LABEL|HOST|PORT|TOKEN                    sendto TOKEN, wait for a reply
  icmp|LABEL|HOST|TOKEN                        echo request carrying TOKEN (ping socket)
Prints one line per probe: "LABEL key=value ..." with status=..., ms=<elapsed>, and for DNS
rcode= and answers= (comma-separated, "-" when there is none). Never raises: every failure
is a result. dig does the DNS probes, as a real client would.
"""
import errno
import socket
import struct
import subprocess
import sys
import time

TIMEOUT = 2.0


def errname(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if getattr(e, "errno", None) else type(e).__name__


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def probe_dns(qname, qtype, server, transport):
    cmd = ["dig", "+time=2", "+tries=1", "+noall", "+comments", "+answer", qname, qtype]
    if server != "-":
        cmd.insert(1, "@" + server)
    if transport == "tcp":
        cmd.insert(1, "+tcp")
    run = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=10)
    out = run.stdout.decode(errors="replace")
    rcode = "none"
    answers = []
    for line in out.splitlines():
        if "status:" in line:
            rcode = line.split("status:")[1].split(",")[0].strip()
        elif line and not line.startswith(";"):
            fields = line.split()
            if len(fields) >= 5:
                answers.append(fields[3] + ":" + "".join(fields[4:]).strip('"'))
    status = "answered" if rcode != "none" else "noreply"
    return "status=%s rcode=%s answers=%s dig_rc=%d" % (
        status, rcode, ",".join(answers) or "-", run.returncode)


def probe_tcp(host, port, token):
    s = socket.socket(family_of(host), socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    try:
        s.connect((host, int(port)))
        s.sendall(token.encode() + b"\r\n\r\n")
        reply = s.recv(200)
        return "status=connected reply=%r" % reply[:20]
    except socket.timeout:
        return "status=timeout"
    except OSError as e:
        return "status=error errno=%s" % errname(e)
    finally:
        s.close()


def probe_udp(host, port, token):
    s = socket.socket(family_of(host), socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    try:
        s.sendto(token.encode(), (host, int(port)))
        reply = s.recv(200)
        return "status=reply reply=%r" % reply[:20]
    except socket.timeout:
        return "status=timeout"
    except OSError as e:
        return "status=error errno=%s" % errname(e)
    finally:
        s.close()


def probe_icmp(host, token):
    v6 = ":" in host
    try:
        if v6:
            s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_ICMPV6)
            echo_type = 128
        else:
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_ICMP)
            echo_type = 8
    except OSError as e:
        return "status=nosocket errno=%s" % errname(e)
    s.settimeout(TIMEOUT)
    try:
        # The kernel fills in the identifier and (IPv4) checksum of a ping socket's packet.
        s.sendto(struct.pack("!BBHHH", echo_type, 0, 0, 0, 1) + token.encode(), (host, 0))
        reply = s.recv(200)
        return "status=reply type=%d" % reply[0]
    except socket.timeout:
        return "status=timeout"
    except OSError as e:
        return "status=error errno=%s" % errname(e)
    finally:
        s.close()


def main():
    for spec in sys.argv[1:]:
        fields = spec.split("|")
        kind, label = fields[0], fields[1]
        start = time.monotonic()
        try:
            if kind == "dns":
                result = probe_dns(*fields[2:6])
            elif kind == "tcp":
                result = probe_tcp(*fields[2:5])
            elif kind == "udp":
                result = probe_udp(*fields[2:5])
            elif kind == "icmp":
                result = probe_icmp(*fields[2:4])
            else:
                result = "status=badprobe"
        except Exception as e:  # a probe that blows up is a result, not a crash
            result = "status=exception what=%s" % type(e).__name__
        ms = int((time.monotonic() - start) * 1000)
        print("%s %s ms=%d" % (label, result, ms), flush=True)
    print("probe-done", flush=True)


if __name__ == "__main__":
    main()
