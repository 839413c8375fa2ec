use std::path::Path;

use super::*;
use crate::lb::{Protocol, SchedKind};

const LIP1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const LIP2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn key(vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: VIP, vport }
}

fn spec(vport: u16, scheduler: SchedKind) -> ServiceSpec {
    ServiceSpec { key: key(vport), scheduler }
}

fn rs(last: u8, weight: u32) -> DestSpec {
    DestSpec { addr: Ipv4Addr::new(10, 2, 0, last), port: 8080, weight, method: FwdMethod::FullNat }
}

fn add(vport: u16) -> Command {
    Command::AddService(spec(vport, SchedKind::Rr))
}

fn add_rs(vport: u16, last: u8) -> Command {
    Command::AddDest { svc: key(vport), dest: rs(last, 1) }
}

fn empty() -> ControlState {
    ControlState::new(&Services::default(), vec![LIP1, LIP2], 4096)
}

fn no_counts(_: DestId) -> (u32, u32) {
    (0, 0)
}

fn run(st: &mut ControlState, commands: Vec<Command>) -> Result<Option<Listing>, CtrlError> {
    st.apply(&Request { id: 1, commands }, &no_counts)
}

fn list(st: &ControlState) -> Listing {
    st.listing(None, &no_counts).unwrap()
}

/// (address's last byte, id) of a service's real servers, in order.
fn dests(st: &ControlState, vport: u16) -> Vec<(u8, u32)> {
    st.listing(Some(key(vport)), &no_counts).unwrap().services[0]
        .dests
        .iter()
        .map(|d| (d.spec.addr.octets()[3], d.id.0))
        .collect()
}

#[test]
fn the_config_gives_services_local_addresses_and_table_size() {
    let cfg = Config::parse(
        Path::new("fnatd.toml"),
        r#"
[workers]
lcores = [1]
[conn_table]
size = 1000
[[port]]
name = "lan"
device = "net_null0"
[local]
addresses = ["10.1.0.10"]
[[service]]
protocol = "udp"
vip = "10.0.0.100"
port = 53
scheduler = "wrr"
  [[service.real_server]]
  address = "10.2.0.1"
  weight = 3
  [[service.real_server]]
  address = "10.2.0.2"
"#,
    )
    .unwrap();
    let mut st = ControlState::from_config(&cfg);
    let udp = ServiceKey { protocol: Protocol::Udp, vip: VIP, vport: 53 };
    let l = list(&st);
    assert_eq!(l.conn_table_size, 1000);
    assert_eq!(l.services.len(), 1);
    assert_eq!(l.services[0].spec.key, udp);
    assert_eq!(l.services[0].spec.scheduler, SchedKind::Wrr);
    assert_eq!(l.services[0].laddrs, vec![LIP1]);
    assert_eq!(l.services[0].dests[0].spec.port, 53);
    assert_eq!(l.services[0].dests[0].spec.weight, 3);
    // New real servers get ids after the configuration's.
    let dest = rs(3, 1);
    run(&mut st, vec![Command::AddDest { svc: udp, dest }]).unwrap();
    let ids: Vec<u32> = list(&st).services[0].dests.iter().map(|d| d.id.0).collect();
    assert_eq!(ids, vec![0, 1, 2]);
}

#[test]
fn a_new_service_gets_the_default_local_addresses() {
    let mut st = empty();
    assert_eq!(run(&mut st, vec![add(80), add(443)]), Ok(None));
    let l = list(&st);
    let ports: Vec<u16> = l.services.iter().map(|s| s.spec.key.vport).collect();
    assert_eq!(ports, vec![80, 443], "creation order");
    assert_eq!(l.services[0].laddrs, vec![LIP1, LIP2]);
    assert!(l.services[0].dests.is_empty());
}

#[test]
fn service_commands_follow_ipvs() {
    let mut st = empty();
    run(&mut st, vec![add(80)]).unwrap();
    assert_eq!(run(&mut st, vec![add(80)]), Err(CtrlError::ServiceExists(key(80))));
    run(&mut st, vec![Command::EditService(spec(80, SchedKind::Wrr))]).unwrap();
    assert_eq!(list(&st).services[0].spec.scheduler, SchedKind::Wrr);
    assert_eq!(
        run(&mut st, vec![Command::EditService(spec(81, SchedKind::Wrr))]),
        Err(CtrlError::NoSuchService(key(81)))
    );
    assert_eq!(run(&mut st, vec![Command::DelService(key(81))]), Err(CtrlError::NoSuchService(key(81))));
    run(&mut st, vec![Command::DelService(key(80))]).unwrap();
    assert!(st.is_empty());
}

#[test]
fn clear_removes_every_service() {
    let mut st = empty();
    run(&mut st, vec![add(80), add(81), add_rs(81, 1)]).unwrap();
    run(&mut st, vec![Command::Clear]).unwrap();
    assert!(list(&st).services.is_empty());
    run(&mut st, vec![Command::Clear]).unwrap();
}

#[test]
fn a_service_must_have_a_port_and_a_unicast_vip_that_is_not_a_local_address() {
    let mut st = empty();
    assert_eq!(
        run(&mut st, vec![add(0)]).unwrap_err().to_string(),
        "port 0 (all ports, with persistence) is not supported yet"
    );
    for (vip, why) in [
        ("224.0.0.1", "virtual address 224.0.0.1 is not a unicast address"),
        ("0.0.0.0", "virtual address 0.0.0.0 is not a unicast address"),
        ("255.255.255.255", "virtual address 255.255.255.255 is not a unicast address"),
        ("127.0.0.1", "virtual address 127.0.0.1 is not a unicast address"),
        ("10.1.0.10", "virtual address 10.1.0.10 is a local address"),
    ] {
        let mut s = spec(80, SchedKind::Rr);
        s.key.vip = vip.parse().unwrap();
        let err = run(&mut st, vec![Command::AddService(s)]).unwrap_err();
        assert_eq!(err, CtrlError::Invalid(why.into()));
    }
    // A service's own local address counts too.
    let lip = Ipv4Addr::new(10, 1, 0, 99);
    run(&mut st, vec![add(80), Command::AddLaddr { svc: key(80), addr: lip }]).unwrap();
    let mut s = spec(80, SchedKind::Rr);
    s.key.vip = lip;
    assert_eq!(
        run(&mut st, vec![Command::AddService(s)]),
        Err(CtrlError::Invalid("virtual address 10.1.0.99 is a local address".into()))
    );
}

#[test]
fn real_servers_keep_their_order_and_ids_are_never_reused() {
    let mut st = empty();
    run(&mut st, vec![add(80), add_rs(80, 1), add_rs(80, 2), add_rs(80, 3)]).unwrap();
    assert_eq!(dests(&st, 80), vec![(1, 0), (2, 1), (3, 2)]);
    run(&mut st, vec![Command::DelDest { svc: key(80), addr: rs(2, 1).addr, port: 8080 }]).unwrap();
    run(&mut st, vec![add_rs(80, 2)]).unwrap();
    assert_eq!(dests(&st, 80), vec![(1, 0), (3, 2), (2, 3)], "re-added at the end, with a new id");
    run(&mut st, vec![Command::EditDest { svc: key(80), dest: rs(1, 7) }]).unwrap();
    assert_eq!(dests(&st, 80), vec![(1, 0), (3, 2), (2, 3)], "edit keeps id and place");
    assert_eq!(list(&st).services[0].dests[0].spec.weight, 7);
}

#[test]
fn same_address_on_another_port_is_another_real_server() {
    let mut st = empty();
    let mut other = rs(1, 1);
    other.port = 8081;
    run(&mut st, vec![add(80), add_rs(80, 1), Command::AddDest { svc: key(80), dest: other }]).unwrap();
    assert_eq!(dests(&st, 80).len(), 2);
}

#[test]
fn real_server_commands_on_a_missing_service_say_service_not_defined() {
    let mut st = empty();
    let svc = key(80);
    let addr = rs(1, 1).addr;
    for cmd in [
        add_rs(80, 1),
        Command::EditDest { svc, dest: rs(1, 1) },
        Command::DelDest { svc, addr, port: 8080 },
        Command::AddLaddr { svc, addr: LIP1 },
        Command::DelLaddr { svc, addr: LIP1 },
    ] {
        let err = run(&mut st, vec![cmd]).unwrap_err();
        assert_eq!(err, CtrlError::ServiceNotDefined(svc));
        assert_eq!(err.to_string(), "Service not defined");
    }
}

#[test]
fn real_server_errors_follow_ipvs() {
    let mut st = empty();
    let svc = key(80);
    run(&mut st, vec![add(80), add_rs(80, 1)]).unwrap();
    let addr = Ipv4Addr::new(10, 2, 0, 9);
    let missing = CtrlError::NoSuchDest { svc, addr, port: 8080 };
    assert_eq!(run(&mut st, vec![add_rs(80, 1)]), Err(CtrlError::DestExists { svc, addr: rs(1, 1).addr, port: 8080 }));
    assert_eq!(run(&mut st, vec![Command::EditDest { svc, dest: rs(9, 1) }]), Err(missing.clone()));
    assert_eq!(run(&mut st, vec![Command::DelDest { svc, addr, port: 8080 }]), Err(missing));
    assert_eq!(missing_text(), "No such destination");
}

fn missing_text() -> String {
    CtrlError::NoSuchDest { svc: key(80), addr: VIP, port: 1 }.to_string()
}

#[test]
fn real_server_values_are_checked() {
    let mut st = empty();
    let svc = key(80);
    run(&mut st, vec![add(80)]).unwrap();
    let with = |f: &dyn Fn(&mut DestSpec)| {
        let mut d = rs(1, 1);
        f(&mut d);
        d
    };
    let cases: Vec<(DestSpec, &str)> = vec![
        (with(&|d| d.weight = 65536), "weight 65536 is out of range (0 to 65535)"),
        (with(&|d| d.port = 0), "real server port 0 is out of range (1 to 65535)"),
        (with(&|d| d.addr = Ipv4Addr::BROADCAST), "real server address 255.255.255.255 is not a unicast address"),
        (with(&|d| d.method = FwdMethod::Nat), "forwarding method Masq (-m) is not supported yet"),
        (with(&|d| d.method = FwdMethod::Dr), "forwarding method Route (-g) is not supported yet"),
        (with(&|d| d.method = FwdMethod::Tun), "forwarding method Tunnel (-i) is not supported yet"),
    ];
    for (dest, why) in cases {
        let err = run(&mut st, vec![Command::AddDest { svc, dest }]).unwrap_err();
        assert_eq!(err.to_string(), why);
        // An edit is checked the same way, before the real server is looked up.
        let err = run(&mut st, vec![Command::EditDest { svc, dest }]).unwrap_err();
        assert_eq!(err.to_string(), why);
    }
    for weight in [0, 65535] {
        run(&mut st, vec![Command::AddDest { svc, dest: rs(u8::try_from(weight % 250).unwrap(), weight) }]).unwrap();
    }
}

#[test]
fn local_addresses_are_added_and_removed_per_service() {
    let mut st = empty();
    let svc = key(80);
    let lip = Ipv4Addr::new(10, 1, 0, 12);
    run(&mut st, vec![add(80), add(81)]).unwrap();
    run(&mut st, vec![Command::AddLaddr { svc, addr: lip }]).unwrap();
    assert_eq!(list(&st).services[0].laddrs, vec![LIP1, LIP2, lip]);
    assert_eq!(list(&st).services[1].laddrs, vec![LIP1, LIP2]);
    assert_eq!(
        run(&mut st, vec![Command::AddLaddr { svc, addr: lip }]),
        Err(CtrlError::LaddrExists { svc, addr: lip })
    );
    assert_eq!(
        run(&mut st, vec![Command::AddLaddr { svc, addr: VIP }]),
        Err(CtrlError::Invalid("local address 10.0.0.100 is a virtual service address".into()))
    );
    assert_eq!(
        run(&mut st, vec![Command::AddLaddr { svc, addr: Ipv4Addr::new(239, 1, 1, 1) }]),
        Err(CtrlError::Invalid("local address 239.1.1.1 is not a unicast address".into()))
    );
    run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }]).unwrap();
    assert_eq!(list(&st).services[0].laddrs, vec![LIP2, lip]);
    assert_eq!(
        run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }]),
        Err(CtrlError::NoSuchLaddr { svc, addr: LIP1 })
    );
}

#[test]
fn a_fullnat_service_keeps_at_least_one_local_address() {
    let mut st = ControlState::new(&Services::default(), vec![], 64);
    let svc = key(80);
    let no_laddr =
        Err(CtrlError::Invalid("service TCP 10.0.0.100:80 has FULLNAT real servers but no local address".into()));
    assert_eq!(run(&mut st, vec![add(80), add_rs(80, 1)]), no_laddr);
    run(&mut st, vec![add(80), Command::AddLaddr { svc, addr: LIP1 }, add_rs(80, 1)]).unwrap();
    assert_eq!(run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }]), no_laddr);
    // Swapping the address in one request is fine.
    run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }, Command::AddLaddr { svc, addr: LIP2 }]).unwrap();
    assert_eq!(list(&st).services[0].laddrs, vec![LIP2]);
}

#[test]
fn a_request_is_all_or_nothing() {
    let mut st = empty();
    run(&mut st, vec![add(80), add_rs(80, 1)]).unwrap();
    let before = list(&st);
    let generation = st.generation();
    let err = run(
        &mut st,
        vec![
            add(81),
            add_rs(81, 2),
            add_rs(80, 1), // exists: fails
            Command::DelService(key(80)),
        ],
    );
    assert_eq!(err, Err(CtrlError::DestExists { svc: key(80), addr: rs(1, 1).addr, port: 8080 }));
    assert_eq!(list(&st), before);
    assert_eq!(st.generation(), generation);
    // The ids handed out inside the failed request were never seen; the next one follows on.
    run(&mut st, vec![add_rs(80, 3)]).unwrap();
    assert_eq!(dests(&st, 80), vec![(1, 0), (3, 1)]);
}

#[test]
fn the_generation_moves_only_on_committed_changes() {
    let mut st = empty();
    assert_eq!(st.generation(), 0);
    run(&mut st, vec![add(80)]).unwrap();
    assert_eq!(st.generation(), 1);
    run(&mut st, vec![Command::List { svc: None }]).unwrap();
    assert_eq!(st.generation(), 1);
    run(&mut st, vec![add(80)]).unwrap_err();
    assert_eq!(st.generation(), 1);
}

#[test]
fn list_shows_counts_and_filters() {
    let mut st = empty();
    run(&mut st, vec![add(80), add(81), add_rs(80, 1), add_rs(80, 2)]).unwrap();
    let counts = |id: DestId| (id.0 * 10, id.0 + 5);
    let l =
        st.apply(&Request { id: 3, commands: vec![Command::List { svc: Some(key(80)) }] }, &counts).unwrap().unwrap();
    assert_eq!(l.services.len(), 1);
    let d = &l.services[0].dests;
    assert_eq!((d[1].active, d[1].inactive), (10, 6));
    assert_eq!(run(&mut st, vec![Command::List { svc: Some(key(82)) }]), Err(CtrlError::NoSuchService(key(82))));
}

#[test]
fn a_list_inside_a_request_sees_the_commands_before_it() {
    let mut st = empty();
    let l = run(&mut st, vec![add(80), Command::List { svc: None }, add(81)]).unwrap().unwrap();
    assert_eq!(l.services.len(), 1);
    assert_eq!(st.len(), 2);
}

#[test]
fn empty_requests_and_double_lists_are_refused() {
    let mut st = empty();
    assert_eq!(run(&mut st, vec![]), Err(CtrlError::Invalid("empty request: no command".into())));
    let list = Command::List { svc: None };
    assert_eq!(
        run(&mut st, vec![list.clone(), list]),
        Err(CtrlError::Invalid("a request holds at most one List command".into()))
    );
}

#[test]
fn the_snapshot_holds_services_in_creation_order() {
    let mut st = empty();
    run(&mut st, vec![add(443), add(80), add_rs(80, 1)]).unwrap();
    let s = st.services().unwrap();
    let ports: Vec<u16> = s.iter().map(|s| s.key.vport).collect();
    assert_eq!(ports, vec![443, 80]);
    let (_, svc) = s.find(&key(80)).unwrap();
    assert_eq!(svc.dests[0].id, DestId(0));
    assert_eq!(svc.laddrs, vec![LIP1, LIP2]);
    assert!(s.is_vip(VIP));
}

#[test]
fn answer_turns_results_into_replies() {
    let mut st = empty();
    let req = |commands| Request { id: 9, commands };
    assert_eq!(st.answer(Ok(req(vec![add(80)])), &no_counts), Reply::Done);
    assert!(matches!(
        st.answer(Ok(req(vec![Command::List { svc: None }])), &no_counts),
        Reply::Listing(l) if l.services.len() == 1
    ));
    assert_eq!(st.answer(Ok(req(vec![add(80)])), &no_counts), Reply::Error(CtrlError::ServiceExists(key(80))));
    let bad = CtrlError::malformed("bad");
    assert_eq!(st.answer(Err(bad.clone()), &no_counts), Reply::Error(bad));
}
