#!/usr/bin/env python3
"""The lab's real-server UDP echo service (fnat live lab, see docs/LAB.md).

Answers each datagram with "NAME " followed by the datagram's bytes (e.g. "rs1 hello"). Each new
source address:port is logged once as "peer IP:PORT" (with FULLNAT that is fnatd's local address).
"""

import argparse
import os
import socket
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, default=5353)
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.bind((a.bind, a.port))
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    print(f"udp {a.name} listening on {a.bind}:{a.port}", flush=True)
    prefix = (a.name + " ").encode()
    seen = set()
    try:
        while True:
            data, peer = s.recvfrom(65535)
            if peer not in seen and len(seen) < 100000:
                seen.add(peer)
                print(f"peer {peer[0]}:{peer[1]}", flush=True)
            try:
                s.sendto(prefix + data, peer)
            except OSError as e:
                print(f"send to {peer[0]}:{peer[1]}: {e}", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
