//! fnatd's configuration file (TOML): parsing and validation.
//!
//! Parsing happens in two steps. Serde reads the file into the `raw` structures, refusing unknown
//! fields (a typo is an error, not a silent default). Validation then turns them into a [`Config`] of
//! typed values, or fails with an error that names the file, the field (`service[1].real_server[0].port`)
//! and the problem. Nothing here touches DPDK.

use std::collections::HashSet;
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};

use ctrl::limits::{self, AddrRole};

use crate::control::ControlState;
use crate::lb::conn::MAX_CAPACITY;
use crate::lb::{Services, Timeouts};
use crate::net::reasm::ReasmLimits;
use crate::net::{Interface, Ipv4Net, KernelPath, Neighbour, PortIdx, Route};
use crate::packet::MacAddr;

/// A configuration error: which file, which field, what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{file}: cannot read: {source}")]
    Read {
        /// The file.
        file: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, or a field has the wrong type or is unknown.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: PathBuf,
        /// The parser's message, with line, column and field.
        message: String,
    },
    /// A field has a value fnatd cannot use.
    #[error("{file}: {field}: {problem}")]
    Invalid {
        /// The file.
        file: PathBuf,
        /// The field's path, e.g. `port[0].addresses[1]`.
        field: String,
        /// What is wrong with it.
        problem: String,
    },
}

/// How DPDK finds a port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortDevice {
    /// A PCI device, e.g. `0000:03:00.0` (passed to EAL as `-a`).
    Pci(String),
    /// A virtual device string, e.g. `net_af_packet0,iface=veth0` (passed as `--vdev`).
    Vdev(String),
}

impl PortDevice {
    /// The name DPDK gives the port: the PCI address, or the vdev name before the first comma.
    pub fn dpdk_name(&self) -> &str {
        match self {
            Self::Pci(a) => a,
            Self::Vdev(s) => s.split(',').next().unwrap_or(s),
        }
    }
}

/// One port of the gateway.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortConfig {
    /// The operator's name for it.
    pub name: String,
    /// How DPDK finds it.
    pub device: PortDevice,
    /// A MAC address to set instead of the device's own.
    pub mac: Option<MacAddr>,
    /// The port's own addresses with their connected prefixes.
    pub addrs: Vec<Ipv4Net>,
    /// RX descriptors per queue.
    pub rx_desc: u16,
    /// TX descriptors per queue.
    pub tx_desc: u16,
    /// The MTU set on the device, when configured; the forwarding code uses it (or 1500) to know
    /// what fits once tunnelled.
    pub mtu: Option<u16>,
    /// How replies to the local addresses behind this port reach the worker that owns their
    /// connection (`steering`, default `auto`).
    pub steering: SteerChoice,
    /// The RSS key (`rss_key`): set on a device that does RSS; on a device without RSS, the key
    /// its peer spreads frames by (with `peer_reta_size`). `None`: the device's own key, or the
    /// default key for a peer.
    pub rss_key: Option<Vec<u8>>,
    /// For a device without RSS whose peer spreads frames over the queues by the Toeplitz hash
    /// (memif with fnat-gen): the peer's redirection table size, its entries naming the queues
    /// in turn.
    pub peer_reta_size: Option<usize>,
    /// The port's kernel twin (`[port.kernel]`), when it has one.
    pub kernel: Option<KernelPath>,
}

/// What the configuration asks of a port's steering (see `lb::rss::SteerMode` for what each
/// does; fnatd says at start what it got).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SteerChoice {
    /// RSS where fnatd knows the port's hashing, else rte_flow rules where the device takes them,
    /// else the redirect ring.
    Auto,
    /// RSS, else the redirect ring.
    Rss,
    /// rte_flow rules, else the redirect ring.
    Flow,
    /// The redirect ring only.
    Redirect,
}

/// EAL settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EalConfig {
    /// The lcore that runs fnatd's main (control) loop.
    pub main_lcore: u32,
    /// Run without hugepages.
    pub no_huge: bool,
    /// Memory for DPDK in MiB.
    pub memory_mb: u32,
    /// The runtime file prefix (several DPDK processes on one host need different ones).
    pub file_prefix: String,
    /// Further EAL arguments, passed verbatim.
    pub extra_args: Vec<String>,
}

/// The validated configuration of fnatd.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub file: PathBuf,
    /// EAL settings.
    pub eal: EalConfig,
    /// The lcores that run one poll-mode worker each.
    pub worker_lcores: Vec<u32>,
    /// The CPU each worker's lcore runs on (`[workers] cpus`), when not the CPU of its number:
    /// several lcores may share a CPU (tests and benchmarks on small machines).
    pub worker_cpus: Option<Vec<u32>>,
    /// Connection-table capacity per worker.
    pub conn_table_size: usize,
    /// Ports in configuration order (index = `PortIdx`).
    pub ports: Vec<PortConfig>,
    /// FULLNAT local addresses.
    pub local_addrs: Vec<Ipv4Addr>,
    /// The local port range shared among the workers.
    pub local_ports: RangeInclusive<u16>,
    /// Static neighbours.
    pub neighbours: Vec<Neighbour>,
    /// Static routes.
    pub routes: Vec<Route>,
    /// Connection timeouts.
    pub timeouts: Timeouts,
    /// IPVS's `expire_nodest_conn`: a connection whose real server was deleted is ended at its next
    /// packet (which is dropped) instead of living on until it ends or expires.
    pub expire_nodest_conn: bool,
    /// IPVS's `expire_quiescent_template`: a persistence template whose real server has weight 0 is
    /// no longer followed (by default a quiesced server keeps its persistent clients).
    pub expire_quiescent_template: bool,
    /// Each worker's IPv4 reassembly limits (`[reassembly]`).
    pub reassembly: ReasmLimits,
    /// The control state fnatd starts with (before a rules file): the configured services and
    /// mark rules, applied as the commands fnatctl would send, through the same all-or-nothing
    /// apply and the same checks ([`ctrl::limits`]).
    pub state: ControlState,
    /// The services at startup (the snapshot of [`Config::state`]).
    pub services: Services,
    /// The control file shared with fnatctl (`[control] path`, default [`DEFAULT_CONTROL_PATH`]).
    pub control_path: PathBuf,
    /// The rules file (`[control] rules`, optional): fnatd applies it at start, after the
    /// services above, and rewrites it (as `fnatctl -S` prints) after every change.
    pub rules_path: Option<PathBuf>,
    /// The management address fnatd serves its Prometheus metrics on (`[control] metrics`,
    /// `ADDRESS:PORT`, optional: no endpoint without it).
    pub metrics_addr: Option<std::net::SocketAddr>,
    /// The health checks of real servers (`[[check]]`), in the file's order.
    pub checks: Vec<crate::health::CheckRule>,
    /// The VRRP instances (`[[vrrp]]`), in the file's order.
    pub vrrp: Vec<crate::ha::vrrp::runner::InstanceSpec>,
    /// The connection-sync daemon (`[sync]`), when configured.
    pub sync: Option<crate::ha::sync::daemon::SyncConfig>,
}

/// Where fnatd and fnatctl meet when `[control] path` is not set: a file on the shared-memory tmpfs.
pub use ctrl::shm::DEFAULT_CONTROL_PATH;

impl Config {
    /// Reads and validates a configuration file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { file: path.to_owned(), source })?;
        Self::parse(path, &text)
    }

    /// Validates configuration text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Self, ConfigError> {
        let raw: raw::File = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            file: path.to_owned(),
            message: e.to_string().trim_end().replace('\n', "\n  "),
        })?;
        Validator { file: path }.validate(raw)
    }

    /// The ports as the forwarding code sees them, given the MAC address each port really has.
    pub fn interfaces(&self, macs: &[MacAddr]) -> Vec<Interface> {
        self.ports
            .iter()
            .zip(macs)
            .map(|(p, &mac)| Interface {
                name: p.name.clone(),
                mac,
                addrs: p.addrs.clone(),
                mtu: p.mtu.unwrap_or(crate::net::DEFAULT_MTU),
                kernel: p.kernel.clone(),
            })
            .collect()
    }
}

/// `[[check]]`.
mod checks;
/// The serde image of the file.
mod raw;
/// The configured services and mark rules as control commands.
mod startup;
/// `[[vrrp]]`.
mod vrrp;

struct Validator<'a> {
    file: &'a Path,
}

impl Validator<'_> {
    fn err(&self, field: impl fmt::Display, problem: impl fmt::Display) -> ConfigError {
        ConfigError::Invalid { file: self.file.to_owned(), field: field.to_string(), problem: problem.to_string() }
    }

    fn ip(&self, field: impl fmt::Display, s: &str) -> Result<Ipv4Addr, ConfigError> {
        s.parse().map_err(|_| self.err(field, format_args!("'{s}' is not an IPv4 address")))
    }

    fn port_idx(&self, field: impl fmt::Display, name: &str, ports: &[PortConfig]) -> Result<PortIdx, ConfigError> {
        ports
            .iter()
            .position(|p| p.name == name)
            .and_then(|i| PortIdx::try_from(i).ok())
            .ok_or_else(|| self.err(field, format_args!("no port is named '{name}'")))
    }

    fn validate(&self, raw: raw::File) -> Result<Config, ConfigError> {
        let eal = self.eal(raw.eal)?;
        let worker_lcores = self.workers(&raw.workers, eal.main_lcore)?;
        let worker_cpus = match &raw.workers.cpus {
            Some(cpus) if cpus.len() != worker_lcores.len() => {
                return Err(self.err("workers.cpus", "name one CPU per lcore of workers.lcores"));
            }
            Some(cpus) if cpus.iter().any(|&c| c >= 1024) => {
                return Err(self.err("workers.cpus", "CPU numbers are below 1024"));
            }
            cpus => cpus.clone(),
        };
        let conn_table_size =
            usize::try_from(raw.conn_table.size).ok().filter(|&n| (1..=MAX_CAPACITY).contains(&n)).ok_or_else(
                || self.err("conn_table.size", format_args!("must be from 1 to {MAX_CAPACITY} connections per worker")),
            )?;
        let ports = self.ports(raw.ports)?;
        let (local_addrs, local_ports) = self.local(&raw.local, worker_lcores.len())?;
        let neighbours =
            raw.neighbours
                .iter()
                .enumerate()
                .map(|(i, n)| {
                    let f = format!("neighbour[{i}]");
                    let mac: MacAddr = n.mac.parse().map_err(|_| {
                        self.err(format_args!("{f}.mac"), format_args!("'{}' is not a MAC address", n.mac))
                    })?;
                    if !mac.is_unicast() {
                        return Err(self.err(format_args!("{f}.mac"), "must be a unicast address"));
                    }
                    Ok(Neighbour {
                        addr: self.ip(format_args!("{f}.address"), &n.address)?,
                        mac,
                        port: self.port_idx(format_args!("{f}.port"), &n.port, &ports)?,
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
        let routes = raw
            .routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let f = format!("route[{i}]");
                let prefix: Ipv4Net = r.prefix.parse().map_err(|e| self.err(format_args!("{f}.prefix"), e))?;
                let via = r.via.as_deref().map(|v| self.ip(format_args!("{f}.via"), v)).transpose()?;
                Ok(Route { prefix, port: self.port_idx(format_args!("{f}.port"), &r.port, &ports)?, via })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let timeouts = self.timeouts(&raw.timeouts)?;
        let mut startup = self.marks(&raw.fwmarks)?;
        startup.extend(self.services(raw.services, &local_addrs)?);
        let mut state = ControlState::new(&Services::default(), local_addrs.clone(), conn_table_size)
            .with_timeouts(timeouts.clone());
        // Checked in the file's order, so that a problem is named where the file first has it;
        // then applied with each service's real servers last to first (`startup::apply_order`).
        state
            .clone()
            .apply_changes(startup.iter().map(|i| &i.command))
            .map_err(|(at, e)| self.startup_error(&startup, at, e))?;
        state.apply_changes(startup::apply_order(&startup)).map_err(|(_, e)| self.startup_error(&startup, None, e))?;
        let services = state.first_services().map_err(|e| self.err("service", e))?;
        let control_path = self.control_path(&raw.control)?;
        let rules_path = raw.control.rules.as_deref().map(|r| self.rules_path(r)).transpose()?;
        let metrics_addr = raw
            .control
            .metrics
            .as_deref()
            .map(|m| {
                m.parse::<std::net::SocketAddr>().map_err(|_| {
                    self.err("control.metrics", format_args!("'{m}' is not an address and port (e.g. 127.0.0.1:9542)"))
                })
            })
            .transpose()?;
        let vrrp = self.vrrp(raw.vrrp, &ports)?;
        let sync = raw.sync.map(|s| self.sync(s, &ports)).transpose()?;
        Ok(Config {
            file: self.file.to_owned(),
            eal,
            worker_lcores,
            worker_cpus,
            conn_table_size,
            ports,
            local_addrs,
            local_ports,
            neighbours,
            routes,
            timeouts,
            expire_nodest_conn: raw.ipvs.expire_nodest_conn,
            expire_quiescent_template: raw.ipvs.expire_quiescent_template,
            reassembly: self.reassembly(&raw.reassembly)?,
            checks: self.checks(raw.checks)?,
            vrrp,
            sync,
            state,
            services,
            control_path,
            rules_path,
            metrics_addr,
        })
    }

    /// `[reassembly]`: each worker's limits, in the ranges Linux's `ipfrag_*` sysctls make sense in.
    fn reassembly(&self, r: &raw::Reassembly) -> Result<ReasmLimits, ConfigError> {
        let within = |name: &str, v: u64, range: RangeInclusive<u64>, unit: &str| {
            usize::try_from(v).ok().filter(|_| range.contains(&v)).ok_or_else(|| {
                self.err(
                    format_args!("reassembly.{name}"),
                    format_args!("must be from {} to {}{unit}", range.start(), range.end()),
                )
            })
        };
        Ok(ReasmLimits {
            max_datagrams: within("datagrams", r.datagrams, 1..=4096, " datagrams in progress")?,
            max_bytes: within("memory_kb", r.memory_kb, 64..=1 << 20, " KiB")? * 1024,
            max_frags: within("fragments", r.fragments, 2..=8190, " fragments a datagram")?,
            timeout_ms: 1000 * u64::try_from(within("timeout", r.timeout, 1..=3600, " seconds")?).unwrap_or(30),
        })
    }

    /// `[control] path`: an absolute path naming a file (not a directory).
    fn control_path(&self, c: &raw::Control) -> Result<PathBuf, ConfigError> {
        let path = PathBuf::from(&c.path);
        if !path.is_absolute() || c.path.ends_with('/') || path.file_name().is_none() {
            return Err(self.err("control.path", format_args!("'{}' is not an absolute path to a file", c.path)));
        }
        Ok(path)
    }

    /// `[control] rules`: an absolute path naming a file (not a directory).
    fn rules_path(&self, rules: &str) -> Result<PathBuf, ConfigError> {
        let path = PathBuf::from(rules);
        if !path.is_absolute() || rules.ends_with('/') || path.file_name().is_none() {
            return Err(self.err("control.rules", format_args!("'{rules}' is not an absolute path to a file")));
        }
        Ok(path)
    }

    fn eal(&self, e: raw::Eal) -> Result<EalConfig, ConfigError> {
        if e.memory_mb < 64 {
            return Err(self.err("eal.memory_mb", "must be at least 64 (MiB)"));
        }
        if e.file_prefix.is_empty() || !e.file_prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(self.err("eal.file_prefix", "must be non-empty letters, digits, '-' or '_'"));
        }
        Ok(EalConfig {
            main_lcore: e.main_lcore,
            no_huge: e.no_huge,
            memory_mb: e.memory_mb,
            file_prefix: e.file_prefix,
            extra_args: e.extra_args,
        })
    }

    fn workers(&self, w: &raw::Workers, main: u32) -> Result<Vec<u32>, ConfigError> {
        if w.lcores.is_empty() {
            return Err(self.err("workers.lcores", "name at least one lcore"));
        }
        if w.lcores.len() > 64 {
            return Err(self.err("workers.lcores", "at most 64 workers"));
        }
        let mut seen = HashSet::new();
        for (i, &l) in w.lcores.iter().enumerate() {
            if l == main {
                return Err(self.err(
                    format_args!("workers.lcores[{i}]"),
                    format_args!("lcore {l} is eal.main_lcore, which runs the control loop"),
                ));
            }
            if l >= 1024 {
                return Err(self.err(format_args!("workers.lcores[{i}]"), "lcore ids are below 1024"));
            }
            if !seen.insert(l) {
                return Err(self.err(format_args!("workers.lcores[{i}]"), format_args!("lcore {l} is listed twice")));
            }
        }
        Ok(w.lcores.clone())
    }

    fn ports(&self, raw: Vec<raw::Port>) -> Result<Vec<PortConfig>, ConfigError> {
        if raw.is_empty() {
            return Err(self.err("port", "configure at least one [[port]]"));
        }
        let mut out: Vec<PortConfig> = Vec::with_capacity(raw.len());
        for (i, p) in raw.into_iter().enumerate() {
            let f = format!("port[{i}]");
            if p.name.is_empty()
                || p.name.len() > 32
                || !p.name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            {
                return Err(self.err(format_args!("{f}.name"), "must be 1 to 32 letters, digits, '-' or '_'"));
            }
            if out.iter().any(|o| o.name == p.name) {
                return Err(self.err(format_args!("{f}.name"), format_args!("another port is named '{}'", p.name)));
            }
            let device = match (p.device, p.pci) {
                (Some(d), None) if !d.is_empty() && !d.contains(char::is_whitespace) => PortDevice::Vdev(d),
                (None, Some(a)) if is_pci_addr(&a) => PortDevice::Pci(a),
                (Some(_), None) => {
                    return Err(self.err(
                        format_args!("{f}.device"),
                        "must be a DPDK vdev string without spaces, e.g. 'net_af_packet0,iface=veth0'",
                    ));
                }
                (None, Some(a)) => {
                    return Err(
                        self.err(format_args!("{f}.pci"), format_args!("'{a}' is not a PCI address like 0000:03:00.0"))
                    );
                }
                _ => {
                    return Err(
                        self.err(&f, "give exactly one of `device` (a DPDK vdev string) and `pci` (a PCI address)")
                    );
                }
            };
            if out.iter().any(|o| o.device.dpdk_name() == device.dpdk_name()) {
                return Err(self.err(&f, format_args!("device '{}' is used by another port", device.dpdk_name())));
            }
            let mac = p
                .mac
                .map(|m| {
                    m.parse::<MacAddr>().ok().filter(MacAddr::is_unicast).ok_or_else(|| {
                        self.err(format_args!("{f}.mac"), format_args!("'{m}' is not a unicast MAC address"))
                    })
                })
                .transpose()?;
            let addrs = p
                .addresses
                .iter()
                .enumerate()
                .map(|(j, a)| a.parse::<Ipv4Net>().map_err(|e| self.err(format_args!("{f}.addresses[{j}]"), e)))
                .collect::<Result<Vec<_>, _>>()?;
            for (name, d) in [("rx_desc", p.rx_desc), ("tx_desc", p.tx_desc)] {
                if !(64..=16384).contains(&d) {
                    return Err(self.err(format_args!("{f}.{name}"), "must be from 64 to 16384"));
                }
            }
            let mtu = match p.mtu.map(u16::try_from) {
                None => None,
                Some(Ok(m)) if (576..=9000).contains(&m) => Some(m),
                Some(_) => return Err(self.err(format_args!("{f}.mtu"), "must be from 576 to 9000")),
            };
            let steering = match p.steering.as_deref() {
                None | Some("auto") => SteerChoice::Auto,
                Some("rss") => SteerChoice::Rss,
                Some("flow") => SteerChoice::Flow,
                Some("redirect") => SteerChoice::Redirect,
                Some(other) => {
                    return Err(self.err(
                        format_args!("{f}.steering"),
                        format_args!("'{other}' is not auto, rss, flow or redirect"),
                    ));
                }
            };
            let rss_key = p
                .rss_key
                .as_deref()
                .map(|k| crate::lb::rss::parse_key(k).map_err(|e| self.err(format_args!("{f}.rss_key"), e)))
                .transpose()?;
            let peer_reta_size = match p.peer_reta_size {
                None => None,
                Some(n) if n.is_power_of_two() && n <= 1 << 16 => Some(n as usize),
                Some(_) => {
                    return Err(self.err(format_args!("{f}.peer_reta_size"), "must be a power of two up to 65536"));
                }
            };
            let kernel = p.kernel.map(|k| self.kernel(&f, &p.name, k, &out)).transpose()?;
            out.push(PortConfig {
                kernel,
                name: p.name,
                device,
                mac,
                addrs,
                rx_desc: p.rx_desc,
                tx_desc: p.tx_desc,
                mtu,
                steering,
                rss_key,
                peer_reta_size,
            });
        }
        Ok(out)
    }

    /// A port's `[port.kernel]`: the twin's interface name (the port's name unless given; a
    /// Linux interface name, unique among the ports) and its rate.
    fn kernel(&self, f: &str, port: &str, k: raw::Kernel, others: &[PortConfig]) -> Result<KernelPath, ConfigError> {
        let iface = k.iface.unwrap_or_else(|| port.to_owned());
        if iface.is_empty()
            || iface.len() > 15
            || !iface.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
            || iface == "."
            || iface == ".."
        {
            return Err(self.err(
                format_args!("{f}.kernel.iface"),
                format_args!("'{iface}' is not an interface name: 1 to 15 letters, digits, '-', '_' or '.'"),
            ));
        }
        if others.iter().filter_map(|o| o.kernel.as_ref()).any(|o| o.iface == iface) {
            return Err(self.err(format_args!("{f}.kernel.iface"), format_args!("another port's twin is '{iface}'")));
        }
        let rate = k.rate.unwrap_or(KernelPath::DEFAULT_RATE);
        let burst = k.burst.unwrap_or(KernelPath::DEFAULT_BURST);
        if !(1..=10_000_000).contains(&rate) {
            return Err(self.err(format_args!("{f}.kernel.rate"), "must be from 1 to 10000000 frames a second"));
        }
        if !(1..=1_000_000).contains(&burst) {
            return Err(self.err(format_args!("{f}.kernel.burst"), "must be from 1 to 1000000 frames"));
        }
        Ok(KernelPath { iface, rate, burst })
    }

    fn local(&self, l: &raw::Local, workers: usize) -> Result<(Vec<Ipv4Addr>, RangeInclusive<u16>), ConfigError> {
        let mut addrs = Vec::new();
        for (i, a) in l.addresses.iter().enumerate() {
            let ip = self.ip(format_args!("local.addresses[{i}]"), a)?;
            limits::check_unicast(AddrRole::Local, ip)
                .map_err(|v| self.err(format_args!("local.addresses[{i}]"), v.config_problem()))?;
            if addrs.contains(&ip) {
                return Err(self.err(format_args!("local.addresses[{i}]"), format_args!("{ip} is listed twice")));
            }
            addrs.push(ip);
        }
        let bad = || self.err("local.ports", format_args!("'{}' is not a port range like 1024-65535", l.ports));
        let (lo, hi) = l.ports.split_once('-').ok_or_else(bad)?;
        let (lo, hi): (u16, u16) = (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
        if lo == 0 || lo > hi {
            return Err(bad());
        }
        if usize::from(hi - lo) + 1 < workers {
            return Err(self.err("local.ports", "the range must hold at least one port per worker"));
        }
        Ok((addrs, lo..=hi))
    }

    fn timeouts(&self, t: &raw::Timeouts) -> Result<Timeouts, ConfigError> {
        let mut out = Timeouts::default();
        let secs = |name: &str, v: Option<u32>, slot: &mut u64| -> Result<(), ConfigError> {
            if let Some(v) = v {
                if v == 0 || v > 31 * 24 * 3600 {
                    return Err(self.err(format_args!("timeouts.{name}"), "must be from 1 second to 31 days"));
                }
                *slot = u64::from(v) * 1000;
            }
            Ok(())
        };
        secs("tcp", t.tcp, &mut out.tcp[crate::lb::TcpState::Established as usize])?;
        secs("tcpfin", t.tcpfin, &mut out.tcp[crate::lb::TcpState::FinWait as usize])?;
        secs("udp", t.udp, &mut out.udp)?;
        Ok(out)
    }
}

fn is_pci_addr(s: &str) -> bool {
    // dddd:bb:dd.f or bb:dd.f, hexadecimal.
    let hex = |p: &str, n: usize| p.len() == n && p.chars().all(|c| c.is_ascii_hexdigit());
    let parts: Vec<&str> = s.split(':').collect();
    let (dom, bus, df) = match parts.as_slice() {
        [d, b, df] => (Some(*d), *b, *df),
        [b, df] => (None, *b, *df),
        _ => return false,
    };
    let Some((dev, func)) = df.split_once('.') else {
        return false;
    };
    dom.is_none_or(|d| hex(d, 4)) && hex(bus, 2) && hex(dev, 2) && hex(func, 1)
}

#[cfg(test)]
mod tests;
