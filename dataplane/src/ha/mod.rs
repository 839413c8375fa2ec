//! High availability: the protocols that let two or more gateways share virtual addresses.
//!
//! Each protocol is a sans-IO core, like the rest of the gateway: packets come in as bytes, time
//! comes in as `now`, and decisions (send this advertisement, announce these addresses) come out as
//! values for the caller to carry out. `vrrp::runner` carries them out for one VRRP instance on a
//! thread of its own; [`Ha`] ties the instances to the main lcore: which floating addresses this
//! gateway holds (the workers learn it from the snapshot), when to announce them, the notify
//! commands, the tracked links, and what `fnatctl --vrrp` and the metrics show. `sync` is the
//! connection-sync message that replicates connections from the master to the backups.

pub mod sync;
pub mod vrrp;

use std::net::Ipv4Addr;

use ctrl::msg::VrrpView;

use crate::hooks::Hooks;
use crate::net::PortIdx;
use crate::snapshot::Floating;
use vrrp::runner::{Command, Event, InstanceSpec, Runner, Status};

/// One instance as the main lcore follows it.
#[derive(Debug)]
struct Followed {
    spec: InstanceSpec,
    runner: Runner,
    status: Status,
    since_ms: u64,
    transitions: u64,
    /// A tracked link is down (as last told to the thread).
    fault: bool,
    sent: u64,
    received: u64,
    refused: u64,
    /// Gratuitous ARPs still to send, and when the next is due.
    garp: Option<(u32, u64)>,
}

/// What a tick changed.
#[derive(Debug, Default)]
pub struct Tick {
    /// The addresses held changed: publish a snapshot with [`Ha::floating`].
    pub floating_changed: bool,
    /// Addresses to announce now (gratuitous ARP).
    pub announce: Vec<Ipv4Addr>,
    /// Log lines (state changes, socket errors).
    pub log: Vec<String>,
    /// An instance became Backup: a master holds its addresses now (the sync daemon asks it for
    /// its connections).
    pub became_backup: bool,
}

/// The VRRP instances of a running fnatd.
#[derive(Debug)]
pub struct Ha {
    instances: Vec<Followed>,
    hooks: Hooks,
}

impl Ha {
    /// Starts a thread per instance; an instance whose socket cannot open fails the start.
    pub fn start(specs: &[InstanceSpec]) -> std::io::Result<Self> {
        let instances = specs
            .iter()
            .map(|spec| {
                Ok(Followed {
                    runner: Runner::start(spec)?,
                    spec: spec.clone(),
                    status: Status::Init,
                    since_ms: 0,
                    transitions: 0,
                    fault: false,
                    sent: 0,
                    received: 0,
                    refused: 0,
                    garp: None,
                })
            })
            .collect::<std::io::Result<_>>()?;
        Ok(Self { instances, hooks: Hooks::new("vrrp") })
    }

    /// Whether any instance is configured.
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
    }

    /// Follows the instances at `now`: tells each whether a tracked link is down (`link_up` says
    /// whether a port's link is up), takes their events, runs the notify commands, and says what
    /// the workers must learn.
    pub fn tick(&mut self, now: u64, link_up: impl Fn(PortIdx) -> bool) -> Tick {
        self.hooks.reap();
        let mut tick = Tick::default();
        for f in &mut self.instances {
            let fault = f.spec.track_ports.iter().any(|&p| !link_up(p));
            if fault != f.fault {
                f.fault = fault;
                f.runner.send(Command::Fault(fault));
            }
            for e in f.runner.events() {
                match e {
                    Event::Status(s) => {
                        let held = |s: Status| s == Status::Master;
                        tick.floating_changed |= held(s) != held(f.status);
                        if s.name() != f.status.name() {
                            f.since_ms = now;
                            f.transitions += 1;
                        }
                        f.status = s;
                        let line = describe(&f.spec, s);
                        let hook = match s {
                            Status::Master => f.spec.notify.master.as_deref(),
                            Status::Backup { .. } => f.spec.notify.backup.as_deref(),
                            Status::Fault => f.spec.notify.fault.as_deref(),
                            Status::Init => None,
                        };
                        if let Some(h) = hook {
                            self.hooks.run(h, &line);
                        }
                        if s != Status::Master {
                            f.garp = None;
                        }
                        tick.became_backup |= matches!(s, Status::Backup { .. });
                        tick.log.push(line);
                    }
                    Event::Announce => f.garp = Some((f.spec.garp_repeat.max(1), now)),
                    Event::Sent => f.sent += 1,
                    Event::Received { .. } => f.received += 1,
                    Event::Refused(_) => f.refused += 1,
                    Event::Error(e) => tick.log.push(format!("vrrp {}: {e}", f.spec.name)),
                }
            }
            if let Some((left, at)) = f.garp
                && now >= at
            {
                tick.announce.extend(&f.spec.instance.addresses);
                f.garp = (left > 1).then(|| (left - 1, now + f.spec.garp_interval_ms));
            }
        }
        tick.announce.sort_unstable();
        tick.announce.dedup();
        tick
    }

    /// The floating addresses and those this gateway does not hold: an address is held when an
    /// instance that has it is Master.
    pub fn floating(&self) -> Floating {
        floating(self.instances.iter().map(|f| (&f.spec, f.status == Status::Master)))
    }

    /// Each instance as `fnatctl --vrrp` shows it, `port_name` naming its port.
    pub fn views(&self, now: u64, port_name: impl Fn(PortIdx) -> String) -> Vec<VrrpView> {
        self.instances
            .iter()
            .map(|f| {
                let c = &f.spec.instance;
                VrrpView {
                    name: f.spec.name.clone(),
                    port: port_name(f.spec.port),
                    vrid: c.vrid,
                    priority: c.priority,
                    advert_interval_cs: c.advert_interval_cs,
                    preempt: c.preempt,
                    state: f.status.name().to_owned(),
                    master: match f.status {
                        Status::Master => Some(c.local_addr),
                        Status::Backup { master } => master,
                        Status::Init | Status::Fault => None,
                    },
                    addresses: c.addresses.clone(),
                    since_ms: now.saturating_sub(f.since_ms),
                    transitions: f.transitions,
                    adverts_sent: f.sent,
                    adverts_received: f.received,
                    adverts_refused: f.refused,
                }
            })
            .collect()
    }
}

/// The floating addresses of `instances` (each with whether it is Master now), and those not held.
pub fn floating<'a>(instances: impl Iterator<Item = (&'a InstanceSpec, bool)> + Clone) -> Floating {
    let mut all: Vec<Ipv4Addr> = instances.clone().flat_map(|(s, _)| s.instance.addresses.iter().copied()).collect();
    all.sort_unstable();
    all.dedup();
    let held: Vec<Ipv4Addr> =
        instances.filter(|(_, m)| *m).flat_map(|(s, _)| s.instance.addresses.iter().copied()).collect();
    let standby = all.iter().copied().filter(|a| !held.contains(a)).collect();
    Floating::new(all, standby)
}

/// The log line of an instance entering `s`.
fn describe(spec: &InstanceSpec, s: Status) -> String {
    let c = &spec.instance;
    match s {
        Status::Backup { master: Some(m) } => {
            format!("vrrp {} (vrid {}, priority {}): BACKUP, master {m}", spec.name, c.vrid, c.priority)
        }
        _ => format!("vrrp {} (vrid {}, priority {}): {}", spec.name, c.vrid, c.priority, s.name()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vrrp::InstanceConfig;

    fn spec(addrs: &[[u8; 4]]) -> InstanceSpec {
        InstanceSpec {
            name: "VI".into(),
            port: 0,
            iface: "lan".into(),
            instance: InstanceConfig {
                vrid: 1,
                priority: 100,
                advert_interval_cs: 100,
                preempt: true,
                preempt_delay_ms: 0,
                addresses: addrs.iter().map(|&a| Ipv4Addr::from(a)).collect(),
                local_addr: Ipv4Addr::new(10, 0, 0, 4),
            },
            unicast_peers: Vec::new(),
            track_ports: Vec::new(),
            notify: vrrp::runner::Notify::default(),
            garp_repeat: 1,
            garp_interval_ms: 0,
        }
    }

    #[test]
    fn an_address_is_held_when_any_instance_that_has_it_is_master() {
        let a = spec(&[[10, 0, 0, 100], [10, 1, 0, 10]]);
        let b = spec(&[[10, 1, 0, 10], [10, 1, 0, 1]]);
        let f = floating([(&a, false), (&b, false)].into_iter());
        assert_eq!(f.all().len(), 3);
        assert_eq!(f.standby(), f.all(), "nothing held before an instance is Master");
        let f = floating([(&a, true), (&b, false)].into_iter());
        assert_eq!(f.standby(), &[Ipv4Addr::new(10, 1, 0, 1)]);
        assert!(f.is_standby(Ipv4Addr::new(10, 1, 0, 1)) && !f.is_standby(Ipv4Addr::new(10, 1, 0, 10)));
        let f = floating([(&a, true), (&b, true)].into_iter());
        assert!(f.standby().is_empty() && f.is_floating(Ipv4Addr::new(10, 0, 0, 100)));
    }
}
