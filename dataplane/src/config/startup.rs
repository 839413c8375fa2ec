//! The configured services and `[[fwmark]]` rules as the commands fnatctl would send: `-A`,
//! `--add-laddr`/`--del-laddr` for a service's own `local_addrs`, `-a` per real server,
//! `--add-mark` per rule, each with the field it came from. Only the file's own grammar is checked
//! here (names, types, what goes with what); the values are checked once, by the control state
//! that applies the commands (`ctrl::limits`), and a refused one is named here by its field.

use std::net::Ipv4Addr;

use ctrl::limits::Violation;
use ctrl::msg::{Command, CtrlError, DestSpec, ServiceSpec};
use ctrl::vocab::mark::{self, MarkRule};
use ctrl::vocab::sched_flags::{DEFAULT_SCHEDULER, FLAG_NAMES, SchedFlagError, add_sched_flag, flag_owner};
use ctrl::vocab::{FwdMethod, Persistence, Protocol, SchedFlags, SchedKind, ServiceKey, mask_prefix};

use super::{ConfigError, Validator, raw};

/// A command of the configured services or mark rules, with the field it came from
/// (`service[0]`, `service[0].real_server[1]`, `fwmark[2]`).
pub(super) struct Startup {
    pub(super) field: String,
    pub(super) command: Command,
}

/// The startup commands in the order they are applied: each service's real servers last to first.
/// `-a` puts a real server at the head of the list (IPVS's order), so the file's real servers are
/// then scheduled in the order the file lists them.
pub(super) fn apply_order(startup: &[Startup]) -> Vec<&Command> {
    let mut out: Vec<&Command> = Vec::with_capacity(startup.len());
    let mut run = 0;
    for s in startup {
        match (&s.command, out.last()) {
            (Command::AddDest { svc, .. }, Some(Command::AddDest { svc: prev, .. })) if svc == prev => {
                out.insert(out.len() - run - 1, &s.command);
                run += 1;
            }
            _ => {
                out.push(&s.command);
                run = 0;
            }
        }
    }
    out
}

impl Validator<'_> {
    /// The services as the commands fnatctl would send (`-A`, then `--add-laddr`/`--del-laddr`
    /// for a service's own `local_addrs`, then `-a` per real server), each with its field, in the
    /// file's order (applied in [`apply_order`]). Only
    /// the file's own grammar is checked here (names, types, what goes with what); the values are
    /// checked once, by the control state that applies the commands ([`ctrl::limits`]). A service
    /// without `scheduler` gets ipvsadm's default, wlc ([`DEFAULT_SCHEDULER`]).
    pub(super) fn services(
        &self,
        raw: Vec<raw::Service>,
        local_addrs: &[Ipv4Addr],
    ) -> Result<Vec<Startup>, ConfigError> {
        let mut out = Vec::new();
        for (i, s) in raw.into_iter().enumerate() {
            let f = format!("service[{i}]");
            let persistence = self.persistence(&f, s.persistent, s.netmask.as_deref())?;
            let key = match (s.fwmark, s.protocol.as_deref(), s.vip.as_deref(), s.port) {
                (Some(0), ..) => return Err(self.err(format_args!("{f}.fwmark"), "must be from 1 to 4294967295")),
                (Some(m), None, None, None) => ServiceKey::mark(m),
                (Some(_), ..) => {
                    return Err(self.err(&f, "a fwmark service has no protocol, vip or port: its [[fwmark]] rules say"));
                }
                (None, Some(p), Some(v), Some(port)) => self.addr_key(&f, p, v, port)?,
                (None, ..) => return Err(self.err(&f, "needs protocol, vip and port (or fwmark)")),
            };
            // Without a scheduler, ipvsadm's default.
            let scheduler: SchedKind = s
                .scheduler
                .as_deref()
                .unwrap_or(DEFAULT_SCHEDULER)
                .parse()
                .map_err(|e| self.err(format_args!("{f}.scheduler"), e))?;
            let flags = self.sched_flags(&f, scheduler, &s.scheduler_flags)?;
            let spec = ServiceSpec { key, scheduler, flags, persistence };
            out.push(Startup { field: f.clone(), command: Command::AddService(spec) });
            out.extend(self.service_laddrs(&f, key, s.local_addrs.as_deref(), local_addrs)?);
            for (j, r) in s.real_servers.iter().enumerate() {
                let rf = format!("{f}.real_server[{j}]");
                let addr = self.ip(format_args!("{rf}.address"), &r.address)?;
                let port = match r.port.map(u16::try_from) {
                    None => key.vport,
                    Some(Ok(p)) => p,
                    Some(Err(_)) => return Err(self.err(format_args!("{rf}.port"), "must be from 1 to 65535")),
                };
                // Out of u32's range is out of the thresholds' range too.
                let threshold = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
                let method = match r.forward.as_str() {
                    "fullnat" => FwdMethod::FullNat,
                    "nat" => FwdMethod::Nat,
                    "dr" => FwdMethod::Dr,
                    "tun" => FwdMethod::Tun,
                    other => {
                        return Err(self.err(
                            format_args!("{rf}.forward"),
                            format_args!("'{other}' is not fullnat, nat, dr or tun"),
                        ));
                    }
                };
                let dest = DestSpec {
                    addr,
                    port,
                    weight: r.weight,
                    method,
                    upper: threshold(r.upper_threshold),
                    lower: threshold(r.lower_threshold),
                };
                out.push(Startup { field: rf, command: Command::AddDest { svc: key, dest } });
            }
        }
        Ok(out)
    }

    /// The configuration error for a startup command the control state refused: the field of the
    /// command (`at`; `None` for the check of the whole transaction), with the field of the value
    /// the violation is about, and the problem in the file's words.
    pub(super) fn startup_error(&self, startup: &[Startup], at: Option<usize>, e: CtrlError) -> ConfigError {
        let field = |i: usize, sub: &str| {
            let item = startup.get(i).map_or("service", |s| s.field.as_str());
            if sub.is_empty() { item.to_owned() } else { format!("{item}.{sub}") }
        };
        match (at, e) {
            (None, CtrlError::Limit(v @ Violation::FullNatWithoutLocal(key))) => {
                // The service's first FULLNAT real server is the one that cannot work.
                let i = startup.iter().position(|s| {
                    matches!(s.command, Command::AddDest { svc, dest } if svc == key && dest.method == FwdMethod::FullNat)
                });
                self.err(field(i.unwrap_or(usize::MAX), v.field()), v.config_problem())
            }
            (Some(i), CtrlError::Limit(v)) => self.err(field(i, v.field()), v.config_problem()),
            (Some(i), CtrlError::ServiceExists(key)) => {
                self.err(field(i, ""), format_args!("service {key} is defined twice"))
            }
            (Some(i), CtrlError::DestExists { addr, port, .. }) => {
                self.err(field(i, ""), format_args!("real server {addr}:{port} is listed twice"))
            }
            (Some(i), CtrlError::MarkRuleExists(_)) => self.err(field(i, ""), "the same rule is listed twice"),
            (at, e) => self.err(field(at.unwrap_or(usize::MAX), ""), e),
        }
    }

    /// The key of a service of an address and port: `protocol` tcp or udp, `port` 1-65535 or 0
    /// (every port, with persistence: checked with the other values).
    pub(super) fn addr_key(&self, f: &str, protocol: &str, vip: &str, port: u32) -> Result<ServiceKey, ConfigError> {
        let protocol = match protocol {
            "tcp" => Protocol::Tcp,
            "udp" => Protocol::Udp,
            other => {
                return Err(self.err(format_args!("{f}.protocol"), format_args!("'{other}' is not tcp or udp")));
            }
        };
        let vip = self.ip(format_args!("{f}.vip"), vip)?;
        let vport = u16::try_from(port).map_err(|_| {
            self.err(format_args!("{f}.port"), "must be from 1 to 65535 (or 0, every port, with persistence)")
        })?;
        Ok(ServiceKey { protocol, vip, vport, fwmark: 0 })
    }

    /// The firewall-mark classifier's rules (`[[fwmark]]`, in order) as `--add-mark` commands:
    /// `destination` an address or a prefix without host bits, `protocol` tcp, udp or any, `ports`
    /// a list like `80,443`, `8000-8100`, or any; `mark` (> 0) checked with the other values.
    pub(super) fn marks(&self, raw: &[raw::Fwmark]) -> Result<Vec<Startup>, ConfigError> {
        let mut rules = Vec::with_capacity(raw.len());
        for (i, r) in raw.iter().enumerate() {
            let f = format!("fwmark[{i}]");
            let (dst, prefix) =
                mark::parse_dst(&r.destination).map_err(|e| self.err(format_args!("{f}.destination"), e))?;
            let proto = match r.protocol.as_str() {
                "tcp" => Some(Protocol::Tcp),
                "udp" => Some(Protocol::Udp),
                "any" => None,
                other => {
                    return Err(
                        self.err(format_args!("{f}.protocol"), format_args!("'{other}' is not tcp, udp or any"))
                    );
                }
            };
            let ports = mark::parse_ports(&r.ports).map_err(|e| self.err(format_args!("{f}.ports"), e))?;
            let rule = MarkRule { mark: r.mark, dst, prefix, proto, ports };
            rules.push(Startup { field: f, command: Command::AddMark(rule) });
        }
        Ok(rules)
    }

    /// A service's `persistent` (seconds, 1 to 31 days as ipvsadm's `-p`, or `true` for ipvsadm's
    /// default of 360) and `netmask` (a contiguous dotted mask, only with persistence).
    fn persistence(
        &self,
        f: &str,
        persistent: Option<raw::Persistent>,
        netmask: Option<&str>,
    ) -> Result<Option<Persistence>, ConfigError> {
        let p = match persistent {
            None | Some(raw::Persistent::On(false)) => None,
            Some(raw::Persistent::On(true)) => Some(Persistence::secs(Persistence::DEFAULT_TIMEOUT_SECS)),
            // Out of u32's range is out of persistence's range too (checked with the other values).
            Some(raw::Persistent::Secs(n)) => {
                Some(Persistence::secs(u32::try_from(n).ok().filter(|&n| n > 0).unwrap_or(u32::MAX)))
            }
        };
        let Some(mask) = netmask else {
            return Ok(p);
        };
        let Some(p) = p else {
            return Err(
                self.err(format_args!("{f}.netmask"), "is the granularity of persistence: set `persistent` too")
            );
        };
        let len = mask.parse::<Ipv4Addr>().ok().and_then(mask_prefix).ok_or_else(|| {
            self.err(format_args!("{f}.netmask"), format_args!("'{mask}' is not a netmask like 255.255.255.0"))
        })?;
        Ok(Some(p.with_netmask(len)))
    }

    /// A service's `scheduler_flags`: ipvsadm's `-b` names (`flag-1`, `sh-port`, ...), each checked
    /// against the service's scheduler as ipvsadm checks them.
    fn sched_flags(&self, f: &str, sched: SchedKind, names: &[String]) -> Result<SchedFlags, ConfigError> {
        let mut flags = SchedFlags::default();
        for (j, name) in names.iter().enumerate() {
            add_sched_flag(&mut flags, sched, name).map_err(|e| {
                let problem = match e {
                    SchedFlagError::Invalid(_) => {
                        format!("'{name}' is not a scheduler flag (one of {})", FLAG_NAMES.join(", "))
                    }
                    SchedFlagError::Incompatible(_) => format!(
                        "'{name}' is a flag of the {} scheduler, not of {sched}",
                        flag_owner(name).unwrap_or_default()
                    ),
                };
                self.err(format_args!("{f}.scheduler_flags[{j}]"), problem)
            })?;
        }
        Ok(flags)
    }

    /// A service's own local addresses (each one of `[local] addresses`, once) as the commands
    /// that give it them instead of all of `[local] addresses`: the first `--add-laddr` of a new
    /// service replaces its default ones; an empty list removes them.
    fn service_laddrs(
        &self,
        f: &str,
        svc: ServiceKey,
        own: Option<&[String]>,
        all: &[Ipv4Addr],
    ) -> Result<Vec<Startup>, ConfigError> {
        let Some(own) = own else {
            return Ok(Vec::new());
        };
        if own.is_empty() {
            let del = |&addr| Startup { field: format!("{f}.local_addrs"), command: Command::DelLaddr { svc, addr } };
            return Ok(all.iter().map(del).collect());
        }
        let mut out: Vec<Startup> = Vec::with_capacity(own.len());
        for (j, a) in own.iter().enumerate() {
            let field = format!("{f}.local_addrs[{j}]");
            let ip = self.ip(&field, a)?;
            if !all.contains(&ip) {
                return Err(self.err(&field, format_args!("{ip} is not one of [local] addresses")));
            }
            if out.iter().any(|s| matches!(s.command, Command::AddLaddr { addr, .. } if addr == ip)) {
                return Err(self.err(&field, format_args!("{ip} is listed twice")));
            }
            out.push(Startup { field, command: Command::AddLaddr { svc, addr: ip } });
        }
        Ok(out)
    }
}
