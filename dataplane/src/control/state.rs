//! The authoritative service configuration, owned by fnatd's main (control) lcore.
//!
//! [`ControlState`] starts from the configuration file and changes only through [`ControlState::apply`],
//! which applies the commands of one request as one transaction: they run on a copy, in order, and the
//! copy replaces the state only if every command succeeded and the result is consistent; otherwise
//! the state is exactly as before. The workers never see this structure: after a change, fnatd
//! publishes [`ControlState::services`] and [`ControlState::timeouts`] in a new snapshot.
//!
//! Semantics follow IPVS: adding what exists and editing or deleting what does not are errors; a real
//! server keeps its [`DestId`] when edited (so its connections and counters survive) and a new one
//! gets an id never used before in this process; real servers keep the order they were added in (the
//! schedulers depend on it). Each real server has its own forwarding method, so a service may mix
//! them, and `-e` may change it (connections keep the method they started with). Direct routing and
//! tunnelling cannot map ports: their real server's port is the service's. `--set` changes the
//! ESTABLISHED, FIN_WAIT and UDP timeouts (0 keeps one, at most 31 days).
//!
//! `-E` replaces a service's scheduler, scheduler flags and persistence (any flags with any
//! scheduler, as the kernel: fnatctl and the configuration check ipvsadm's scheduler-specific
//! names). Persistence (`-p`) has a timeout of 1 s to 31 days in whole seconds and a netmask prefix
//! of 0 to 32; a port-0 service (every port of its VIP) must be persistent ("Zero port specified
//! for non-persistent service", ipvsadm's words), and its real servers have port 0 (each connection
//! keeps the port it was sent to). `-a`/`-e` set a
//! real server's weight, method and connection thresholds together (`-e` replaces them all): each
//! threshold is 0 to 2147483647 (ipvsadm's `INT_MAX`) and, as IPVS, the lower one may not be above
//! the upper one.
//!
//! fnat-specific: a service created at runtime gets the default local addresses (`[local]
//! addresses`); a service with FULLNAT real servers must keep at least one local address; an address
//! is never both a VIP and a local address.
//!
//! Connections are the workers' business: the state reaches them, and the per-real-server counts,
//! through a [`Gateway`] that fnatd implements over its workers.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;

use ctrl::limits::{self, AddrRole, Violation};
use ctrl::msg::{
    Command, ConnListing, CounterReport, CtrlError, DestSpec, DestView, Listing, Reply, Request, ServiceSpec,
    ServiceView,
};
use ctrl::shm::DEFAULT_MAX_PAYLOAD;
use ctrl::vocab::{Counters, Rates};

mod health;
mod marks;

pub use health::DownMode;

use crate::lb::fwmark::Classifier;
use crate::lb::sched::SchedHistory;
use crate::lb::service::ServicesError;
use crate::lb::{DestId, FwdMethod, RealServer, Service, ServiceKey, Services, TcpState, Timeouts};

/// What the state asks of the running gateway: what only the workers know.
pub trait Gateway {
    /// Active and inactive connections of a real server, summed over the workers.
    fn conn_counts(&self, dest: DestId) -> (u32, u32);
    /// Up to `max` connections (of one service, or all), and how many more there were.
    fn connections(&self, svc: Option<ServiceKey>, max: usize) -> ConnListing;
    /// A real server's traffic counters and rates, summed over the workers.
    fn dest_stats(&self, _dest: DestId) -> (Counters, Rates) {
        Default::default()
    }
    /// A service's traffic counters and rates.
    fn service_stats(&self, _svc: &ServiceKey) -> (Counters, Rates) {
        Default::default()
    }
    /// Zeroes the traffic counters and rates of one service and its real servers, or of everything.
    fn zero(&self, _svc: Option<(ServiceKey, &[DestId])>) {}
    /// The counters of every port and worker, and the gateway's traffic.
    fn counters(&self) -> CounterReport {
        CounterReport::default()
    }
    /// What the health checks found of the checked real servers (none without a checker).
    fn health(&self) -> Vec<ctrl::msg::HealthView> {
        Vec::new()
    }
    /// Reads the health checks' rules again from the configuration file (`--reload-checks`);
    /// the error says why the file was refused (nothing changed then).
    fn reload_checks(&self) -> Result<(), String> {
        Err("this gateway runs no health checker".into())
    }
    /// The VRRP instances (none without `[[vrrp]]`).
    fn vrrp(&self) -> Vec<ctrl::msg::VrrpView> {
        Vec::new()
    }
    /// Starts or stops a sync daemon (`--start-daemon`, `--stop-daemon`); the error says why not.
    fn sync_daemon(&self, _command: &Command) -> Result<(), String> {
        Err("this gateway runs no connection sync".into())
    }
    /// The sync daemons running.
    fn daemons(&self) -> Vec<ctrl::msg::DaemonView> {
        Vec::new()
    }
}

/// A gateway without connections: every count is zero, every connection listing empty (tools,
/// tests, and fnatd before its workers run).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoConnections;

impl Gateway for NoConnections {
    fn conn_counts(&self, _: DestId) -> (u32, u32) {
        (0, 0)
    }

    fn connections(&self, _: Option<ServiceKey>, _: usize) -> ConnListing {
        ConnListing::default()
    }
}

/// A service with its creation rank (listings and snapshots keep creation order).
#[derive(Clone, Debug)]
struct Entry {
    rank: u64,
    svc: Service,
}

/// How many services use each virtual address (address services) and each local address: kept
/// beside the services so that a change's address checks take constant time (a restore of 10,000
/// services would otherwise scan them all for each one).
#[derive(Clone, Debug, Default)]
struct Uses {
    vips: HashMap<Ipv4Addr, u32>,
    laddrs: HashMap<Ipv4Addr, u32>,
}

impl Uses {
    fn count(map: &mut HashMap<Ipv4Addr, u32>, addr: Ipv4Addr, up: bool) {
        let n = map.entry(addr).or_insert(0);
        if up {
            *n += 1;
        } else {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&addr);
            }
        }
    }

    /// A service comes (`up`) or goes.
    fn service(&mut self, s: &Service, up: bool) {
        if !s.key.is_mark() {
            Self::count(&mut self.vips, s.key.vip, up);
        }
        for &a in &s.laddrs {
            Self::count(&mut self.laddrs, a, up);
        }
    }
}

/// The service configuration fnatd holds; see the module docs.
#[derive(Clone, Debug)]
pub struct ControlState {
    services: HashMap<ServiceKey, Entry>,
    uses: Uses,
    next_rank: u64,
    next_dest_id: u32,
    default_laddrs: Vec<Ipv4Addr>,
    conn_table_size: usize,
    timeouts: Timeouts,
    max_payload: u64,
    generation: u64,
    /// The firewall-mark classifier.
    marks: Classifier,
    /// The services the current transaction created that still have the default local addresses:
    /// the first `AddLaddr` of such a service replaces them, so a restore (`-A` then its
    /// `--add-laddr` lines in one request) recreates exactly the saved local addresses.
    fresh: HashSet<ServiceKey>,
    /// The scheduler hooks the changes since the last snapshot ran, for carrying the rr/wrr
    /// positions over ([`ControlState::take_history`]).
    history: SchedHistory,
    /// The real servers their health checks found down, and how they are taken out (`health`).
    down: HashMap<DestId, DownMode>,
    /// The weights `misc_dynamic` checks set (`health`).
    weights: HashMap<DestId, u32>,
    /// The sorry servers of services whose quorum is lost (`health`).
    sorry: HashMap<ServiceKey, RealServer>,
}

impl ControlState {
    /// The firewall-mark classifier's rules, in matching order.
    pub fn mark_rules(&self) -> &[crate::lb::fwmark::MarkRule] {
        self.marks.rules()
    }

    /// A state holding `services`, with `default_laddrs` for services created later, with IPVS's
    /// default timeouts.
    pub fn new(services: &Services, default_laddrs: Vec<Ipv4Addr>, conn_table_size: usize) -> Self {
        let mut state = Self {
            services: HashMap::with_capacity(services.len()),
            uses: Uses::default(),
            next_rank: 0,
            next_dest_id: 0,
            default_laddrs,
            conn_table_size,
            timeouts: Timeouts::default(),
            max_payload: DEFAULT_MAX_PAYLOAD,
            generation: 0,
            marks: services.marks().clone(),
            fresh: HashSet::new(),
            history: SchedHistory::default(),
            down: HashMap::new(),
            weights: HashMap::new(),
            sorry: HashMap::new(),
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
        self.uses.service(&svc, true);
        if let Some(old) = self.services.insert(svc.key, Entry { rank, svc }) {
            self.uses.service(&old.svc, false);
        }
    }

    /// The same state with these timeouts (milliseconds, as the workers use them).
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The connection timeouts the workers should use (milliseconds).
    pub fn timeouts(&self) -> &Timeouts {
        &self.timeouts
    }

    /// Sets the largest reply payload the transport carries ([`Server::max_payload`]); connection
    /// listings are cut to fit well below it ([`ConnListing::max_entries`]). The default is the
    /// default rings' ([`DEFAULT_MAX_PAYLOAD`]).
    ///
    /// [`Server::max_payload`]: super::Server::max_payload
    pub fn set_max_payload(&mut self, bytes: u64) {
        self.max_payload = bytes;
    }

    /// The most connections one listing holds.
    pub fn max_conns(&self) -> usize {
        ConnListing::max_entries(self.max_payload)
    }

    /// Counts committed changes: it grows by one for every request that changed the configuration
    /// (services or timeouts). fnatd publishes a new snapshot when it has moved.
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

    /// Applies the commands of `req` as one transaction (see the module docs) and returns the
    /// answer: [`Reply::Done`], or the answer to the request's one query ([`Command::List`],
    /// [`Command::GetTimeouts`] or [`Command::ListConns`]) taken at its place in the request (so it
    /// sees the commands before it). `gw` supplies what only the workers know: connection counts
    /// and connections. A request without changes leaves [`ControlState::generation`] as it was.
    /// Never `Ok(Reply::Error(_))`.
    pub fn apply(&mut self, req: &Request, gw: &dyn Gateway) -> Result<Reply, CtrlError> {
        if req.commands.is_empty() {
            return Err(CtrlError::Invalid("empty request: no command".into()));
        }
        if req.commands.iter().filter(|c| c.is_query()).count() > 1 {
            return Err(CtrlError::Invalid(
                "a request holds at most one query (List, GetTimeouts or ListConns)".into(),
            ));
        }
        if !req.commands.iter().any(Command::is_change) {
            // One command, a query: no copy needed.
            return req.commands.first().map_or(Ok(Reply::Done), |q| self.query(q, gw));
        }
        if req.commands.iter().any(|c| matches!(c, Command::Zero { .. })) {
            // Zeroing acts at once; within a transaction a later failure could not undo it.
            return Err(CtrlError::Invalid("zeroing counters is a request of its own, without changes".into()));
        }
        self.transact(&req.commands, gw).map_err(|(_, e)| e)
    }

    /// Applies `commands`, changes only, as one transaction, as [`ControlState::apply`] does (the
    /// configuration file's services come this way, so they pass the same checks as fnatctl's).
    /// The error says which command failed, by its place; `None` for the check of the whole
    /// transaction.
    pub fn apply_changes<'a>(
        &mut self,
        commands: impl IntoIterator<Item = &'a Command>,
    ) -> Result<(), (Option<usize>, CtrlError)> {
        let commands: Vec<&Command> = commands.into_iter().collect();
        if let Some(i) = commands.iter().position(|c| !c.is_change() || matches!(c, Command::Zero { .. })) {
            return Err((Some(i), CtrlError::Invalid("not a change".into())));
        }
        self.transact(commands, &NoConnections).map(drop)
    }

    /// The transaction of [`ControlState::apply`] and [`ControlState::apply_changes`]: the
    /// commands run in order on a copy (a query answered where it stands), the copy's consistency
    /// is checked, and it replaces the state only then. The error names the failing command by its
    /// place (`None`: the final check).
    fn transact<'a>(
        &mut self,
        commands: impl IntoIterator<Item = &'a Command>,
        gw: &dyn Gateway,
    ) -> Result<Reply, (Option<usize>, CtrlError)> {
        let mut work = self.clone();
        work.fresh.clear();
        let mut reply = Reply::Done;
        for (i, cmd) in commands.into_iter().enumerate() {
            if cmd.is_query() {
                reply = work.query(cmd, gw).map_err(|e| (Some(i), e))?;
            } else {
                work.change(cmd).map_err(|e| (Some(i), e))?;
            }
        }
        work.check().map_err(|e| (None, e))?;
        work.prune_down();
        work.generation += 1;
        *self = work;
        Ok(reply)
    }

    /// [`ControlState::apply`] as the reply to send: `Done`, the query's answer, or the error; a
    /// request that did not decode is answered with its error.
    pub fn answer(&mut self, request: Result<Request, CtrlError>, gw: &dyn Gateway) -> Reply {
        request.and_then(|req| self.apply(&req, gw)).unwrap_or_else(Reply::Error)
    }

    /// The answer to a query.
    fn query(&self, cmd: &Command, gw: &dyn Gateway) -> Result<Reply, CtrlError> {
        match *cmd {
            Command::List { svc, traffic } => self.listing_with(svc, traffic, gw).map(Reply::Listing),
            Command::GetTimeouts => {
                let secs = |ms: u64| u32::try_from(ms / 1000).unwrap_or(u32::MAX);
                let t = &self.timeouts;
                Ok(Reply::Timeouts {
                    tcp: secs(t.tcp(TcpState::Established)),
                    tcpfin: secs(t.tcp(TcpState::FinWait)),
                    udp: secs(t.udp),
                })
            }
            Command::ListConns { svc } => self.connections(svc, gw).map(Reply::Conns),
            Command::ListMarks => Ok(Reply::Marks(self.marks.rules().to_vec())),
            Command::ListHealth => Ok(Reply::Health(gw.health())),
            Command::ListVrrp => Ok(Reply::Vrrp(gw.vrrp())),
            Command::ListDaemons => Ok(Reply::Daemons(gw.daemons())),
            Command::StartDaemon { .. } | Command::StopDaemon { .. } => {
                gw.sync_daemon(cmd).map(|()| Reply::Done).map_err(CtrlError::Invalid)
            }
            Command::ReloadChecks => gw.reload_checks().map(|()| Reply::Done).map_err(CtrlError::Invalid),
            Command::Zero { svc: None } => {
                gw.zero(None);
                Ok(Reply::Done)
            }
            Command::Zero { svc: Some(key) } => {
                let e = self.services.get(&key).ok_or(CtrlError::NoSuchService(key))?;
                let dests: Vec<DestId> = e.svc.dests.iter().map(|d| d.id).collect();
                gw.zero(Some((key, &dests)));
                Ok(Reply::Done)
            }
            Command::Counters => Ok(Reply::Counters(gw.counters())),
            _ => Ok(Reply::Done),
        }
    }

    /// The connections (all, or of `svc`, which must exist), at most [`ControlState::max_conns`]
    /// of them, with the rest counted in `omitted`.
    pub fn connections(&self, svc: Option<ServiceKey>, gw: &dyn Gateway) -> Result<ConnListing, CtrlError> {
        if let Some(key) = svc
            && !self.services.contains_key(&key)
        {
            return Err(CtrlError::NoSuchService(key));
        }
        let max = self.max_conns();
        let mut l = gw.connections(svc, max);
        if l.conns.len() > max {
            let extra = u64::try_from(l.conns.len() - max).unwrap_or(u64::MAX);
            l.omitted = l.omitted.saturating_add(extra);
            l.conns.truncate(max);
        }
        Ok(l)
    }

    fn change(&mut self, cmd: &Command) -> Result<(), CtrlError> {
        match *cmd {
            Command::AddService(spec) => self.add_service(spec),
            Command::EditService(spec) => {
                let s = &mut self.services.get_mut(&spec.key).ok_or(CtrlError::NoSuchService(spec.key))?.svc;
                limits::check_service(&spec.key, spec.persistence)?;
                if s.scheduler != spec.scheduler {
                    // IPVS binds the new scheduler afresh; the same one keeps its state.
                    self.history.bound(spec.key, &s.dests);
                }
                s.scheduler = spec.scheduler;
                s.flags = spec.flags;
                s.persistence = spec.persistence;
                Ok(())
            }
            Command::DelService(key) => {
                let e = self.services.remove(&key).ok_or(CtrlError::NoSuchService(key))?;
                self.uses.service(&e.svc, false);
                self.history.forget(&key);
                Ok(())
            }
            Command::Clear => {
                // The whole table: the services and the classifier rules that `-S` saves with them,
                // so that `-C` followed by `-R` of a saved file restores it.
                self.services.clear();
                self.uses = Uses::default();
                self.marks = Classifier::new(Vec::new());
                self.history.clear();
                Ok(())
            }
            Command::AddDest { svc, dest } => self.add_dest(svc, dest),
            Command::EditDest { svc, dest } => {
                let (s, history) = self.with_history(svc)?;
                check_dest(svc, &dest)?;
                let d = s
                    .dests
                    .iter_mut()
                    .find(|d| d.addr == dest.addr && d.port == dest.port)
                    .ok_or(CtrlError::NoSuchDest { svc, addr: dest.addr, port: dest.port })?;
                d.weight = dest.weight;
                d.method = dest.method;
                d.upper = dest.upper;
                d.lower = dest.lower;
                history.changed(svc, &s.dests);
                Ok(())
            }
            Command::DelDest { svc, addr, port } => {
                let (s, history) = self.with_history(svc)?;
                let i = s.dests.iter().position(|d| d.addr == addr && d.port == port).ok_or(CtrlError::NoSuchDest {
                    svc,
                    addr,
                    port,
                })?;
                let before = i.checked_sub(1).and_then(|j| s.dests.get(j)).map(|d| d.id);
                let gone = s.dests.remove(i);
                history.deleted(svc, gone.id, before, &s.dests);
                Ok(())
            }
            Command::AddLaddr { svc, addr } => self.add_laddr(svc, addr),
            Command::DelLaddr { svc, addr } => {
                let s = self.service_mut(svc)?;
                let i = s.laddrs.iter().position(|&a| a == addr).ok_or(CtrlError::NoSuchLaddr { svc, addr })?;
                s.laddrs.remove(i);
                Uses::count(&mut self.uses.laddrs, addr, false);
                Ok(())
            }
            Command::SetTimeouts { tcp, tcpfin, udp } => self.set_timeouts(tcp, tcpfin, udp),
            Command::AddMark(ref rule) => self.add_mark(rule),
            Command::DelMark(ref rule) => self.del_mark(rule),
            Command::List { .. }
            | Command::GetTimeouts
            | Command::ListConns { .. }
            | Command::ListMarks
            | Command::Zero { .. }
            | Command::Counters
            | Command::ListHealth
            | Command::ReloadChecks
            | Command::ListVrrp
            | Command::StartDaemon { .. }
            | Command::StopDaemon { .. }
            | Command::ListDaemons => Ok(()),
        }
    }

    /// `--set tcp tcpfin udp`, in seconds; 0 keeps a value.
    fn set_timeouts(&mut self, tcp: u32, tcpfin: u32, udp: u32) -> Result<(), CtrlError> {
        limits::check_timeouts(tcp, tcpfin, udp)?;
        let set = |slot: &mut u64, secs: u32| {
            if secs != 0 {
                *slot = u64::from(secs) * 1000;
            }
        };
        let t = &mut self.timeouts;
        set(&mut t.tcp[TcpState::Established as usize], tcp);
        set(&mut t.tcp[TcpState::FinWait as usize], tcpfin);
        set(&mut t.udp, udp);
        Ok(())
    }

    fn service_mut(&mut self, key: ServiceKey) -> Result<&mut Service, CtrlError> {
        Ok(self.with_history(key)?.0)
    }

    /// The service `key` and the record of scheduler hooks, for a change of its real servers.
    fn with_history(&mut self, key: ServiceKey) -> Result<(&mut Service, &mut SchedHistory), CtrlError> {
        let s = self.services.get_mut(&key).map(|e| &mut e.svc).ok_or(CtrlError::ServiceNotDefined(key))?;
        Ok((s, &mut self.history))
    }

    fn add_service(&mut self, spec: ServiceSpec) -> Result<(), CtrlError> {
        let key = spec.key;
        if self.services.contains_key(&key) {
            return Err(CtrlError::ServiceExists(key));
        }
        limits::check_service(&key, spec.persistence)?;
        if !key.is_mark() && (self.default_laddrs.contains(&key.vip) || self.is_laddr(key.vip)) {
            return Err(Violation::VipIsLocal(key.vip).into());
        }
        self.insert(Service {
            key,
            scheduler: spec.scheduler,
            flags: spec.flags,
            dests: Vec::new(),
            laddrs: self.default_laddrs.clone(),
            persistence: spec.persistence,
        });
        self.fresh.insert(key);
        self.history.bound(key, &[]);
        Ok(())
    }

    fn add_dest(&mut self, svc: ServiceKey, dest: DestSpec) -> Result<(), CtrlError> {
        let id = DestId(self.next_dest_id);
        let (s, history) = self.with_history(svc)?;
        check_dest(svc, &dest)?;
        if s.dests.iter().any(|d| d.addr == dest.addr && d.port == dest.port) {
            return Err(CtrlError::DestExists { svc, addr: dest.addr, port: dest.port });
        }
        // At the head of the list, as IPVS's `__ip_vs_update_dest` (`list_add_rcu`).
        s.dests.insert(
            0,
            RealServer {
                id,
                addr: dest.addr,
                port: dest.port,
                weight: dest.weight,
                method: dest.method,
                upper: dest.upper,
                lower: dest.lower,
            },
        );
        history.changed(svc, &s.dests);
        self.next_dest_id =
            self.next_dest_id.checked_add(1).ok_or_else(|| CtrlError::Invalid("no real server ids left".into()))?;
        Ok(())
    }

    fn add_laddr(&mut self, svc: ServiceKey, addr: Ipv4Addr) -> Result<(), CtrlError> {
        if !self.services.contains_key(&svc) {
            return Err(CtrlError::ServiceNotDefined(svc));
        }
        limits::check_unicast(AddrRole::Local, addr)?;
        if self.uses.vips.contains_key(&addr) || self.marks.hosts().any(|h| h == addr) {
            return Err(Violation::LocalIsVip(addr).into());
        }
        let fresh = self.fresh.remove(&svc);
        let Self { services, uses, .. } = self;
        let s = &mut services.get_mut(&svc).ok_or(CtrlError::ServiceNotDefined(svc))?.svc;
        if fresh {
            for a in s.laddrs.drain(..) {
                Uses::count(&mut uses.laddrs, a, false);
            }
        }
        if s.laddrs.contains(&addr) {
            return Err(CtrlError::LaddrExists { svc, addr });
        }
        s.laddrs.push(addr);
        Uses::count(&mut uses.laddrs, addr, true);
        Ok(())
    }

    fn is_laddr(&self, addr: Ipv4Addr) -> bool {
        self.uses.laddrs.contains_key(&addr)
    }

    /// The consistency a whole transaction must leave behind.
    fn check(&self) -> Result<(), CtrlError> {
        for e in self.sorted() {
            let s = &e.svc;
            if s.laddrs.is_empty() && s.dests.iter().any(|d| d.method == FwdMethod::FullNat) {
                return Err(Violation::FullNatWithoutLocal(s.key).into());
            }
        }
        Ok(())
    }

    fn sorted(&self) -> Vec<&Entry> {
        let mut v: Vec<&Entry> = self.services.values().collect();
        v.sort_unstable_by_key(|e| e.rank);
        v
    }

    /// The scheduler hooks run since the last call, for the next snapshot's
    /// [`Services::carry_cursors`]; the state forgets them.
    pub fn take_history(&mut self) -> SchedHistory {
        std::mem::take(&mut self.history)
    }

    /// The services of the first snapshot (fnatd's start): [`ControlState::services`] with the
    /// rr/wrr positions where the changes recorded so far leave them, as IPVS's hooks move them (a
    /// series of `-a` leaves wrr at the weight the kernel reaches). The record stays until
    /// [`ControlState::take_history`].
    pub fn first_services(&self) -> Result<Services, ServicesError> {
        let s = self.services()?;
        s.carry_cursors(&Services::default(), &self.history);
        Ok(s)
    }

    /// The snapshot for the workers: every service in creation order, without the real servers
    /// their checks found down (or with those at weight 0: `health`).
    pub fn services(&self) -> Result<Services, ServicesError> {
        let configured = self.services.values().flat_map(|e| e.svc.dests.iter().map(|d| d.addr));
        Services::new(self.sorted().into_iter().map(|e| self.effective(&e.svc).into_owned()).collect())
            .map(|s| s.with_marks(self.marks.clone()).with_real_addrs(configured))
    }

    /// The services (all, or only `svc`) as fnatctl lists them, in creation order, with each real
    /// server's connection counts from `gw`.
    pub fn listing(&self, svc: Option<ServiceKey>, gw: &dyn Gateway) -> Result<Listing, CtrlError> {
        self.listing_with(svc, false, gw)
    }

    /// [`ControlState::listing`], with every service's and real server's traffic counters and
    /// rates when `traffic` is set. As the workers see the services: a real server found down is
    /// left out or shown at weight 0, as ipvsadm shows keepalived's table.
    pub fn listing_with(&self, svc: Option<ServiceKey>, traffic: bool, gw: &dyn Gateway) -> Result<Listing, CtrlError> {
        self.listing_of(svc, traffic, gw, true)
    }

    /// The services as configured, whatever their checks found: what the rules file keeps.
    pub fn configured(&self) -> Result<Listing, CtrlError> {
        self.listing_of(None, false, &NoConnections, false)
    }

    fn listing_of(
        &self,
        svc: Option<ServiceKey>,
        traffic: bool,
        gw: &dyn Gateway,
        effective: bool,
    ) -> Result<Listing, CtrlError> {
        let view = |s: &Service| {
            let s = if effective { self.effective(s) } else { std::borrow::Cow::Borrowed(s) };
            let s = &*s;
            let (stats, rates) = if traffic { gw.service_stats(&s.key) } else { Default::default() };
            ServiceView {
                spec: ServiceSpec { key: s.key, scheduler: s.scheduler, flags: s.flags, persistence: s.persistence },
                laddrs: s.laddrs.clone(),
                dests: s
                    .dests
                    .iter()
                    .map(|d| {
                        let (active, inactive) = gw.conn_counts(d.id);
                        let (stats, rates) = if traffic { gw.dest_stats(d.id) } else { Default::default() };
                        DestView {
                            id: d.id,
                            spec: DestSpec {
                                addr: d.addr,
                                port: d.port,
                                weight: d.weight,
                                method: d.method,
                                upper: d.upper,
                                lower: d.lower,
                            },
                            active,
                            inactive,
                            stats,
                            rates,
                        }
                    })
                    .collect(),
                stats,
                rates,
            }
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

/// A real server's values, as [`limits::check_dest`] and [`limits::check_thresholds`] take them.
fn check_dest(svc: ServiceKey, d: &DestSpec) -> Result<(), CtrlError> {
    limits::check_thresholds(d.upper, d.lower)?;
    Ok(limits::check_dest(&svc, d.addr, d.port, d.weight, d.method)?)
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "state_persist_tests.rs"]
mod persist_tests;

#[cfg(test)]
#[path = "state_sched_tests.rs"]
mod sched_tests;
