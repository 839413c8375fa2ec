//! Which worker owns a NAT connection when there are several workers.
//!
//! A NAT reply (`RIP:rport -> CIP:cport`) carries no address of the gateway's and no port it chose,
//! so nothing in it names the worker that opened the connection the way a FULLNAT local port does.
//! fnat makes the owner a function of what both directions carry:
//!
//! - `ClientRss`: the worker whose queue the client's packets (`CIP:cport -> VIP:vport`) reach by
//!   the RSS of the port they arrive on. The client's packets need no redirect at all; a reply is
//!   passed to the owner after its worker computes that queue, which needs `VIP:vport` back from
//!   `RIP:rport`: possible when that real server is in one service only ([`NatIndex::origin`]).
//! - `Mixed`: a hash of `CIP:cport` alone, when the reply cannot tell its service (a real server
//!   of several services, port-0 and fwmark services) or the client port's RSS is unknown. Both
//!   directions may then need a redirect.
//!
//! Both sides follow the same rule, so every packet of a connection reaches its owner after at most
//! one pass through a redirect ring. With one worker none of this is consulted.
//!
//! The rule is the configuration's: a change that puts a NAT real server into a second service (or
//! takes it out of its second one) changes it for the connections already open to that server, and
//! their replies then go to a worker that does not hold them (dropped as `no_conn`) until they end.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::net::Ipv4Addr;

use super::service::ServiceIdx;
use super::{FwdMethod, Protocol, Service};
use crate::hash::KeyHasher;

/// What a packet from a NAT real server tells about its connection's service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatOrigin {
    /// The one service's VIP and port: the owner is the client's RSS queue toward them.
    Vip(Ipv4Addr, u16),
    /// Ambiguous or unknowable: the owner is [`mixed_owner`].
    Mixed,
}

/// How a service's NAT connections are owned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NatScheme {
    /// By the queue of the client's packets.
    ClientRss,
    /// By [`mixed_owner`].
    Mixed,
}

/// The NAT real servers of a set of services, for finding a reply's owner.
#[derive(Clone, Debug, Default)]
pub struct NatIndex {
    origins: HashMap<(Protocol, Ipv4Addr, u16), NatOrigin, BuildHasherDefault<KeyHasher>>,
    schemes: Vec<Option<NatScheme>>,
}

impl NatIndex {
    /// The index of `list`'s NAT real servers.
    pub fn new(list: &[Service]) -> Self {
        // Every (protocol, address, port) a NAT real server answers from, with its services. A
        // fwmark service may carry either protocol; a port-0 real server answers from any port.
        let mut users: HashMap<(Protocol, Ipv4Addr, u16), Vec<usize>, BuildHasherDefault<KeyHasher>> =
            HashMap::default();
        for (i, svc) in list.iter().enumerate() {
            let protos: &[Protocol] = if svc.key.is_mark() {
                &[Protocol::Tcp, Protocol::Udp]
            } else {
                std::slice::from_ref(&svc.key.protocol)
            };
            for d in svc.dests.iter().filter(|d| d.method == FwdMethod::Nat) {
                for &proto in protos {
                    let u = users.entry((proto, d.addr, d.port)).or_default();
                    if !u.contains(&i) {
                        u.push(i);
                    }
                }
            }
        }
        let alone = |key: &(Protocol, Ipv4Addr, u16)| {
            users.get(key).is_some_and(|u| u.len() == 1) && !users.contains_key(&(key.0, key.1, 0))
        };
        let schemes: Vec<Option<NatScheme>> = list
            .iter()
            .map(|svc| {
                let mut nat = svc.dests.iter().filter(|d| d.method == FwdMethod::Nat).peekable();
                nat.peek()?;
                let by_rss = !svc.key.is_mark()
                    && svc.key.vport != 0
                    && nat.all(|d| d.port != 0 && alone(&(svc.key.protocol, d.addr, d.port)));
                Some(if by_rss { NatScheme::ClientRss } else { NatScheme::Mixed })
            })
            .collect();
        let origins = users
            .iter()
            .map(|(&key, u)| {
                let origin = match (u.as_slice(), schemes.get(u[0])) {
                    ([i], Some(Some(NatScheme::ClientRss))) => {
                        let k = list[*i].key;
                        NatOrigin::Vip(k.vip, k.vport)
                    }
                    _ => NatOrigin::Mixed,
                };
                (key, origin)
            })
            .collect();
        Self { origins, schemes }
    }

    /// What a packet from `rip:rport` says about its NAT connection's service; `None` when no NAT
    /// real server answers from there.
    #[inline]
    pub fn origin(&self, proto: Protocol, rip: Ipv4Addr, rport: u16) -> Option<NatOrigin> {
        if self.origins.is_empty() {
            return None;
        }
        self.origins.get(&(proto, rip, rport)).or_else(|| self.origins.get(&(proto, rip, 0))).copied()
    }

    /// How the NAT connections of service `svc` are owned; `None` when it has no NAT real server.
    #[inline]
    pub fn scheme(&self, svc: ServiceIdx) -> Option<NatScheme> {
        self.schemes.get(svc as usize).copied().flatten()
    }
}

/// The owner of a connection of client `cip:cport` when nothing better is known: a hash of the
/// client's address and port, spread over `workers`.
#[inline]
pub fn mixed_owner(cip: Ipv4Addr, cport: u16, workers: u16) -> u16 {
    // Every bit of the address and port reaches every bit of the result (a murmur-style finish):
    // clients' ports share their low bits (Linux picks even ones for connect()).
    let mut x = (u32::from(cip) ^ u32::from(cport).rotate_left(16)).wrapping_mul(0x9e37_79b1);
    x ^= x >> 15;
    x = x.wrapping_mul(0x85eb_ca6b);
    x ^= x >> 13;
    u16::try_from((u64::from(x) * u64::from(workers.max(1))) >> 32).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lb::service::sample_service as svc;
    use crate::lb::{DestId, RealServer, ServiceKey};

    fn rs(id: u32, last: u8, port: u16, method: FwdMethod) -> RealServer {
        RealServer { id: DestId(id), addr: Ipv4Addr::new(10, 1, 0, last), port, weight: 1, method, upper: 0, lower: 0 }
    }

    #[test]
    fn a_real_server_of_one_service_names_it_and_shared_ones_do_not() {
        let list = vec![
            svc(80, vec![rs(1, 11, 8080, FwdMethod::Nat), rs(2, 12, 8080, FwdMethod::FullNat)]),
            svc(443, vec![rs(3, 13, 8443, FwdMethod::Nat), rs(4, 14, 8443, FwdMethod::Nat)]),
            svc(8443, vec![rs(5, 14, 8443, FwdMethod::Nat)]),
            svc(25, vec![rs(6, 15, 25, FwdMethod::FullNat)]),
        ];
        let idx = NatIndex::new(&list);
        let ip = |last| Ipv4Addr::new(10, 1, 0, last);
        assert_eq!(idx.origin(Protocol::Tcp, ip(11), 8080), Some(NatOrigin::Vip(Ipv4Addr::new(10, 0, 0, 100), 80)));
        assert_eq!(idx.origin(Protocol::Udp, ip(11), 8080), None, "another protocol");
        assert_eq!(idx.origin(Protocol::Tcp, ip(12), 8080), None, "a FULLNAT real server");
        // 10.1.0.14:8443 serves two services: its replies cannot tell which; both services, and the
        // other real server of the first, fall back to the mixed owner.
        assert_eq!(idx.origin(Protocol::Tcp, ip(14), 8443), Some(NatOrigin::Mixed));
        assert_eq!(idx.origin(Protocol::Tcp, ip(13), 8443), Some(NatOrigin::Mixed));
        assert_eq!(
            (idx.scheme(0), idx.scheme(1), idx.scheme(2), idx.scheme(3)),
            (Some(NatScheme::ClientRss), Some(NatScheme::Mixed), Some(NatScheme::Mixed), None)
        );
    }

    #[test]
    fn port_zero_and_fwmark_real_servers_are_mixed() {
        let mut mark = svc(0, vec![rs(1, 11, 0, FwdMethod::Nat)]);
        mark.key = ServiceKey::mark(7);
        let list = vec![mark, svc(80, vec![rs(2, 11, 8080, FwdMethod::Nat)])];
        let idx = NatIndex::new(&list);
        let rip = Ipv4Addr::new(10, 1, 0, 11);
        // The port-0 real server may answer from 8080 too: the second service cannot be told apart.
        assert_eq!(idx.origin(Protocol::Tcp, rip, 8080), Some(NatOrigin::Mixed));
        assert_eq!(idx.origin(Protocol::Udp, rip, 53), Some(NatOrigin::Mixed), "a fwmark service carries UDP too");
        assert_eq!((idx.scheme(0), idx.scheme(1)), (Some(NatScheme::Mixed), Some(NatScheme::Mixed)));
    }

    #[test]
    fn the_mixed_owner_spreads_clients() {
        // Many clients with a few ports each, and one client whose ports are all even (as Linux
        // chooses them for connect()).
        let clients =
            (0..4000u32).map(|i| (Ipv4Addr::from(0xc612_0000 + i / 16), 1024 + u16::try_from(i % 16).unwrap()));
        let one = (0..4000u16).map(|i| (Ipv4Addr::new(10, 0, 0, 2), 32_768 + 2 * i));
        for (what, flows) in [("clients", clients.collect::<Vec<_>>()), ("even ports", one.collect())] {
            for workers in [2u16, 3, 4] {
                let mut seen = [0u32; 4];
                for &(cip, cport) in &flows {
                    seen[usize::from(mixed_owner(cip, cport, workers))] += 1;
                }
                let fair = 4000 / u32::from(workers);
                let spread = &seen[..usize::from(workers)];
                assert!(spread.iter().all(|&n| n * 10 > fair * 8 && n * 10 < fair * 12), "{what}, {workers}: {seen:?}");
            }
        }
        assert_eq!(mixed_owner(Ipv4Addr::new(1, 2, 3, 4), 5, 1), 0);
    }
}
