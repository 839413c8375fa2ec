use super::*;
use ctrl::vocab::{CheckKind, FwdMethod, Persistence, Protocol, SchedFlags, SchedKind, ServiceKey};

const GOOD: &str = r#"
[eal]
no_huge = true
memory_mb = 256

[workers]
lcores = [1, 2]

[[port]]
name = "lan"
device = "net_af_packet0,iface=veth0"
addresses = ["10.0.0.1/24"]

[[port]]
name = "wan"
pci = "0000:03:00.0"
mac = "02:00:00:00:00:09"

[local]
addresses = ["10.1.0.10", "10.1.0.11"]
ports = "2000-3000"

[[neighbour]]
address = "10.0.0.2"
mac = "02:00:00:00:00:02"
port = "lan"

[[route]]
prefix = "0.0.0.0/0"
via = "10.0.0.254"
port = "wan"

[timeouts]
tcp = 600
udp = 30

[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"

  [[service.real_server]]
  address = "10.1.0.2"
  port = 8080
  weight = 3

  [[service.real_server]]
  address = "10.1.0.3"
"#;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("fnatd.toml"), text)
}

/// The error text for `GOOD` with `from` replaced by `to`.
fn error_with(from: &str, to: &str) -> String {
    assert!(GOOD.contains(from), "test bug: {from:?} not in the sample");
    parse(&GOOD.replacen(from, to, 1)).expect_err("must be refused").to_string()
}

#[test]
fn a_full_config_parses_into_typed_values() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.worker_lcores, vec![1, 2]);
    assert!(c.eal.no_huge);
    assert_eq!(c.eal.file_prefix, "fnat");
    assert_eq!(c.conn_table_size, 1 << 20);
    assert_eq!(c.ports[0].device, PortDevice::Vdev("net_af_packet0,iface=veth0".into()));
    assert_eq!(c.ports[0].device.dpdk_name(), "net_af_packet0");
    assert_eq!(c.ports[1].device, PortDevice::Pci("0000:03:00.0".into()));
    assert_eq!(c.ports[1].mac, Some(MacAddr([2, 0, 0, 0, 0, 9])));
    assert_eq!(c.local_addrs.len(), 2);
    assert_eq!(c.local_ports, 2000..=3000);
    assert_eq!(c.neighbours[0].port, 0);
    assert_eq!(c.routes[0].port, 1);
    assert_eq!(c.timeouts.tcp[crate::lb::TcpState::Established as usize], 600_000);
    assert_eq!(c.timeouts.udp, 30_000);
    let svc = c.services.iter().next().unwrap();
    assert_eq!(svc.scheduler, SchedKind::Wrr);
    assert_eq!(svc.dests[0].weight, 3);
    // A real server without port or weight gets the service's port and weight 1, as in ipvsadm.
    assert_eq!((svc.dests[1].port, svc.dests[1].weight), (80, 1));
    assert_ne!(svc.dests[0].id, svc.dests[1].id);
}

#[test]
fn the_shipped_config_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/pcap-demo.toml");
    let text = std::fs::read_to_string(&path).unwrap().replace("@RUN_DIR@", "/tmp");
    Config::parse(&path, &text).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn errors_name_the_file_the_field_and_the_problem() {
    let cases: &[(&str, &str, &str)] = &[
        ("lcores = [1, 2]", "lcores = []", "fnatd.toml: workers.lcores: name at least one lcore"),
        ("lcores = [1, 2]", "lcores = [1, 1]", "fnatd.toml: workers.lcores[1]: lcore 1 is listed twice"),
        ("lcores = [1, 2]", "lcores = [0]", "fnatd.toml: workers.lcores[0]: lcore 0 is eal.main_lcore"),
        ("memory_mb = 256", "memory_mb = 8", "fnatd.toml: eal.memory_mb: must be at least 64"),
        ("10.0.0.1/24", "10.0.0.1/40", "fnatd.toml: port[0].addresses[0]: '40' is not a prefix length"),
        ("name = \"wan\"", "name = \"lan\"", "fnatd.toml: port[1].name: another port is named 'lan'"),
        ("pci = \"0000:03:00.0\"", "pci = \"03-00\"", "fnatd.toml: port[1].pci: '03-00' is not a PCI address"),
        ("pci = \"0000:03:00.0\"", "", "fnatd.toml: port[1]: give exactly one of `device`"),
        ("02:00:00:00:00:09", "01:00:5e:00:00:01", "fnatd.toml: port[1].mac: '01:00:5e:00:00:01' is not a unicast MAC"),
        ("ports = \"2000-3000\"", "ports = \"3000-2000\"", "fnatd.toml: local.ports: '3000-2000' is not a port range"),
        (
            "\"10.1.0.10\", \"10.1.0.11\"",
            "\"10.1.0.10\", \"10.1.0.10\"",
            "fnatd.toml: local.addresses[1]: 10.1.0.10 is listed twice",
        ),
        (
            "port = \"lan\"\n\n[[route]]",
            "port = \"dmz\"\n\n[[route]]",
            "fnatd.toml: neighbour[0].port: no port is named 'dmz'",
        ),
        ("via = \"10.0.0.254\"", "via = \"10.0.0\"", "fnatd.toml: route[0].via: '10.0.0' is not an IPv4 address"),
        ("tcp = 600", "tcp = 0", "fnatd.toml: timeouts.tcp: must be from 1 second"),
        ("protocol = \"tcp\"", "protocol = \"sctp\"", "fnatd.toml: service[0].protocol: 'sctp' is not tcp or udp"),
        (
            "vip = \"10.0.0.100\"",
            "vip = \"10.1.0.10\"",
            "fnatd.toml: service[0].vip: 10.1.0.10 is also a local address",
        ),
        (
            "port = 80",
            "port = 0",
            "fnatd.toml: service[0].port: port 0 (every port of the VIP) needs persistence: set `persistent`",
        ),
        (
            "port = 80",
            "port = 70000",
            "fnatd.toml: service[0].port: must be from 1 to 65535 (or 0, every port, with persistence)",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\npersistent = 0",
            "fnatd.toml: service[0].persistent: must be from 1 to 2678400 seconds (31 days), or true for 360",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\npersistent = 2678401",
            "fnatd.toml: service[0].persistent: must be from 1 to 2678400 seconds",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\nnetmask = \"255.255.255.0\"",
            "fnatd.toml: service[0].netmask: is the granularity of persistence: set `persistent` too",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\npersistent = true\nnetmask = \"255.0.255.0\"",
            "fnatd.toml: service[0].netmask: '255.0.255.0' is not a netmask like 255.255.255.0",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\npersistent = true\nnetmask = \"/24\"",
            "fnatd.toml: service[0].netmask: '/24' is not a netmask",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\nscheduler_flags = [\"flag-1\", \"fallback\"]",
            "fnatd.toml: service[0].scheduler_flags[1]: 'fallback' is not a scheduler flag (one of flag-1, flag-2, \
             flag-3, sh-fallback, sh-port, mh-fallback, mh-port)",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\nscheduler_flags = [\"sh-port\"]",
            "fnatd.toml: service[0].scheduler_flags[0]: 'sh-port' is a flag of the sh scheduler, not of wrr",
        ),
        (
            "scheduler = \"wrr\"",
            "scheduler = \"wrr\"\nscheduler_flags = [\"flag-3\", \"mh-fallback\"]",
            "fnatd.toml: service[0].scheduler_flags[1]: 'mh-fallback' is a flag of the mh scheduler, not of wrr",
        ),
        (
            "weight = 3",
            "weight = 3\n  upper_threshold = 2147483648",
            "fnatd.toml: service[0].real_server[0].upper_threshold: must be from 0 to 2147483647",
        ),
        (
            "weight = 3",
            "weight = 3\n  upper_threshold = 10\n  lower_threshold = 99999999999",
            "fnatd.toml: service[0].real_server[0].lower_threshold: must be from 0 to 2147483647",
        ),
        (
            "weight = 3",
            "weight = 3\n  upper_threshold = 10\n  lower_threshold = 11",
            "fnatd.toml: service[0].real_server[0].lower_threshold: must not be above upper_threshold (10), as in IPVS",
        ),
        (
            "weight = 3",
            "weight = 3\n  lower_threshold = 1",
            "fnatd.toml: service[0].real_server[0].lower_threshold: must not be above upper_threshold (0, none), \
             as in IPVS",
        ),
        ("weight = 3", "weight = 70000", "fnatd.toml: service[0].real_server[0].weight: must be from 0 to 65535"),
        ("port = 8080", "port = 0", "fnatd.toml: service[0].real_server[0].port: must be from 1 to 65535"),
        (
            "weight = 3",
            "weight = 3\n  forward = \"dr\"",
            "fnatd.toml: service[0].real_server[0].port: route (DR) cannot map ports: the real server port must be 80",
        ),
        (
            "weight = 3",
            "weight = 3\n  forward = \"tun\"",
            "fnatd.toml: service[0].real_server[0].port: tunnel (TUN) cannot map ports: the real server port must be 80",
        ),
        (
            "weight = 3",
            "weight = 3\n  forward = \"NAT\"",
            "fnatd.toml: service[0].real_server[0].forward: 'NAT' is not fullnat, nat, dr or tun",
        ),
        (
            "weight = 3",
            "weight = 3\n  forward = \"bounce\"",
            "fnatd.toml: service[0].real_server[0].forward: 'bounce' is not fullnat",
        ),
        (
            "address = \"10.1.0.3\"",
            "address = \"10.1.0.2\"\n  port = 8080",
            "fnatd.toml: service[0].real_server[1]: real server 10.1.0.2:8080 is listed twice",
        ),
    ];
    for (from, to, want) in cases {
        let got = error_with(from, to);
        assert!(got.starts_with(want), "replacing {from:?} by {to:?}:\n got: {got}\nwant: {want}…");
    }
}

#[test]
fn syntax_errors_and_unknown_fields_name_the_file_and_the_place() {
    let got = error_with("no_huge = true", "no_hug = true");
    assert!(got.starts_with("fnatd.toml: ") && got.contains("no_hug") && got.contains("line"), "{got}");
    let got = error_with("memory_mb = 256", "memory_mb = \"lots\"");
    assert!(got.starts_with("fnatd.toml: ") && got.contains("memory_mb"), "{got}");
    let got = parse("[workers\n").unwrap_err().to_string();
    assert!(got.starts_with("fnatd.toml: ") && got.contains("line 1"), "{got}");
    let got = parse("").unwrap_err().to_string();
    assert!(got.contains("workers"), "{got}");
}

#[test]
fn fullnat_needs_local_addresses() {
    let got = error_with("addresses = [\"10.1.0.10\", \"10.1.0.11\"]", "addresses = []");
    assert!(got.contains("service[0].real_server[0].forward: FULLNAT needs local addresses"), "{got}");
}

#[test]
fn a_missing_file_is_named() {
    let got = Config::load(Path::new("/nonexistent/fnatd.toml")).unwrap_err().to_string();
    assert!(got.starts_with("/nonexistent/fnatd.toml: cannot read"), "{got}");
}

#[test]
fn a_service_may_use_a_subset_of_the_local_addresses() {
    let with =
        |list: &str| GOOD.replacen("scheduler = \"wrr\"", &format!("scheduler = \"wrr\"\nlocal_addrs = {list}"), 1);
    let c = parse(&with("[\"10.1.0.11\"]")).unwrap();
    assert_eq!(c.services.iter().next().unwrap().laddrs, vec![Ipv4Addr::new(10, 1, 0, 11)]);
    let c = parse(GOOD).unwrap();
    assert_eq!(c.services.iter().next().unwrap().laddrs.len(), 2, "all of [local] addresses by default");
    let got = parse(&with("[]")).unwrap_err().to_string();
    assert!(got.contains("service[0].real_server[0].forward: FULLNAT needs local addresses"), "{got}");
    let got = parse(&with("[\"10.1.0.99\"]")).unwrap_err().to_string();
    assert!(got.contains("service[0].local_addrs[0]: 10.1.0.99 is not one of [local] addresses"), "{got}");
    let got = parse(&with("[\"10.1.0.11\", \"10.1.0.11\"]")).unwrap_err().to_string();
    assert!(got.contains("service[0].local_addrs[1]: 10.1.0.11 is listed twice"), "{got}");
}

#[test]
fn the_control_path_defaults_to_shared_memory_and_must_be_absolute() {
    assert_eq!(parse(GOOD).unwrap().control_path, PathBuf::from("/dev/shm/fnat.ctl"));
    let with = |path: &str| format!("{GOOD}\n[control]\npath = \"{path}\"\n");
    assert_eq!(parse(&with("/run/fnat/ctl")).unwrap().control_path, PathBuf::from("/run/fnat/ctl"));
    for bad in ["fnat.ctl", "", "/dev/shm/", "./x"] {
        let got = parse(&with(bad)).unwrap_err().to_string();
        assert_eq!(got, format!("fnatd.toml: control.path: '{bad}' is not an absolute path to a file"));
    }
    assert_eq!(parse(GOOD).unwrap().rules_path, None);
    let rules = parse(&format!("{GOOD}\n[control]\nrules = \"/var/lib/fnat/rules\"\n")).unwrap();
    assert_eq!(
        (rules.rules_path, rules.control_path),
        (Some(PathBuf::from("/var/lib/fnat/rules")), PathBuf::from("/dev/shm/fnat.ctl"))
    );
    for bad in ["rules", "/var/lib/fnat/", ""] {
        let got = parse(&format!("{GOOD}\n[control]\nrules = \"{bad}\"\n")).unwrap_err().to_string();
        assert_eq!(got, format!("fnatd.toml: control.rules: '{bad}' is not an absolute path to a file"));
    }
    let got = parse(&format!("{GOOD}\n[control]\nsock = \"/x\"\n")).unwrap_err().to_string();
    assert!(got.contains("unknown field `sock`"), "{got}");
}

#[test]
fn the_metrics_endpoint_is_an_address_and_port() {
    assert_eq!(parse(GOOD).unwrap().metrics_addr, None);
    let with = |m: &str| parse(&format!("{GOOD}\n[control]\nmetrics = \"{m}\"\n"));
    assert_eq!(with("127.0.0.1:9542").unwrap().metrics_addr, Some("127.0.0.1:9542".parse().unwrap()));
    for bad in ["127.0.0.1", "localhost:9542", ":9542", "10.0.0.1:99999", ""] {
        let got = with(bad).unwrap_err().to_string();
        assert_eq!(
            got,
            format!("fnatd.toml: control.metrics: '{bad}' is not an address and port (e.g. 127.0.0.1:9542)")
        );
    }
}

#[test]
fn every_forwarding_method_is_accepted() {
    // On two workers; DR and TUN take the service's port, given or not.
    let text = GOOD.replacen(
        "  [[service.real_server]]\n  address = \"10.1.0.3\"\n",
        "  [[service.real_server]]\n  address = \"10.1.0.3\"\n  forward = \"nat\"\n\
         \n  [[service.real_server]]\n  address = \"10.1.0.4\"\n  forward = \"dr\"\n\
         \n  [[service.real_server]]\n  address = \"10.1.0.5\"\n  port = 80\n  forward = \"tun\"\n\
         \n  [[service.real_server]]\n  address = \"10.1.0.6\"\n  port = 8080\n  forward = \"fullnat\"\n",
        1,
    );
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let svc = c.services.iter().next().unwrap();
    let got: Vec<(u16, FwdMethod)> = svc.dests.iter().map(|d| (d.port, d.method)).collect();
    assert_eq!(
        got,
        vec![
            (8080, FwdMethod::FullNat),
            (80, FwdMethod::Nat),
            (80, FwdMethod::Dr),
            (80, FwdMethod::Tun),
            (8080, FwdMethod::FullNat)
        ],
        "the default is fullnat"
    );
    // NAT may map ports.
    let nat = text.replacen("address = \"10.1.0.3\"\n", "address = \"10.1.0.3\"\n  port = 8081\n", 1);
    assert_eq!(parse(&nat).unwrap().services.iter().next().unwrap().dests[1].port, 8081);
}

#[test]
fn only_fullnat_needs_local_addresses() {
    let no_laddrs = |forward: &str| {
        GOOD.replacen("addresses = [\"10.1.0.10\", \"10.1.0.11\"]", "addresses = []", 1)
            .replacen("lcores = [1, 2]", "lcores = [1]", 1)
            .replacen("  port = 8080\n  weight = 3\n", &format!("  weight = 3\n  forward = \"{forward}\"\n"), 1)
            .replacen("address = \"10.1.0.3\"\n", &format!("address = \"10.1.0.3\"\n  forward = \"{forward}\"\n"), 1)
    };
    for forward in ["nat", "dr", "tun"] {
        let c = parse(&no_laddrs(forward)).unwrap_or_else(|e| panic!("{forward}: {e}"));
        assert!(c.services.iter().next().unwrap().laddrs.is_empty());
    }
    let got = parse(&no_laddrs("fullnat")).unwrap_err().to_string();
    assert!(got.contains("service[0].real_server[0].forward: FULLNAT needs local addresses"), "{got}");
}

#[test]
fn a_port_mtu_is_checked_and_reaches_the_interface() {
    let c =
        parse(&GOOD.replacen("addresses = [\"10.0.0.1/24\"]", "addresses = [\"10.0.0.1/24\"]\nmtu = 1400", 1)).unwrap();
    assert_eq!(c.ports[0].mtu, Some(1400));
    let ifaces = c.interfaces(&[MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2])]);
    assert_eq!((ifaces[0].mtu, ifaces[1].mtu), (1400, 1500));
    let got = error_with("addresses = [\"10.0.0.1/24\"]", "addresses = [\"10.0.0.1/24\"]\nmtu = 100");
    assert!(got.contains("port[0].mtu: must be from 576 to 9000"), "{got}");
}

#[test]
fn an_unknown_scheduler_is_named() {
    let got = error_with("scheduler = \"wrr\"", "scheduler = \"fair\"");
    assert!(got.starts_with("fnatd.toml: service[0].scheduler: ") && got.contains("'fair'"), "{got}");
    let got = error_with("scheduler = \"wrr\"", "scheduler = \"WRR\"");
    assert!(got.starts_with("fnatd.toml: service[0].scheduler: ") && got.contains("'WRR'"), "{got}");
}

#[test]
fn a_service_without_a_scheduler_gets_ipvsadms_default_wlc() {
    let c = parse(&GOOD.replacen("scheduler = \"wrr\"\n", "", 1)).unwrap_or_else(|e| panic!("{e}"));
    let svc = c.services.iter().next().unwrap();
    assert_eq!(svc.scheduler.name(), "wlc");
    assert_eq!(svc.flags, SchedFlags::default());
}

#[test]
fn every_ipvs_scheduler_is_accepted() {
    for name in ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"] {
        let text = GOOD.replacen("scheduler = \"wrr\"", &format!("scheduler = \"{name}\""), 1);
        let c = parse(&text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(c.services.iter().next().unwrap().scheduler.name(), name);
    }
}

#[test]
fn scheduler_flags_are_read_by_ipvsadms_names() {
    let with = |sched: &str, flags: &str| {
        let text =
            GOOD.replacen("scheduler = \"wrr\"", &format!("scheduler = \"{sched}\"\nscheduler_flags = {flags}"), 1);
        parse(&text).map(|c| c.services.iter().next().unwrap().flags)
    };
    let f = |fallback, port, flag3| SchedFlags { fallback, port, flag3 };
    assert_eq!(with("wrr", "[]").unwrap(), SchedFlags::default());
    assert_eq!(with("rr", "[\"flag-1\", \"flag-2\", \"flag-3\"]").unwrap(), f(true, true, true));
    assert_eq!(with("wrr", "[\"flag-2\", \"flag-2\"]").unwrap(), f(false, true, false), "repeats are fine");
    assert_eq!(with("sh", "[\"sh-fallback\", \"sh-port\"]").unwrap(), f(true, true, false));
    assert_eq!(with("mh", "[\"mh-port\", \"flag-3\"]").unwrap(), f(false, true, true));
    let got = with("mh", "[\"sh-port\"]").unwrap_err().to_string();
    assert_eq!(got, "fnatd.toml: service[0].scheduler_flags[0]: 'sh-port' is a flag of the sh scheduler, not of mh");
    // The default scheduler, wlc, takes only the generic flags.
    let text = GOOD.replacen("scheduler = \"wrr\"", "scheduler_flags = [\"sh-port\"]", 1);
    let got = parse(&text).unwrap_err().to_string();
    assert_eq!(got, "fnatd.toml: service[0].scheduler_flags[0]: 'sh-port' is a flag of the sh scheduler, not of wlc");
    let got = with("rr", "\"flag-1\"").unwrap_err().to_string();
    assert!(got.starts_with("fnatd.toml: ") && got.contains("scheduler_flags"), "{got}");
}

#[test]
fn thresholds_default_to_none_and_reach_the_real_server() {
    let c = parse(GOOD).unwrap();
    let svc = c.services.iter().next().unwrap();
    assert!(svc.dests.iter().all(|d| (d.upper, d.lower) == (0, 0)));
    let text = GOOD
        .replacen("weight = 3\n", "weight = 3\n  upper_threshold = 2147483647\n  lower_threshold = 1500\n", 1)
        .replacen("address = \"10.1.0.3\"\n", "address = \"10.1.0.3\"\n  upper_threshold = 20\n", 1);
    let c = parse(&text).unwrap_or_else(|e| panic!("{e}"));
    let got: Vec<(u32, u32)> = c.services.iter().next().unwrap().dests.iter().map(|d| (d.upper, d.lower)).collect();
    assert_eq!(got, vec![(2_147_483_647, 1500), (20, 0)]);
    let got = error_with("weight = 3", "weight = 3\n  upper_threshold = -1");
    assert!(got.starts_with("fnatd.toml: ") && got.contains("upper_threshold"), "{got}");
}

#[test]
fn persistence_is_read_in_seconds_or_as_ipvsadms_default() {
    let with = |lines: &str| {
        let text = GOOD.replacen("scheduler = \"wrr\"", &format!("scheduler = \"wrr\"\n{lines}"), 1);
        parse(&text).map(|c| c.services.iter().next().unwrap().persistence)
    };
    assert_eq!(parse(GOOD).unwrap().services.iter().next().unwrap().persistence, None);
    assert_eq!(with("persistent = 600").unwrap(), Some(Persistence::secs(600)));
    assert_eq!(with("persistent = true").unwrap(), Some(Persistence::secs(360)));
    assert_eq!(with("persistent = false").unwrap(), None);
    assert_eq!(with("persistent = 2678400").unwrap(), Some(Persistence::secs(2_678_400)));
    let p = with("persistent = 60\nnetmask = \"255.255.255.0\"").unwrap().unwrap();
    assert_eq!((p.timeout_ms, p.netmask), (60_000, 24));
    assert_eq!(with("persistent = 60\nnetmask = \"0.0.0.0\"").unwrap().map(|p| p.netmask), Some(0));
    let got = with("persistent = \"long\"").unwrap_err().to_string();
    assert!(got.starts_with("fnatd.toml: ") && got.contains("persistent"), "{got}");
    assert!(!parse(GOOD).unwrap().expire_quiescent_template);
    let c = parse(&format!("{GOOD}\n[ipvs]\nexpire_quiescent_template = true\n")).unwrap();
    assert!(c.expire_quiescent_template && !c.expire_nodest_conn);
}

#[test]
fn a_port_zero_service_needs_persistence_and_real_servers_of_port_zero() {
    let pcc =
        |rs_port: &str| {
            GOOD.replacen("port = 80\nscheduler = \"wrr\"", "port = 0\nscheduler = \"wrr\"\npersistent = 360", 1)
                .replacen("  port = 8080\n", rs_port, 1)
        };
    let c = parse(&pcc("")).unwrap_or_else(|e| panic!("{e}"));
    let svc = c.services.iter().next().unwrap();
    assert_eq!(svc.key.vport, 0);
    assert_eq!(svc.dests.iter().map(|d| d.port).collect::<Vec<_>>(), vec![0, 0], "every port is kept");
    assert!(parse(&pcc("  port = 0\n")).is_ok());
    let got = parse(&pcc("  port = 8080\n")).unwrap_err().to_string();
    assert_eq!(
        got,
        "fnatd.toml: service[0].real_server[0].port: must be 0 or left out in a port-0 service: each connection \
         keeps its own port"
    );
    // DR and TUN leave ports alone: fine in a port-0 service.
    let dr = pcc("").replacen("weight = 3\n", "weight = 3\n  forward = \"dr\"\n", 1);
    assert_eq!(parse(&dr).unwrap().services.iter().next().unwrap().dests[0].method, FwdMethod::Dr);
}

const FWMARK: &str = r#"
[[fwmark]]
mark = 1
destination = "10.0.0.100/32"
protocol = "tcp"
ports = "80,443"

[[fwmark]]
mark = 2
destination = "10.0.2.0/24"

[[service]]
fwmark = 1
scheduler = "rr"
persistent = 360

  [[service.real_server]]
  address = "10.1.0.4"

  [[service.real_server]]
  address = "10.1.0.5"
  port = 8080
"#;

#[test]
fn fwmark_rules_and_services_are_read() {
    let c = parse(&format!("{GOOD}{FWMARK}")).unwrap_or_else(|e| panic!("{e}"));
    let svc = c.services.find(&ServiceKey::mark(1)).map(|(_, s)| s.clone()).unwrap();
    assert_eq!(svc.dests.iter().map(|d| d.port).collect::<Vec<_>>(), vec![0, 8080]);
    assert_eq!(svc.persistence, Some(Persistence::secs(360)));
    let m = c.services.marks();
    assert_eq!(m.rules().len(), 2);
    assert_eq!(m.classify(Protocol::Tcp, Ipv4Addr::new(10, 0, 0, 100), 443), Some(1));
    assert_eq!(m.classify(Protocol::Udp, Ipv4Addr::new(10, 0, 2, 7), 53), Some(2), "any protocol, any port");
    assert_eq!(m.classify(Protocol::Udp, Ipv4Addr::new(10, 0, 0, 100), 443), None);
    assert!(c.services.is_vip(Ipv4Addr::new(10, 0, 0, 100)));
    assert!(!c.services.is_vip(Ipv4Addr::new(10, 0, 2, 7)), "only /32 rules name VIPs");
}

#[test]
fn fwmark_errors_name_the_field() {
    let with = |from: &str, to: &str| {
        let text = format!("{GOOD}{}", FWMARK.replacen(from, to, 1));
        parse(&text).expect_err("must be refused").to_string()
    };
    assert_eq!(with("mark = 1", "mark = 0"), "fnatd.toml: fwmark[0].mark: must be from 1 to 4294967295");
    assert_eq!(
        with("\"10.0.0.100/32\"", "\"10.0.0.100/24\""),
        "fnatd.toml: fwmark[0].destination: '10.0.0.100/24' has host bits set"
    );
    assert_eq!(
        with("protocol = \"tcp\"", "protocol = \"icmp\""),
        "fnatd.toml: fwmark[0].protocol: 'icmp' is not tcp, udp or any"
    );
    assert_eq!(with("\"80,443\"", "\"80,0\""), "fnatd.toml: fwmark[0].ports: '0' is not a port from 1 to 65535");
    assert_eq!(
        with("fwmark = 1\n", "fwmark = 1\nport = 80\n"),
        "fnatd.toml: service[1]: a fwmark service has no protocol, vip or port: its [[fwmark]] rules say"
    );
    assert_eq!(with("fwmark = 1\n", "fwmark = 0\n"), "fnatd.toml: service[1].fwmark: must be from 1 to 4294967295");
    assert_eq!(with("fwmark = 1\n", ""), "fnatd.toml: service[1]: needs protocol, vip and port (or fwmark)");
    let twice = format!("{GOOD}{FWMARK}{}", &FWMARK[FWMARK.find("[[service]]").unwrap()..]);
    assert_eq!(parse(&twice).unwrap_err().to_string(), "fnatd.toml: service[2]: service FWM 1 is defined twice");
    let dr = with("  port = 8080\n", "  port = 8080\n  forward = \"dr\"\n");
    assert!(dr.starts_with("fnatd.toml: service[1].real_server[1].port: route (DR) cannot map ports"), "{dr}");
}

#[test]
fn a_configured_vip_real_server_or_local_address_must_be_unicast_as_with_fnatctl() {
    // The configured services pass the control state's checks, the same as fnatctl's commands.
    assert_eq!(
        error_with("vip = \"10.0.0.100\"", "vip = \"224.0.0.1\""),
        "fnatd.toml: service[0].vip: 224.0.0.1 is not a unicast address"
    );
    assert_eq!(
        error_with("address = \"10.1.0.3\"", "address = \"255.255.255.255\""),
        "fnatd.toml: service[0].real_server[1].address: 255.255.255.255 is not a unicast address"
    );
    assert_eq!(
        error_with("\"10.1.0.10\", \"10.1.0.11\"", "\"10.1.0.10\", \"239.0.0.1\""),
        "fnatd.toml: local.addresses[1]: 239.0.0.1 is not a unicast address"
    );
    assert_eq!(
        error_with("vip = \"10.0.0.100\"", "vip = \"127.0.0.1\""),
        "fnatd.toml: service[0].vip: 127.0.0.1 is not a unicast address"
    );
}

#[test]
fn a_configured_state_saves_as_rules_that_fnatctl_restores() {
    // What the configuration holds is what the control state holds: its `-S` text restores into
    // an empty table without an error, and to the same text.
    let c = parse(GOOD).unwrap();
    let text = crate::control::rules::save_state(&c.state).unwrap();
    let mut again = crate::control::ControlState::new(&Services::default(), c.local_addrs.clone(), c.conn_table_size);
    let commands = ctrl::save::parse_rules(&text).unwrap();
    again.apply_changes(&commands).unwrap();
    assert_eq!(crate::control::rules::save_state(&again).unwrap(), text);
    assert!(c.services.iter().eq(c.state.services().unwrap().iter()), "the services are the state's");
}

#[test]
fn reassembly_limits_default_to_linuxs_and_are_checked() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.reassembly, crate::net::reasm::ReasmLimits::default());
    let c = parse(&format!("{GOOD}\n[reassembly]\ndatagrams = 256\nmemory_kb = 16384\nfragments = 100\ntimeout = 5\n"))
        .unwrap();
    let r = c.reassembly;
    assert_eq!((r.max_datagrams, r.max_bytes, r.max_frags, r.timeout_ms), (256, 16 << 20, 100, 5000));
    for (line, want) in [
        ("datagrams = 0", "fnatd.toml: reassembly.datagrams: must be from 1 to 4096 datagrams in progress"),
        ("memory_kb = 63", "fnatd.toml: reassembly.memory_kb: must be from 64 to 1048576 KiB"),
        ("fragments = 1", "fnatd.toml: reassembly.fragments: must be from 2 to 8190 fragments a datagram"),
        ("timeout = 3601", "fnatd.toml: reassembly.timeout: must be from 1 to 3600 seconds"),
    ] {
        let err = parse(&format!("{GOOD}\n[reassembly]\n{line}\n")).unwrap_err().to_string();
        assert_eq!(err, want, "{line}");
    }
    let err = parse(&format!("{GOOD}\n[reassembly]\ntimeout = -1\n")).unwrap_err().to_string();
    assert!(err.contains("invalid value: integer `-1`"), "{err}");
}

#[test]
fn a_kernel_twin_is_optional_per_port_and_checked() {
    use crate::net::KernelPath;
    let c = parse(GOOD).unwrap();
    assert_eq!(c.ports[0].kernel, None, "off unless asked for");
    let lan = "addresses = [\"10.0.0.1/24\"]";
    let c = parse(&GOOD.replacen(lan, &format!("{lan}\n[port.kernel]\n"), 1)).unwrap();
    let want = KernelPath { iface: "lan".into(), rate: KernelPath::DEFAULT_RATE, burst: KernelPath::DEFAULT_BURST };
    assert_eq!(c.ports[0].kernel.as_ref(), Some(&want), "named after the port");
    assert_eq!(c.interfaces(&[MacAddr([2, 0, 0, 0, 0, 1]); 2])[0].kernel.as_ref(), Some(&want));
    let c =
        parse(&GOOD.replacen(lan, &format!("{lan}\n[port.kernel]\niface = \"fnat-lan\"\nrate = 500\nburst = 50\n"), 1))
            .unwrap();
    assert_eq!(c.ports[0].kernel, Some(KernelPath { iface: "fnat-lan".into(), rate: 500, burst: 50 }));
    assert_eq!(c.ports[1].kernel, None);
    for (line, want) in [
        ("iface = \"a-name-too-long-0\"", "port[0].kernel.iface: 'a-name-too-long-0' is not an interface name"),
        ("iface = \"a/b\"", "port[0].kernel.iface: 'a/b' is not an interface name"),
        ("rate = 0", "port[0].kernel.rate: must be from 1 to 10000000 frames a second"),
        ("burst = 0", "port[0].kernel.burst: must be from 1 to 1000000 frames"),
        ("size = 3", "unknown field `size`"),
    ] {
        let got = error_with(lan, &format!("{lan}\n[port.kernel]\n{line}\n"));
        assert!(got.contains(want), "{line}: {got}");
    }
    // Two twins of one name.
    let both = GOOD.replacen(lan, &format!("{lan}\n[port.kernel]\niface = \"gw\"\n"), 1).replacen(
        "mac = \"02:00:00:00:00:09\"",
        "mac = \"02:00:00:00:00:09\"\n[port.kernel]\niface = \"gw\"\n",
        1,
    );
    let got = parse(&both).unwrap_err().to_string();
    assert!(got.contains("port[1].kernel.iface: another port's twin is 'gw'"), "{got}");
}

#[test]
fn health_checks_are_read_with_keepalived_knobs_and_checked() {
    use crate::health::{Notify, ServicePolicy};
    use ctrl::vocab::health::HttpCheck;
    let svc = "[[check]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\n";
    let c = parse(&format!(
        "{GOOD}\n{svc}type = \"http\"\npath = \"/health\"\nstatus = [200, 301]\ndigest = \"9B3AF1B2C4D5E6F708192A3B4C5D6E7F\"\n\
         interval = 1.5\ntimeout = 0.5\nretries = 2\nretry_delay = 0.2\nrise = 3\nfall = 2\ninhibit_on_failure = true\n\
         quorum = 2\nhysteresis = 1\nsorry_server = \"10.1.0.99:8080\"\nquorum_down = \"/usr/bin/logger lost\"\n\
         notify_up = \"/bin/true\"\n\
         {svc}real_server = \"10.1.0.12:8080\"\ntype = \"misc\"\ncommand = \"/usr/local/bin/check 12\"\ndynamic = true\n"
    ))
    .unwrap();
    assert_eq!(c.checks.len(), 2);
    let r = &c.checks[0];
    assert_eq!(r.svc, ServiceKey { protocol: Protocol::Tcp, vip: "10.0.0.100".parse().unwrap(), vport: 80, fwmark: 0 });
    let http = HttpCheck {
        path: "/health".into(),
        host: None,
        status: vec![200, 301],
        digest: Some("9b3af1b2c4d5e6f708192a3b4c5d6e7f".into()),
        tls: false,
    };
    assert_eq!(r.spec.kind, CheckKind::Http(http));
    let t = r.spec.timing;
    assert_eq!((t.interval_ms, t.timeout_ms, t.retries, t.retry_delay_ms, t.rise, t.fall), (1500, 500, 2, 200, 3, 2));
    assert!(r.inhibit);
    assert_eq!(r.notify, Notify { up: Some(vec!["/bin/true".into()]), down: None });
    let policy = ServicePolicy {
        quorum: 2,
        hysteresis: 1,
        sorry: Some("10.1.0.99:8080".parse().unwrap()),
        up: None,
        down: Some(vec!["/usr/bin/logger".into(), "lost".into()]),
    };
    assert_eq!(r.policy, policy);
    assert_eq!(c.checks[1].dest, Some("10.1.0.12:8080".parse().unwrap()));
    assert_eq!(
        c.checks[1].spec.kind,
        CheckKind::Misc(ctrl::vocab::health::MiscCheck {
            command: vec!["/usr/local/bin/check".into(), "12".into()],
            dynamic: true
        })
    );
    for (extra, want) in [
        ("type = \"smtp\"", "check[0].type: 'smtp' is not tcp, http, https, udp, dns, icmp or misc"),
        ("type = \"tcp\"\npath = \"/\"", "check[0].path: is for http/https checks"),
        ("type = \"tcp\"\ninterval = 0", "check[0].interval: must be from 0.1 to 3600 seconds"),
        ("type = \"tcp\"\nfall = 0", "check[0].fall: must be from 1 to 100"),
        ("type = \"http\"\nstatus = [600]", "check[0].status: 600 is not an HTTP status code"),
        ("type = \"http\"\ndigest = \"abc\"", "check[0].digest: 'abc' is not an MD5 digest (32 hex digits)"),
        ("type = \"misc\"", "check[0].command: a misc check needs the command it runs"),
        (
            "type = \"dns\"\nquery_type = \"ANY\"",
            "check[0].query_type: 'ANY' is not A, NS, CNAME, SOA, MX, TXT or AAAA",
        ),
        ("type = \"tcp\"\nreal_server = \"10.1.0.12:8080\"\nquorum = 2", "check[0].quorum: is for the whole service"),
        ("type = \"tcp\"\nquorum = 2\nhysteresis = 2", "check[0].hysteresis: must be below the quorum"),
        ("type = \"tcp\"\nnotify_up = \" \"", "check[0].notify_up: is an empty command"),
        ("type = \"tcp\"\nsorry_server = \"10.1.0.99\"", "check[0].sorry_server: '10.1.0.99' is not an address:port"),
    ] {
        let got = parse(&format!("{GOOD}\n{svc}{extra}\n")).unwrap_err().to_string();
        assert!(got.contains(want), "{extra}: {got}");
    }
    let got = parse(&format!("{GOOD}\n[[check]]\ntype = \"tcp\"\n")).unwrap_err().to_string();
    assert!(got.contains("check[0]: names its service: protocol, vip and port, or fwmark"), "{got}");
}

/// `GOOD` with a kernel twin on "lan", and `extra` appended.
fn with_ha(extra: &str) -> Result<Config, ConfigError> {
    let text = GOOD.replacen(
        "addresses = [\"10.0.0.1/24\"]\n",
        "addresses = [\"10.0.0.1/24\"]\n\n[port.kernel]\nrate = 1000\n",
        1,
    );
    assert!(text.contains("[port.kernel]"), "test bug");
    parse(&format!("{text}\n{extra}"))
}

const VRRP: &str = r#"
[[vrrp]]
name = "VI_1"
port = "lan"
vrid = 51
priority = 150
advert_interval_cs = 10
addresses = ["10.0.0.100", "10.1.0.10"]
track_ports = ["lan", "wan"]
notify_master = "/usr/local/bin/ha master"
"#;

const SYNC: &str = r#"
[sync]
master = true
backup = true
syncid = 7
port = "lan"
key = "00112233445566778899aabbccddeeff"
"#;

#[test]
fn vrrp_instances_and_the_sync_daemon_parse_with_their_defaults() {
    let c = with_ha(&format!("{VRRP}{SYNC}")).unwrap();
    let v = &c.vrrp[0];
    assert_eq!((v.name.as_str(), v.port, v.iface.as_str()), ("VI_1", 0, "lan"));
    assert_eq!((v.instance.vrid, v.instance.priority, v.instance.advert_interval_cs), (51, 150, 10));
    assert_eq!(v.instance.local_addr, Ipv4Addr::new(10, 0, 0, 1), "the port's first address");
    assert!(v.instance.preempt && v.instance.preempt_delay_ms == 0);
    assert_eq!(v.track_ports, vec![0, 1]);
    assert_eq!(v.notify.master, Some(vec!["/usr/local/bin/ha".into(), "master".into()]));
    assert_eq!((v.garp_repeat, v.garp_interval_ms), (5, 1000));
    let s = c.sync.expect("[sync]");
    assert!(s.master && s.backup);
    assert_eq!((s.syncid, s.udp_port, s.group, s.flush_ms), (7, 8848, Ipv4Addr::new(224, 0, 0, 81), 20));
    assert!(s.peers.is_empty());
}

#[test]
fn bad_vrrp_and_sync_settings_are_refused_with_their_field() {
    let cases = [
        (VRRP.replace("vrid = 51", "vrid = 0"), "vrrp[0].vrid: must be from 1 to 255"),
        (VRRP.replace("priority = 150", "priority = 256"), "vrrp[0].priority: must be from 1 to 255"),
        (VRRP.replace("advert_interval_cs = 10", "advert_interval_cs = 4096"), "vrrp[0].advert_interval_cs"),
        (VRRP.replace("\"10.0.0.100\"", "\"10.0.0.1\""), "is port 'lan''s own address"),
        (VRRP.replace("\"10.1.0.10\"", "\"10.0.0.100\""), "10.0.0.100 is listed twice"),
        (VRRP.replace("port = \"lan\"", "port = \"wan\""), "port 'wan' has no [port.kernel]"),
        (VRRP.replace("[\"lan\", \"wan\"]", "[\"dmz\"]"), "no port is named 'dmz'"),
        (VRRP.replace("name = \"VI_1\"", "name = \"VI 1\""), "vrrp[0].name"),
        (format!("{VRRP}{}", VRRP.replace("VI_1", "VI_2")), "another instance on this port has vrid 51"),
        (SYNC.replace("key = \"00112233445566778899aabbccddeeff\"", "key = \"0011\""), "sync.key"),
        (SYNC.replace("master = true\nbackup = true", "master = false"), "sync: runs as master, backup or both"),
        (SYNC.replace("syncid = 7", "syncid = 256"), "sync.syncid: must be from 0 to 255"),
        (format!("{SYNC}group = \"10.0.0.9\"\n"), "is not a multicast group"),
    ];
    for (extra, want) in cases {
        let e = with_ha(&extra).expect_err(want).to_string();
        assert!(e.contains(want), "{want:?} not in {e:?}");
    }
}
