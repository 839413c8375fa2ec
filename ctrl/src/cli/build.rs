//! The collected words checked together (which options the command allows, values parsed and
//! ranged) and turned into the action fnatctl runs.

use std::path::PathBuf;

use super::grammar::{Cmd, Opt};
use super::values::{address, persistence, real_server, service, timeout};
use super::words::Words;
use super::{Action, Columns, DEFAULT_CTL, ListFormat, Op, PortNames, UsageError, invalid};
use crate::limits::MAX_THRESHOLD;
use crate::msg::{Command, DestSpec, ServiceSpec, SyncRole};
use crate::vocab::{DEFAULT_SCHEDULER, FwdMethod, SchedFlags, SchedKind, parse_sched_flags};

/// Checks the collected words together and builds the action.
pub(super) fn build(w: Words, env_ctl: Option<&str>, names: &PortNames, no_args: bool) -> Result<Action, UsageError> {
    let cmd = match w.cmd {
        Some(c) => c,
        // Like ipvsadm, no argument at all lists the table; so does `--ctl PATH` alone.
        None if no_args || w.seen == [Opt::Ctl] => Cmd::List,
        None => return Err(UsageError::TryHelp("no command given".into())),
    };
    match cmd {
        Cmd::Help => return Ok(Action::Help),
        Cmd::Version => return Ok(Action::Version),
        _ => {}
    }
    // As ipvsadm: `--set` takes exactly three words, no other command any.
    let extra = if cmd == Cmd::Set {
        if w.args.len() < 3 {
            return Err(invalid("--set option requires 3 timeout values"));
        }
        w.args.get(3)
    } else {
        w.args.first()
    };
    if let Some(extra) = extra {
        return Err(invalid(format!("unexpected argument {extra}")));
    }
    for opt in Opt::ALL {
        match (opt.rule(cmd), w.seen.contains(&opt)) {
            ('+', false) => {
                return Err(invalid(format!(
                    "You need to supply the '{}' option for the '{}' command",
                    opt.name(),
                    cmd.name()
                )));
            }
            ('x', true) => {
                return Err(invalid(format!("Illegal '{}' option with the '{}' command", opt.name(), cmd.name())));
            }
            _ => {}
        }
    }
    let ctl = PathBuf::from(w.ctl.as_deref().or(env_ctl).unwrap_or(DEFAULT_CTL));
    if ctl.as_os_str().is_empty() {
        return Err(invalid("the control file path is empty (--ctl or FNAT_CTL)"));
    }
    let svc = w.service.as_ref().map(|(proto, text)| service(*proto, text, names)).transpose()?;
    let op = match cmd {
        Cmd::Add | Cmd::Edit => {
            let key = svc.ok_or_else(|| invalid("no service"))?;
            let persistence = persistence(w.persistent.as_ref(), w.netmask.as_deref())?;
            if key.vport == 0 && !key.is_mark() && persistence.is_none() {
                return Err(invalid("Zero port specified for non-persistent service"));
            }
            // As ipvsadm: wlc without -s, no flags without -b (an empty -b too); -E sets both anew.
            let scheduler = w
                .scheduler
                .as_deref()
                .unwrap_or(DEFAULT_SCHEDULER)
                .parse::<SchedKind>()
                .map_err(|e| invalid(e.to_string()))?;
            let flags = match w.sched_flags.as_deref() {
                None | Some("") => SchedFlags::default(),
                Some(list) => parse_sched_flags(scheduler, list).map_err(|e| invalid(e.to_string()))?,
            };
            let spec = ServiceSpec { key, scheduler, flags, persistence };
            Op::Change(if cmd == Cmd::Add { Command::AddService(spec) } else { Command::EditService(spec) })
        }
        Cmd::Del => Op::Change(Command::DelService(svc.ok_or_else(|| invalid("no service"))?)),
        Cmd::Clear => Op::Change(Command::Clear),
        Cmd::List if w.daemon => {
            if w.timeout || w.connection || w.thresholds || w.stats || w.rate || svc.is_some() {
                return Err(invalid("options conflicts in the list command"));
            }
            Op::Daemons
        }
        Cmd::StartDaemon => {
            let role = w.daemon_state.as_deref().unwrap_or_default().parse::<SyncRole>().map_err(invalid)?;
            let syncid = match w.syncid.as_deref() {
                None => 0,
                Some(t) => t.parse::<u8>().map_err(|_| invalid(format!("illegal syncid '{t}': use 0 to 255")))?,
            };
            let interface = w.mcast_interface.clone().unwrap_or_default();
            if interface.is_empty() {
                return Err(invalid("--mcast-interface names one of fnatd's ports"));
            }
            Op::Change(Command::StartDaemon { role, syncid, interface })
        }
        Cmd::StopDaemon => {
            let role = w.daemon_state.as_deref().unwrap_or_default().parse::<SyncRole>().map_err(invalid)?;
            Op::Change(Command::StopDaemon { role })
        }
        Cmd::List if w.timeout => {
            // ipvsadm's exclusive list options (fnat lets -c name a service).
            let other = if w.connection { Some(Opt::Connection) } else { svc.map(|_| Opt::Service) };
            if let Some(other) = other {
                return Err(invalid(format!(
                    "The option '{}' conflicts with the '{}' option in the '{}' command",
                    Opt::Timeout.name(),
                    other.name(),
                    cmd.name()
                )));
            }
            if w.thresholds || w.stats || w.rate {
                return Err(invalid("options conflicts in the list command"));
            }
            Op::Timeouts
        }
        Cmd::List if w.connection => {
            if w.thresholds || w.stats || w.rate {
                return Err(invalid("options conflicts in the list command"));
            }
            Op::Conns { svc, numeric: w.numeric }
        }
        Cmd::List => {
            let columns = if w.stats {
                Columns::Stats
            } else if w.rate {
                Columns::Rate
            } else if w.thresholds {
                Columns::Thresholds
            } else {
                Columns::Plain
            };
            Op::List { svc, format: ListFormat { numeric: w.numeric, sort: !w.nosort, columns, exact: w.exact } }
        }
        Cmd::Zero => Op::Zero { svc },
        Cmd::Counters => Op::Counters,
        Cmd::Health => Op::Health,
        Cmd::Vrrp => Op::Vrrp,
        Cmd::ReloadChecks => Op::Change(Command::ReloadChecks),
        Cmd::Set => {
            let [tcp, tcpfin, udp] = [0, 1, 2].map(|i| timeout(&w.args[i]));
            Op::Change(Command::SetTimeouts { tcp: tcp?, tcpfin: tcpfin?, udp: udp? })
        }
        Cmd::AddDest | Cmd::EditDest | Cmd::DelDest => {
            let key = svc.ok_or_else(|| invalid("no service"))?;
            let text = w.server.as_deref().unwrap_or_default();
            let (addr, port) = real_server(text, key, names)?;
            if cmd == Cmd::DelDest {
                Op::Change(Command::DelDest { svc: key, addr, port })
            } else {
                let method = w.method.unwrap_or(FwdMethod::FullNat);
                // As ipvsadm: direct routing and tunnelling cannot map ports.
                let port = if matches!(method, FwdMethod::Dr | FwdMethod::Tun) { key.vport } else { port };
                let number = |text: Option<&str>, default: u32, max: u32, what: &str| match text {
                    None => Ok(default),
                    Some(s) => s
                        .parse::<u32>()
                        .ok()
                        .filter(|&n| n <= max)
                        .ok_or_else(|| invalid(format!("illegal {what} specified"))),
                };
                let weight = number(w.weight.as_deref(), 1, 65535, "weight")?;
                // As ipvsadm: 0 (none) to INT_MAX; fnatd checks that the lower is not above the upper.
                let upper = number(w.upper.as_deref(), 0, MAX_THRESHOLD, "u_threshold")?;
                let lower = number(w.lower.as_deref(), 0, MAX_THRESHOLD, "l_threshold")?;
                let dest = DestSpec { addr, port, weight, method, upper, lower };
                Op::Change(if cmd == Cmd::AddDest {
                    Command::AddDest { svc: key, dest }
                } else {
                    Command::EditDest { svc: key, dest }
                })
            }
        }
        Cmd::AddLaddr | Cmd::DelLaddr => {
            let key = svc.ok_or_else(|| invalid("no service"))?;
            let text = w.laddr.as_deref().unwrap_or_default();
            let addr = address(text, text)?;
            Op::Change(if cmd == Cmd::AddLaddr {
                Command::AddLaddr { svc: key, addr }
            } else {
                Command::DelLaddr { svc: key, addr }
            })
        }
        Cmd::GetLaddr => Op::GetLaddr { svc },
        Cmd::AddMark | Cmd::DelMark => {
            let mark = svc
                .map(|k| k.fwmark)
                .filter(|&m| m != 0)
                .ok_or_else(|| invalid("--add-mark and --del-mark name the mark with -f"))?;
            let rule = w.rule.rule(mark)?;
            Op::Change(if cmd == Cmd::AddMark { Command::AddMark(rule) } else { Command::DelMark(rule) })
        }
        Cmd::ListMarks => Op::Marks,
        Cmd::Save => Op::Save { sort: !w.nosort },
        Cmd::Restore => Op::Restore,
        Cmd::Help | Cmd::Version => unreachable!("handled above"),
    };
    Ok(Action::Run { ctl, op })
}
