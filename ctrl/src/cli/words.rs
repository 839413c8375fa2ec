//! The raw values collected from the command line's words, one option at most once, before
//! they are checked together (`build`).

use super::grammar::{Cmd, Meaning, Opt};
use super::{UsageError, invalid, marks};
use crate::vocab::{FwdMethod, Protocol};

/// The raw values collected from the words, before they are checked together.
#[derive(Default)]
pub(super) struct Words {
    pub(super) cmd: Option<Cmd>,
    pub(super) seen: Vec<Opt>,
    /// `-t`/`-u` with its protocol, or `-f` (no protocol), with the text.
    pub(super) service: Option<(Option<Protocol>, String)>,
    /// `--dst`, `--proto`, `--dports` of a mark rule.
    pub(super) rule: marks::RuleWords,
    pub(super) scheduler: Option<String>,
    pub(super) server: Option<String>,
    pub(super) method: Option<FwdMethod>,
    pub(super) weight: Option<String>,
    pub(super) numeric: bool,
    pub(super) laddr: Option<String>,
    pub(super) ctl: Option<String>,
    pub(super) nosort: bool,
    pub(super) connection: bool,
    pub(super) timeout: bool,
    pub(super) upper: Option<String>,
    pub(super) lower: Option<String>,
    pub(super) thresholds: bool,
    pub(super) stats: bool,
    pub(super) rate: bool,
    pub(super) exact: bool,
    pub(super) sched_flags: Option<String>,
    /// `-p`, with its value if it had one.
    pub(super) persistent: Option<Option<String>>,
    pub(super) netmask: Option<String>,
    /// `--start-daemon`/`--stop-daemon`'s state.
    pub(super) daemon_state: Option<String>,
    pub(super) daemon: bool,
    pub(super) syncid: Option<String>,
    pub(super) mcast_interface: Option<String>,
    /// Words that are not options (`--set`'s three values), in order.
    pub(super) args: Vec<String>,
}

impl Words {
    pub(super) fn command(&mut self, cmd: Cmd) -> Result<(), UsageError> {
        if self.cmd.is_some() {
            return Err(invalid("multiple commands specified"));
        }
        self.cmd = Some(cmd);
        Ok(())
    }

    pub(super) fn option(&mut self, opt: Opt) -> Result<(), UsageError> {
        if self.seen.contains(&opt) {
            return Err(invalid(format!("multiple '{}' options specified", opt.name())));
        }
        self.seen.push(opt);
        Ok(())
    }

    pub(super) fn take(&mut self, m: Meaning, value: Option<String>) -> Result<(), UsageError> {
        let v = || value.clone().unwrap_or_default();
        match m {
            Meaning::Cmd(c) => self.command(c)?,
            Meaning::Tcp | Meaning::Udp | Meaning::Fwmark => {
                self.option(Opt::Service)?;
                let proto = match m {
                    Meaning::Tcp => Some(Protocol::Tcp),
                    Meaning::Udp => Some(Protocol::Udp),
                    _ => None,
                };
                self.service = Some((proto, v()));
            }
            Meaning::Dst => {
                self.option(Opt::Dst)?;
                self.rule.dst = Some(v());
            }
            Meaning::Proto => {
                self.option(Opt::Proto)?;
                self.rule.proto = Some(v());
            }
            Meaning::Dports => {
                self.option(Opt::Dports)?;
                self.rule.dports = Some(v());
            }
            Meaning::Scheduler => {
                self.option(Opt::Scheduler)?;
                self.scheduler = Some(v());
            }
            Meaning::Server => {
                self.option(Opt::Server)?;
                self.server = Some(v());
            }
            Meaning::Method(method) => {
                self.option(Opt::Forward)?;
                self.method = Some(method);
            }
            Meaning::Weight => {
                self.option(Opt::Weight)?;
                self.weight = Some(v());
            }
            Meaning::Numeric => {
                self.option(Opt::Numeric)?;
                self.numeric = true;
            }
            Meaning::Laddr => {
                self.option(Opt::Laddr)?;
                self.laddr = Some(v());
            }
            Meaning::Ctl => {
                self.option(Opt::Ctl)?;
                self.ctl = Some(v());
            }
            Meaning::Sort => {}
            Meaning::NoSort => {
                self.option(Opt::NoSort)?;
                self.nosort = true;
            }
            Meaning::Connection => {
                self.option(Opt::Connection)?;
                self.connection = true;
            }
            Meaning::Timeout => {
                self.option(Opt::Timeout)?;
                self.timeout = true;
            }
            Meaning::UThreshold => {
                self.option(Opt::UThreshold)?;
                self.upper = Some(v());
            }
            Meaning::LThreshold => {
                self.option(Opt::LThreshold)?;
                self.lower = Some(v());
            }
            Meaning::Thresholds => {
                self.option(Opt::Thresholds)?;
                self.thresholds = true;
            }
            Meaning::Stats => {
                self.option(Opt::Stats)?;
                self.stats = true;
            }
            Meaning::Rate => {
                self.option(Opt::Rate)?;
                self.rate = true;
            }
            Meaning::Exact => {
                self.option(Opt::Exact)?;
                self.exact = true;
            }
            Meaning::SchedFlags => {
                self.option(Opt::SchedFlags)?;
                self.sched_flags = Some(v());
            }
            Meaning::Persistent => {
                self.option(Opt::Persistent)?;
                self.persistent = Some(value);
            }
            Meaning::Netmask => {
                self.option(Opt::Netmask)?;
                self.netmask = Some(v());
            }
            // Resolved by `parse` before it gets here.
            Meaning::FullNatOrSchedFlags => return Err(invalid("option '-b' is ambiguous here")),
            Meaning::DaemonCmd(c) => {
                self.command(c)?;
                self.daemon_state = Some(v());
            }
            Meaning::Daemon => {
                self.option(Opt::Daemon)?;
                self.daemon = true;
            }
            Meaning::SyncId => {
                self.option(Opt::SyncId)?;
                self.syncid = Some(v());
            }
            Meaning::McastInterface => {
                self.option(Opt::McastInterface)?;
                self.mcast_interface = Some(v());
            }
            Meaning::NotYet(what) => return Err(invalid(format!("{what} is not supported yet"))),
        }
        Ok(())
    }
}
