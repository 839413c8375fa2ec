//! IPVS persistence through the real worker loop over byte frames: templates shared by workers,
//! configuration changes (a real server removed or quiesced, `expire_quiescent_template`), the
//! expiry sweep releasing templates, a full template table, and the listing of templates.

use std::sync::Arc;

use ctrl::msg::ConnListing;
use dataplane::control::templates::{forget_templates, list_templates};
use dataplane::fixtures::persist::{PPC_VIP, REMOTE, pcc, ppc};
use dataplane::fixtures::{self, DMZ, FIRST_LPORT, Harness, LAN, ROUTER_MAC, Step};
use dataplane::lb::persist::SHARDS;
use dataplane::lb::sched::SchedHistory;
use dataplane::lb::{Protocol, ServiceKey, Services, Templates};
use dataplane::net::PortIdx;
use dataplane::packet::TcpFlags;
use dataplane::snapshot::Snapshot;
use dataplane::worker::mem_io::MemIo;
use dataplane::worker::poll::{Poller, redirect_mesh};

const SYN: TcpFlags = TcpFlags::SYN;

fn sent(io: &mut MemIo) -> Vec<(PortIdx, Vec<u8>)> {
    [LAN, DMZ].into_iter().flat_map(|p| io.take_tx(p).into_iter().map(move |f| (p, f))).collect()
}

/// One worker over the demo configuration, started (its announcements taken).
fn harness() -> (Harness<Vec<u8>>, MemIo, Arc<Snapshot>) {
    let snap = fixtures::snapshot();
    let mut h = Harness::new(&snap, 0, 1, redirect_mesh(1, 4).pop().unwrap());
    let mut io = MemIo::new(2);
    h.run(&mut io, 0);
    sent(&mut io);
    (h, io, snap)
}

/// Runs `step` and checks that exactly its expected frames came out.
fn check(h: &mut Harness<Vec<u8>>, io: &mut MemIo, step: Step, what: &str) {
    io.push_rx(step.port, step.frame.clone());
    h.run(io, step.at_ms);
    assert_eq!(sent(io), step.expect.frames(), "{what} (stats {})", h.poller.worker.stats);
}

/// The demo's services with the persistent service's real servers changed by `f`.
fn changed(snap: &Snapshot, f: impl Fn(&mut Vec<dataplane::lb::RealServer>)) -> Services {
    let list = snap
        .services
        .iter()
        .map(|s| {
            let mut s = s.clone();
            if s.key.vip == PPC_VIP {
                f(&mut s.dests);
            }
            s
        })
        .collect();
    Services::new(list).unwrap()
}

#[test]
fn a_removed_servers_template_is_rescheduled_and_its_connections_live_on() {
    let (mut h, mut io, snap) = harness();
    let l = FIRST_LPORT;
    check(&mut h, &mut io, ppc(40000, 0, l).tcp_in(0, SYN, 1, 0, b""), "first connection: rs1");
    // The operator deletes rs1; the main lcore forgets its templates as it publishes.
    let services = changed(&snap, |d| d.retain(|r| r.addr != fixtures::RS[0]));
    assert_eq!(forget_templates(h.poller.worker.templates(), &services), 1);
    h.publish(Arc::new(snap.with_services(services)));
    h.run(&mut io, 1);
    // The open connection keeps working...
    check(&mut h, &mut io, ppc(40000, 0, l).tcp_out(2, TcpFlags::ACK, 5, 2, b"still"), "old connection");
    // ...and the client's next connection is scheduled anew (rr restarts at the list head, rs2),
    // which rebinds the template: the one after follows it.
    check(&mut h, &mut io, ppc(40001, 1, l + 1).tcp_in(3, SYN, 1, 0, b""), "rescheduled to rs2");
    check(&mut h, &mut io, ppc(40002, 1, l + 2).tcp_in(4, SYN, 1, 0, b""), "following the new template");
    assert_eq!(h.poller.worker.stats.persist_followed, 1);
    assert_eq!(h.poller.worker.stats.total_drops(), 0);
}

#[test]
fn without_the_main_lcores_help_a_worker_still_reschedules_a_deleted_servers_clients() {
    let (mut h, mut io, snap) = harness();
    check(&mut h, &mut io, ppc(40000, 0, FIRST_LPORT).tcp_in(0, SYN, 1, 0, b""), "rs1");
    h.publish(Arc::new(snap.with_services(changed(&snap, |d| d.retain(|r| r.addr != fixtures::RS[0])))));
    h.run(&mut io, 1);
    check(&mut h, &mut io, ppc(40001, 1, FIRST_LPORT + 1).tcp_in(2, SYN, 1, 0, b""), "the template's rs1 is gone");
}

#[test]
fn a_quiesced_server_keeps_its_persistent_clients_unless_expire_quiescent_template() {
    let (mut h, mut io, snap) = harness();
    let l = FIRST_LPORT;
    check(&mut h, &mut io, ppc(40000, 0, l).tcp_in(0, SYN, 1, 0, b""), "rs1");
    // Weight 0 on rs1: IPVS's default keeps the client there; a new client goes elsewhere.
    let quiesced = changed(&snap, |d| d[0].weight = 0);
    h.publish(Arc::new(snap.with_services(quiesced.clone())));
    h.run(&mut io, 1);
    check(&mut h, &mut io, ppc(40001, 0, l + 1).tcp_in(2, SYN, 1, 0, b""), "quiesced rs1 keeps its client");
    check(&mut h, &mut io, ppc(40002, 1, l + 2).from(REMOTE, ROUTER_MAC).tcp_in(3, SYN, 1, 0, b""), "new client: rs2");
    // With expire_quiescent_template the template is not followed: rescheduled (rr: rs3).
    let strict = Snapshot { expire_quiescent_template: true, ..snap.with_services(quiesced) };
    strict.services.carry_cursors(&h.poller.worker.snapshot().services, &SchedHistory::default());
    h.publish(Arc::new(strict));
    h.run(&mut io, 4);
    check(&mut h, &mut io, ppc(40003, 2, l + 3).tcp_in(5, SYN, 1, 0, b""), "rescheduled");
    check(&mut h, &mut io, ppc(40004, 2, l + 4).tcp_in(6, SYN, 1, 0, b""), "and the template follows rs3");
    assert_eq!(h.poller.worker.stats.total_drops(), 0);
}

#[test]
fn two_workers_share_one_template_table() {
    let snap = fixtures::snapshot_for(2);
    let templates = fixtures::templates();
    let mut w: Vec<Poller<Vec<u8>>> = redirect_mesh(2, 16)
        .into_iter()
        .enumerate()
        .map(|(i, links)| Poller::new(fixtures::worker(&snap, u16::try_from(i).unwrap(), 2, &templates), links, 2))
        .collect();
    let mut io = [MemIo::new(2), MemIo::new(2)];
    for (p, io) in w.iter_mut().zip(io.iter_mut()) {
        p.poll(io, 0);
        sent(io);
    }
    // The client's first connection lands on worker 0 (rs1, even local port), its second on
    // worker 1 (odd local port): the template sends it to rs1 too, where rr alone says rs2.
    for (wi, flow) in [(0usize, ppc(40000, 0, FIRST_LPORT)), (1, ppc(40001, 0, FIRST_LPORT + 1))] {
        let step = flow.tcp_in(0, SYN, 1, 0, b"");
        io[wi].push_rx(LAN, step.frame);
        w[wi].poll(&mut io[wi], 0);
        assert_eq!(sent(&mut io[wi]), step.expect.frames(), "worker {wi}");
    }
    assert_eq!(w[1].worker.stats.persist_followed, 1);
    // PCC too: port 80 on worker 1, port 443 on worker 0.
    for (wi, flow) in [(1usize, pcc(40002, 80, 0, FIRST_LPORT + 3)), (0, pcc(40003, 443, 0, FIRST_LPORT + 2))] {
        let step = flow.tcp_in(1, SYN, 1, 0, b"");
        io[wi].push_rx(LAN, step.frame);
        w[wi].poll(&mut io[wi], 1);
        assert_eq!(sent(&mut io[wi]), step.expect.frames(), "PCC on worker {wi}");
    }
    assert_eq!(templates.len(), 2);
}

#[test]
fn the_expiry_sweep_releases_templates_from_the_connections_end() {
    let (mut h, mut io, _) = harness();
    check(&mut h, &mut io, ppc(40000, 0, FIRST_LPORT).tcp_in(0, SYN, 1, 0, b""), "rs1");
    check(&mut h, &mut io, ppc(40000, 0, FIRST_LPORT).tcp_in(1, TcpFlags::RST, 2, 0, b""), "reset: ends at 60_001");
    let templates = Arc::clone(h.poller.worker.templates());
    let listed = |now| {
        let mut out = ConnListing::default();
        list_templates(&templates, None, 10, now, &mut out);
        out.conns
            .iter()
            .map(|c| (c.state.clone(), c.client.to_string(), c.virt.to_string(), c.dest.to_string(), c.expire_ms))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        listed(30_000),
        vec![("NONE".into(), "10.0.0.2:0".into(), "10.0.0.104:80".into(), "10.1.0.11:80".into(), 330_000)],
        "in use: the timeout from its last use"
    );
    // The worker's sweep finds the expired connection much later; the template's 360 s run from 60_001.
    assert_eq!(h.poller.worker.expire(100_000, 1 << 20), 1);
    assert_eq!(listed(100_000)[0].4, 320_001);
    check(&mut h, &mut io, ppc(40001, 0, FIRST_LPORT + 1).tcp_in(420_000, SYN, 1, 0, b""), "1 ms left: followed");
    assert_eq!(h.poller.worker.stats.persist_followed, 1);
}

#[test]
fn a_full_template_table_schedules_without_templates_and_counts_it() {
    let snap = fixtures::snapshot();
    // One template per shard.
    let tiny = Arc::new(Templates::with_seed(SHARDS, [1, 2]));
    let mut p = Poller::new(fixtures::worker(&snap, 0, 1, &tiny), redirect_mesh(1, 4).pop().unwrap(), 2);
    let mut io = MemIo::new(2);
    p.poll(&mut io, 0);
    sent(&mut io);
    for i in 0..200u8 {
        // 200 clients; the expected server is not checked here, only that every one is forwarded.
        let client = std::net::Ipv4Addr::new(198, 51, 100, i + 1);
        let step = ppc(40000, 0, FIRST_LPORT).from(client, ROUTER_MAC).tcp_in(0, SYN, 1, 0, b"");
        io.push_rx(LAN, step.frame);
        p.poll(&mut io, 0);
        assert_eq!(io.take_tx(DMZ).len(), 1, "connection {i} forwarded");
    }
    let s = &p.worker.stats;
    assert_eq!((s.conns_created, s.total_drops()), (200, 0));
    assert_eq!(tiny.len() as u64 + s.persist_untracked, 200, "{s}");
    assert!(s.persist_untracked > 0 && tiny.len() <= SHARDS);
    let key = ServiceKey { protocol: Protocol::Tcp, vip: PPC_VIP, vport: 80, fwmark: 0 };
    assert!(snap.services.find(&key).is_some());
}

/// The connections using each live template: (client, real server address, connections).
fn template_conns(h: &Harness<Vec<u8>>, now: u64) -> Vec<(String, String, u32)> {
    let mut v = Vec::new();
    h.poller.worker.templates().for_each(now, |t| {
        v.push((t.key.client.to_string(), t.dest.addr.to_string(), t.conns));
        true
    });
    v
}

#[test]
fn a_reused_time_wait_connection_hands_its_template_reference_over() {
    let (mut h, mut io, _) = harness();
    let a = ppc(40000, 0, FIRST_LPORT);
    let fin_ack = TcpFlags::FIN | TcpFlags::ACK;
    for step in [
        a.tcp_in(0, SYN, 1, 0, b""),
        a.tcp_out(1, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b""),
        a.tcp_in(2, TcpFlags::ACK, 2, 101, b""),
        a.tcp_in(3, fin_ack, 2, 101, b""),
        a.tcp_out(4, fin_ack, 101, 3, b""),
        a.tcp_in(5, TcpFlags::ACK, 3, 102, b""),
    ] {
        check(&mut h, &mut io, step, "to TIME_WAIT");
    }
    // The client reuses its port: the old connection ends, the new one follows the template.
    check(&mut h, &mut io, ppc(40000, 0, FIRST_LPORT + 1).tcp_in(6, SYN, 500, 0, b""), "reused: rs1");
    assert_eq!(template_conns(&h, 6), vec![("10.0.0.2".into(), "10.1.0.11".into(), 1)]);
}

#[test]
fn expire_nodest_conn_releases_the_template_of_the_connection_it_ends() {
    let (mut h, mut io, snap) = harness();
    let a = ppc(40000, 0, FIRST_LPORT);
    check(&mut h, &mut io, a.tcp_in(0, SYN, 1, 0, b""), "rs1");
    let gone = snap.with_services(changed(&snap, |d| d.retain(|r| r.addr != fixtures::RS[0])));
    h.publish(Arc::new(Snapshot { expire_nodest_conn: true, ..gone }));
    h.run(&mut io, 1);
    io.push_rx(DMZ, a.tcp_out(2, TcpFlags::ACK, 5, 2, b"").frame);
    h.run(&mut io, 2);
    assert!(sent(&mut io).is_empty());
    assert_eq!(h.poller.worker.conns().len(), 0);
    // The change deleted the template's real server, so (as in fnatd, whose main loop the harness
    // runs) the template was invalidated at once; the connection's end released the last reference,
    // which frees it: a leaked reference would hold the entry for ever.
    assert_eq!(template_conns(&h, 2), vec![], "invalidated with its real server");
    assert_eq!(h.poller.worker.templates().len(), 0, "the ended connection's reference was released");
    check(&mut h, &mut io, ppc(40001, 1, FIRST_LPORT + 1).tcp_in(3, SYN, 1, 0, b""), "rescheduled: rs2");
}

#[test]
fn an_overloaded_servers_template_is_rescheduled() {
    let (mut h, mut io, snap) = harness();
    let l = FIRST_LPORT;
    // rs1 takes at most one connection (upper threshold 1).
    h.publish(Arc::new(snap.with_services(changed(&snap, |d| d[0].upper = 1))));
    h.run(&mut io, 0);
    check(&mut h, &mut io, ppc(40000, 0, l).tcp_in(0, SYN, 1, 0, b""), "first connection: rs1");
    // rs1 is now overloaded: the client's next connection is scheduled anew (rr skips rs1: rs2),
    // and the template follows the new server.
    check(&mut h, &mut io, ppc(40001, 1, l + 1).tcp_in(1, SYN, 1, 0, b""), "rescheduled past the overloaded rs1");
    check(&mut h, &mut io, ppc(40002, 1, l + 2).tcp_in(2, SYN, 1, 0, b""), "following the new template");
    assert_eq!(h.poller.worker.stats.total_drops(), 0);
}
