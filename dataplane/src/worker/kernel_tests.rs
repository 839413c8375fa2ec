//! The exception path on a worker: which frames go to the kernel twin, at what rate, and what the
//! kernel may send out.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;

use super::super::poll::{Poller, redirect_mesh};
use super::super::{DropReason, Verdict, Worker};
use crate::fixtures::{self, CLIENT, CLIENT_MAC, DMZ, DMZ_ADDR, DMZ_MAC, LAN, LAN_ADDR, LAN_MAC, LIP, RS, RS_MAC, VIP};
use crate::net::KernelPath;
use crate::packet::builder::{self, FrameSpec, TcpSpec};
use crate::packet::icmp::{code, msg_type};
use crate::packet::{ArpOperation, EtherType, EthernetFrame, MacAddr, TcpFlags};
use crate::snapshot::Snapshot;
use crate::worker::mem_io::MemIo;

/// The demo's snapshot with a twin on each port, `rate` frames a second and bursts of `burst`.
fn twins(rate: u32, burst: u32) -> Arc<Snapshot> {
    let mut cfg = fixtures::config(Path::new("/nonexistent"));
    for p in &mut cfg.ports {
        p.kernel = Some(KernelPath { iface: p.name.clone(), rate, burst });
    }
    let s = Snapshot::from_config(&cfg, &[LAN_MAC, DMZ_MAC]);
    Arc::new(Snapshot::new(s.services, s.ifaces, &s.statics, s.timeouts, 1))
}

fn worker(snap: &Arc<Snapshot>) -> Worker {
    fixtures::worker(snap, 0, 1, &fixtures::templates())
}

fn from_client(dst: Ipv4Addr) -> FrameSpec {
    FrameSpec::new((CLIENT_MAC, LAN_MAC), CLIENT, dst)
}

fn from_rs(dst: Ipv4Addr) -> FrameSpec {
    FrameSpec::new((RS_MAC[0], DMZ_MAC), RS[0], dst)
}

fn syn(sport: u16, dport: u16) -> TcpSpec<'static> {
    TcpSpec::new(sport, dport, TcpFlags::SYN)
}

#[test]
fn the_kernel_gets_what_fnatd_does_not_handle_for_the_ports_addresses() {
    let snap = twins(1000, 100);
    let mut w = worker(&snap);
    let mut handle = |port, mut f: Vec<u8>| {
        let before = f.clone();
        let v = w.handle(&mut f, port, 0);
        if v == Verdict::ToKernel {
            assert_eq!(f, before, "the kernel gets the frame as it arrived");
        }
        v
    };
    // ssh to the gateway; a reply to the kernel's own connection (a health check's).
    assert_eq!(handle(LAN, from_client(LAN_ADDR).tcp(syn(40000, 22), b"")), Verdict::ToKernel);
    let synack = TcpSpec::new(8080, 51000, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(handle(DMZ, from_rs(DMZ_ADDR).tcp(synack, b"")), Verdict::ToKernel);
    assert_eq!(handle(DMZ, from_rs(DMZ_ADDR).udp(53, 41000, b"answer")), Verdict::ToKernel);
    // The weak host model, as the kernel's: an address of the other port, through this one's twin.
    assert_eq!(handle(LAN, from_client(DMZ_ADDR).tcp(syn(40001, 179), b"")), Verdict::ToKernel);
    // ICMP fnatd does not answer: an echo reply, and an error quoting the kernel's own packet.
    let reply = from_rs(DMZ_ADDR).icmp_echo(msg_type::ECHO_REPLY, 7, 1, b"ping");
    assert_eq!(handle(DMZ, reply), Verdict::ToKernel);
    let quoted = FrameSpec::new((DMZ_MAC, RS_MAC[0]), DMZ_ADDR, RS[0]).udp(41000, 9, b"probe");
    let unreachable = from_rs(DMZ_ADDR).icmp(msg_type::DEST_UNREACHABLE, code::PORT_UNREACHABLE, 0, &quoted[14..]);
    assert_eq!(handle(DMZ, unreachable), Verdict::ToKernel);
    // A TTL of 1 to the gateway itself (an eBGP peer's) is delivered, not answered as a router.
    assert_eq!(handle(LAN, from_client(LAN_ADDR).with_ttl(1).tcp(syn(40002, 179), b"")), Verdict::ToKernel);
    // The ARP reply to the kernel's request: the kernel's, and learned by fnatd all the same.
    let arp = builder::arp((RS_MAC[1], DMZ_MAC), ArpOperation::Reply, (RS_MAC[1], RS[1]), (DMZ_MAC, DMZ_ADDR));
    assert_eq!(handle(DMZ, arp), Verdict::ToKernel);
    let mut learned = Vec::new();
    w.drain_learned(|l| learned.push(l.addr));
    assert_eq!(learned, vec![RS[1]]);
}

#[test]
fn what_fnatd_handles_stays_with_fnatd() {
    let snap = twins(1000, 100);
    let mut w = worker(&snap);
    let mut handle = |port, mut f: Vec<u8>| w.handle(&mut f, port, 0);
    // A service's connection, an echo request to a port address (fnatd answers), ARP requests for
    // a port address (fnatd is the one owner of its ARP).
    assert_eq!(handle(LAN, from_client(VIP).tcp(syn(40000, 80), b"")), Verdict::Tx(DMZ));
    let echo = from_client(LAN_ADDR).icmp_echo(msg_type::ECHO_REQUEST, 7, 1, b"ping");
    assert_eq!(handle(LAN, echo), Verdict::Tx(LAN));
    assert_eq!(handle(DMZ, fixtures::arp_request(RS_MAC[0], RS[0], DMZ_ADDR)), Verdict::Tx(DMZ));
    // Not the kernel's: a VIP's port without a service, a local address's port without a
    // connection, another host's address, a TTL running out on the way to a VIP.
    assert_eq!(handle(LAN, from_client(VIP).tcp(syn(40000, 22), b"")), Verdict::Drop(DropReason::NoService));
    let stray = TcpSpec::new(8080, 2000, TcpFlags::ACK);
    assert_eq!(handle(DMZ, from_rs(LIP).tcp(stray, b"")), Verdict::Drop(DropReason::NoConn));
    let other = Ipv4Addr::new(10, 0, 0, 200);
    assert_eq!(handle(LAN, from_client(other).tcp(syn(40000, 22), b"")), Verdict::Drop(DropReason::NotForUs));
    let expiring = from_client(VIP).with_ttl(1).tcp(syn(40003, 80), b"");
    assert_eq!(handle(LAN, expiring), Verdict::Tx(LAN), "time exceeded, from the router");
}

#[test]
fn without_a_twin_the_gateways_own_traffic_is_dropped_as_before() {
    let mut w = worker(&fixtures::snapshot());
    let mut f = from_client(LAN_ADDR).tcp(syn(40000, 22), b"");
    assert_eq!(w.handle(&mut f, LAN, 0), Verdict::Drop(DropReason::NotForUs));
    let arp = builder::arp((RS_MAC[1], DMZ_MAC), ArpOperation::Reply, (RS_MAC[1], RS[1]), (DMZ_MAC, DMZ_ADDR));
    assert_eq!(w.handle(&mut arp.clone(), DMZ, 0), Verdict::Consumed);
    assert_eq!(w.from_kernel(&mut f, LAN), Err(DropReason::FromKernelRefused));
}

#[test]
fn each_port_takes_its_rate_and_burst() {
    let snap = twins(10, 5);
    let mut w = worker(&snap);
    let frame = from_client(LAN_ADDR).udp(40000, 9, b"flood");
    let mut at = |port, now| w.handle(&mut frame.clone(), port, now);
    let passed = |v: &[Verdict]| v.iter().filter(|&&v| v == Verdict::ToKernel).count();
    let burst: Vec<_> = (0..8).map(|_| at(LAN, 0)).collect();
    assert_eq!(passed(&burst), 5, "the burst");
    assert_eq!(burst[7], Verdict::Drop(DropReason::KernelRateLimited));
    assert_eq!(at(LAN, 99), Verdict::Drop(DropReason::KernelRateLimited), "0.99 of a token at 10/s");
    assert_eq!(at(LAN, 100), Verdict::ToKernel);
    // The other port's bucket is its own.
    let other = FrameSpec::new((CLIENT_MAC, DMZ_MAC), CLIENT, DMZ_ADDR).udp(40000, 9, b"x");
    assert_eq!(w.handle(&mut other.clone(), DMZ, 100), Verdict::ToKernel);
    // Shared by the workers: each gets its part.
    let k = KernelPath { iface: "lan".into(), rate: 10, burst: 5 };
    let mut share = k.share(4);
    assert_eq!((0..5).filter(|_| share.allow(0)).count(), 1);
}

#[test]
fn the_kernel_sends_ipv4_and_arp_requests_from_the_ports_mac() {
    let snap = twins(1000, 100);
    let mut w = worker(&snap);
    let stranger = MacAddr([2, 0, 0, 0, 0, 0x42]);
    let mut ip = FrameSpec::new((stranger, RS_MAC[0]), DMZ_ADDR, RS[0]).tcp(syn(51000, 8080), b"");
    assert_eq!(w.from_kernel(&mut ip, DMZ), Ok(()));
    assert_eq!(EthernetFrame::new_unchecked(&ip[..]).src_addr(), DMZ_MAC, "the port's own MAC address");
    let mut ask = fixtures::arp_request(DMZ_MAC, DMZ_ADDR, RS[1]);
    assert_eq!(w.from_kernel(&mut ask, DMZ), Ok(()));
    let refused = |w: &mut Worker, mut f: Vec<u8>| w.from_kernel(&mut f, DMZ);
    let answer = builder::arp((DMZ_MAC, RS_MAC[0]), ArpOperation::Reply, (DMZ_MAC, DMZ_ADDR), (RS_MAC[0], RS[0]));
    assert_eq!(refused(&mut w, answer), Err(DropReason::FromKernelRefused), "fnatd answers ARP");
    let v6 = builder::ethernet(DMZ_MAC, MacAddr::BROADCAST, EtherType(0x86dd), &[0; 40]);
    assert_eq!(refused(&mut w, v6), Err(DropReason::FromKernelRefused));
    assert_eq!(refused(&mut w, vec![0; 10]), Err(DropReason::FromKernelRefused));
    assert_eq!(w.stats.from_kernel, 2);
}

#[test]
fn the_kernels_frames_never_wait_behind_forwarded_ones() {
    let snap = twins(100_000, 10_000);
    let mut p = Poller::new(worker(&snap), redirect_mesh(1, 16).pop().unwrap(), 2);
    let mut io = MemIo::new(2).with_twins(&[LAN, DMZ]);
    // A backlog of forwarded traffic far larger than a burst, a ping to the gateway's kernel among
    // it, and the kernel's own frames waiting to leave.
    for i in 0..1000u16 {
        io.push_rx(LAN, from_client(VIP).udp(10_000 + i, 53, b"q"));
    }
    io.push_rx(LAN, from_client(LAN_ADDR).udp(40000, 5000, b"to the kernel"));
    let kernel_out: Vec<_> = (0..3u16)
        .map(|i| FrameSpec::new((DMZ_MAC, RS_MAC[0]), DMZ_ADDR, RS[0]).tcp(syn(51000 + i, 8080), b""))
        .collect();
    io.twin(DMZ).unwrap().rx.extend(kernel_out.iter().cloned());
    p.poll(&mut io, 0);
    let sent = io.take_tx(DMZ);
    assert_eq!(&sent[..3], &kernel_out[..], "the kernel's frames leave first, in their order");
    assert_eq!(sent.len(), 3 + super::super::poll::BURST, "then one burst of forwarded traffic");
    // The frame for the kernel is taken when its turn in the port's queue comes.
    let mut polls = 1;
    while io.twin(LAN).unwrap().tx.is_empty() && polls < 100 {
        p.poll(&mut io, 0);
        polls += 1;
    }
    assert_eq!(io.twin(LAN).unwrap().tx.len(), 1);
    assert_eq!(p.worker.stats.to_kernel, 1);
    assert_eq!(p.worker.stats.from_kernel, 3);
    // A twin whose queue is full: counted.
    io.twin(LAN).unwrap().tx_limit = Some(0);
    io.push_rx(LAN, from_client(LAN_ADDR).udp(40001, 5000, b"lost"));
    p.poll(&mut io, 1);
    assert_eq!(p.worker.stats.dropped(DropReason::KernelFull), 1);
}

#[test]
fn a_flood_cannot_starve_the_real_servers_answers_to_the_kernel() {
    let snap = twins(10, 5);
    let mut w = worker(&snap);
    // A flood at the gateway's address on the real servers' side, from a stranger on that link.
    let stranger = Ipv4Addr::new(10, 1, 0, 200);
    let flood = FrameSpec::new((RS_MAC[2], DMZ_MAC), stranger, DMZ_ADDR).udp(40000, 179, b"flood");
    let passed = (0..100).filter(|_| w.handle(&mut flood.clone(), DMZ, 0) == Verdict::ToKernel).count();
    assert_eq!(passed, 5, "the burst, then dropped");
    // The health checks' answers come from real servers: a bucket of their own.
    let synack = TcpSpec::new(8080, 51000, TcpFlags::SYN | TcpFlags::ACK);
    for rs in 0..3 {
        let answer = FrameSpec::new((RS_MAC[rs], DMZ_MAC), RS[rs], DMZ_ADDR).tcp(synack, b"");
        assert_eq!(w.handle(&mut answer.clone(), DMZ, 0), Verdict::ToKernel, "rs{}", rs + 1);
    }
    let arp = builder::arp((RS_MAC[0], DMZ_MAC), ArpOperation::Reply, (RS_MAC[0], RS[0]), (DMZ_MAC, DMZ_ADDR));
    assert_eq!(w.handle(&mut arp.clone(), DMZ, 0), Verdict::ToKernel, "an ARP reply from a real server");
    assert_eq!(w.handle(&mut flood.clone(), DMZ, 0), Verdict::Drop(DropReason::KernelRateLimited));
}

#[test]
fn link_local_multicast_goes_to_the_twin_and_other_protocols_to_a_port_address_too() {
    let group = Ipv4Addr::new(224, 0, 0, 18);
    let group_mac = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x12]);
    let peer = Ipv4Addr::new(10, 0, 0, 5);
    let advert = |mac| FrameSpec::new((CLIENT_MAC, mac), peer, group).with_ttl(255).ipv4(112, &[0x31, 1, 100, 1]);
    let snap = twins(1000, 100);
    let mut w = worker(&snap);
    assert_eq!(w.handle(&mut advert(group_mac), LAN, 0), Verdict::ToKernel, "VRRP's group");
    let sync_group = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x51]);
    let to_sync = FrameSpec::new((CLIENT_MAC, sync_group), peer, Ipv4Addr::new(224, 0, 0, 81)).udp(8848, 8848, b"x");
    assert_eq!(w.handle(&mut to_sync.clone(), LAN, 0), Verdict::ToKernel, "IPVS's sync group");
    // A group's frame under another MAC, a routed group, or a port without a twin: not ours.
    let other_mac = MacAddr([0x01, 0x00, 0x5e, 0x00, 0x00, 0x13]);
    assert_eq!(w.handle(&mut advert(other_mac), LAN, 0), Verdict::Drop(DropReason::EthNotForUs));
    let routed = FrameSpec::new((CLIENT_MAC, MacAddr([1, 0, 0x5e, 1, 2, 3])), peer, Ipv4Addr::new(239, 1, 2, 3));
    assert_eq!(w.handle(&mut routed.udp(5000, 5000, b"x"), LAN, 0), Verdict::Drop(DropReason::EthNotForUs));
    let mut plain = worker(&fixtures::snapshot());
    assert_eq!(plain.handle(&mut advert(group_mac), LAN, 0), Verdict::Drop(DropReason::EthNotForUs));
    // Unicast VRRP (or any other protocol) to the port's own address is the kernel's.
    let unicast = FrameSpec::new((CLIENT_MAC, LAN_MAC), peer, LAN_ADDR).with_ttl(255).ipv4(112, &[0x31, 1, 100, 1]);
    assert_eq!(w.handle(&mut unicast.clone(), LAN, 0), Verdict::ToKernel);
    assert_eq!(plain.handle(&mut unicast.clone(), LAN, 0), Verdict::Drop(DropReason::UnsupportedProtocol));
}
