#!/usr/bin/env python3
"""The lab's real-server TCP "hold" service (fnat live lab, see docs/LAB.md).

Keeps each connection open until the client closes it and echoes every line back prefixed with
"NAME " (e.g. "rs1 ping\n"): a long-lived connection for tests of established flows. A partial last
line is echoed when the client shuts its side down. Connections are logged as "conn IP:PORT" and
"close IP:PORT".
"""

import argparse
import os
import socket
import socketserver
import sys


class Handler(socketserver.StreamRequestHandler):
    def handle(self):
        host, port = self.client_address[:2]
        print(f"conn {host}:{port}", flush=True)
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        prefix = (self.server.name + " ").encode()
        try:
            for line in self.rfile:
                self.wfile.write(prefix + line)
        except OSError as e:
            print(f"error {host}:{port}: {e}", flush=True)
        print(f"close {host}:{port}", flush=True)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=9000)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    srv = Server((a.bind, a.port), Handler)
    srv.name = a.name
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"tcp {a.name} listening on {a.bind}:{a.port}", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
