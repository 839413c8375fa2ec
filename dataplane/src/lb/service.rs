//! Virtual services and their real servers (destinations), as an immutable snapshot.
//!
//! A `Services` value is built once by the control side and shared read-only by every worker; a
//! change of configuration builds a new snapshot. Destinations are in IPVS's list order, which the
//! schedulers walk: `ControlState` puts a new one first (`list_add_rcu` in the kernel's
//! `__ip_vs_update_dest`), so "first" means most recently added; an edited one keeps its place.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasherDefault;
use std::net::Ipv4Addr;

pub use ctrl::vocab::{DestId, FwdMethod, Persistence, Protocol, ServiceKey, mask_prefix, prefix_mask};

use super::fwmark::Classifier;
use super::nat_owner::NatIndex;
use super::sched::{Cursor, SchedFlags, SchedHistory, SchedKind};
use crate::hash::KeyHasher;

/// A real server (IPVS "destination") of a service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RealServer {
    /// Stable identity (see [`DestId`]).
    pub id: DestId,
    /// The real server's address (RIP).
    pub addr: Ipv4Addr,
    /// The real server's port (rport); 0 in a port-0 service, where each connection keeps its port.
    pub port: u16,
    /// Scheduling weight, 0..=65535; 0 quiesces the server (no new connections).
    pub weight: u32,
    /// The forwarding method.
    pub method: FwdMethod,
    /// Upper connection threshold (`-x`): at this many connections the server is overloaded and
    /// gets no new ones; 0 means none.
    pub upper: u32,
    /// Lower connection threshold (`-y`): an overloaded server takes new connections again below it
    /// (below 3/4 of the upper one when 0).
    pub lower: u32,
}

/// A virtual service with its scheduler and real servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Service {
    /// Protocol, VIP and port.
    pub key: ServiceKey,
    /// The scheduler that picks a real server for a new connection.
    pub scheduler: SchedKind,
    /// The scheduler's flags (`-b`).
    pub flags: SchedFlags,
    /// Real servers in IPVS's list order: the most recently added first.
    pub dests: Vec<RealServer>,
    /// FULLNAT local addresses of this service, used in turn for new connections.
    pub laddrs: Vec<Ipv4Addr>,
    /// Persistence (`-p`); a port-0 service (every port of its VIP) always has it.
    pub persistence: Option<Persistence>,
}

/// Index of a service inside one [`Services`] snapshot.
pub type ServiceIdx = u32;

/// An immutable snapshot of all virtual services, indexed by key.
#[derive(Clone, Debug, Default)]
pub struct Services {
    list: Vec<Service>,
    by_key: HashMap<ServiceKey, ServiceIdx, BuildHasherDefault<KeyHasher>>,
    vips: HashSet<Ipv4Addr, BuildHasherDefault<KeyHasher>>,
    laddrs: HashSet<Ipv4Addr, BuildHasherDefault<KeyHasher>>,
    /// Every real server's address, those the health checks took out included
    /// ([`Services::with_real_addrs`]): the gateway's kernel talks to them (health checks), and
    /// what they send it has an allowance of its own.
    real_addrs: HashSet<Ipv4Addr, BuildHasherDefault<KeyHasher>>,
    /// Index of each service's first real server in the dense numbering of all real servers.
    dest_base: Vec<usize>,
    dest_slot: HashMap<DestId, usize, BuildHasherDefault<KeyHasher>>,
    /// Each service's shared rr/wrr position.
    cursors: Box<[Cursor]>,
    /// The firewall-mark classifier of the fwmark services.
    marks: Classifier,
    /// The NAT real servers, for finding the owner of a reply when there are several workers.
    nat: NatIndex,
}

impl Services {
    /// Builds a snapshot. Fails on a duplicate service key or a duplicate real server within a service.
    pub fn new(list: Vec<Service>) -> Result<Self, ServicesError> {
        let mut by_key = HashMap::default();
        let mut vips = HashSet::default();
        let mut laddrs = HashSet::default();
        let mut dest_base = Vec::with_capacity(list.len());
        let mut dest_slot = HashMap::default();
        for (i, svc) in list.iter().enumerate() {
            let idx = ServiceIdx::try_from(i).map_err(|_| ServicesError::TooMany)?;
            if by_key.insert(svc.key, idx).is_some() {
                return Err(ServicesError::DuplicateService(svc.key));
            }
            for (j, d) in svc.dests.iter().enumerate() {
                if svc.dests[..j].iter().any(|e| e.addr == d.addr && e.port == d.port) {
                    return Err(ServicesError::DuplicateDest(svc.key, d.addr, d.port));
                }
            }
            dest_base.push(dest_slot.len());
            for d in &svc.dests {
                let slot = dest_slot.len();
                dest_slot.insert(d.id, slot);
            }
            if !svc.key.is_mark() {
                vips.insert(svc.key.vip);
            }
            laddrs.extend(svc.laddrs.iter().copied());
        }
        let real_addrs = list.iter().flat_map(|s| s.dests.iter().map(|d| d.addr)).collect();
        let cursors = list.iter().map(|_| Cursor::default()).collect();
        let nat = NatIndex::new(&list);
        Ok(Self {
            list,
            by_key,
            vips,
            laddrs,
            real_addrs,
            dest_base,
            dest_slot,
            cursors,
            marks: Classifier::default(),
            nat,
        })
    }

    /// The same services, counting `addrs` among the real servers' addresses too (those the
    /// health checks took out of the services).
    #[must_use]
    pub fn with_real_addrs(mut self, addrs: impl IntoIterator<Item = Ipv4Addr>) -> Self {
        self.real_addrs.extend(addrs);
        self
    }

    /// Whether `addr` is a real server's.
    #[inline]
    pub fn is_real_addr(&self, addr: Ipv4Addr) -> bool {
        self.real_addrs.contains(&addr)
    }

    /// The same services with this firewall-mark classifier; the addresses of its /32 rules become
    /// VIPs (answered to ARP and announced).
    #[must_use]
    pub fn with_marks(mut self, marks: Classifier) -> Self {
        self.vips.extend(marks.hosts());
        self.marks = marks;
        self
    }

    /// The firewall-mark classifier.
    pub fn marks(&self) -> &Classifier {
        &self.marks
    }

    /// The service for a key, with its index.
    #[inline]
    pub fn find(&self, key: &ServiceKey) -> Option<(ServiceIdx, &Service)> {
        let idx = *self.by_key.get(key)?;
        self.list.get(idx as usize).map(|s| (idx, s))
    }

    /// The service a packet to `vip:vport` belongs to: the fwmark service of the packet's mark, if
    /// the classifier gives it one and that service exists (IPVS looks fwmark services up first);
    /// otherwise the service of that exact key or, when there is none, the VIP's port-0 service of
    /// that protocol (IPVS's catch-all lookup for persistent port-0 services).
    #[inline]
    pub fn find_for_packet(&self, protocol: Protocol, vip: Ipv4Addr, vport: u16) -> Option<(ServiceIdx, &Service)> {
        if let Some(found) = self.marks.classify(protocol, vip, vport).and_then(|m| self.find(&ServiceKey::mark(m))) {
            return Some(found);
        }
        self.find(&ServiceKey { protocol, vip, vport, fwmark: 0 })
            .or_else(|| self.find(&ServiceKey { protocol, vip, vport: 0, fwmark: 0 }))
    }

    /// The service at an index of this snapshot.
    #[inline]
    pub fn get(&self, idx: ServiceIdx) -> Option<&Service> {
        self.list.get(idx as usize)
    }

    /// All services in configuration order.
    pub fn iter(&self) -> impl Iterator<Item = &Service> {
        self.list.iter()
    }

    /// Number of services.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether there are no services.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The dense index (over all services' real servers, in order) of real server `j` of service
    /// `svc`: its slot in a [`LoadBoard`](super::loads::LoadBoard).
    #[inline]
    pub fn dest_slot(&self, svc: ServiceIdx, j: usize) -> usize {
        self.dest_base.get(svc as usize).map_or(usize::MAX, |b| b + j)
    }

    /// The shared rr/wrr position of the service at `idx`.
    #[inline]
    pub fn cursor(&self, idx: ServiceIdx) -> Option<&Cursor> {
        self.cursors.get(idx as usize)
    }

    /// Carries the rr/wrr positions over from the previous configuration through the scheduler
    /// hooks the changes ran (`lb::sched::SchedHistory`): IPVS's rr keeps its place, wrr restarts
    /// at the list head with its weight clamped, and a new or rebound scheduler starts afresh.
    pub fn carry_cursors(&self, old: &Services, history: &SchedHistory) {
        for (s, new) in self.list.iter().zip(self.cursors.iter()) {
            let prev = old.find(&s.key).and_then(|(j, o)| Some((old.cursor(j)?.get(), o)));
            new.set(history.carry(s, prev));
        }
    }

    /// The slot of the real server with identity `id`, if this snapshot has it.
    #[inline]
    pub fn slot_of(&self, id: DestId) -> Option<usize> {
        self.dest_slot.get(&id).copied()
    }

    /// The number of real servers over all services.
    pub fn dest_count(&self) -> usize {
        self.dest_slot.len()
    }

    /// Whether `addr` is the VIP of some service.
    #[inline]
    pub fn is_vip(&self, addr: Ipv4Addr) -> bool {
        self.vips.contains(&addr)
    }

    /// The distinct VIPs.
    pub fn vips(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.vips.iter().copied()
    }

    /// Whether `addr` is a local address of some service.
    #[inline]
    pub fn is_laddr(&self, addr: Ipv4Addr) -> bool {
        self.laddrs.contains(&addr)
    }

    /// The NAT real servers (see `lb::nat_owner`).
    #[inline]
    pub fn nat(&self) -> &NatIndex {
        &self.nat
    }

    /// The distinct local addresses of all services.
    pub fn laddrs(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.laddrs.iter().copied()
    }
}

/// Why a set of services is not a valid snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServicesError {
    /// Two services share protocol, VIP and port.
    #[error("service {0} is defined twice")]
    DuplicateService(ServiceKey),
    /// A service lists the same real server twice.
    #[error("service {0}: real server {1}:{2} is listed twice")]
    DuplicateDest(ServiceKey, Ipv4Addr, u16),
    /// More services than an index can hold.
    #[error("too many services")]
    TooMany,
}

/// A TCP service of 10.0.0.100 on `vport` over `dests`, round robin, with no local address and no
/// persistence (tests).
#[cfg(test)]
pub(crate) fn sample_service(vport: u16, dests: Vec<RealServer>) -> Service {
    Service {
        key: ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 },
        scheduler: SchedKind::Rr,
        flags: SchedFlags::default(),
        dests,
        laddrs: vec![],
        persistence: None,
    }
}

#[cfg(test)]
mod tests {
    use super::sample_service as svc;
    use super::*;

    fn rs(id: u32, last: u8, weight: u32) -> RealServer {
        RealServer {
            id: DestId(id),
            addr: Ipv4Addr::new(192, 168, 1, last),
            port: 80,
            weight,
            method: FwdMethod::FullNat,
            upper: 0,
            lower: 0,
        }
    }

    #[test]
    fn services_are_found_by_key() {
        let s = Services::new(vec![svc(80, vec![rs(1, 1, 1)]), svc(443, vec![])]).unwrap();
        let key = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 443, fwmark: 0 };
        assert_eq!(s.find(&key).map(|(i, _)| i), Some(1));
        let udp = ServiceKey { protocol: Protocol::Udp, ..key };
        assert!(s.find(&udp).is_none());
        assert!(s.is_vip(Ipv4Addr::new(10, 0, 0, 100)));
        assert!(!s.is_vip(Ipv4Addr::new(10, 0, 0, 101)));
        assert_eq!(s.vips().count(), 1);
    }

    #[test]
    fn a_marked_packet_goes_to_its_fwmark_service_first() {
        use super::super::fwmark::{MarkRule, parse_ports};
        let vip = Ipv4Addr::new(10, 0, 0, 100);
        let fwm = Service { key: ServiceKey::mark(1), ..svc(0, vec![]) };
        let rule =
            |mark, ports| MarkRule { mark, dst: vip, prefix: 32, proto: None, ports: parse_ports(ports).unwrap() };
        // Mark 2 has no service: its packets fall back to the address lookup.
        let marks = Classifier::new(vec![rule(1, "80,443"), rule(2, "8080")]);
        let s = Services::new(vec![svc(80, vec![]), fwm]).unwrap().with_marks(marks);
        assert_eq!(s.find_for_packet(Protocol::Tcp, vip, 80).map(|(i, _)| i), Some(1));
        assert_eq!(s.find_for_packet(Protocol::Udp, vip, 443).map(|(i, _)| i), Some(1));
        assert!(s.find_for_packet(Protocol::Tcp, vip, 8080).is_none());
        assert!(s.find_for_packet(Protocol::Tcp, vip, 22).is_none());
        assert_eq!(s.vips().collect::<Vec<_>>(), vec![vip]);
        assert_eq!(ServiceKey::mark(1).to_string(), "FWM 1");
        let only_mark = Services::new(vec![Service { key: ServiceKey::mark(3), ..svc(0, vec![]) }]).unwrap();
        assert_eq!(only_mark.vips().count(), 0);
    }

    #[test]
    fn a_port_zero_service_catches_the_ports_without_their_own_service() {
        let pcc = Service { persistence: Some(Persistence::secs(360)), ..svc(0, vec![]) };
        let s = Services::new(vec![svc(80, vec![]), pcc]).unwrap();
        let vip = Ipv4Addr::new(10, 0, 0, 100);
        assert_eq!(s.find_for_packet(Protocol::Tcp, vip, 80).map(|(i, _)| i), Some(0));
        assert_eq!(s.find_for_packet(Protocol::Tcp, vip, 443).map(|(i, _)| i), Some(1));
        assert!(s.find_for_packet(Protocol::Udp, vip, 443).is_none());
        assert!(s.find_for_packet(Protocol::Tcp, Ipv4Addr::new(10, 0, 0, 101), 443).is_none());
    }

    #[test]
    fn masks_and_prefix_lengths() {
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 255, 0)), Some(24));
        assert_eq!(mask_prefix(Ipv4Addr::BROADCAST), Some(32));
        assert_eq!(mask_prefix(Ipv4Addr::UNSPECIFIED), Some(0));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 255, 128, 0)), Some(17));
        assert_eq!(mask_prefix(Ipv4Addr::new(255, 0, 255, 0)), None);
        assert_eq!(mask_prefix(Ipv4Addr::new(0, 0, 0, 255)), None);
        let p = Persistence::secs(360).with_netmask(24);
        assert_eq!(p.mask(), Ipv4Addr::new(255, 255, 255, 0));
        assert_eq!(p.client_net(Ipv4Addr::new(10, 0, 0, 77)), Ipv4Addr::new(10, 0, 0, 0));
        assert_eq!(Persistence::secs(360).client_net(Ipv4Addr::new(10, 0, 0, 77)), Ipv4Addr::new(10, 0, 0, 77));
        assert_eq!(p.with_netmask(0).client_net(Ipv4Addr::new(10, 0, 0, 77)), Ipv4Addr::UNSPECIFIED);
        assert_eq!((p.timeout_ms, p.timeout_secs()), (360_000, 360));
    }

    #[test]
    fn duplicates_are_refused() {
        let err = Services::new(vec![svc(80, vec![]), svc(80, vec![])]).unwrap_err();
        assert!(matches!(err, ServicesError::DuplicateService(_)));
        let err = Services::new(vec![svc(80, vec![rs(1, 1, 1), rs(2, 1, 5)])]).unwrap_err();
        assert!(matches!(err, ServicesError::DuplicateDest(..)));
    }
}
