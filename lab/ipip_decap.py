#!/usr/bin/env python3
"""The lab's user-space IPIP decapsulator for TUN mode (fnat live lab, see docs/LAB.md).

The lab's kernel has no ipip module (`ip link add t0 type ipip` fails with "Unknown device type"),
so a real server cannot terminate IPIP in the kernel. This process does it instead:

  * a raw socket for IP protocol 4 (socket(AF_INET, SOCK_RAW, 4)) receives every IPIP packet
    addressed to this host, outer header included. With no kernel handler for protocol 4 the
    kernel hands such packets to raw sockets only, and because one took them it sends no ICMP
    protocol-unreachable (it would without this process);
  * the outer IPv4 header (IHL-based length) is stripped and the inner IPv4 packet is written, as
    it is, into a TUN device (IFF_TUN | IFF_NO_PI, e.g. `ipip0`, created up and without addresses by
    scripts/lab.sh), so the kernel receives client -> VIP as if it had arrived on ipip0. The VIP on
    `lo` accepts it (rp_filter must be 0 on ipip0 and `all`) and the reply, sourced from the VIP,
    leaves by the policy route to the lab's router, as in DR mode.

Buffers are bounded: the raw socket's receive buffer (--rcvbuf) drops what does not fit, one packet
is read at a time (at most 64 KiB). Counters are logged every --report seconds when they changed and
on exit (SIGTERM/SIGINT), and at once on SIGUSR1; never per packet. Anything the kernel sends out of ipip0 (it should send
nothing: no route points there) is read and counted, so the device's queue never fills.
"""

import argparse
import fcntl
import os
import select
import signal
import socket
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4


class Stop(Exception):
    pass


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    try:
        fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    except OSError:
        os.close(fd)
        raise
    return fd


def inner_packet(pkt):
    """The inner IPv4 packet of an IPIP packet (outer header included), or a reason to drop it."""
    if len(pkt) < 20 or pkt[0] >> 4 != 4:
        return None, "outer_not_ipv4"
    ihl = (pkt[0] & 0x0F) * 4
    if ihl < 20 or len(pkt) < ihl or pkt[9] != IPPROTO_IPIP:
        return None, "outer_bad_header"
    total = struct.unpack_from("!H", pkt, 2)[0]
    if total < ihl or total > len(pkt):
        return None, "outer_bad_length"
    inner = pkt[ihl:total]
    if len(inner) < 20 or inner[0] >> 4 != 4 or (inner[0] & 0x0F) < 5:
        return None, "inner_not_ipv4"
    itotal = struct.unpack_from("!H", inner, 2)[0]
    if itotal < (inner[0] & 0x0F) * 4 or itotal > len(inner):
        return None, "inner_bad_length"
    return inner[:itotal], None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", required=True, help="the real server's name, for the log")
    ap.add_argument("--dev", default="ipip0", help="the TUN device (created by scripts/lab.sh)")
    ap.add_argument("--rcvbuf", type=int, default=1 << 20, help="raw socket receive buffer, bytes")
    ap.add_argument("--report", type=float, default=10.0, help="seconds between counter lines")
    ap.add_argument("--pidfile")
    a = ap.parse_args()

    raw = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, a.rcvbuf)
    raw.setblocking(False)
    tun = open_tun(a.dev)
    if a.pidfile:
        with open(a.pidfile, "w") as f:
            f.write(f"{os.getpid()}\n")

    def on_signal(signum, _frame):
        raise Stop(signum)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # SIGUSR1: print the counters now. The wakeup fd makes select() return at once.
    want_report = []
    wake_r, wake_w = socket.socketpair()
    wake_r.setblocking(False)
    wake_w.setblocking(False)
    signal.set_wakeup_fd(wake_w.fileno(), warn_on_full_buffer=False)
    signal.signal(signal.SIGUSR1, lambda *_: want_report.append(1))

    c = {"packets": 0, "bytes": 0, "write_errors": 0, "from_dev": 0}
    drops = {}

    def report(prefix):
        extra = "".join(f" {k} {v}" for k, v in sorted(drops.items()))
        print(
            f"{prefix} {a.name}: decapsulated {c['packets']} packets ({c['bytes']} inner bytes)"
            f", write_errors {c['write_errors']}, read_from_{a.dev} {c['from_dev']}{extra}",
            flush=True,
        )

    print(f"ipip {a.name}: raw socket for IP protocol 4 open, {a.dev} attached", flush=True)
    last, last_seen = time.monotonic(), (tuple(c.values()), ())
    try:
        while True:
            ready, _, _ = select.select([raw, tun, wake_r], [], [], a.report)
            if wake_r in ready:
                try:
                    wake_r.recv(256)
                except BlockingIOError:
                    pass
            if want_report:
                want_report.clear()
                report("ipip")
            if tun in ready:
                try:
                    while os.read(tun, 65536):
                        c["from_dev"] += 1
                except BlockingIOError:
                    pass
            if raw in ready:
                for _ in range(64):  # a bounded batch, then look at the TUN device again
                    try:
                        pkt = raw.recv(65536)
                    except BlockingIOError:
                        break
                    inner, why = inner_packet(pkt)
                    if inner is None:
                        drops[why] = drops.get(why, 0) + 1
                        continue
                    try:
                        os.write(tun, inner)
                        c["packets"] += 1
                        c["bytes"] += len(inner)
                    except OSError as e:
                        c["write_errors"] += 1
                        if c["write_errors"] == 1:
                            print(f"ipip {a.name}: write to {a.dev}: {e}", flush=True)
            now = time.monotonic()
            if now - last >= a.report:
                seen = (tuple(c.values()), tuple(sorted(drops.items())))
                if seen != last_seen:
                    report("ipip")
                    last_seen = seen
                last = now
    except (Stop, KeyboardInterrupt):
        pass
    report("ipip exit")
    return 0


if __name__ == "__main__":
    sys.exit(main())
