//! ipvsadm's save format (`ipvsadm-save -n`, `fnatctl -S`) and its restore driver (`fnatctl -R`).
//!
//! [`save`] prints the whole configuration as one command a line, in ipvsadm's order and format:
//! every service (sorted as ipvsadm sorts them: firewall mark, protocol, address, port) as
//! `-A -t|-u|-f service -s scheduler [-b flags] [-p timeout [-M netmask]]`, followed by its real
//! servers (sorted by address and port) as `-a service -r address:port -g|-m|-i|-b -w weight`.
//! With `--nosort` ([`Order::Kernel`]) both come in the kernel's order (real servers newest
//! first, so a restore reverses them, as with ipvsadm); fnatd's rules file uses
//! [`Order::Replay`], whose restore recreates every list exactly.
//! What plain ipvsadm files lack comes as extra lines that fnatctl's parser reads back:
//! `-b` for FULLNAT real servers, `-x upper -y lower` on real servers with thresholds (ipvsadm-save
//! drops them), then the local addresses (`--add-laddr service -z address`, each service's in the
//! order they are used) and the firewall-mark classifier's rules (`--add-mark -f mark --dst ...`,
//! in matching order). Addresses and ports are always numeric (as with `-n`): fnat does no lookups.
//!
//! [`restore_commands`] turns such text (or real `ipvsadm-save -n` output) into the commands of
//! one request, with a caller-supplied line parser (fnatctl's command-line parser), naming the
//! line of the first error. Like ipvsadm's `-R`, it adds to the current configuration: nothing is
//! cleared unless the text says `-C`.
//!
//! fnatd's rules file (`[control] rules`) holds this text (`dataplane::control::rules`).

use std::fmt::Write as _;
use std::net::Ipv4Addr;

use crate::msg::{Command, Listing, ServiceView};
use crate::vocab::mark::{MarkRule, format_ports};
use crate::vocab::sched_flags::sched_flag_names;
use crate::vocab::{FwdMethod, Protocol, ServiceKey};

/// A service as ipvsadm's rules name it: `-t 10.0.0.1:80`, `-u 10.0.0.1:53` or `-f 1`.
pub fn service_words(key: &ServiceKey) -> String {
    if key.is_mark() {
        return format!("-f {}", key.fwmark);
    }
    let switch = if key.protocol == Protocol::Tcp { "-t" } else { "-u" };
    format!("{switch} {}:{}", key.vip, key.vport)
}

/// The forwarding switch of a real server: ipvsadm's `-g`, `-m`, `-i`, and DPVS's `-b` for full NAT.
pub fn method_switch(method: FwdMethod) -> &'static str {
    match method {
        FwdMethod::Dr => "-g",
        FwdMethod::Nat => "-m",
        FwdMethod::Tun => "-i",
        FwdMethod::FullNat => "-b",
    }
}

fn netmask(prefix: u8) -> Ipv4Addr {
    Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(prefix.min(32))).unwrap_or(0))
}

/// The order services and real servers are shown or saved in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Order {
    /// ipvsadm's: services by firewall mark (0, no mark, first), protocol, address and port (its
    /// `ipvs_cmp_services`); real servers by address and port.
    Sorted,
    /// The kernel's (`--nosort`): services in creation order, real servers in IPVS's list order,
    /// the most recently added first.
    Kernel,
    /// The kernel's with each service's real servers reversed: the text that, restored (each `-a`
    /// at the head of the list), recreates the list exactly. fnatd's rules file is saved so.
    Replay,
}

/// The services of `listing` in `order`.
pub fn ordered(listing: &Listing, order: Order) -> Vec<ServiceView> {
    let mut services = listing.services.clone();
    match order {
        Order::Sorted => {
            services.sort_by_key(|s| {
                let k = s.spec.key;
                (k.fwmark, k.protocol as u8, u32::from(k.vip), k.vport)
            });
            for s in &mut services {
                s.dests.sort_by_key(|d| (u32::from(d.spec.addr), d.spec.port));
            }
        }
        Order::Kernel => {}
        Order::Replay => services.iter_mut().for_each(|s| s.dests.reverse()),
    }
    services
}

/// One classifier rule as the `--add-mark` line that recreates it.
pub fn mark_line(r: &MarkRule) -> String {
    let dst = if r.prefix == 32 { r.dst.to_string() } else { format!("{}/{}", r.dst, r.prefix) };
    let proto = match r.proto {
        Some(Protocol::Tcp) => "tcp",
        Some(Protocol::Udp) => "udp",
        None => "any",
    };
    format!("--add-mark -f {} --dst {dst} --proto {proto} --dports {}", r.mark, format_ports(&r.ports))
}

/// The whole configuration as `-S` prints it (see the module docs), in `order` (ipvsadm's
/// [`Order::Sorted`], or [`Order::Kernel`] for `-S --nosort`).
pub fn save(listing: &Listing, marks: &[MarkRule], order: Order) -> String {
    let services = ordered(listing, order);
    let mut out = String::new();
    for s in &services {
        let spec = &s.spec;
        let name = service_words(&spec.key);
        let _ = write!(out, "-A {name} -s {}", spec.scheduler.name());
        let flags = sched_flag_names(spec.scheduler, spec.flags);
        if !flags.is_empty() {
            let _ = write!(out, " -b {}", flags.join(","));
        }
        if let Some(p) = spec.persistence {
            let _ = write!(out, " -p {}", p.timeout_ms / 1000);
            if p.netmask < 32 {
                let _ = write!(out, " -M {}", netmask(p.netmask));
            }
        }
        out.push('\n');
        for d in &s.dests {
            let d = d.spec;
            let _ = write!(out, "-a {name} -r {}:{} {} -w {}", d.addr, d.port, method_switch(d.method), d.weight);
            if d.upper != 0 || d.lower != 0 {
                let _ = write!(out, " -x {} -y {}", d.upper, d.lower);
            }
            out.push('\n');
        }
    }
    for s in &services {
        for l in &s.laddrs {
            let _ = writeln!(out, "--add-laddr {} -z {l}", service_words(&s.spec.key));
        }
    }
    for r in marks {
        out.push_str(&mark_line(r));
        out.push('\n');
    }
    out
}

/// Why a restore was refused: the line (1-based) and the reason.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {reason}")]
pub struct RestoreError {
    /// The line, counted from 1.
    pub line: usize,
    /// Why.
    pub reason: String,
}

/// The commands of a saved configuration, in order: each non-blank line that is not a comment
/// (`#`) is split into words and given to `parse_line`, which returns the change it asks for.
/// The first line that does not parse stops it.
pub fn restore_commands<F>(text: &str, mut parse_line: F) -> Result<Vec<Command>, RestoreError>
where
    F: FnMut(&[String]) -> Result<Command, String>,
{
    let mut commands = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        let cmd = parse_line(&words).map_err(|reason| RestoreError { line: i + 1, reason })?;
        if cmd.is_query() {
            return Err(RestoreError { line: i + 1, reason: "not a change (a restore holds only changes)".into() });
        }
        commands.push(cmd);
    }
    Ok(commands)
}

/// The commands of a saved configuration, each line parsed as fnatctl's command line is (with port
/// names from `/etc/services`).
pub fn parse_rules(text: &str) -> Result<Vec<Command>, RestoreError> {
    let names = crate::cli::PortNames::system();
    restore_commands(text, |words| crate::cli::change(words, &names))
}
