//! Two workers behind a software NIC that spreads frames over their queues by the Toeplitz hash, as
//! a NIC's RSS does: with the ports' steering known, FULLNAT replies reach the worker that owns
//! their connection with no redirect; without it, they are redirected (and still delivered). NAT on
//! two workers: every packet reaches the owner, by RSS or through one redirect.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;

use dataplane::fixtures::{self, CLIENT, CLIENT_MAC, DMZ, DMZ_MAC, LAN, LAN_MAC, RS, RS_MAC, VIP};
use dataplane::lb::rss::{DEFAULT_KEY, PortSteering, SteerMode, Steering};
use dataplane::net::PortIdx;
use dataplane::packet::builder;
use dataplane::worker::mem_io::MemIo;
use dataplane::worker::poll::{Poller, redirect_mesh};

const NAT_VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 101);

/// A gateway of two workers and the NIC in front of it.
struct Gateway {
    workers: Vec<Poller<Vec<u8>>>,
    io: Vec<MemIo>,
    nic: Steering,
    now: u64,
}

impl Gateway {
    /// The demo configuration on two workers, its ports in `mode` (with their RSS known to fnatd
    /// when `known`); the NIC hashes with the default key and a 128-entry table either way.
    fn new(mode: SteerMode, known: bool) -> Self {
        let nic = Steering::round_robin(&DEFAULT_KEY, 128, 2).unwrap();
        let rss = known.then(|| Arc::new(nic.clone()));
        let steering = vec![PortSteering { mode, rss }; 2];
        let snap = Arc::try_unwrap(fixtures::snapshot_for(2)).unwrap().with_steering(steering);
        let snap = Arc::new(snap);
        let templates = fixtures::templates();
        let workers = redirect_mesh(2, 1024)
            .into_iter()
            .enumerate()
            .map(|(i, links)| Poller::new(fixtures::worker(&snap, u16::try_from(i).unwrap(), 2, &templates), links, 2))
            .collect();
        let mut g = Self { workers, io: vec![MemIo::new(2), MemIo::new(2)], nic, now: 0 };
        g.poll();
        for io in &mut g.io {
            io.take_tx(LAN);
        }
        g
    }

    /// Hands each frame to the queue its 4-tuple hashes to, and runs both workers until they are
    /// done (a burst at a time; a redirected frame is handled at its owner's next poll). Returns
    /// what left on `out`.
    fn receive(&mut self, port: PortIdx, frames: Vec<Vec<u8>>, out: PortIdx) -> Vec<Vec<u8>> {
        for f in frames {
            let is_fragment = f[20] & 0x3f != 0 || f[21] != 0;
            let (src, sport, dst, dport) = tuple(&f);
            // Fragments carry no ports (but the first): the NIC hashes their addresses.
            let q = if is_fragment {
                self.nic.fragment_queue(src, dst)
            } else {
                self.nic.flow_queue(src, sport, dst, dport)
            };
            self.io[usize::from(q)].push_rx(port, f);
        }
        for _ in 0..64 {
            self.poll();
        }
        self.io.iter_mut().flat_map(|io| io.take_tx(out)).collect()
    }

    fn poll(&mut self) {
        self.now += 1;
        for (w, io) in self.workers.iter_mut().zip(&mut self.io) {
            w.poll(io, self.now);
        }
    }

    /// Frames passed to another worker, over both.
    fn redirected(&self) -> u64 {
        self.workers.iter().map(|w| w.worker.stats.redirected_out).sum()
    }

    fn drops(&self) -> u64 {
        self.workers.iter().map(|w| w.worker.stats.total_drops()).sum()
    }
}

/// Source, source port, destination, destination port of a frame (IPv4 without options).
fn tuple(f: &[u8]) -> (Ipv4Addr, u16, Ipv4Addr, u16) {
    let ip = |at: usize| Ipv4Addr::new(f[at], f[at + 1], f[at + 2], f[at + 3]);
    let port = |at: usize| u16::from_be_bytes([f[at], f[at + 1]]);
    (ip(26), port(34), ip(30), port(36))
}

/// UDP requests from `n` client ports to `vip:53`.
fn requests(vip: Ipv4Addr, n: u16) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let (c, v) = (SocketAddrV4::new(CLIENT, 20_000 + i), SocketAddrV4::new(vip, 53));
            builder::udp_v4((CLIENT_MAC, LAN_MAC), c, v, b"query", 64)
        })
        .collect()
}

/// The real servers' answers to what the gateway sent them.
fn answers(sent: &[Vec<u8>]) -> Vec<Vec<u8>> {
    sent.iter()
        .map(|f| {
            let (src, sport, dst, dport) = tuple(f);
            let mac = RS_MAC[RS.iter().position(|&r| r == dst).expect("a real server")];
            builder::udp_v4((mac, DMZ_MAC), SocketAddrV4::new(dst, dport), SocketAddrV4::new(src, sport), b"answer", 64)
        })
        .collect()
}

#[test]
fn with_rss_steering_fullnat_replies_need_no_redirect() {
    for (mode, known) in [(SteerMode::Rss, true), (SteerMode::PeerRss, true)] {
        let mut g = Gateway::new(mode, known);
        let sent = g.receive(LAN, requests(VIP, 400), DMZ);
        assert_eq!(sent.len(), 400);
        // Both workers opened connections: the NIC spread the clients.
        assert!(g.workers.iter().all(|w| w.worker.conns().len() > 100), "{mode:?}");
        let back = g.receive(DMZ, answers(&sent), LAN);
        assert_eq!(back.len(), 400, "{mode:?}: every reply reaches its client");
        assert_eq!(g.redirected(), 0, "{mode:?}: no reply needed the redirect ring");
        assert_eq!(g.drops(), 0);
    }
}

#[test]
fn without_steering_fullnat_replies_are_redirected_and_delivered() {
    for (mode, known) in [(SteerMode::Redirect, false), (SteerMode::Redirect, true), (SteerMode::Flow, true)] {
        let mut g = Gateway::new(mode, known);
        let sent = g.receive(LAN, requests(VIP, 400), DMZ);
        // Local ports by remainder: the NIC's hash sends about half the replies elsewhere.
        let back = g.receive(DMZ, answers(&sent), LAN);
        assert_eq!(back.len(), 400, "{mode:?}");
        let r = g.redirected();
        assert!((120..=280).contains(&r), "{mode:?}: {r} of 400 replies redirected");
        assert_eq!(g.workers.iter().map(|w| w.worker.stats.redirected_in).sum::<u64>(), r);
        assert_eq!(g.drops(), 0);
    }
}

#[test]
fn nat_on_two_workers_reaches_the_owner_both_ways() {
    // The client port's RSS known: the clients' packets stay where the NIC put them; replies are
    // passed to the queue of their client's packets. Unknown: both ways by the client's hash.
    for (known, requests_redirected) in [(true, false), (false, true)] {
        let mode = if known { SteerMode::Rss } else { SteerMode::Redirect };
        let mut g = Gateway::new(mode, known);
        let sent = g.receive(LAN, requests(NAT_VIP, 400), DMZ);
        assert_eq!(sent.len(), 400);
        assert!(sent.iter().all(|f| tuple(f).2 == RS[1]), "NAT to the UDP service's real server");
        let after_requests = g.redirected();
        assert_eq!(after_requests > 0, requests_redirected, "known {known}: {after_requests} requests redirected");
        // The same clients again: the connections exist, on their owners.
        let again = g.receive(LAN, requests(NAT_VIP, 400), DMZ);
        assert_eq!(again.len(), 400);
        assert_eq!(g.workers.iter().map(|w| w.worker.conns().len()).sum::<usize>(), 400, "no connection twice");
        let back = g.receive(DMZ, answers(&sent), LAN);
        assert_eq!(back.len(), 400, "known {known}: every reply reaches its client");
        assert!(back.iter().all(|f| tuple(f).0 == NAT_VIP), "the reply comes from the VIP");
        let replies = g.redirected() - 2 * after_requests;
        assert!((120..=280).contains(&replies), "known {known}: {replies} of 400 replies redirected");
        assert_eq!(g.drops(), 0, "known {known}");
    }
}

#[test]
fn a_datagram_in_fragments_reaches_the_worker_of_its_flow() {
    use dataplane::packet::builder::FrameSpec;
    use dataplane::packet::frag;
    let mut g = Gateway::new(SteerMode::Rss, true);
    let conns = |g: &Gateway| g.workers.iter().map(|w| w.worker.conns().len()).sum::<usize>();
    // 40 UDP flows to the VIP open their connections where the NIC puts their 4-tuples.
    let sent = g.receive(LAN, requests(VIP, 40), DMZ);
    assert_eq!((sent.len(), conns(&g)), (40, 40));
    // Then a 2000-byte datagram of each, in two fragments: the NIC puts every fragment from the
    // client to the VIP on one queue, whichever worker owns the flow.
    let frag_queue = g.nic.fragment_queue(CLIENT, VIP);
    let elsewhere = (0..40).filter(|i| g.nic.flow_queue(CLIENT, 20_000 + i, VIP, 53) != frag_queue).count();
    assert!(elsewhere > 5, "the NIC spreads the flows: {elsewhere} of 40 on the other worker");
    let mut fragments = Vec::new();
    for i in 0..40u16 {
        let spec = FrameSpec { dont_frag: false, ident: i, ..FrameSpec::new((CLIENT_MAC, LAN_MAC), CLIENT, VIP) };
        let whole = spec.udp(20_000 + i, 53, &[7u8; 2000]);
        for p in frag::pieces(&whole, 1500).unwrap() {
            let mut f = vec![0u8; p.frame_len];
            frag::write_piece(&whole, &p, &mut f);
            fragments.push(f);
        }
    }
    let before = g.redirected();
    let out = g.receive(LAN, fragments, DMZ);
    assert_eq!(out.len(), 80, "each datagram whole, then in two fragments toward its real server");
    assert_eq!(conns(&g), 40, "no flow opened a second connection on the worker that reassembled it");
    assert_eq!(g.redirected() - before, elsewhere as u64, "the datagrams of the other worker's flows went there");
    assert_eq!(g.drops(), 0);
}
