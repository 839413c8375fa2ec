//! The health book over a real control state: targets, rise/fall, and what a verdict does to the
//! services the workers and `-L` see.

use std::net::{Ipv4Addr, SocketAddrV4};

use ctrl::msg::{Command, DestSpec, HealthState, Request, ServiceSpec};
use ctrl::vocab::{CheckKind, CheckSpec, CheckTiming, Outcome, SchedFlags, SchedKind};

use super::*;
use crate::control::NoConnections;
use crate::health::{CheckRule, Notify, Passive, ServicePolicy};
use crate::lb::{FwdMethod, Protocol, Services};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn key() -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: VIP, vport: 80, fwmark: 0 }
}

fn rs(n: u8) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 10 + n), 8080)
}

fn add_rs(n: u8, weight: u32) -> Command {
    let dest = DestSpec { addr: *rs(n).ip(), port: 8080, weight, method: FwdMethod::FullNat, upper: 0, lower: 0 };
    Command::AddDest { svc: key(), dest }
}

/// A service with rs1..rs3 (rs3 added first: listed rs1, rs2, rs3).
fn state() -> ControlState {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 1024);
    let svc = ServiceSpec { key: key(), scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None };
    let cmds = vec![Command::AddService(svc), add_rs(3, 1), add_rs(2, 1), add_rs(1, 1)];
    st.apply(&Request { id: 1, commands: cmds }, &NoConnections).unwrap();
    st
}

fn rule(dest: Option<SocketAddrV4>, kind: CheckKind, timing: CheckTiming, inhibit: bool) -> CheckRule {
    CheckRule {
        svc: key(),
        dest,
        spec: CheckSpec { kind, port: None, timing },
        inhibit,
        notify: Notify::default(),
        policy: ServicePolicy::default(),
        passive: None,
    }
}

fn timing(rise: u32, fall: u32) -> CheckTiming {
    CheckTiming { rise, fall, ..CheckTiming::default() }
}

fn outcome(up: bool) -> Outcome {
    Outcome { up, detail: if up { "HTTP 200" } else { "refused" }.into(), latency_us: 300, weight: None }
}

/// The real servers of the service as the workers see it: (address, weight).
fn seen(st: &ControlState) -> Vec<(SocketAddrV4, u32)> {
    let s = st.services().unwrap();
    let svc = s.iter().next().unwrap();
    svc.dests.iter().map(|d| (SocketAddrV4::new(d.addr, d.port), d.weight)).collect()
}

/// Records `up` for the real server at `addr` and applies a transition, as `Health::tick` does.
fn check(book: &mut HealthBook, st: &mut ControlState, addr: SocketAddrV4, up: bool, now: u64) -> Option<Transition> {
    check_with(book, st, addr, outcome(up), now)
}

fn check_with(
    book: &mut HealthBook,
    st: &mut ControlState,
    addr: SocketAddrV4,
    o: Outcome,
    now: u64,
) -> Option<Transition> {
    let id = st.configured().unwrap().services[0].dests.iter().find(|d| d.spec.addr == *addr.ip())?.id;
    let t = book.record(id, o, now)?;
    let changed = match t.change {
        Change::Down(m) => st.set_down(t.target.svc, id, Some(m)),
        Change::Up => st.set_down(t.target.svc, id, None),
        Change::Weight => false,
    };
    let weighed = t.weight.is_some_and(|w| st.set_weight(t.target.svc, id, Some(w)));
    assert!(changed || weighed, "a transition changes what the workers see");
    Some(t)
}

#[test]
fn every_real_server_of_a_checked_service_is_a_target_and_one_may_have_its_own_check() {
    let st = state();
    let http = CheckKind::Http(ctrl::vocab::health::HttpCheck {
        path: "/".into(),
        host: None,
        status: vec![],
        digest: None,
        tls: false,
    });
    let mut book = HealthBook::new(vec![
        rule(None, http.clone(), timing(1, 2), false),
        CheckRule {
            spec: CheckSpec { kind: CheckKind::Tcp, port: Some(22), timing: timing(1, 1) },
            ..rule(Some(rs(2)), CheckKind::Tcp, timing(1, 1), false)
        },
    ]);
    let targets = book.reconcile(&st, 0).expect("targets");
    let got: Vec<_> = targets.iter().map(|t| (t.dest, t.addr, t.spec.kind.name())).collect();
    assert_eq!(
        got,
        vec![(rs(1), rs(1), "http"), (rs(2), SocketAddrV4::new(*rs(2).ip(), 22), "tcp"), (rs(3), rs(3), "http"),]
    );
    assert_eq!(book.reconcile(&st, 1), None, "nothing changed");
    // A real server fnatctl adds inherits its service's check; one it deletes is forgotten.
    let mut st = st;
    st.apply(
        &Request {
            id: 2,
            commands: vec![add_rs(4, 1), Command::DelDest { svc: key(), addr: *rs(3).ip(), port: 8080 }],
        },
        &NoConnections,
    )
    .unwrap();
    let targets = book.reconcile(&st, 2).expect("new targets");
    let got: Vec<_> = targets.iter().map(|t| t.dest).collect();
    assert_eq!(got, vec![rs(4), rs(1), rs(2)]);
}

#[test]
fn fall_failures_take_a_server_out_and_rise_passes_bring_it_back() {
    let mut st = state();
    let mut book = HealthBook::new(vec![rule(None, CheckKind::Tcp, timing(2, 3), false)]);
    book.reconcile(&st, 0);
    let all = vec![(rs(1), 1), (rs(2), 1), (rs(3), 1)];
    assert_eq!(check(&mut book, &mut st, rs(2), true, 10), None, "unknown to up changes nothing");
    for now in [20, 30] {
        assert_eq!(check(&mut book, &mut st, rs(2), false, now), None, "not yet `fall` failures");
    }
    let generation = st.generation();
    let t = check(&mut book, &mut st, rs(2), false, 40).expect("down at the third failure");
    assert_eq!((t.change, t.outcome.detail.as_str()), (Change::Down(DownMode::Removed), "refused"));
    assert!(
        t.describe()
            .contains("TCP 10.0.0.100:80 -> 10.1.0.12:8080 DOWN, removed (tcp check of 10.1.0.12:8080: refused)"),
        "{}",
        t.describe()
    );
    assert!(st.generation() > generation);
    assert_eq!(seen(&st), vec![(rs(1), 1), (rs(3), 1)], "removed from what the workers see");
    assert!(st.services().unwrap().is_real_addr(*rs(2).ip()), "its answers to the checks keep their allowance");
    let listed: Vec<_> =
        st.listing(None, &NoConnections).unwrap().services[0].dests.iter().map(|d| d.spec.addr).collect();
    assert_eq!(listed, vec![*rs(1).ip(), *rs(3).ip()], "and from -L, as ipvsadm shows keepalived's table");
    assert_eq!(st.configured().unwrap().services[0].dests.len(), 3, "the rules file keeps it");
    assert_eq!(check(&mut book, &mut st, rs(2), false, 50), None, "down stays down");
    assert_eq!(check(&mut book, &mut st, rs(2), true, 60), None, "one pass of rise 2");
    let t = check(&mut book, &mut st, rs(2), true, 70).expect("up at the second pass");
    assert_eq!(t.change, Change::Up);
    assert_eq!(seen(&st), all, "back in its place");
    let v = book.views(100);
    assert_eq!(v.len(), 3);
    assert_eq!((v[1].state, v[1].since_ms, v[1].checks, v[1].failures), (HealthState::Up, 30, 7, 4));
    assert_eq!((v[0].state, v[0].last.as_ref()), (HealthState::Unknown, None), "rs1 not checked yet");
}

#[test]
fn inhibit_on_failure_keeps_the_server_at_weight_zero() {
    let mut st = state();
    let mut book = HealthBook::new(vec![rule(None, CheckKind::Tcp, timing(1, 1), true)]);
    book.reconcile(&st, 0);
    let t = check(&mut book, &mut st, rs(3), false, 10).expect("down");
    assert_eq!(t.change, Change::Down(DownMode::Inhibited));
    assert_eq!(seen(&st), vec![(rs(1), 1), (rs(2), 1), (rs(3), 0)]);
    assert_eq!(book.views(10)[2].taken_out.as_deref(), Some("weight 0"));
    check(&mut book, &mut st, rs(3), true, 20).expect("up");
    assert_eq!(seen(&st), vec![(rs(1), 1), (rs(2), 1), (rs(3), 1)], "its configured weight back");
}

#[test]
fn a_changed_check_starts_afresh_but_a_server_taken_out_stays_out_until_it_passes() {
    let mut st = state();
    let mut book = HealthBook::new(vec![rule(None, CheckKind::Tcp, timing(1, 1), false)]);
    book.reconcile(&st, 0);
    check(&mut book, &mut st, rs(1), false, 10).expect("down");
    // fnatctl edits rs1's weight: its target changes (same check), its verdict stays.
    let edit = DestSpec { addr: *rs(1).ip(), port: 8080, weight: 5, method: FwdMethod::FullNat, upper: 0, lower: 0 };
    st.apply(&Request { id: 3, commands: vec![Command::EditDest { svc: key(), dest: edit }] }, &NoConnections).unwrap();
    let targets = book.reconcile(&st, 20).expect("rs1's weight changed");
    assert!(targets[0].same_check(&targets[0]) && targets[0].weight == 5);
    assert_eq!((book.views(20)[0].state, book.views(20)[0].checks), (HealthState::Down, 1), "its verdict carries over");
    assert_eq!(seen(&st), vec![(rs(2), 1), (rs(3), 1)]);
    let mut fresh = HealthBook::new(vec![rule(None, CheckKind::Icmp, timing(1, 1), false)]);
    fresh.reconcile(&st, 30);
    assert_eq!(fresh.views(30)[0].state, HealthState::Down, "still out under its new check");
    let id = st.configured().unwrap().services[0].dests[0].id;
    let t = fresh.record(id, outcome(true), 40).expect("up once it passes");
    assert_eq!(t.change, Change::Up);
    assert!(st.set_down(t.target.svc, id, None));
    assert_eq!(seen(&st), vec![(rs(1), 5), (rs(2), 1), (rs(3), 1)]);
}

#[test]
fn misc_dynamic_weights_replace_the_configured_one_while_up() {
    let mut st = state();
    let misc = CheckKind::Misc(ctrl::vocab::health::MiscCheck { command: vec!["check".into()], dynamic: true });
    let mut book = HealthBook::new(vec![rule(None, misc, timing(1, 1), false)]);
    book.reconcile(&st, 0);
    let weighed = |w| Outcome { weight: Some(w), detail: format!("exit {}", w + 2), ..outcome(true) };
    let t = check_with(&mut book, &mut st, rs(1), weighed(5), 10).expect("a weight");
    assert_eq!((t.change, t.weight), (Change::Weight, Some(5)));
    assert!(
        t.describe().ends_with("-> 10.1.0.11:8080 weight 5 (misc check of 10.1.0.11:8080: exit 7)"),
        "{}",
        t.describe()
    );
    assert_eq!(seen(&st), vec![(rs(1), 5), (rs(2), 1), (rs(3), 1)]);
    assert_eq!(check_with(&mut book, &mut st, rs(1), weighed(5), 20), None, "the same weight again");
    check(&mut book, &mut st, rs(1), false, 30).expect("down");
    assert_eq!(seen(&st), vec![(rs(2), 1), (rs(3), 1)]);
    let t = check_with(&mut book, &mut st, rs(1), weighed(7), 40).expect("up, with a new weight");
    assert_eq!((t.change, t.weight), (Change::Up, Some(7)));
    assert_eq!(seen(&st), vec![(rs(1), 7), (rs(2), 1), (rs(3), 1)]);
}

#[test]
fn a_lost_quorum_brings_the_sorry_server_in_until_it_is_back() {
    let mut st = state();
    let sorry = SocketAddrV4::new(Ipv4Addr::new(10, 1, 0, 99), 8080);
    let policy = ServicePolicy {
        quorum: 2,
        hysteresis: 0,
        sorry: Some(sorry),
        up: Some(vec!["up".into()]),
        down: Some(vec!["down".into()]),
    };
    let mut book = HealthBook::new(vec![CheckRule { policy, ..rule(None, CheckKind::Tcp, timing(1, 1), false) }]);
    book.reconcile(&st, 0);
    check(&mut book, &mut st, rs(1), false, 10).expect("rs1 down");
    assert_eq!(book.quorum(key()), None, "live weight 2 of quorum 2");
    check(&mut book, &mut st, rs(2), false, 20).expect("rs2 down");
    let q = book.quorum(key()).expect("lost");
    assert_eq!(
        (q.up, q.alive, q.quorum, q.sorry, q.hook.clone()),
        (false, 1, 2, Some(sorry), Some(vec!["down".into()]))
    );
    assert_eq!(
        q.describe(),
        "health: TCP 10.0.0.100:80 quorum lost (live weight 1 of quorum 2), sorry server 10.1.0.99:8080 in"
    );
    assert!(st.set_sorry(key(), q.sorry));
    assert_eq!(seen(&st), vec![(sorry, 1), (rs(3), 1)], "the sorry server at the head of the list");
    assert!(!st.configured().unwrap().services[0].dests.iter().any(|d| d.spec.addr == *sorry.ip()), "not configured");
    assert_eq!(book.quorum(key()), None, "still lost");
    check(&mut book, &mut st, rs(1), true, 30).expect("rs1 back");
    let q = book.quorum(key()).expect("back");
    assert_eq!((q.up, q.alive, q.hook.clone()), (true, 2, Some(vec!["up".into()])));
    assert!(st.set_sorry(key(), None));
    assert_eq!(seen(&st), vec![(rs(1), 1), (rs(3), 1)]);
    // Deleting the service forgets its sorry server.
    assert!(st.set_sorry(key(), Some(sorry)));
    st.apply(&Request { id: 9, commands: vec![Command::DelService(key())] }, &NoConnections).unwrap();
    assert!(!st.set_sorry(key(), None), "nothing left to change");
}

#[test]
fn unanswered_syns_take_a_server_out_at_once_and_one_pass_clears_it() {
    let mut st = state();
    let passive = Some(Passive { failures: 3, window_ms: 1000 });
    let mut book = HealthBook::new(vec![CheckRule { passive, ..rule(None, CheckKind::Tcp, timing(3, 3), false) }]);
    book.reconcile(&st, 0);
    let id = |st: &ControlState, n: u8| {
        st.configured().unwrap().services[0].dests.iter().find(|d| d.spec.addr == *rs(n).ip()).unwrap().id
    };
    let rs2 = id(&st, 2);
    // Two within the window, a third too late for the first: not yet.
    assert_eq!(book.suspect(rs2, 100), None);
    assert_eq!(book.suspect(rs2, 900), None);
    assert_eq!(book.suspect(rs2, 1200), None, "the first is out of the window");
    let t = book.suspect(rs2, 1300).expect("three within 1 s");
    assert_eq!(t.change, Change::Down(DownMode::Removed));
    assert_eq!(t.outcome.detail, "passive: 3 SYNs unanswered within 1000 ms");
    assert!(st.set_down(key(), rs2, Some(DownMode::Removed)));
    assert_eq!(book.suspect(rs2, 1400), None, "already out");
    // Its active check, run at once, clears it: one pass, whatever rise.
    let t = book.record(rs2, outcome(true), 1500).expect("cleared by one pass");
    assert_eq!(t.change, Change::Up);
    // Or confirms it: then out as any other, back after `rise` passes.
    let rs3 = id(&st, 3);
    for at in [2000, 2100] {
        assert_eq!(book.suspect(rs3, at), None);
    }
    assert!(book.suspect(rs3, 2200).is_some());
    assert_eq!(book.record(rs3, outcome(false), 2300), None, "confirmed");
    assert_eq!(book.record(rs3, outcome(true), 2400), None);
    assert_eq!(book.record(rs3, outcome(true), 2500), None);
    assert_eq!(book.record(rs3, outcome(true), 2600).map(|t| t.change), Some(Change::Up), "rise 3");
    // Without a passive check, evidence changes nothing.
    let mut plain = HealthBook::new(vec![rule(None, CheckKind::Tcp, timing(1, 1), false)]);
    plain.reconcile(&st, 0);
    assert!((0..10).all(|i| plain.suspect(rs2, i).is_none()));
}
