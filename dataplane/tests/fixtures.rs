//! The packet fixture table, run through the real worker loop over byte frames (no DPDK), with the
//! control lcore's neighbour duty beside it.

use dataplane::fixtures::{self, DMZ, Expect, FIRST_LPORT, Flow, Harness, LAN, Scenario};
use dataplane::net::PortIdx;
use dataplane::packet::TcpFlags;
use dataplane::worker::DropReason;
use dataplane::worker::mem_io::MemIo;
use dataplane::worker::poll::{Poller, redirect_mesh};

fn hex(frame: &[u8]) -> String {
    frame
        .chunks(16)
        .map(|c| c.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn sent(io: &mut MemIo) -> Vec<(PortIdx, Vec<u8>)> {
    [LAN, DMZ].into_iter().flat_map(|p| io.take_tx(p).into_iter().map(move |f| (p, f))).collect()
}

fn assert_frames(what: &str, got: &[(PortIdx, Vec<u8>)], want: &[(PortIdx, Vec<u8>)]) {
    assert_eq!(got.len(), want.len(), "{what}: {} frames out, {} expected", got.len(), want.len());
    for (i, ((gp, g), (wp, w))) in got.iter().zip(want).enumerate() {
        assert_eq!(gp, wp, "{what}: frame {i} port");
        assert!(g == w, "{what}: frame {i} differs\n got:\n{}\nwant:\n{}", hex(g), hex(w));
    }
}

fn run(s: &Scenario) {
    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 16).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    assert_frames(&format!("{} / start", s.name), &sent(&mut io), &fixtures::announcements());
    for (i, step) in s.steps.iter().enumerate() {
        let what = format!("{} / step {i}", s.name);
        let before = h.poller.worker.stats.clone();
        if !step.frame.is_empty() {
            io.push_rx(step.port, step.frame.clone());
        }
        h.run(&mut io, step.at_ms);
        let stats = &h.poller.worker.stats;
        assert_frames(&what, &sent(&mut io), &step.expect.frames());
        match &step.expect {
            Expect::Drop(reason) => {
                assert_eq!(
                    stats.dropped(*reason),
                    before.dropped(*reason) + 1,
                    "{what}: drop reason {reason} (stats {stats})"
                );
                assert_eq!(stats.total_drops(), before.total_drops() + 1, "{what}: exactly one drop (stats {stats})");
            }
            Expect::Tx { .. } | Expect::Frames(_) => {
                assert_eq!(stats.total_drops(), before.total_drops(), "{what}: nothing dropped (stats {stats})");
            }
        }
        let received = u64::from(!step.frame.is_empty());
        assert_eq!(stats.rx, before.rx + received, "{what}: frames received");
        // Every packet of a connection, forwarded or an ICMP error about it, counts once for its
        // real server, as IPVS counts them.
        let counted: u64 = h.poller.worker.traffic().map(|(_, c)| c.inpkts + c.outpkts).sum();
        assert_eq!(counted, stats.fwd_in + stats.fwd_out + stats.icmp_translated, "{what}: traffic counters");
    }
}

#[test]
fn every_fixture_gives_the_expected_frames_or_drop() {
    let all = fixtures::scenarios();
    let cases: usize = all.iter().map(|s| s.steps.len()).sum();
    assert!(all.len() >= 20 && cases >= 60, "{} scenarios, {cases} cases", all.len());
    for s in &all {
        run(s);
    }
    eprintln!("{} scenarios, {cases} cases", all.len());
}

#[test]
fn every_drop_reason_of_the_packet_path_has_a_fixture() {
    let covered: Vec<DropReason> = fixtures::scenarios()
        .iter()
        .flat_map(|s| s.steps.iter())
        .filter_map(|st| match st.expect {
            Expect::Drop(r) => Some(r),
            _ => None,
        })
        .collect();
    // Reasons that depend on load or on the configuration rather than on one frame have tests below
    // or in the worker's unit tests.
    let elsewhere = [
        DropReason::NoDest,
        DropReason::NoLocalPort,
        DropReason::ConnTableFull,
        DropReason::NoRoute,
        DropReason::HoldFull,
        DropReason::RedirectFull,
        DropReason::RedirectLoop,
        DropReason::TxFull,
        DropReason::ConnClash,
        DropReason::NoHeadroom,
        DropReason::DestRemoved,
        DropReason::NoBuffer,
        // The kernel twins' (a configuration the fixtures do not have): worker::kernel's tests.
        DropReason::KernelRateLimited,
        DropReason::KernelFull,
        DropReason::FromKernelRefused,
        // VRRP's floating addresses (not in the demo configuration): the worker's own tests.
        DropReason::Standby,
    ];
    for r in DropReason::ALL {
        assert!(covered.contains(r) || elsewhere.contains(r), "no fixture drops a frame for {r}");
    }
}

/// Two workers on the demo topology, each with its own queues.
fn two_workers(ring: usize) -> (Vec<Poller<Vec<u8>>>, Vec<MemIo>) {
    let snap = fixtures::snapshot_for(2);
    let templates = fixtures::templates();
    let pollers = redirect_mesh(2, ring)
        .into_iter()
        .enumerate()
        .map(|(i, links)| Poller::new(fixtures::worker(&snap, u16::try_from(i).unwrap(), 2, &templates), links, 2))
        .collect();
    (pollers, vec![MemIo::new(2), MemIo::new(2)])
}

fn start(w: &mut [Poller<Vec<u8>>], io: &mut [MemIo]) {
    for (p, io) in w.iter_mut().zip(io.iter_mut()) {
        p.poll(io, 0);
    }
    assert_frames("worker 0 announces the VIP", &sent(&mut io[0]), &fixtures::announcements());
    assert!(sent(&mut io[1]).is_empty(), "only worker 0 announces");
}

#[test]
fn a_reply_on_the_wrong_worker_reaches_the_owner_through_its_ring() {
    let (mut w, mut io) = two_workers(16);
    start(&mut w, &mut io);
    // Worker 0 owns the even local ports, worker 1 the odd ones. rr cycles per service, over both
    // workers: the first connection goes to rs1, the second (on the other worker) to rs2.
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let b = Flow::tcp(40001, 1, FIRST_LPORT + 1);
    for (wi, flow) in [(0usize, a), (1, b)] {
        let syn = flow.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
        io[wi].push_rx(LAN, syn.frame);
        w[wi].poll(&mut io[wi], 0);
        assert_eq!(Expect::Tx { port: DMZ, frame: io[wi].take_tx(DMZ).remove(0) }, syn.expect, "SYN on worker {wi}");
    }
    // Each reply arrives on the other worker, which passes it on untouched.
    for (wrong, owner, flow) in [(1usize, 0usize, a), (0, 1, b)] {
        let reply = flow.tcp_out(1, TcpFlags::ACK, 5, 2, b"");
        io[wrong].push_rx(DMZ, reply.frame);
        w[wrong].poll(&mut io[wrong], 1);
        assert!(io[wrong].take_tx(LAN).is_empty());
        assert_eq!(w[wrong].worker.stats.redirected_out, 1);
        assert_eq!(w[owner].pending_redirects(), 1);
        w[owner].poll(&mut io[owner], 1);
        assert_eq!(w[owner].worker.stats.redirected_in, 1);
        assert_eq!(
            Expect::Tx { port: LAN, frame: io[owner].take_tx(LAN).remove(0) },
            reply.expect,
            "reply owned by {owner}"
        );
    }
    for p in &w {
        assert_eq!(p.worker.stats.total_drops(), 0, "{}", p.worker.stats);
    }
}

#[test]
fn a_full_redirect_ring_drops_and_counts() {
    let (mut w, mut io) = two_workers(1);
    start(&mut w, &mut io);
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    io[0].push_rx(LAN, a.tcp_in(0, TcpFlags::SYN, 1, 0, b"").frame);
    w[0].poll(&mut io[0], 0);
    for _ in 0..3 {
        io[1].push_rx(DMZ, a.tcp_out(1, TcpFlags::ACK, 5, 2, b"").frame);
    }
    w[1].poll(&mut io[1], 1);
    assert_eq!(w[1].worker.stats.redirected_out, 1);
    assert_eq!(w[1].worker.stats.dropped(DropReason::RedirectFull), 2);
}

#[test]
fn a_full_tx_queue_drops_and_counts() {
    let (mut w, mut io) = two_workers(4);
    start(&mut w, &mut io);
    io[0].tx_limit = Some(1);
    for i in 0..3 {
        io[0].push_rx(LAN, Flow::tcp(40000 + i, 0, 0).tcp_in(0, TcpFlags::SYN, 1, 0, b"").frame);
    }
    w[0].poll(&mut io[0], 0);
    assert_eq!(io[0].take_tx(DMZ).len(), 1);
    assert_eq!(w[0].worker.stats.dropped(DropReason::TxFull), 2);
}

#[test]
fn the_hold_queue_is_bounded() {
    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    // Replies to clients with unknown MAC addresses: each is held; the queue holds 256.
    let total = dataplane::worker::poll::HOLD_MAX + 10;
    for i in 0..total {
        let i16 = u16::try_from(i).unwrap();
        let f = Flow::tcp(20000 + i16, usize::from(i16 % 3), FIRST_LPORT + i16)
            .from(fixtures::UNKNOWN_CLIENT, fixtures::UNKNOWN_MAC);
        io.push_rx(LAN, f.tcp_in(0, TcpFlags::SYN, 1, 0, b"").frame);
        h.run(&mut io, 0);
        io.push_rx(DMZ, f.tcp_out(0, TcpFlags::ACK, 1, 2, b"").frame);
        h.run(&mut io, 0);
    }
    assert_eq!(h.poller.held(), dataplane::worker::poll::HOLD_MAX, "{}", h.poller.worker.stats);
    assert_eq!(h.poller.worker.stats.dropped(DropReason::HoldFull), 10);
    h.run(&mut io, 5000);
    assert_eq!(h.poller.held(), 0);
    assert_eq!(h.poller.worker.stats.dropped(DropReason::NeighTimeout), 256);
}

/// One started worker with a connection to rs1 (client port 40000) and one to rs2 (40001) of the
/// TCP service, their SYNs checked.
fn two_connections() -> (Harness<Vec<u8>>, MemIo, std::sync::Arc<dataplane::snapshot::Snapshot>, Flow, Flow) {
    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    sent(&mut io);
    let to_rs1 = Flow::tcp(40000, 0, FIRST_LPORT);
    let to_rs2 = Flow::tcp(40001, 1, FIRST_LPORT + 1);
    for step in [to_rs1.tcp_in(0, TcpFlags::SYN, 1, 0, b""), to_rs2.tcp_in(0, TcpFlags::SYN, 1, 0, b"")] {
        io.push_rx(step.port, step.frame);
        h.run(&mut io, 0);
        assert_frames("SYN", &sent(&mut io), &step.expect.frames());
    }
    (h, io, snap, to_rs1, to_rs2)
}

/// The demo's services without rs2 (10.1.0.12) in the TCP service on port 80.
fn without_rs2(snap: &dataplane::snapshot::Snapshot) -> dataplane::lb::Services {
    let services = snap
        .services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            s.dests.retain(|d| d.addr != fixtures::RS[1] || s.key.vport != 80);
            s
        })
        .collect();
    dataplane::lb::Services::new(services).unwrap()
}

#[test]
fn removing_a_real_server_at_runtime_keeps_open_connections_and_steers_new_ones_away() {
    use std::sync::Arc;

    let (mut h, mut io, snap, to_rs1, to_rs2) = two_connections();
    // The operator deletes the second real server (10.1.0.12) of the TCP service.
    h.publish(Arc::new(snap.with_services(without_rs2(&snap))));
    h.run(&mut io, 1);
    // Both open connections keep working in both directions, the one to the removed server too
    // (as IPVS does by default: it lives until it ends or expires).
    for step in [
        to_rs1.tcp_out(2, TcpFlags::ACK, 5, 2, b"one"),
        to_rs2.tcp_out(2, TcpFlags::ACK, 5, 2, b"two"),
        to_rs1.tcp_in(3, TcpFlags::ACK, 2, 6, b"more"),
    ] {
        io.push_rx(step.port, step.frame);
        h.run(&mut io, step.at_ms);
        assert_frames("open connection", &sent(&mut io), &step.expect.frames());
    }
    // New connections go to the remaining servers only, the rr cursor restarting at the first.
    for (i, rs) in [0usize, 2, 0, 2].into_iter().enumerate() {
        let i = u16::try_from(i).unwrap();
        let step = Flow::tcp(41000 + i, rs, FIRST_LPORT + 2 + i).tcp_in(4, TcpFlags::SYN, 1, 0, b"");
        io.push_rx(step.port, step.frame);
        h.run(&mut io, 4);
        assert_frames(&format!("new connection {i}"), &sent(&mut io), &step.expect.frames());
    }
    assert_eq!(h.poller.worker.stats.total_drops(), 0, "{}", h.poller.worker.stats);
}

#[test]
fn traffic_is_counted_per_real_server_and_kept_when_it_is_removed() {
    use std::sync::Arc;

    use ctrl::vocab::Counters;
    use dataplane::lb::{Protocol, ServiceKey};
    use dataplane::worker::counts::Source;

    let (mut h, mut io, snap, _, to_rs2) = two_connections();
    let key = ServiceKey { protocol: Protocol::Tcp, vip: fixtures::VIP, vport: 80, fwmark: 0 };
    let dests = &snap.services.find(&key).unwrap().1.dests;
    let (rs1, rs2) = (dests[0].id, dests[1].id);
    let traffic = |h: &Harness<Vec<u8>>, src: Source| {
        h.poller.worker.traffic().find(|(s, _)| *s == src).map(|(_, c)| c).unwrap_or_default()
    };
    // Each SYN: one connection, one packet in of 40 bytes (20 IP + 20 TCP).
    let syn = Counters { conns: 1, inpkts: 1, inbytes: 40, ..Counters::default() };
    assert_eq!(traffic(&h, Source::Dest(rs1, key)), syn);
    // rs2: a reply of 3 bytes of data (43) and a segment in of 4 (44).
    for step in [to_rs2.tcp_out(1, TcpFlags::ACK, 5, 2, b"two"), to_rs2.tcp_in(1, TcpFlags::ACK, 2, 6, b"more")] {
        io.push_rx(step.port, step.frame);
        h.run(&mut io, 1);
        assert_frames("rs2 traffic", &sent(&mut io), &step.expect.frames());
    }
    let rs2_seen = Counters { conns: 1, inpkts: 2, outpkts: 1, inbytes: 84, outbytes: 43 };
    assert_eq!(traffic(&h, Source::Dest(rs2, key)), rs2_seen);
    // A dropped packet counts nowhere: the sums over the servers are the worker's forwarded packets.
    let sum = h.poller.worker.traffic().fold(Counters::default(), |mut t, (_, c)| {
        t.add(&c);
        t
    });
    let stats = &h.poller.worker.stats;
    assert_eq!((sum.inpkts, sum.outpkts, sum.conns), (stats.fwd_in, stats.fwd_out, stats.conns_created));
    // rs2 is deleted: its open connection keeps counting under it; once that connection is gone,
    // its figures stay with the service (retired), nothing lost.
    h.publish(Arc::new(snap.with_services(without_rs2(&snap))));
    h.run(&mut io, 2);
    let step = to_rs2.tcp_in(2, TcpFlags::RST, 6, 0, b"");
    io.push_rx(step.port, step.frame);
    h.run(&mut io, 2);
    sent(&mut io);
    let rs2_all = Counters { inpkts: 3, inbytes: 124, ..rs2_seen };
    assert_eq!(traffic(&h, Source::Dest(rs2, key)), rs2_all);
    // The RST leaves CLOSE (10 s); after it expires (the sweep takes a bounded number of entries
    // per poll) and a new snapshot comes, rs2 is freed.
    while h.poller.worker.conns().len() > 1 {
        h.run(&mut io, 2 + 10_001);
    }
    h.publish(Arc::new(snap.with_services(without_rs2(&snap))));
    h.run(&mut io, 2 + 10_002);
    assert!(h.poller.worker.traffic().all(|(s, _)| s != Source::Dest(rs2, key)), "rs2 is forgotten");
    assert_eq!(traffic(&h, Source::Retired(key)), rs2_all);
    assert_eq!(traffic(&h, Source::Dest(rs1, key)), syn, "rs1 untouched");
}

#[test]
fn active_and_inactive_counts_follow_the_tcp_state() {
    use dataplane::lb::{Protocol, ServiceKey};

    let snap = fixtures::snapshot();
    let key = ServiceKey { protocol: Protocol::Tcp, vip: fixtures::VIP, vport: 80, fwmark: 0 };
    let rs1 = snap.services.find(&key).unwrap().1.dests[0].id;
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
    let steps = [
        (a.tcp_in(0, TcpFlags::SYN, 1, 0, b""), (0, 1), "SYN_RECV is inactive"),
        (a.tcp_out(1, TcpFlags::SYN | TcpFlags::ACK, 9, 2, b""), (0, 1), "still SYN_RECV"),
        (a.tcp_in(2, TcpFlags::ACK, 2, 10, b""), (1, 0), "ESTABLISHED is active"),
        (a.tcp_in(3, fin_ack, 2, 10, b""), (0, 1), "CLOSE_WAIT is inactive"),
    ];
    for (step, (active, inactive), what) in steps {
        io.push_rx(step.port, step.frame);
        h.run(&mut io, step.at_ms);
        sent(&mut io);
        let c = h.poller.worker.dest_conns().find(|(id, _)| *id == rs1).unwrap().1;
        assert_eq!((c.active, c.inactive), (active, inactive), "{what}");
    }
    // CLOSE_WAIT lasts 60 s: a segment after that finds the connection expired, and the counts drop.
    io.push_rx(LAN, a.tcp_in(0, TcpFlags::ACK, 3, 11, b"").frame);
    h.run(&mut io, 3 + 60_000);
    let c = h.poller.worker.dest_conns().find(|(id, _)| *id == rs1).unwrap().1;
    assert_eq!((c.active, c.inactive), (0, 0));
    assert_eq!(h.poller.worker.stats.dropped(DropReason::NoConn), 1);
}

#[test]
fn the_load_board_sums_the_connections_of_every_worker() {
    use dataplane::lb::loads::Load;
    use dataplane::lb::{Protocol, ServiceKey};

    let (mut w, mut io) = two_workers(16);
    start(&mut w, &mut io);
    // rr cycles per service over both workers: rs1, rs2 (worker 0), rs3, rs1 (worker 1).
    for (wi, cport) in [(0usize, 40000u16), (0, 40001), (1, 40002), (1, 40003)] {
        io[wi].push_rx(LAN, Flow::tcp(cport, 0, 0).tcp_in(0, TcpFlags::SYN, 1, 0, b"").frame);
        w[wi].poll(&mut io[wi], 0);
    }
    let snap = w[0].worker.snapshot().clone();
    let key = ServiceKey { protocol: Protocol::Tcp, vip: fixtures::VIP, vport: 80, fwmark: 0 };
    let (idx, _) = snap.services.find(&key).unwrap();
    let total = |j| snap.loads.total(snap.services.dest_slot(idx, j));
    assert_eq!(total(0), Load { active: 0, inactive: 2 }, "rs1: one connection on each worker");
    assert_eq!(total(1), Load { active: 0, inactive: 1 });
    assert_eq!(total(2), Load { active: 0, inactive: 1 });
}

#[test]
fn with_expire_nodest_conn_a_removed_real_servers_connections_end_at_their_next_packet() {
    use dataplane::snapshot::Snapshot;
    use std::sync::Arc;

    let (mut h, mut io, snap, to_rs1, to_rs2) = two_connections();
    let changed = snap.with_services(without_rs2(&snap));
    h.publish(Arc::new(Snapshot { expire_nodest_conn: true, ..changed }));
    h.run(&mut io, 1);
    // The connection to the deleted rs2 ends at its next packet, which is dropped...
    io.push_rx(DMZ, to_rs2.tcp_out(2, TcpFlags::ACK, 5, 2, b"two").frame);
    h.run(&mut io, 2);
    assert!(sent(&mut io).is_empty());
    assert_eq!(h.poller.worker.stats.dropped(DropReason::DestRemoved), 1);
    assert_eq!(h.poller.worker.conns().len(), 1);
    // ...and the client's next segment finds no connection; the one to rs1 is untouched.
    io.push_rx(LAN, to_rs2.tcp_in(3, TcpFlags::ACK, 2, 6, b"").frame);
    h.run(&mut io, 3);
    assert_eq!(h.poller.worker.stats.dropped(DropReason::NoConn), 1);
    let step = to_rs1.tcp_out(4, TcpFlags::ACK, 5, 2, b"one");
    io.push_rx(step.port, step.frame);
    h.run(&mut io, 4);
    assert_frames("rs1's connection", &sent(&mut io), &step.expect.frames());
}

#[test]
fn an_arp_flood_is_answered_and_the_neighbour_table_stays_bounded() {
    use dataplane::net::neigh::MAX_LEARNED;
    use dataplane::packet::MacAddr;
    use std::net::Ipv4Addr;

    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    sent(&mut io);
    // 100,000 ARP requests for the VIP, each from another sender (10.0.0.0/8, another MAC).
    let n = 100_000u32;
    for i in 0..n {
        let b = (i + 3).to_be_bytes();
        let mac = MacAddr([2, 0xaa, b[0], b[1], b[2], b[3]]);
        io.push_rx(LAN, fixtures::arp_request(mac, Ipv4Addr::new(10, b[1], b[2], b[3]), fixtures::VIP));
        if i % 16 == 15 {
            h.run(&mut io, u64::from(i / 1000));
            sent(&mut io);
        }
    }
    h.run(&mut io, 200);
    sent(&mut io);
    let w = &h.poller.worker;
    // Every request was answered or counted as a drop; the table the workers read stays bounded.
    assert_eq!(w.stats.rx, u64::from(n));
    assert_eq!(w.stats.arp_replies + w.stats.total_drops(), u64::from(n), "{}", w.stats);
    let statics = 8;
    assert!(w.neigh_len() <= MAX_LEARNED + statics, "{} neighbours", w.neigh_len());
}

#[test]
fn a_flood_towards_unresolved_next_hops_stays_in_the_bounded_hold_queue() {
    use dataplane::packet::builder::FrameSpec;
    use dataplane::packet::icmp::msg_type;
    use std::net::Ipv4Addr;

    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    sent(&mut io);
    // 10,000 pings to the VIP from 60 on-link clients nobody has resolved (10.0.0.20 to .79):
    // every answer waits for its client's MAC address.
    let announcements = h.poller.worker.stats.arp_requests;
    let n = 10_000u16;
    for i in 0..n {
        let client = Ipv4Addr::new(10, 0, 0, 20 + u8::try_from(i % 60).unwrap());
        let mac = dataplane::packet::MacAddr([2, 0xbb, 0, 0, 0, u8::try_from(i % 60).unwrap()]);
        let frame = FrameSpec::new((mac, fixtures::LAN_MAC), client, fixtures::VIP).icmp_echo(
            msg_type::ECHO_REQUEST,
            i,
            1,
            b"flood",
        );
        io.push_rx(LAN, frame);
        h.run(&mut io, 1);
        // What leaves meanwhile is ARP requests only, one per client at most (rate-limited).
        for f in io.take_tx(LAN) {
            assert_eq!(&f[12..14], &[0x08, 0x06], "only ARP leaves while nobody answers");
        }
    }
    let s = h.poller.worker.stats.clone();
    assert_eq!(s.rx, u64::from(n));
    assert_eq!(s.arp_requests - announcements, 60, "one ARP request per neighbour and second: {s}");
    assert_eq!(s.held + s.dropped(DropReason::HoldFull), u64::from(n), "each held or dropped: {s}");
    assert!(s.dropped(DropReason::HoldFull) >= u64::from(n) - 256, "at most 256 held: {s}");
    // After 3 s the held frames give up, counted.
    h.run(&mut io, 3_100);
    let s = &h.poller.worker.stats;
    assert_eq!(s.dropped(DropReason::NeighTimeout), s.held, "{s}");
}

#[test]
fn a_reassembled_datagram_without_a_buffer_is_dropped_and_its_slot_freed() {
    use dataplane::packet::builder::FrameSpec;
    use dataplane::packet::frag;
    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 16).pop().unwrap());
    // Plain buffers only: a 2042-byte frame cannot be had.
    let mut io = MemIo { alloc_limit: Some(1600), ..MemIo::new(2) };
    h.run(&mut io, 0);
    sent(&mut io);
    let u = Flow::udp(5000, 0, FIRST_LPORT);
    let whole = FrameSpec { dont_frag: false, ident: 9, ..u.request(64) }.udp(5000, 53, &[3u8; 2000]);
    let parts: Vec<Vec<u8>> = frag::pieces(&whole, 1500)
        .unwrap()
        .map(|p| {
            let mut f = vec![0; p.frame_len];
            frag::write_piece(&whole, &p, &mut f);
            f
        })
        .collect();
    for round in 1..=2 {
        for (i, f) in parts.iter().enumerate() {
            io.push_rx(LAN, f.clone());
            h.run(&mut io, 1 + i as u64);
        }
        let stats = &h.poller.worker.stats;
        assert_eq!(stats.dropped(DropReason::NoBuffer), round, "{stats}");
        assert_eq!(stats.total_drops(), round, "the second round finds its slot free, not a duplicate: {stats}");
        assert!(sent(&mut io).is_empty());
    }
}
