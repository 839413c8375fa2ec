//! A control request's payload, arbitrary bytes as fnatd would receive them from its ring: the
//! body of the `control_request` fuzz target (`dataplane/fuzz`), also run by the tests.
//!
//! Asserted, beyond not panicking: bytes that do not decode are answered with a one-line error; a
//! request that decodes is applied all or nothing, so after an error the configuration (what `-S`
//! saves) is exactly what it was, and the generation only moves when the answer is not an error.

use std::net::Ipv4Addr;

use super::state::{ControlState, NoConnections};
use crate::lb::{FwdMethod, Protocol, SchedFlags, SchedKind, ServiceKey, Services};
use ctrl::msg::{Command, DestSpec, Reply, Request, ServiceSpec, decode_request, encode_request};

/// A state with a little of everything to change: two services, one with real servers.
pub fn sample_state() -> ControlState {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
    let key = |vport| ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 };
    let spec = |vport| ServiceSpec {
        key: key(vport),
        scheduler: SchedKind::Rr,
        flags: SchedFlags::default(),
        persistence: None,
    };
    let dest = |last| DestSpec {
        addr: Ipv4Addr::new(10, 1, 0, last),
        port: 8080,
        weight: 1,
        method: FwdMethod::FullNat,
        upper: 0,
        lower: 0,
    };
    let commands = vec![
        Command::AddService(spec(80)),
        Command::AddService(spec(443)),
        Command::AddDest { svc: key(80), dest: dest(11) },
        Command::AddDest { svc: key(80), dest: dest(12) },
    ];
    let reply = st.answer(Ok(Request { id: 1, commands }), &NoConnections);
    assert_eq!(reply, Reply::Done, "the sample state builds");
    st
}

/// Decodes `data` as a request payload and applies it to [`sample_state`] (see the module docs).
pub fn request(data: &[u8]) {
    let mut st = sample_state();
    let before = super::rules::save_state(&st).expect("the sample state saves");
    let generation = st.generation();
    let decoded = decode_request(data);
    if let Err(e) = &decoded {
        assert!(!e.to_string().contains('\n'), "a one-line error: {e}");
    }
    let reply = st.answer(decoded, &NoConnections);
    match reply {
        Reply::Error(e) => {
            assert!(!e.to_string().contains('\n'), "a one-line error: {e}");
            assert_eq!(st.generation(), generation, "a refused request changes nothing");
            assert_eq!(super::rules::save_state(&st).expect("saves"), before, "a refused request changes nothing");
        }
        _ => {
            if st.generation() != generation {
                // Applied: the new state still turns into the workers' snapshot.
                st.services().expect("an applied change builds the workers' snapshot");
            }
        }
    }
}

/// Seeds for the fuzzer: a request of each command, valid or not against [`sample_state`], and a
/// transaction that fails half way.
pub fn seed_requests() -> Vec<Vec<u8>> {
    let key = |vport| ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 };
    let spec = |vport, persistence| ServiceSpec {
        key: key(vport),
        scheduler: SchedKind::Wlc,
        flags: SchedFlags::default(),
        persistence,
    };
    let dest = DestSpec {
        addr: Ipv4Addr::new(10, 1, 0, 13),
        port: 8080,
        weight: 3,
        method: FwdMethod::Nat,
        upper: 10,
        lower: 5,
    };
    let laddr = Ipv4Addr::new(10, 1, 0, 20);
    let all = vec![
        vec![Command::AddService(spec(81, Some(crate::lb::Persistence::secs(600).with_netmask(24))))],
        vec![Command::EditService(spec(80, None))],
        vec![Command::DelService(key(443))],
        vec![Command::Clear],
        vec![Command::AddDest { svc: key(80), dest }],
        vec![Command::EditDest { svc: key(80), dest: DestSpec { addr: Ipv4Addr::new(10, 1, 0, 11), ..dest } }],
        vec![Command::DelDest { svc: key(80), addr: Ipv4Addr::new(10, 1, 0, 12), port: 8080 }],
        vec![Command::AddLaddr { svc: key(80), addr: laddr }],
        vec![Command::DelLaddr { svc: key(80), addr: Ipv4Addr::new(10, 1, 0, 10) }],
        vec![Command::List { svc: None, traffic: true }],
        vec![Command::SetTimeouts { tcp: 900, tcpfin: 0, udp: 2_678_400 }],
        vec![Command::GetTimeouts],
        vec![Command::ListConns { svc: Some(key(80)) }],
        vec![Command::ListMarks],
        vec![Command::Zero { svc: None }],
        vec![Command::Counters],
        vec![Command::AddService(spec(82, None)), Command::AddDest { svc: key(99), dest }],
    ];
    all.into_iter().zip(2u64..).map(|(commands, id)| encode_request(&Request { id, commands })).collect()
}
