"""The serve loop the e2e tests' fake host sockets share (sock-relay.py, sock-varlink.py).

serve(path, log_path, end, answer): listens on the Unix socket PATH (mode 0666, as an engine's
or a resolver's socket is reachable), prints "ready", then for each connection reads one request
up to the byte string END (at most 4096 bytes, 5 s), records it in LOG ("conn N data=...")
before anything else happens, and sends back what answer(n, data, log) returns (None: nothing).
"""
import os
import socket


def serve(path, log_path, end, answer):
    log = open(log_path, "a", buffering=1)
    if os.path.exists(path):
        os.unlink(path)
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(path)
    os.chmod(path, 0o666)
    srv.listen(8)
    print("ready", flush=True)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        conn.settimeout(5)
        data = b""
        try:
            while end not in data and len(data) < 4096:
                chunk = conn.recv(4096)
                if not chunk:
                    break
                data += chunk
        except OSError:
            pass
        log.write("conn %d data=%r\n" % (n, data))
        reply = answer(n, data, log)
        try:
            if reply:
                conn.sendall(reply)
        except OSError:
            pass
        conn.close()
