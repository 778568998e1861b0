#!/usr/bin/env python3
"""The upstream web servers of proxy-runtimes.sh: the real sites an allowed name leads to.

Runs in the test world's server namespace (world_servers_ns), where it binds the exact
addresses it serves: plain HTTP on ADDR:80 and HTTPS on ADDR:443, with CERT and KEY. Both
speak the same small HTTP/1.1 (keep-alive, Content-Length and chunked request bodies):
  GET /gen/SEED/N      N bytes of the stream gen(SEED) (see gen_blocks), for download checks
  GET /genchunked/SEED/N  the same, chunked (chunks of 1 byte to 64 KiB)
  GET /status/204, /status/304   no body (the 304 with a Content-Length: 1000)
  GET /close...        a body delimited by closing the connection
  Expect: 100-continue is answered with an interim 100 Continue
  POST or PUT anything the sha256 and size of the request body: "sha256=HEX size=N"
  GET anything else    "host=HOST sni=SNI path=PATH peer=ADDRESS"
Every request and every TLS handshake goes to LOG as one JSON line (proto, peer, sni, host,
method, path), so a test can tell what reached the site, from where, and under which name.
Writes "ready" to stdout once every socket is bound.

usage: proxy-upstream.py serve LOG CERT KEY ADDR...
       proxy-upstream.py digest SEED N     the sha256 of the first N bytes of gen(SEED)
"""
import asyncio
import hashlib
import json
import random
import ssl
import sys
import time

BLOCK = 1 << 20


def gen_blocks(seed, n):
    """N pseudo-random bytes from SEED in blocks of at most 1 MiB: the same everywhere (a
    reordered or repeated block changes the digest, unlike a periodic pattern)."""
    rng = random.Random(seed)
    while n > 0:
        k = min(n, BLOCK)
        yield rng.randbytes(k)
        n -= k


def digest(seed, n):
    h = hashlib.sha256()
    for block in gen_blocks(seed, n):
        h.update(block)
    return h.hexdigest()


class Log:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)

    def write(self, **fields):
        fields["time"] = round(time.time(), 3)
        self.f.write(json.dumps(fields, sort_keys=True) + "\n")


async def read_body(reader, headers, h):
    """Reads the request body into the hash H; returns its size."""
    size = 0
    if headers.get("transfer-encoding", "").lower() == "chunked":
        while True:
            line = await reader.readuntil(b"\r\n")
            chunk = int(line.split(b";")[0].strip(), 16)
            if chunk == 0:
                while (await reader.readuntil(b"\r\n")) != b"\r\n":
                    pass
                return size
            left = chunk
            while left:
                d = await reader.read(min(left, 1 << 18))
                if not d:
                    raise EOFError("inside a chunk")
                h.update(d)
                left -= len(d)
                size += len(d)
            await reader.readexactly(2)
    left = int(headers.get("content-length", "0"))
    while left:
        d = await reader.read(min(left, 1 << 18))
        if not d:
            raise EOFError("inside the body")
        h.update(d)
        left -= len(d)
        size += len(d)
    return size


async def serve_conn(reader, writer, proto, log):
    peer = writer.get_extra_info("peername")[0]
    sni = None
    sslobj = writer.get_extra_info("ssl_object")
    if sslobj is not None:
        sni = getattr(sslobj, "dj_sni", None)
        log.write(proto=proto, event="handshake", peer=peer, sni=sni)
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, ConnectionError):
                return
            lines = head.decode("latin-1").split("\r\n")
            method, path, version = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    k, v = line.split(":", 1)
                    headers[k.strip().lower()] = v.strip()
            host = headers.get("host")
            log.write(proto=proto, event="request", peer=peer, sni=sni, host=host,
                      method=method, path=path)
            keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
            if method in ("POST", "PUT"):
                if headers.get("expect", "").lower() == "100-continue":
                    # An interim response before the final one: the proxy relays both.
                    writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
                    await writer.drain()
                h = hashlib.sha256()
                size = await read_body(reader, headers, h)
                body = ("sha256=%s size=%d\n" % (h.hexdigest(), size)).encode()
                log.write(proto=proto, event="upload", peer=peer, host=host, size=size)
            elif method == "GET" and path.startswith(("/gen/", "/genchunked/")):
                kind, seed, n = path.split("/")[1:]
                n = int(n)
                if kind == "gen":
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Content-Length: %d\r\n\r\n" % n)
                    for block in gen_blocks(seed, n):
                        writer.write(block)
                        await writer.drain()
                else:
                    # Chunks of every size from 1 byte to 64 KiB, so chunk boundaries fall
                    # anywhere in the proxy's reads.
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n")
                    sizes = random.Random("sizes" + seed)
                    for block in gen_blocks(seed, n):
                        i = 0
                        while i < len(block):
                            k = sizes.randint(1, 65536)
                            part = block[i:i + k]
                            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                            i += k
                        await writer.drain()
                    writer.write(b"0\r\n\r\n")
                    await writer.drain()
                if not keep:
                    return
                continue
            elif method == "GET" and path.startswith("/status/"):
                # Responses without a body whatever their headers say: 204, and 304 with the
                # Content-Length of the representation it stands for.
                code = int(path.split("/")[2])
                writer.write(b"HTTP/1.1 %d X\r\n%s\r\n" % (
                    code, b"Content-Length: 1000\r\n" if code == 304 else b""))
                await writer.drain()
                continue
            elif method == "GET" and path.startswith("/close"):
                # No length: the body ends when the connection does.
                writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                writer.write(b"delimited by close, path=%s\n" % path.encode())
                await writer.drain()
                return
            else:
                body = ("host=%s sni=%s path=%s peer=%s\n" % (host, sni, path, peer)).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n"
                         b"%s\r\n" % (len(body), b"" if keep else b"Connection: close\r\n"))
            if method != "HEAD":
                writer.write(body)
            await writer.drain()
            if not keep:
                return
    except Exception as e:  # a broken client must not stop the server; the log says why
        log.write(proto=proto, event="error", peer=peer, error=repr(e))
    finally:
        try:
            writer.close()
        except Exception:
            pass


async def serve(log_path, cert, key, addrs):
    log = Log(log_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)

    def remember_sni(sslobj, name, _ctx):
        sslobj.dj_sni = name

    ctx.sni_callback = remember_sni
    servers = []
    for addr in addrs:
        servers.append(await asyncio.start_server(
            lambda r, w: serve_conn(r, w, "http", log), addr, 80, backlog=4096,
            reuse_address=True))
        servers.append(await asyncio.start_server(
            lambda r, w: serve_conn(r, w, "https", log), addr, 443, ssl=ctx, backlog=4096,
            reuse_address=True, ssl_handshake_timeout=20))
    print("ready", flush=True)
    await asyncio.gather(*(s.serve_forever() for s in servers))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "serve":
        asyncio.run(serve(args[0], args[1], args[2], args[3:]))
    elif cmd == "digest":
        print(digest(args[0], int(args[1])))
    else:
        sys.exit("proxy-upstream.py: unknown command " + cmd)


if __name__ == "__main__":
    main()
