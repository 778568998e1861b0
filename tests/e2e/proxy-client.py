#!/usr/bin/env python3
"""The client side of proxy-runtimes.sh: what a program inside a jailed container does to
reach the web, and what it gets.

Inside the container (the host's /usr is there, so python3, curl and busybox are):
  proxy-client.py run SUITE TAG
runs SUITE's checks and prints one JSON object per check ({"label": ..., facts...}) and a
last line {"label": "done"}. It only records facts (status codes, bodies, exit codes, TLS
errors, digests); the test script decides, on the host, with:
  proxy-client.py expect RESULTS LABEL EXPR
which exits 0 when the check LABEL exists in RESULTS and the Python expression EXPR is true
of it (the object is `r`), and otherwise prints the object.

Names (the test world's resolver answers them; inside the jail every name resolves to the
sinkhole, so a connection to port 80 or 443 of any name ends at dnsjail-proxy, which decides
on the Host header or the TLS server name): allowed.test, *.example.test, evilexample.test,
big.test -> the upstream server; private.test -> 10.0.0.1; denied-TAG.test -> the canary.
The upstream's certificate is /pt/ca.pem (self-signed, SANs for those names and
203.0.113.80).
"""
import asyncio
import hashlib
import json
import os
import random
import socket
import ssl
import subprocess
import sys
import time

CA = "/pt/ca.pem"
UPSTREAM_IP = "203.0.113.80"
BIG = 100 * 1024 * 1024
BLOCK = 1 << 20


def emit(label, **facts):
    facts["label"] = label
    print(json.dumps(facts, sort_keys=True), flush=True)


def gen_blocks(seed, n):
    # The same stream as proxy-upstream.py's gen_blocks.
    rng = random.Random(seed)
    while n > 0:
        k = min(n, BLOCK)
        yield rng.randbytes(k)
        n -= k


def run(cmd, timeout=60, stdin=None, env=None):
    """Runs CMD; returns (exit code, stdout text, stderr text)."""
    p = subprocess.run(cmd, input=stdin, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def curl(label, url, *extra):
    start = time.monotonic()
    rc, out, err = run(["curl", "-sS", "--max-time", "20", "--cacert", CA,
                        "-w", "\n%{http_code}", *extra, url])
    body, _, code = out.rpartition("\n")
    emit(label, rc=rc, code=int(code or 0), body=body, err=err.strip(),
         ms=int((time.monotonic() - start) * 1000))


def wget(label, url):
    # busybox wget does HTTPS through `openssl s_client -verify_return_error`, which trusts
    # SSL_CERT_FILE: the certificate is verified. (No -T: Debian's busybox-static 1.35 wget
    # crashes with it.)
    env = dict(os.environ, SSL_CERT_FILE=CA)
    rc, out, err = run(["busybox", "wget", "-q", "-O", "-", url], timeout=30, env=env)
    emit(label, rc=rc, body=out, err=err.strip())


# ---- raw HTTP on one connection --------------------------------------------------------------
def read_response(f, head_request=False):
    """One response from the buffered reader F: (status, headers, body), or None at EOF.
    No body after HEAD, for 1xx, 204 and 304; to EOF without a length."""
    line = f.readline()
    if not line:
        return None
    status = int(line.split()[1])
    headers = {}
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        k, _, v = line.decode("latin-1").partition(":")
        headers[k.strip().lower()] = v.strip()
    if head_request or status < 200 or status in (204, 304):
        body = b""
    elif "content-length" in headers:
        body = f.read(int(headers["content-length"]))
    else:
        body = f.read()
    return status, headers, body.decode(errors="replace")


def exchange(host, requests, pipelined=False, port=80):
    """Sends REQUESTS (bytes each) on one connection, one after the other's response or all
    at once; returns the responses [[status, body], ...] and whether the server closed after
    the last one."""
    s = socket.create_connection((host, port), timeout=10)
    f = s.makefile("rb")
    answers = []
    if pipelined:
        s.sendall(b"".join(requests))
    for req in requests:
        if not pipelined:
            try:
                s.sendall(req)
            except OSError:
                break
        r = read_response(f, req.startswith(b"HEAD "))
        if r is None:
            break
        answers.append([r[0], r[2]])
    # A refusal closes at once; after an answer from the site the connection stays open
    # (keep-alive), and waiting for that would only cost time.
    closed = None
    if answers and answers[-1][0] >= 400:
        s.settimeout(3)
        try:
            closed = f.read(1) == b""
        except (socket.timeout, ConnectionResetError):
            closed = False
    s.close()
    return answers, closed


def get(host, path="/", extra=b"", method=b"GET"):
    return b"%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n" % (method, path.encode(), host.encode(),
                                                        extra)


def raw_http(label, requests, pipelined=False, host="allowed.test"):
    try:
        answers, closed = exchange(host, requests, pipelined)
        emit(label, answers=answers, closed=closed)
    except Exception as e:
        emit(label, error=repr(e))


# ---- TLS ---------------------------------------------------------------------------------------
def tls_context(verify=True):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if verify:
        ctx.load_verify_locations(CA)
    else:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


def reframe(hello, size):
    """The ClientHello's one handshake record as several records of SIZE bytes each."""
    assert hello[0] == 22 and len(hello) == 5 + int.from_bytes(hello[3:5], "big"), "one record"
    body = hello[5:]
    return b"".join(hello[:3] + len(body[i:i + size]).to_bytes(2, "big") + body[i:i + size]
                    for i in range(0, len(body), size))


def tls_get(label, connect_to, sni, mode="whole", verify=True, path="/tls"):
    """A TLS GET over a socket of our own, the handshake driven through MemoryBIOs so the
    ClientHello can be sent whole, in 5-byte TCP segments ("segments"), re-framed into TLS
    records of 40 bytes ("records"), or both. SNI None: no server name at all."""
    facts = {"mode": mode, "sni": sni}
    try:
        ctx = tls_context(verify and sni is not None)
        inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
        obj = ctx.wrap_bio(inc, out, server_hostname=sni)
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            pass
        hello = out.read()
        facts["hello_len"] = len(hello)
        s = socket.create_connection((connect_to, 443), timeout=10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if mode in ("records", "both"):
            hello = reframe(hello, 40)
            facts["records"] = hello.count(b"\x16\x03\x01") or hello.count(b"\x16\x03")
        if mode in ("segments", "both"):
            for i in range(0, len(hello), 5):
                s.sendall(hello[i:i + 5])
                time.sleep(0.002)
            facts["segments"] = (len(hello) + 4) // 5
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
                    raise EOFError("EOF during the handshake")
                inc.write(d)
        obj.write(b"GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n"
                  % (path.encode(), (sni or UPSTREAM_IP).encode()))
        s.sendall(out.read())
        resp = b""
        while True:
            try:
                d = obj.read(65536)
                if not d:
                    break
                resp += d
            except ssl.SSLWantReadError:
                d = s.recv(65536)
                if not d:
                    break
                inc.write(d)
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                break
        head, _, body = resp.partition(b"\r\n\r\n")
        facts.update(ok=True, status=int(head.split()[1]), body=body.decode(errors="replace"))
    except ssl.SSLError as e:
        facts.update(ok=False, ssl_reason=e.reason, error=str(e))
    except Exception as e:
        facts.update(ok=False, error=repr(e))
    emit(label, **facts)


# ---- bulk ---------------------------------------------------------------------------------
def download(label, url):
    h = hashlib.sha256()
    size = 0
    start = time.monotonic()
    p = subprocess.Popen(["curl", "-sS", "--max-time", "120", "--cacert", CA, url],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    while True:
        d = p.stdout.read(1 << 20)
        if not d:
            break
        h.update(d)
        size += len(d)
    err = p.stderr.read().decode(errors="replace")
    rc = p.wait()
    emit(label, rc=rc, sha256=h.hexdigest(), size=size, err=err.strip(),
         seconds=round(time.monotonic() - start, 2))


def upload(label, url, seed, n, chunked):
    # Content-Length (curl reads the body from a file) or chunked (curl -T - from a pipe).
    # -v: did curl send Expect: 100-continue, and did the interim 100 come back?
    h = hashlib.sha256()
    base = ["curl", "-sS", "-v", "--max-time", "120", "--cacert", CA]
    start = time.monotonic()
    if chunked:
        p = subprocess.Popen(base + ["-T", "-", url], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for block in gen_blocks(seed, n):
            h.update(block)
            p.stdin.write(block)
        p.stdin.close()
        out = p.stdout.read().decode(errors="replace")
        err = p.stderr.read().decode(errors="replace")
        rc = p.wait()
    else:
        path = "/tmp/upload.bin"
        with open(path, "wb") as f:
            for block in gen_blocks(seed, n):
                h.update(block)
                f.write(block)
        start = time.monotonic()
        rc, out, err = run(base + ["--data-binary", "@" + path, url], timeout=150)
    lines = err.splitlines()
    emit(label, rc=rc, sent_sha256=h.hexdigest(), sent=n, reply=out.strip(),
         expect_sent=any(x.lower().startswith("> expect: 100-continue") for x in lines),
         got_100=any(x.startswith("< HTTP/1.1 100") for x in lines),
         chunked_sent=any(x.lower().startswith("> transfer-encoding: chunked") for x in lines),
         err=[x for x in lines if x.startswith("curl:")], seconds=round(time.monotonic() - start, 2))


def many(label, count, host, port, tls):
    """COUNT connections open at once, each answered one GET while all are still open."""
    ctx = tls_context() if tls else None

    async def one(i, answered, hold):
        if tls:
            r, w = await asyncio.open_connection(host, port, ssl=ctx, server_hostname=host)
        else:
            r, w = await asyncio.open_connection(host, port)
        w.write(get(host, "/c%d" % i))
        head = await r.readuntil(b"\r\n\r\n")
        length = [x for x in head.split(b"\r\n") if x.lower().startswith(b"content-length:")]
        body = await r.readexactly(int(length[0].split(b":")[1]))
        good = head.startswith(b"HTTP/1.1 200") and b"path=/c%d " % i in body
        answered.append(good)
        await hold.wait()
        w.close()
        return good

    async def main():
        answered, hold = [], asyncio.Event()
        start = time.monotonic()
        tasks = [asyncio.create_task(one(i, answered, hold)) for i in range(count)]
        for _ in range(600):
            await asyncio.sleep(0.1)
            if len(answered) == count or all(t.done() for t in tasks):
                break
        while_open = len(answered)
        hold.set()
        res = await asyncio.gather(*tasks, return_exceptions=True)
        errors = [repr(x) for x in res if x is not True]
        emit(label, count=count, answered_while_open=while_open, right=count - len(errors),
             errors=errors[:3], seconds=round(time.monotonic() - start, 2))

    try:
        asyncio.run(main())
    except Exception as e:
        emit(label, error=repr(e))


# ---- suites -------------------------------------------------------------------------------
def suite_basic(tag):
    denied = "denied-%s.test" % tag
    curl("curl_http_allowed", "http://allowed.test/curl-http")
    curl("curl_https_allowed", "https://allowed.test/curl-https")
    wget("wget_http_allowed", "http://allowed.test/wget-http")
    wget("wget_https_allowed", "https://allowed.test/wget-https")
    curl("curl_http_denied", "http://%s/secret-%s" % (denied, tag))
    curl("curl_https_denied", "https://%s/secret-%s" % (denied, tag))
    wget("wget_http_denied", "http://%s/secret-%s" % (denied, tag))
    wget("wget_https_denied", "https://%s/secret-%s" % (denied, tag))
    tls_get("tls_denied", denied, denied)


def suite_full(tag):
    denied = "denied-%s.test" % tag
    suite_basic(tag)
    # wildcard rules, look-alikes, the bare parent
    curl("http_www_example", "http://www.example.test/w")
    curl("https_www_example", "https://www.example.test/w")
    curl("http_deep_example", "http://a.b.example.test/deep")
    curl("https_deep_example", "https://a.b.example.test/deep")
    curl("http_evilexample", "http://evilexample.test/evil")
    curl("https_evilexample", "https://evilexample.test/evil")
    curl("http_bare_example", "http://example.test/bare")
    # case and one trailing dot, on the wire exactly
    raw_http("http_mixed_case", [get("AlLoWeD.TeSt", "/mixed")])
    raw_http("http_trailing_dot", [get("allowed.test.", "/dot")])
    raw_http("http_mixed_case_dot", [get("ALLOWED.test.", "/mixeddot")])
    tls_get("tls_mixed_case", "allowed.test", "AlLoWeD.TeSt", verify=False)
    tls_get("tls_trailing_dot", "allowed.test", "allowed.test.", verify=False)
    curl("curl_https_mixed_case_dot", "https://AlLoWeD.TeSt./curl-mixed")
    # keep-alive: the decision is per request
    reqs = [get("allowed.test", "/ka1"), get("www.example.test", "/ka2"),
            get(denied, "/ka3-secret-%s" % tag), get("allowed.test", "/ka4")]
    raw_http("keepalive", reqs)
    raw_http("pipelined", reqs, pipelined=True)
    # responses without a body, or without a length, on a kept-alive connection
    framing = [get("allowed.test", "/head", method=b"HEAD"), get("allowed.test", "/status/204"),
               get("allowed.test", "/status/304"), get("allowed.test", "/after"),
               get("allowed.test", "/close-%s" % tag)]
    raw_http("framing", framing)
    raw_http("framing_pipelined", framing, pipelined=True)
    # absolute-form and Host
    raw_http("absolute_agree", [b"GET http://allowed.test/abs HTTP/1.1\r\nHost: allowed.test\r\n\r\n"])
    raw_http("absolute_other_allowed",
             [b"GET http://www.example.test/abs HTTP/1.1\r\nHost: allowed.test\r\n\r\n"])
    raw_http("absolute_denied_host_allowed",
             [b"GET http://%s/abs-secret-%s HTTP/1.1\r\nHost: allowed.test\r\n\r\n"
              % (denied.encode(), tag.encode())])
    raw_http("absolute_allowed_host_denied",
             [b"GET http://allowed.test/abs HTTP/1.1\r\nHost: %s\r\n\r\n" % denied.encode()])
    raw_http("missing_host", [b"GET /nohost HTTP/1.1\r\n\r\n"])
    # the ClientHello in pieces
    tls_get("tls_whole", "allowed.test", "allowed.test")
    tls_get("tls_segments", "allowed.test", "allowed.test", "segments")
    tls_get("tls_records", "allowed.test", "allowed.test", "records")
    tls_get("tls_segments_records", "allowed.test", "allowed.test", "both")
    tls_get("tls_denied_records", denied, denied, "both")
    tls_get("tls_no_sni", "allowed.test", None, verify=False)
    # IP literals without an address rule
    curl("curl_https_ip_literal", "https://%s/ip" % UPSTREAM_IP)
    tls_get("tls_ip_literal", UPSTREAM_IP, None, verify=False)
    curl("curl_http_ip_literal", "http://%s/ip" % UPSTREAM_IP)
    # IPv6 to the proxy (every address ends there), and an address of the container's choosing
    # that does not matter: the proxy connects where the name resolves
    curl("http_v6_name", "http://[2001:db8::99]/v6", "-H", "Host: allowed.test")
    curl("https_v6_name", "https://allowed.test/v6tls", "--connect-to",
         "allowed.test:443:[2001:db8::99]:443")
    curl("http_v6_literal", "http://[2001:db8::99]/v6literal")
    curl("http_other_dest", "http://allowed.test/otherdest-%s" % tag, "--resolve",
         "allowed.test:80:203.0.113.7")
    curl("https_other_dest", "https://allowed.test/otherdest-%s" % tag, "--resolve",
         "allowed.test:443:203.0.113.7")
    # allowed names that lead nowhere: fail at once, with the reason
    curl("http_down", "http://down.test/down")
    curl("http_nx", "http://nx.test/nx")
    # a name resolving to a private address
    curl("http_private", "http://private.test/private")
    curl("https_private", "https://private.test/private")
    # bulk
    # (plain HTTP bodies go through the proxy's framing, Content-Length and chunked; HTTPS is
    # relayed as it comes. curl sends Expect: 100-continue with the uploads.)
    download("download_http", "http://big.test/gen/dl-http-%s/%d" % (tag, BIG))
    download("download_http_chunked", "http://big.test/genchunked/dl-http_chunked-%s/%d" % (tag, BIG))
    download("download_https", "https://big.test/gen/dl-https-%s/%d" % (tag, BIG))
    upload("upload_http", "http://big.test/upload", "up-http-" + tag, BIG, chunked=False)
    upload("upload_http_chunked", "http://big.test/upload", "up-http_chunked-" + tag, BIG,
           chunked=True)
    upload("upload_https", "https://big.test/upload", "up-https-" + tag, BIG, chunked=False)
    # a denied request with its body already on the way (no Expect): a clean 403 all the same
    curl("http_denied_upload", "http://%s/up-secret-%s" % (denied, tag), "-H", "Expect:",
         "--data-binary", "@/tmp/upload.bin")
    # an allowed request with a body, then a denied one, pipelined
    body = b"b" * 100000
    raw_http("pipelined_body_then_denied",
             [b"POST /pbody HTTP/1.1\r\nHost: allowed.test\r\nContent-Length: %d\r\n\r\n%s"
              % (len(body), body), get(denied, "/pbody-secret-%s" % tag)], pipelined=True)
    # many at once
    many("many_http", 1000, "allowed.test", 80, tls=False)
    many("many_https", 1000, "allowed.test", 443, tls=True)


def suite_cidr(tag):
    # io.dnsjail.allow=203.0.113.0/24:443 only
    curl("cidr_https_direct", "https://%s/cidr-%s" % (UPSTREAM_IP, tag))
    curl("cidr_http_port80", "http://%s/cidr80-%s" % (UPSTREAM_IP, tag))


def main():
    if sys.argv[1] == "run":
        suite, tag = sys.argv[2], sys.argv[3]
        try:
            {"basic": suite_basic, "full": suite_full, "cidr": suite_cidr}[suite](tag)
        finally:
            emit("done")
    elif sys.argv[1] in ("any", "none"):
        # any|none FILE EXPR: some line / no line of the JSON-lines FILE satisfies EXPR (`r`)
        path, expr = sys.argv[2:4]
        found = None
        for line in open(path, errors="replace"):
            try:
                r = json.loads(line)
                if eval(expr, {}, {"r": r}):
                    found = line.strip()
                    break
            except Exception:
                continue
        if sys.argv[1] == "none" and found:
            print("found: " + found[:1500])
        sys.exit(0 if (found is not None) == (sys.argv[1] == "any") else 1)
    elif sys.argv[1] == "expect":
        path, label, expr = sys.argv[2:5]
        for line in open(path, errors="replace"):
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if r.get("label") == label:
                try:
                    ok = eval(expr, {}, {"r": r})
                except Exception as e:
                    ok = False
                    print("expression failed: %r" % e)
                if not ok:
                    print(json.dumps(r, sort_keys=True)[:1500])
                sys.exit(0 if ok else 1)
        print("no result for %s" % label)
        sys.exit(1)
    else:
        sys.exit("proxy-client.py: unknown command")


if __name__ == "__main__":
    main()
