#!/usr/bin/env python3
"""A stand-in for fnatd in NAT, DR and TUN mode: validation of the lab only (see docs/LAB.md).

fnatd replaces this tool. It was written to check the lab's side of the three modes (the router,
the VIP on the real servers' lo, their policy routing, the IPIP decapsulator) before fnatd could
forward in them. It runs inside fnat-gw, on the same veth ends fnatd drives (lan0, dmz0), with
AF_PACKET sockets, and sends frames exactly as fnatd would for one real server (default rs1):

  inject.py forward --mode dr|tun|nat [--rs rs1] [--duration S]
      a "poor man's fnatd" for one real server, until SIGTERM or --duration:
      - answers ARP for 10.0.0.100 and 10.0.0.1 on lan0 and for 10.1.0.1 on dmz0;
      - client frames to the VIP (lan0) go out on dmz0 to the real server's MAC:
          dr:  only the Ethernet header changes (dst = RS MAC, src = dmz0 MAC);
          tun: wrapped in an outer IPv4 header 10.1.0.1 -> RIP, protocol 4, DF and TOS copied from
               the inner header, TTL 64; a packet too big for dmz0's MTU once wrapped gets an ICMP
               "fragmentation needed" (next-hop MTU = MTU - 20) back to the client when DF is set
               (what Linux IPVS does), else it is dropped;
          nat: destination VIP:vport -> RIP:rport (tcp 80 -> 8080, udp 53 -> 5353, tcp 9000 -> 9000),
               IP and TCP/UDP checksums recomputed;
      - nat only: frames from RIP:rport arriving on dmz0 get the source VIP:vport back and go out
        on lan0 to the client's MAC (dr/tun replies never come back here: they take the router).
  inject.py send --mode dr|tun|nat [--proto tcp|udp] [--sport 40000] [--listen S]
      one client packet (TCP SYN 10.0.0.2:40000 -> 10.0.0.100:80, or a UDP datagram to :53) as
      fnatd would forward it, then for --listen seconds answers ARP for 10.1.0.1 and prints
      what comes back on dmz0 (the NAT reply; nothing in DR/TUN); TCP: then a RST the same way,
      so that the real server drops the half-open connection.
  inject.py arp TARGET [--iface dmz0] [--timeout S]
      asks who-has TARGET from 10.1.0.1 and prints the answers ("no reply" if none): the real
      servers must answer for their RIP and never for the VIP.

Counters are printed on exit. Exit status 0 on success (send: always; arp: 0 when someone answered).
"""

import argparse
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
PACKET_OUTGOING = 4

LAN_IF, DMZ_IF = "lan0", "dmz0"
LAN_MAC, DMZ_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"
CLIENT_MAC = "02:00:00:00:0c:02"
CLIENT_IP, VIP, LAN_IP, DMZ_IP = "10.0.0.2", "10.0.0.100", "10.0.0.1", "10.1.0.1"
# vport -> rport in NAT mode (DR and TUN cannot map ports).
NAT_PORTS = {(6, 80): 8080, (17, 53): 5353, (6, 9000): 9000}


def mac(s):
    return bytes.fromhex(s.replace(":", ""))


def ip(s):
    return socket.inet_aton(s)


def rs_addr(name):
    n = int(name.removeprefix("rs"))
    return f"10.1.0.1{n}", f"02:00:00:00:0d:1{n}"


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def fix_ip_csum(hdr):
    """hdr: bytearray of the IPv4 header; sets its checksum."""
    hdr[10:12] = b"\0\0"
    hdr[10:12] = struct.pack("!H", csum(bytes(hdr)))


def fix_l4_csum(pkt):
    """pkt: bytearray, a whole IPv4 packet with TCP or UDP; recomputes the L4 checksum."""
    ihl = (pkt[0] & 0x0F) * 4
    total = struct.unpack_from("!H", pkt, 2)[0]
    proto = pkt[9]
    l4 = pkt[ihl:total]
    off = {6: 16, 17: 6}.get(proto)
    if off is None or len(l4) < off + 2:
        return
    if proto == 17 and l4[6:8] == b"\0\0":
        return  # UDP without a checksum stays without
    l4[off:off + 2] = b"\0\0"
    pseudo = bytes(pkt[12:20]) + struct.pack("!BBH", 0, proto, len(l4))
    c = csum(pseudo + bytes(l4))
    if proto == 17 and c == 0:
        c = 0xFFFF
    l4[off:off + 2] = struct.pack("!H", c)
    pkt[ihl:total] = l4


def build_client_packet(proto, sport, dport, payload=b"", rst=False):
    """An IPv4 packet from the client to the VIP, as the client puts it on the wire: a TCP SYN
    (ISN 1, window 64240, MSS 1460) or, with rst, the RST that ends it (seq 2); or a UDP datagram."""
    if proto == "tcp" and rst:
        l4 = bytearray(struct.pack("!HHIIBBHHH", sport, dport, 2, 0, 5 << 4, 0x04, 0, 0, 0))
        pnum = 6
    elif proto == "tcp":
        l4 = bytearray(struct.pack("!HHIIBBHHH", sport, dport, 1, 0, 6 << 4, 0x02, 64240, 0, 0))
        l4 += struct.pack("!BBH", 2, 4, 1460)
        pnum = 6
    else:
        l4 = bytearray(struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)) + payload
        pnum = 17
    hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 0x1234, 0x4000, 64, pnum, 0,
                                ip(CLIENT_IP), ip(VIP)))
    fix_ip_csum(hdr)
    pkt = hdr + l4
    fix_l4_csum(pkt)
    return pkt


def arp_frame(op, src_mac, src_ip, dst_mac, dst_ip):
    eth_dst = b"\xff" * 6 if op == 1 else mac(dst_mac)
    tha = b"\0" * 6 if op == 1 else mac(dst_mac)
    return (eth_dst + mac(src_mac) + struct.pack("!H", ETH_P_ARP)
            + struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op) + mac(src_mac) + ip(src_ip) + tha + ip(dst_ip))


def parse_arp(frame):
    """(op, sender mac, sender ip, target ip) of an ARP frame, or None."""
    if len(frame) < 42 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_ARP:
        return None
    op = struct.unpack_from("!H", frame, 20)[0]
    return op, frame[22:28].hex(":"), socket.inet_ntoa(frame[28:32]), socket.inet_ntoa(frame[38:42])


def ipv4_of(frame):
    """The IPv4 packet in an Ethernet frame (without padding), or None."""
    if len(frame) < 34 or struct.unpack_from("!H", frame, 12)[0] != ETH_P_IP or frame[14] >> 4 != 4:
        return None
    total = struct.unpack_from("!H", frame, 16)[0]
    if total < 20 or 14 + total > len(frame):
        return None
    return bytearray(frame[14:14 + total])


def ports(pkt):
    ihl = (pkt[0] & 0x0F) * 4
    if pkt[9] in (6, 17) and len(pkt) >= ihl + 4:
        return struct.unpack_from("!HH", pkt, ihl)
    return None


def summary(pkt):
    p = ports(pkt)
    src, dst = socket.inet_ntoa(bytes(pkt[12:16])), socket.inet_ntoa(bytes(pkt[16:20]))
    name = {1: "icmp", 4: "ipip", 6: "tcp", 17: "udp"}.get(pkt[9], f"proto{pkt[9]}")
    if pkt[9] == 4 and len(pkt) >= 40:
        return f"ipip {src} -> {dst} [{summary(pkt[(pkt[0] & 0x0F) * 4:])}]"
    if p:
        extra = ""
        if pkt[9] == 6:
            flags = pkt[(pkt[0] & 0x0F) * 4 + 13]
            extra = " flags " + "".join(c for b, c in zip((2, 16, 1, 4, 8), "SAFRP") if flags & b)
        return f"{name} {src}:{p[0]} -> {dst}:{p[1]}{extra}"
    return f"{name} {src} -> {dst}"


class Gateway:
    """The per-mode rewrites, as fnatd does them, for one real server."""

    def __init__(self, mode, rs):
        self.mode = mode
        self.rip, self.rs_mac = rs_addr(rs)
        self.dmz_mtu = int(open(f"/sys/class/net/{DMZ_IF}/mtu").read())
        self.count = {}
        self.ip_id = 0
        self.ignored = []  # the first few packets dropped, for the exit line

    def inc(self, what):
        self.count[what] = self.count.get(what, 0) + 1

    def to_rs(self, pkt, client_mac=CLIENT_MAC):
        """A client packet to the VIP -> [(iface, frame)] to send."""
        if self.mode == "dr":
            self.inc("dr_out")
            return [(DMZ_IF, mac(self.rs_mac) + mac(DMZ_MAC) + struct.pack("!H", ETH_P_IP) + pkt)]
        if self.mode == "tun":
            if len(pkt) + 20 > self.dmz_mtu:
                if pkt[6] & 0x40:
                    self.inc("tun_too_big_icmp_sent")
                    return [(LAN_IF, self.frag_needed(pkt, client_mac))]
                self.inc("tun_too_big_dropped")
                return []
            self.ip_id = (self.ip_id + 1) & 0xFFFF
            outer = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, pkt[1], 20 + len(pkt), self.ip_id,
                                          0x4000 if pkt[6] & 0x40 else 0, 64, 4, 0, ip(DMZ_IP),
                                          ip(self.rip)))
            fix_ip_csum(outer)
            self.inc("tun_out")
            return [(DMZ_IF, mac(self.rs_mac) + mac(DMZ_MAC) + struct.pack("!H", ETH_P_IP) + outer + pkt)]
        # nat
        p = ports(pkt)
        rport = NAT_PORTS.get((pkt[9], p[1])) if p else None
        if rport is None:
            self.inc("nat_no_service")
            return []
        ihl = (pkt[0] & 0x0F) * 4
        pkt[16:20] = ip(self.rip)
        struct.pack_into("!H", pkt, ihl + 2, rport)
        hdr = pkt[:ihl]
        fix_ip_csum(hdr)
        pkt[:ihl] = hdr
        fix_l4_csum(pkt)
        self.inc("nat_out")
        return [(DMZ_IF, mac(self.rs_mac) + mac(DMZ_MAC) + struct.pack("!H", ETH_P_IP) + pkt)]

    def from_rs(self, pkt):
        """A packet arriving on dmz0 (NAT replies) -> [(iface, frame)]."""
        p = ports(pkt)
        vport = None
        if self.mode == "nat" and p and socket.inet_ntoa(bytes(pkt[12:16])) == self.rip:
            vport = next((v for (proto, v), r in NAT_PORTS.items() if proto == pkt[9] and r == p[0]), None)
        if vport is None:
            self.inc("dmz_ignored")
            if len(self.ignored) < 5:
                self.ignored.append(summary(pkt))
            return []
        ihl = (pkt[0] & 0x0F) * 4
        pkt[12:16] = ip(VIP)
        struct.pack_into("!H", pkt, ihl, vport)
        hdr = pkt[:ihl]
        fix_ip_csum(hdr)
        pkt[:ihl] = hdr
        fix_l4_csum(pkt)
        self.inc("nat_back")
        return [(LAN_IF, mac(CLIENT_MAC) + mac(LAN_MAC) + struct.pack("!H", ETH_P_IP) + pkt)]

    def frag_needed(self, pkt, client_mac):
        """ICMP destination unreachable / fragmentation needed from 10.0.0.1 to the client."""
        ihl = (pkt[0] & 0x0F) * 4
        quote = bytes(pkt[:ihl + 8])
        icmp = bytearray(struct.pack("!BBHHH", 3, 4, 0, 0, self.dmz_mtu - 20)) + quote
        icmp[2:4] = struct.pack("!H", csum(bytes(icmp)))
        hdr = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0xC0, 20 + len(icmp), 0, 0, 64, 1, 0,
                                    ip(LAN_IP), bytes(pkt[12:16])))
        fix_ip_csum(hdr)
        return mac(client_mac) + mac(LAN_MAC) + struct.pack("!H", ETH_P_IP) + hdr + icmp


def open_port(ifname):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((ifname, 0))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    return s


def arp_answer(frame, ifname):
    """An ARP reply for fnatd's own addresses on this port, or None."""
    a = parse_arp(frame)
    if not a or a[0] != 1:
        return None
    own = {LAN_IF: (LAN_MAC, (VIP, LAN_IP)), DMZ_IF: (DMZ_MAC, (DMZ_IP,))}[ifname]
    if a[3] not in own[1]:
        return None
    return arp_frame(2, own[0], a[3], a[1], a[2])


class Stop(Exception):
    pass


def on_term(*_):
    raise Stop()


def forward(a):
    gw = Gateway(a.mode, a.rs)
    socks = {LAN_IF: open_port(LAN_IF), DMZ_IF: open_port(DMZ_IF)}
    by_fd = {s.fileno(): name for name, s in socks.items()}
    signal.signal(signal.SIGTERM, on_term)
    end = time.monotonic() + a.duration
    print(f"inject forward: mode {a.mode}, {VIP} -> {a.rs} {gw.rip} {gw.rs_mac}, dmz0 mtu {gw.dmz_mtu};"
          f" ready", flush=True)
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select(list(socks.values()), [], [], 0.5)
            for s in ready:
                ifname = by_fd[s.fileno()]
                frame, addr = s.recvfrom(65535)
                if addr[2] == PACKET_OUTGOING:
                    continue
                out = []
                reply = arp_answer(frame, ifname)
                if reply:
                    gw.inc(f"arp_reply_{ifname}")
                    out = [(ifname, reply)]
                else:
                    pkt = ipv4_of(frame)
                    if pkt is None:
                        gw.inc(f"ignored_{ifname}")
                    elif ifname == LAN_IF and socket.inet_ntoa(bytes(pkt[16:20])) == VIP:
                        out = gw.to_rs(pkt, frame[6:12].hex(":"))
                    elif ifname == DMZ_IF:
                        out = gw.from_rs(pkt)
                    else:
                        gw.inc(f"ignored_{ifname}")
                for oif, f in out:
                    try:
                        socks[oif].send(f)
                    except OSError as e:
                        gw.inc(f"send_error_{e.errno}")
    except (Stop, KeyboardInterrupt):
        pass
    print("inject forward: " + " ".join(f"{k} {v}" for k, v in sorted(gw.count.items())), flush=True)
    for s in gw.ignored:
        print(f"inject forward: ignored on dmz0: {s}", flush=True)
    return 0


def send(a):
    gw = Gateway(a.mode, a.rs)
    dport = 80 if a.proto == "tcp" else 53
    pkt = build_client_packet(a.proto, a.sport, dport, b"inject\n")
    print(f"client packet: {summary(pkt)}")
    dmz = open_port(DMZ_IF)
    for oif, frame in gw.to_rs(pkt):
        if oif == DMZ_IF:
            dmz.send(frame)
        print(f"sent on {oif}: {frame[:6].hex(':')} <- {frame[6:12].hex(':')} {summary(frame[14:])}",
              flush=True)
    end = time.monotonic() + a.listen
    while time.monotonic() < end:
        ready, _, _ = select.select([dmz], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            continue
        frame, addr = dmz.recvfrom(65535)
        if addr[2] == PACKET_OUTGOING:
            continue
        reply = arp_answer(frame, DMZ_IF)
        if reply:
            dmz.send(reply)
            print(f"answered ARP for {DMZ_IP} from {parse_arp(frame)[2]}", flush=True)
            continue
        pkt = ipv4_of(frame)
        if pkt is not None:
            print(f"back on dmz0: {frame[6:12].hex(':')} {summary(pkt)}", flush=True)
    if a.proto == "tcp":
        # End the half-open connection on the real server (it would retransmit its SYN-ACK for a
        # minute): a RST with the sequence number it expects, the same way.
        for oif, frame in gw.to_rs(build_client_packet("tcp", a.sport, dport, rst=True)):
            if oif == DMZ_IF:
                dmz.send(frame)
        print("sent the RST that ends it", flush=True)
    return 0


def arp(a):
    s = open_port(a.iface)
    own_mac = DMZ_MAC if a.iface == DMZ_IF else LAN_MAC
    own_ip = DMZ_IP if a.iface == DMZ_IF else LAN_IP
    s.send(arp_frame(1, own_mac, own_ip, "", a.target))
    got = 0
    end = time.monotonic() + a.timeout
    while time.monotonic() < end:
        ready, _, _ = select.select([s], [], [], max(0.0, end - time.monotonic()))
        if not ready:
            continue
        frame, addr = s.recvfrom(65535)
        r = parse_arp(frame)
        if addr[2] != PACKET_OUTGOING and r and r[0] == 2 and r[2] == a.target:
            print(f"reply {a.target} is-at {r[1]}", flush=True)
            got += 1
    if not got:
        print(f"no reply for {a.target} within {a.timeout}s", flush=True)
    return 0 if got else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("forward")
    f.add_argument("--mode", choices=["dr", "tun", "nat"], required=True)
    f.add_argument("--rs", default="rs1")
    f.add_argument("--duration", type=float, default=120.0, help="seconds, then exit")
    s = sub.add_parser("send")
    s.add_argument("--mode", choices=["dr", "tun", "nat"], required=True)
    s.add_argument("--rs", default="rs1")
    s.add_argument("--proto", choices=["tcp", "udp"], default="tcp")
    s.add_argument("--sport", type=int, default=40000)
    s.add_argument("--listen", type=float, default=1.0, help="seconds to watch dmz0 afterwards")
    r = sub.add_parser("arp")
    r.add_argument("target")
    r.add_argument("--iface", default=DMZ_IF)
    r.add_argument("--timeout", type=float, default=1.0)
    a = ap.parse_args()
    return {"forward": forward, "send": send, "arp": arp}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
