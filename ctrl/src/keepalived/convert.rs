//! keepalived's `virtual_server` and `real_server` blocks as fnatd's services, real servers and
//! checks ([`Service`]), every value checked where it is written, and every service checked as
//! fnatd's control state would check it (`crate::limits`), so that what is written is accepted.
//!
//! Ports: keepalived's real server port is also what its checkers connect to. Where fnatd's real
//! server has no port of its own (a port-0 service's, or a DR or TUN real server of a fwmark
//! service: the packet keeps its port), the port keepalived wrote is kept for the check
//! (`check_port`). A NAT real server of a port-0 service with a port would map every port to it,
//! which fnatd does not do, and is refused; so is a DR or TUN real server whose port is not the
//! service's.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddrV4};

use super::KeepalivedError as E;
use super::checker::{self, Check, Checker, Timing};
use super::lexer::Stmt;
use super::values::{ipv4, port, shared_refusals};
use crate::limits::{self, AddrRole, MAX_THRESHOLD, MAX_TIMEOUT_SECS, MAX_WEIGHT};
use crate::vocab::sched_flags::{add_sched_flag, flag_owner};
use crate::vocab::{
    DEFAULT_SCHEDULER, FwdMethod, Persistence, Protocol, SchedFlags, SchedKind, ServiceKey, mask_prefix,
};

/// One virtual server, converted.
#[derive(Debug)]
pub(super) struct Service {
    /// The line of its `virtual_server`.
    pub line: usize,
    /// `virtual_server` and its values, as written.
    pub header: String,
    /// Protocol, VIP and port, or the mark.
    pub key: ServiceKey,
    /// `lb_algo`, when set (fnatd's default, wlc, is IPVS's as keepalived's).
    pub scheduler: Option<SchedKind>,
    /// The scheduler flags (`sh-port`, `flag-1`, ...) in the order written.
    pub flags: Vec<String>,
    /// `persistence_timeout` in seconds.
    pub persistent: Option<u32>,
    /// `persistence_granularity`.
    pub netmask: Option<Ipv4Addr>,
    /// The real servers, in the file's order.
    pub real_servers: Vec<RealServer>,
    /// The `[[check]]` tables of the service, in the file's order.
    pub checks: Vec<CheckTable>,
}

/// One real server, converted.
#[derive(Debug)]
pub(super) struct RealServer {
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its port in fnatd (0: the packet's own).
    pub port: u16,
    /// `weight`.
    pub weight: u32,
    /// `lb_kind` (its own or its virtual server's).
    pub forward: FwdMethod,
    /// `uthreshold` (0: none).
    pub upper: u32,
    /// `lthreshold`.
    pub lower: u32,
}

/// One `[[check]]` table of a service: for all its real servers, or for one.
#[derive(Debug)]
pub(super) struct CheckTable {
    /// The real server it is for; `None`: every real server of the service.
    pub real_server: Option<SocketAddrV4>,
    /// The check.
    pub check: Check,
    /// The service-wide settings (only on a table for every real server).
    pub quorum: Quorum,
    /// The real server's `notify_up`.
    pub notify_up: Option<String>,
    /// The real server's `notify_down`.
    pub notify_down: Option<String>,
}

/// A virtual server's settings about all of its real servers together.
#[derive(Debug, Default, Clone)]
pub(super) struct Quorum {
    /// The line of the first of them written.
    pub line: Option<usize>,
    /// `sorry_server`.
    pub sorry_server: Option<SocketAddrV4>,
    /// `quorum`.
    pub quorum: Option<u32>,
    /// `hysteresis`.
    pub hysteresis: Option<u32>,
    /// `quorum_up`.
    pub quorum_up: Option<String>,
    /// `quorum_down`.
    pub quorum_down: Option<String>,
}

/// A real server as written.
#[derive(Debug)]
struct RawRealServer {
    line: usize,
    addr: Ipv4Addr,
    port: Option<u16>,
    weight: u32,
    method: Option<(FwdMethod, String)>,
    upper: u32,
    lower: u32,
    inhibit: Option<bool>,
    notify_up: Option<(usize, String)>,
    notify_down: Option<(usize, String)>,
    timing: Timing,
    virtualhost: Option<String>,
    checker: Option<Checker>,
}

/// The services of the top-level statements, in order; other top-level blocks are skipped.
pub(super) fn services(stmts: &[Stmt]) -> Result<Vec<Service>, E> {
    let mut out: Vec<Service> = Vec::new();
    for s in stmts {
        shared_refusals(s)?;
        match s.keyword.as_str() {
            "virtual_server" => {
                let svc = virtual_server(s)?;
                if let Some(first) = out.iter().find(|o| o.key == svc.key) {
                    return Err(E::invalid(
                        s.line,
                        format!("{} is defined twice (first on line {})", svc.header, first.line),
                    ));
                }
                out.push(svc);
            }
            "virtual_server_group" => return Err(E::unsupported(s.line, "virtual_server_group")),
            _ => {}
        }
    }
    Ok(out)
}

/// The key of `virtual_server IP [PORT]` or `virtual_server fwmark N` (the protocol set later).
fn header_key(s: &Stmt) -> Result<ServiceKey, E> {
    match s.args.as_slice() {
        [f, m] if f == "fwmark" => {
            let mark = super::values::number(s.line, "fwmark", m, 1, u64::from(u32::MAX))?;
            Ok(ServiceKey::mark(u32::try_from(mark).unwrap_or(u32::MAX)))
        }
        [g, _] if g == "group" => Err(E::unsupported(s.line, "virtual_server_group")),
        [ip] => Ok(ServiceKey { protocol: Protocol::Tcp, vip: vip(s, ip)?, vport: 0, fwmark: 0 }),
        [ip, p] => {
            Ok(ServiceKey { protocol: Protocol::Tcp, vip: vip(s, ip)?, vport: port(s.line, "port", p, 0)?, fwmark: 0 })
        }
        _ => Err(E::invalid(s.line, "virtual_server takes an address and a port, fwmark N, or group NAME")),
    }
}

fn vip(s: &Stmt, v: &str) -> Result<Ipv4Addr, E> {
    let a = ipv4(s.line, "virtual_server address", v)?;
    limits::check_unicast(AddrRole::Virtual, a).map_err(|e| E::invalid(s.line, e.to_string()))?;
    Ok(a)
}

/// `lb_kind`/`lvs_method`: NAT, DR or TUN (fnat's FULLNAT has no keepalived name).
fn method(s: &Stmt) -> Result<(FwdMethod, String), E> {
    s.no_block()?;
    let (v, rest) = s.args.split_first().ok_or_else(|| E::invalid(s.line, format!("{} needs a value", s.keyword)))?;
    let m = match v.to_ascii_uppercase().as_str() {
        "NAT" => FwdMethod::Nat,
        "DR" => FwdMethod::Dr,
        "TUN" if !rest.is_empty() => {
            return Err(E::unsupported(s.line, format!("{} TUN with a tunnel type", s.keyword)));
        }
        "TUN" => FwdMethod::Tun,
        "FNAT" | "FULLNAT" => return Err(E::unsupported(s.line, format!("{} {v}", s.keyword))),
        _ => return Err(E::invalid(s.line, format!("{} '{v}' is not NAT, DR or TUN", s.keyword))),
    };
    if !rest.is_empty() {
        return Err(E::invalid(s.line, format!("{} takes one value, not {}", s.keyword, s.args.len())));
    }
    Ok((m, v.to_ascii_uppercase()))
}

/// One `virtual_server` block.
fn virtual_server(s: &Stmt) -> Result<Service, E> {
    let mut key = header_key(s)?;
    let header = format!("virtual_server {}", s.args.join(" "));
    let mut scheduler: Option<SchedKind> = None;
    let mut flags: Vec<(usize, String)> = Vec::new();
    let mut method_: Option<(FwdMethod, String)> = None;
    let mut persistent = None;
    let mut netmask: Option<(usize, Ipv4Addr)> = None;
    let mut timing = Timing::default();
    let mut virtualhost = None;
    let mut inhibit = None;
    let mut quorum = Quorum::default();
    let mut raw_servers = Vec::new();
    for st in s.body() {
        shared_refusals(st)?;
        let k = st.keyword.as_str();
        if matches!(k, "sorry_server" | "quorum" | "hysteresis" | "quorum_up" | "quorum_down") {
            quorum.line.get_or_insert(st.line);
        }
        match k {
            "lb_algo" | "lvs_sched" => {
                let v = st.one()?;
                let kind = v.parse::<SchedKind>().map_err(|_| match v {
                    "twos" => E::unsupported(st.line, format!("{k} twos")),
                    _ => E::invalid(
                        st.line,
                        format!(
                            "{k} '{v}' is not a scheduler (rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)"
                        ),
                    ),
                })?;
                scheduler = Some(kind);
            }
            "flag-1" | "flag-2" | "flag-3" | "sh-port" | "sh-fallback" | "mh-port" | "mh-fallback" => {
                if st.flag()? {
                    flags.push((st.line, k.to_owned()));
                }
            }
            "lb_kind" | "lvs_method" => method_ = Some(method(st)?),
            "protocol" => {
                let v = st.one()?;
                let protocol = match v.to_ascii_uppercase().as_str() {
                    "TCP" => Protocol::Tcp,
                    "UDP" => Protocol::Udp,
                    "SCTP" => return Err(E::unsupported(st.line, "protocol SCTP")),
                    _ => return Err(E::invalid(st.line, format!("protocol '{v}' is not TCP or UDP"))),
                };
                // A fwmark service is its mark alone: its protocol is its [[fwmark]] rules' business.
                if !key.is_mark() {
                    key.protocol = protocol;
                }
            }
            "persistence_timeout" => {
                let secs = match st.maybe_one()? {
                    None => Persistence::DEFAULT_TIMEOUT_SECS,
                    Some(_) => st.u32_in(1, MAX_TIMEOUT_SECS)?,
                };
                persistent = Some(secs);
            }
            "persistence_granularity" => {
                let v = st.one()?;
                let mask = v.parse::<Ipv4Addr>().ok().filter(|m| mask_prefix(*m).is_some()).ok_or_else(|| {
                    E::invalid(st.line, format!("persistence_granularity '{v}' is not a netmask like 255.255.255.0"))
                })?;
                netmask = Some((st.line, mask));
            }
            "delay_loop" | "connect_timeout" | "retry" | "delay_before_retry" => {
                timing.read(st)?;
            }
            "virtualhost" => virtualhost = Some(st.host()?),
            "inhibit_on_failure" => inhibit = Some(st.flag()?),
            "sorry_server" => {
                quorum.sorry_server = Some(sorry_server(st, key)?);
            }
            "quorum" => {
                quorum.quorum = Some(st.u32_in(1, u32::MAX)?);
            }
            "hysteresis" => {
                quorum.hysteresis = Some(st.u32_in(0, u32::MAX)?);
            }
            "quorum_up" => {
                quorum.quorum_up = Some(st.command("a user")?);
            }
            "quorum_down" => {
                quorum.quorum_down = Some(st.command("a user")?);
            }
            "ip_family" => match st.one()? {
                "inet" => {}
                "inet6" => return Err(E::unsupported(st.line, "ip_family inet6")),
                v => return Err(E::invalid(st.line, format!("ip_family '{v}' is not inet or inet6"))),
            },
            "real_server" => raw_servers.push(real_server(st)?),
            "alpha"
            | "omega"
            | "ha_suspend"
            | "ops"
            | "persistence_engine"
            | "sorry_server_inhibit"
            | "sorry_server_lvs_method"
            | "smtp_alert"
            | "snmp_name"
            | "warmup" => {
                return Err(E::unsupported(st.line, k));
            }
            _ => {
                return Err(E::UnknownKeyword {
                    line: st.line,
                    keyword: st.keyword.clone(),
                    block: "virtual_server".into(),
                });
            }
        }
    }
    // The service as fnatd's control state checks it.
    if key.vport == 0 && !key.is_mark() && persistent.is_none() {
        return Err(E::invalid(s.line, format!("{header} (every port) needs persistence_timeout")));
    }
    if let Some((line, _)) = netmask
        && persistent.is_none()
    {
        return Err(E::invalid(line, "persistence_granularity needs persistence_timeout"));
    }
    let mut sflags = SchedFlags::default();
    for (line, f) in &flags {
        let on = scheduler.unwrap_or_else(|| DEFAULT_SCHEDULER.parse().unwrap_or(SchedKind::Wlc));
        add_sched_flag(&mut sflags, on, f).map_err(|_| {
            E::invalid(*line, format!("{f} is a flag of the {} scheduler, not of {on}", flag_owner(f).unwrap_or("")))
        })?;
    }
    let vs = VsDefaults {
        key,
        method: method_.unwrap_or((FwdMethod::Nat, "NAT".into())),
        timing,
        virtualhost,
        inhibit: inhibit.unwrap_or(false),
    };
    let (real_servers, checks) = resolve(&vs, raw_servers, quorum)?;
    Ok(Service {
        line: s.line,
        header,
        key,
        scheduler,
        flags: flags.into_iter().map(|(_, f)| f).collect(),
        persistent,
        netmask: netmask.map(|(_, m)| m),
        real_servers,
        checks,
    })
}

/// `sorry_server IP [PORT]` (the port defaults to the service's).
fn sorry_server(s: &Stmt, key: ServiceKey) -> Result<SocketAddrV4, E> {
    s.no_block()?;
    let (ip, p) = match s.args.as_slice() {
        [ip] => (ip, key.vport),
        [ip, p] => (ip, port(s.line, "sorry_server port", p, 0)?),
        _ => return Err(E::invalid(s.line, "sorry_server takes an address and a port")),
    };
    let a = ipv4(s.line, "sorry_server address", ip)?;
    limits::check_unicast(AddrRole::RealServer, a).map_err(|e| E::invalid(s.line, e.to_string()))?;
    Ok(SocketAddrV4::new(a, p))
}

/// One `real_server IP [PORT] { ... }` block.
fn real_server(s: &Stmt) -> Result<RawRealServer, E> {
    let (ip, p) = match s.args.as_slice() {
        [ip] => (ip, None),
        [ip, p] => (ip, Some(port(s.line, "real_server port", p, 0)?).filter(|&p| p != 0)),
        _ => return Err(E::invalid(s.line, "real_server takes an address and a port")),
    };
    let addr = ipv4(s.line, "real_server address", ip)?;
    limits::check_unicast(AddrRole::RealServer, addr).map_err(|e| E::invalid(s.line, e.to_string()))?;
    let mut rs = RawRealServer {
        line: s.line,
        addr,
        port: p,
        weight: 1,
        method: None,
        upper: 0,
        lower: 0,
        inhibit: None,
        notify_up: None,
        notify_down: None,
        timing: Timing::default(),
        virtualhost: None,
        checker: None,
    };
    for st in s.body() {
        shared_refusals(st)?;
        if let Some(c) = checker::read(st)? {
            if let Some(first) = &rs.checker {
                return Err(E::unsupported(
                    st.line,
                    format!("a second checker for one real server ({} on line {})", first.name, first.line),
                ));
            }
            rs.checker = Some(c);
            continue;
        }
        let k = st.keyword.as_str();
        match k {
            "weight" => rs.weight = st.u32_in(0, MAX_WEIGHT)?,
            "lb_kind" | "lvs_method" => rs.method = Some(method(st)?),
            "uthreshold" => rs.upper = st.u32_in(0, MAX_THRESHOLD)?,
            "lthreshold" => rs.lower = st.u32_in(0, MAX_THRESHOLD)?,
            "inhibit_on_failure" => rs.inhibit = Some(st.flag()?),
            "notify_up" => rs.notify_up = Some((st.line, st.command("a user")?)),
            "notify_down" => rs.notify_down = Some((st.line, st.command("a user")?)),
            "virtualhost" => rs.virtualhost = Some(st.host()?),
            "delay_loop" | "connect_timeout" | "retry" | "delay_before_retry" => {
                rs.timing.read(st)?;
            }
            "alpha" | "smtp_alert" | "snmp_name" | "warmup" => return Err(E::unsupported(st.line, k)),
            _ => {
                return Err(E::UnknownKeyword {
                    line: st.line,
                    keyword: st.keyword.clone(),
                    block: "real_server".into(),
                });
            }
        }
    }
    limits::check_thresholds(rs.upper, rs.lower).map_err(|e| E::invalid(s.line, e.to_string()))?;
    Ok(rs)
}

/// A virtual server's settings its real servers take as their defaults.
struct VsDefaults {
    key: ServiceKey,
    method: (FwdMethod, String),
    timing: Timing,
    virtualhost: Option<String>,
    inhibit: bool,
}

/// One real server's port in fnatd, and the port keepalived checks it on without `connect_port`.
fn ports(vs: &VsDefaults, rs: &RawRealServer, method: FwdMethod, kind: &str) -> Result<(u16, Option<u16>), E> {
    let key = vs.key;
    let keeps_port = matches!(method, FwdMethod::Dr | FwdMethod::Tun);
    if key.is_mark() || key.vport == 0 {
        // fnatd's real server keeps the packet's port, except a NAT one of a fwmark service.
        return match (key.is_mark(), keeps_port, rs.port) {
            (true, false, p) => Ok((p.unwrap_or(0), p)),
            (_, true, p) => Ok((0, p)),
            (false, false, None) => Ok((0, None)),
            (false, false, Some(p)) => Err(E::invalid(
                rs.line,
                format!(
                    "real_server port {p} in a virtual_server of every port with lb_kind NAT: \
                     fnatd keeps each connection's port (leave the port out)"
                ),
            )),
        };
    }
    let p = rs.port.unwrap_or(key.vport);
    if keeps_port && p != key.vport {
        return Err(E::invalid(
            rs.line,
            format!("lb_kind {kind} with a port mapping: DR and TUN real servers keep the service's port"),
        ));
    }
    Ok((p, Some(p)))
}

/// A real server's check and notify scripts, before they become `[[check]]` tables.
struct Checked {
    dest: SocketAddrV4,
    check: Option<Check>,
    notify_up: Option<String>,
    notify_down: Option<String>,
}

/// The real servers and `[[check]]` tables of a virtual server.
fn resolve(vs: &VsDefaults, raw: Vec<RawRealServer>, quorum: Quorum) -> Result<(Vec<RealServer>, Vec<CheckTable>), E> {
    let mut servers: Vec<RealServer> = Vec::with_capacity(raw.len());
    let mut seen: HashMap<SocketAddrV4, usize> = HashMap::new();
    let mut checked: Vec<Checked> = Vec::new();
    for rs in raw {
        let (method, kind) = rs.method.as_ref().unwrap_or(&vs.method);
        let (port, base_port) = ports(vs, &rs, *method, kind)?;
        let dest = SocketAddrV4::new(rs.addr, port);
        if let Some(first) = seen.insert(dest, rs.line) {
            let problem = match rs.port {
                Some(p) if p != port => format!(
                    "real_server {} {p} is the same real server in fnatd as the one on line {first}: \
                     {dest}, the connection keeping its port",
                    rs.addr
                ),
                _ => format!("real_server {dest} is listed twice (first on line {first})"),
            };
            return Err(E::invalid(rs.line, problem));
        }
        limits::check_dest(&vs.key, rs.addr, port, rs.weight, *method)
            .map_err(|e| E::invalid(rs.line, e.to_string()))?;
        let host = rs.virtualhost.as_deref().or(vs.virtualhost.as_deref());
        let inhibit = rs.inhibit.unwrap_or(vs.inhibit);
        let check = match &rs.checker {
            Some(c) => Some(c.resolve(rs.timing.or(vs.timing), host, inhibit, base_port, port)?),
            None => {
                if let Some((line, _)) = rs.notify_up.as_ref().or(rs.notify_down.as_ref()) {
                    let which = if rs.notify_up.is_some() { "notify_up" } else { "notify_down" };
                    return Err(E::unsupported(*line, format!("{which} on a real server without a checker")));
                }
                None
            }
        };
        checked.push(Checked {
            dest,
            check,
            notify_up: rs.notify_up.map(|n| n.1),
            notify_down: rs.notify_down.map(|n| n.1),
        });
        servers.push(RealServer {
            addr: rs.addr,
            port,
            weight: rs.weight,
            forward: *method,
            upper: rs.upper,
            lower: rs.lower,
        });
    }
    let notify = checked.iter().any(|c| c.notify_up.is_some() || c.notify_down.is_some());
    let first = checked.first().and_then(|c| c.check.as_ref());
    let shared = match first {
        Some(first) if !notify && checked.iter().all(|c| c.check.as_ref() == Some(first)) => Some(first.clone()),
        _ => None,
    };
    if let Some(check) = shared {
        let table = CheckTable { real_server: None, check, quorum, notify_up: None, notify_down: None };
        return Ok((servers, vec![table]));
    }
    if let Some(line) = quorum.line {
        let why = if notify {
            "sorry_server/quorum with notify_up/notify_down on a real server"
        } else if checked.iter().all(|c| c.check.is_none()) {
            "sorry_server/quorum without a checker"
        } else {
            "sorry_server/quorum with different checkers per real server"
        };
        return Err(E::unsupported(line, why));
    }
    let tables = checked
        .into_iter()
        .filter_map(|c| {
            c.check.map(|check| CheckTable {
                real_server: Some(c.dest),
                check,
                quorum: Quorum::default(),
                notify_up: c.notify_up,
                notify_down: c.notify_down,
            })
        })
        .collect();
    Ok((servers, tables))
}
