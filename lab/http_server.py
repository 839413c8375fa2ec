#!/usr/bin/env python3
"""The lab's real-server HTTP service (fnat live lab, see docs/LAB.md).

GET / answers with the body "NAME\n" (e.g. "rs1\n"); GET /bytes/N answers with N bytes (for
MTU-sized frames and throughput runs); POST reads the body and answers "NAME LENGTH\n" (uploads).
HTTP/1.1 with keep-alive, one thread per connection, so wrk can hold many connections open. Listens
on every --port given (the lab: 8080 for FULLNAT and NAT, 80 for DR and TUN, which cannot map ports,
and 443, plain HTTP, for the firewall-mark service that groups :80 and :443).
Each new connection is logged as "conn CLIENT_IP:PORT to LOCAL_IP:PORT": with FULLNAT the client seen
here is fnatd's local address 10.1.0.10, with NAT, DR and TUN the client itself (10.0.0.2); the local
address is the RIP (FULLNAT, NAT) or the VIP on lo (DR, TUN). Requests are not logged (wrk would flood
the log).
"""

import argparse
import os
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MAX_BYTES = 64 << 20


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fnat-lab"
    sys_version = ""

    def setup(self):
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        host, port = self.client_address[:2]
        local = self.request.getsockname()
        print(f"conn {host}:{port} to {local[0]}:{local[1]}", flush=True)

    def _reply(self, code, body, head_only=False):
        head = (
            f"HTTP/1.1 {code} {self.responses.get(code, ('',))[0]}\r\n"
            f"Server: fnat-lab {self.server.name}\r\n"
            "Content-Type: text/plain\r\n"
            f"Content-Length: {len(body)}\r\n"
            "\r\n"
        ).encode()
        # One write: headers and a small body leave in one segment (no Nagle/delayed-ACK stall).
        self.wfile.write(head if head_only else head + body)

    def _body(self):
        path = self.path.split("?", 1)[0]
        if path == "/":
            return 200, f"{self.server.name}\n".encode()
        if path.startswith("/bytes/"):
            try:
                n = int(path[len("/bytes/"):])
            except ValueError:
                n = -1
            if 0 <= n <= MAX_BYTES:
                line = (self.server.name + " ").encode() * 16
                return 200, (line * (n // len(line) + 1))[:n]
        return 404, b"not found\n"

    def do_GET(self):
        code, body = self._body()
        self._reply(code, body)

    def do_POST(self):
        # Reads the whole body (uploads through fnatd) and answers "NAME LENGTH\n".
        try:
            left = int(self.headers.get("Content-Length", "0"))
        except ValueError:
            left = -1
        if left < 0:
            self.close_connection = True
            self._reply(400, b"bad Content-Length\n")
            return
        got = 0
        while left > 0:
            chunk = self.rfile.read(min(left, 1 << 16))
            if not chunk:
                break
            got += len(chunk)
            left -= len(chunk)
        self._reply(200, f"{self.server.name} {got}\n".encode())

    def do_HEAD(self):
        code, body = self._body()
        self._reply(code, body, head_only=True)

    def log_message(self, fmt, *args):  # no per-request log
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024
    allow_reuse_address = True


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="the body of GET /, without the newline")
    ap.add_argument("--port", type=int, action="append", help="a port to listen on (repeatable; 8080)")
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    servers = []
    for port in a.port or [8080]:
        srv = Server((a.bind, port), Handler)
        srv.name = a.name
        servers.append(srv)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    for srv in servers:
        print(f"http {a.name} listening on {a.bind}:{srv.server_address[1]}", flush=True)
    for srv in servers[1:]:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        servers[0].serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
