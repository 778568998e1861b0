#!/usr/bin/python3
"""proxy-standalone.sh's upstream servers, clients and launcher of a dnsjail-proxy run by
hand (see the subcommands at the end)."""
import asyncio, hashlib, http.server, json, os, socket, socketserver, ssl, sys, threading, time

from daemonctl import control, launch

# ---- upstream servers ----
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def read_body(self):
        h = hashlib.sha256()
        n = 0
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            while True:
                size = int(self.rfile.readline().split(b";")[0], 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b""):
                        pass
                    return h.hexdigest(), n
                left = size
                while left:
                    d = self.rfile.read(min(left, 1 << 20))
                    h.update(d); left -= len(d); n += len(d)
                self.rfile.readline()
        left = int(self.headers.get("Content-Length", "0"))
        while left:
            d = self.rfile.read(min(left, 1 << 20))
            if not d:
                break
            h.update(d); left -= len(d); n += len(d)
        return h.hexdigest(), n
    def text(self, body, extra=()):
        body = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        for k, v in extra:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
    def do_HEAD(self):
        self.do_GET()
    def do_GET(self):
        p = self.path
        if p.startswith("/bytes/"):
            n = int(p.split("/")[2])
            block = bytes(range(256)) * 4096
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            if self.command == "HEAD":
                return
            while n:
                k = min(n, len(block)); self.wfile.write(block[:k]); n -= k
        elif p == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"hello ", b"chunked ", b"world\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif p == "/close":
            self.send_response(200)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(b"delimited by close\n")
            self.close_connection = True
        elif p == "/upgrade":
            self.send_response(101)
            self.send_header("Upgrade", "echo")
            self.send_header("Connection", "Upgrade")
            self.end_headers()
            self.wfile.flush()
            while True:
                d = self.connection.recv(65536)
                if not d:
                    break
                self.connection.sendall(d)
            self.close_connection = True
        else:
            self.text("host=%s path=%s\n" % (self.headers.get("Host"), p))
    def do_POST(self):
        digest, n = self.read_body()
        self.text("%s %d\n" % (digest, n))
    do_PUT = do_POST

class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 4096

class Echo(socketserver.BaseRequestHandler):
    # Raw TCP: every byte back, and FIN back after FIN.
    def handle(self):
        while True:
            d = self.request.recv(65536)
            if not d:
                break
            self.request.sendall(d)
        self.request.shutdown(socket.SHUT_WR)

class EchoServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    daemon_threads = True
    allow_reuse_address = True

class EchoServer6(EchoServer):
    address_family = socket.AF_INET6

def servers(cert, key):
    threads = []
    def run(srv):
        t = threading.Thread(target=srv.serve_forever, daemon=True); t.start(); threads.append(t)
    run(Server(("127.0.0.1", 80), Handler))
    tls = Server(("127.0.0.1", 443), Handler)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    tls.socket = ctx.wrap_socket(tls.socket, server_side=True)
    run(tls)
    run(EchoServer(("127.0.0.2", 443), Echo))
    run(EchoServer6(("::1", 443), Echo))
    print("ready", flush=True)
    for t in threads:
        t.join()

# ---- clients ----
def raw(port, data, shut=False, wait=3.0, family=socket.AF_INET, host="127.0.0.1"):
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(wait)
    s.connect((host, port))
    s.sendall(data)
    if shut:
        s.shutdown(socket.SHUT_WR)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return out + b"<EOF>"
            out += d
    except socket.timeout:
        return out + b"<TIMEOUT>"
    except ConnectionResetError:
        return out + b"<RST>"

def halfclose_big(port, size):
    # A request, FIN at once, then a slow reader: the whole body must still arrive.
    s = socket.create_connection(("127.0.0.1", port), timeout=20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
    s.sendall(b"GET /bytes/%d HTTP/1.1\r\nHost: allowed.test\r\n\r\n" % size)
    s.shutdown(socket.SHUT_WR)
    time.sleep(0.5)
    data = bytearray()
    while True:
        d = s.recv(1 << 20)
        if not d:
            break
        data += d
    head, _, body = data.partition(b"\r\n\r\n")
    print(len(body))
    return 0

def tls_hello(sni):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=sni)
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return obj, inc, out, out.read()

def refragment(hello, size):
    # The one handshake record as several records of SIZE handshake bytes each.
    assert hello[0] == 22 and len(hello) == 5 + int.from_bytes(hello[3:5], "big")
    body = hello[5:]
    return b"".join(hello[:3] + len(body[i:i + size]).to_bytes(2, "big") + body[i:i + size]
                    for i in range(0, len(body), size))

def tls_get(port, sni, mode, path="/"):
    # A TLS GET whose ClientHello is sent whole, in 7-byte TCP segments, re-framed into
    # 64-byte TLS records, or both; prints the last line of the response or the TLS error.
    obj, inc, out, hello = tls_hello(sni)
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if mode in ("records", "both"):
        hello = refragment(hello, 64)
    if mode in ("segments", "both"):
        for i in range(0, len(hello), 7):
            s.sendall(hello[i:i + 7])
            time.sleep(0.003)
    else:
        s.sendall(hello)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                s.sendall(pending)
            d = s.recv(65536)
            if not d:
                print("EOF during the handshake")
                return 1
            inc.write(d)
        except ssl.SSLError as e:
            print("TLS error", e.reason)
            return 1
    obj.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n" % (path.encode(), sni.encode()))
    s.sendall(out.read())
    resp = b""
    while True:
        try:
            resp += obj.read(65536)
        except ssl.SSLWantReadError:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
    print(resp.decode(errors="replace").splitlines()[-1])
    return 0

def tls_echo(port, sni):
    # A real ClientHello plus more bytes, then FIN, to a raw echo upstream: everything must
    # come back in order, then FIN (half-close forwarded both ways).
    _, _, _, hello = tls_hello(sni)
    extra = b"after the hello " * 1000
    got = raw(port, hello + extra, shut=True)
    print("echoed" if got == hello + extra + b"<EOF>" else "wrong: %d bytes %r" % (len(got), got[-20:]))
    return 0

def idle_closed(port, sni, seconds):
    # Relays to the echo upstream, then stays silent: how long until the proxy closes?
    _, _, _, hello = tls_hello(sni)
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    s.sendall(hello)
    got = b""
    start = time.monotonic()
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except (socket.timeout, ConnectionResetError):
        pass
    print("%s %.1f" % ("closed" if got == hello else "echo-wrong", time.monotonic() - start))
    return 0

def silent_closed(port, send, seconds):
    # Connects, sends SEND (may be empty), and waits: prints what came back and when.
    s = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    start = time.monotonic()
    if send:
        s.sendall(send.encode())
    got = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            got += d
    except socket.timeout:
        print("timeout")
        return 0
    except ConnectionResetError:
        pass
    print("%s %.1f" % (got.split(b"\r\n")[0].decode(errors="replace") or "EOF", time.monotonic() - start))
    return 0

CTX = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CTX.check_hostname = False
CTX.verify_mode = ssl.CERT_NONE

def many(count, port, tls):
    # COUNT connections at once, each with one request answered while every one of them is
    # still open; prints how many were answered while all were open, and how many right.
    async def one(i, answered, hold):
        if tls:
            r, w = await asyncio.open_connection("127.0.0.1", port, ssl=CTX, server_hostname="allowed.test")
        else:
            r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"GET /c%d HTTP/1.1\r\nHost: allowed.test\r\n\r\n" % i)
        head = await r.readuntil(b"\r\n\r\n")
        length = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
        body = await r.readexactly(int(length[0].split(b":")[1]))
        good = head.startswith(b"HTTP/1.1 200") and body.endswith(b"path=/c%d\n" % i)
        answered.append(good)
        await hold.wait()
        w.close()
        return good
    async def main():
        answered, hold = [], asyncio.Event()
        tasks = [asyncio.create_task(one(i, answered, hold)) for i in range(count)]
        for _ in range(600):
            await asyncio.sleep(0.1)
            if len(answered) == count or any(t.done() for t in tasks):
                break
        while_open = len(answered)
        hold.set()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [repr(x) for x in res if x is not True]
        print("answered-while-open=%d right=%d" % (while_open, count - len(errors)), *errors[:3])
    asyncio.run(main())
    return 0

def hold_open(port, count, seconds):
    # Opens COUNT connections and keeps them; then one more: prints what the extra one got.
    keep = [socket.create_connection(("127.0.0.1", port)) for _ in range(count)]
    time.sleep(0.3)
    extra = socket.create_connection(("127.0.0.1", port), timeout=seconds)
    try:
        got = extra.recv(100)
        print("closed" if got == b"" else "data")
    except socket.timeout:
        print("kept")
    except ConnectionResetError:
        print("closed")
    for k in keep:
        k.close()
    return 0

def launch_netns(args):
    # launch-netns PID PROG ARGS...: like the hook, bind the listeners inside the network
    # namespace of PID (127.0.0.1:15380 {H4}, [::1]:15380 {H6}, 127.0.0.1:15443 {T4}), come
    # back, and exec PROG here with them.
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/self/ns/net", os.O_RDONLY)
    there = os.open("/proc/%s/ns/net" % args[0], os.O_RDONLY)
    if libc.setns(there, 0x40000000) != 0:
        sys.exit("setns: %s" % os.strerror(ctypes.get_errno()))
    subst = {}
    for tag, family, addr in (("{H4}", socket.AF_INET, ("127.0.0.1", 15380)),
                              ("{H6}", socket.AF_INET6, ("::1", 15380)),
                              ("{T4}", socket.AF_INET, ("127.0.0.1", 15443))):
        s = socket.socket(family, socket.SOCK_STREAM)
        s.bind(addr)
        s.listen(128)
        os.set_inheritable(s.fileno(), True)
        subst[tag] = str(s.fileno())
        globals().setdefault("keep", []).append(s)
    if libc.setns(here, 0x40000000) != 0:
        sys.exit("setns back: %s" % os.strerror(ctypes.get_errno()))
    os.execv(args[1], [args[1]] + [subst.get(x, x) for x in args[2:]])

def check_log(path, container):
    # Every line JSON with the documented fields; prints counts per event and decision.
    common = ["time", "event", "container", "client", "host", "port", "decision", "reason",
              "bytes_up", "bytes_down", "duration_ms"]
    counts = {}
    with open(path, "rb") as f:
        for number, raw_line in enumerate(f, 1):
            line = json.loads(raw_line)
            event = line["event"]
            if event in ("http_request", "tls_connection") and "bytes_up" in line:
                want = common + (["method", "path"] if event == "http_request" else [])
                missing = [k for k in want if k not in line]
                if missing or line["container"] != container or line["decision"] not in ("allow", "deny", "error"):
                    print("line %d: bad fields %s: %s" % (number, missing, raw_line))
                    return 1
                if not line["time"].endswith("Z") or len(line["time"]) != 24:
                    print("line %d: time %s" % (number, line["time"]))
                    return 1
            key = "%s/%s" % (event, line.get("decision"))
            counts[key] = counts.get(key, 0) + 1
    print(" ".join("%s=%d" % kv for kv in sorted(counts.items())))
    return 0

def echo_bytes(path):
    # The echo upstream sends back what it got: some echo.test line has equal, large counts.
    with open(path, "rb") as f:
        for raw_line in f:
            line = json.loads(raw_line)
            if line.get("host") == "echo.test" and line.get("bytes_up", 0) > 16000 \
                    and line.get("bytes_up") == line.get("bytes_down"):
                return 0
    return 1

def find_line(log_path, **fields):
    # Exit 0 when some line has all FIELDS (values compared as JSON text).
    with open(log_path, "rb") as f:
        for raw_line in f:
            line = json.loads(raw_line)
            if all(json.dumps(line.get(k)) == v for k, v in fields.items()):
                return 0
    return 1

cmd, a = sys.argv[1], sys.argv[2:]
if cmd == "servers":
    servers(a[0], a[1])
elif cmd == "raw":
    data = a[1].encode().decode("unicode_escape").encode("latin-1")
    sys.stdout.write(raw(int(a[0]), data, shut=len(a) > 2 and a[2] == "shut").decode("latin-1"))
elif cmd == "raw6":
    data = a[1].encode().decode("unicode_escape").encode("latin-1")
    sys.stdout.write(raw(int(a[0]), data, family=socket.AF_INET6, host="::1").decode("latin-1"))
elif cmd == "halfclose-big":
    sys.exit(halfclose_big(int(a[0]), int(a[1])))
elif cmd == "tls-get":
    sys.exit(tls_get(int(a[0]), a[1], a[2], *a[3:]))
elif cmd == "tls-echo":
    sys.exit(tls_echo(int(a[0]), a[1]))
elif cmd == "idle-closed":
    sys.exit(idle_closed(int(a[0]), a[1], float(a[2])))
elif cmd == "silent-closed":
    sys.exit(silent_closed(int(a[0]), a[1], float(a[2])))
elif cmd == "many":
    sys.exit(many(int(a[0]), int(a[1]), a[2] == "tls"))
elif cmd == "hold-open":
    sys.exit(hold_open(int(a[0]), int(a[1]), float(a[2])))
elif cmd == "launch":
    launch(a)
elif cmd == "launch-netns":
    launch_netns(a)
elif cmd == "control":
    sys.exit(control(*a))
elif cmd == "check-log":
    sys.exit(check_log(a[0], a[1]))
elif cmd == "echo-bytes":
    sys.exit(echo_bytes(a[0]))
elif cmd == "find-line":
    sys.exit(find_line(a[0], **dict(x.split("=", 1) for x in a[1:])))
else:
    sys.exit("unknown command " + cmd)
