use std::net::SocketAddrV4;
use std::path::Path;

use super::*;
use crate::config::Config;

/// A result with its error as the one line fnatctl prints.
fn said<T>(r: Result<T, CtrlError>) -> Result<T, String> {
    r.map_err(|e| e.to_string())
}
use crate::lb::{Protocol, SchedFlags, SchedKind};
use ctrl::msg::{ConnView, encode_reply};

const LIP1: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
const LIP2: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

fn key(vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: VIP, vport, fwmark: 0 }
}

fn spec(vport: u16, scheduler: SchedKind) -> ServiceSpec {
    ServiceSpec { key: key(vport), scheduler, flags: SchedFlags::default(), persistence: None }
}

fn rs(last: u8, weight: u32) -> DestSpec {
    DestSpec { addr: Ipv4Addr::new(10, 2, 0, last), port: 8080, weight, method: FwdMethod::FullNat, upper: 0, lower: 0 }
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

/// Applies `commands` as one request; the listing if it held a `List`.
fn run(st: &mut ControlState, commands: Vec<Command>) -> Result<Option<Listing>, CtrlError> {
    match ask(st, commands)? {
        Reply::Done => Ok(None),
        Reply::Listing(l) => Ok(Some(l)),
        other => panic!("unexpected reply {other:?}"),
    }
}

/// Applies `commands` as one request; the reply.
fn ask(st: &mut ControlState, commands: Vec<Command>) -> Result<Reply, CtrlError> {
    st.apply(&Request { id: 1, commands }, &NoConnections)
}

fn list(st: &ControlState) -> Listing {
    st.listing(None, &NoConnections).unwrap()
}

/// (address's last byte, id) of a service's real servers, in order.
fn dests(st: &ControlState, vport: u16) -> Vec<(u8, u32)> {
    st.listing(Some(key(vport)), &NoConnections).unwrap().services[0]
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
    let mut st = cfg.state.clone();
    let udp = ServiceKey { protocol: Protocol::Udp, vip: VIP, vport: 53, fwmark: 0 };
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
    // The file's real servers were added last to first (so listed in the file's order), the new
    // one at the head.
    assert_eq!(ids, vec![2, 1, 0]);
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
    assert_eq!(run(&mut st, vec![add(0)]).unwrap_err().to_string(), "Zero port specified for non-persistent service");
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
        assert_eq!(err.to_string(), why);
    }
    // A service's own local address counts too.
    let lip = Ipv4Addr::new(10, 1, 0, 99);
    run(&mut st, vec![add(80), Command::AddLaddr { svc: key(80), addr: lip }]).unwrap();
    let mut s = spec(80, SchedKind::Rr);
    s.key.vip = lip;
    assert_eq!(
        said(run(&mut st, vec![Command::AddService(s)])),
        Err("virtual address 10.1.0.99 is a local address".to_string())
    );
}

#[test]
fn real_servers_are_kept_newest_first_and_ids_are_never_reused() {
    let mut st = empty();
    run(&mut st, vec![add(80), add_rs(80, 1), add_rs(80, 2), add_rs(80, 3)]).unwrap();
    assert_eq!(dests(&st, 80), vec![(3, 2), (2, 1), (1, 0)], "each -a at the head, as IPVS's list_add_rcu");
    run(&mut st, vec![Command::DelDest { svc: key(80), addr: rs(2, 1).addr, port: 8080 }]).unwrap();
    run(&mut st, vec![add_rs(80, 2)]).unwrap();
    assert_eq!(dests(&st, 80), vec![(2, 3), (3, 2), (1, 0)], "re-added at the head, with a new id");
    run(&mut st, vec![Command::EditDest { svc: key(80), dest: rs(1, 7) }]).unwrap();
    assert_eq!(dests(&st, 80), vec![(2, 3), (3, 2), (1, 0)], "edit keeps id and place");
    assert_eq!(list(&st).services[0].dests[2].spec.weight, 7);
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
        (with(&|d| d.method = FwdMethod::Dr), "route (DR) cannot map ports: the real server port must be 80"),
        (with(&|d| d.method = FwdMethod::Tun), "tunnel (TUN) cannot map ports: the real server port must be 80"),
        (with(&|d| d.upper = 2_147_483_648), "upper threshold 2147483648 is out of range (0 to 2147483647)"),
        (with(&|d| (d.upper, d.lower) = (u32::MAX, 1)), "upper threshold 4294967295 is out of range (0 to 2147483647)"),
        (
            with(&|d| (d.upper, d.lower) = (2_147_483_647, 2_147_483_648)),
            "lower threshold 2147483648 is out of range (0 to 2147483647)",
        ),
        (with(&|d| (d.upper, d.lower) = (100, 101)), "lower threshold 101 is higher than upper threshold 100"),
        // As IPVS: without an upper threshold there is no lower one either.
        (with(&|d| d.lower = 10), "lower threshold 10 is higher than upper threshold 0"),
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
        said(run(&mut st, vec![Command::AddLaddr { svc, addr: VIP }])),
        Err("local address 10.0.0.100 is a virtual service address".to_string())
    );
    assert_eq!(
        said(run(&mut st, vec![Command::AddLaddr { svc, addr: Ipv4Addr::new(239, 1, 1, 1) }])),
        Err("local address 239.1.1.1 is not a unicast address".to_string())
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
    let no_laddr = Err("service TCP 10.0.0.100:80 has FULLNAT real servers but no local address".to_string());
    assert_eq!(said(run(&mut st, vec![add(80), add_rs(80, 1)])), no_laddr);
    run(&mut st, vec![add(80), Command::AddLaddr { svc, addr: LIP1 }, add_rs(80, 1)]).unwrap();
    assert_eq!(said(run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }])), no_laddr);
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
    assert_eq!(dests(&st, 80), vec![(3, 1), (1, 0)]);
}

#[test]
fn the_generation_moves_only_on_committed_changes() {
    let mut st = empty();
    assert_eq!(st.generation(), 0);
    run(&mut st, vec![add(80)]).unwrap();
    assert_eq!(st.generation(), 1);
    run(&mut st, vec![Command::List { svc: None, traffic: false }]).unwrap();
    assert_eq!(st.generation(), 1);
    run(&mut st, vec![add(80)]).unwrap_err();
    assert_eq!(st.generation(), 1);
}

#[test]
fn list_shows_counts_and_filters() {
    let mut st = empty();
    run(&mut st, vec![add(80), add(81), add_rs(80, 1), add_rs(80, 2)]).unwrap();
    let Reply::Listing(l) = st
        .apply(&Request { id: 3, commands: vec![Command::List { svc: Some(key(80)), traffic: false }] }, &Counts)
        .unwrap()
    else {
        panic!("expected a listing");
    };
    assert_eq!(l.services.len(), 1);
    let d = &l.services[0].dests;
    assert_eq!((d[0].active, d[0].inactive), (10, 6), "the newest first: id 1");
    assert_eq!(
        run(&mut st, vec![Command::List { svc: Some(key(82)), traffic: false }]),
        Err(CtrlError::NoSuchService(key(82)))
    );
}

#[test]
fn a_list_inside_a_request_sees_the_commands_before_it() {
    let mut st = empty();
    let l = run(&mut st, vec![add(80), Command::List { svc: None, traffic: false }, add(81)]).unwrap().unwrap();
    assert_eq!(l.services.len(), 1);
    assert_eq!(st.len(), 2);
}

#[test]
fn empty_requests_and_double_lists_are_refused() {
    let mut st = empty();
    assert_eq!(run(&mut st, vec![]), Err(CtrlError::Invalid("empty request: no command".into())));
    let list = Command::List { svc: None, traffic: false };
    let two = CtrlError::Invalid("a request holds at most one query (List, GetTimeouts or ListConns)".into());
    assert_eq!(run(&mut st, vec![list.clone(), list.clone()]), Err(two.clone()));
    assert_eq!(ask(&mut st, vec![list, Command::GetTimeouts]), Err(two.clone()));
    assert_eq!(ask(&mut st, vec![Command::ListConns { svc: None }, add(80), Command::GetTimeouts]), Err(two));
    assert!(st.is_empty());
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
    assert_eq!(st.answer(Ok(req(vec![add(80)])), &NoConnections), Reply::Done);
    assert!(matches!(
        st.answer(Ok(req(vec![Command::List { svc: None, traffic: false }])), &NoConnections),
        Reply::Listing(l) if l.services.len() == 1
    ));
    assert_eq!(st.answer(Ok(req(vec![add(80)])), &NoConnections), Reply::Error(CtrlError::ServiceExists(key(80))));
    let bad = CtrlError::malformed("bad");
    assert_eq!(st.answer(Err(bad.clone()), &NoConnections), Reply::Error(bad));
}

/// Connection counts made up from the real server's id.
struct Counts;

impl Gateway for Counts {
    fn conn_counts(&self, dest: DestId) -> (u32, u32) {
        (dest.0 * 10, dest.0 + 5)
    }

    fn connections(&self, _: Option<ServiceKey>, _: usize) -> ConnListing {
        ConnListing::default()
    }
}

fn dest_with(last: u8, port: u16, method: FwdMethod) -> DestSpec {
    DestSpec { addr: Ipv4Addr::new(10, 2, 0, last), port, weight: 1, method, upper: 0, lower: 0 }
}

/// (address's last byte, port, method) of a service's real servers, in order.
fn methods(st: &ControlState, vport: u16) -> Vec<(u8, u16, FwdMethod)> {
    st.listing(Some(key(vport)), &NoConnections).unwrap().services[0]
        .dests
        .iter()
        .map(|d| (d.spec.addr.octets()[3], d.spec.port, d.spec.method))
        .collect()
}

#[test]
fn every_forwarding_method_is_accepted_and_a_service_may_mix_them() {
    let mut st = empty();
    let svc = key(80);
    let cmds = vec![
        add(80),
        Command::AddDest { svc, dest: dest_with(1, 8080, FwdMethod::FullNat) },
        Command::AddDest { svc, dest: dest_with(2, 8080, FwdMethod::Nat) },
        Command::AddDest { svc, dest: dest_with(3, 80, FwdMethod::Dr) },
        Command::AddDest { svc, dest: dest_with(4, 80, FwdMethod::Tun) },
    ];
    assert_eq!(run(&mut st, cmds), Ok(None));
    assert_eq!(
        methods(&st, 80),
        vec![(4, 80, FwdMethod::Tun), (3, 80, FwdMethod::Dr), (2, 8080, FwdMethod::Nat), (1, 8080, FwdMethod::FullNat)]
    );
    let snap = st.services().unwrap();
    let methods_in_snapshot: Vec<FwdMethod> = snap.find(&svc).unwrap().1.dests.iter().map(|d| d.method).collect();
    assert_eq!(methods_in_snapshot, vec![FwdMethod::Tun, FwdMethod::Dr, FwdMethod::Nat, FwdMethod::FullNat]);
}

#[test]
fn direct_routing_and_tunnelling_cannot_map_ports() {
    let mut st = empty();
    let svc = key(80);
    run(&mut st, vec![add(80), Command::AddDest { svc, dest: dest_with(1, 80, FwdMethod::Dr) }]).unwrap();
    let generation = st.generation();
    for (method, name) in [(FwdMethod::Dr, "route (DR)"), (FwdMethod::Tun, "tunnel (TUN)")] {
        let why = Err(format!("{name} cannot map ports: the real server port must be 80"));
        assert_eq!(said(run(&mut st, vec![Command::AddDest { svc, dest: dest_with(2, 8080, method) }])), why);
        // Checked on an edit too, before the real server is looked up.
        assert_eq!(said(run(&mut st, vec![Command::EditDest { svc, dest: dest_with(9, 8080, method) }])), why);
    }
    assert_eq!(st.generation(), generation);
    assert_eq!(methods(&st, 80), vec![(1, 80, FwdMethod::Dr)]);
}

#[test]
fn nat_mixes_with_the_other_methods() {
    // NAT works on any number of workers (lb::nat_owner): the state has no worker count to check.
    let mut st = ControlState::new(&Services::default(), vec![LIP1], 4096);
    let svc = key(80);
    run(&mut st, vec![add(80), Command::AddDest { svc, dest: dest_with(1, 8080, FwdMethod::FullNat) }]).unwrap();
    run(&mut st, vec![Command::AddDest { svc, dest: dest_with(2, 8080, FwdMethod::Nat) }]).unwrap();
    run(&mut st, vec![Command::EditDest { svc, dest: dest_with(1, 8080, FwdMethod::Nat) }]).unwrap();
    run(&mut st, vec![Command::AddDest { svc, dest: dest_with(3, 80, FwdMethod::Dr) }]).unwrap();
    run(&mut st, vec![Command::AddDest { svc, dest: dest_with(4, 80, FwdMethod::Tun) }]).unwrap();
    assert_eq!(methods(&st, 80).len(), 4);
}

#[test]
fn an_edit_may_change_the_method_and_keeps_the_identity() {
    let mut st = ControlState::new(&Services::default(), vec![], 4096);
    let svc = key(80);
    let lip = Command::AddLaddr { svc, addr: LIP1 };
    run(&mut st, vec![add(80), lip, Command::AddDest { svc, dest: dest_with(1, 80, FwdMethod::FullNat) }]).unwrap();
    run(&mut st, vec![Command::EditDest { svc, dest: dest_with(1, 80, FwdMethod::Dr) }]).unwrap();
    assert_eq!(methods(&st, 80), vec![(1, 80, FwdMethod::Dr)]);
    assert_eq!(dests(&st, 80), vec![(1, 0)], "same id");
    // Without FULLNAT real servers the service may drop its last local address ...
    run(&mut st, vec![Command::DelLaddr { svc, addr: LIP1 }]).unwrap();
    // ... and then cannot go back to FULLNAT without one.
    let back = Command::EditDest { svc, dest: dest_with(1, 80, FwdMethod::FullNat) };
    assert_eq!(
        said(run(&mut st, vec![back.clone()])),
        Err("service TCP 10.0.0.100:80 has FULLNAT real servers but no local address".to_string())
    );
    run(&mut st, vec![Command::AddLaddr { svc, addr: LIP2 }, back]).unwrap();
    assert_eq!(methods(&st, 80), vec![(1, 80, FwdMethod::FullNat)]);
}

fn get_timeouts(st: &mut ControlState) -> Reply {
    ask(st, vec![Command::GetTimeouts]).unwrap()
}

#[test]
fn timeouts_start_from_the_config_and_are_read_in_seconds() {
    let st = empty();
    assert_eq!(st.timeouts(), &Timeouts::default());
    let mut st = empty().with_timeouts(Timeouts { udp: 30_000, ..Timeouts::default() });
    let generation = st.generation();
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: 900, tcpfin: 120, udp: 30 });
    assert_eq!(st.generation(), generation, "a query changes nothing");
}

#[test]
fn set_timeouts_changes_three_values_and_zero_keeps_one() {
    let mut st = empty();
    assert_eq!(ask(&mut st, vec![Command::SetTimeouts { tcp: 600, tcpfin: 0, udp: 45 }]), Ok(Reply::Done));
    assert_eq!(st.generation(), 1, "a new snapshot carries the timeouts");
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: 600, tcpfin: 120, udp: 45 });
    let t = st.timeouts();
    assert_eq!(t.tcp(TcpState::Established), 600_000);
    assert_eq!(t.tcp(TcpState::FinWait), 120_000);
    assert_eq!(t.udp, 45_000);
    assert_eq!(t.tcp(TcpState::SynRecv), 60_000, "the other states keep theirs");
    assert_eq!(t.tcp(TcpState::TimeWait), 120_000);
    ask(&mut st, vec![Command::SetTimeouts { tcp: 0, tcpfin: 30, udp: 0 }]).unwrap();
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: 600, tcpfin: 30, udp: 45 });
    ask(&mut st, vec![Command::SetTimeouts { tcp: 0, tcpfin: 0, udp: 0 }]).unwrap();
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: 600, tcpfin: 30, udp: 45 });
    // Set and read back in one request.
    let reply = ask(&mut st, vec![Command::SetTimeouts { tcp: 1, tcpfin: 2, udp: 3 }, Command::GetTimeouts]);
    assert_eq!(reply, Ok(Reply::Timeouts { tcp: 1, tcpfin: 2, udp: 3 }));
}

#[test]
fn timeouts_are_bounded_to_31_days_and_a_refused_request_changes_none() {
    let mut st = empty();
    let max = 31 * 24 * 3600;
    assert_eq!(ctrl::limits::MAX_TIMEOUT_SECS, max);
    ask(&mut st, vec![Command::SetTimeouts { tcp: max, tcpfin: max, udp: max }]).unwrap();
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: max, tcpfin: max, udp: max });
    let before = st.timeouts().clone();
    let generation = st.generation();
    for (cmd, why) in [
        (
            Command::SetTimeouts { tcp: max + 1, tcpfin: 1, udp: 1 },
            "tcp timeout 2678401 is out of range (0 to 2678400 seconds, 31 days; 0 keeps it)",
        ),
        (
            Command::SetTimeouts { tcp: 1, tcpfin: u32::MAX, udp: 1 },
            "tcpfin timeout 4294967295 is out of range (0 to 2678400 seconds, 31 days; 0 keeps it)",
        ),
        (
            Command::SetTimeouts { tcp: 1, tcpfin: 1, udp: 3_000_000 },
            "udp timeout 3000000 is out of range (0 to 2678400 seconds, 31 days; 0 keeps it)",
        ),
    ] {
        assert_eq!(said(ask(&mut st, vec![cmd])), Err(why.to_string()));
    }
    // A valid change in a failing request is not applied either.
    let err = ask(&mut st, vec![Command::SetTimeouts { tcp: 5, tcpfin: 5, udp: 5 }, Command::DelService(key(80))]);
    assert_eq!(err, Err(CtrlError::NoSuchService(key(80))));
    assert_eq!(st.timeouts(), &before);
    assert_eq!(st.generation(), generation);
}

#[test]
fn the_config_gives_timeouts_and_nat_works_on_several_workers() {
    let text = "[workers]\nlcores = [1, 2]\n[[port]]\nname = \"lan\"\ndevice = \"net_null0\"\n\
                [timeouts]\ntcp = 600\ntcpfin = 60\n";
    let cfg = Config::parse(Path::new("fnatd.toml"), text).unwrap();
    let mut st = cfg.state.clone();
    assert_eq!(get_timeouts(&mut st), Reply::Timeouts { tcp: 600, tcpfin: 60, udp: 300 });
    let nat = Command::AddDest { svc: key(80), dest: dest_with(1, 80, FwdMethod::Nat) };
    ask(&mut st, vec![add(80), nat]).unwrap();
}

/// A gateway that holds given connections and remembers what it was asked.
struct FakeGateway {
    conns: Vec<ConnView>,
    more: u64,
    asked: std::cell::RefCell<Vec<(Option<ServiceKey>, usize)>>,
}

impl FakeGateway {
    fn new(n: usize) -> Self {
        let conns = (0..n)
            .map(|i| {
                let i = u16::try_from(i).unwrap();
                ConnView {
                    proto: Protocol::Tcp,
                    expire_ms: 1000 * u64::from(i),
                    state: "ESTABLISHED".into(),
                    client: SocketAddrV4::new(Ipv4Addr::new(192, 168, 0, 1), 10_000 + i),
                    virt: SocketAddrV4::new(VIP, 80),
                    local: Some(SocketAddrV4::new(LIP1, 1024 + i)),
                    dest: SocketAddrV4::new(Ipv4Addr::new(10, 2, 0, 1), 8080),
                    method: FwdMethod::FullNat,
                    fwmark: 0,
                }
            })
            .collect();
        Self { conns, more: 0, asked: Default::default() }
    }
}

impl Gateway for FakeGateway {
    fn conn_counts(&self, _: DestId) -> (u32, u32) {
        (1, 2)
    }

    fn connections(&self, svc: Option<ServiceKey>, max: usize) -> ConnListing {
        self.asked.borrow_mut().push((svc, max));
        // Deliberately ignores `max`: the state must cut the listing itself.
        ConnListing { conns: self.conns.clone(), omitted: self.more }
    }
}

fn list_conns(st: &mut ControlState, svc: Option<ServiceKey>, gw: &FakeGateway) -> Result<ConnListing, CtrlError> {
    match st.apply(&Request { id: 1, commands: vec![Command::ListConns { svc }] }, gw)? {
        Reply::Conns(l) => Ok(l),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn connections_come_from_the_gateway_for_all_or_one_existing_service() {
    let mut st = empty();
    run(&mut st, vec![add(80)]).unwrap();
    let gw = FakeGateway::new(3);
    let max = st.max_conns();
    assert_eq!(max, ConnListing::max_entries(ctrl::shm::DEFAULT_MAX_PAYLOAD));
    let l = list_conns(&mut st, None, &gw).unwrap();
    assert_eq!(l, ConnListing { conns: gw.conns.clone(), omitted: 0 });
    let l = list_conns(&mut st, Some(key(80)), &gw).unwrap();
    assert_eq!(l.conns.len(), 3);
    assert_eq!(list_conns(&mut st, Some(key(81)), &gw), Err(CtrlError::NoSuchService(key(81))));
    assert_eq!(*gw.asked.borrow(), vec![(None, max), (Some(key(80)), max)], "a missing service asks nothing");
    assert_eq!(st.generation(), 1, "listing connections changes nothing");
    // Through `answer`, as fnatd calls it.
    let reply = st.answer(Ok(Request { id: 2, commands: vec![Command::ListConns { svc: None }] }), &gw);
    assert!(matches!(reply, Reply::Conns(l) if l.conns.len() == 3));
}

#[test]
fn a_connection_listing_is_cut_to_the_reply_limit_and_counts_the_rest() {
    let mut st = empty();
    st.set_max_payload(16 << 10);
    let max = st.max_conns();
    assert_eq!(max, ConnListing::max_entries(16 << 10));
    assert_eq!(max, 45);
    let mut gw = FakeGateway::new(max + 7);
    gw.more = 100;
    let l = list_conns(&mut st, None, &gw).unwrap();
    assert_eq!((l.conns.len(), l.omitted), (max, 107));
    assert_eq!(l.conns[..], gw.conns[..max]);
    // And the reply fits.
    assert!(encode_reply(&Reply::Conns(l)).len() < 16 << 10);
}

fn flags(fallback: bool, port: bool, flag3: bool) -> SchedFlags {
    SchedFlags { fallback, port, flag3 }
}

#[test]
fn scheduler_flags_are_stored_listed_and_replaced_by_an_edit() {
    let mut st = empty();
    let with_flags = |vport, scheduler, f| ServiceSpec { flags: f, ..spec(vport, scheduler) };
    run(&mut st, vec![add(80), Command::AddService(with_flags(81, SchedKind::Wrr, flags(true, false, true)))]).unwrap();
    let l = list(&st);
    assert_eq!(l.services[0].spec.flags, SchedFlags::default(), "no flags by default");
    assert_eq!(l.services[1].spec, with_flags(81, SchedKind::Wrr, flags(true, false, true)));
    assert_eq!(st.services().unwrap().find(&key(81)).unwrap().1.flags, flags(true, false, true), "in the snapshot");
    // -E replaces scheduler and flags together, as ipvsadm (no -b: no flags).
    run(&mut st, vec![Command::EditService(with_flags(80, SchedKind::Wrr, flags(false, true, false)))]).unwrap();
    run(&mut st, vec![Command::EditService(spec(81, SchedKind::Rr))]).unwrap();
    let l = list(&st);
    assert_eq!(l.services[0].spec, with_flags(80, SchedKind::Wrr, flags(false, true, false)));
    assert_eq!(l.services[1].spec, spec(81, SchedKind::Rr));
    let snap = st.services().unwrap();
    assert_eq!(snap.find(&key(80)).unwrap().1.flags, flags(false, true, false));
    assert_eq!(snap.find(&key(81)).unwrap().1.flags, SchedFlags::default());
}

/// (upper, lower) of a service's real servers, in order.
fn thresholds(st: &ControlState, vport: u16) -> Vec<(u32, u32)> {
    let l = st.listing(Some(key(vport)), &NoConnections).unwrap();
    l.services[0].dests.iter().map(|d| (d.spec.upper, d.spec.lower)).collect()
}

#[test]
fn thresholds_are_stored_listed_and_replaced_by_an_edit() {
    let mut st = empty();
    let svc = key(80);
    let limited = DestSpec { upper: 1000, lower: 750, ..rs(2, 1) };
    let max = DestSpec { upper: 2_147_483_647, lower: 2_147_483_647, ..rs(3, 1) };
    run(
        &mut st,
        vec![add(80), add_rs(80, 1), Command::AddDest { svc, dest: limited }, Command::AddDest { svc, dest: max }],
    )
    .unwrap();
    assert_eq!(thresholds(&st, 80), vec![(2_147_483_647, 2_147_483_647), (1000, 750), (0, 0)], "0: none");
    let snap = st.services().unwrap();
    let in_snapshot: Vec<(u32, u32)> = snap.find(&svc).unwrap().1.dests.iter().map(|d| (d.upper, d.lower)).collect();
    assert_eq!(in_snapshot, vec![(2_147_483_647, 2_147_483_647), (1000, 750), (0, 0)]);
    // -e sets them all again: unset thresholds go back to 0, as ipvsadm's -e without -x/-y.
    run(
        &mut st,
        vec![
            Command::EditDest { svc, dest: DestSpec { upper: 10, lower: 0, ..rs(1, 1) } },
            Command::EditDest { svc, dest: rs(2, 1) },
        ],
    )
    .unwrap();
    assert_eq!(thresholds(&st, 80), vec![(2_147_483_647, 2_147_483_647), (0, 0), (10, 0)]);
    assert_eq!(dests(&st, 80), vec![(3, 2), (2, 1), (1, 0)], "edits keep ids and places");
    // Equal thresholds are fine; a refused edit changes nothing.
    run(&mut st, vec![Command::EditDest { svc, dest: DestSpec { upper: 5, lower: 5, ..rs(2, 1) } }]).unwrap();
    let generation = st.generation();
    let bad = Command::EditDest { svc, dest: DestSpec { upper: 5, lower: 6, ..rs(2, 1) } };
    assert_eq!(
        said(run(&mut st, vec![Command::EditDest { svc, dest: rs(1, 1) }, bad])),
        Err("lower threshold 6 is higher than upper threshold 5".to_string())
    );
    assert_eq!(st.generation(), generation);
    assert_eq!(thresholds(&st, 80), vec![(2_147_483_647, 2_147_483_647), (5, 5), (10, 0)]);
}

#[test]
fn the_config_gives_scheduler_flags_thresholds_and_the_default_scheduler() {
    let cfg = Config::parse(
        Path::new("fnatd.toml"),
        r#"
[workers]
lcores = [1]
[[port]]
name = "lan"
device = "net_null0"
[local]
addresses = ["10.1.0.10"]
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"
scheduler_flags = ["flag-2", "flag-3"]
  [[service.real_server]]
  address = "10.2.0.1"
  upper_threshold = 100
  lower_threshold = 60
"#,
    )
    .unwrap();
    let st = cfg.state.clone();
    let l = list(&st);
    assert_eq!(l.services[0].spec.flags, flags(false, true, true));
    assert_eq!((l.services[0].dests[0].spec.upper, l.services[0].dests[0].spec.lower), (100, 60));
}

/// The address counts recomputed from the services, to compare with the ones kept on the way.
/// Services per address, sorted.
type AddrCounts = Vec<(Ipv4Addr, u32)>;

fn uses_from_scratch(st: &ControlState) -> (AddrCounts, AddrCounts) {
    let mut u = Uses::default();
    for e in st.services.values() {
        u.service(&e.svc, true);
    }
    (sorted_counts(&u.vips), sorted_counts(&u.laddrs))
}

fn sorted_counts(m: &HashMap<Ipv4Addr, u32>) -> AddrCounts {
    let mut v: AddrCounts = m.iter().map(|(a, n)| (*a, *n)).collect();
    v.sort();
    v
}

#[test]
fn the_address_counts_follow_every_change() {
    let mut st = empty();
    let la = |last| Ipv4Addr::new(10, 1, 0, last);
    let vip2 = ServiceKey { vip: Ipv4Addr::new(10, 0, 0, 102), ..key(80) };
    let steps: Vec<Vec<Command>> = vec![
        vec![add(80), add(81)],
        vec![Command::AddService(ServiceSpec { key: vip2, ..spec(80, SchedKind::Rr) })],
        vec![Command::AddLaddr { svc: key(80), addr: la(20) }, Command::AddLaddr { svc: key(81), addr: la(21) }],
        // A new service's first --add-laddr replaces its default local addresses.
        vec![add(82), Command::AddLaddr { svc: key(82), addr: la(22) }],
        vec![Command::DelLaddr { svc: key(80), addr: la(20) }],
        vec![Command::DelService(key(81))],
        // Refused as a whole: nothing counted.
        vec![add(83), Command::AddLaddr { svc: key(83), addr: Ipv4Addr::new(10, 0, 0, 102) }],
        vec![Command::Clear],
        vec![add(80), Command::AddLaddr { svc: key(80), addr: la(23) }],
    ];
    for (i, commands) in steps.into_iter().enumerate() {
        let _ = run(&mut st, commands);
        let kept = (sorted_counts(&st.uses.vips), sorted_counts(&st.uses.laddrs));
        assert_eq!(kept, uses_from_scratch(&st), "after step {i}");
    }
    // The checks read them: a local address of one service cannot become a VIP, and back.
    assert!(
        run(
            &mut st,
            vec![Command::AddService(ServiceSpec {
                key: ServiceKey { vip: la(23), ..key(80) },
                ..spec(80, SchedKind::Rr)
            })]
        )
        .is_err()
    );
    assert!(run(&mut st, vec![Command::AddLaddr { svc: key(80), addr: Ipv4Addr::new(10, 0, 0, 100) }]).is_err());
}
