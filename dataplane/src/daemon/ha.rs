//! fnatd's high availability on the main lcore: the VRRP instances ([`crate::ha::Ha`]) and the
//! connection-sync daemon ([`SyncDaemon`]), turned each tick into what the workers must learn
//! (floating addresses held, announcements, whether to note connections, connections to
//! install), and the `--start-daemon`/`--stop-daemon`/`-L --daemon` commands.

use std::cell::RefCell;

use ctrl::msg::{Command, DaemonView, SyncRole};

use crate::config::Config;
use crate::control::MainLoop;
use crate::ha::Ha;
use crate::ha::sync::daemon::{SyncConfig, SyncDaemon};
use crate::ha::sync::{MAX_MESSAGE_LEN, RecordKind, SyncRecord};
use crate::net::PortIdx;

/// What a tick asks of the caller.
#[derive(Debug, Default)]
pub struct HaTick {
    /// Publish a snapshot with these floating addresses and this sync role.
    pub republish: bool,
}

/// The VRRP instances and the sync daemon of a running fnatd.
#[derive(Debug)]
pub struct HaGlue {
    /// The VRRP instances.
    pub vrrp: Ha,
    sync: RefCell<Option<SyncDaemon>>,
    /// `[sync]` as configured: the key, group and port `--start-daemon` uses.
    base: Option<SyncConfig>,
    /// The ports: name, twin interface, first address (`--mcast-interface`).
    ports: Vec<(String, Option<String>, Option<std::net::Ipv4Addr>)>,
    noted: Vec<SyncRecord>,
    installs: Vec<Vec<SyncRecord>>,
    /// Templates received, installed by the control lcore (they are the gateway's).
    templates: Vec<SyncRecord>,
    /// The sync daemon's role changed since the last snapshot.
    role_changed: std::cell::Cell<bool>,
}

impl HaGlue {
    /// Starts the configured VRRP instances and sync daemon (a backup asks the master for every
    /// connection at once).
    pub fn start(cfg: &Config) -> std::io::Result<Self> {
        let vrrp = Ha::start(&cfg.vrrp)?;
        let mut sync = cfg.sync.clone().map(SyncDaemon::start).transpose()?;
        if let Some(d) = sync.as_mut() {
            d.ask_resync();
        }
        let ports = cfg
            .ports
            .iter()
            .map(|p| (p.name.clone(), p.kernel.as_ref().map(|k| k.iface.clone()), p.addrs.first().map(|n| n.addr)))
            .collect();
        Ok(Self {
            vrrp,
            sync: RefCell::new(sync),
            base: cfg.sync.clone(),
            ports,
            noted: Vec::new(),
            installs: vec![Vec::new(); cfg.worker_lcores.len()],
            templates: Vec::new(),
            role_changed: std::cell::Cell::new(false),
        })
    }

    /// Whether the workers note their connections for the backups.
    pub fn sync_master(&self) -> bool {
        self.sync.borrow().as_ref().is_some_and(|d| d.config().master)
    }

    /// One turn at `now`: VRRP (with the links' states), then the sync daemon's sending and
    /// receiving through `main`. Log lines are printed here.
    pub fn tick(&mut self, now: u64, main: &mut MainLoop, link_up: impl Fn(PortIdx) -> bool) -> HaTick {
        let vrrp = self.vrrp.tick(now, link_up);
        for l in &vrrp.log {
            println!("fnatd: {l}");
        }
        if !vrrp.announce.is_empty() {
            main.announce(&vrrp.announce);
        }
        let mut sync = self.sync.borrow_mut();
        if let Some(d) = sync.as_mut() {
            main.drain_sync(|r| self.noted.push(r));
            d.send(now, self.noted.drain(..));
            if vrrp.became_backup {
                d.ask_resync();
            }
            let n = self.installs.len().max(1);
            let (installs, templates) = (&mut self.installs, &mut self.templates);
            let resync = d.receive(now, |w, r| match r.kind {
                RecordKind::Conn => installs[usize::from(w) % n].push(r),
                RecordKind::Template => templates.push(r),
            });
            for r in self.templates.drain(..) {
                crate::control::templates::install_synced(main.templates(), main.snapshot(), &r, now);
            }
            if resync {
                main.request_resync();
                crate::control::templates::synced_records(main.templates(), now, |r| self.noted.push(r));
            }
            for (w, records) in self.installs.iter_mut().enumerate() {
                if !records.is_empty() {
                    let batch = std::mem::take(records).into_boxed_slice();
                    main.sync_install(u16::try_from(w).unwrap_or(0), batch);
                }
            }
        }
        HaTick { republish: vrrp.floating_changed || self.role_changed.replace(false) }
    }

    /// The configuration changed: a sync backup asks again (records refused for want of a
    /// service may find it now).
    pub fn config_changed(&self) {
        if let Some(d) = self.sync.borrow_mut().as_mut() {
            d.ask_resync();
        }
    }

    /// `--start-daemon` / `--stop-daemon`: the daemon restarts with the new roles (one socket
    /// serves both, so both run on one port and sync id).
    pub fn sync_command(&self, command: &Command) -> Result<(), String> {
        let base = self
            .base
            .as_ref()
            .ok_or("connection sync needs [sync] in fnatd's configuration: its key authenticates the messages")?;
        let mut sync = self.sync.borrow_mut();
        let mut cfg = sync
            .as_ref()
            .map_or_else(|| SyncConfig { master: false, backup: false, ..base.clone() }, |d| d.config().clone());
        let running = |cfg: &SyncConfig, role: SyncRole| match role {
            SyncRole::Master => cfg.master,
            SyncRole::Backup => cfg.backup,
        };
        match command {
            Command::StartDaemon { role, syncid, interface } => {
                if running(&cfg, *role) {
                    return Err(format!("a {} sync daemon runs already", role.name()));
                }
                let Some((_, iface, addr)) = self.ports.iter().find(|p| p.0 == *interface) else {
                    return Err(format!("fnatd has no port '{interface}'"));
                };
                let (Some(iface), Some(addr)) = (iface, addr) else {
                    return Err(format!("port '{interface}' needs [port.kernel] and an address to carry sync"));
                };
                let other = cfg.master || cfg.backup;
                if other && (cfg.port_name != *interface || cfg.syncid != *syncid) {
                    return Err(format!(
                        "the other sync daemon runs on {} with syncid {}: both run on one port and sync id",
                        cfg.port_name, cfg.syncid
                    ));
                }
                cfg.port_name.clone_from(interface);
                cfg.iface.clone_from(iface);
                cfg.local_addr = *addr;
                cfg.syncid = *syncid;
                match role {
                    SyncRole::Master => cfg.master = true,
                    SyncRole::Backup => cfg.backup = true,
                }
            }
            Command::StopDaemon { role } => {
                if !running(&cfg, *role) {
                    return Err(format!("no {} sync daemon runs", role.name()));
                }
                match role {
                    SyncRole::Master => cfg.master = false,
                    SyncRole::Backup => cfg.backup = false,
                }
            }
            _ => return Err("not a sync daemon command".into()),
        }
        let was_master = sync.as_ref().is_some_and(|d| d.config().master);
        *sync = None;
        if cfg.master || cfg.backup {
            let mut d = SyncDaemon::start(cfg).map_err(|e| e.to_string())?;
            d.ask_resync();
            *sync = Some(d);
        }
        if was_master != sync.as_ref().is_some_and(|d| d.config().master) {
            self.role_changed.set(true);
        }
        Ok(())
    }

    /// `-L --daemon`: the roles running, master first, with what the daemon counted.
    pub fn daemons(&self) -> Vec<DaemonView> {
        let sync = self.sync.borrow();
        let Some(d) = sync.as_ref() else { return Vec::new() };
        let (c, k) = (d.config(), d.counters());
        [(c.master, SyncRole::Master), (c.backup, SyncRole::Backup)]
            .into_iter()
            .filter(|(on, _)| *on)
            .map(|(_, role)| DaemonView {
                role,
                interface: c.port_name.clone(),
                syncid: c.syncid,
                group: c.peers.is_empty().then_some(c.group),
                port: c.udp_port,
                maxlen: u16::try_from(MAX_MESSAGE_LEN).unwrap_or(u16::MAX),
                sent: k.sent,
                sent_records: k.sent_records,
                received: k.received,
                received_records: k.received_records,
                dropped: k.dropped.iter().map(|(r, n)| ((*r).to_owned(), *n)).collect(),
                lag_ms: k.lag_ms,
                resyncs_asked: k.resyncs_asked,
                resyncs_answered: k.resyncs_answered,
            })
            .collect()
    }
}
