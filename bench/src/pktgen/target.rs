//! The gateway under test and the generator's side of the link: fnatd with a configuration written
//! for the run, or dpdk-testpmd forwarding between the same two memif ports (the I/O ceiling).
//!
//! Both sit on two net_memif links whose server ends they own (sockets in the run directory); the
//! generator is the client end of both. The target runs its poll loop on lcore 1, its main lcore
//! on 0; the generator runs on lcore 0 too (fnatd's main lcore sleeps between 1 ms ticks,
//! testpmd's waits for its stats period).

use std::fmt::Write as _;
use std::path::Path;

use super::topo::{GEN_DMZ_MAC, GEN_LAN_MAC, GW_DMZ_MAC, GW_LAN_MAC, ROUTER, Topo, VIP};

/// The virtual ports of the TCP and UDP services, and the real servers' ports.
pub const TCP_VPORT: u16 = 80;
/// The UDP service's port.
pub const UDP_VPORT: u16 = 53;
/// The real servers' TCP port.
pub const TCP_RPORT: u16 = 8080;
/// The real servers' UDP port.
pub const UDP_RPORT: u16 = 5353;

fn mac(m: [u8; 6]) -> String {
    m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")
}

/// The memif device string of one end of link `name` (`lan` or `dmz`) in `dir`.
pub fn memif(index: u8, name: &str, dir: &Path, server: bool, mac_addr: Option<[u8; 6]>) -> String {
    let role = if server { "server" } else { "client" };
    let mut s = format!("net_memif{index},role={role},socket={}/{name}.sock,socket-abstract=no,id=0", dir.display());
    if let Some(m) = mac_addr {
        let _ = write!(s, ",mac={}", mac(m));
    }
    s
}

/// How a run spreads over several workers: fnatd's worker count, the steering its ports ask for,
/// and the RSS key the generator spreads frames over the queues by (as a NIC would; it tells fnatd
/// as the ports' peer hashing, with a table of [`PEER_RETA_SIZE`] entries).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Spread {
    /// Workers, and queues per memif link.
    pub workers: u16,
    /// The ports' `steering` (auto, rss, flow, redirect).
    pub steering: String,
    /// The ports' `rss_key` (default, symmetric, or hex).
    pub rss_key: String,
    /// Every worker on this CPU (else: lcore `l` on CPU `l`, sharing CPUs round robin when
    /// there are more workers than CPUs besides the main lcore's).
    pub cpu: Option<u32>,
    /// The real servers forward by NAT instead of FULLNAT.
    pub nat: bool,
}

impl Default for Spread {
    fn default() -> Self {
        Self { workers: 1, steering: "auto".into(), rss_key: "default".into(), cpu: None, nat: false }
    }
}

/// The redirection table size the generator spreads frames by.
pub const PEER_RETA_SIZE: usize = 128;

/// The `[workers]` section for `workers` workers on lcores 1, 2, ...: with more workers than CPUs
/// besides the main lcore's, they share CPUs (`cpus`, the main lcore's CPU 0 included).
fn workers_section(workers: u16, cpu: Option<u32>) -> String {
    let lcores: Vec<String> = (1..=workers).map(|l| l.to_string()).collect();
    let cpus = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    if usize::from(workers) < cpus && cpu.is_none() {
        return format!("[workers]\nlcores = [{}]\n", lcores.join(", "));
    }
    let on: Vec<String> =
        (1..=usize::from(workers)).map(|l| cpu.map_or_else(|| (l % cpus).to_string(), |c| c.to_string())).collect();
    format!("[workers]\nlcores = [{}]\ncpus = [{}]\n", lcores.join(", "), on.join(", "))
}

/// The part of a benchmark's fnatd configuration every benchmark shares: `--no-huge`, the main
/// lcore on 0 and the workers of `spread` from lcore 1, the control file in `dir`, a table of
/// `conn_table`.
pub fn fnatd_base(dir: &Path, prefix: &str, memory_mb: u32, conn_table: u32, spread: &Spread) -> String {
    format!(
        r#"[eal]
main_lcore = 0
no_huge = true
memory_mb = {memory_mb}
file_prefix = "{prefix}"
extra_args = ["--log-level=*:warning", "--no-telemetry"]

{workers}
[control]
path = "{dir}/fnatd.ctl"

[conn_table]
size = {conn_table}
"#,
        dir = dir.display(),
        workers = workers_section(spread.workers, spread.cpu),
    )
}

/// fnatd's configuration for a run: two memif ports, the clients' router and the real servers as
/// static neighbours, a TCP and a UDP service (rr) over every real server, FULLNAT or NAT, and
/// enough local addresses and table entries for the flows; `spread` says how many workers and how.
pub fn fnatd_config(dir: &Path, topo: &Topo, conn_table: u32, prefix: &str, spread: &Spread) -> String {
    let laddrs: Vec<String> = (0..topo.laddrs).map(|i| format!("\"{}\"", topo.laddr(i))).collect();
    let steering = if spread.workers > 1 {
        format!(
            "steering = \"{}\"\nrss_key = \"{}\"\npeer_reta_size = {PEER_RETA_SIZE}\n",
            spread.steering, spread.rss_key
        )
    } else {
        String::new()
    };
    let mut s = format!(
        r#"# Written by fnat-gen for one benchmark run.
{base}
[[port]]
name = "lan"
device = "{lan}"
mac = "{gw_lan}"
addresses = ["10.0.0.1/24"]
{steering}
[[port]]
name = "dmz"
device = "{dmz}"
mac = "{gw_dmz}"
addresses = ["10.1.0.1/16"]
{steering}
[local]
addresses = [{laddrs}]
ports = "1024-65535"

[[route]]
prefix = "198.18.0.0/15"
via = "{ROUTER}"
port = "lan"

[[neighbour]]
address = "{ROUTER}"
mac = "{gen_lan}"
port = "lan"
"#,
        base = fnatd_base(dir, prefix, 1024, conn_table, spread),
        lan = memif(0, "lan", dir, true, None),
        dmz = memif(1, "dmz", dir, true, None),
        gw_lan = mac(GW_LAN_MAC),
        gw_dmz = mac(GW_DMZ_MAC),
        gen_lan = mac(GEN_LAN_MAC),
        laddrs = laddrs.join(", "),
    );
    for i in 0..topo.servers {
        let _ = write!(
            s,
            "\n[[neighbour]]\naddress = \"{}\"\nmac = \"{}\"\nport = \"dmz\"\n",
            topo.server(i),
            mac(GEN_DMZ_MAC)
        );
    }
    for (proto, vport, rport) in [("tcp", TCP_VPORT, TCP_RPORT), ("udp", UDP_VPORT, UDP_RPORT)] {
        let _ =
            write!(s, "\n[[service]]\nprotocol = \"{proto}\"\nvip = \"{VIP}\"\nport = {vport}\nscheduler = \"rr\"\n");
        let forward = if spread.nat { "nat" } else { "fullnat" };
        for i in 0..topo.servers {
            let _ = write!(
                s,
                "\n  [[service.real_server]]\n  address = \"{}\"\n  port = {rport}\n  forward = \"{forward}\"\n",
                topo.server(i)
            );
        }
    }
    s
}

/// The EAL arguments of either end of the two memif links in `dir`: `lcores` (e.g. `-l 0`), the
/// rest shared (no hugepages, 1 GiB, file prefix `prefix`, quiet), and the two memif devices, as
/// the server ends (the target's) or the client ends (the generator's, with its MAC addresses).
pub fn memif_eal_args(lcores: &[&str], prefix: &str, dir: &Path, server: bool) -> Vec<String> {
    let mac = |m| (!server).then_some(m);
    lcores
        .iter()
        .chain(&[
            "--no-huge",
            "-m",
            "1024",
            "--file-prefix",
            prefix,
            "--no-pci",
            "--log-level=*:warning",
            "--no-telemetry",
        ])
        .map(|s| (*s).to_owned())
        .chain([
            format!("--vdev={}", memif(0, "lan", dir, server, mac(GEN_LAN_MAC))),
            format!("--vdev={}", memif(1, "dmz", dir, server, mac(GEN_DMZ_MAC))),
        ])
        .collect()
}

/// dpdk-testpmd's arguments: io forwarding between the two memif ports (what arrives on one leaves
/// on the other, untouched), polled on lcore 1, statistics every 5 s until a signal stops it.
pub fn testpmd_args(dir: &Path, prefix: &str, queues: u16) -> Vec<String> {
    memif_eal_args(&["-l", "0,1", "--main-lcore", "0"], prefix, dir, true)
        .into_iter()
        .chain(
            ["--", "--forward-mode=io", "--auto-start", "--stats-period=5", "--no-mlockall", "--total-num-mbufs=32768"]
                .iter()
                .map(|s| (*s).to_owned()),
        )
        .chain([format!("--rxq={queues}"), format!("--txq={queues}")])
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fnatd_configuration_is_valid() {
        let dir = std::env::temp_dir().join(format!("fnat-gen-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let topo = Topo { flows: 1000, clients: 16, servers: 3, laddrs: 4 };
        let text = fnatd_config(&dir, &topo, 65536, "fnat-bench-x", &Spread::default());
        let path = dir.join("fnatd.toml");
        std::fs::write(&path, &text).unwrap();
        let cfg = dataplane::config::Config::load(&path).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(cfg.services.len(), 2);
        assert_eq!(cfg.local_addrs.len(), 4);
        assert_eq!(cfg.neighbours.len(), 4);
        assert_eq!(cfg.worker_lcores, vec![1]);
        // Two workers: the ports tell fnatd how the generator spreads frames.
        let spread =
            Spread { workers: 2, steering: "redirect".into(), rss_key: "symmetric".into(), cpu: Some(1), nat: true };
        std::fs::write(&path, fnatd_config(&dir, &topo, 65536, "fnat-bench-x", &spread)).unwrap();
        let cfg = dataplane::config::Config::load(&path).unwrap();
        assert_eq!(cfg.worker_lcores, vec![1, 2]);
        assert_eq!(cfg.worker_cpus, Some(vec![1, 1]));
        let methods = cfg.services.iter().flat_map(|s| s.dests.iter().map(|d| d.method));
        assert!(methods.into_iter().all(|m| m == dataplane::lb::FwdMethod::Nat));
        assert!(cfg.ports.iter().all(|p| p.peer_reta_size == Some(PEER_RETA_SIZE)
            && p.steering == dataplane::config::SteerChoice::Redirect
            && p.rss_key.as_deref() == Some(&dataplane::lb::rss::SYMMETRIC_KEY[..])));
        std::fs::remove_dir_all(&dir).unwrap();
        let args = testpmd_args(&dir, "p", 2);
        assert!(args.iter().any(|a| a == "--rxq=2"));
        let client = memif_eal_args(&["-l", "0"], "g", &dir, false);
        assert_eq!(client[..2], ["-l", "0"]);
        assert!(client.iter().any(|a| a.starts_with("--vdev=net_memif1,role=client,") && a.contains(",mac=")));
        assert!(args.iter().any(|a| a == "--forward-mode=io"));
        assert!(args.iter().any(|a| a.starts_with("--vdev=net_memif1,role=server,socket=")));
    }
}
