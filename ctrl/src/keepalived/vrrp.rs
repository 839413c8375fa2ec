//! keepalived's `vrrp_instance` blocks as fnatd's `[[vrrp]]` tables ([`Instance`]), with what of
//! `global_defs` (`vrrp_version`, `vrrp_garp_*`, `vrrp_mcast_group4`) and of `garp_group` bears on
//! them; every value checked where it is written, as fnatd's configuration checks it, so that what
//! is written is accepted (but for the port names, which only fnatd's file knows).
//!
//! keepalived's interfaces are fnatd's ports: the converter knows no other mapping, so
//! `interface` and the `track_interface` names are written as port names, with a comment saying so.
//! keepalived tracks an instance's own interface (FAULT when it goes down) unless
//! `dont_track_primary`: fnatd's instance tracks only its `track_ports`, so the instance's port is
//! written first among them. Gratuitous ARPs: keepalived sends `garp_master_repeat` of them at once
//! and as many again `garp_master_delay` seconds later; fnatd sends `garp_repeat` of them, once,
//! `garp_interval_ms` apart, which is keepalived's `vrrp_garp_interval` (or a `garp_group`'s
//! `garp_interval`), "the delay between gratuitous ARP messages sent on an interface": written
//! when keepalived.conf sets it, else fnatd's default (1 s) spreads them, in the place of
//! keepalived's second set.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use super::KeepalivedError as E;
use super::lexer::Stmt;
use super::values::{ipv4, number, shared_refusals};

/// The longest name fnatd takes for an instance.
const MAX_NAME: usize = 32;

/// The multicast group of VRRP (RFC 5798), the one fnatd advertises to.
const VRRP_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// The most addresses an advertisement carries.
const MAX_ADDRESSES: usize = 255;

/// One `vrrp_instance`, converted.
#[derive(Debug)]
pub(super) struct Instance {
    /// The line of its `vrrp_instance`.
    pub line: usize,
    /// Its name in keepalived.conf.
    pub keepalived_name: String,
    /// Its name in fnatd: letters, digits, '_', '-' and '.', at most 32.
    pub name: String,
    /// `interface`, as the name of fnatd's port.
    pub port: String,
    /// `virtual_router_id`.
    pub vrid: u8,
    /// `priority` (keepalived's default 100).
    pub priority: u8,
    /// `advert_int` in centiseconds (keepalived's default 1 s).
    pub advert_interval_cs: u16,
    /// Not `nopreempt`.
    pub preempt: bool,
    /// `preempt_delay` in milliseconds.
    pub preempt_delay_ms: u64,
    /// `virtual_ipaddress`, then `virtual_ipaddress_excluded`, in the file's order.
    pub addresses: Vec<Ipv4Addr>,
    /// `unicast_peer`.
    pub unicast_peers: Vec<Ipv4Addr>,
    /// The instance's own port (unless `dont_track_primary`), then `track_interface`.
    pub track_ports: Vec<String>,
    /// `notify_master`.
    pub notify_master: Option<String>,
    /// `notify_backup`.
    pub notify_backup: Option<String>,
    /// `notify_fault`.
    pub notify_fault: Option<String>,
    /// `garp_master_repeat` (or `vrrp_garp_master_repeat`, default 5).
    pub garp_repeat: u32,
    /// `vrrp_garp_interval` or the `garp_group`'s `garp_interval`, in milliseconds, when set.
    pub garp_interval_ms: Option<u64>,
    /// What the output says about it in comments, in order.
    pub notes: Vec<String>,
}

/// What of `global_defs` and `garp_group` applies to every instance, each with its line.
#[derive(Debug, Default)]
struct Globals {
    /// `vrrp_version`.
    version: Option<(usize, u8)>,
    /// `vrrp_garp_master_repeat`.
    garp_repeat: Option<(usize, u32)>,
    /// `vrrp_garp_master_delay` (seconds).
    garp_delay: Option<(usize, u64)>,
    /// `vrrp_garp_interval` in milliseconds.
    garp_interval_ms: Option<(usize, u64)>,
    /// The `garp_interval` of the `garp_group`s, in milliseconds, by interface.
    group_interval_ms: HashMap<String, (usize, u64)>,
}

/// The instances of the top-level statements, in order. A `vrrp_sync_group` is refused; without a
/// `vrrp_instance`, `global_defs` and `garp_group` are not read.
pub(super) fn instances(stmts: &[Stmt]) -> Result<Vec<Instance>, E> {
    let any = stmts.iter().any(|s| s.keyword == "vrrp_instance");
    let globals = if any { globals(stmts) } else { Ok(Globals::default()) };
    let fallback = Globals::default();
    let read = read(stmts, globals.as_ref().unwrap_or(&fallback));
    match (globals, read) {
        (Ok(_), r) => r,
        (Err(g), Ok(_)) => Err(g),
        (Err(g), Err(r)) => Err(super::earliest(g, r)),
    }
}

/// The `vrrp_instance`s, each checked against the ones before it.
fn read(stmts: &[Stmt], g: &Globals) -> Result<Vec<Instance>, E> {
    let mut out: Vec<Instance> = Vec::new();
    for s in stmts {
        match s.keyword.as_str() {
            "vrrp_sync_group" => {
                return Err(E::unsupported(
                    s.line,
                    "vrrp_sync_group (fnatd's instances fail over each on its own: \
                     addresses that must move together go in one vrrp_instance)",
                ));
            }
            "vrrp_instance" => {
                let v = instance(s, g)?;
                if let Some(first) = out.iter().find(|o| o.keepalived_name == v.keepalived_name) {
                    return Err(E::invalid(
                        s.line,
                        format!("vrrp_instance {} is defined twice (first on line {})", v.keepalived_name, first.line),
                    ));
                }
                if let Some(first) = out.iter().find(|o| o.name == v.name) {
                    return Err(E::invalid(
                        s.line,
                        format!(
                            "vrrp_instance {} is named '{}' in fnatd, as is vrrp_instance {} on line {}",
                            v.keepalived_name, v.name, first.keepalived_name, first.line
                        ),
                    ));
                }
                if let Some(first) = out.iter().find(|o| o.port == v.port && o.vrid == v.vrid) {
                    return Err(E::invalid(
                        s.line,
                        format!(
                            "virtual_router_id {} on interface {} is also vrrp_instance {}'s (line {})",
                            v.vrid, v.port, first.keepalived_name, first.line
                        ),
                    ));
                }
                out.push(v);
            }
            _ => {}
        }
    }
    Ok(out)
}

/// `global_defs`' VRRP settings and the `garp_group`s.
fn globals(stmts: &[Stmt]) -> Result<Globals, E> {
    let mut g = Globals::default();
    for s in stmts {
        match s.keyword.as_str() {
            "global_defs" => {
                for st in s.body() {
                    global(st, &mut g)?;
                }
            }
            "garp_group" => garp_group(s, &mut g)?,
            _ => {}
        }
    }
    Ok(g)
}

/// One statement of `global_defs` (those that are not about VRRP are skipped).
fn global(st: &Stmt, g: &mut Globals) -> Result<(), E> {
    let k = st.keyword.as_str();
    if !k.starts_with("vrrp_") {
        return Ok(());
    }
    shared_refusals(st)?;
    match k {
        "vrrp_version" => g.version = Some((st.line, version(st)?)),
        "vrrp_garp_master_repeat" => g.garp_repeat = Some((st.line, st.u32_in(1, 100)?)),
        "vrrp_garp_master_delay" => g.garp_delay = Some((st.line, st.uint(0, u64::from(u32::MAX))?)),
        "vrrp_garp_interval" => g.garp_interval_ms = Some((st.line, garp_interval_ms(st)?)),
        "vrrp_garp_master_refresh" => no_refresh(st)?,
        "vrrp_mcast_group4" => {
            let v = st.one()?;
            if ipv4(st.line, k, v)? != VRRP_GROUP {
                return Err(E::unsupported(st.line, format!("vrrp_mcast_group4 other than {VRRP_GROUP}")));
            }
        }
        _ => {}
    }
    Ok(())
}

/// `garp_group { garp_interval S  interface X | interfaces { X ... } }` (`gna_interval` is IPv6's).
fn garp_group(s: &Stmt, g: &mut Globals) -> Result<(), E> {
    let mut interval = None;
    let mut ifaces: Vec<String> = Vec::new();
    for st in s.body() {
        shared_refusals(st)?;
        match st.keyword.as_str() {
            "garp_interval" => interval = Some(garp_interval_ms(st)?),
            "gna_interval" => {
                st.secs(0.0, f64::MAX)?;
            }
            "interface" => ifaces.push(st.one()?.to_owned()),
            "interfaces" => {
                for i in st.body() {
                    shared_refusals(i)?;
                    i.no_block()?;
                    ifaces.push(i.keyword.clone());
                    ifaces.extend(i.args.iter().cloned());
                }
            }
            _ => {
                return Err(E::UnknownKeyword {
                    line: st.line,
                    keyword: st.keyword.clone(),
                    block: "garp_group".into(),
                });
            }
        }
    }
    if let Some(ms) = interval {
        for i in ifaces {
            g.group_interval_ms.entry(i).or_insert((s.line, ms));
        }
    }
    Ok(())
}

/// A gratuitous ARP interval (keepalived's seconds, to the microsecond) in milliseconds, as fnatd
/// takes it: at most a minute.
fn garp_interval_ms(st: &Stmt) -> Result<u64, E> {
    seconds(st, 0.0, 60.0, 3, "fnatd takes 0 to 60 seconds")
}

/// `garp_master_refresh` or `vrrp_garp_master_refresh`: fnatd sends no gratuitous ARPs while
/// MASTER but on becoming it, keepalived's 0.
fn no_refresh(st: &Stmt) -> Result<(), E> {
    if st.uint(0, u64::from(u32::MAX))? == 0 {
        Ok(())
    } else {
        Err(E::unsupported(st.line, format!("{} (gratuitous ARPs while MASTER)", st.keyword)))
    }
}

/// `vrrp_version` or `version`: 2 or 3.
fn version(st: &Stmt) -> Result<u8, E> {
    match st.one()? {
        "2" => Ok(2),
        "3" => Ok(3),
        v => Err(E::invalid(st.line, format!("{} '{v}' is not 2 or 3", st.keyword))),
    }
}

/// A statement without values (a flag such as `nopreempt`).
fn bare(st: &Stmt) -> Result<(), E> {
    st.no_block()?;
    if st.args.is_empty() { Ok(()) } else { Err(E::invalid(st.line, format!("{} takes no value", st.keyword))) }
}

/// A whole number in `lo..=255`.
fn byte(st: &Stmt, lo: u8) -> Result<u8, E> {
    let n = st.uint(u64::from(lo), 255)?;
    u8::try_from(n).map_err(|_| E::invalid(st.line, format!("{} {n} is out of range", st.keyword)))
}

/// The value of `st`, seconds with a fraction (keepalived's `<TIMER>`) from `lo` to `hi` (`range`
/// says who takes them), in units of 10^-`digits` seconds, rounded to the nearest.
fn seconds(st: &Stmt, lo: f64, hi: f64, digits: usize, range: &str) -> Result<u64, E> {
    let v = st.one()?;
    // The form (digits and at most one '.') as every other timer.
    let secs = st.secs(0.0, f64::MAX)?;
    if !(lo..=hi).contains(&secs) {
        return Err(E::invalid(st.line, format!("{} {v} is out of range ({range})", st.keyword)));
    }
    units(v, digits).ok_or_else(|| E::invalid(st.line, format!("{} {v} is out of range ({range})", st.keyword)))
}

/// `v`, a decimal number (digits and at most one '.'), in units of 10^-`digits`, rounded half up;
/// `None` when it does not fit.
fn units(v: &str, digits: usize) -> Option<u64> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    let mut n: u64 = 0;
    for c in int.chars().chain(frac.chars().chain(std::iter::repeat('0')).take(digits)) {
        n = n.checked_mul(10)?.checked_add(u64::from(c.to_digit(10)?))?;
    }
    if frac.chars().nth(digits).is_some_and(|c| c >= '5') {
        n = n.checked_add(1)?;
    }
    Some(n)
}

/// fnatd's name for keepalived's `name`: every character but letters, digits, '_', '-' and '.'
/// made '_', at most 32 of them; `None` for an empty name.
pub(super) fn fnat_name(name: &str) -> Option<String> {
    let out: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') { c } else { '_' })
        .take(MAX_NAME)
        .collect();
    (!out.is_empty()).then_some(out)
}

/// The keywords of a `vrrp_instance` that fnatd has no counterpart for.
const UNSUPPORTED: &[&str] = &[
    "check_unicast_src",
    "garp_extra_if",
    "garp_extra_if_vmac",
    "garp_lower_prio_delay",
    "garp_lower_prio_repeat",
    "garp_master_refresh_repeat",
    "higher_prio_send_advert",
    "lower_prio_no_advert",
    "lvs_sync_daemon_interface",
    "native_ipv6",
    "no_accept",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify_priority_changes",
    "notify_stop",
    "old_unicast_checksum",
    "smtp_alert",
    "strict_mode",
    "track_bfd",
    "track_file",
    "track_process",
    "track_script",
    "track_src_ip",
    "unicast_ttl",
    "use_ipvlan",
    "use_vmac",
    "use_vmac_addr",
    "virtual_routes",
    "virtual_rules",
    "vmac_xmit_base",
];

/// The keywords of a `vrrp_instance` about keepalived's own workings, without effect on what fnatd
/// does: skipped.
const SKIPPED: &[&str] = &[
    // keepalived's default (accept mode): a MASTER that does not own the addresses takes the
    // packets sent to them, as fnatd's does.
    "accept",
    // "not implemented yet" in keepalived.
    "debug",
    // Its socket's buffer, its link polling, an optimisation of its checks.
    "kernel_rx_buf_size",
    "linkbeat_use_polling",
    "skip_check_adv_addr",
    // A flag of the kernel's addresses, which fnatd does not configure.
    "promote_secondaries",
];

/// A `vrrp_instance` being read.
#[derive(Default)]
struct Reading {
    port: Option<String>,
    vrid: Option<u8>,
    priority: Option<u8>,
    advert_interval_cs: Option<u16>,
    preempt: Option<bool>,
    preempt_delay_ms: u64,
    /// The addresses with their lines; whether a `virtual_ipaddress_excluded` was read.
    addresses: Vec<(usize, Ipv4Addr)>,
    excluded: bool,
    peers: Vec<(usize, Ipv4Addr)>,
    tracked: Vec<String>,
    track_primary: bool,
    notify_master: Option<String>,
    notify_backup: Option<String>,
    notify_fault: Option<String>,
    garp_repeat: Option<u32>,
    garp_delay: Option<(usize, u64)>,
    version: Option<(usize, u8)>,
    state: Option<(usize, String)>,
    notes: Vec<String>,
}

/// One `vrrp_instance NAME { ... }`.
fn instance(s: &Stmt, g: &Globals) -> Result<Instance, E> {
    let [keepalived_name] = s.args.as_slice() else {
        return Err(E::invalid(s.line, "vrrp_instance takes a name"));
    };
    let name = fnat_name(keepalived_name).ok_or_else(|| E::invalid(s.line, "vrrp_instance takes a name"))?;
    if s.block.is_none() {
        return Err(E::invalid(s.line, format!("vrrp_instance {keepalived_name} needs a block")));
    }
    let mut r = Reading { track_primary: true, ..Reading::default() };
    for st in s.body() {
        statement(st, &mut r)?;
    }
    let Some(port) = r.port.clone() else {
        return Err(E::unsupported(
            s.line,
            format!("vrrp_instance {keepalived_name} without interface (fnatd's instance advertises on one port)"),
        ));
    };
    let Some(vrid) = r.vrid else {
        return Err(E::invalid(s.line, format!("vrrp_instance {keepalived_name} needs virtual_router_id")));
    };
    if r.addresses.is_empty() {
        return Err(E::invalid(
            s.line,
            format!(
                "vrrp_instance {keepalived_name} needs an address in virtual_ipaddress \
                 (fnatd's instance has at least one)"
            ),
        ));
    }
    let priority = r.priority.unwrap_or(100);
    let mut notes = Vec::new();
    if name != *keepalived_name {
        notes.push(format!("fnatd names it '{name}' (letters, digits, '_', '-' and '.', at most {MAX_NAME} of them)"));
    }
    notes.push(
        "port and track_ports are keepalived's interface names: each must name one of fnatd's [[port]] \
         tables (port: one with [port.kernel])"
            .to_owned(),
    );
    if let Some((line, state)) = &r.state {
        let owner = if priority == 255 { "; priority 255 is the address owner's, MASTER at once" } else { "" };
        notes.push(format!(
            "state {state} (line {line}) is not used: fnatd elects by priority, as keepalived does after startup{owner}"
        ));
    }
    match r.version.or(g.version) {
        Some((_, 3)) => {}
        Some((line, v)) => {
            let which = if r.version.is_some() { "version" } else { "global_defs' vrrp_version" };
            notes.push(format!(
                "{which} {v} (line {line}): fnatd speaks VRRPv3 only, so keepalived peers need vrrp_version 3"
            ));
        }
        None => notes.push(
            "fnatd speaks VRRPv3 only: keepalived peers need vrrp_version 3 (keepalived's default is 2)".to_owned(),
        ),
    }
    notes.append(&mut r.notes);
    let garp_repeat = r.garp_repeat.or(g.garp_repeat.map(|(_, n)| n)).unwrap_or(5);
    let garp_delay = r.garp_delay.or(g.garp_delay);
    if let Some((line, secs)) = garp_delay.filter(|&(_, d)| d != 0) {
        notes.push(format!(
            "garp_master_delay {secs} (line {line}): fnatd sends no second set of gratuitous ARPs; \
             its garp_repeat of them go garp_interval_ms apart"
        ));
    }
    let garp_interval_ms = match (g.group_interval_ms.get(&port), g.garp_interval_ms) {
        (Some(&(line, ms)), _) => {
            notes.push(format!("garp_interval_ms: the garp_interval of the garp_group on line {line}"));
            Some(ms)
        }
        (None, Some((line, ms))) => {
            notes.push(format!("garp_interval_ms: global_defs' vrrp_garp_interval (line {line})"));
            Some(ms)
        }
        (None, None) => None,
    };
    let mut track_ports: Vec<String> = Vec::new();
    for p in r.track_primary.then_some(&port).into_iter().chain(&r.tracked) {
        if !track_ports.contains(p) {
            track_ports.push(p.clone());
        }
    }
    Ok(Instance {
        line: s.line,
        keepalived_name: keepalived_name.clone(),
        name,
        port,
        vrid,
        priority,
        advert_interval_cs: r.advert_interval_cs.unwrap_or(100),
        preempt: r.preempt.unwrap_or(true),
        preempt_delay_ms: r.preempt_delay_ms,
        addresses: r.addresses.into_iter().map(|(_, a)| a).collect(),
        unicast_peers: r.peers.into_iter().map(|(_, a)| a).collect(),
        track_ports,
        notify_master: r.notify_master,
        notify_backup: r.notify_backup,
        notify_fault: r.notify_fault,
        garp_repeat,
        garp_interval_ms,
        notes,
    })
}

/// One statement of a `vrrp_instance`.
fn statement(st: &Stmt, r: &mut Reading) -> Result<(), E> {
    shared_refusals(st)?;
    let k = st.keyword.as_str();
    match k {
        "interface" => r.port = Some(st.one()?.to_owned()),
        "virtual_router_id" => r.vrid = Some(byte(st, 1)?),
        "priority" => r.priority = Some(byte(st, 1)?),
        "advert_int" => {
            let cs = seconds(st, 0.01, 40.95, 2, "fnatd takes 0.01 to 40.95 seconds")?;
            r.advert_interval_cs = Some(u16::try_from(cs).unwrap_or(4095).clamp(1, 4095));
        }
        "state" => match st.one()? {
            v @ ("MASTER" | "BACKUP") => r.state = Some((st.line, v.to_owned())),
            v => return Err(E::invalid(st.line, format!("state '{v}' is not MASTER or BACKUP"))),
        },
        "nopreempt" => {
            bare(st)?;
            r.preempt = Some(false);
        }
        "preempt" => {
            bare(st)?;
            r.preempt = Some(true);
        }
        "preempt_delay" => r.preempt_delay_ms = seconds(st, 0.0, 1000.0, 3, "keepalived takes 0 to 1000 seconds")?,
        "virtual_ipaddress" | "virtual_ipaddress_excluded" => {
            if k == "virtual_ipaddress_excluded" && !r.excluded {
                r.excluded = true;
                r.notes.push(format!(
                    "virtual_ipaddress_excluded (line {}): fnatd's advertisements carry these addresses too",
                    st.line
                ));
            }
            addresses(st, &mut r.addresses)?;
        }
        "unicast_peer" => peers(st, &mut r.peers)?,
        "unicast_src_ip" | "mcast_src_ip" => {
            let v = st.one()?;
            ipv4(st.line, k, v)?;
            r.notes.push(format!("{k} {v} (line {}): fnatd advertises from the port's first address", st.line));
        }
        "track_interface" => track(st, r)?,
        "dont_track_primary" => {
            bare(st)?;
            r.track_primary = false;
        }
        "notify_master" => r.notify_master = Some(st.command("a user")?),
        "notify_backup" => r.notify_backup = Some(st.command("a user")?),
        "notify_fault" => r.notify_fault = Some(st.command("a user")?),
        "notify" => {
            return Err(E::unsupported(
                st.line,
                "notify (one script for every state, with keepalived's arguments: \
                 use notify_master, notify_backup and notify_fault)",
            ));
        }
        "garp_master_repeat" => r.garp_repeat = Some(st.u32_in(1, 100)?),
        "garp_master_delay" => r.garp_delay = Some((st.line, st.uint(0, u64::from(u32::MAX))?)),
        "garp_master_refresh" => no_refresh(st)?,
        "version" => r.version = Some((st.line, version(st)?)),
        "authentication" => r.notes.push(format!(
            "authentication (line {}) is skipped: VRRPv3 has none (RFC 5798), and keepalived ignores it \
             with version 3",
            st.line
        )),
        _ if SKIPPED.contains(&k) => {}
        _ if UNSUPPORTED.contains(&k) => return Err(E::unsupported(st.line, k)),
        _ => {
            return Err(E::UnknownKeyword {
                line: st.line,
                keyword: st.keyword.clone(),
                block: "vrrp_instance".into(),
            });
        }
    }
    Ok(())
}

/// The options of an address in `virtual_ipaddress` that take a value; they are the kernel's
/// business (fnatd answers for the address on the port its subnet is on).
const ADDRESS_OPTIONS: &[&str] = &["brd", "dev", "scope", "label", "peer", "preferred_lft", "track_group"];

/// The options that are flags.
const ADDRESS_FLAGS: &[&str] = &["home", "-nodad", "mngtmpaddr", "noprefixroute", "autojoin", "no_track"];

/// `virtual_ipaddress { A[/LEN] [dev X] [label L] ... }`: the addresses, appended to `out`.
fn addresses(st: &Stmt, out: &mut Vec<(usize, Ipv4Addr)>) -> Result<(), E> {
    let Some(block) = &st.block else {
        return Err(E::invalid(st.line, format!("{} needs a block of addresses", st.keyword)));
    };
    for a in block {
        shared_refusals(a)?;
        a.no_block()?;
        let (ip, len) = a.keyword.split_once('/').map_or((a.keyword.as_str(), None), |(ip, l)| (ip, Some(l)));
        let addr = ipv4(a.line, &st.keyword, ip)?;
        if let Some(l) = len {
            number(a.line, "the prefix length", l, 0, 32)?;
        }
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() || addr.is_loopback() {
            return Err(E::invalid(a.line, format!("{addr} in {} is not a unicast address", st.keyword)));
        }
        let mut opts = a.args.iter();
        while let Some(o) = opts.next() {
            let o = o.as_str();
            if o == "use_vmac" {
                return Err(E::unsupported(a.line, "use_vmac"));
            }
            if ADDRESS_OPTIONS.contains(&o) {
                if opts.next().is_none() {
                    return Err(E::invalid(a.line, format!("{o} needs a value")));
                }
            } else if !ADDRESS_FLAGS.contains(&o) {
                return Err(E::invalid(a.line, format!("'{o}' is not an option of an address in {}", st.keyword)));
            }
        }
        if let Some((first, _)) = out.iter().find(|(_, b)| *b == addr) {
            return Err(E::invalid(a.line, format!("{addr} is listed twice (first on line {first})")));
        }
        if out.len() == MAX_ADDRESSES {
            return Err(E::invalid(a.line, format!("more than {MAX_ADDRESSES} addresses (an advertisement's most)")));
        }
        out.push((a.line, addr));
    }
    Ok(())
}

/// `unicast_peer { A ... }`: the peers, appended to `out`.
fn peers(st: &Stmt, out: &mut Vec<(usize, Ipv4Addr)>) -> Result<(), E> {
    let Some(block) = &st.block else {
        return Err(E::invalid(st.line, "unicast_peer needs a block of addresses"));
    };
    for p in block {
        shared_refusals(p)?;
        p.no_block()?;
        let addr = ipv4(p.line, "unicast_peer", &p.keyword)?;
        if let Some(o) = p.args.first() {
            let what = if matches!(o.as_str(), "min_ttl" | "max_ttl") {
                "unicast_peer with min_ttl or max_ttl".to_owned()
            } else {
                format!("unicast_peer with '{o}'")
            };
            return Err(E::unsupported(p.line, what));
        }
        if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() || addr.is_loopback() {
            return Err(E::invalid(p.line, format!("unicast_peer {addr} is not a unicast address")));
        }
        if let Some((first, _)) = out.iter().find(|(_, b)| *b == addr) {
            return Err(E::invalid(p.line, format!("unicast_peer {addr} is listed twice (first on line {first})")));
        }
        out.push((p.line, addr));
    }
    Ok(())
}

/// `track_interface { X [weight N [reverse|noreverse]] ... }`.
fn track(st: &Stmt, r: &mut Reading) -> Result<(), E> {
    let Some(block) = &st.block else {
        return Err(E::invalid(st.line, "track_interface needs a block of interfaces"));
    };
    for t in block {
        shared_refusals(t)?;
        t.no_block()?;
        let iface = t.keyword.clone();
        match t.args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
            [] | ["weight", "0"] | ["weight", "0", "noreverse"] => {}
            ["weight", w] | ["weight", w, "noreverse"] => {
                let n = weight(t.line, w)?;
                if n != 0 {
                    r.notes.push(format!(
                        "track_interface {iface} weight {w} (line {}): fnatd puts the instance in FAULT when \
                         {iface} is down; it does not change the priority",
                        t.line
                    ));
                }
            }
            ["weight", w, "reverse"] => {
                weight(t.line, w)?;
                return Err(E::unsupported(t.line, "track_interface with reverse"));
            }
            _ => {
                return Err(E::invalid(
                    t.line,
                    format!("track_interface {iface} takes weight N [reverse], not '{}'", t.args.join(" ")),
                ));
            }
        }
        r.tracked.push(iface);
    }
    Ok(())
}

/// A `track_interface` weight: -253..=253.
fn weight(line: usize, w: &str) -> Result<i32, E> {
    let (neg, digits) = w.strip_prefix('-').map_or((false, w), |d| (true, d));
    let n = number(line, "weight", digits, 0, 253)
        .map_err(|_| E::invalid(line, format!("weight '{w}' is not a whole number from -253 to 253")))?;
    let n = i32::try_from(n).unwrap_or(0);
    Ok(if neg { -n } else { n })
}
