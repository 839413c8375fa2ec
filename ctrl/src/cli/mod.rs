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

pub mod marks;
pub mod portnames;
mod values;

pub use self::marks::RuleWords;
pub use self::portnames::PortNames;

use crate::limits::MAX_THRESHOLD;
use crate::msg::{Command, DestSpec, ServiceSpec};
use crate::vocab::{DEFAULT_SCHEDULER, FwdMethod, Protocol, SchedFlags, SchedKind, ServiceKey, parse_sched_flags};

use self::values::{address, persistence, real_server, service, timeout};

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
    /// `-S [-n]`: print the configuration as ipvsadm-save does (always numerically).
    Save,
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

fn invalid(msg: impl Into<String>) -> UsageError {
    UsageError::Invalid(msg.into())
}

/// The commands, with ipvsadm's (and DPVS's) names for its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cmd {
    Add,
    Edit,
    Del,
    Clear,
    List,
    AddDest,
    EditDest,
    DelDest,
    AddLaddr,
    DelLaddr,
    GetLaddr,
    Set,
    AddMark,
    DelMark,
    ListMarks,
    Save,
    Restore,
    Zero,
    Counters,
    Help,
    Version,
}

impl Cmd {
    fn name(self) -> &'static str {
        match self {
            Self::Add => "add-service",
            Self::Edit => "edit-service",
            Self::Del => "delete-service",
            Self::Clear => "flush",
            Self::List => "list",
            Self::AddDest => "add-server",
            Self::EditDest => "edit-server",
            Self::DelDest => "delete-server",
            Self::AddLaddr => "add-laddr",
            Self::DelLaddr => "del-laddr",
            Self::GetLaddr => "get-laddr",
            Self::Set => "set",
            Self::AddMark => "add-mark",
            Self::DelMark => "del-mark",
            Self::ListMarks => "list-marks",
            Self::Save => "save",
            Self::Restore => "restore",
            Self::Zero => "zero",
            Self::Counters => "counters",
            Self::Help => "help",
            Self::Version => "version",
        }
    }
}

/// The options that are given at most once, with ipvsadm's names for its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Opt {
    Service,
    Scheduler,
    Server,
    Forward,
    Weight,
    Numeric,
    Laddr,
    NoSort,
    Connection,
    Timeout,
    UThreshold,
    LThreshold,
    Thresholds,
    SchedFlags,
    Persistent,
    Netmask,
    Dst,
    Proto,
    Dports,
    Stats,
    Rate,
    Exact,
    Ctl,
}

impl Opt {
    const ALL: [Opt; 23] = [
        Opt::Service,
        Opt::Scheduler,
        Opt::Server,
        Opt::Forward,
        Opt::Weight,
        Opt::Numeric,
        Opt::Laddr,
        Opt::NoSort,
        Opt::Connection,
        Opt::Timeout,
        Opt::UThreshold,
        Opt::LThreshold,
        Opt::Thresholds,
        Opt::SchedFlags,
        Opt::Persistent,
        Opt::Netmask,
        Opt::Dst,
        Opt::Proto,
        Opt::Dports,
        Opt::Stats,
        Opt::Rate,
        Opt::Exact,
        Opt::Ctl,
    ];

    fn name(self) -> &'static str {
        match self {
            Self::Service => "service-address",
            Self::Scheduler => "scheduler",
            Self::Server => "real-server",
            Self::Forward => "forwarding-method",
            Self::Weight => "weight",
            Self::Numeric => "numeric",
            Self::Laddr => "laddr",
            Self::NoSort => "nosort",
            Self::Connection => "connection",
            Self::Timeout => "timeout",
            Self::UThreshold => "u-threshold",
            Self::LThreshold => "l-threshold",
            Self::Thresholds => "thresholds",
            Self::SchedFlags => "sched-flags",
            Self::Persistent => "persistent",
            Self::Netmask => "netmask",
            Self::Dst => "dst",
            Self::Proto => "proto",
            Self::Dports => "dports",
            Self::Stats => "stats",
            Self::Rate => "rate",
            Self::Exact => "exact",
            Self::Ctl => "ctl",
        }
    }

    /// ipvsadm's table of commands and options: `+` required, `x` illegal, ` ` optional.
    fn rule(self, cmd: Cmd) -> char {
        use Cmd::*;
        let row = match cmd {
            // Columns: svc -s -r fwd -w -n -z nosort -c timeout -x -y thresholds -b(sched-flags) -p -M
            // --dst --proto --dports --stats --rate --exact
            Add | Edit => "+ xxxxxxxxxxx   xxxxxx",
            Del => "+xxxxxxxxxxxxxxxxxxxxx",
            Clear | Set | ListMarks | Counters => "xxxxxxxxxxxxxxxxxxxxxx",
            List => " xxxx x   xx xxxxxx   ",
            Zero => " xxxxxxxxxxxxxxxxxxxxx",
            AddDest | EditDest => "+x+  xxxxx  xxxxxxxxxx",
            DelDest => "+x+xxxxxxxxxxxxxxxxxxx",
            AddLaddr | DelLaddr => "+xxxxx+xxxxxxxxxxxxxxx",
            GetLaddr => " xxxx xxxxxxxxxxxxxxxx",
            AddMark | DelMark => "+xxxxxxxxxxxxxxx+  xxx",
            Save => "xxxxx xxxxxxxxxxxxxxxx",
            Restore => "xxxxxxxxxxxxxxxxxxxxxx",
            Help | Version => "                      ",
        };
        let i = match self {
            Self::Service => 0,
            Self::Scheduler => 1,
            Self::Server => 2,
            Self::Forward => 3,
            Self::Weight => 4,
            Self::Numeric => 5,
            Self::Laddr => 6,
            Self::NoSort => 7,
            Self::Connection => 8,
            Self::Timeout => 9,
            Self::UThreshold => 10,
            Self::LThreshold => 11,
            Self::Thresholds => 12,
            Self::SchedFlags => 13,
            Self::Persistent => 14,
            Self::Netmask => 15,
            Self::Dst => 16,
            Self::Proto => 17,
            Self::Dports => 18,
            Self::Stats => 19,
            Self::Rate => 20,
            Self::Exact => 21,
            Self::Ctl => return ' ',
        };
        row.as_bytes().get(i).map_or(' ', |&b| char::from(b))
    }
}

/// What a word of the command line means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    Cmd(Cmd),
    Tcp,
    Udp,
    Fwmark,
    Dst,
    Proto,
    Dports,
    Scheduler,
    Server,
    Method(FwdMethod),
    Weight,
    Numeric,
    Laddr,
    Ctl,
    Sort,
    NoSort,
    Connection,
    Timeout,
    UThreshold,
    LThreshold,
    Thresholds,
    SchedFlags,
    Persistent,
    Netmask,
    Stats,
    Rate,
    Exact,
    /// `-b`: full NAT after `-a`/`-e` (and the other commands), scheduler flags after `-A`/`-E`.
    FullNatOrSchedFlags,
    /// An ipvsadm command or option fnat does not support yet, by what it does.
    NotYet(&'static str),
}

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Arg {
    No,
    Yes,
    /// `-b`: a value after `-A`/`-E` only (see [`Meaning::FullNatOrSchedFlags`]).
    AfterServiceCmd,
    /// `-p`: an optional value, as popt's `POPT_ARGFLAG_OPTIONAL`: attached (`-p600`,
    /// `--persistent=600`), or the next word when it does not start with `-`.
    Optional,
}

/// (long name, short letter, meaning, value).
const OPTIONS: &[(&str, Option<char>, Meaning, Arg)] = &[
    ("add-service", Some('A'), Meaning::Cmd(Cmd::Add), Arg::No),
    ("edit-service", Some('E'), Meaning::Cmd(Cmd::Edit), Arg::No),
    ("delete-service", Some('D'), Meaning::Cmd(Cmd::Del), Arg::No),
    ("clear", Some('C'), Meaning::Cmd(Cmd::Clear), Arg::No),
    ("list", Some('L'), Meaning::Cmd(Cmd::List), Arg::No),
    ("list", Some('l'), Meaning::Cmd(Cmd::List), Arg::No),
    ("add-server", Some('a'), Meaning::Cmd(Cmd::AddDest), Arg::No),
    ("edit-server", Some('e'), Meaning::Cmd(Cmd::EditDest), Arg::No),
    ("delete-server", Some('d'), Meaning::Cmd(Cmd::DelDest), Arg::No),
    ("add-laddr", Some('P'), Meaning::Cmd(Cmd::AddLaddr), Arg::No),
    ("del-laddr", Some('Q'), Meaning::Cmd(Cmd::DelLaddr), Arg::No),
    ("get-laddr", Some('G'), Meaning::Cmd(Cmd::GetLaddr), Arg::No),
    ("set", None, Meaning::Cmd(Cmd::Set), Arg::No),
    ("add-mark", None, Meaning::Cmd(Cmd::AddMark), Arg::No),
    ("del-mark", None, Meaning::Cmd(Cmd::DelMark), Arg::No),
    ("list-marks", None, Meaning::Cmd(Cmd::ListMarks), Arg::No),
    ("dst", None, Meaning::Dst, Arg::Yes),
    ("proto", None, Meaning::Proto, Arg::Yes),
    ("dports", None, Meaning::Dports, Arg::Yes),
    ("help", Some('h'), Meaning::Cmd(Cmd::Help), Arg::No),
    ("version", Some('v'), Meaning::Cmd(Cmd::Version), Arg::No),
    ("tcp-service", Some('t'), Meaning::Tcp, Arg::Yes),
    ("udp-service", Some('u'), Meaning::Udp, Arg::Yes),
    ("scheduler", Some('s'), Meaning::Scheduler, Arg::Yes),
    ("real-server", Some('r'), Meaning::Server, Arg::Yes),
    ("fullnat", None, Meaning::Method(FwdMethod::FullNat), Arg::No),
    ("sched-flags", None, Meaning::SchedFlags, Arg::Yes),
    // `-b` alone; long options never match it (see `parse`).
    ("-b", Some('b'), Meaning::FullNatOrSchedFlags, Arg::AfterServiceCmd),
    ("masquerading", Some('m'), Meaning::Method(FwdMethod::Nat), Arg::No),
    ("gatewaying", Some('g'), Meaning::Method(FwdMethod::Dr), Arg::No),
    ("ipip", Some('i'), Meaning::Method(FwdMethod::Tun), Arg::No),
    ("weight", Some('w'), Meaning::Weight, Arg::Yes),
    ("numeric", Some('n'), Meaning::Numeric, Arg::No),
    ("laddr", Some('z'), Meaning::Laddr, Arg::Yes),
    ("ctl", None, Meaning::Ctl, Arg::Yes),
    ("sort", None, Meaning::Sort, Arg::No),
    ("nosort", None, Meaning::NoSort, Arg::No),
    ("connection", Some('c'), Meaning::Connection, Arg::No),
    ("timeout", None, Meaning::Timeout, Arg::No),
    ("u-threshold", Some('x'), Meaning::UThreshold, Arg::Yes),
    ("l-threshold", Some('y'), Meaning::LThreshold, Arg::Yes),
    ("thresholds", None, Meaning::Thresholds, Arg::No),
    ("zero", Some('Z'), Meaning::Cmd(Cmd::Zero), Arg::No),
    ("counters", None, Meaning::Cmd(Cmd::Counters), Arg::No),
    ("save", Some('S'), Meaning::Cmd(Cmd::Save), Arg::No),
    ("restore", Some('R'), Meaning::Cmd(Cmd::Restore), Arg::No),
    ("start-daemon", None, Meaning::NotYet("the connection sync daemon (--start-daemon)"), Arg::No),
    ("stop-daemon", None, Meaning::NotYet("the connection sync daemon (--stop-daemon)"), Arg::No),
    ("persistent", Some('p'), Meaning::Persistent, Arg::Optional),
    ("netmask", Some('M'), Meaning::Netmask, Arg::Yes),
    ("fwmark-service", Some('f'), Meaning::Fwmark, Arg::Yes),
    ("daemon", None, Meaning::NotYet("listing the sync daemon (--daemon)"), Arg::No),
    ("stats", None, Meaning::Stats, Arg::No),
    ("rate", None, Meaning::Rate, Arg::No),
    ("persistent-conn", None, Meaning::NotYet("persistent connections (--persistent-conn)"), Arg::No),
    ("exact", Some('X'), Meaning::Exact, Arg::No),
    ("ipv6", Some('6'), Meaning::NotYet("IPv6 (-6)"), Arg::No),
    ("ops", Some('o'), Meaning::NotYet("one-packet scheduling (-o)"), Arg::No),
    ("mcast-interface", None, Meaning::NotYet("the connection sync daemon (--mcast-interface)"), Arg::No),
    ("syncid", None, Meaning::NotYet("the connection sync daemon (--syncid)"), Arg::No),
];

/// The raw values collected from the words, before they are checked together.
#[derive(Default)]
struct Words {
    cmd: Option<Cmd>,
    seen: Vec<Opt>,
    /// `-t`/`-u` with its protocol, or `-f` (no protocol), with the text.
    service: Option<(Option<Protocol>, String)>,
    /// `--dst`, `--proto`, `--dports` of a mark rule.
    rule: marks::RuleWords,
    scheduler: Option<String>,
    server: Option<String>,
    method: Option<FwdMethod>,
    weight: Option<String>,
    numeric: bool,
    laddr: Option<String>,
    ctl: Option<String>,
    nosort: bool,
    connection: bool,
    timeout: bool,
    upper: Option<String>,
    lower: Option<String>,
    thresholds: bool,
    stats: bool,
    rate: bool,
    exact: bool,
    sched_flags: Option<String>,
    /// `-p`, with its value if it had one.
    persistent: Option<Option<String>>,
    netmask: Option<String>,
    /// Words that are not options (`--set`'s three values), in order.
    args: Vec<String>,
}

impl Words {
    fn command(&mut self, cmd: Cmd) -> Result<(), UsageError> {
        if self.cmd.is_some() {
            return Err(invalid("multiple commands specified"));
        }
        self.cmd = Some(cmd);
        Ok(())
    }

    fn option(&mut self, opt: Opt) -> Result<(), UsageError> {
        if self.seen.contains(&opt) {
            return Err(invalid(format!("multiple '{}' options specified", opt.name())));
        }
        self.seen.push(opt);
        Ok(())
    }

    fn take(&mut self, m: Meaning, value: Option<String>) -> Result<(), UsageError> {
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
            Meaning::NotYet(what) => return Err(invalid(format!("{what} is not supported yet"))),
        }
        Ok(())
    }
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

/// Checks the collected words together and builds the action.
fn build(w: Words, env_ctl: Option<&str>, names: &PortNames, no_args: bool) -> Result<Action, UsageError> {
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
        Cmd::Save => Op::Save,
        Cmd::Restore => Op::Restore,
        Cmd::Help | Cmd::Version => unreachable!("handled above"),
    };
    Ok(Action::Run { ctl, op })
}

#[cfg(test)]
mod tests;
