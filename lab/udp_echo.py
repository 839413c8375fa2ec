#!/usr/bin/env python3
"""The lab's real-server UDP echo service (fnat live lab, see docs/LAB.md).

Answers each datagram with "NAME " followed by the datagram's bytes (e.g. "rs1 hello"). Listens on
every --port given (the lab: 5353 for FULLNAT and NAT, 53 for DR and TUN). Each new source
address:port is logged once as "peer IP:PORT to LOCAL_IP:PORT" (with FULLNAT the peer is fnatd's local
address; the local address is the one the datagram was sent to: the RIP, or the VIP in DR and TUN).

The answer leaves from the address the datagram was sent to (IP_PKTINFO), as a DNS server does: in
DR and TUN mode that is the VIP on lo, so the answer takes the policy route to the lab's router.
Bound to 0.0.0.0 without it, the kernel would pick the source by route (the RIP on eth0) and the
answer would go to fnatd with the wrong source.
"""

import argparse
import os
import select
import socket
import struct
import sys

IP_PKTINFO = getattr(socket, "IP_PKTINFO", 8)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True)
    ap.add_argument("--port", type=int, action="append", help="a port to listen on (repeatable; 5353)")
    ap.add_argument("--bind", default="0.0.0.0")
    ap.add_argument("--pidfile")
    a = ap.parse_args()
    socks = []
    for port in a.port or [5353]:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.setsockopt(socket.IPPROTO_IP, IP_PKTINFO, 1)
        s.bind((a.bind, port))
        s.setblocking(False)
        socks.append(s)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")
    for s in socks:
        print(f"udp {a.name} listening on {a.bind}:{s.getsockname()[1]}", flush=True)
    prefix = (a.name + " ").encode()
    seen = set()
    try:
        while True:
            ready, _, _ = select.select(socks, [], [])
            for s in ready:
                try:
                    data, anc, _flags, peer = s.recvmsg(65535, socket.CMSG_SPACE(12))
                except BlockingIOError:
                    continue
                # struct in_pktinfo { int ipi_ifindex; in_addr ipi_spec_dst; in_addr ipi_addr; }:
                # ipi_addr is the request's destination. Sent back as ipi_spec_dst (ifindex 0) it
                # becomes the answer's source, and the route picks the interface.
                dst = [d[8:12] for lvl, typ, d in anc if lvl == socket.IPPROTO_IP and typ == IP_PKTINFO and len(d) >= 12]
                local = f"{socket.inet_ntoa(dst[0]) if dst else '?'}:{s.getsockname()[1]}"
                if (peer, local) not in seen and len(seen) < 100000:
                    seen.add((peer, local))
                    print(f"peer {peer[0]}:{peer[1]} to {local}", flush=True)
                reply_anc = [(socket.IPPROTO_IP, IP_PKTINFO, struct.pack("=i4s4s", 0, d, b"\0" * 4)) for d in dst]
                try:
                    s.sendmsg([prefix + data], reply_anc, 0, peer)
                except OSError as e:
                    print(f"send to {peer[0]}:{peer[1]}: {e}", flush=True)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
