//! `fnatctl --from-keepalived`: the real binary on keepalived.conf files written to temporary
//! files (its output, its errors, its exit statuses), and the TOML it prints read back by fnatd's
//! own configuration parser, under a minimal gateway section (the `[[vrrp]]` tables included:
//! its ports are named as keepalived's interfaces). That fnatd runs what is converted is the lab's
//! test `a_keepalived_conf_converts_and_runs_in_the_lab` (dataplane/tests/lab.rs).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use ctrl::vocab::health::{DnsCheck, HttpCheck, MiscCheck, UdpCheck};
use ctrl::vocab::{CheckKind, CheckSpec, CheckTiming, FwdMethod, Protocol, SchedKind, ServiceKey};
use dataplane::config::Config;
use dataplane::ha::vrrp::InstanceConfig;
use dataplane::ha::vrrp::runner::{InstanceSpec, Notify};

/// The gateway around the converted instances and services: what keepalived.conf does not say.
/// Its ports have the names of keepalived's interfaces, and kernel twins (VRRP speaks through them).
const GATEWAY: &str = r#"[eal]
no_huge = true
[workers]
lcores = [1]
[[port]]
name = "eth0"
device = "net_null0"
addresses = ["10.0.0.1/24"]
[port.kernel]
[[port]]
name = "eth1"
device = "net_null1"
addresses = ["10.1.0.1/24"]
[port.kernel]
[local]
addresses = ["10.1.0.10"]
"#;

/// A director's keepalived.conf: a VRRP instance (tracking the inside interface too) around five
/// virtual servers (HTTP with a digest; UDP with a UDP and a DNS check; HTTP and HTTPS by fwmark, DR
/// and persistent; HTTPS by TUN on another port; MySQL with a dynamic MISC_CHECK, a PING_CHECK and
/// an unchecked server).
const KEEPALIVED_CONF: &str = r#"! Configuration File for keepalived (the LVS director of site A)

global_defs {
   notification_email {
     ops@example.com
   }
   notification_email_from "keepalived <lb1@example.com>"
   smtp_server 127.0.0.1
   router_id LVS_A
}

vrrp_script chk_fnat {
    script "/usr/bin/pgrep -x fnatd"   # quoted, with a { in "{quotes}"
    interval 2
}

vrrp_instance VI_1 {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    authentication {
        auth_type PASS
        auth_pass s3cr#t!     # comment chars end the word here, as in keepalived
    }
    virtual_ipaddress {
        10.0.0.100/24 dev eth0
        10.0.0.101/24 dev eth0
    }
    track_interface {
        eth1
    }
}

# The web site: HTTP with a digest of the health page.
virtual_server 10.0.0.100 80 {
    delay_loop 6
    lb_algo wrr
    lb_kind NAT
    protocol TCP
    virtualhost "www.example.com"

    real_server 10.1.0.11 8080 {
        weight 3
        inhibit_on_failure
        HTTP_GET {
            url {
                path /health
                digest 9B3A0C85A887A256D6939DA88AABD8CD
                status_code 200 301-302
            }
            connect_timeout 3
            nb_get_retry 2
            delay_before_retry 2
        }
    }
    real_server 10.1.0.12 8080 {
        weight 2
        inhibit_on_failure yes
        HTTP_GET {
            url {
                path /health
                digest 9b3a0c85a887a256d6939da88aabd8cd
                status_code 302 301
                status_code 200
            }
            connect_timeout 3
            retry 2
            delay_before_retry 2
        }
    }
}

! DNS over UDP: one server probed with a datagram, the other with a query.
virtual_server 10.0.0.100 53 {
    delay_loop 10
    lb_algo rr
    protocol UDP
    real_server 10.1.0.21 53 {
        UDP_CHECK {
            payload 70696e67     ! "ping"
            require_reply
        }
    }
    real_server 10.1.0.22 53 {
        DNS_CHECK {
            type a
            name example.com
            connect_timeout 2
        }
    }
}

# HTTP and HTTPS together, marked 1 by iptables, routed directly.
virtual_server fwmark 1 {
    delay_loop 5
    lb_algo sh
    sh-port
    lb_kind DR
    persistence_timeout 300
    persistence_granularity 255.255.255.0
    real_server 10.1.0.31 443 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
    real_server 10.1.0.32 443 {
        TCP_CHECK {
            connect_timeout 2
        }
    }
}

virtual_server 10.0.0.101 443 {
    lb_algo wlc
    lb_kind TUN
    real_server 10.1.0.51 443 {
        weight 5
        SSL_GET {
            url {
                path /status
            }
            connect_port 8443
            virtualhost secure.example.com
        }
    }
}

virtual_server 10.0.0.101 3306 {
    lb_algo lc
    real_server 10.1.0.41 3306 {
        uthreshold 1000
        lthreshold 800
        MISC_CHECK {
            misc_path "/usr/local/bin/check_mysql.sh 10.1.0.41"
            misc_timeout 10
            misc_dynamic
        }
    }
    real_server 10.1.0.42 3306 {
        PING_CHECK {
            retry 3
        }
    }
    real_server 10.1.0.43 3306 {
        weight 0
    }
}
"#;

/// What fnatctl prints for it.
const FNATD_TOML: &str = r#"# Converted from keepalived.conf by fnatctl --from-keepalived.

# keepalived.conf line 17: vrrp_instance VI_1
# port and track_ports are keepalived's interface names: each must name one of fnatd's [[port]] tables (port: one with [port.kernel])
# state MASTER (line 18) is not used: fnatd elects by priority, as keepalived does after startup
# fnatd speaks VRRPv3 only: keepalived peers need vrrp_version 3 (keepalived's default is 2)
# authentication (line 22) is skipped: VRRPv3 has none (RFC 5798), and keepalived ignores it with version 3
[[vrrp]]
name = "VI_1"
port = "eth0"
vrid = 51
priority = 150
advert_interval_cs = 100
preempt = true
preempt_delay_ms = 0
addresses = ["10.0.0.100", "10.0.0.101"]
track_ports = ["eth0", "eth1"]
garp_repeat = 5

# keepalived.conf line 36: virtual_server 10.0.0.100 80
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"

  [[service.real_server]]
  address = "10.1.0.11"
  port = 8080
  weight = 3
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.12"
  port = 8080
  weight = 2
  forward = "nat"

[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
type = "http"
interval = 6.0
timeout = 3.0
retries = 2
retry_delay = 2.0
rise = 1
fall = 1
inhibit_on_failure = true
path = "/health"
host = "www.example.com"
status = [200, 301, 302]
digest = "9b3a0c85a887a256d6939da88aabd8cd"

# keepalived.conf line 75: virtual_server 10.0.0.100 53
[[service]]
protocol = "udp"
vip = "10.0.0.100"
port = 53
scheduler = "rr"

  [[service.real_server]]
  address = "10.1.0.21"
  port = 53
  weight = 1
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.22"
  port = 53
  weight = 1
  forward = "nat"

[[check]]
protocol = "udp"
vip = "10.0.0.100"
port = 53
real_server = "10.1.0.21:53"
type = "udp"
interval = 10.0
timeout = 5.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1
payload = "ping"
require_reply = true

[[check]]
protocol = "udp"
vip = "10.0.0.100"
port = 53
real_server = "10.1.0.22:53"
type = "dns"
interval = 10.0
timeout = 2.0
retries = 3
retry_delay = 10.0
rise = 1
fall = 1
name = "example.com"
query_type = "A"

# keepalived.conf line 95: virtual_server fwmark 1
# The traffic of fwmark 1 is marked by fnatd's [[fwmark]] rules (or fnatctl --add-mark), no longer by iptables.
[[service]]
fwmark = 1
scheduler = "sh"
scheduler_flags = ["sh-port"]
persistent = 300
netmask = "255.255.255.0"

  [[service.real_server]]
  address = "10.1.0.31"
  port = 0
  weight = 1
  forward = "dr"

  [[service.real_server]]
  address = "10.1.0.32"
  port = 0
  weight = 1
  forward = "dr"

[[check]]
fwmark = 1
type = "tcp"
check_port = 443
interval = 5.0
timeout = 2.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1

# keepalived.conf line 114: virtual_server 10.0.0.101 443
[[service]]
protocol = "tcp"
vip = "10.0.0.101"
port = 443
scheduler = "wlc"

  [[service.real_server]]
  address = "10.1.0.51"
  port = 443
  weight = 5
  forward = "tun"

[[check]]
protocol = "tcp"
vip = "10.0.0.101"
port = 443
type = "https"
check_port = 8443
interval = 60.0
timeout = 5.0
retries = 1
retry_delay = 3.0
rise = 1
fall = 1
path = "/status"
host = "secure.example.com"

# keepalived.conf line 129: virtual_server 10.0.0.101 3306
[[service]]
protocol = "tcp"
vip = "10.0.0.101"
port = 3306
scheduler = "lc"

  [[service.real_server]]
  address = "10.1.0.41"
  port = 3306
  weight = 1
  forward = "nat"
  upper_threshold = 1000
  lower_threshold = 800

  [[service.real_server]]
  address = "10.1.0.42"
  port = 3306
  weight = 1
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.43"
  port = 3306
  weight = 0
  forward = "nat"

[[check]]
protocol = "tcp"
vip = "10.0.0.101"
port = 3306
real_server = "10.1.0.41:3306"
type = "misc"
interval = 60.0
timeout = 10.0
retries = 0
retry_delay = 1.0
rise = 1
fall = 1
command = "/usr/local/bin/check_mysql.sh 10.1.0.41"
dynamic = true

[[check]]
protocol = "tcp"
vip = "10.0.0.101"
port = 3306
real_server = "10.1.0.42:3306"
type = "icmp"
interval = 60.0
timeout = 5.0
retries = 3
retry_delay = 1.0
rise = 1
fall = 1
"#;

/// A keepalived.conf in a temporary file, removed when dropped.
struct ConfFile(PathBuf);

impl ConfFile {
    fn new(text: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "fnatctl-keepalived-{}-{}.conf",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for ConfFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// fnatctl run with `args`: exit status, stdout, stderr.
fn fnatctl(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fnatctl"))
        .args(args)
        .env("FNAT_CTL", "/nonexistent/fnat.ctl")
        .output()
        .unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn a_directors_keepalived_conf_becomes_fnatd_toml() {
    let conf = ConfFile::new(KEEPALIVED_CONF);
    let (code, stdout, stderr) = fnatctl(&["--from-keepalived", conf.path()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(stdout, FNATD_TOML);
}

fn timing(interval_ms: u64, timeout_ms: u64, retries: u32, retry_delay_ms: u64) -> CheckTiming {
    CheckTiming { interval_ms, timeout_ms, retries, retry_delay_ms, rise: 1, fall: 1 }
}

fn tcp(vip: [u8; 4], vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::from(vip), vport, fwmark: 0 }
}

fn udp(vip: [u8; 4], vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Udp, ..tcp(vip, vport) }
}

fn rs(a: [u8; 4], port: u16) -> Option<SocketAddrV4> {
    Some(SocketAddrV4::new(Ipv4Addr::from(a), port))
}

#[test]
fn fnatd_reads_back_the_services_and_checks_keepalived_ran() {
    let conf = ConfFile::new(KEEPALIVED_CONF);
    let (code, toml, _) = fnatctl(&["--from-keepalived", conf.path()]);
    assert_eq!(code, 0);
    let config = Config::parse(Path::new("fnatd.toml"), &format!("{GATEWAY}\n{toml}")).unwrap();

    let mut services: Vec<String> = config
        .services
        .iter()
        .map(|s| {
            let mut dests: Vec<String> = s
                .dests
                .iter()
                .map(|d| format!("{}:{} w{} {:?} {}/{}", d.addr, d.port, d.weight, d.method, d.upper, d.lower))
                .collect();
            dests.sort();
            let p = s.persistence.map(|p| format!(" -p {} /{}", p.timeout_secs(), p.netmask)).unwrap_or_default();
            format!("{} {}{p} {:?}: {}", s.key, s.scheduler, s.flags, dests.join(", "))
        })
        .collect();
    services.sort();
    assert_eq!(
        services,
        [
            "FWM 1 sh -p 300 /24 SchedFlags { fallback: false, port: true, flag3: false }: \
             10.1.0.31:0 w1 Dr 0/0, 10.1.0.32:0 w1 Dr 0/0",
            "TCP 10.0.0.100:80 wrr SchedFlags { fallback: false, port: false, flag3: false }: \
             10.1.0.11:8080 w3 Nat 0/0, 10.1.0.12:8080 w2 Nat 0/0",
            "TCP 10.0.0.101:3306 lc SchedFlags { fallback: false, port: false, flag3: false }: \
             10.1.0.41:3306 w1 Nat 1000/800, 10.1.0.42:3306 w1 Nat 0/0, 10.1.0.43:3306 w0 Nat 0/0",
            "TCP 10.0.0.101:443 wlc SchedFlags { fallback: false, port: false, flag3: false }: \
             10.1.0.51:443 w5 Tun 0/0",
            "UDP 10.0.0.100:53 rr SchedFlags { fallback: false, port: false, flag3: false }: \
             10.1.0.21:53 w1 Nat 0/0, 10.1.0.22:53 w1 Nat 0/0",
        ]
    );
    assert_eq!(config.services.iter().map(|s| s.scheduler).filter(|&s| s == SchedKind::Wlc).count(), 1);
    assert!(config.services.iter().flat_map(|s| &s.dests).all(|d| d.method != FwdMethod::FullNat));

    let checks: Vec<(ServiceKey, Option<SocketAddrV4>, CheckSpec, bool)> =
        config.checks.iter().map(|c| (c.svc, c.dest, c.spec.clone(), c.inhibit)).collect();
    let http = |tls, path: &str, host: &str, status: Vec<u16>, digest: Option<&str>| {
        CheckKind::Http(HttpCheck {
            path: path.into(),
            host: Some(host.into()),
            status,
            digest: digest.map(str::to_owned),
            tls,
        })
    };
    assert_eq!(
        checks,
        [
            (
                tcp([10, 0, 0, 100], 80),
                None,
                CheckSpec {
                    kind: http(
                        false,
                        "/health",
                        "www.example.com",
                        vec![200, 301, 302],
                        Some("9b3a0c85a887a256d6939da88aabd8cd")
                    ),
                    port: None,
                    timing: timing(6000, 3000, 2, 2000),
                },
                true,
            ),
            (
                udp([10, 0, 0, 100], 53),
                rs([10, 1, 0, 21], 53),
                CheckSpec {
                    kind: CheckKind::Udp(UdpCheck { payload: b"ping".to_vec(), require_reply: true }),
                    port: None,
                    timing: timing(10_000, 5000, 1, 1000),
                },
                false,
            ),
            (
                udp([10, 0, 0, 100], 53),
                rs([10, 1, 0, 22], 53),
                CheckSpec {
                    kind: CheckKind::Dns(DnsCheck { name: "example.com".into(), qtype: 1 }),
                    port: None,
                    timing: timing(10_000, 2000, 3, 10_000),
                },
                false,
            ),
            (
                ServiceKey::mark(1),
                None,
                CheckSpec { kind: CheckKind::Tcp, port: Some(443), timing: timing(5000, 2000, 1, 1000) },
                false,
            ),
            (
                tcp([10, 0, 0, 101], 443),
                None,
                CheckSpec {
                    kind: http(true, "/status", "secure.example.com", vec![], None),
                    port: Some(8443),
                    timing: timing(60_000, 5000, 1, 3000),
                },
                false,
            ),
            (
                tcp([10, 0, 0, 101], 3306),
                rs([10, 1, 0, 41], 3306),
                CheckSpec {
                    kind: CheckKind::Misc(MiscCheck {
                        command: vec!["/usr/local/bin/check_mysql.sh".into(), "10.1.0.41".into()],
                        dynamic: true,
                    }),
                    port: None,
                    timing: timing(60_000, 10_000, 0, 1000),
                },
                false,
            ),
            (
                tcp([10, 0, 0, 101], 3306),
                rs([10, 1, 0, 42], 3306),
                CheckSpec { kind: CheckKind::Icmp, port: None, timing: timing(60_000, 5000, 3, 1000) },
                false,
            ),
        ]
    );

    // The VRRP instance, on the port named as keepalived's interface, tracking both.
    assert_eq!(
        config.vrrp,
        [InstanceSpec {
            name: "VI_1".into(),
            port: 0,
            iface: "eth0".into(),
            instance: InstanceConfig {
                vrid: 51,
                priority: 150,
                advert_interval_cs: 100,
                preempt: true,
                preempt_delay_ms: 0,
                addresses: vec![Ipv4Addr::new(10, 0, 0, 100), Ipv4Addr::new(10, 0, 0, 101)],
                local_addr: Ipv4Addr::new(10, 0, 0, 1),
            },
            unicast_peers: vec![],
            track_ports: vec![0, 1],
            notify: Notify::default(),
            garp_repeat: 5,
            garp_interval_ms: 1000,
        }]
    );
}

/// A pair of directors' keepalived.conf, the first's: two VRRP instances (the VIPs outside; the
/// real servers' gateway and the local address inside, in unicast with the other director), and a
/// virtual server behind them.
const HA_CONF: &str = r#"! lb1 of the pair lb1/lb2
global_defs {
    router_id lb1
    vrrp_version 3
    vrrp_garp_interval 0.1
    vrrp_garp_master_repeat 3
}

vrrp_instance front {
    state MASTER
    interface eth0
    virtual_router_id 51
    priority 150
    advert_int 0.5
    preempt_delay 30
    virtual_ipaddress {
        10.0.0.100/24 dev eth0 label eth0:vip
    }
    track_interface {
        eth1 weight -50
    }
    notify_master "/etc/keepalived/notify.sh front master"
    notify_backup "/etc/keepalived/notify.sh front backup"
    notify_fault "/etc/keepalived/notify.sh front fault"
}

vrrp_instance "back end" {
    state BACKUP
    interface eth1
    virtual_router_id 52
    priority 100
    nopreempt
    unicast_src_ip 10.1.0.2
    unicast_peer {
        10.1.0.3
    }
    virtual_ipaddress {
        10.1.0.254/24
    }
    virtual_ipaddress_excluded {
        10.1.0.10
    }
    garp_master_repeat 2
    garp_master_delay 10
}

virtual_server 10.0.0.100 80 {
    delay_loop 2
    lb_algo rr
    lb_kind NAT
    protocol TCP
    real_server 10.1.0.11 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
    real_server 10.1.0.12 8080 {
        TCP_CHECK {
            connect_timeout 1
        }
    }
}
"#;

#[test]
fn a_pair_of_directors_vrrp_instances_become_vrrp_tables_fnatd_reads_back() {
    let conf = ConfFile::new(HA_CONF);
    let (code, toml, stderr) = fnatctl(&["--from-keepalived", conf.path()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        toml,
        r#"# Converted from keepalived.conf by fnatctl --from-keepalived.

# keepalived.conf line 9: vrrp_instance front
# port and track_ports are keepalived's interface names: each must name one of fnatd's [[port]] tables (port: one with [port.kernel])
# state MASTER (line 10) is not used: fnatd elects by priority, as keepalived does after startup
# track_interface eth1 weight -50 (line 20): fnatd puts the instance in FAULT when eth1 is down; it does not change the priority
# garp_interval_ms: global_defs' vrrp_garp_interval (line 5)
[[vrrp]]
name = "front"
port = "eth0"
vrid = 51
priority = 150
advert_interval_cs = 50
preempt = true
preempt_delay_ms = 30000
addresses = ["10.0.0.100"]
track_ports = ["eth0", "eth1"]
notify_master = "/etc/keepalived/notify.sh front master"
notify_backup = "/etc/keepalived/notify.sh front backup"
notify_fault = "/etc/keepalived/notify.sh front fault"
garp_repeat = 3
garp_interval_ms = 100

# keepalived.conf line 27: vrrp_instance back end
# fnatd names it 'back_end' (letters, digits, '_', '-' and '.', at most 32 of them)
# port and track_ports are keepalived's interface names: each must name one of fnatd's [[port]] tables (port: one with [port.kernel])
# state BACKUP (line 28) is not used: fnatd elects by priority, as keepalived does after startup
# unicast_src_ip 10.1.0.2 (line 33): fnatd advertises from the port's first address
# virtual_ipaddress_excluded (line 40): fnatd's advertisements carry these addresses too
# garp_master_delay 10 (line 44): fnatd sends no second set of gratuitous ARPs; its garp_repeat of them go garp_interval_ms apart
# garp_interval_ms: global_defs' vrrp_garp_interval (line 5)
[[vrrp]]
name = "back_end"
port = "eth1"
vrid = 52
priority = 100
advert_interval_cs = 100
preempt = false
preempt_delay_ms = 0
addresses = ["10.1.0.254", "10.1.0.10"]
unicast_peers = ["10.1.0.3"]
track_ports = ["eth1"]
garp_repeat = 2
garp_interval_ms = 100

# keepalived.conf line 47: virtual_server 10.0.0.100 80
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"

  [[service.real_server]]
  address = "10.1.0.11"
  port = 8080
  weight = 1
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.12"
  port = 8080
  weight = 1
  forward = "nat"

[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
type = "tcp"
interval = 2.0
timeout = 1.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1
"#
    );
    let config = Config::parse(Path::new("fnatd.toml"), &format!("{GATEWAY}\n{toml}")).unwrap();
    let notify = |state: &str| Some(vec!["/etc/keepalived/notify.sh".to_owned(), "front".into(), state.into()]);
    assert_eq!(
        config.vrrp,
        [
            InstanceSpec {
                name: "front".into(),
                port: 0,
                iface: "eth0".into(),
                instance: InstanceConfig {
                    vrid: 51,
                    priority: 150,
                    advert_interval_cs: 50,
                    preempt: true,
                    preempt_delay_ms: 30_000,
                    addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
                    local_addr: Ipv4Addr::new(10, 0, 0, 1),
                },
                unicast_peers: vec![],
                track_ports: vec![0, 1],
                notify: Notify { master: notify("master"), backup: notify("backup"), fault: notify("fault") },
                garp_repeat: 3,
                garp_interval_ms: 100,
            },
            InstanceSpec {
                name: "back_end".into(),
                port: 1,
                iface: "eth1".into(),
                instance: InstanceConfig {
                    vrid: 52,
                    priority: 100,
                    advert_interval_cs: 100,
                    preempt: false,
                    preempt_delay_ms: 0,
                    addresses: vec![Ipv4Addr::new(10, 1, 0, 254), Ipv4Addr::new(10, 1, 0, 10)],
                    local_addr: Ipv4Addr::new(10, 1, 0, 1),
                },
                unicast_peers: vec![Ipv4Addr::new(10, 1, 0, 3)],
                track_ports: vec![1],
                notify: Notify::default(),
                garp_repeat: 2,
                garp_interval_ms: 100,
            },
        ]
    );
    assert_eq!(config.services.len(), 1);
    assert_eq!(config.checks.len(), 1);
}

#[test]
fn what_cannot_be_converted_is_named_with_its_line_and_exits_2() {
    let cases = [
        (
            "virtual_server 10.0.0.100 25 {\n    real_server 10.1.0.11 25 {\n        SMTP_CHECK {\n        }\n    }\n}\n",
            "line 3: SMTP_CHECK is not supported yet",
        ),
        (
            "virtual_server 10.0.0.100 80 {\n    lb_kind TUN\n    real_server 10.1.0.11 8080 {\n    }\n}\n",
            "line 3: lb_kind TUN with a port mapping: DR and TUN real servers keep the service's port",
        ),
        (
            "vrrp_instance VI_1 {\n    state MASTER\n\nvirtual_server 10.0.0.100 80 {\n}\n",
            "line 1: this '{' is never closed",
        ),
        ("virtual_server_group web {\n    10.0.0.100 80\n}\n", "line 1: virtual_server_group is not supported yet"),
        (
            "vrrp_sync_group G1 {\n    group {\n        VI_1\n    }\n}\n",
            "line 1: vrrp_sync_group (fnatd's instances fail over each on its own: addresses that must move \
             together go in one vrrp_instance) is not supported yet",
        ),
        (
            "vrrp_instance VI_1 {\n    interface eth0\n    track_script {\n        chk\n    }\n}\n",
            "line 3: track_script is not supported yet",
        ),
        (
            "vrrp_instance VI_1 {\n    virtual_ipaddress {\n        2001:db8::100/64\n    }\n}\n",
            "line 3: IPv6 (virtual_ipaddress 2001:db8::100) is not supported yet",
        ),
    ];
    for (text, why) in cases {
        let conf = ConfFile::new(text);
        let (code, stdout, stderr) = fnatctl(&["--from-keepalived", conf.path()]);
        assert_eq!((code, stdout.as_str()), (2, ""), "{why}");
        assert_eq!(stderr, format!("fnatctl: {}: {why}\n", conf.path()));
    }
}

#[test]
fn a_missing_file_or_not_one_argument_is_a_usage_error() {
    let usage = "fnatctl: --from-keepalived takes one file: fnatctl --from-keepalived FILE\n";
    assert_eq!(fnatctl(&["--from-keepalived"]), (2, String::new(), usage.to_owned()));
    assert_eq!(fnatctl(&["--from-keepalived", "a.conf", "b.conf"]), (2, String::new(), usage.to_owned()));
    assert_eq!(
        fnatctl(&["--from-keepalived", "/nonexistent/keepalived.conf"]),
        (
            2,
            String::new(),
            "fnatctl: /nonexistent/keepalived.conf: cannot read: No such file or directory (os error 2)\n".to_owned()
        )
    );
    let (code, help, _) = fnatctl(&["-h"]);
    assert_eq!(code, 0);
    assert!(help.contains("  fnatctl --from-keepalived FILE\n"));
    assert!(help.contains("  --from-keepalived FILE      print the virtual_servers and vrrp_instances of\n"));
}

#[test]
fn a_file_without_virtual_servers_or_vrrp_instances_gives_the_header_alone_which_fnatd_accepts() {
    let conf = ConfFile::new(
        "global_defs {\n    router_id LVS_B\n    vrrp_version 3\n}\nvrrp_script chk {\n    script /bin/true\n}\n",
    );
    let (code, toml, stderr) = fnatctl(&["--from-keepalived", conf.path()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(toml, "# Converted from keepalived.conf by fnatctl --from-keepalived.\n");
    let config = Config::parse(Path::new("fnatd.toml"), &format!("{GATEWAY}\n{toml}")).unwrap();
    assert_eq!((config.services.len(), config.checks.len(), config.vrrp.len()), (0, 0, 0));
}

/// keepalived's quorum, sorry server and notify scripts become fields of the `[[check]]` tables:
/// the service-wide ones on the service's table, a real server's scripts on its own table.
#[test]
fn quorum_sorry_server_and_notify_scripts_are_written_on_the_checks() {
    let conf = ConfFile::new(
        r#"virtual_server 10.0.0.100 80 {
    lb_algo rr
    sorry_server 10.1.0.99 8080
    quorum 2
    hysteresis 1
    quorum_up "/usr/local/bin/up.sh"
    quorum_down "/usr/local/bin/down.sh web"
    real_server 10.1.0.11 8080 {
        TCP_CHECK {
        }
    }
    real_server 10.1.0.12 8080 {
        TCP_CHECK {
        }
    }
}
virtual_server 10.0.0.100 443 {
    real_server 10.1.0.11 443 {
        notify_up "/usr/local/bin/rs-up.sh 10.1.0.11"
        notify_down /usr/local/bin/rs-down.sh
        TCP_CHECK {
        }
    }
    real_server 10.1.0.12 443 {
        TCP_CHECK {
        }
    }
}
"#,
    );
    let (code, toml, stderr) = fnatctl(&["--from-keepalived", conf.path()]);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert_eq!(
        toml,
        r#"# Converted from keepalived.conf by fnatctl --from-keepalived.

# keepalived.conf line 1: virtual_server 10.0.0.100 80
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "rr"

  [[service.real_server]]
  address = "10.1.0.11"
  port = 8080
  weight = 1
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.12"
  port = 8080
  weight = 1
  forward = "nat"

[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
type = "tcp"
interval = 60.0
timeout = 5.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1
sorry_server = "10.1.0.99:8080"
quorum = 2
hysteresis = 1
quorum_up = "/usr/local/bin/up.sh"
quorum_down = "/usr/local/bin/down.sh web"

# keepalived.conf line 17: virtual_server 10.0.0.100 443
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 443

  [[service.real_server]]
  address = "10.1.0.11"
  port = 443
  weight = 1
  forward = "nat"

  [[service.real_server]]
  address = "10.1.0.12"
  port = 443
  weight = 1
  forward = "nat"

[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 443
real_server = "10.1.0.11:443"
type = "tcp"
interval = 60.0
timeout = 5.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1
notify_up = "/usr/local/bin/rs-up.sh 10.1.0.11"
notify_down = "/usr/local/bin/rs-down.sh"

[[check]]
protocol = "tcp"
vip = "10.0.0.100"
port = 443
real_server = "10.1.0.12:443"
type = "tcp"
interval = 60.0
timeout = 5.0
retries = 1
retry_delay = 1.0
rise = 1
fall = 1
"#
    );
}

/// Whatever fnatctl converts, fnatd accepts: the directors' files with each line left out, and
/// with each number in them replaced by values at and past the edges of fnatd's and keepalived's
/// ranges, are either refused (with a line) or converted into TOML that fnatd's parser takes.
#[test]
fn whatever_is_converted_fnatd_accepts() {
    let (mut converted, mut refused) = (0, 0);
    for conf in [KEEPALIVED_CONF, HA_CONF] {
        let lines: Vec<&str> = conf.lines().collect();
        let mut variants: Vec<String> = (0..lines.len())
            .map(|i| lines.iter().enumerate().filter(|&(j, _)| j != i).map(|(_, l)| *l).collect::<Vec<_>>().join("\n"))
            .collect();
        for (i, line) in lines.iter().enumerate() {
            let words: Vec<&str> = line.split_whitespace().collect();
            for (k, w) in words.iter().enumerate() {
                if w.parse::<f64>().is_err() || w.matches('.').count() > 1 {
                    continue;
                }
                for v in [
                    "0",
                    "1",
                    "0.05",
                    "0.004",
                    "40.95",
                    "255",
                    "256",
                    "-254",
                    "300.5",
                    "3601",
                    "65535",
                    "65536",
                    "4294967296",
                ] {
                    let mut changed = words.clone();
                    changed[k] = v;
                    let mut all = lines.clone();
                    let new = changed.join(" ");
                    all[i] = &new;
                    variants.push(all.join("\n"));
                }
            }
        }
        for text in &variants {
            match ctrl::keepalived::to_fnat_toml(text) {
                Ok(toml) => {
                    converted += 1;
                    if let Err(e) = Config::parse(Path::new("fnatd.toml"), &format!("{GATEWAY}\n{toml}")) {
                        panic!("fnatd refuses what was converted: {e}\n--- keepalived.conf\n{text}\n--- toml\n{toml}");
                    }
                }
                Err(e) => {
                    refused += 1;
                    assert!(e.line() >= 1 && e.line() <= lines.len(), "{e}");
                }
            }
        }
    }
    assert!(converted > 100 && refused > 100, "{converted} converted, {refused} refused");
}
