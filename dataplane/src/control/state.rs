//! The authoritative service configuration, owned by fnatd's main (control) lcore.
//!
//! [`ControlState`] starts from the configuration file and changes only through [`ControlState::apply`],
//! which applies the commands of one request as one transaction: they run on a copy, in order, and the
//! copy replaces the state only if every command succeeded and the result is consistent; otherwise
//! the state is exactly as before. The workers never see this structure: after a change, fnatd
//! publishes [`ControlState::services`], an immutable [`Services`] snapshot.
//!
//! Semantics follow IPVS: adding what exists and editing or deleting what does not are errors; a real
//! server keeps its [`DestId`] when edited (so its connections and counters survive) and a new one
//! gets an id never used before in this process; real servers keep the order they were added in (the
//! schedulers depend on it). fnat-specific: only FULLNAT forwarding and only the rr/wrr schedulers
//! for now; a service created at runtime gets the default local addresses (`[local] addresses`); a
//! service with FULLNAT real servers must keep at least one local address; an address is never both a
//! VIP and a local address.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::msg::{Command, CtrlError, DestSpec, DestView, Listing, Reply, Request, ServiceSpec, ServiceView};
use crate::config::Config;
use crate::lb::service::ServicesError;
use crate::lb::{DestId, FwdMethod, RealServer, Service, ServiceKey, Services};

/// Active and inactive connection counts of a real server, summed over the workers.
pub type ConnCounts<'a> = &'a dyn Fn(DestId) -> (u32, u32);

/// A service with its creation rank (listings and snapshots keep creation order).
#[derive(Clone, Debug)]
struct Entry {
    rank: u64,
    svc: Service,
}

/// The service configuration fnatd holds; see the module docs.
#[derive(Clone, Debug)]
pub struct ControlState {
    services: HashMap<ServiceKey, Entry>,
    next_rank: u64,
    next_dest_id: u32,
    default_laddrs: Vec<Ipv4Addr>,
    conn_table_size: usize,
    generation: u64,
}

impl ControlState {
    /// The state a configuration starts with: its services, its `[local] addresses` as the default
    /// local addresses of new services, its per-worker connection-table size.
    pub fn from_config(cfg: &Config) -> Self {
        Self::new(&cfg.services, cfg.local_addrs.clone(), cfg.conn_table_size)
    }

    /// A state holding `services`, with `default_laddrs` for services created later.
    pub fn new(services: &Services, default_laddrs: Vec<Ipv4Addr>, conn_table_size: usize) -> Self {
        let mut state = Self {
            services: HashMap::with_capacity(services.len()),
            next_rank: 0,
            next_dest_id: 0,
            default_laddrs,
            conn_table_size,
            generation: 0,
        };
        for svc in services.iter() {
            if let Some(max) = svc.dests.iter().map(|d| d.id.0).max() {
                state.next_dest_id = state.next_dest_id.max(max.saturating_add(1));
            }
            state.insert(svc.clone());
        }
        state
    }

    fn insert(&mut self, svc: Service) {
        let rank = self.next_rank;
        self.next_rank += 1;
        self.services.insert(svc.key, Entry { rank, svc });
    }

    /// Counts committed changes: it grows by one for every request that changed the configuration.
    /// fnatd publishes a new snapshot when it has moved.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The number of services.
    pub fn len(&self) -> usize {
        self.services.len()
    }

    /// Whether there is no service.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty()
    }

    /// Applies the commands of `req` as one transaction (see the module docs). Returns the listing
    /// when the request holds a [`Command::List`] (taken at its place in the request, with `counts`
    /// supplying each real server's connection counts). A request without changes leaves
    /// [`ControlState::generation`] as it was.
    pub fn apply(&mut self, req: &Request, counts: ConnCounts<'_>) -> Result<Option<Listing>, CtrlError> {
        if req.commands.is_empty() {
            return Err(CtrlError::Invalid("empty request: no command".into()));
        }
        let lists = req.commands.iter().filter(|c| matches!(c, Command::List { .. })).count();
        if lists > 1 {
            return Err(CtrlError::Invalid("a request holds at most one List command".into()));
        }
        if !req.commands.iter().any(Command::is_change) {
            let Some(Command::List { svc }) = req.commands.first() else {
                return Ok(None);
            };
            return self.listing(*svc, counts).map(Some);
        }
        let mut work = self.clone();
        let mut listing = None;
        for cmd in &req.commands {
            match cmd {
                Command::List { svc } => listing = Some(work.listing(*svc, counts)?),
                change => work.change(change)?,
            }
        }
        work.check()?;
        work.generation += 1;
        *self = work;
        Ok(listing)
    }

    /// [`ControlState::apply`] as the reply to send: `Done`, the listing, or the error; a request that
    /// did not decode is answered with its error.
    pub fn answer(&mut self, request: Result<Request, CtrlError>, counts: ConnCounts<'_>) -> Reply {
        match request.and_then(|req| self.apply(&req, counts)) {
            Ok(None) => Reply::Done,
            Ok(Some(listing)) => Reply::Listing(listing),
            Err(e) => Reply::Error(e),
        }
    }

    fn change(&mut self, cmd: &Command) -> Result<(), CtrlError> {
        match *cmd {
            Command::AddService(spec) => self.add_service(spec),
            Command::EditService(spec) => {
                self.services.get_mut(&spec.key).ok_or(CtrlError::NoSuchService(spec.key))?.svc.scheduler =
                    spec.scheduler;
                Ok(())
            }
            Command::DelService(key) => self.services.remove(&key).map(drop).ok_or(CtrlError::NoSuchService(key)),
            Command::Clear => {
                self.services.clear();
                Ok(())
            }
            Command::AddDest { svc, dest } => self.add_dest(svc, dest),
            Command::EditDest { svc, dest } => {
                let s = self.service_mut(svc)?;
                check_dest(&dest)?;
                let d = s
                    .dests
                    .iter_mut()
                    .find(|d| d.addr == dest.addr && d.port == dest.port)
                    .ok_or(CtrlError::NoSuchDest { svc, addr: dest.addr, port: dest.port })?;
                d.weight = dest.weight;
                d.method = dest.method;
                Ok(())
            }
            Command::DelDest { svc, addr, port } => {
                let s = self.service_mut(svc)?;
                let i = s.dests.iter().position(|d| d.addr == addr && d.port == port).ok_or(CtrlError::NoSuchDest {
                    svc,
                    addr,
                    port,
                })?;
                s.dests.remove(i);
                Ok(())
            }
            Command::AddLaddr { svc, addr } => self.add_laddr(svc, addr),
            Command::DelLaddr { svc, addr } => {
                let s = self.service_mut(svc)?;
                let i = s.laddrs.iter().position(|&a| a == addr).ok_or(CtrlError::NoSuchLaddr { svc, addr })?;
                s.laddrs.remove(i);
                Ok(())
            }
            Command::List { .. } => Ok(()),
        }
    }

    fn service_mut(&mut self, key: ServiceKey) -> Result<&mut Service, CtrlError> {
        self.services.get_mut(&key).map(|e| &mut e.svc).ok_or(CtrlError::ServiceNotDefined(key))
    }

    fn add_service(&mut self, spec: ServiceSpec) -> Result<(), CtrlError> {
        let key = spec.key;
        if self.services.contains_key(&key) {
            return Err(CtrlError::ServiceExists(key));
        }
        if key.vport == 0 {
            return Err(CtrlError::NotSupported("port 0 (all ports, with persistence)".into()));
        }
        check_unicast("virtual address", key.vip)?;
        if self.default_laddrs.contains(&key.vip) || self.is_laddr(key.vip) {
            return Err(CtrlError::Invalid(format!("virtual address {} is a local address", key.vip)));
        }
        self.insert(Service { key, scheduler: spec.scheduler, dests: Vec::new(), laddrs: self.default_laddrs.clone() });
        Ok(())
    }

    fn add_dest(&mut self, svc: ServiceKey, dest: DestSpec) -> Result<(), CtrlError> {
        let id = DestId(self.next_dest_id);
        let s = self.service_mut(svc)?;
        check_dest(&dest)?;
        if s.dests.iter().any(|d| d.addr == dest.addr && d.port == dest.port) {
            return Err(CtrlError::DestExists { svc, addr: dest.addr, port: dest.port });
        }
        s.dests.push(RealServer { id, addr: dest.addr, port: dest.port, weight: dest.weight, method: dest.method });
        self.next_dest_id =
            self.next_dest_id.checked_add(1).ok_or_else(|| CtrlError::Invalid("no real server ids left".into()))?;
        Ok(())
    }

    fn add_laddr(&mut self, svc: ServiceKey, addr: Ipv4Addr) -> Result<(), CtrlError> {
        if !self.services.contains_key(&svc) {
            return Err(CtrlError::ServiceNotDefined(svc));
        }
        check_unicast("local address", addr)?;
        if self.services.keys().any(|k| k.vip == addr) {
            return Err(CtrlError::Invalid(format!("local address {addr} is a virtual service address")));
        }
        let s = self.service_mut(svc)?;
        if s.laddrs.contains(&addr) {
            return Err(CtrlError::LaddrExists { svc, addr });
        }
        s.laddrs.push(addr);
        Ok(())
    }

    fn is_laddr(&self, addr: Ipv4Addr) -> bool {
        self.services.values().any(|e| e.svc.laddrs.contains(&addr))
    }

    /// The consistency a whole transaction must leave behind.
    fn check(&self) -> Result<(), CtrlError> {
        for e in self.sorted() {
            let s = &e.svc;
            if s.laddrs.is_empty() && s.dests.iter().any(|d| d.method == FwdMethod::FullNat) {
                return Err(CtrlError::Invalid(format!(
                    "service {} has FULLNAT real servers but no local address",
                    s.key
                )));
            }
        }
        Ok(())
    }

    fn sorted(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.services.values().collect();
        v.sort_unstable_by_key(|e| e.rank);
        v
    }

    /// The snapshot for the workers: every service in creation order.
    pub fn services(&self) -> Result<Services, ServicesError> {
        Services::new(self.sorted().into_iter().map(|e| e.svc.clone()).collect())
    }

    /// The services (all, or only `svc`) as fnatctl lists them, in creation order.
    pub fn listing(&self, svc: Option<ServiceKey>, counts: ConnCounts<'_>) -> Result<Listing, CtrlError> {
        let view = |s: &Service| ServiceView {
            spec: ServiceSpec { key: s.key, scheduler: s.scheduler },
            laddrs: s.laddrs.clone(),
            dests: s
                .dests
                .iter()
                .map(|d| {
                    let (active, inactive) = counts(d.id);
                    DestView {
                        id: d.id,
                        spec: DestSpec { addr: d.addr, port: d.port, weight: d.weight, method: d.method },
                        active,
                        inactive,
                    }
                })
                .collect(),
        };
        let services = match svc {
            Some(key) => {
                let e = self.services.get(&key).ok_or(CtrlError::NoSuchService(key))?;
                vec![view(&e.svc)]
            }
            None => self.sorted().into_iter().map(|e| view(&e.svc)).collect(),
        };
        Ok(Listing { conn_table_size: self.conn_table_size, services })
    }
}

/// A real server's values: weight 0..=65535, port 1..=65535, a unicast address, FULLNAT.
fn check_dest(d: &DestSpec) -> Result<(), CtrlError> {
    if d.weight > 65535 {
        return Err(CtrlError::Invalid(format!("weight {} is out of range (0 to 65535)", d.weight)));
    }
    if d.port == 0 {
        return Err(CtrlError::Invalid("real server port 0 is out of range (1 to 65535)".into()));
    }
    check_unicast("real server address", d.addr)?;
    let flag = match d.method {
        FwdMethod::FullNat => return Ok(()),
        FwdMethod::Nat => "-m",
        FwdMethod::Dr => "-g",
        FwdMethod::Tun => "-i",
    };
    Err(CtrlError::NotSupported(format!("forwarding method {} ({flag})", d.method.ipvs_name())))
}

/// Refuses 0.0.0.0, the broadcast address, multicast, loopback and class E addresses.
fn check_unicast(what: &str, addr: Ipv4Addr) -> Result<(), CtrlError> {
    let reserved = addr.octets()[0] >= 240;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() || reserved {
        return Err(CtrlError::Invalid(format!("{what} {addr} is not a unicast address")));
    }
    Ok(())
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
