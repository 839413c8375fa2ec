//! fnat's benchmark harness: the pktgen-style generator's pieces ([`pktgen`]; the DPDK loop is the
//! `fnat-gen` binary), the restore benchmark (`fnat-restore-bench`) and the criterion benches of
//! the sans-IO fast path (`benches/`).

pub mod pktgen;

use std::net::Ipv4Addr;

use dataplane::lb::persist::NO_TEMPLATE;
use dataplane::lb::{Conn, DestId, FwdMethod, Protocol, TcpState};

/// Synthetic established FULLNAT connection `i` for table benchmarks: client 20.0.0.0 + `i` to the
/// demo's VIP:80, real server one of the demo's three, local address 10.2.x.y by `i >> 16` and
/// local port `i & 0xffff`, so both directions' keys are distinct for every `i`.
pub fn synthetic_conn(i: u32) -> Conn {
    let rs = dataplane::fixtures::RS;
    Conn {
        cip: Ipv4Addr::from(0x1400_0000 + i),
        vip: dataplane::fixtures::VIP,
        lip: Ipv4Addr::from(0x0a02_0000 + (i >> 16)),
        rip: rs[(i % 3) as usize],
        cport: 1024 + u16::try_from(i % 60_000).unwrap_or(0),
        vport: 80,
        lport: u16::try_from(i & 0xffff).unwrap_or(0),
        rport: 8080,
        expires: u64::MAX,
        dest: DestId(1),
        proto: Protocol::Tcp,
        state: TcpState::Established as u8,
        flags: 0,
        method: FwdMethod::FullNat,
        tmpl: NO_TEMPLATE,
        tally: u32::MAX,
    }
}
