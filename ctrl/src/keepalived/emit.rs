//! The converted VRRP instances and services written as fnatd's TOML: first per instance comments
//! naming the `vrrp_instance` it came from and what differs from keepalived, then its `[[vrrp]]`
//! (every field keepalived has a default for written out, the lists and commands when there are
//! some); then per service a comment naming the `virtual_server` it came from, its `[[service]]`,
//! its `[[service.real_server]]`s (indented), then its `[[check]]`s, with only the fields that are
//! set or that differ from fnatd's defaults. Strings are TOML basic strings with every character TOML requires escaped,
//! and comments have their control characters escaped the same way (a comment ends at its line);
//! seconds always have a decimal point (`60.0`).

use std::fmt::Write as _;

use super::checker::{Check, Probe};
use super::convert::{CheckTable, Quorum, RealServer, Service};
use super::vrrp::Instance;
use crate::vocab::{FwdMethod, Protocol, ServiceKey};

/// The first line of the output.
pub(super) const HEADER: &str = "# Converted from keepalived.conf by fnatctl --from-keepalived.\n";

/// A TOML value.
enum Value<'a> {
    Str(&'a str),
    Int(u64),
    Float(f64),
    Bool(bool),
    Ints(&'a [u16]),
    Strs(&'a [String]),
}

/// The TOML of `instances` and `services`.
pub(super) fn toml(instances: &[Instance], services: &[Service]) -> String {
    let mut out = String::from(HEADER);
    for v in instances {
        vrrp(&mut out, v);
    }
    for svc in services {
        service(&mut out, svc);
    }
    out
}

/// Writes `key = value` (indented by `indent`).
fn field(out: &mut String, indent: &str, key: &str, value: Value<'_>) {
    out.push_str(indent);
    out.push_str(key);
    out.push_str(" = ");
    match value {
        Value::Str(s) => quote(out, s),
        Value::Int(n) => {
            let _ = write!(out, "{n}");
        }
        // `{:?}` keeps the decimal point of a whole number (60.0) and is the shortest exact form.
        Value::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Value::Bool(b) => {
            let _ = write!(out, "{b}");
        }
        Value::Ints(list) => {
            let items: Vec<String> = list.iter().map(u16::to_string).collect();
            let _ = write!(out, "[{}]", items.join(", "));
        }
        Value::Strs(list) => {
            out.push('[');
            for (i, s) in list.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                quote(out, s);
            }
            out.push(']');
        }
    }
    out.push('\n');
}

/// `s` as a TOML basic string.
fn quote(out: &mut String, s: &str) {
    out.push('"');
    escaped(out, s, true);
    out.push('"');
}

/// `# text` on a line of its own, its control characters escaped (TOML's comments take none).
fn comment(out: &mut String, text: &str) {
    out.push_str("# ");
    escaped(out, text, false);
    out.push('\n');
}

/// `s` with its control characters escaped as in a TOML basic string, and its quotes and
/// backslashes too when `in_quotes`.
fn escaped(out: &mut String, s: &str, in_quotes: bool) {
    for c in s.chars() {
        match c {
            '"' if in_quotes => out.push_str("\\\""),
            '\\' if in_quotes => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// The fields that name a service: protocol, vip and port, or fwmark.
fn key_fields(out: &mut String, key: &ServiceKey) {
    if key.is_mark() {
        field(out, "", "fwmark", Value::Int(u64::from(key.fwmark)));
        return;
    }
    let protocol = match key.protocol {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    };
    field(out, "", "protocol", Value::Str(protocol));
    field(out, "", "vip", Value::Str(&key.vip.to_string()));
    field(out, "", "port", Value::Int(u64::from(key.vport)));
}

fn vrrp(out: &mut String, v: &Instance) {
    out.push('\n');
    comment(out, &format!("keepalived.conf line {}: vrrp_instance {}", v.line, v.keepalived_name));
    for note in &v.notes {
        comment(out, note);
    }
    out.push_str("[[vrrp]]\n");
    field(out, "", "name", Value::Str(&v.name));
    field(out, "", "port", Value::Str(&v.port));
    field(out, "", "vrid", Value::Int(u64::from(v.vrid)));
    field(out, "", "priority", Value::Int(u64::from(v.priority)));
    field(out, "", "advert_interval_cs", Value::Int(u64::from(v.advert_interval_cs)));
    field(out, "", "preempt", Value::Bool(v.preempt));
    field(out, "", "preempt_delay_ms", Value::Int(v.preempt_delay_ms));
    let strings = |list: &[std::net::Ipv4Addr]| list.iter().map(ToString::to_string).collect::<Vec<_>>();
    field(out, "", "addresses", Value::Strs(&strings(&v.addresses)));
    if !v.unicast_peers.is_empty() {
        field(out, "", "unicast_peers", Value::Strs(&strings(&v.unicast_peers)));
    }
    if !v.track_ports.is_empty() {
        field(out, "", "track_ports", Value::Strs(&v.track_ports));
    }
    for (key, cmd) in
        [("notify_master", &v.notify_master), ("notify_backup", &v.notify_backup), ("notify_fault", &v.notify_fault)]
    {
        if let Some(c) = cmd {
            field(out, "", key, Value::Str(c));
        }
    }
    field(out, "", "garp_repeat", Value::Int(u64::from(v.garp_repeat)));
    if let Some(ms) = v.garp_interval_ms {
        field(out, "", "garp_interval_ms", Value::Int(ms));
    }
}

fn service(out: &mut String, svc: &Service) {
    out.push('\n');
    comment(out, &format!("keepalived.conf line {}: {}", svc.line, svc.header));
    if svc.key.is_mark() {
        let _ = writeln!(
            out,
            "# The traffic of fwmark {} is marked by fnatd's [[fwmark]] rules (or fnatctl --add-mark), \
             no longer by iptables.",
            svc.key.fwmark
        );
    }
    out.push_str("[[service]]\n");
    key_fields(out, &svc.key);
    if let Some(s) = svc.scheduler {
        field(out, "", "scheduler", Value::Str(s.name()));
    }
    if !svc.flags.is_empty() {
        field(out, "", "scheduler_flags", Value::Strs(&svc.flags));
    }
    if let Some(p) = svc.persistent {
        field(out, "", "persistent", Value::Int(u64::from(p)));
    }
    if let Some(m) = svc.netmask {
        field(out, "", "netmask", Value::Str(&m.to_string()));
    }
    for rs in &svc.real_servers {
        real_server(out, rs);
    }
    for table in &svc.checks {
        check(out, &svc.key, table);
    }
}

fn real_server(out: &mut String, rs: &RealServer) {
    const IN: &str = "  ";
    out.push_str("\n  [[service.real_server]]\n");
    field(out, IN, "address", Value::Str(&rs.addr.to_string()));
    field(out, IN, "port", Value::Int(u64::from(rs.port)));
    field(out, IN, "weight", Value::Int(u64::from(rs.weight)));
    let forward = match rs.forward {
        FwdMethod::Nat => "nat",
        FwdMethod::Dr => "dr",
        FwdMethod::Tun => "tun",
        FwdMethod::FullNat => "fullnat",
    };
    field(out, IN, "forward", Value::Str(forward));
    if rs.upper != 0 {
        field(out, IN, "upper_threshold", Value::Int(u64::from(rs.upper)));
    }
    if rs.lower != 0 {
        field(out, IN, "lower_threshold", Value::Int(u64::from(rs.lower)));
    }
}

fn check(out: &mut String, key: &ServiceKey, table: &CheckTable) {
    out.push_str("\n[[check]]\n");
    key_fields(out, key);
    if let Some(rs) = table.real_server {
        field(out, "", "real_server", Value::Str(&rs.to_string()));
    }
    timing(out, &table.check);
    probe(out, &table.check.probe);
    quorum(out, &table.quorum);
    if let Some(n) = &table.notify_up {
        field(out, "", "notify_up", Value::Str(n));
    }
    if let Some(n) = &table.notify_down {
        field(out, "", "notify_down", Value::Str(n));
    }
}

/// `type`, `check_port` and the timing of a check, keepalived's verdict (`rise`, `fall` 1) and
/// `inhibit_on_failure`.
fn timing(out: &mut String, c: &Check) {
    field(out, "", "type", Value::Str(c.probe.kind()));
    if let Some(p) = c.check_port {
        field(out, "", "check_port", Value::Int(u64::from(p)));
    }
    field(out, "", "interval", Value::Float(c.interval));
    field(out, "", "timeout", Value::Float(c.timeout));
    field(out, "", "retries", Value::Int(u64::from(c.retries)));
    field(out, "", "retry_delay", Value::Float(c.retry_delay));
    field(out, "", "rise", Value::Int(1));
    field(out, "", "fall", Value::Int(1));
    if c.inhibit {
        field(out, "", "inhibit_on_failure", Value::Bool(true));
    }
}

/// The fields of one kind of check.
fn probe(out: &mut String, p: &Probe) {
    match p {
        Probe::Tcp | Probe::Icmp => {}
        Probe::Http { tls: _, path, host, status, digest } => {
            field(out, "", "path", Value::Str(path));
            if let Some(h) = host {
                field(out, "", "host", Value::Str(h));
            }
            if !status.is_empty() {
                field(out, "", "status", Value::Ints(status));
            }
            if let Some(d) = digest {
                field(out, "", "digest", Value::Str(d));
            }
        }
        Probe::Udp { payload, require_reply } => {
            if let Some(p) = payload {
                field(out, "", "payload", Value::Str(p));
            }
            if *require_reply {
                field(out, "", "require_reply", Value::Bool(true));
            }
        }
        Probe::Dns { name, query_type } => {
            if let Some(n) = name {
                field(out, "", "name", Value::Str(n));
            }
            field(out, "", "query_type", Value::Str(query_type));
        }
        Probe::Misc { command, dynamic } => {
            field(out, "", "command", Value::Str(command));
            if *dynamic {
                field(out, "", "dynamic", Value::Bool(true));
            }
        }
    }
}

/// A service's `sorry_server`, `quorum`, `hysteresis`, `quorum_up` and `quorum_down`.
fn quorum(out: &mut String, q: &Quorum) {
    if let Some(s) = q.sorry_server {
        field(out, "", "sorry_server", Value::Str(&s.to_string()));
    }
    if let Some(n) = q.quorum {
        field(out, "", "quorum", Value::Int(u64::from(n)));
    }
    if let Some(n) = q.hysteresis {
        field(out, "", "hysteresis", Value::Int(u64::from(n)));
    }
    if let Some(c) = &q.quorum_up {
        field(out, "", "quorum_up", Value::Str(c));
    }
    if let Some(c) = &q.quorum_down {
        field(out, "", "quorum_down", Value::Str(c));
    }
}
