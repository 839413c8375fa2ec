//! The generator on one lcore: both ends of the gateway (the clients on the LAN link, every real
//! server on the DMZ link), frames written in place and read back, the handshakes, the sampled
//! full checks and the latency histogram.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use bench::pktgen::churn::Churn;
use bench::pktgen::frames::{self, Hdr};
use bench::pktgen::report::{Flowing, Report};
use bench::pktgen::target::{TCP_RPORT, TCP_VPORT, UDP_RPORT, UDP_VPORT};
use bench::pktgen::topo::{GEN_DMZ_MAC, GEN_LAN_MAC, GW_DMZ_MAC, GW_LAN_MAC, Topo, VIP};
use dataplane::dpdk::{Mbuf, Mempool, RxQueue, TxQueue, tsc_cycles};
use dataplane::lb::Protocol;
use dataplane::lb::rss::Steering;
use dataplane::packet::TcpFlags;
use hdrhistogram::Histogram;

use super::{Args, Proto, TargetKind, Traffic};

/// Frames per burst.
const BURST: usize = 32;
/// One frame in this many is checked in full.
const CHECK_EVERY: u64 = 64;

/// What the real-server side learned of a flow: the frame it received (for FULLNAT, from the local
/// address and port to the real server).
#[derive(Clone, Copy)]
struct Seen {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
}

impl Seen {
    const NONE: Seen = Seen { src: Ipv4Addr::UNSPECIFIED, dst: Ipv4Addr::UNSPECIFIED, sport: 0, dport: 0 };
}

/// One link's queues on the generator's side.
pub(super) struct Side {
    pub(super) rx: Vec<RxQueue>,
    pub(super) tx: Vec<TxQueue>,
}

/// The generator on one lcore.
pub(super) struct Gen {
    args: Args,
    topo: Topo,
    proto: Protocol,
    vport: u16,
    rport: u16,
    hz: u64,
    pool: Mempool,
    lan: Side,
    dmz: Side,
    /// How the generator spreads frames over the queues (the NIC's RSS it plays).
    nic: Steering,
    /// Frames to send, per queue.
    txq: Vec<Vec<Mbuf>>,
    /// Per flow, what the real-server side received (learned in the setup, or from the SYN).
    learned: Vec<Seen>,
    /// Per flow, whether the client side has its SYN-ACK (or UDP answer).
    up: Vec<bool>,
    /// How many are.
    up_count: u64,
    rx: Vec<Mbuf>,
    /// Frames the other side must answer (ACKs to SYN-ACKs, SYN-ACKs to SYNs) before new ones.
    acks: Vec<(Hdr, u64)>,
    synacks: Vec<(Hdr, u64)>,
    inbound: Flowing,
    outbound: Flowing,
    latency: Histogram<u64>,
    handshakes: u64,
    checked: u64,
    wrong: u64,
    first_wrong: Option<String>,
    measuring: bool,
    pub(super) churn: Option<Churn>,
    pub(super) target_pid: Option<u32>,
    flood_sent: u64,
    seed: u64,
}

impl Gen {
    pub(super) fn new(
        args: &Args,
        topo: Topo,
        hz: u64,
        pool: Mempool,
        (lan, dmz): (Side, Side),
        nic: Steering,
    ) -> Self {
        let (proto, vport, rport) = match args.proto {
            Proto::Tcp => (Protocol::Tcp, TCP_VPORT, TCP_RPORT),
            Proto::Udp => (Protocol::Udp, UDP_VPORT, UDP_RPORT),
        };
        let n = topo.flows as usize;
        Self {
            args: args.clone(),
            topo,
            proto,
            vport,
            rport,
            hz,
            pool,
            txq: (0..lan.tx.len()).map(|_| Vec::with_capacity(BURST)).collect(),
            lan,
            dmz,
            nic,
            learned: vec![Seen::NONE; n],
            up: vec![false; n],
            up_count: 0,
            rx: Vec::with_capacity(BURST),
            acks: Vec::with_capacity(4 * BURST),
            synacks: Vec::with_capacity(4 * BURST),
            inbound: Flowing::default(),
            outbound: Flowing::default(),
            latency: Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds"),
            handshakes: 0,
            checked: 0,
            wrong: 0,
            first_wrong: None,
            measuring: false,
            churn: None,
            target_pid: None,
            flood_sent: 0,
            seed: 0x9e37_79b9_7f4a_7c15,
        }
    }

    fn ceiling(&self) -> bool {
        self.args.target == TargetKind::Testpmd
    }

    fn now_ns(&self, since: u64) -> u64 {
        let cycles = tsc_cycles().wrapping_sub(since) & ((1 << 48) - 1);
        u64::try_from(u128::from(cycles) * 1_000_000_000 / u128::from(self.hz)).unwrap_or(u64::MAX)
    }

    /// The client's frame of flow `f` towards the VIP.
    fn client_hdr(&self, f: u32, flags: TcpFlags) -> Hdr {
        let (cip, cport) = self.topo.client(f);
        Hdr {
            src_mac: GEN_LAN_MAC,
            dst_mac: GW_LAN_MAC,
            src: cip,
            dst: VIP,
            sport: cport,
            dport: self.vport,
            proto: self.proto,
            flags,
            flow: f,
            ack: 0,
        }
    }

    /// The real server's frame of flow `f` back: the reverse of what it received.
    fn server_hdr(&self, f: u32, flags: TcpFlags) -> Hdr {
        let s = self.learned[f as usize];
        Hdr {
            src_mac: GEN_DMZ_MAC,
            dst_mac: GW_DMZ_MAC,
            src: s.dst,
            dst: s.src,
            sport: s.dport,
            dport: s.sport,
            proto: self.proto,
            flags,
            flow: f,
            ack: f.wrapping_add(1),
        }
    }

    /// Sends `n` SYNs of the flood: random spoofed clients, a sequence number no flow has (the
    /// real-server side ignores them). Returns how many went out; they count as flood, not traffic.
    fn flood(&mut self, n: usize) -> usize {
        let refused = self.inbound.refused;
        let sent = self.send(true, n, |g| {
            g.seed ^= g.seed << 13;
            g.seed ^= g.seed >> 7;
            g.seed ^= g.seed << 17;
            let r = g.seed;
            let src = Ipv4Addr::from(0x6440_0000 | (u32::try_from(r & 0x003f_ffff).unwrap_or(0)));
            let sport = 1024 + u16::try_from((r >> 32) % 64_000).unwrap_or(0);
            let mut h = g.client_hdr(0, TcpFlags::SYN);
            (h.src, h.sport, h.flow, h.dport) = (src, sport, u32::MAX, TCP_VPORT);
            Some((h, 0))
        });
        if self.measuring {
            self.inbound.sent -= sent as u64;
            self.inbound.refused = refused;
        }
        self.flood_sent += sent as u64;
        sent
    }

    /// The target's resident memory (VmRSS), in KiB.
    fn target_rss_kib(&self) -> u64 {
        let status = self.target_pid.and_then(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok());
        status
            .and_then(|s| {
                s.lines().find_map(|l| l.strip_prefix("VmRSS:").map(|v| v.trim().trim_end_matches(" kB").to_owned()))
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    /// Makes frames with `make` (up to `n`) and sends them on the LAN (`lan`) or DMZ side, each on
    /// the queue its 4-tuple hashes to; returns how many went out.
    fn send(&mut self, lan: bool, n: usize, mut make: impl FnMut(&mut Self) -> Option<(Hdr, u64)>) -> usize {
        let len = frames::buf_len(self.args.size);
        let mut txq = std::mem::take(&mut self.txq);
        let spread = txq.len() > 1;
        let mut want = 0;
        for _ in 0..n {
            let Some((h, stamp)) = make(self) else { break };
            let Some(mut m) = self.pool.alloc() else { break };
            let Some(buf) = m.append(len) else { break };
            frames::write(buf, &h, stamp);
            let q = if spread { usize::from(self.nic.flow_queue(h.src, h.sport, h.dst, h.dport)) } else { 0 };
            txq[q].push(m);
            want += 1;
        }
        let side = if lan { &mut self.lan } else { &mut self.dmz };
        let mut sent = 0;
        for (q, tx) in side.tx.iter_mut().zip(&mut txq) {
            if !tx.is_empty() {
                sent += q.tx_burst(tx);
                tx.clear();
            }
        }
        let refused = want - sent;
        self.txq = txq;
        if self.measuring {
            let f = if lan { &mut self.inbound } else { &mut self.outbound };
            f.sent += sent as u64;
            f.refused += refused as u64;
        }
        sent
    }

    fn note_wrong(&mut self, what: String) {
        self.wrong += 1;
        if self.first_wrong.is_none() {
            self.first_wrong = Some(what);
        }
    }

    /// Takes what arrived on both sides: the real-server side learns flows and answers SYNs, the
    /// client side acknowledges SYN-ACKs; data frames are counted, timed and sampled.
    fn receive(&mut self) {
        let queues = self.lan.rx.len();
        for (lan, q) in [false, true].into_iter().flat_map(|lan| (0..queues).map(move |q| (lan, q))) {
            let mut rx = std::mem::take(&mut self.rx);
            let side = if lan { &mut self.lan } else { &mut self.dmz };
            side.rx[q].rx_burst(&mut rx, BURST);
            for m in rx.drain(..) {
                let frame = m.data();
                let Some(seen) = frames::read(frame) else { continue };
                let h = seen.hdr;
                if lan {
                    self.at_client(&h, seen.stamp, seen.ttl, frame);
                } else {
                    self.at_server(&h, seen.stamp, seen.ttl, frame);
                }
            }
            self.rx = rx;
        }
    }

    fn at_server(&mut self, h: &Hdr, stamp: u64, ttl: u8, frame: &[u8]) {
        let f = h.flow;
        let Some(slot) = self.learned.get_mut(f as usize) else { return };
        let tcp = self.proto == Protocol::Tcp;
        let syn = tcp && h.flags.contains(TcpFlags::SYN);
        if syn || slot.src.is_unspecified() {
            *slot = Seen { src: h.src, dst: h.dst, sport: h.sport, dport: h.dport };
        }
        if self.measuring {
            self.inbound.received += 1;
        }
        // A handshake: a SYN, or a UDP flow's request while setting up or opening flows.
        if syn || (!tcp && (self.args.traffic == Traffic::New || !self.measuring)) {
            let flags = if tcp { TcpFlags::SYN | TcpFlags::ACK } else { TcpFlags::empty() };
            self.synacks.push((self.server_hdr(f, flags), stamp));
            return;
        }
        if !self.measuring || (tcp && !h.flags.contains(TcpFlags::PSH)) {
            return;
        }
        let _ = self.latency.record(self.now_ns(stamp).max(1));
        if self.inbound.received.is_multiple_of(CHECK_EVERY) && !self.ceiling() {
            self.check_in(h, ttl, frame);
        }
    }

    fn at_client(&mut self, h: &Hdr, stamp: u64, ttl: u8, frame: &[u8]) {
        let Some(f) = self.topo.flow_of(h.dst, h.dport) else { return };
        let tcp = self.proto == Protocol::Tcp;
        if self.measuring {
            self.outbound.received += 1;
        }
        let answer = if tcp {
            h.flags.contains(TcpFlags::SYN | TcpFlags::ACK)
        } else {
            self.args.traffic == Traffic::New || !self.measuring
        };
        if answer {
            if let Some(u) = self.up.get_mut(f as usize)
                && !*u
            {
                *u = true;
                self.up_count += 1;
            }
            if tcp {
                self.acks.push((self.client_hdr(f, TcpFlags::ACK), stamp));
            }
            if self.measuring {
                self.handshakes += 1;
                let _ = self.latency.record(self.now_ns(stamp).max(1));
                if self.handshakes.is_multiple_of(CHECK_EVERY) && !self.ceiling() {
                    self.check_out(h, f, ttl, frame);
                }
            }
            return;
        }
        if !self.measuring {
            return;
        }
        let _ = self.latency.record(self.now_ns(stamp).max(1));
        if self.outbound.received.is_multiple_of(CHECK_EVERY) && !self.ceiling() {
            self.check_out(h, f, ttl, frame);
        }
    }

    /// A client's frame as the real server got it: from a local address and port of this run (NAT:
    /// from the client itself), to a real server's port, TTL decremented, checksums valid, the same
    /// source all along.
    fn check_in(&mut self, h: &Hdr, ttl: u8, frame: &[u8]) {
        self.checked += 1;
        let l = u32::from(h.src).wrapping_sub(u32::from(self.topo.laddr(0)));
        let r = u32::from(h.dst).wrapping_sub(u32::from(self.topo.server(0)));
        let s = self.learned[h.flow as usize];
        let from = if self.args.nat { (h.src, h.sport) == self.topo.client(h.flow) } else { l < self.topo.laddrs };
        let ok = from
            && r < self.topo.servers
            && h.dport == self.rport
            && ttl == 63
            && (s.src, s.sport) == (h.src, h.sport)
            && frames::checksums_ok(frame);
        if !ok {
            self.note_wrong(format!("in, flow {}: {h:?} ttl {ttl}, learned {}:{}", h.flow, s.src, s.sport));
        }
    }

    /// A real server's frame as the client got it: from the VIP and its port to the flow's client,
    /// TTL decremented, checksums valid.
    fn check_out(&mut self, h: &Hdr, f: u32, ttl: u8, frame: &[u8]) {
        self.checked += 1;
        let ok = h.src == VIP && h.sport == self.vport && h.flow == f && ttl == 63 && frames::checksums_ok(frame);
        if !ok {
            self.note_wrong(format!("out, flow {f}: {h:?} ttl {ttl}"));
        }
    }

    /// Sends the answers that are due (SYN-ACKs from the servers, ACKs from the clients).
    fn answer(&mut self) {
        let synacks = std::mem::take(&mut self.synacks);
        self.synacks = self.send_all(synacks, false);
        let acks = std::mem::take(&mut self.acks);
        self.acks = self.send_all(acks, true);
    }

    /// Sends every frame of `pending`, a burst at a time, on the LAN (`lan`) or DMZ side (what the
    /// ring refuses is lost, as on a wire); hands the emptied vector back for its capacity.
    fn send_all(&mut self, mut pending: Vec<(Hdr, u64)>, lan: bool) -> Vec<(Hdr, u64)> {
        while !pending.is_empty() {
            let n = pending.len().min(BURST);
            let mut it = pending.drain(..n);
            self.send(lan, n, |_| it.next());
        }
        pending
    }

    /// Established runs: every flow does its handshake (TCP) or first request (UDP) first, at
    /// most 30 s, retrying what got lost.
    fn setup(&mut self) -> Result<(u64, f64)> {
        let start = Instant::now();
        if self.ceiling() {
            // testpmd passes frames untouched: the real-server side answers the client directly.
            for f in 0..self.topo.flows {
                let (cip, cport) = self.topo.client(f);
                self.learned[f as usize] = Seen { src: cip, dst: VIP, sport: cport, dport: self.vport };
                self.up[f as usize] = true;
            }
            self.up_count = u64::from(self.topo.flows);
            return Ok((self.up_count, 0.0));
        }
        let flags = if self.proto == Protocol::Tcp { TcpFlags::SYN } else { TcpFlags::empty() };
        // At most this many handshakes under way: a blast of a million SYNs would only overflow
        // the rings, and every lost one costs a round.
        const WINDOW: u64 = 4096;
        for round in 0..30 {
            let round_start = Instant::now();
            let mut next = 0u32;
            let (mut opened, up_before) = (0u64, self.up_count);
            let mut stalled = Instant::now();
            let mut made = Vec::with_capacity(BURST);
            while next < self.topo.flows {
                let done = self.up_count - up_before;
                if stalled.elapsed() > Duration::from_millis(20) {
                    // Nothing came back for a while: what is still under way was lost (it is
                    // retried in the next round).
                    opened = done;
                }
                if opened.saturating_sub(done) < WINDOW {
                    made.clear();
                    let n = self.send(true, BURST, |g| {
                        while next < g.topo.flows && g.up[next as usize] {
                            next += 1;
                        }
                        if next >= g.topo.flows {
                            return None;
                        }
                        made.push(next);
                        next += 1;
                        Some((g.client_hdr(next - 1, flags), tsc_cycles()))
                    });
                    // What the ring refused goes again first.
                    if let Some(&f) = made.get(n) {
                        next = f;
                    }
                    opened += n as u64;
                    if n > 0 {
                        stalled = Instant::now();
                    }
                }
                self.receive();
                self.answer();
                ensure!(start.elapsed() < Duration::from_secs(30), "the setup did not finish within 30 s");
            }
            // Let the answers come back.
            while round_start.elapsed() < Duration::from_millis(100)
                || !self.synacks.is_empty()
                || !self.acks.is_empty()
            {
                self.receive();
                self.answer();
                if round_start.elapsed() > Duration::from_secs(3) {
                    break;
                }
            }
            if self.up_count == u64::from(self.topo.flows) {
                return Ok((self.up_count, start.elapsed().as_secs_f64()));
            }
            if round == 29 {
                bail!("only {} of {} flows set up", self.up_count, self.topo.flows);
            }
        }
        unreachable!("the loop returns or fails")
    }

    // The rate arithmetic is in floating point: cycles and frame counts are far below 2^52, and a
    // credit is never negative when it is turned into frames.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
    pub(super) fn run(&mut self) -> Result<Report> {
        let setup = if self.args.traffic == Traffic::Established { Some(self.setup()?) } else { None };
        if let Some(c) = self.churn.as_mut() {
            c.start();
        }
        let hz = self.hz;
        let rate = self.args.rate;
        let start = tsc_cycles();
        let end = start + (self.args.duration * hz as f64) as u64;
        self.measuring = true;
        let mut credit = 0.0f64;
        let mut last = start;
        let mut next_flow = 0u32;
        let mut next_out = 0u32;
        let mut opened = 0u64;
        // Established flows are visited in a scattered order (a stride coprime with their number,
        // so each comes once per cycle): in creation order their connections would sit next to one
        // another in fnatd's table and the benchmark would measure the CPU's prefetcher.
        let flows = u64::from(self.topo.flows);
        let mut stride = 0x9e37_79b1 % flows;
        while gcd(stride, flows) != 1 {
            stride += 1;
        }
        let both = self.args.traffic == Traffic::Established;
        let mut turn = false;
        let rss_before = self.target_rss_kib();
        let (mut flood_credit, mut flood_last) = (0.0f64, start);
        loop {
            let now = tsc_cycles();
            if now >= end {
                break;
            }
            let due = if rate == 0 {
                BURST
            } else {
                credit += (now - last) as f64 * rate as f64 / hz as f64;
                last = now;
                credit = credit.min((4 * BURST) as f64);
                (credit as usize).min(BURST)
            };
            if due > 0 {
                turn = !turn;
                let lan = !both || turn;
                let sent = if lan {
                    let flags = match (self.proto, self.args.traffic) {
                        (Protocol::Tcp, Traffic::Established) => TcpFlags::ACK | TcpFlags::PSH,
                        (Protocol::Tcp, Traffic::New) => TcpFlags::SYN,
                        _ => TcpFlags::empty(),
                    };
                    if !both && opened >= u64::from(self.topo.flows) {
                        // Every flow opened: a new-connection run ends here (more would reuse them).
                        break;
                    }
                    let n = self.send(true, due, |g| {
                        let f = next_flow;
                        next_flow = match g.args.traffic {
                            // A new connection per frame: every flow once, in order.
                            Traffic::New => (next_flow + 1) % g.topo.flows,
                            Traffic::Established => ((u64::from(next_flow) + stride) % u64::from(g.topo.flows)) as u32,
                        };
                        Some((g.client_hdr(f, flags), tsc_cycles()))
                    });
                    opened += n as u64;
                    n
                } else {
                    self.send(false, due, |g| {
                        let f = next_out;
                        next_out = ((u64::from(next_out) + stride) % u64::from(g.topo.flows)) as u32;
                        Some((g.server_hdr(f, TcpFlags::ACK | TcpFlags::PSH), tsc_cycles()))
                    })
                };
                if rate != 0 {
                    credit -= sent as f64;
                }
            }
            // The flood takes what the ring has left after the measured traffic.
            if self.args.flood > 0 {
                flood_credit += (now - flood_last) as f64 * self.args.flood as f64 / hz as f64;
                flood_last = now;
                flood_credit = flood_credit.min((4 * BURST) as f64);
                let n = (flood_credit as usize).min(BURST);
                if n > 0 {
                    flood_credit -= self.flood(n) as f64;
                }
            }
            self.receive();
            self.answer();
        }
        let seconds = (tsc_cycles() - start) as f64 / hz as f64;
        let churn = self.churn.as_mut().and_then(Churn::finish);
        let flood = (self.args.flood > 0).then(|| (self.flood_sent, rss_before, self.target_rss_kib()));
        // What is still in flight comes back within a few milliseconds; wait 200.
        let drain = Instant::now();
        while drain.elapsed() < Duration::from_millis(200) {
            self.receive();
            self.answer();
        }
        Ok(Report {
            target: format!("{:?}", self.args.target).to_lowercase(),
            traffic: format!("{:?}", self.args.traffic).to_lowercase(),
            proto: format!("{:?}", self.args.proto).to_lowercase(),
            size: self.args.size,
            flows: self.topo.flows,
            offered: rate,
            seconds,
            inbound: self.inbound,
            outbound: self.outbound,
            latency: self.latency.clone(),
            handshakes: self.handshakes,
            checked: self.checked,
            wrong: self.wrong,
            setup,
            first_wrong: self.first_wrong.clone(),
            churn,
            target_counters: None,
            steering: Vec::new(),
            flood,
        })
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}
