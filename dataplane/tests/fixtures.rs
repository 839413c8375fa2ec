//! The packet fixture table, run through the real worker loop over byte frames (no DPDK).

use dataplane::fixtures::{self, DMZ, Expect, FIRST_LPORT, Flow, LAN, Scenario};
use dataplane::net::PortIdx;
use dataplane::packet::TcpFlags;
use dataplane::worker::DropReason;
use dataplane::worker::mem_io::MemIo;
use dataplane::worker::poll::{Poller, redirect_mesh};

fn hex(frame: &[u8]) -> String {
    frame
        .chunks(16)
        .map(|c| {
            c.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn run(s: &Scenario) {
    let snap = fixtures::snapshot();
    let links = redirect_mesh(1, 16).pop().unwrap();
    let mut poller = Poller::new(fixtures::worker(&snap, 0, 1), links, 2);
    let mut io = MemIo::new(2);
    for (i, step) in s.steps.iter().enumerate() {
        let before = poller.worker.stats.clone();
        io.push_rx(step.port, step.frame.clone());
        poller.poll(&mut io, step.at_ms);
        let out: Vec<(PortIdx, Vec<u8>)> = [LAN, DMZ]
            .into_iter()
            .flat_map(|p| io.take_tx(p).into_iter().map(move |f| (p, f)))
            .collect();
        let stats = &poller.worker.stats;
        match &step.expect {
            Expect::Tx { port, frame } => {
                assert_eq!(
                    out.len(),
                    1,
                    "{} / step {i}: expected one frame out, got {} (stats {stats})",
                    s.name,
                    out.len()
                );
                assert_eq!(out[0].0, *port, "{} / step {i}: egress port", s.name);
                assert!(
                    out[0].1 == *frame,
                    "{} / step {i}: frame differs\n got:\n{}\nwant:\n{}",
                    s.name,
                    hex(&out[0].1),
                    hex(frame)
                );
                assert_eq!(
                    stats.total_drops(),
                    before.total_drops(),
                    "{} / step {i}: nothing dropped",
                    s.name
                );
            }
            Expect::Drop(reason) => {
                assert!(
                    out.is_empty(),
                    "{} / step {i}: expected a drop ({reason}), got a frame",
                    s.name
                );
                assert_eq!(
                    stats.dropped(*reason),
                    before.dropped(*reason) + 1,
                    "{} / step {i}: drop reason {reason} (stats {stats})",
                    s.name
                );
                assert_eq!(
                    stats.total_drops(),
                    before.total_drops() + 1,
                    "{} / step {i}: exactly one drop",
                    s.name
                );
            }
        }
        assert_eq!(stats.rx, before.rx + 1);
    }
}

#[test]
fn every_fixture_gives_the_expected_frame_or_drop() {
    let all = fixtures::scenarios();
    let cases: usize = all.iter().map(|s| s.steps.len()).sum();
    assert!(
        all.len() >= 20 && cases >= 60,
        "{} scenarios, {cases} cases",
        all.len()
    );
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
            Expect::Tx { .. } => None,
        })
        .collect();
    // Reasons that depend on load or on the configuration rather than on one frame have tests below.
    let elsewhere = [
        DropReason::NoDest,
        DropReason::NoLocalPort,
        DropReason::ConnTableFull,
        DropReason::NoRoute,
        DropReason::RedirectFull,
        DropReason::RedirectLoop,
        DropReason::TxFull,
    ];
    for r in DropReason::ALL {
        assert!(
            covered.contains(r) || elsewhere.contains(r),
            "no fixture drops a frame for {r}"
        );
    }
}

/// Two workers on the demo topology, each with its own queues.
fn two_workers(ring: usize) -> (Vec<Poller<Vec<u8>>>, Vec<MemIo>) {
    let snap = fixtures::snapshot();
    let pollers = redirect_mesh(2, ring)
        .into_iter()
        .enumerate()
        .map(|(i, links)| {
            Poller::new(
                fixtures::worker(&snap, u16::try_from(i).unwrap(), 2),
                links,
                2,
            )
        })
        .collect();
    (pollers, vec![MemIo::new(2), MemIo::new(2)])
}

#[test]
fn a_reply_on_the_wrong_worker_reaches_the_owner_through_its_ring() {
    let (mut w, mut io) = two_workers(16);
    // Worker 0 owns the even local ports, worker 1 the odd ones.
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let b = Flow::tcp(40001, 0, FIRST_LPORT + 1);
    for (wi, flow) in [(0usize, a), (1, b)] {
        let syn = flow.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
        io[wi].push_rx(LAN, syn.frame);
        w[wi].poll(&mut io[wi], 0);
        assert_eq!(
            Expect::Tx {
                port: DMZ,
                frame: io[wi].take_tx(DMZ).remove(0)
            },
            syn.expect,
            "SYN on worker {wi}"
        );
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
            Expect::Tx {
                port: LAN,
                frame: io[owner].take_tx(LAN).remove(0)
            },
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
    let snap = fixtures::snapshot();
    let mut p = Poller::new(
        fixtures::worker(&snap, 0, 1),
        redirect_mesh(1, 4).pop().unwrap(),
        2,
    );
    let mut io = MemIo::new(2);
    io.tx_limit = Some(1);
    for i in 0..3 {
        io.push_rx(
            LAN,
            Flow::tcp(40000 + i, 0, 0)
                .tcp_in(0, TcpFlags::SYN, 1, 0, b"")
                .frame,
        );
    }
    p.poll(&mut io, 0);
    assert_eq!(io.take_tx(DMZ).len(), 1);
    assert_eq!(p.worker.stats.tx, 1);
    assert_eq!(p.worker.stats.dropped(DropReason::TxFull), 2);
}
