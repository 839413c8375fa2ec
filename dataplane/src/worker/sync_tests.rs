//! Connection sync on the workers: what a master notes, and a backup forwarding what it installed
//! exactly as the master would.

use std::sync::Arc;

use super::super::{Verdict, Worker};
use super::REFRESH_MS;
use crate::fixtures::{self, Flow, Step};
use crate::ha::sync::{RecordKind, SyncRecord};
use crate::lb::TcpState;
use crate::packet::TcpFlags;
use crate::snapshot::Snapshot;

/// The demo snapshot, as a sync master or not.
fn snapshot(master: bool) -> Arc<Snapshot> {
    let s = fixtures::snapshot();
    let mut s = s.with_services(s.services.clone());
    s.sync_master = master;
    Arc::new(s)
}

fn handle(w: &mut Worker, st: &Step) -> (Verdict, Vec<u8>) {
    let mut f = st.frame.clone();
    let v = w.handle(&mut f, st.port, st.at_ms);
    (v, f)
}

fn noted(w: &mut Worker) -> Vec<SyncRecord> {
    let mut v = Vec::new();
    w.drain_sync(|r| v.push(r));
    v
}

#[test]
fn a_master_notes_new_connections_state_changes_and_refreshes_only() {
    let mut w = fixtures::worker(&snapshot(true), 0, 1, &fixtures::templates());
    let f = Flow::tcp(40000, 0, fixtures::FIRST_LPORT);
    handle(&mut w, &f.tcp_in(0, TcpFlags::SYN, 1, 0, b""));
    let r = noted(&mut w);
    assert_eq!(r.len(), 1, "the new connection");
    let c = *w.conns().iter().next().expect("the connection").1;
    assert_eq!(
        (r[0].kind, r[0].state, r[0].lip, r[0].lport, r[0].rip),
        (RecordKind::Conn, TcpState::SynRecv, c.lip, c.lport, c.rip)
    );
    assert_eq!(u64::from(r[0].timeout_ms), c.expires);
    handle(&mut w, &f.tcp_out(1, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b""));
    handle(&mut w, &f.tcp_in(2, TcpFlags::ACK, 2, 101, b""));
    let states: Vec<TcpState> = noted(&mut w).iter().map(|r| r.state).collect();
    assert!(states.ends_with(&[TcpState::Established]), "{states:?}");
    handle(&mut w, &f.tcp_in(3, TcpFlags::ACK, 2, 101, b"data"));
    assert_eq!(noted(&mut w), [], "a packet changes nothing the backups need");
    // The next refresh period: noted again, with the time left then.
    let later = REFRESH_MS + 5;
    handle(&mut w, &f.tcp_in(later, TcpFlags::ACK, 6, 101, b"more"));
    let r = noted(&mut w);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].state, TcpState::Established);
    assert_eq!(w.stats.sync_out, 1 + states.len() as u64 + 1);
    // Not a master: nothing noted.
    let mut quiet = fixtures::worker(&snapshot(false), 0, 1, &fixtures::templates());
    handle(&mut quiet, &f.tcp_in(0, TcpFlags::SYN, 1, 0, b""));
    assert_eq!(noted(&mut quiet), []);
}

#[test]
fn a_backup_forwards_an_installed_connection_as_the_master_did() {
    let templates = fixtures::templates();
    let mut master = fixtures::worker(&snapshot(true), 0, 1, &templates);
    let f = Flow::tcp(40000, 0, fixtures::FIRST_LPORT + 7);
    for st in [
        f.tcp_in(0, TcpFlags::SYN, 1, 0, b""),
        f.tcp_out(1, TcpFlags::SYN | TcpFlags::ACK, 100, 2, b""),
        f.tcp_in(2, TcpFlags::ACK, 2, 101, b""),
    ] {
        handle(&mut master, &st);
    }
    let records = noted(&mut master);
    // The backup: a fresh worker whose ports the master's choice must not clash with.
    let mut backup = fixtures::worker(&snapshot(false), 0, 1, &fixtures::templates());
    for r in &records {
        assert!(backup.install_synced(r, 10));
    }
    assert_eq!(backup.conns().len(), 1, "refreshed, not duplicated");
    let (mc, bc) = (*master.conns().iter().next().unwrap().1, *backup.conns().iter().next().unwrap().1);
    assert_eq!((bc.lip, bc.lport, bc.rip, bc.rport, bc.state), (mc.lip, mc.lport, mc.rip, mc.rport, mc.state));
    // Both directions, byte for byte what the master sends.
    for st in [f.tcp_in(20, TcpFlags::ACK, 2, 101, b"after the takeover"), f.tcp_out(21, TcpFlags::ACK, 101, 20, b"ok")]
    {
        assert_eq!(handle(&mut backup, &st), handle(&mut master, &st), "{:?}", st.expect);
    }
    // The installed connection's local port is taken: a new connection gets another.
    let g = Flow::tcp(40001, 0, fixtures::FIRST_LPORT);
    handle(&mut backup, &g.tcp_in(30, TcpFlags::SYN, 1, 0, b""));
    let ports: Vec<u16> = backup.conns().iter().map(|(_, c)| c.lport).collect();
    assert_eq!(ports.len(), 2);
    assert_ne!(ports[0], ports[1]);
    assert_eq!(backup.stats.sync_in, records.len() as u64);
    // A record of a service or real server the backup does not have is refused.
    let mut stranger = records[0];
    stranger.vport = 4444;
    assert!(!backup.install_synced(&stranger, 40));
    let mut template = records[0];
    template.kind = RecordKind::Template;
    assert!(!backup.install_synced(&template, 40));
    assert_eq!(backup.stats.sync_refused, 2);
}

#[test]
fn a_resync_notes_every_live_connection_a_stretch_at_a_time() {
    let mut w = fixtures::worker(&snapshot(true), 0, 1, &fixtures::templates());
    for i in 0..5 {
        let f = Flow::tcp(41000 + i, 0, fixtures::FIRST_LPORT + i);
        handle(&mut w, &f.tcp_in(0, TcpFlags::SYN, 1, 0, b""));
    }
    assert_eq!(noted(&mut w).len(), 5);
    w.start_resync();
    let mut all = Vec::new();
    for _ in 0..(w.conns().capacity() / super::RESYNC_SCAN_PER_POLL + 1) {
        w.resync_step(1);
        all.extend(noted(&mut w));
    }
    let mut ports: Vec<u16> = all.iter().map(|r| r.cport).collect();
    ports.sort_unstable();
    assert_eq!(ports, [41000, 41001, 41002, 41003, 41004], "each once");
    w.resync_step(2);
    assert_eq!(noted(&mut w), [], "done");
    // Not a master: a request is ignored.
    let mut quiet = fixtures::worker(&snapshot(false), 0, 1, &fixtures::templates());
    quiet.start_resync();
    quiet.resync_step(0);
    assert_eq!(noted(&mut quiet), []);
}

#[test]
fn a_bound_template_is_synced_and_a_backups_next_connection_follows_it() {
    use crate::fixtures::persist::ppc;
    let snap = snapshot(true);
    let mut master = fixtures::worker(&snap, 0, 1, &fixtures::templates());
    handle(&mut master, &ppc(40000, 0, fixtures::FIRST_LPORT).tcp_in(0, TcpFlags::SYN, 1, 0, b""));
    let records = noted(&mut master);
    let t: Vec<&SyncRecord> = records.iter().filter(|r| r.kind == RecordKind::Template).collect();
    assert_eq!(t.len(), 1, "{records:?}");
    assert_eq!((t[0].vip, t[0].vport, t[0].timeout_ms), (crate::fixtures::persist::PPC_VIP, 80, 360_000));
    // A second connection of the client follows the template: nothing new to note about it.
    handle(&mut master, &ppc(40001, 0, fixtures::FIRST_LPORT + 1).tcp_in(1, TcpFlags::SYN, 1, 0, b""));
    assert!(noted(&mut master).iter().all(|r| r.kind == RecordKind::Conn));
    // The backup's control lcore installs it; its worker's next connection of the client follows it.
    let templates = fixtures::templates();
    let backup_snap = snapshot(false);
    assert!(crate::control::templates::install_synced(&templates, &backup_snap, t[0], 5));
    let mut listed = Vec::new();
    templates.for_each(5, |i| {
        listed.push((i.key.client, i.dest.addr, i.conns));
        true
    });
    assert_eq!(listed, [(t[0].cip, t[0].rip, 0)]);
    let mut backup = fixtures::worker(&backup_snap, 0, 1, &templates);
    handle(&mut backup, &ppc(40002, 0, fixtures::FIRST_LPORT).tcp_in(10, TcpFlags::SYN, 1, 0, b""));
    assert_eq!(backup.stats.persist_followed, 1);
    assert_eq!(backup.conns().iter().next().map(|(_, c)| c.rip), Some(t[0].rip));
    // A template of a service the backup lacks is refused.
    let mut stranger = *t[0];
    stranger.vport = 81;
    assert!(!crate::control::templates::install_synced(&templates, &backup_snap, &stranger, 5));
}
