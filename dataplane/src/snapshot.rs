//! The immutable forwarding configuration that every worker reads.
//!
//! Built by the control side (at start from the config file, later from `fnatctl` changes); shared
//! by the workers through an `Arc` that each worker derefs without touching the reference count per
//! packet. A configuration change builds a new snapshot and hands it to every worker between bursts;
//! nothing in a snapshot is ever mutated. Neighbours change far more often than configuration and
//! travel separately (`net::NeighTable`).

use std::net::Ipv4Addr;
use std::sync::Arc;

use crate::config::Config;
use crate::lb::loads::LoadBoard;
use crate::lb::rss::{PortSteering, Steering};
use crate::lb::{Services, Timeouts};
use crate::net::{Interface, Route, RouteTable};
use crate::packet::MacAddr;

/// Everything a worker needs to forward, apart from its own per-core state and the neighbours.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Virtual services and their real servers.
    pub services: Services,
    /// The gateway's ports, indexed by `PortIdx`.
    pub ifaces: Vec<Interface>,
    /// Routes, connected ones included.
    pub routes: RouteTable,
    /// Static routes as configured (kept to build the next snapshot).
    pub statics: Vec<Route>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// How many workers forward with it.
    pub workers: usize,
    /// End a connection whose real server was deleted at its next packet (IPVS's
    /// `expire_nodest_conn`); otherwise it lives on until it ends or expires.
    pub expire_nodest_conn: bool,
    /// A persistence template whose real server has weight 0 is not followed (IPVS's
    /// `expire_quiescent_template`); by default a quiesced server keeps its persistent clients.
    pub expire_quiescent_template: bool,
    /// Gateway-wide connection counts of its real servers (one row per worker).
    pub loads: LoadBoard,
    /// How each port's replies reach their worker, indexed by `PortIdx` (decided at start; empty:
    /// no port is steered by RSS).
    pub steering: Arc<[PortSteering]>,
    /// The smallest MTU of the ports (0 without ports): a packet no longer than this fits any
    /// egress, so only longer ones are checked against theirs.
    pub min_mtu: u16,
    /// The addresses VRRP moves between gateways, and which of them this one does not hold now.
    pub floating: Floating,
    /// The workers note their connections for the backups (the sync daemon runs as master).
    pub sync_master: bool,
}

/// The addresses of the VRRP instances (VIPs, local addresses, a floating next hop) and those this
/// gateway does not hold now, being Backup or in Fault: it neither answers ARP for them nor opens
/// connections to them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floating {
    all: Arc<[Ipv4Addr]>,
    standby: Arc<[Ipv4Addr]>,
}

impl Floating {
    /// Every floating address, and those not held now.
    pub fn new(all: Vec<Ipv4Addr>, standby: Vec<Ipv4Addr>) -> Self {
        Self { all: all.into(), standby: standby.into() }
    }

    /// Whether `addr` is floating and not held now.
    #[inline]
    pub fn is_standby(&self, addr: Ipv4Addr) -> bool {
        !self.standby.is_empty() && self.standby.contains(&addr)
    }

    /// Whether `addr` is floating (held or not).
    #[inline]
    pub fn is_floating(&self, addr: Ipv4Addr) -> bool {
        self.all.contains(&addr)
    }

    /// The floating addresses.
    pub fn all(&self) -> &[Ipv4Addr] {
        &self.all
    }

    /// Those not held now.
    pub fn standby(&self) -> &[Ipv4Addr] {
        &self.standby
    }
}

impl Snapshot {
    /// A snapshot over these parts; the route table gains the connected routes of `ifaces`.
    pub fn new(
        services: Services,
        ifaces: Vec<Interface>,
        statics: &[Route],
        timeouts: Timeouts,
        workers: usize,
    ) -> Self {
        let routes = RouteTable::new(&ifaces, statics);
        let loads = LoadBoard::new(workers, services.dest_count());
        let min_mtu = ifaces.iter().map(|i| i.mtu).min().unwrap_or(0);
        Self {
            min_mtu,
            services,
            ifaces,
            routes,
            statics: statics.to_vec(),
            timeouts,
            workers,
            loads,
            expire_nodest_conn: false,
            expire_quiescent_template: false,
            steering: Arc::new([]),
            floating: Floating::default(),
            sync_master: false,
        }
    }

    /// The snapshot a configuration describes, given the MAC address each port really has.
    pub fn from_config(cfg: &Config, macs: &[MacAddr]) -> Self {
        let s = Self::new(
            cfg.services.clone(),
            cfg.interfaces(macs),
            &cfg.routes,
            cfg.timeouts.clone(),
            cfg.worker_lcores.len(),
        );
        // Nothing is held before an instance becomes Master.
        Self {
            expire_nodest_conn: cfg.expire_nodest_conn,
            expire_quiescent_template: cfg.expire_quiescent_template,
            floating: crate::ha::floating(cfg.vrrp.iter().map(|v| (v, false))),
            sync_master: cfg.sync.as_ref().is_some_and(|s| s.master),
            ..s
        }
    }

    /// The same network with other services.
    pub fn with_services(&self, services: Services) -> Self {
        self.with_config(services, self.timeouts.clone())
    }

    /// The same network with other services and timeouts.
    pub fn with_config(&self, services: Services, timeouts: Timeouts) -> Self {
        let s = Self::new(services, self.ifaces.clone(), &self.statics, timeouts, self.workers);
        Self {
            expire_nodest_conn: self.expire_nodest_conn,
            expire_quiescent_template: self.expire_quiescent_template,
            steering: Arc::clone(&self.steering),
            floating: self.floating.clone(),
            sync_master: self.sync_master,
            ..s
        }
    }

    /// The same snapshot with other floating addresses held.
    #[must_use]
    pub fn with_floating(self, floating: Floating) -> Self {
        Self { floating, ..self }
    }

    /// The same snapshot with the ports' steering.
    #[must_use]
    pub fn with_steering(self, steering: Vec<PortSteering>) -> Self {
        Self { steering: steering.into(), ..self }
    }

    /// The port's steering where the packets to `addr` leave (and so, on a symmetric network,
    /// where the packets from `addr` arrive).
    #[inline]
    fn steering_toward(&self, addr: Ipv4Addr) -> Option<&PortSteering> {
        let (port, _) = self.routes.lookup(addr)?;
        self.steering.get(usize::from(port))
    }

    /// The RSS by which the FULLNAT ports of local address `lip` are chosen, if they are: the
    /// steering of the port where replies to it arrive.
    pub fn lip_steering(&self, lip: Ipv4Addr) -> Option<&Arc<Steering>> {
        self.steering_toward(lip)?.port_choice()
    }

    /// The RSS of the port where the packets of `client` arrive, when fnatd knows it.
    #[inline]
    pub fn client_rss(&self, client: Ipv4Addr) -> Option<&Steering> {
        self.steering_toward(client)?.rss.as_deref()
    }

    /// Whether `addr` is one of the gateway's own addresses now: a VIP, a local address, a port's,
    /// or a floating address, unless VRRP has it held by another gateway.
    #[inline]
    pub fn is_own(&self, addr: Ipv4Addr) -> bool {
        (self.services.is_vip(addr)
            || self.services.is_laddr(addr)
            || self.ifaces.iter().any(|i| i.owns(addr))
            || self.floating.is_floating(addr))
            && !self.floating.is_standby(addr)
    }
}
