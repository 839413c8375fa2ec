//! The main loop on its own: a worker's ends of the links held by the test, time given by hand.

use std::net::Ipv4Addr;

use super::*;
use crate::fixtures;
use crate::lb::persist::{Pick, TemplateDest, TemplateKey};
use crate::lb::{RealServer, Services};
use crate::net::NeighTimers;
use crate::packet::MacAddr;
use crate::worker::shared::{self, Learned, WorkerLinks};

/// A main loop over one worker whose update ring holds `ring` updates.
fn main_loop(ring: usize) -> (MainLoop, WorkerLinks, Arc<Templates>) {
    let (control, worker) = shared::links(ring, 16);
    let templates = fixtures::templates();
    let neigh = NeighManager::new(&[], NeighTimers::default());
    (MainLoop::new(vec![control], neigh, fixtures::snapshot(), Arc::clone(&templates)), worker, templates)
}

/// A new snapshot like the current one, with `services`.
fn next(m: &MainLoop, services: Services) -> Arc<Snapshot> {
    Arc::new(m.snapshot().with_services(services))
}

/// What the worker finds in its update ring.
fn updates(w: &mut WorkerLinks) -> Vec<Update> {
    std::iter::from_fn(|| w.updates.pop().ok()).collect()
}

fn is_snapshot(u: &Update, s: &Arc<Snapshot>) -> bool {
    matches!(u, Update::Snapshot(got, _) if Arc::ptr_eq(got, s))
}

#[test]
fn a_snapshot_a_full_ring_refuses_is_delivered_at_a_later_tick_and_only_the_latest() {
    let (mut m, mut w, _) = main_loop(1);
    let services = m.snapshot().services.clone();
    let a = next(&m, services.clone());
    m.publish(Arc::clone(&a), &SchedHistory::default());
    assert!(!m.has_pending(), "the ring had room");
    let b = next(&m, services.clone());
    m.publish(Arc::clone(&b), &SchedHistory::default());
    assert!(m.has_pending(), "the ring holds a; b waits");
    m.tick(1);
    assert!(m.has_pending(), "still full: the worker has not taken a");
    let c = next(&m, services);
    m.publish(Arc::clone(&c), &SchedHistory::default());
    let got = updates(&mut w);
    assert!(got.len() == 1 && is_snapshot(&got[0], &a));
    m.tick(2);
    let got = updates(&mut w);
    assert!(got.len() == 1 && is_snapshot(&got[0], &c), "b was superseded by c before it could be delivered");
    assert!(!m.has_pending());
    assert!(Arc::ptr_eq(m.snapshot(), &c));
}

#[test]
fn retired_snapshots_are_freed_on_the_main_lcore_once_no_worker_holds_them() {
    let (mut m, mut w, _) = main_loop(4);
    let first = Arc::clone(m.snapshot());
    let held_by_worker = Arc::clone(&first);
    drop(first);
    let services = m.snapshot().services.clone();
    m.publish(next(&m, services), &SchedHistory::default());
    m.tick(1);
    assert_eq!(m.retired(), 1, "the worker still forwards with the first snapshot");
    // The worker takes the new snapshot and lets the first go.
    let taken = updates(&mut w);
    assert_eq!(taken.len(), 1);
    drop(held_by_worker);
    m.tick(2);
    assert_eq!(m.retired(), 0, "freed here, by the main loop, not by the worker");
}

#[test]
fn a_neighbour_table_a_full_ring_refuses_is_retried() {
    let (mut m, mut w, _) = main_loop(1);
    let services = m.snapshot().services.clone();
    let s = next(&m, services);
    m.publish(Arc::clone(&s), &SchedHistory::default());
    let addr = Ipv4Addr::new(10, 1, 0, 77);
    let mac = MacAddr([2, 0, 0, 0, 0, 0x77]);
    w.learned.push(Learned { addr, mac, port: 1 }).unwrap();
    m.tick(10);
    assert!(m.has_pending(), "the table waits for room in the ring");
    let got = updates(&mut w);
    assert!(got.len() == 1 && is_snapshot(&got[0], &s));
    m.tick(11);
    match updates(&mut w).as_slice() {
        [Update::Neigh(t)] => assert_eq!(t.lookup(addr).map(|e| e.mac), Some(mac)),
        other => panic!("expected the neighbour table, got {other:?}"),
    }
    assert!(!m.has_pending());
    assert_eq!(m.neighbours().current().lookup(addr).map(|e| e.mac), Some(mac));
}

#[test]
fn publishing_invalidates_the_templates_of_what_the_change_deleted() {
    let (mut m, _w, templates) = main_loop(4);
    let svc = m.snapshot().services.iter().next().cloned().expect("the demo has a service");
    let d: RealServer = svc.dests[0];
    let key = TemplateKey {
        proto: svc.key.protocol,
        client: Ipv4Addr::new(198, 18, 0, 7),
        vip: svc.key.vip,
        vport: svc.key.vport,
        fwmark: 0,
    };
    let dest = TemplateDest { id: d.id, addr: d.addr, port: d.port, method: d.method };
    templates.acquire(&key, 0, 360_000, |_| Pick::Bind(dest, ()));
    let listed = |now| {
        let mut out = ConnListing::default();
        list_templates(&templates, None, 10, now, &mut out);
        out.conns.len()
    };
    assert_eq!(listed(0), 1);
    m.publish(next(&m, Services::default()), &SchedHistory::default());
    assert_eq!(listed(1), 0, "the service is gone: its template is found by no new connection");
}

#[test]
fn neighbours_age_on_the_clock_the_caller_gives() {
    let (mut m, mut w, _) = main_loop(4);
    let addr = Ipv4Addr::new(10, 1, 0, 78);
    w.learned.push(Learned { addr, mac: MacAddr([2, 0, 0, 0, 0, 0x78]), port: 1 }).unwrap();
    m.tick(0);
    assert!(matches!(updates(&mut w).as_slice(), [Update::Neigh(t)] if t.lookup(addr).is_some()));
    // Stale after 60 s, removed 30 s later unless it answers: no wall clock is read, so a whole
    // lifetime passes in two calls.
    m.tick(59_000);
    assert!(m.neighbours().current().lookup(addr).is_some());
    m.tick(95_000);
    assert!(m.neighbours().current().lookup(addr).is_none(), "aged out on the given clock");
    assert!(updates(&mut w).iter().any(|u| matches!(u, Update::Neigh(t) if t.lookup(addr).is_none())));
}

#[test]
fn a_change_is_in_force_once_the_worker_forwards_with_it_or_a_later_one() {
    use crate::fixtures::Harness;
    use crate::worker::mem_io::MemIo;
    use crate::worker::poll::redirect_mesh;
    let mut h: Harness<Vec<u8>> = Harness::new(&fixtures::snapshot(), 0, 1, redirect_mesh(1, 4).remove(0));
    let mut io = MemIo::new(2);
    let services = h.main.snapshot().services.clone();
    let a = h.main.publish(next(&h.main, services.clone()), &SchedHistory::default());
    assert!(!h.main.in_force(a), "delivered to the ring, not yet taken");
    h.poller.poll(&mut io, 1);
    assert!(h.main.in_force(a));
    // The harness's ring holds 16 updates: a worker that far behind takes the first 16, then
    // only the latest of the rest, so a change can be in force without its own snapshot.
    let numbers: Vec<u64> =
        (0..20).map(|_| h.main.publish(next(&h.main, services.clone()), &SchedHistory::default())).collect();
    h.poller.poll(&mut io, 2);
    assert!(h.main.in_force(numbers[15]));
    assert!(!h.main.in_force(numbers[16]), "still pending on the control side");
    h.main.tick(3);
    h.poller.poll(&mut io, 3);
    assert!(numbers.iter().all(|&n| h.main.in_force(n)), "the 17th to 19th skipped: the 20th carries them");
    assert!(!h.main.in_force(numbers[19] + 1), "nothing published yet");
}
