//! fnatctl's command line: ipvsadm's grammar (popt style), hand-parsed. It lives here, not in
//! fnatctl, because fnatd reads its rules file (`fnatctl -S` lines) with the same parser.
//!
//! Short options bundle (`-Ln`, `-At 10.0.0.1:80`) and take their value attached or as the next word
//! (`-w3`, `-w 3`); long options take it as `--weight=3` or `--weight 3`. Exactly one command; each
//! option at most once; the commands accept the options ipvsadm's table allows them, with ipvsadm's
//! messages when they do not. Every value is checked here, so bad input never reaches fnatd.
//! Options ipvsadm has and fnat does not support yet are recognised and refused by name.
//!
//! As ipvsadm, `-A`/`-E` without `-s` use the default scheduler, wlc, without `-b` no scheduler
//! flags and without `-p` no persistence (`-E` sets all three anew); `-p` without a value means 360
//! seconds, and its value, optional, is taken as popt does (attached, or the next word unless it
//! starts with `-`); `-M` needs `-p`; port 0 (every port) needs `-p`. `-a`/`-e` without `-w` weight
//! 1 and without `-x`/`-y` no thresholds.
//!
//! fnat extends ipvsadm in two places: `-L -c` may name a service (`-t|-u`) to list only its
//! connections (ipvsadm refuses that combination); and `-b` follows DPVS on `-a`/`-e`, where it
//! selects full NAT (`--fullnat`) and takes no value, while on `-A`/`-E` it is ipvsadm's
//! `-b sched-flags` (`--sched-flags`). So the command must come before `-b` (ipvsadm wants every
//! command first anyway).

use std::path::PathBuf;

mod build;
mod grammar;
pub mod marks;
pub mod portnames;
mod values;
mod words;

pub use self::marks::RuleWords;
pub use self::portnames::PortNames;

use self::build::build;
use self::grammar::{Arg, Cmd, Meaning, OPTIONS};
use self::words::Words;
use crate::msg::Command;
use crate::vocab::{FwdMethod, ServiceKey};

/// Where fnatd's control file is when neither `--ctl` nor `FNAT_CTL` says.
pub const DEFAULT_CTL: &str = crate::shm::DEFAULT_CONTROL_PATH;

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Action {
    /// `-h`: print the help.
    Help,
    /// `-v`: print the version.
    Version,
    /// Talk to fnatd through the control file at `ctl`.
    Run {
        /// The control file.
        ctl: PathBuf,
        /// What to ask.
        op: Op,
    },
}

/// A request to fnatd and how to show its answer.
#[derive(Debug, PartialEq, Eq)]
pub enum Op {
    /// A change (`-A -E -D -C -a -e -d --add-laddr --del-laddr --add-mark --del-mark`).
    Change(Command),
    /// `--list-marks`: the firewall-mark classifier's rules.
    Marks,
    /// `-L`: list services (all, or one) as `format` says.
    List {
        /// Only this service.
        svc: Option<ServiceKey>,
        /// How.
        format: ListFormat,
    },
    /// `-Z`: zero the traffic counters (of one service and its real servers, or all).
    Zero {
        /// Only this service.
        svc: Option<ServiceKey>,
    },
    /// `--counters`: every port's and worker's counters and the gateway's traffic.
    Counters,
    /// `--health`: what the health checks found of every checked real server.
    Health,
    /// `--vrrp`: the state of every VRRP instance.
    Vrrp,
    /// `-L --daemon`: the connection-sync daemons running.
    Daemons,
    /// `--get-laddr`: list local addresses (all services, or one).
    GetLaddr {
        /// Only this service.
        svc: Option<ServiceKey>,
    },
    /// `-L -c`: list connections (all, or one service's).
    Conns {
        /// Only this service's.
        svc: Option<ServiceKey>,
        /// `-n`.
        numeric: bool,
    },
    /// `-L --timeout`: print the timeouts `--set` changes.
    Timeouts,
    /// `-S [-n] [--nosort]`: print the configuration as ipvsadm-save does (always numerically),
    /// sorted unless `--nosort`.
    Save {
        /// Sorted as ipvsadm sorts (`--nosort`: the kernel's order).
        sort: bool,
    },
    /// `-R`: apply the commands read from stdin, one a line, as one transaction.
    Restore,
}

/// How `-L` shows the services.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ListFormat {
    /// `-n`: ports as numbers.
    pub numeric: bool,
    /// Not `--nosort`: services and real servers in ipvsadm's order.
    pub sort: bool,
    /// What follows each service and real server.
    pub columns: Columns,
    /// `--exact`: counters and rates unscaled.
    pub exact: bool,
}

/// The columns of a `-L` listing; ipvsadm's precedence when several are asked for: `--stats`,
/// then `--rate`, then `--thresholds`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Columns {
    /// Scheduler and flags; forwarding method, weight and connections.
    Plain,
    /// `--thresholds`: each real server's thresholds and connections.
    Thresholds,
    /// `--stats`: Conns InPkts OutPkts InBytes OutBytes.
    Stats,
    /// `--rate`: CPS InPPS OutPPS InBPS OutBPS.
    Rate,
}

/// Why the command line was refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UsageError {
    /// Not ipvsadm's grammar at all: an unknown option, no command (ipvsadm: "Try `ipvsadm -h'",
    /// exit status 255).
    #[error("{0} (try 'fnatctl --help')")]
    TryHelp(String),
    /// A value or a combination of options is wrong (ipvsadm: exit status 2).
    #[error("{0}")]
    Invalid(String),
}

pub(super) fn invalid(msg: impl Into<String>) -> UsageError {
    UsageError::Invalid(msg.into())
}

/// Parses the arguments (without the program name). `env_ctl` is `FNAT_CTL`'s value, if set.
pub fn parse(args: &[String], env_ctl: Option<&str>, names: &PortNames) -> Result<Action, UsageError> {
    let mut w = Words::default();
    let mut i = 0;
    while i < args.len() {
        let word = &args[i];
        i += 1;
        if let Some(long) = word.strip_prefix("--") {
            if long.is_empty() {
                // Everything after `--` is an argument, as with popt.
                w.args.extend(args[i..].iter().cloned());
                break;
            }
            let (name, attached) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (long, None),
            };
            let &(_, _, meaning, arg) = OPTIONS
                .iter()
                .find(|o| o.0 == name && o.3 != Arg::AfterServiceCmd)
                .ok_or_else(|| UsageError::TryHelp(format!("unknown option '--{name}'")))?;
            let value = match (arg, attached) {
                (Arg::No, Some(_)) if !matches!(meaning, Meaning::NotYet(_)) => {
                    return Err(invalid(format!("option '--{name}' takes no value")));
                }
                (Arg::Yes, None) => {
                    let v = args.get(i).ok_or_else(|| invalid(format!("option '--{name}' needs a value")))?;
                    i += 1;
                    Some(v.clone())
                }
                (Arg::Optional, None) => optional_value(args, &mut i),
                (_, attached) => attached,
            };
            w.take(meaning, value)?;
        } else if let Some(cluster) = word.strip_prefix('-').filter(|c| !c.is_empty()) {
            for (at, letter) in cluster.char_indices() {
                let &(_, _, meaning, arg) = OPTIONS
                    .iter()
                    .find(|o| o.1 == Some(letter))
                    .ok_or_else(|| UsageError::TryHelp(format!("unknown option '-{letter}'")))?;
                let (meaning, arg) = match arg {
                    Arg::AfterServiceCmd => match w.cmd {
                        Some(Cmd::Add | Cmd::Edit) => (Meaning::SchedFlags, Arg::Yes),
                        Some(_) => (Meaning::Method(FwdMethod::FullNat), Arg::No),
                        None => {
                            return Err(invalid(
                                "option '-b' must come after the command: -A|-E take -b sched-flags, \
                                 -a|-e take -b for full NAT",
                            ));
                        }
                    },
                    _ => (meaning, arg),
                };
                if arg == Arg::No {
                    w.take(meaning, None)?;
                    continue;
                }
                let rest = &cluster[at + letter.len_utf8()..];
                if arg == Arg::Optional {
                    let value = if rest.is_empty() { optional_value(args, &mut i) } else { Some(rest.to_owned()) };
                    w.take(meaning, value)?;
                    break;
                }
                let value = if rest.is_empty() {
                    let v = args.get(i).ok_or_else(|| invalid(format!("option '-{letter}' needs a value")))?;
                    i += 1;
                    v.clone()
                } else {
                    rest.to_owned()
                };
                w.take(meaning, Some(value))?;
                break;
            }
        } else {
            // popt collects the words that are not options wherever they are; only `--set` takes any.
            w.args.push(word.clone());
        }
    }
    build(w, env_ctl, names, args.is_empty())
}

/// One line of a restore (`-R`): the words of a change command, parsed as the command line is.
pub fn change(words: &[String], names: &PortNames) -> Result<Command, String> {
    match parse(words, None, names) {
        Ok(Action::Run { op: Op::Change(c), .. }) => Ok(c),
        Ok(_) => Err(format!("'{}' is not a change", words.join(" "))),
        Err(e) => Err(e.to_string()),
    }
}

/// The value of an option whose value is optional, when it is not attached: the next word, unless
/// there is none or it starts with `-` (popt's rule).
fn optional_value(args: &[String], i: &mut usize) -> Option<String> {
    let next = args.get(*i).filter(|w| !w.starts_with('-'))?;
    *i += 1;
    Some(next.clone())
}

#[cfg(test)]
mod tests;
