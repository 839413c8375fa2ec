#!/usr/bin/env python3
"""A small bounded client for the fnat live lab (see docs/LAB.md).

  probe.py udp HOST PORT [MESSAGE] [--count N]      one datagram per round, prints each answer
  probe.py tcp HOST PORT [MESSAGE] [--count N] [--interval S]
                                                    one connection, one line per round, prints each
                                                    echoed line (a long-lived flow with --interval)
  probe.py flood HOST PORT [--count N]              N datagrams as fast as they go, no answers read
                                                    (at most --timeout seconds); prints how many
  probe.py gaps HOST PORT [--count N] [--interval S]
                                                    a new connection per round (one echoed line),
                                                    N rounds S apart; prints the rounds answered and
                                                    the longest time without an answer (a failover)

Every wait is bounded by --timeout (seconds, per answer). Exit status 0 when every round got an
answer, 1 otherwise.
"""

import argparse
import socket
import sys
import time


def udp(a):
    ok = 0
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(a.timeout)
    if a.sport:
        s.bind(("0.0.0.0", a.sport))
    for i in range(a.count):
        msg = a.message if a.count == 1 else f"{a.message} {i}"
        s.sendto(msg.encode(), (a.host, a.port))
        try:
            data, peer = s.recvfrom(65535)
            print(f"{peer[0]}:{peer[1]} {data.decode(errors='replace')}", flush=True)
            ok += 1
        except socket.timeout:
            print(f"no answer to {msg!r} within {a.timeout}s", flush=True)
        if a.interval and i + 1 < a.count:
            time.sleep(a.interval)
    return ok == a.count


def tcp(a):
    ok = 0
    s = socket.create_connection((a.host, a.port), timeout=a.timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    local = s.getsockname()
    print(f"connected {local[0]}:{local[1]} -> {a.host}:{a.port}", flush=True)
    f = s.makefile("rb")
    for i in range(a.count):
        msg = a.message if a.count == 1 else f"{a.message} {i}"
        s.sendall(msg.encode() + b"\n")
        try:
            line = f.readline()
        except socket.timeout:
            line = b""
        if not line:
            print(f"no answer to {msg!r} within {a.timeout}s", flush=True)
            break
        print(line.decode(errors="replace").rstrip("\n"), flush=True)
        ok += 1
        if a.interval and i + 1 < a.count:
            time.sleep(a.interval)
    s.close()
    return ok == a.count


def flood(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    start, n = time.monotonic(), 0
    while n < a.count and time.monotonic() - start < a.timeout:
        s.sendto(a.message.encode(), (a.host, a.port))
        n += 1
    print(f"sent {n} datagrams in {time.monotonic() - start:.2f}s", flush=True)
    return True


def gaps(a):
    ok, last, longest = 0, time.monotonic(), 0.0
    for i in range(a.count):
        try:
            with socket.create_connection((a.host, a.port), timeout=a.timeout) as s:
                s.settimeout(a.timeout)
                s.sendall(f"{a.message} {i}\n".encode())
                if s.makefile("rb").readline():
                    now = time.monotonic()
                    longest = max(longest, now - last)
                    last = now
                    ok += 1
        except OSError:
            pass
        time.sleep(a.interval)
    longest = max(longest, time.monotonic() - last)
    print(f"rounds {a.count} answered {ok} longest_gap_ms {longest * 1000:.0f}", flush=True)
    return ok > 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("proto", choices=["udp", "tcp", "flood", "gaps"])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("message", nargs="?", default="ping")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--interval", type=float, default=0.0, help="seconds between rounds")
    ap.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each answer")
    ap.add_argument("--sport", type=int, default=0, help="UDP source port (default: any)")
    a = ap.parse_args()
    try:
        good = {"udp": udp, "tcp": tcp, "flood": flood, "gaps": gaps}[a.proto](a)
    except OSError as e:
        print(f"{a.proto} {a.host}:{a.port}: {e}", file=sys.stderr)
        return 1
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
