//! Persistence in the control state: `-p`/`-M` on `-A`/`-E`, port-0 services and their real servers.

use super::*;
use crate::lb::{Persistence, Protocol, SchedFlags, SchedKind};

const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 104);

fn key(vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: VIP, vport, fwmark: 0 }
}

fn spec(vport: u16, persistence: Option<Persistence>) -> ServiceSpec {
    ServiceSpec { key: key(vport), scheduler: SchedKind::Wlc, flags: SchedFlags::default(), persistence }
}

fn rs(last: u8, port: u16) -> DestSpec {
    DestSpec { addr: Ipv4Addr::new(10, 1, 0, last), port, weight: 1, method: FwdMethod::FullNat, upper: 0, lower: 0 }
}

fn empty() -> ControlState {
    ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096)
}

fn run(st: &mut ControlState, commands: Vec<Command>) -> Result<(), CtrlError> {
    st.apply(&Request { id: 1, commands }, &NoConnections).map(drop)
}

fn persistence_of(st: &ControlState, vport: u16) -> Option<Persistence> {
    st.listing(Some(key(vport)), &NoConnections).unwrap().services[0].spec.persistence
}

const P360: Option<Persistence> = Some(Persistence { timeout_ms: 360_000, netmask: 32 });

#[test]
fn persistence_is_set_listed_replaced_and_removed_by_edits() {
    let mut st = empty();
    run(&mut st, vec![Command::AddService(spec(80, P360))]).unwrap();
    assert_eq!(persistence_of(&st, 80), P360);
    let wider = Some(Persistence::secs(60).with_netmask(24));
    run(&mut st, vec![Command::EditService(spec(80, wider))]).unwrap();
    assert_eq!(persistence_of(&st, 80), wider);
    // As ipvsadm: -E without -p makes the service non-persistent.
    run(&mut st, vec![Command::EditService(spec(80, None))]).unwrap();
    assert_eq!(persistence_of(&st, 80), None);
    run(&mut st, vec![Command::EditService(spec(80, P360))]).unwrap();
    assert_eq!(st.services().unwrap().iter().next().unwrap().persistence, P360, "and reaches the workers");
}

#[test]
fn a_port_zero_service_must_stay_persistent() {
    let mut st = empty();
    let err = run(&mut st, vec![Command::AddService(spec(0, None))]).unwrap_err();
    assert_eq!(err.to_string(), "Zero port specified for non-persistent service");
    run(&mut st, vec![Command::AddService(spec(0, P360))]).unwrap();
    let err = run(&mut st, vec![Command::EditService(spec(0, None))]).unwrap_err();
    assert_eq!(err.to_string(), "Zero port specified for non-persistent service");
    assert_eq!(persistence_of(&st, 0), P360, "unchanged");
    // A port-0 service beside services of the same VIP.
    run(&mut st, vec![Command::AddService(spec(80, None))]).unwrap();
    assert_eq!(st.len(), 2);
}

#[test]
fn real_servers_of_a_port_zero_service_have_port_zero() {
    let mut st = empty();
    run(&mut st, vec![Command::AddService(spec(0, P360)), Command::AddService(spec(80, P360))]).unwrap();
    run(&mut st, vec![Command::AddDest { svc: key(0), dest: rs(11, 0) }]).unwrap();
    let err = run(&mut st, vec![Command::AddDest { svc: key(0), dest: rs(12, 8080) }]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "real server port 8080 in a port-0 service: it must be 0 (each connection keeps its port)"
    );
    let err = run(&mut st, vec![Command::AddDest { svc: key(80), dest: rs(12, 0) }]).unwrap_err();
    assert_eq!(err.to_string(), "real server port 0 is out of range (1 to 65535)");
    // DR keeps ports: port 0 is the service's in a port-0 service.
    let dr = DestSpec { method: FwdMethod::Dr, ..rs(13, 0) };
    run(&mut st, vec![Command::AddDest { svc: key(0), dest: dr }]).unwrap();
    let ports: Vec<u16> =
        st.listing(Some(key(0)), &NoConnections).unwrap().services[0].dests.iter().map(|d| d.spec.port).collect();
    assert_eq!(ports, vec![0, 0]);
    run(&mut st, vec![Command::DelDest { svc: key(0), addr: Ipv4Addr::new(10, 1, 0, 11), port: 0 }]).unwrap();
}

#[test]
fn persistence_values_are_bounded_like_ipvsadm() {
    let mut st = empty();
    let with = |timeout_ms, netmask| Command::AddService(spec(80, Some(Persistence { timeout_ms, netmask })));
    for (cmd, want) in [
        (with(0, 32), "persistence timeout of 0 ms is out of range (1 to 2678400 whole seconds)"),
        (with(2_678_401_000, 32), "persistence timeout of 2678401000 ms is out of range (1 to 2678400 whole seconds)"),
        (with(1_500, 32), "persistence timeout of 1500 ms is out of range (1 to 2678400 whole seconds)"),
        (with(360_000, 33), "persistence netmask /33 is out of range (0 to 32)"),
    ] {
        assert_eq!(run(&mut st, vec![cmd]).unwrap_err().to_string(), want);
    }
    assert!(st.is_empty());
    run(&mut st, vec![with(2_678_400_000, 0)]).unwrap();
    assert_eq!(persistence_of(&st, 80).map(|p| (p.timeout_secs(), p.netmask)), Some((2_678_400, 0)));
}
