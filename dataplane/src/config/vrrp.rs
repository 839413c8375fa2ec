//! `[[vrrp]]`: VRRPv3 instances (RFC 5798), keepalived's `vrrp_instance` in fnatd's terms, and
//! `[sync]`: the connection-sync daemon (IPVS's `--start-daemon`).
//!
//! ```toml
//! [[vrrp]]
//! name = "VI_1"
//! port = "lan"                 # advertisements go out here; the port needs [port.kernel]
//! vrid = 51                    # 1..=255, once per port
//! priority = 150               # 1..=255 (255: the owner of the addresses, Master at once)
//! advert_interval_cs = 10      # centiseconds between advertisements (default 100: 1 s)
//! preempt = true               # take over from a master of lower priority (default true)
//! preempt_delay_ms = 0         # after this long (keepalived's preempt_delay)
//! addresses = ["10.0.0.100", "10.1.0.10", "10.1.0.1"]   # VIPs, local addresses, a next hop
//! unicast_peers = ["10.0.0.5"] # advertise to these instead of 224.0.0.18 (default none)
//! track_ports = ["lan", "dmz"] # a link down puts the instance in FAULT
//! notify_master = "/usr/local/bin/ha master"   # run (no shell) on becoming MASTER
//! notify_backup = "/usr/local/bin/ha backup"   # BACKUP
//! notify_fault = "/usr/local/bin/ha fault"     # FAULT
//! garp_repeat = 5              # gratuitous ARPs per address on becoming MASTER (default 5)
//! garp_interval_ms = 1000      # between them (default 1000)
//!
//! [sync]
//! master = true                # send this gateway's connections (--start-daemon master)
//! backup = true                # install the master's (--start-daemon backup); both may run
//! syncid = 1                   # 0..=255 (--syncid; default 0)
//! port = "lan"                 # the port the messages travel on (needs [port.kernel])
//! group = "224.0.0.81"         # the multicast group (default), or
//! peers = ["10.0.0.5"]         #   unicast peers instead
//! udp_port = 8848              # (default)
//! key = "00112233445566778899aabbccddeeff"   # 16..=64 bytes in hex, the same on every gateway
//! flush_ms = 20                # the longest a connection waits for its message (default 20)
//! ```

use std::net::Ipv4Addr;

use super::{ConfigError, PortConfig, Validator, raw};
use crate::ha::sync::SyncKey;
use crate::ha::sync::daemon::{DEFAULT_GROUP, DEFAULT_PORT, SyncConfig};
use crate::ha::vrrp::runner::{InstanceSpec, Notify};
use crate::ha::vrrp::{Instance, InstanceConfig};
use crate::net::PortIdx;

impl Validator<'_> {
    /// `[sync]`.
    pub(super) fn sync(&self, s: raw::Sync, ports: &[PortConfig]) -> Result<SyncConfig, ConfigError> {
        if !s.master && !s.backup {
            return Err(self.err("sync", "runs as master, backup or both: set master or backup to true"));
        }
        let syncid =
            u8::try_from(s.syncid.unwrap_or(0)).map_err(|_| self.err("sync.syncid", "must be from 0 to 255"))?;
        let port = self.port_idx("sync.port", &s.port, ports)?;
        let pc = &ports[usize::from(port)];
        let Some(kernel) = &pc.kernel else {
            return Err(self.err(
                "sync.port",
                format_args!("port '{}' has no [port.kernel]: sync messages travel through the twin", s.port),
            ));
        };
        let Some(local_addr) = pc.addrs.first().map(|n| n.addr) else {
            return Err(self.err("sync.port", format_args!("port '{}' has no address to send from", s.port)));
        };
        let group = match s.group.as_deref() {
            None => DEFAULT_GROUP,
            Some(g) => {
                let ip = self.ip("sync.group", g)?;
                if !ip.is_multicast() {
                    return Err(self.err("sync.group", format_args!("{ip} is not a multicast group")));
                }
                ip
            }
        };
        let peers = self.peers("sync.peers", &s.peers, local_addr)?;
        if s.group.is_some() && !peers.is_empty() {
            return Err(self.err("sync.peers", "goes without sync.group: messages go to the group or the peers"));
        }
        let udp_port = match s.udp_port.unwrap_or(u32::from(DEFAULT_PORT)) {
            p @ 1..=65535 => u16::try_from(p).unwrap_or(DEFAULT_PORT),
            _ => return Err(self.err("sync.udp_port", "must be from 1 to 65535")),
        };
        let key = SyncKey::from_hex(&s.key).map_err(|e| self.err("sync.key", e))?;
        let flush_ms = match s.flush_ms.unwrap_or(20) {
            n @ 1..=1000 => n,
            _ => return Err(self.err("sync.flush_ms", "must be from 1 to 1000")),
        };
        Ok(SyncConfig {
            master: s.master,
            backup: s.backup,
            syncid,
            port_name: s.port,
            iface: kernel.iface.clone(),
            local_addr,
            group,
            peers,
            udp_port,
            key,
            flush_ms,
        })
    }

    /// The `[[vrrp]]` tables, in order.
    pub(super) fn vrrp(&self, raw: Vec<raw::Vrrp>, ports: &[PortConfig]) -> Result<Vec<InstanceSpec>, ConfigError> {
        let mut out: Vec<InstanceSpec> = Vec::with_capacity(raw.len());
        for (i, v) in raw.into_iter().enumerate() {
            let f = format!("vrrp[{i}]");
            let spec = self.instance(&f, v, ports)?;
            if out.iter().any(|o| o.name == spec.name) {
                return Err(self.err(format_args!("{f}.name"), format_args!("another instance is '{}'", spec.name)));
            }
            if out.iter().any(|o| o.port == spec.port && o.instance.vrid == spec.instance.vrid) {
                return Err(self.err(
                    format_args!("{f}.vrid"),
                    format_args!("another instance on this port has vrid {}", spec.instance.vrid),
                ));
            }
            out.push(spec);
        }
        Ok(out)
    }

    /// Other gateways' unicast addresses (`field`), `local` being this one's.
    fn peers(&self, field: &str, list: &[String], local: Ipv4Addr) -> Result<Vec<Ipv4Addr>, ConfigError> {
        list.iter()
            .enumerate()
            .map(|(j, a)| {
                let field = format!("{field}[{j}]");
                let ip = self.ip(&field, a)?;
                if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip == local {
                    return Err(self.err(&field, format_args!("{ip} is not another gateway's unicast address")));
                }
                Ok(ip)
            })
            .collect()
    }

    fn instance(&self, f: &str, v: raw::Vrrp, ports: &[PortConfig]) -> Result<InstanceSpec, ConfigError> {
        if v.name.is_empty()
            || v.name.len() > 32
            || !v.name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(self.err(format_args!("{f}.name"), "must be 1 to 32 letters, digits, '_', '-' or '.'"));
        }
        let port = self.port_idx(format_args!("{f}.port"), &v.port, ports)?;
        let pc = &ports[usize::from(port)];
        let Some(kernel) = &pc.kernel else {
            return Err(self.err(
                format_args!("{f}.port"),
                format_args!("port '{}' has no [port.kernel]: VRRP speaks through the port's kernel twin", v.port),
            ));
        };
        let Some(local_addr) = pc.addrs.first().map(|n| n.addr) else {
            return Err(
                self.err(format_args!("{f}.port"), format_args!("port '{}' has no address to advertise from", v.port))
            );
        };
        let byte = |name: &str, n: u32, lo: u32| {
            u8::try_from(n)
                .ok()
                .filter(|&b| u32::from(b) >= lo)
                .ok_or_else(|| self.err(format_args!("{f}.{name}"), format_args!("must be from {lo} to 255")))
        };
        let vrid = byte("vrid", v.vrid, 1)?;
        let priority = byte("priority", v.priority, 1)?;
        let advert_interval_cs = match v.advert_interval_cs.unwrap_or(100) {
            n @ 1..=4095 => u16::try_from(n).unwrap_or(100),
            _ => {
                return Err(self.err(
                    format_args!("{f}.advert_interval_cs"),
                    "must be from 1 to 4095 centiseconds (10 ms to 40.95 s)",
                ));
            }
        };
        let preempt_delay_ms = match v.preempt_delay_ms.unwrap_or(0) {
            d @ 0..=3_600_000 => d,
            _ => return Err(self.err(format_args!("{f}.preempt_delay_ms"), "must be at most 3600000 (an hour)")),
        };
        let mut addresses = Vec::with_capacity(v.addresses.len());
        for (j, a) in v.addresses.iter().enumerate() {
            let field = format!("{f}.addresses[{j}]");
            let ip = self.ip(&field, a)?;
            if ip.is_unspecified() || ip.is_multicast() || ip.is_broadcast() || ip.is_loopback() {
                return Err(self.err(&field, format_args!("{ip} is not a unicast address")));
            }
            if let Some(p) = ports.iter().find(|p| p.addrs.iter().any(|n| n.addr == ip)) {
                return Err(self.err(
                    &field,
                    format_args!("{ip} is port '{}''s own address: a floating address belongs to no port", p.name),
                ));
            }
            if addresses.contains(&ip) {
                return Err(self.err(&field, format_args!("{ip} is listed twice")));
            }
            addresses.push(ip);
        }
        let unicast_peers = self.peers(&format!("{f}.unicast_peers"), &v.unicast_peers, local_addr)?;
        let mut track_ports: Vec<PortIdx> = Vec::new();
        for (j, name) in v.track_ports.iter().enumerate() {
            let p = self.port_idx(format_args!("{f}.track_ports[{j}]"), name, ports)?;
            if !track_ports.contains(&p) {
                track_ports.push(p);
            }
        }
        let instance = InstanceConfig {
            vrid,
            priority,
            advert_interval_cs,
            preempt: v.preempt.unwrap_or(true),
            preempt_delay_ms,
            addresses,
            local_addr,
        };
        Instance::new(instance.clone()).map_err(|e| self.err(f, e))?;
        let notify = Notify {
            master: self.command(f, "notify_master", v.notify_master.as_deref())?,
            backup: self.command(f, "notify_backup", v.notify_backup.as_deref())?,
            fault: self.command(f, "notify_fault", v.notify_fault.as_deref())?,
        };
        let garp_repeat = match v.garp_repeat.unwrap_or(5) {
            n @ 1..=100 => n,
            _ => return Err(self.err(format_args!("{f}.garp_repeat"), "must be from 1 to 100")),
        };
        let garp_interval_ms = match v.garp_interval_ms.unwrap_or(1000) {
            n @ 0..=60_000 => n,
            _ => return Err(self.err(format_args!("{f}.garp_interval_ms"), "must be at most 60000 (a minute)")),
        };
        Ok(InstanceSpec {
            name: v.name,
            port,
            iface: kernel.iface.clone(),
            instance,
            unicast_peers,
            track_ports,
            notify,
            garp_repeat,
            garp_interval_ms,
        })
    }
}
