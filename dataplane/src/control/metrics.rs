//! The Prometheus text exposition of fnatd's counters (format 0.0.4): per service and real server
//! the traffic IPVS counts and the connection counts, per port what the driver counted, per worker
//! its packets by verdict and drops by reason, and the gateway's totals. Rendered on the main
//! lcore from the same figures `fnatctl -L --stats` and `fnatctl --counters` show.

use std::fmt::Write as _;

use crate::lb::{Protocol, ServiceKey};
use ctrl::msg::{CounterReport, DaemonView, DestView, HealthView, Listing, PortCounters, VrrpView};
use ctrl::vocab::Counters;

/// The `service` label of a service: `tcp/VIP:PORT`, `udp/VIP:PORT` or `fwm/MARK`.
pub fn service_label(k: &ServiceKey) -> String {
    match (k.fwmark, k.protocol) {
        (0, Protocol::Tcp) => format!("tcp/{}:{}", k.vip, k.vport),
        (0, Protocol::Udp) => format!("udp/{}:{}", k.vip, k.vport),
        (m, _) => format!("fwm/{m}"),
    }
}

/// One metric family: its help and type lines, then its samples.
struct Family<'a> {
    out: &'a mut String,
}

impl<'a> Family<'a> {
    fn new(out: &'a mut String, name: &str, kind: &str, help: &str) -> Self {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        Self { out }
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                // Label values here are addresses, names and numbers: nothing to escape.
                let _ = write!(self.out, "{sep}{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        let _ = writeln!(self.out, " {value}");
    }
}

/// Writes the three traffic families (connections, packets, bytes) of `prefix` for every entry.
fn traffic(out: &mut String, prefix: &str, what: &str, rows: &[(Vec<(&str, &str)>, Counters)]) {
    let name = format!("{prefix}_connections_total");
    let mut f = Family::new(out, &name, "counter", &format!("Connections scheduled to the {what}."));
    for (labels, c) in rows {
        f.sample(&name, labels, c.conns);
    }
    for (unit, help, values) in [
        ("packets", "Packets", [|c: &Counters| c.inpkts, |c: &Counters| c.outpkts]),
        ("bytes", "Bytes (IP length)", [|c: &Counters| c.inbytes, |c: &Counters| c.outbytes]),
    ] {
        let name = format!("{prefix}_{unit}_total");
        let help = format!("{help} through the {what}, in (from clients) and out (from real servers).");
        let mut f = Family::new(out, &name, "counter", &help);
        for (labels, c) in rows {
            for (dir, value) in ["in", "out"].iter().zip(values) {
                let mut l = labels.clone();
                l.push(("direction", dir));
                f.sample(&name, &l, value(c));
            }
        }
    }
}

/// What the exposition shows beside the services: the health checks, the VRRP instances and
/// the sync daemons.
#[derive(Clone, Copy, Debug, Default)]
pub struct Extras<'a> {
    /// The checked real servers.
    pub health: &'a [HealthView],
    /// The VRRP instances.
    pub vrrp: &'a [VrrpView],
    /// The sync daemons running.
    pub daemons: &'a [DaemonView],
}

/// The whole exposition.
pub fn render(listing: &Listing, counters: &CounterReport, extras: Extras<'_>) -> String {
    let mut out = String::new();
    let labels: Vec<(String, Vec<(String, DestView)>)> = listing
        .services
        .iter()
        .map(|s| {
            let dests = s.dests.iter().map(|d| (format!("{}:{}", d.spec.addr, d.spec.port), *d)).collect();
            (service_label(&s.spec.key), dests)
        })
        .collect();

    let rows: Vec<(Vec<(&str, &str)>, Counters)> = listing
        .services
        .iter()
        .zip(&labels)
        .map(|(s, (name, _))| (vec![("service", name.as_str())], s.stats))
        .collect();
    traffic(&mut out, "fnat_service", "virtual service", &rows);

    let dest_rows: Vec<(Vec<(&str, &str)>, Counters)> = labels
        .iter()
        .flat_map(|(svc, dests)| {
            dests.iter().map(move |(server, d)| (vec![("service", svc.as_str()), ("server", server.as_str())], d.stats))
        })
        .collect();
    traffic(&mut out, "fnat_real_server", "real server", &dest_rows);
    type DestField = fn(&DestView) -> u64;
    let gauges: [(&str, &str, DestField); 3] = [
        ("fnat_real_server_active_connections", "Established TCP connections.", |d| u64::from(d.active)),
        ("fnat_real_server_inactive_connections", "Connections in any other state, UDP included.", |d| {
            u64::from(d.inactive)
        }),
        ("fnat_real_server_weight", "The real server's weight.", |d| u64::from(d.spec.weight)),
    ];
    for (name, help, value) in gauges {
        let mut f = Family::new(&mut out, name, "gauge", help);
        for (svc, dests) in &labels {
            for (server, d) in dests {
                f.sample(name, &[("service", svc), ("server", server)], value(d));
            }
        }
    }

    traffic(&mut out, "fnat", "gateway's services", &[(Vec::new(), counters.total)]);

    /// A family of port counters: name, help, and the value of each direction (or the one value).
    type PortFamily<'a> = (&'a str, &'a str, &'a [(&'a str, fn(&PortCounters) -> u64)]);
    let port_families: [PortFamily; 5] = [
        ("fnat_port_packets_total", "Packets the port received and sent.", &[("rx", |p| p.rx), ("tx", |p| p.tx)]),
        (
            "fnat_port_bytes_total",
            "Bytes the port received and sent.",
            &[("rx", |p| p.rx_bytes), ("tx", |p| p.tx_bytes)],
        ),
        ("fnat_port_errors_total", "Receive and send errors.", &[("rx", |p| p.rx_errors), ("tx", |p| p.tx_errors)]),
        ("fnat_port_missed_total", "Packets dropped by the NIC: receive queues full.", &[("rx", |p| p.missed)]),
        ("fnat_port_rx_nombuf_total", "Receive failures for lack of mbufs.", &[("rx", |p| p.rx_nombuf)]),
    ];
    for (name, help, fields) in port_families {
        let mut f = Family::new(&mut out, name, "counter", help);
        for p in &counters.ports {
            for (dir, value) in fields {
                if fields.len() == 1 {
                    f.sample(name, &[("port", &p.name)], value(p));
                } else {
                    f.sample(name, &[("port", &p.name), ("direction", dir)], value(p));
                }
            }
        }
    }

    let name = "fnat_port_steering";
    let mut f = Family::new(&mut out, name, "gauge", "How replies reach the worker that owns their connection.");
    for p in &counters.ports {
        f.sample(name, &[("port", &p.name), ("mode", &p.steering)], 1);
    }

    let workers: Vec<(String, String)> =
        counters.workers.iter().enumerate().map(|(i, w)| (i.to_string(), w.lcore.to_string())).collect();
    let counter_names: Vec<&str> =
        counters.workers.first().map(|w| w.counters.iter().map(|(n, _)| n.as_str()).collect()).unwrap_or_default();
    for (k, counter) in counter_names.iter().enumerate() {
        let name = format!("fnat_worker_{counter}_total");
        let mut f = Family::new(&mut out, &name, "counter", &format!("Worker counter {counter}."));
        for (w, (idx, lcore)) in counters.workers.iter().zip(&workers) {
            if let Some((_, v)) = w.counters.get(k) {
                f.sample(&name, &[("worker", idx), ("lcore", lcore)], *v);
            }
        }
    }
    let name = "fnat_worker_drops_total";
    let mut f = Family::new(&mut out, name, "counter", "Packets dropped, by reason.");
    for (w, (idx, lcore)) in counters.workers.iter().zip(&workers) {
        for (reason, v) in &w.drops {
            f.sample(name, &[("worker", idx), ("lcore", lcore), ("reason", reason)], *v);
        }
    }
    render_health(&mut out, extras.health);
    render_ha(&mut out, extras.vrrp, extras.daemons);
    out
}

/// The health checks' families: each checked real server up or down, its checks by result, and
/// its transitions.
fn render_health(out: &mut String, health: &[HealthView]) {
    let rows: Vec<(String, String, &HealthView)> =
        health.iter().map(|h| (service_label(&h.svc), format!("{}:{}", h.addr, h.port), h)).collect();
    let name = "fnat_real_server_up";
    let mut f =
        Family::new(out, name, "gauge", "1 while the real server's checks pass (or have not run), 0 while down.");
    for (svc, server, h) in &rows {
        let up = u64::from(h.state != ctrl::msg::HealthState::Down);
        f.sample(name, &[("service", svc), ("server", server), ("check", &h.check)], up);
    }
    let name = "fnat_health_checks_total";
    let mut f = Family::new(out, name, "counter", "Health checks run, by result.");
    for (svc, server, h) in &rows {
        f.sample(name, &[("service", svc), ("server", server), ("result", "pass")], h.checks - h.failures);
        f.sample(name, &[("service", svc), ("server", server), ("result", "fail")], h.failures);
    }
    let name = "fnat_health_transitions_total";
    let mut f = Family::new(out, name, "counter", "Times the real server went down or came back.");
    for (svc, server, h) in &rows {
        f.sample(name, &[("service", svc), ("server", server)], h.transitions);
    }
}

/// The VRRP instances (state, advertisements, transitions) and the sync daemon (messages and
/// connections each way, drops by reason, lag).
fn render_ha(out: &mut String, vrrp: &[VrrpView], daemons: &[DaemonView]) {
    if !vrrp.is_empty() {
        let name = "fnat_vrrp_state";
        let mut f = Family::new(out, name, "gauge", "1 for the VRRP instance's state, 0 for the others.");
        for v in vrrp {
            for state in ["INIT", "BACKUP", "MASTER", "FAULT"] {
                f.sample(name, &[("instance", &v.name), ("state", state)], u64::from(v.state == state));
            }
        }
        let name = "fnat_vrrp_adverts_total";
        let mut f = Family::new(out, name, "counter", "VRRP advertisements sent, received, and refused.");
        for v in vrrp {
            for (dir, n) in [("sent", v.adverts_sent), ("received", v.adverts_received), ("refused", v.adverts_refused)]
            {
                f.sample(name, &[("instance", &v.name), ("direction", dir)], n);
            }
        }
        let name = "fnat_vrrp_transitions_total";
        let mut f = Family::new(out, name, "counter", "Times the VRRP instance changed state.");
        for v in vrrp {
            f.sample(name, &[("instance", &v.name)], v.transitions);
        }
    }
    // Both roles share one socket and its counters.
    let Some(d) = daemons.first() else { return };
    let name = "fnat_sync_messages_total";
    let mut f = Family::new(out, name, "counter", "Connection-sync messages sent and accepted.");
    f.sample(name, &[("direction", "sent")], d.sent);
    f.sample(name, &[("direction", "received")], d.received);
    let name = "fnat_sync_connections_total";
    let mut f = Family::new(out, name, "counter", "Connections sent to and received from the other gateways.");
    f.sample(name, &[("direction", "sent")], d.sent_records);
    f.sample(name, &[("direction", "received")], d.received_records);
    let name = "fnat_sync_dropped_total";
    let mut f = Family::new(out, name, "counter", "Connection-sync messages refused, by reason.");
    for (reason, n) in &d.dropped {
        f.sample(name, &[("reason", reason)], *n);
    }
    let name = "fnat_sync_resyncs_total";
    let mut f = Family::new(out, name, "counter", "Requests for every connection sent (asked) and answered.");
    f.sample(name, &[("direction", "asked")], d.resyncs_asked);
    f.sample(name, &[("direction", "answered")], d.resyncs_answered);
    let name = "fnat_sync_lag_milliseconds";
    let mut f = Family::new(out, name, "gauge", "How long the last message's oldest connection waited to be sent.");
    f.sample(name, &[], d.lag_ms);
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::lb::{DestId, FwdMethod, SchedFlags, SchedKind};
    use ctrl::msg::{DestSpec, ServiceSpec, ServiceView, WorkerCounters};
    use ctrl::vocab::Rates;

    #[test]
    fn renders_every_family_with_its_labels() {
        let key = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 };
        let stats = Counters { conns: 3, inpkts: 30, outpkts: 20, inbytes: 3000, outbytes: 9000 };
        let listing = Listing {
            conn_table_size: 4096,
            services: vec![ServiceView {
                spec: ServiceSpec { key, scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None },
                laddrs: vec![],
                dests: vec![DestView {
                    id: DestId(1),
                    spec: DestSpec {
                        addr: Ipv4Addr::new(10, 1, 0, 11),
                        port: 8080,
                        weight: 2,
                        method: FwdMethod::FullNat,
                        upper: 0,
                        lower: 0,
                    },
                    active: 1,
                    inactive: 2,
                    stats,
                    rates: Rates::default(),
                }],
                stats,
                rates: Rates::default(),
            }],
        };
        let counters = CounterReport {
            ports: vec![PortCounters {
                name: "lan".into(),
                steering: "rss".into(),
                rx: 7,
                tx: 5,
                missed: 1,
                ..PortCounters::default()
            }],
            workers: vec![WorkerCounters {
                lcore: 1,
                counters: vec![("rx".into(), 7), ("fwd_in".into(), 4)],
                drops: vec![("no_conn".into(), 2)],
            }],
            total: stats,
            rates: Rates::default(),
        };
        let health = ctrl::msg::HealthView {
            svc: key,
            addr: Ipv4Addr::new(10, 1, 0, 11),
            port: 8080,
            check: "http:8080".into(),
            state: ctrl::msg::HealthState::Down,
            since_ms: 1500,
            last: None,
            checks: 10,
            failures: 3,
            transitions: 1,
            taken_out: Some("removed".into()),
        };
        let text = render(&listing, &counters, Extras { health: &[health], ..Extras::default() });
        for line in [
            "# TYPE fnat_service_connections_total counter",
            "fnat_service_connections_total{service=\"tcp/10.0.0.100:80\"} 3",
            "fnat_service_packets_total{service=\"tcp/10.0.0.100:80\",direction=\"out\"} 20",
            "fnat_real_server_bytes_total{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\",direction=\"in\"} 3000",
            "fnat_real_server_active_connections{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\"} 1",
            "fnat_real_server_weight{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\"} 2",
            "fnat_connections_total 3",
            "fnat_bytes_total{direction=\"out\"} 9000",
            "fnat_port_packets_total{port=\"lan\",direction=\"rx\"} 7",
            "fnat_port_missed_total{port=\"lan\"} 1",
            "fnat_port_steering{port=\"lan\",mode=\"rss\"} 1",
            "fnat_worker_fwd_in_total{worker=\"0\",lcore=\"1\"} 4",
            "fnat_worker_drops_total{worker=\"0\",lcore=\"1\",reason=\"no_conn\"} 2",
            "fnat_real_server_up{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\",check=\"http:8080\"} 0",
            "fnat_health_checks_total{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\",result=\"pass\"} 7",
            "fnat_health_checks_total{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\",result=\"fail\"} 3",
            "fnat_health_transitions_total{service=\"tcp/10.0.0.100:80\",server=\"10.1.0.11:8080\"} 1",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line:?} in\n{text}");
        }
        // Every sample line is `name{labels} value` or `name value`, every family typed once.
        for l in text.lines().filter(|l| !l.starts_with('#')) {
            let (_, v) = l.rsplit_once(' ').unwrap();
            v.parse::<u64>().unwrap();
        }
        let types = text.lines().filter(|l| l.starts_with("# TYPE ")).count();
        let helps = text.lines().filter(|l| l.starts_with("# HELP ")).count();
        assert_eq!(types, helps);
        assert_eq!(service_label(&ServiceKey { fwmark: 7, ..key }), "fwm/7");
    }

    #[test]
    fn renders_the_vrrp_instances_and_the_sync_daemon() {
        use ctrl::msg::SyncRole;
        let v = VrrpView {
            name: "VI_1".into(),
            port: "lan".into(),
            vrid: 51,
            priority: 150,
            advert_interval_cs: 10,
            preempt: true,
            state: "MASTER".into(),
            master: Some(Ipv4Addr::new(10, 0, 0, 4)),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
            since_ms: 5,
            transitions: 2,
            adverts_sent: 40,
            adverts_received: 3,
            adverts_refused: 1,
        };
        let d = DaemonView {
            role: SyncRole::Master,
            interface: "lan".into(),
            syncid: 1,
            group: Some(Ipv4Addr::new(224, 0, 0, 81)),
            port: 8848,
            maxlen: 1444,
            sent: 7,
            sent_records: 90,
            received: 2,
            received_records: 4,
            dropped: vec![("bad_tag".into(), 3)],
            lag_ms: 12,
            resyncs_asked: 1,
            resyncs_answered: 2,
        };
        let mut out = String::new();
        render_ha(&mut out, &[v], &[d]);
        for line in [
            "fnat_vrrp_state{instance=\"VI_1\",state=\"MASTER\"} 1",
            "fnat_vrrp_state{instance=\"VI_1\",state=\"BACKUP\"} 0",
            "fnat_vrrp_adverts_total{instance=\"VI_1\",direction=\"refused\"} 1",
            "fnat_vrrp_transitions_total{instance=\"VI_1\"} 2",
            "fnat_sync_messages_total{direction=\"sent\"} 7",
            "fnat_sync_connections_total{direction=\"received\"} 4",
            "fnat_sync_dropped_total{reason=\"bad_tag\"} 3",
            "fnat_sync_lag_milliseconds 12",
            "fnat_sync_resyncs_total{direction=\"answered\"} 2",
        ] {
            assert!(out.lines().any(|l| l == line), "{line} in:\n{out}");
        }
        let mut none = String::new();
        render_ha(&mut none, &[], &[]);
        assert!(none.is_empty());
    }
}
