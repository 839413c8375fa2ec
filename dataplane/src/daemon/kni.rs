//! The exception path, daemon side: each port with `[port.kernel]` gets a kernel twin, a DPDK
//! `net_tap` device whose Linux interface has the port's name (or `iface`), MAC address, MTU,
//! addresses and static routes, so that the gateway's own programs (ssh, curl, a BGP daemon, the
//! health checks) reach the ports' networks with ordinary sockets.
//!
//! `net_tap` rather than `virtio_user` over vhost-net: it needs only `/dev/net/tun` (vhost-net is
//! often missing in containers and VMs, as on the CI machines) and the same queue API. The twin has
//! one queue pair per worker: worker `i` hands the kernel its frames on queue `i` and sends what the
//! kernel put on queue `i` (the kernel spreads its flows over the queues). The frames the kernel
//! gets are chosen and rate-limited by the workers (`worker::kernel`); fnatd answers ARP for the
//! port's addresses itself, and the kernel gets ARP replies only (see there).
//!
//! The interface is set up with iproute2's `ip` (as a one-time start-up step, not per frame): its
//! IPv6 switched off (fnat forwards IPv4; the kernel's router solicitations would only be
//! refused), the port's MTU, its addresses and the static routes through the port. The twin goes
//! away with fnatd (a `net_tap` interface is not persistent): nothing is left behind after a crash.

use std::process::Command;

use anyhow::{Context as _, bail};

use crate::config::{Config, PortConfig};
use crate::dpdk::{Mempool, Port, PortConf, PortQueues};
use crate::net::{KernelPath, Route};
use crate::packet::MacAddr;

/// Descriptors per queue of a twin.
const TWIN_DESC: u16 = 512;

/// The DPDK device name of port `index`'s twin.
pub fn vdev_name(index: usize) -> String {
    format!("net_tap_fnat{index}")
}

/// The EAL `--vdev` arguments of the configured twins.
pub fn eal_vdevs(cfg: &Config) -> impl Iterator<Item = String> + '_ {
    cfg.ports.iter().enumerate().filter_map(|(i, p)| {
        let k = p.kernel.as_ref()?;
        Some(format!("--vdev={},iface={}", vdev_name(i), k.iface))
    })
}

/// Mbufs the twins' descriptors hold.
pub fn descriptors(cfg: &Config) -> usize {
    let twins = cfg.ports.iter().filter(|p| p.kernel.is_some()).count();
    twins * cfg.worker_lcores.len() * 2 * usize::from(TWIN_DESC)
}

/// A started twin.
#[derive(Debug)]
pub struct Twin {
    /// The DPDK side.
    pub port: Port,
    /// Its queues, one pair per worker.
    pub queues: PortQueues,
    /// The kernel interface's name.
    pub iface: String,
}

/// Starts the twin of port `index` (configured as `pc`, with MAC address `mac`), with `queues`
/// queue pairs, and sets its kernel interface up with the port's addresses and the static
/// `routes` through it. `None` for a port without a twin.
pub fn start(
    index: usize,
    pc: &PortConfig,
    mac: MacAddr,
    queues: u16,
    pool: &Mempool,
    routes: &[Route],
) -> anyhow::Result<Option<Twin>> {
    let Some(k) = &pc.kernel else { return Ok(None) };
    let name = vdev_name(index);
    let port = Port::by_name(&name).with_context(|| format!("port {}: its kernel twin {name} is missing", pc.name))?;
    let conf = PortConf {
        rx_queues: queues,
        tx_queues: queues,
        rx_desc: TWIN_DESC,
        tx_desc: TWIN_DESC,
        mtu: pc.mtu,
        ..PortConf::default()
    };
    let what = || format!("port {}: kernel twin {}", pc.name, k.iface);
    port.configure(&conf, pool).with_context(what)?;
    port.set_mac_addr(mac.0).with_context(|| format!("{}: setting MAC address {mac}", what()))?;
    let started = port.start().with_context(what)?;
    setup_iface(k, pc, index, routes).with_context(what)?;
    Ok(Some(Twin { port, queues: started, iface: k.iface.clone() }))
}

/// The kernel side of a twin: no IPv6, the port's MTU, addresses and static routes, up.
fn setup_iface(k: &KernelPath, pc: &PortConfig, index: usize, routes: &[Route]) -> anyhow::Result<()> {
    let dev = k.iface.as_str();
    let v6 = format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6");
    if std::path::Path::new(&v6).exists() {
        std::fs::write(&v6, "1").with_context(|| format!("switching IPv6 off ({v6})"))?;
    }
    let mtu = pc.mtu.unwrap_or(crate::net::DEFAULT_MTU).to_string();
    ip(&["link", "set", "dev", dev, "mtu", &mtu, "up"])?;
    for a in &pc.addrs {
        ip(&["addr", "replace", &a.to_string(), "dev", dev])?;
    }
    for r in routes.iter().filter(|r| usize::from(r.port) == index) {
        let prefix = crate::net::Ipv4Net::new(r.prefix.network(), r.prefix.prefix_len).to_string();
        match r.via {
            Some(via) => ip(&["route", "replace", &prefix, "via", &via.to_string(), "dev", dev])?,
            None => ip(&["route", "replace", &prefix, "dev", dev])?,
        }
    }
    Ok(())
}

/// Runs `ip ARGS`, failing with what it said.
fn ip(args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new("ip").args(args).output().context("running iproute2's `ip` (apt-get install iproute2)")?;
    if !out.status.success() {
        bail!("ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}
