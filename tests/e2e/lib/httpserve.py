#!/usr/bin/python3
"""A plain HTTP server standing in for an upstream web server in the test internet.

usage: httpserve.py ADDR PORT BODY   answer every GET with 200 and BODY (plus a newline);
                                     print "ready" once listening
"""
import http.server
import sys


def main(addr, port, body):
    payload = body.encode() + b"\n"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer((addr, int(port)), Handler)
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    main(*sys.argv[1:])
