#!/usr/bin/env python3
"""Hostile VRRP and connection-sync input for the two-gateway lab (docs/LAB.md, "HA variant").

  ha_hostile.py vrrp SRC                 bad VRRP advertisements to 224.0.0.18 from SRC: version 2,
                                         a wrong checksum, cut short, TTL 64, then --flood N of them
  ha_hostile.py sync SRC KEYHEX          bad sync messages to 224.0.0.81:8848: garbage, a short
                                         header, version 2, a wrong key's tag
  ha_hostile.py replay IFACE SRC         waits (at most --timeout s) for a sync message on IFACE
                                         and sends it again, unchanged, from SRC

Every loop is bounded; prints one line per kind sent. Exit status 0 when everything was sent.
"""

import argparse
import hashlib
import hmac
import socket
import struct
import sys
import time

VRRP_GROUP = "224.0.0.18"
SYNC_GROUP = "224.0.0.81"
SYNC_PORT = 8848


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def advert(src, version=3, vrid=51, priority=1, good_sum=True):
    addrs = socket.inet_aton("10.0.0.100")
    body = struct.pack("!BBBBHH", (version << 4) | 1, vrid, priority, 1, 10, 0) + addrs
    pseudo = socket.inet_aton(src) + socket.inet_aton(VRRP_GROUP) + struct.pack("!BBH", 0, 112, len(body))
    s = checksum(pseudo + body)
    if not good_sum:
        s ^= 0x5555
    return body[:6] + struct.pack("!H", s) + body[8:]


def vrrp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 112)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.src))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    kinds = [
        ("version 2", advert(a.src, version=2)),
        ("bad checksum", advert(a.src, good_sum=False)),
        ("cut short", advert(a.src)[:5]),
    ]
    for name, pkt in kinds:
        s.sendto(pkt, (VRRP_GROUP, 0))
        print(f"sent {name}", flush=True)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 64)
    s.sendto(advert(a.src), (VRRP_GROUP, 0))
    print("sent ttl 64", flush=True)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    start, n = time.monotonic(), 0
    bad = advert(a.src, good_sum=False)
    while n < a.flood and time.monotonic() - start < a.timeout:
        s.sendto(bad, (VRRP_GROUP, 0))
        n += 1
    print(f"sent flood {n}", flush=True)
    return True


def sync_header(version=1, count=0):
    return b"FNSY" + struct.pack("!BBBBQQHH", version, 1, 1, 0, 0x1234, 1, count, 0)


def sync(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.src))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    wrong_key = bytes(16)
    header = sync_header()
    tag = hmac.new(wrong_key, header, hashlib.sha256).digest()[:16]
    kinds = [
        ("garbage", b"\x00" * 64),
        ("short header", b"FNSY\x01"),
        ("version 2", sync_header(version=2) + bytes(16)),
        ("wrong key", header + tag),
    ]
    for name, msg in kinds:
        s.sendto(msg, (SYNC_GROUP, SYNC_PORT))
        print(f"sent {name}", flush=True)
    return True


def replay(a):
    cap = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0800))
    cap.bind((a.iface, 0))
    cap.settimeout(0.2)
    start = time.monotonic()
    while time.monotonic() - start < a.timeout:
        try:
            frame = cap.recv(2048)
        except socket.timeout:
            continue
        ip = frame[14:]
        if len(ip) < 28 or ip[9] != 17:
            continue
        ihl = (ip[0] & 0xF) * 4
        dport = struct.unpack("!H", ip[ihl + 2 : ihl + 4])[0]
        total = struct.unpack("!H", ip[2:4])[0]
        if dport != SYNC_PORT:
            continue
        payload = ip[ihl + 8 : total]
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(a.src))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.sendto(payload, (SYNC_GROUP, SYNC_PORT))
        print(f"replayed a {len(payload)}-byte message", flush=True)
        return True
    print(f"no sync message seen on {a.iface} within {a.timeout}s", flush=True)
    return False


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="what", required=True)
    v = sub.add_parser("vrrp")
    v.add_argument("src")
    v.add_argument("--flood", type=int, default=20000)
    v.add_argument("--timeout", type=float, default=5.0)
    y = sub.add_parser("sync")
    y.add_argument("src")
    r = sub.add_parser("replay")
    r.add_argument("iface")
    r.add_argument("src")
    r.add_argument("--timeout", type=float, default=5.0)
    a = ap.parse_args()
    try:
        good = {"vrrp": vrrp, "sync": sync, "replay": replay}[a.what](a)
    except OSError as e:
        print(f"{a.what}: {e}", file=sys.stderr)
        return 1
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
