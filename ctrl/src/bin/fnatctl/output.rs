//! What fnatctl prints: `-L`, `-L --thresholds`, `-L --stats` and `-L --rate` (with `--exact`) in
//! ipvsadm's exact layout (column widths,
//! truncation, sort order, scheduler flags, trailing blanks included), `-L --timeout` and `-L -c` as ipvsadm prints them (with a local-address
//! column for FULLNAT connections, see [`conns`]), and `--get-laddr` in a DPVS-like table.

use std::fmt::Write as _;
use std::net::SocketAddrV4;

use ctrl::msg::{ConnListing, Listing, ServiceView};
use ctrl::save::Order;
use ctrl::vocab::{FwdMethod, Protocol, sched_flags_suffix};

use ctrl::cli::{Columns, ListFormat, PortNames};
use ctrl::msg::{CounterReport, DaemonView, HealthView, PortCounters, VrrpView};
use ctrl::vocab::Counters;

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

/// The services in listing order: ipvsadm sorts unless told `--nosort`.
fn ordered(listing: &Listing, sort: bool) -> Vec<ServiceView> {
    ctrl::save::ordered(listing, if sort { Order::Sorted } else { Order::Kernel })
}

/// A counter as ipvsadm's `print_largenum` writes it after a column: right-aligned in 9
/// characters, scaled to K, M, G or T (thousands, truncated) from 100 million up; with `--exact`
/// unscaled, one blank before it at least.
fn largenum(out: &mut String, n: u64, exact: bool) {
    let _ = if exact {
        let len = n.to_string().len();
        write!(out, "{n:>w$}", w = if len <= 8 { 9 } else { len + 1 })
    } else if n < 100_000_000 {
        write!(out, "{n:>9}")
    } else if n < 1_000_000_000 {
        write!(out, "{:>8}K", n / 1_000)
    } else if n < 100_000_000_000 {
        write!(out, "{:>8}M", n / 1_000_000)
    } else if n < 100_000_000_000_000 {
        write!(out, "{:>8}G", n / 1_000_000_000)
    } else {
        write!(out, "{:>8}T", n / 1_000_000_000_000)
    };
}

/// The five counters of `--stats`.
fn stats_columns(out: &mut String, c: &Counters, exact: bool) {
    for n in [c.conns, c.inpkts, c.outpkts, c.inbytes, c.outbytes] {
        largenum(out, n, exact);
    }
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
    let title = |out: &mut String, columns: [&str; 5]| {
        let [a, b, c, d, e] = columns;
        let _ = writeln!(out, "{:<33} {a:>8} {b:>8} {c:>8} {d:>8} {e:>8}", "Prot LocalAddress:Port");
        out.push_str("  -> RemoteAddress:Port\n");
    };
    match format.columns {
        Columns::Stats => title(&mut out, ["Conns", "InPkts", "OutPkts", "InBytes", "OutBytes"]),
        Columns::Rate => title(&mut out, ["CPS", "InPPS", "OutPPS", "InBPS", "OutBPS"]),
        Columns::Thresholds => {
            let _ = writeln!(
                out,
                "{:<33} {:<10} {:<10} {:<10} {:<10}",
                "Prot LocalAddress:Port", "Uthreshold", "Lthreshold", "ActiveConn", "InActConn"
            );
            out.push_str("  -> RemoteAddress:Port\n");
        }
        Columns::Plain => {
            out.push_str("Prot LocalAddress:Port Scheduler Flags\n");
            out.push_str("  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn\n");
        }
    }
    let exact = format.exact;
    let numeric = format.numeric;
    for s in ordered(listing, format.sort) {
        let k = s.spec.key;
        let name = if k.is_mark() {
            format!("FWM  {}", k.fwmark)
        } else {
            cut(format!("{}  {}", k.protocol, addr_port(k.vip, k.vport, k.protocol, numeric, names)), 33)
        };
        match format.columns {
            Columns::Stats => {
                let _ = write!(out, "{name:<33}");
                stats_columns(&mut out, &s.stats, exact);
            }
            Columns::Rate => {
                let _ = write!(out, "{name:<33}");
                let r = s.rates;
                for n in [r.cps, r.inpps, r.outpps, r.inbps, r.outbps] {
                    largenum(&mut out, n, exact);
                }
            }
            Columns::Plain | Columns::Thresholds => {
                let sched = s.spec.scheduler;
                let _ = write!(out, "{name} {sched}{}", sched_flags_suffix(sched, s.spec.flags));
                if let Some(p) = s.spec.persistence {
                    // ipvsadm: " persistent %u", then " mask %s" unless the mask is 255.255.255.255.
                    let _ = write!(out, " persistent {}", p.timeout_secs());
                    if p.netmask != 32 {
                        let _ = write!(out, " mask {}", p.mask());
                    }
                }
            }
        }
        out.push('\n');
        for d in &s.dests {
            let dname = cut(addr_port(d.spec.addr, d.spec.port, k.protocol, numeric, names), 28);
            let _ = match format.columns {
                Columns::Stats => {
                    let _ = write!(out, "  -> {dname:<28}");
                    stats_columns(&mut out, &d.stats, exact);
                    writeln!(out)
                }
                Columns::Rate => {
                    // ipvsadm prints a real server's CPS and PPS plainly, its BPS as counters.
                    let r = d.rates;
                    let _ = write!(out, "  -> {dname:<28} {:>8} {:>8} {:>8}", r.cps, r.inpps, r.outpps);
                    largenum(&mut out, r.inbps, exact);
                    largenum(&mut out, r.outbps, exact);
                    writeln!(out)
                }
                Columns::Thresholds => writeln!(
                    out,
                    "  -> {dname:<28} {:<10} {:<10} {:<10} {:<10}",
                    d.spec.upper, d.spec.lower, d.active, d.inactive
                ),
                Columns::Plain => writeln!(
                    out,
                    "  -> {dname:<28} {:<7} {:<6} {:<10} {:<10}",
                    d.spec.method.ipvs_name(),
                    d.spec.weight,
                    d.active,
                    d.inactive
                ),
            };
        }
    }
    out
}

/// `--counters` (fnat's own): a table of the ports' driver counters with each port's steering
/// (how replies reach the worker that owns their connection), then each worker's counters
/// by name and its drops by reason (only those it counted), then the gateway's traffic totals and
/// rates as `--stats` and `--rate` name them.
pub fn counters(r: &CounterReport) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:>12} {:>12} {:>14} {:>14} {:>10} {:>10} {:>10} {:>10} Steering",
        "Port", "RX", "TX", "RXBytes", "TXBytes", "Missed", "RXErrors", "TXErrors", "RXNoMbuf"
    );
    for p in &r.ports {
        let PortCounters { name, steering, rx, tx, rx_bytes, tx_bytes, missed, rx_errors, tx_errors, rx_nombuf } = p;
        let _ = writeln!(
            out,
            "{name:<12} {rx:>12} {tx:>12} {rx_bytes:>14} {tx_bytes:>14} {missed:>10} {rx_errors:>10} {tx_errors:>10} \
             {rx_nombuf:>10} {steering}"
        );
    }
    for (i, w) in r.workers.iter().enumerate() {
        let _ = write!(out, "Worker {i} (lcore {}):", w.lcore);
        for (name, n) in &w.counters {
            let _ = write!(out, " {name} {n}");
        }
        let total: u64 = w.drops.iter().map(|(_, n)| n).sum();
        let _ = write!(out, "\n  drops {total}");
        for (reason, n) in w.drops.iter().filter(|(_, n)| *n > 0) {
            let _ = write!(out, " {reason}={n}");
        }
        out.push('\n');
    }
    let (t, rt) = (&r.total, &r.rates);
    let _ = writeln!(
        out,
        "Total: Conns {} InPkts {} OutPkts {} InBytes {} OutBytes {}\n       CPS {} InPPS {} OutPPS {} InBPS {} OutBPS {}",
        t.conns, t.inpkts, t.outpkts, t.inbytes, t.outbytes, rt.cps, rt.inpps, rt.outpps, rt.inbps, rt.outbps
    );
    out
}

/// `--health`: the checked real servers under their services, each with its check, its state and
/// for how long, the checks run and failed, and the last check's latency and result (with how a
/// server that is down is taken out).
pub fn health(views: &[HealthView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<31} {:<11} {:<7} {:>8} {:>8} {:>8} {:>10}  Last result",
        "Prot LocalAddress:Port", "Check", "State", "Since", "Checks", "Failed", "Latency"
    );
    let mut current = None;
    for v in views {
        if current != Some(v.svc) {
            current = Some(v.svc);
            let svc = if v.svc.is_mark() {
                format!("FWM  {}", v.svc.fwmark)
            } else {
                format!("{:<4} {}:{}", v.svc.protocol.name(), v.svc.vip, v.svc.vport)
            };
            let _ = writeln!(out, "{svc}");
        }
        let dest = format!("  -> {}:{}", v.addr, v.port);
        let (latency, last) = match &v.last {
            Some(o) => (format!("{}.{} ms", o.latency_us / 1000, (o.latency_us % 1000) / 100), o.detail.clone()),
            None => ("-".to_owned(), "not checked yet".to_owned()),
        };
        let last = match &v.taken_out {
            Some(how) => format!("{last} ({how})"),
            None => last,
        };
        let _ = writeln!(
            out,
            "{dest:<31} {:<11} {:<7} {:>8} {:>8} {:>8} {latency:>10}  {last}",
            v.check,
            v.state.name(),
            duration(v.since_ms),
            v.checks,
            v.failures
        );
    }
    out
}

/// `--vrrp`: each VRRP instance on a line (name, port, VRID, priority, interval, state and since
/// when, the master, the advertisements sent, received and refused), its addresses on the next.
pub fn vrrp(views: &[VrrpView]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<12} {:<6} {:>4} {:>4} {:>6} {:<7} {:>8} {:<15} {:>8} {:>8} {:>7} {:>6}",
        "Instance",
        "Port",
        "VRID",
        "Prio",
        "Advert",
        "State",
        "Since",
        "Master",
        "Sent",
        "Received",
        "Refused",
        "Trans"
    );
    for v in views {
        let master = v.master.map_or_else(|| "-".to_owned(), |m| m.to_string());
        let interval = format!("{}ms", u32::from(v.advert_interval_cs) * 10);
        let _ = writeln!(
            out,
            "{:<12} {:<6} {:>4} {:>4} {interval:>6} {:<7} {:>8} {master:<15} {:>8} {:>8} {:>7} {:>6}",
            v.name,
            v.port,
            v.vrid,
            v.priority,
            v.state,
            duration(v.since_ms),
            v.adverts_sent,
            v.adverts_received,
            v.adverts_refused,
            v.transitions
        );
        let addrs: Vec<String> = v.addresses.iter().map(ToString::to_string).collect();
        let _ = writeln!(out, "  -> {}", addrs.join(" "));
    }
    out
}

/// `-L --daemon`: ipvsadm's line for each sync daemon.
pub fn daemons(views: &[DaemonView]) -> String {
    let mut out = String::new();
    for d in views {
        let _ = write!(
            out,
            "{} sync daemon (mcast={}, syncid={}, maxlen={}",
            d.role.name(),
            d.interface,
            d.syncid,
            d.maxlen
        );
        if let Some(g) = d.group {
            let _ = write!(out, ", group={g}");
        }
        let _ = writeln!(out, ", port={}, ttl=1)", d.port);
    }
    out
}

/// A duration as `45s`, `12m03s` or `3h07m`.
fn duration(ms: u64) -> String {
    let s = ms / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
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

    use ctrl::msg::{ConnView, DestSpec, DestView, ServiceSpec, WorkerCounters};
    use ctrl::vocab::{DestId, Persistence, Rates, SchedFlags, SchedKind, ServiceKey};

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
                    stats: traffic(u64::from(id) * u64::from(weight)),
                    rates: Rates {
                        cps: u64::from(active),
                        inpps: u64::from(inactive),
                        outpps: u64::from(weight),
                        inbps: u64::from(weight) * 1_000_003,
                        outbps: u64::from(active) * 999,
                    },
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
            stats: traffic(u64::from(vport) * 1000),
            rates: Rates { cps: u64::from(vport), inpps: 1, outpps: 2, inbps: 123_456_789_012, outbps: 0 },
        }
    }

    /// Made-up counters from one number, spread over every scale ipvsadm prints.
    fn traffic(n: u64) -> Counters {
        Counters {
            conns: n,
            inpkts: n * 1_000,
            outpkts: n * 1_000_003,
            inbytes: n * 1_000_000_007,
            outbytes: n.saturating_mul(1_000_000_000_039),
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

    const NUMERIC: ListFormat = ListFormat { numeric: true, sort: true, columns: Columns::Plain, exact: false };
    const NAMED: ListFormat = ListFormat { numeric: false, ..NUMERIC };
    const THRESHOLDS: ListFormat = ListFormat { columns: Columns::Thresholds, ..NUMERIC };
    const STATS: ListFormat = ListFormat { columns: Columns::Stats, ..NUMERIC };
    const RATE: ListFormat = ListFormat { columns: Columns::Rate, ..NUMERIC };

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
        let got = list(&one, false, ListFormat { numeric: false, sort: false, ..THRESHOLDS }, &names());
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
        let got = list(&l, false, ListFormat { numeric: false, ..THRESHOLDS }, &names());
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

    #[test]
    fn stats_and_rates_are_ipvsadms_layout() {
        // Counters below 100 million in full, then in thousands (K), millions (M), billions (G) and
        // trillions (T), right-aligned in 9 columns; --exact in full, a column wider when needed.
        let l = sample();
        let exact = |f: ListFormat| ListFormat { exact: true, ..f };
        assert_eq!(
            list(&l, true, STATS, &names()),
            concat!(
                "IP Virtual Server version 1.2.1 (size=1048576)\n",
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
                "  -> RemoteAddress:Port\n",
                "TCP  9.0.0.1:443                    443000  443000K     443G     443T  443000T\n",
                "TCP  10.0.0.100:80                   80000 80000000   80000M   80000G   80000T\n",
                "  -> 10.1.0.11:80                   196605  196605K     196G     196T  196605T\n",
                "  -> 10.1.0.11:8080                      2     2000  2000006    2000M    2000G\n",
                "  -> 10.1.0.12:8080                      3     3000  3000009    3000M    3000G\n",
                "UDP  10.0.0.100:53                   53000 53000000   53000M   53000G   53000T\n",
                "  -> 10.1.0.21:53                        1     1000  1000003    1000M    1000G\n",
            )
        );
        assert_eq!(
            list(&l, true, exact(STATS), &names()),
            concat!(
                "IP Virtual Server version 1.2.1 (size=1048576)\n",
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
                "  -> RemoteAddress:Port\n",
                "TCP  9.0.0.1:443                    443000 443000000 443001329000 443000003101000 443000000017277000\n",
                "TCP  10.0.0.100:80                   80000 80000000 80000240000 80000000560000 80000000003120000\n",
                "  -> 10.1.0.11:80                   196605 196605000 196605589815 196605001376235 196605000007667595\n",
                "  -> 10.1.0.11:8080                      2     2000  2000006 2000000014 2000000000078\n",
                "  -> 10.1.0.12:8080                      3     3000  3000009 3000000021 3000000000117\n",
                "UDP  10.0.0.100:53                   53000 53000000 53000159000 53000000371000 53000000002067000\n",
                "  -> 10.1.0.21:53                        1     1000  1000003 1000000007 1000000000039\n",
            )
        );
        // A real server's CPS and PPS are printed plainly (%8u), its BPS as counters.
        assert_eq!(
            list(&l, true, RATE, &names()),
            concat!(
                "IP Virtual Server version 1.2.1 (size=1048576)\n",
                "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
                "  -> RemoteAddress:Port\n",
                "TCP  9.0.0.1:443                       443        1        2     123G        0\n",
                "TCP  10.0.0.100:80                      80        1        2     123G        0\n",
                "  -> 10.1.0.11:80                  1234567        0    65535   65535M    1233M\n",
                "  -> 10.1.0.11:8080                      0        0        1  1000003        0\n",
                "  -> 10.1.0.12:8080                     12       40        3  3000009    11988\n",
                "UDP  10.0.0.100:53                      53        1        2     123G        0\n",
                "  -> 10.1.0.21:53                        0        7        1  1000003        0\n",
            )
        );
        assert_eq!(
            list(&l, true, exact(RATE), &names()),
            concat!(
                "IP Virtual Server version 1.2.1 (size=1048576)\n",
                "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   OutBPS\n",
                "  -> RemoteAddress:Port\n",
                "TCP  9.0.0.1:443                       443        1        2 123456789012        0\n",
                "TCP  10.0.0.100:80                      80        1        2 123456789012        0\n",
                "  -> 10.1.0.11:80                  1234567        0    65535 65535196605 1233332433\n",
                "  -> 10.1.0.11:8080                      0        0        1  1000003        0\n",
                "  -> 10.1.0.12:8080                     12       40        3  3000009    11988\n",
                "UDP  10.0.0.100:53                      53        1        2 123456789012        0\n",
                "  -> 10.1.0.21:53                        0        7        1  1000003        0\n",
            )
        );
        // One service, names for ports: no version line, the same columns.
        let one = Listing { services: vec![l.services[0].clone()], ..l };
        assert_eq!(
            list(&one, false, ListFormat { numeric: false, ..STATS }, &names()),
            concat!(
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
                "  -> RemoteAddress:Port\n",
                "UDP  10.0.0.100:domain               53000 53000000   53000M   53000G   53000T\n",
                "  -> 10.1.0.21:domain                    1     1000  1000003    1000M    1000G\n",
            )
        );
    }

    #[test]
    fn counters_show_ports_workers_and_totals() {
        let r = CounterReport {
            ports: vec![
                PortCounters {
                    name: "lan".into(),
                    steering: "rss".into(),
                    rx: 10,
                    tx: 9,
                    rx_bytes: 1000,
                    tx_bytes: 900,
                    ..Default::default()
                },
                PortCounters {
                    name: "dmz".into(),
                    steering: "redirect".into(),
                    missed: 3,
                    rx_nombuf: 1,
                    ..Default::default()
                },
            ],
            workers: vec![WorkerCounters {
                lcore: 1,
                counters: vec![("rx".into(), 10), ("fwd_in".into(), 5)],
                drops: vec![("no_conn".into(), 0), ("land".into(), 2), ("vlan".into(), 1)],
            }],
            total: traffic(1),
            rates: Rates { cps: 4, ..Rates::default() },
        };
        assert_eq!(
            counters(&r),
            concat!(
                "Port                   RX           TX        RXBytes        TXBytes     Missed   RXErrors   TXErrors   RXNoMbuf Steering\n",
                "lan                    10            9           1000            900          0          0          0          0 rss\n",
                "dmz                     0            0              0              0          3          0          0          1 redirect\n",
                "Worker 0 (lcore 1): rx 10 fwd_in 5\n",
                "  drops 3 land=2 vlan=1\n",
                "Total: Conns 1 InPkts 1000 OutPkts 1000003 InBytes 1000000007 OutBytes 1000000000039\n",
                "       CPS 4 InPPS 0 OutPPS 0 InBPS 0 OutBPS 0\n",
            )
        );
    }

    #[test]
    fn health_lists_each_checked_server_under_its_service() {
        use ctrl::msg::{HealthState, HealthView};
        use ctrl::vocab::Outcome;
        let svc = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 };
        let view = |last: u8, state, since_ms, last_result: Option<(&str, u64)>, taken_out: Option<&str>| HealthView {
            svc,
            addr: Ipv4Addr::new(10, 1, 0, last),
            port: 8080,
            check: "http:8080".into(),
            state,
            since_ms,
            last: last_result.map(|(d, us)| Outcome { up: true, detail: d.into(), latency_us: us, weight: None }),
            checks: 40,
            failures: 3,
            transitions: 2,
            taken_out: taken_out.map(str::to_owned),
        };
        let text = health(&[
            view(11, HealthState::Up, 72_000, Some(("HTTP 200", 1234)), None),
            view(12, HealthState::Down, 8_000, Some(("refused", 200)), Some("removed")),
            view(13, HealthState::Unknown, 3_725_000, None, None),
        ]);
        let want = "\
Prot LocalAddress:Port          Check       State      Since   Checks   Failed    Latency  Last result
TCP  10.0.0.100:80
  -> 10.1.0.11:8080             http:8080   UP         1m12s       40        3     1.2 ms  HTTP 200
  -> 10.1.0.12:8080             http:8080   DOWN          8s       40        3     0.2 ms  refused (removed)
  -> 10.1.0.13:8080             http:8080   UNKNOWN    1h02m       40        3          -  not checked yet
";
        assert_eq!(text, want);
    }
}
