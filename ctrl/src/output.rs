//! What fnatctl prints: `-L` and `-L --thresholds` in ipvsadm's exact layout (column widths,
//! truncation, sort order, scheduler flags, trailing blanks included), `-L --timeout` and `-L -c` as ipvsadm prints them (with a local-address
//! column for FULLNAT connections, see [`conns`]), and `--get-laddr` in a DPVS-like table.

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use dataplane::control::{ConnListing, Listing, ServiceView, sched_flags_suffix};
use dataplane::lb::{FwdMethod, Protocol, ServiceKey};

use dataplane::control::cli::PortNames;

/// The IPVS version ipvsadm prints in its first line (the kernel's, 1.2.1 for years).
const IPVS_VERSION: &str = "1.2.1";

/// `addr:port`, the port by name from the services file unless `numeric` (addresses are always
/// printed as numbers: fnatctl never does DNS lookups, which could hang).
fn addr_port(addr: std::net::Ipv4Addr, port: u16, proto: Protocol, numeric: bool, names: &PortNames) -> String {
    match (numeric, names.name(port, proto)) {
        (false, Some(name)) => format!("{addr}:{name}"),
        _ => format!("{addr}:{port}"),
    }
}

/// The first `n` characters of `s` (ipvsadm cuts its name columns with a NUL).
fn cut(mut s: String, n: usize) -> String {
    if let Some((i, _)) = s.char_indices().nth(n) {
        s.truncate(i);
    }
    s
}

/// Sort key of a service as ipvsadm's `ipvs_cmp_services`: firewall mark (0, no mark, first),
/// protocol, address, port.
fn svc_order(k: &ServiceKey) -> (u32, u8, u32, u16) {
    (k.fwmark, k.protocol as u8, u32::from(k.vip), k.vport)
}

/// The services in listing order: ipvsadm sorts unless told `--nosort`.
fn ordered(listing: &Listing, sort: bool) -> Vec<ServiceView> {
    let mut services = listing.services.clone();
    if sort {
        services.sort_by_key(|s| svc_order(&s.spec.key));
        for s in &mut services {
            s.dests.sort_by_key(|d| (u32::from(d.spec.addr), d.spec.port));
        }
    }
    services
}

/// How `-L` shows the services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`: ports as numbers.
    pub numeric: bool,
    /// Not `--nosort`: services and real servers in ipvsadm's order.
    pub sort: bool,
    /// `--thresholds`: each real server's thresholds instead of its method and weight.
    pub thresholds: bool,
}

/// `-L`: with `whole` the version line first (ipvsadm prints it for the whole table, not for
/// `-L -t service`), then the title lines and every service with its real servers.
///
/// A service line is `Prot LocalAddress:Port` (cut to 33 characters), the scheduler, its flags
/// in parentheses when any is set, by ipvsadm's names (`TCP  10.0.0.1:80 sh (sh-fallback,sh-port)`,
/// see [`sched_flags_suffix`]), and for a persistent service ` persistent SECS` and, unless the
/// netmask is 255.255.255.255, ` mask NETMASK` (`TCP  10.0.0.1:0 wlc persistent 360 mask
/// 255.255.255.0`), in ipvsadm's order. A real server line has the forwarding method, weight and counts, or
/// with `--thresholds` (ipvsadm's `FMT_THRESHOLDS` layout) the upper and lower thresholds and counts.
pub fn list(listing: &Listing, whole: bool, format: ListFormat, names: &PortNames) -> String {
    let mut out = String::new();
    if whole {
        let _ = writeln!(out, "IP Virtual Server version {IPVS_VERSION} (size={})", listing.conn_table_size);
    }
    if format.thresholds {
        let _ = writeln!(
            out,
            "{:<33} {:<10} {:<10} {:<10} {:<10}",
            "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
        );
        out.push_str("  -> RemoteAddress:Port\n");
    } else {
        out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
        out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    }
    let numeric = format.numeric;
    for s in ordered(listing, format.sort) {
        let k = s.spec.key;
        let name = if k.is_mark() {
            format!("FWM  {}", k.fwmark)
        } else {
            cut(format!("{}  {}", k.protocol, addr_port(k.vip, k.vport, k.protocol, numeric, names)), 33)
        };
        let sched = s.spec.scheduler;
        let _ = write!(out, "{name} {sched}{}", sched_flags_suffix(sched, s.spec.flags));
        if let Some(p) = s.spec.persistence {
            // ipvsadm: " persistent %u", then " mask %s" unless the mask is 255.255.255.255.
            let _ = write!(out, " persistent {}", p.timeout_secs());
            if p.netmask != 32 {
                let _ = write!(out, " mask {}", p.mask());
            }
        }
        out.push('\n');
        for d in &s.dests {
            let dname = cut(addr_port(d.spec.addr, d.spec.port, k.protocol, numeric, names), 28);
            let _ = if format.thresholds {
                writeln!(
                    out,
                    "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                    d.spec.upper, d.spec.lower, d.active, d.inactive
                )
            } else {
                writeln!(
                    out,
                    "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                    d.spec.method.ipvs_name(),
                    d.spec.weight,
                    d.active,
                    d.inactive
                )
            };
        }
    }
    out
}

/// `-L --timeout`: ipvsadm's one line.
pub fn timeouts(tcp: u32, tcpfin: u32, udp: u32) -> String {
    format!("Timeout (tcp tcpfin udp): {tcp} {tcpfin} {udp}\n")
}

/// `-L -c`: ipvsadm's connection table, `IPVS connection entries`, a title line, then one line per
/// connection: protocol, time to expiry as mm:ss (minutes may pass 99), IPVS state, then
/// `source`, `virtual` and `destination` as addr:port, padded as ipvsadm pads them (`%-3s %-6s
/// %-11s %-18s %-18s %s`, so no trailing blanks). Ports are named unless `numeric`, addresses are
/// always numbers.
///
/// FULLNAT connections also have a local address, the gateway's source towards the real server.
/// DPVS's ipvsadm prints it as a column between the virtual address and the destination, for every
/// connection. fnatctl does the same, in ipvsadm's layout, when the listing holds a FULLNAT
/// connection: a `local` column (`%-18s`) there, which for the other methods shows the client's
/// address, as DPVS does (without source translation the real server sees the client). A listing
/// without FULLNAT connections is exactly ipvsadm's, so its scripts still read it. DPVS's other
/// changes (a `[lcore]` prefix, lower-case protocol, expiry in seconds, no title) are left out
/// for the same reason. When fnatd held more connections than one answer carries, a last line
/// says how many were not shown.
pub fn conns(listing: &ConnListing, numeric: bool, names: &PortNames) -> String {
    let with_local = listing.conns.iter().any(|c| c.method == FwdMethod::FullNat);
    let mut out = String::from("IPVS connection entries\n");
    // ipvsadm's "pro expire %-11s %-18s %-18s %s" over state, source, virtual, destination; the
    // local column is one more "%-18s".
    out.push_str(if with_local {
        "pro expire state       source             virtual            local              destination\n"
    } else {
        "pro expire state       source             virtual            destination\n"
    });
    for c in &listing.conns {
        let name = |a: SocketAddrV4| addr_port(*a.ip(), a.port(), c.proto, numeric, names);
        let secs = c.expire_ms / 1000;
        let expire = format!("{:02}:{:02}", secs / 60, secs % 60);
        let _ = write!(
            out,
            "{:<3} {expire:<6} {:<11} {:<18} {:<18} ",
            // ipvsadm names a fwmark template's protocol `IP` (IPPROTO_IP).
            if c.fwmark == 0 { c.proto.name() } else { "IP" },
            c.state,
            name(c.client),
            name(c.virt)
        );
        if with_local {
            let _ = write!(out, "{:<18} ", name(c.local.unwrap_or(c.client)));
        }
        let _ = writeln!(out, "{}", name(c.dest));
    }
    match listing.omitted {
        0 => {}
        1 => out.push_str("(1 more connection not shown)\n"),
        n => {
            let _ = writeln!(out, "({n} more connections not shown)");
        }
    }
    out
}

/// `--get-laddr`: each service with the number of its local addresses, then one address a line.
pub fn laddrs(listing: &Listing) -> String {
    let mut out = String::new();
    let mut line = |s: String| {
        out.push_str(s.trim_end());
        out.push('\n');
    };
    line(format!("{:<4} {:<21} {:<8} {}", "Prot", "VIP:VPORT", "TOTAL", "SNAT_IP"));
    for s in ordered(listing, true) {
        let k = s.spec.key;
        let (prot, vip) = if k.is_mark() {
            ("FWM", k.fwmark.to_string())
        } else {
            (k.protocol.name(), format!("{}:{}", k.vip, k.vport))
        };
        line(format!("{prot:<4} {vip:<21} {:<8}", s.laddrs.len()));
        for a in &s.laddrs {
            line(format!("{:<4} {:<21} {:<8} {a}", "", "", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dataplane::control::{ConnView, DestSpec, DestView, ServiceSpec};
    use dataplane::lb::{DestId, Persistence, SchedFlags, SchedKind};

    use super::*;

    fn svc(
        proto: Protocol,
        vip: [u8; 4],
        vport: u16,
        sched: SchedKind,
        dests: &[([u8; 4], u16, u32, u32, u32)],
    ) -> ServiceView {
        ServiceView {
            spec: ServiceSpec {
                key: ServiceKey { protocol: proto, vip: Ipv4Addr::from(vip), vport, fwmark: 0 },
                scheduler: sched,
                flags: SchedFlags::default(),
                persistence: None,
            },
            laddrs: vec![Ipv4Addr::new(10, 1, 0, 10), Ipv4Addr::new(10, 1, 0, 11)],
            dests: dests
                .iter()
                .zip(1..)
                .map(|(&(addr, port, weight, active, inactive), id)| DestView {
                    id: DestId(id),
                    spec: DestSpec {
                        addr: Ipv4Addr::from(addr),
                        port,
                        weight,
                        method: FwdMethod::FullNat,
                        upper: 0,
                        lower: 0,
                    },
                    active,
                    inactive,
                })
                .collect(),
        }
    }

    /// Services in creation order, deliberately not in ipvsadm's sort order.
    fn sample() -> Listing {
        Listing {
            conn_table_size: 1_048_576,
            services: vec![
                svc(Protocol::Udp, [10, 0, 0, 100], 53, SchedKind::Rr, &[([10, 1, 0, 21], 53, 1, 0, 7)]),
                svc(
                    Protocol::Tcp,
                    [10, 0, 0, 100],
                    80,
                    SchedKind::Wrr,
                    &[
                        ([10, 1, 0, 12], 8080, 3, 12, 40),
                        ([10, 1, 0, 11], 8080, 1, 0, 0),
                        ([10, 1, 0, 11], 80, 65535, 1234567, 0),
                    ],
                ),
                svc(Protocol::Tcp, [9, 0, 0, 1], 443, SchedKind::Rr, &[]),
            ],
        }
    }

    const NUMERIC: ListFormat = ListFormat { numeric: true, sort: true, thresholds: false };
    const NAMED: ListFormat = ListFormat { numeric: false, ..NUMERIC };
    const THRESHOLDS: ListFormat = ListFormat { thresholds: true, ..NUMERIC };

    fn names() -> PortNames {
        PortNames::parse("domain 53/tcp\ndomain 53/udp\nhttp 80/tcp www\nhttps 443/tcp\nhttp-alt 8080/tcp\n")
    }

    #[test]
    fn list_numeric_is_ipvsadms_layout() {
        let got = list(&sample(), true, NUMERIC, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  9.0.0.1:443 rr
TCP  10.0.0.100:80 wrr
  -> 10.1.0.11:80                 FullNat 65535  1234567    0         
  -> 10.1.0.11:8080               FullNat 1      0          0         
  -> 10.1.0.12:8080               FullNat 3      12         40        
UDP  10.0.0.100:53 rr
  -> 10.1.0.21:53                 FullNat 1      0          7         
";
        assert_eq!(got, want);
    }

    #[test]
    fn list_without_numeric_names_ports_from_the_services_file() {
        let got = list(&sample(), true, NAMED, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  9.0.0.1:https rr
TCP  10.0.0.100:http wrr
  -> 10.1.0.11:http               FullNat 65535  1234567    0         
  -> 10.1.0.11:http-alt           FullNat 1      0          0         
  -> 10.1.0.12:http-alt           FullNat 3      12         40        
UDP  10.0.0.100:domain rr
  -> 10.1.0.21:domain             FullNat 1      0          7         
";
        assert_eq!(got, want);
    }

    #[test]
    fn list_of_one_service_has_no_version_line_and_nosort_keeps_fnatds_order() {
        let mut one = sample();
        one.services.remove(0);
        one.services.truncate(1);
        let got = list(&one, false, ListFormat { sort: false, ..NUMERIC }, &names());
        let want = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.0.0.100:80 wrr
  -> 10.1.0.12:8080               FullNat 3      12         40        
  -> 10.1.0.11:8080               FullNat 1      0          0         
  -> 10.1.0.11:80                 FullNat 65535  1234567    0         
";
        assert_eq!(got, want);
    }

    #[test]
    fn an_empty_table_is_just_the_titles() {
        let empty = Listing { conn_table_size: 4096, services: vec![] };
        assert_eq!(
            list(&empty, true, NUMERIC, &names()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        );
    }

    #[test]
    fn long_names_are_cut_like_ipvsadm() {
        let long = PortNames::parse("a-very-long-service-name-indeed 8080/tcp\n");
        let got = list(&sample(), true, NAMED, &long);
        assert!(got.contains("\n  -> 10.1.0.12:a-very-long-servic FullNat 3 "), "{got}");
    }

    fn flags(fallback: bool, port: bool, flag3: bool) -> SchedFlags {
        SchedFlags { fallback, port, flag3 }
    }

    #[test]
    fn scheduler_flags_follow_the_scheduler_in_parentheses() {
        let mut l = sample();
        l.services[0].spec.flags = flags(true, false, true);
        l.services[1].spec.flags = flags(false, true, false);
        let got = list(&l, true, NUMERIC, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  9.0.0.1:443 rr
TCP  10.0.0.100:80 wrr (flag-2)
  -> 10.1.0.11:80                 FullNat 65535  1234567    0         
  -> 10.1.0.11:8080               FullNat 1      0          0         
  -> 10.1.0.12:8080               FullNat 3      12         40        
UDP  10.0.0.100:53 rr (flag-1,flag-3)
  -> 10.1.0.21:53                 FullNat 1      0          7         
";
        assert_eq!(got, want);
    }

    #[test]
    fn sh_and_mh_flags_have_their_own_names() {
        let (sh, mh) = (SchedKind::Sh, SchedKind::Mh);
        let mut l = sample();
        l.services[0].spec.scheduler = mh;
        l.services[0].spec.flags = flags(true, true, false);
        l.services[1].spec.scheduler = sh;
        l.services[1].spec.flags = flags(true, true, true);
        l.services[2].spec.scheduler = sh;
        l.services[2].spec.flags = flags(false, false, true);
        let got = list(&l, false, NUMERIC, &names());
        let lines: Vec<&str> = got.lines().filter(|l| !l.starts_with(' ') && !l.starts_with("Prot")).collect();
        // ipvsadm names only sh's and mh's own two flags: flag 3 alone prints "()".
        assert_eq!(
            lines,
            vec![
                "TCP  9.0.0.1:443 sh ()",
                "TCP  10.0.0.100:80 sh (sh-fallback,sh-port)",
                "UDP  10.0.0.100:53 mh (mh-fallback,mh-port)"
            ]
        );
    }

    #[test]
    fn thresholds_are_ipvsadms_layout() {
        let mut l = sample();
        l.services[1].spec.flags = flags(true, false, false);
        l.services[1].dests[0].spec.upper = 2_147_483_647;
        l.services[1].dests[0].spec.lower = 1_000_000_000;
        l.services[1].dests[2].spec.upper = 100;
        let got = list(&l, true, THRESHOLDS, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  9.0.0.1:443 rr
TCP  10.0.0.100:80 wrr (flag-1)
  -> 10.1.0.11:80                 100        0          1234567    0         
  -> 10.1.0.11:8080               0          0          0          0         
  -> 10.1.0.12:8080               2147483647 1000000000 12         40        
UDP  10.0.0.100:53 rr
  -> 10.1.0.21:53                 0          0          0          7         
";
        assert_eq!(got, want);
        // One service, no version line, port names, fnatd's order.
        let mut one = l.clone();
        one.services.truncate(2);
        one.services.remove(0);
        let got = list(&one, false, ListFormat { numeric: false, sort: false, thresholds: true }, &names());
        let want = "\
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
TCP  10.0.0.100:http wrr (flag-1)
  -> 10.1.0.12:http-alt           2147483647 1000000000 12         40        
  -> 10.1.0.11:http-alt           0          0          0          0         
  -> 10.1.0.11:http               100        0          1234567    0         
";
        assert_eq!(got, want);
    }

    #[test]
    fn persistence_follows_the_scheduler_and_its_flags_like_ipvsadm() {
        let mut l = sample();
        l.services[0].spec.persistence = Some(Persistence::secs(360));
        l.services[1].spec.flags = flags(true, false, false);
        l.services[1].spec.persistence = Some(Persistence::secs(600).with_netmask(24));
        l.services[2].spec.key.vport = 0;
        l.services[2].spec.scheduler = SchedKind::Wlc;
        l.services[2].spec.persistence = Some(Persistence::secs(2_678_400).with_netmask(0));
        let got = list(&l, true, NUMERIC, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  9.0.0.1:0 wlc persistent 2678400 mask 0.0.0.0
TCP  10.0.0.100:80 wrr (flag-1) persistent 600 mask 255.255.255.0
  -> 10.1.0.11:80                 FullNat 65535  1234567    0         
  -> 10.1.0.11:8080               FullNat 1      0          0         
  -> 10.1.0.12:8080               FullNat 3      12         40        
UDP  10.0.0.100:53 rr persistent 360
  -> 10.1.0.21:53                 FullNat 1      0          7         
";
        assert_eq!(got, want);
        // Port 0 is printed as a number even without -n; the thresholds layout has the same line.
        let got = list(&l, false, ListFormat { numeric: false, sort: true, thresholds: true }, &names());
        assert!(got.contains("\nTCP  9.0.0.1:0 wlc persistent 2678400 mask 0.0.0.0\n"), "{got}");
        assert!(got.contains("\nTCP  10.0.0.100:http wrr (flag-1) persistent 600 mask 255.255.255.0\n"), "{got}");
    }

    #[test]
    fn templates_are_listed_among_the_connections_like_ipvsadm() {
        let template = |client: [u8; 4], vport, dest: ([u8; 4], u16)| ConnView {
            proto: Protocol::Tcp,
            expire_ms: 359_400,
            state: "NONE".into(),
            client: sa(client, 0),
            virt: sa([10, 0, 0, 104], vport),
            local: None,
            dest: sa(dest.0, dest.1),
            method: FwdMethod::Nat,
            fwmark: 0,
        };
        let l = ConnListing {
            conns: vec![
                conn(40_000, 899_999, "ESTABLISHED", FwdMethod::Nat, None),
                template([10, 0, 0, 2], 80, ([10, 1, 0, 11], 8080)),
                template([10, 0, 0, 0], 0, ([10, 1, 0, 12], 0)),
            ],
            omitted: 0,
        };
        let want = "\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:80      10.1.0.11:8080
TCP 05:59  NONE        10.0.0.2:0         10.0.0.104:80      10.1.0.11:8080
TCP 05:59  NONE        10.0.0.0:0         10.0.0.104:0       10.1.0.12:0
";
        assert_eq!(conns(&l, true, &names()), want);
    }

    #[test]
    fn fwmark_services_sort_after_tcp_and_udp_and_show_as_ipvsadm_does() {
        let mut l = sample();
        let fwm = |mark: u32| {
            let mut s = svc(Protocol::Tcp, [0, 0, 0, 0], 0, SchedKind::Rr, &[([10, 1, 0, 11], 0, 1, 2, 3)]);
            s.spec.key = ServiceKey::mark(mark);
            s.spec.persistence = Some(Persistence::secs(360));
            s
        };
        l.services.insert(0, fwm(10));
        l.services.insert(1, fwm(1));
        let got = list(&l, true, NUMERIC, &names());
        let want = "\
IP Virtual Server version 1.2.1 (size=1048576)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  9.0.0.1:443 rr
TCP  10.0.0.100:80 wrr
  -> 10.1.0.11:80                 FullNat 65535  1234567    0         
  -> 10.1.0.11:8080               FullNat 1      0          0         
  -> 10.1.0.12:8080               FullNat 3      12         40        
UDP  10.0.0.100:53 rr
  -> 10.1.0.21:53                 FullNat 1      0          7         
FWM  1 rr persistent 360
  -> 10.1.0.11:0                  FullNat 1      2          3         
FWM  10 rr persistent 360
  -> 10.1.0.11:0                  FullNat 1      2          3         
";
        assert_eq!(got, want);
        let one = Listing { conn_table_size: 1, services: vec![fwm(1)] };
        assert!(
            laddrs(&one).starts_with("Prot VIP:VPORT             TOTAL    SNAT_IP\nFWM  1                     2\n")
        );
        // A fwmark template: protocol IP, the mark as the virtual address.
        let t = ConnView {
            proto: Protocol::Tcp,
            expire_ms: 359_999,
            state: "NONE".into(),
            client: sa([10, 0, 0, 2], 0),
            virt: sa([0, 0, 0, 1], 0),
            local: None,
            dest: sa([10, 1, 0, 11], 0),
            method: FwdMethod::Nat,
            fwmark: 1,
        };
        let want = "\
IPVS connection entries
pro expire state       source             virtual            destination
IP  05:59  NONE        10.0.0.2:0         0.0.0.1:0          10.1.0.11:0
";
        assert_eq!(conns(&ConnListing { conns: vec![t], omitted: 0 }, true, &names()), want);
    }

    #[test]
    fn timeouts_are_ipvsadms_line() {
        assert_eq!(timeouts(900, 120, 300), "Timeout (tcp tcpfin udp): 900 120 300\n");
        assert_eq!(timeouts(2_678_400, 0, 5), "Timeout (tcp tcpfin udp): 2678400 0 5\n");
    }

    fn sa(a: [u8; 4], port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::from(a), port)
    }

    /// A connection from 10.0.0.2:`cport` to 10.0.0.100:80, on real server 10.1.0.11:8080.
    fn conn(cport: u16, expire_ms: u64, state: &str, method: FwdMethod, local: Option<SocketAddrV4>) -> ConnView {
        ConnView {
            proto: Protocol::Tcp,
            expire_ms,
            state: state.into(),
            client: sa([10, 0, 0, 2], cport),
            virt: sa([10, 0, 0, 100], 80),
            local,
            dest: sa([10, 1, 0, 11], if method == FwdMethod::Dr { 80 } else { 8080 }),
            method,
            fwmark: 0,
        }
    }

    fn udp_conn() -> ConnView {
        ConnView {
            proto: Protocol::Udp,
            expire_ms: 299_999,
            state: "UDP".into(),
            client: sa([192, 168, 100, 200], 53_000),
            virt: sa([10, 0, 0, 100], 53),
            local: None,
            dest: sa([10, 1, 0, 21], 53),
            method: FwdMethod::Nat,
            fwmark: 0,
        }
    }

    #[test]
    fn connections_without_fullnat_are_ipvsadms_layout() {
        let l = ConnListing {
            conns: vec![
                conn(40_000, 899_999, "ESTABLISHED", FwdMethod::Nat, None),
                conn(40_001, 1_500, "SYN_RECV", FwdMethod::Dr, None),
                conn(40_002, 0, "TIME_WAIT", FwdMethod::Tun, None),
                udp_conn(),
                conn(40_003, 2_678_400_000, "ESTABLISHED", FwdMethod::Nat, None),
            ],
            omitted: 0,
        };
        let want = "\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:80      10.1.0.11:8080
TCP 00:01  SYN_RECV    10.0.0.2:40001     10.0.0.100:80      10.1.0.11:80
TCP 00:00  TIME_WAIT   10.0.0.2:40002     10.0.0.100:80      10.1.0.11:8080
UDP 04:59  UDP         192.168.100.200:53000 10.0.0.100:53      10.1.0.21:53
TCP 44640:00 ESTABLISHED 10.0.0.2:40003     10.0.0.100:80      10.1.0.11:8080
";
        assert_eq!(conns(&l, true, &names()), want);
        // Port names unless -n; the lengths still follow ipvsadm's padding.
        let named = conns(&ConnListing { conns: vec![l.conns[0].clone(), udp_conn()], omitted: 0 }, false, &names());
        let want = "\
IPVS connection entries
pro expire state       source             virtual            destination
TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:http    10.1.0.11:http-alt
UDP 04:59  UDP         192.168.100.200:53000 10.0.0.100:domain  10.1.0.21:domain
";
        assert_eq!(named, want);
    }

    #[test]
    fn fullnat_connections_add_dpvss_local_column() {
        let lip = |port| Some(sa([10, 1, 0, 10], port));
        let l = ConnListing {
            conns: vec![
                conn(40_000, 899_999, "ESTABLISHED", FwdMethod::FullNat, lip(1025)),
                conn(40_001, 119_000, "FIN_WAIT", FwdMethod::FullNat, lip(1026)),
                conn(40_002, 59_000, "CLOSE_WAIT", FwdMethod::Nat, None),
            ],
            omitted: 0,
        };
        let want = "\
IPVS connection entries
pro expire state       source             virtual            local              destination
TCP 14:59  ESTABLISHED 10.0.0.2:40000     10.0.0.100:80      10.1.0.10:1025     10.1.0.11:8080
TCP 01:59  FIN_WAIT    10.0.0.2:40001     10.0.0.100:80      10.1.0.10:1026     10.1.0.11:8080
TCP 00:59  CLOSE_WAIT  10.0.0.2:40002     10.0.0.100:80      10.0.0.2:40002     10.1.0.11:8080
";
        assert_eq!(conns(&l, true, &names()), want);
    }

    #[test]
    fn a_cut_listing_says_how_many_were_not_shown() {
        let one = conn(40_000, 10_000, "CLOSE", FwdMethod::FullNat, Some(sa([10, 1, 0, 10], 2000)));
        let l = ConnListing { conns: vec![one], omitted: 123 };
        let want = "\
IPVS connection entries
pro expire state       source             virtual            local              destination
TCP 00:10  CLOSE       10.0.0.2:40000     10.0.0.100:80      10.1.0.10:2000     10.1.0.11:8080
(123 more connections not shown)
";
        assert_eq!(conns(&l, true, &names()), want);
        let l = ConnListing { conns: vec![], omitted: 1 };
        assert_eq!(
            conns(&l, true, &names()),
            "IPVS connection entries\n\
             pro expire state       source             virtual            destination\n\
             (1 more connection not shown)\n"
        );
        assert_eq!(
            conns(&ConnListing::default(), false, &names()),
            "IPVS connection entries\npro expire state       source             virtual            destination\n"
        );
    }

    #[test]
    fn get_laddr_lists_services_and_their_local_addresses() {
        let got = laddrs(&sample());
        let want = "\
Prot VIP:VPORT             TOTAL    SNAT_IP
TCP  9.0.0.1:443           2
                                    10.1.0.10
                                    10.1.0.11
TCP  10.0.0.100:80         2
                                    10.1.0.10
                                    10.1.0.11
UDP  10.0.0.100:53         2
                                    10.1.0.10
                                    10.1.0.11
";
        assert_eq!(got, want);
    }
}
