//! What fnatctl prints: `-L` in ipvsadm's exact layout (column widths, truncation, sort order,
//! trailing blanks included), and `--get-laddr` in a DPVS-like table.

use std::fmt::Write as _;

use dataplane::control::{Listing, ServiceView};
use dataplane::lb::{Protocol, ServiceKey};

use crate::portnames::PortNames;

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

/// Sort key of a service as ipvsadm's `ipvs_cmp_services`: protocol, address, port.
fn svc_order(k: &ServiceKey) -> (u8, u32, u16) {
    (k.protocol as u8, u32::from(k.vip), k.vport)
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

/// `-L`: with `whole` the version line first (ipvsadm prints it for the whole table, not for
/// `-L -t service`), then the two title lines and every service with its real servers.
pub fn list(listing: &Listing, whole: bool, numeric: bool, sort: bool, names: &PortNames) -> String {
    let mut out = String::new();
    if whole {
        let _ = writeln!(out, "IP Virtual Server version {IPVS_VERSION} (size={})", listing.conn_table_size);
    }
    out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
    out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
    for s in ordered(listing, sort) {
        let k = s.spec.key;
        let name = cut(format!("{}  {}", k.protocol, addr_port(k.vip, k.vport, k.protocol, numeric, names)), 33);
        let _ = writeln!(out, "{name} {}", s.spec.scheduler);
        for d in &s.dests {
            let dname = cut(addr_port(d.spec.addr, d.spec.port, k.protocol, numeric, names), 28);
            let _ = writeln!(
                out,
                "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                d.spec.method.ipvs_name(),
                d.spec.weight,
                d.active,
                d.inactive
            );
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
        line(format!("{:<4} {:<21} {:<8}", k.protocol.name(), format!("{}:{}", k.vip, k.vport), s.laddrs.len()));
        for a in &s.laddrs {
            line(format!("{:<4} {:<21} {:<8} {a}", "", "", ""));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use dataplane::control::{DestSpec, DestView, ServiceSpec};
    use dataplane::lb::{DestId, FwdMethod, SchedKind};

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
                key: ServiceKey { protocol: proto, vip: Ipv4Addr::from(vip), vport },
                scheduler: sched,
            },
            laddrs: vec![Ipv4Addr::new(10, 1, 0, 10), Ipv4Addr::new(10, 1, 0, 11)],
            dests: dests
                .iter()
                .zip(1..)
                .map(|(&(addr, port, weight, active, inactive), id)| DestView {
                    id: DestId(id),
                    spec: DestSpec { addr: Ipv4Addr::from(addr), port, weight, method: FwdMethod::FullNat },
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

    fn names() -> PortNames {
        PortNames::parse("domain 53/tcp\ndomain 53/udp\nhttp 80/tcp www\nhttps 443/tcp\nhttp-alt 8080/tcp\n")
    }

    #[test]
    fn list_numeric_is_ipvsadms_layout() {
        let got = list(&sample(), true, true, true, &names());
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
        let got = list(&sample(), true, false, true, &names());
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
        let got = list(&one, false, true, false, &names());
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
            list(&empty, true, true, true, &names()),
            "IP Virtual Server version 1.2.1 (size=4096)\n\
             Prot LocalAddress:Port Scheduler Flags\n  \
             -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n"
        );
    }

    #[test]
    fn long_names_are_cut_like_ipvsadm() {
        let long = PortNames::parse("a-very-long-service-name-indeed 8080/tcp\n");
        let got = list(&sample(), true, false, true, &long);
        assert!(got.contains("\n  -> 10.1.0.12:a-very-long-servic FullNat 3 "), "{got}");
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
