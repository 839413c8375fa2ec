//! The serde image of fnatd's TOML file: field names and types only; every value is checked by the
//! validation in the parent module.

use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default)]
    pub eal: Eal,
    pub workers: Workers,
    #[serde(default)]
    pub conn_table: ConnTable,
    #[serde(default, rename = "port")]
    pub ports: Vec<Port>,
    #[serde(default)]
    pub local: Local,
    #[serde(default, rename = "neighbour")]
    pub neighbours: Vec<Neighbour>,
    #[serde(default, rename = "route")]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub timeouts: Timeouts,
    #[serde(default, rename = "fwmark")]
    pub fwmarks: Vec<Fwmark>,
    #[serde(default, rename = "service")]
    pub services: Vec<Service>,
    #[serde(default)]
    pub control: Control,
    #[serde(default)]
    pub ipvs: Ipvs,
    #[serde(default)]
    pub reassembly: Reassembly,
    #[serde(default, rename = "check")]
    pub checks: Vec<Check>,
    #[serde(default, rename = "vrrp")]
    pub vrrp: Vec<Vrrp>,
    pub sync: Option<Sync>,
}

/// `[sync]`: the connection-sync daemon.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sync {
    #[serde(default)]
    pub master: bool,
    #[serde(default)]
    pub backup: bool,
    pub syncid: Option<u32>,
    pub port: String,
    pub group: Option<String>,
    #[serde(default)]
    pub peers: Vec<String>,
    pub udp_port: Option<u32>,
    pub key: String,
    pub flush_ms: Option<u64>,
}

/// `[[vrrp]]`: one VRRPv3 instance.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Vrrp {
    pub name: String,
    pub port: String,
    pub vrid: u32,
    pub priority: u32,
    pub advert_interval_cs: Option<u32>,
    pub preempt: Option<bool>,
    pub preempt_delay_ms: Option<u64>,
    pub addresses: Vec<String>,
    #[serde(default)]
    pub unicast_peers: Vec<String>,
    #[serde(default)]
    pub track_ports: Vec<String>,
    pub notify_master: Option<String>,
    pub notify_backup: Option<String>,
    pub notify_fault: Option<String>,
    pub garp_repeat: Option<u32>,
    pub garp_interval_ms: Option<u64>,
}

/// IPv4 reassembly per worker, as Linux's `ipfrag_*` sysctls.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Reassembly {
    pub datagrams: u64,
    pub memory_kb: u64,
    pub fragments: u64,
    pub timeout: u64,
}

impl Default for Reassembly {
    fn default() -> Self {
        Self { datagrams: 64, memory_kb: 4096, fragments: 64, timeout: 30 }
    }
}

/// IPVS's sysctls that fnat honours.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Ipvs {
    pub expire_nodest_conn: bool,
    pub expire_quiescent_template: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Control {
    pub path: String,
    pub rules: Option<String>,
    pub metrics: Option<String>,
}

impl Default for Control {
    fn default() -> Self {
        Self { path: super::DEFAULT_CONTROL_PATH.into(), rules: None, metrics: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Eal {
    pub main_lcore: u32,
    pub no_huge: bool,
    pub memory_mb: u32,
    pub file_prefix: String,
    pub extra_args: Vec<String>,
}

impl Default for Eal {
    fn default() -> Self {
        Self { main_lcore: 0, no_huge: false, memory_mb: 1024, file_prefix: "fnat".into(), extra_args: Vec::new() }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Workers {
    pub lcores: Vec<u32>,
    pub cpus: Option<Vec<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnTable {
    pub size: u64,
}

impl Default for ConnTable {
    fn default() -> Self {
        Self { size: 1 << 20 }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Port {
    pub name: String,
    pub device: Option<String>,
    pub pci: Option<String>,
    pub mac: Option<String>,
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default = "default_desc")]
    pub rx_desc: u16,
    #[serde(default = "default_desc")]
    pub tx_desc: u16,
    pub mtu: Option<u32>,
    pub steering: Option<String>,
    pub rss_key: Option<String>,
    pub peer_reta_size: Option<u32>,
    pub kernel: Option<Kernel>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kernel {
    pub iface: Option<String>,
    pub rate: Option<u32>,
    pub burst: Option<u32>,
}

fn default_desc() -> u16 {
    1024
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Local {
    #[serde(default)]
    pub addresses: Vec<String>,
    #[serde(default = "default_ports")]
    pub ports: String,
}

impl Default for Local {
    fn default() -> Self {
        Self { addresses: Vec::new(), ports: default_ports() }
    }
}

fn default_ports() -> String {
    "1024-65535".into()
}

/// `[[check]]`: the health check of a service's real servers (or of one of them).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Check {
    pub protocol: Option<String>,
    pub vip: Option<String>,
    pub port: Option<u32>,
    pub fwmark: Option<u32>,
    pub real_server: Option<String>,
    #[serde(rename = "type")]
    pub kind: String,
    pub check_port: Option<u32>,
    pub interval: Option<f64>,
    pub timeout: Option<f64>,
    pub retries: Option<u32>,
    pub retry_delay: Option<f64>,
    pub rise: Option<u32>,
    pub fall: Option<u32>,
    pub inhibit_on_failure: Option<bool>,
    pub path: Option<String>,
    pub host: Option<String>,
    pub status: Option<Vec<u32>>,
    pub digest: Option<String>,
    pub payload: Option<String>,
    pub require_reply: Option<bool>,
    pub name: Option<String>,
    pub query_type: Option<String>,
    pub command: Option<String>,
    pub dynamic: Option<bool>,
    pub notify_up: Option<String>,
    pub notify_down: Option<String>,
    pub sorry_server: Option<String>,
    pub quorum: Option<u32>,
    pub hysteresis: Option<u32>,
    pub quorum_up: Option<String>,
    pub quorum_down: Option<String>,
    pub passive_failures: Option<u32>,
    pub passive_window: Option<f64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Neighbour {
    pub address: String,
    pub mac: String,
    pub port: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub prefix: String,
    pub port: String,
    pub via: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Timeouts {
    pub tcp: Option<u32>,
    pub tcpfin: Option<u32>,
    pub udp: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub protocol: Option<String>,
    pub vip: Option<String>,
    pub port: Option<u32>,
    pub fwmark: Option<u32>,
    pub scheduler: Option<String>,
    #[serde(default)]
    pub scheduler_flags: Vec<String>,
    #[serde(default, rename = "real_server")]
    pub real_servers: Vec<RealServer>,
    pub local_addrs: Option<Vec<String>>,
    pub persistent: Option<Persistent>,
    pub netmask: Option<String>,
}

/// `persistent = 360` (seconds) or `persistent = true` (ipvsadm's default, 360 s).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fwmark {
    pub mark: u32,
    pub destination: String,
    #[serde(default = "any")]
    pub protocol: String,
    #[serde(default = "any")]
    pub ports: String,
}

fn any() -> String {
    "any".into()
}

#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
pub enum Persistent {
    On(bool),
    Secs(i64),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RealServer {
    pub address: String,
    pub port: Option<u32>,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default = "default_forward")]
    pub forward: String,
    #[serde(default)]
    pub upper_threshold: u64,
    #[serde(default)]
    pub lower_threshold: u64,
}

fn default_weight() -> u32 {
    1
}

fn default_forward() -> String {
    "fullnat".into()
}
