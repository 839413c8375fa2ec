//! The grammar's table: the commands, the options, what each option means and whether it takes a
//! value, and which options each command allows (ipvsadm's `commands_v_options`).

use crate::vocab::FwdMethod;

/// The commands, with ipvsadm's (and DPVS's) names for its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Cmd {
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
    Health,
    ReloadChecks,
    Vrrp,
    StartDaemon,
    StopDaemon,
    Help,
    Version,
}

impl Cmd {
    pub(super) fn name(self) -> &'static str {
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
            Self::Health => "health",
            Self::ReloadChecks => "reload-checks",
            Self::Vrrp => "vrrp",
            Self::StartDaemon => "start-daemon",
            Self::StopDaemon => "stop-daemon",
            Self::Help => "help",
            Self::Version => "version",
        }
    }
}

/// The options that are given at most once, with ipvsadm's names for its messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Opt {
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
    Daemon,
    SyncId,
    McastInterface,
}

impl Opt {
    pub(super) const ALL: [Opt; 26] = [
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
        Opt::Daemon,
        Opt::SyncId,
        Opt::McastInterface,
    ];

    pub(super) fn name(self) -> &'static str {
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
            Self::Daemon => "daemon",
            Self::SyncId => "syncid",
            Self::McastInterface => "mcast-interface",
        }
    }

    /// ipvsadm's table of commands and options: `+` required, `x` illegal, ` ` optional.
    pub(super) fn rule(self, cmd: Cmd) -> char {
        use Cmd::*;
        // The sync daemon's options: `--daemon` lists (with -L), the others start one.
        match (self, cmd) {
            (Self::Daemon, List | Help | Version) => return ' ',
            (Self::SyncId, StartDaemon | Help | Version) => return ' ',
            (Self::McastInterface, StartDaemon) => return '+',
            (Self::McastInterface, Help | Version) => return ' ',
            (Self::Daemon | Self::SyncId | Self::McastInterface, _) => return 'x',
            (Self::Ctl, _) => return ' ',
            (_, StartDaemon | StopDaemon) => return 'x',
            _ => {}
        }
        let row = match cmd {
            // Columns: svc -s -r fwd -w -n -z nosort -c timeout -x -y thresholds -b(sched-flags) -p -M
            // --dst --proto --dports --stats --rate --exact
            Add | Edit => "+ xxxxxxxxxxx   xxxxxx",
            Del => "+xxxxxxxxxxxxxxxxxxxxx",
            Clear | Set | ListMarks | Counters | Health | ReloadChecks | Vrrp => "xxxxxxxxxxxxxxxxxxxxxx",
            List => " xxxx x   xx xxxxxx   ",
            Zero => " xxxxxxxxxxxxxxxxxxxxx",
            AddDest | EditDest => "+x+  xxxxx  xxxxxxxxxx",
            DelDest => "+x+xxxxxxxxxxxxxxxxxxx",
            AddLaddr | DelLaddr => "+xxxxx+xxxxxxxxxxxxxxx",
            GetLaddr => " xxxx xxxxxxxxxxxxxxxx",
            AddMark | DelMark => "+xxxxxxxxxxxxxxx+  xxx",
            Save => "xxxxx x xxxxxxxxxxxxxx",
            Restore => "xxxxxxxxxxxxxxxxxxxxxx",
            Help | Version => "                      ",
            StartDaemon | StopDaemon => "xxxxxxxxxxxxxxxxxxxxxx",
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
            Self::Ctl | Self::Daemon | Self::SyncId | Self::McastInterface => return ' ',
        };
        row.as_bytes().get(i).map_or(' ', |&b| char::from(b))
    }
}

/// What a word of the command line means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Meaning {
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
    /// `--start-daemon STATE`, `--stop-daemon STATE`: the command, and its state.
    DaemonCmd(Cmd),
    /// `--daemon` (with `-L`).
    Daemon,
    /// `--syncid N`.
    SyncId,
    /// `--mcast-interface PORT`.
    McastInterface,
    /// An ipvsadm command or option fnat does not support yet, by what it does.
    NotYet(&'static str),
}

/// Whether an option takes a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Arg {
    No,
    Yes,
    /// `-b`: a value after `-A`/`-E` only (see [`Meaning::FullNatOrSchedFlags`]).
    AfterServiceCmd,
    /// `-p`: an optional value, as popt's `POPT_ARGFLAG_OPTIONAL`: attached (`-p600`,
    /// `--persistent=600`), or the next word when it does not start with `-`.
    Optional,
}

/// (long name, short letter, meaning, value).
pub(super) const OPTIONS: &[(&str, Option<char>, Meaning, Arg)] = &[
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
    ("health", None, Meaning::Cmd(Cmd::Health), Arg::No),
    ("reload-checks", None, Meaning::Cmd(Cmd::ReloadChecks), Arg::No),
    ("vrrp", None, Meaning::Cmd(Cmd::Vrrp), Arg::No),
    ("save", Some('S'), Meaning::Cmd(Cmd::Save), Arg::No),
    ("restore", Some('R'), Meaning::Cmd(Cmd::Restore), Arg::No),
    ("start-daemon", None, Meaning::DaemonCmd(Cmd::StartDaemon), Arg::Yes),
    ("stop-daemon", None, Meaning::DaemonCmd(Cmd::StopDaemon), Arg::Yes),
    ("persistent", Some('p'), Meaning::Persistent, Arg::Optional),
    ("netmask", Some('M'), Meaning::Netmask, Arg::Yes),
    ("fwmark-service", Some('f'), Meaning::Fwmark, Arg::Yes),
    ("daemon", None, Meaning::Daemon, Arg::No),
    ("stats", None, Meaning::Stats, Arg::No),
    ("rate", None, Meaning::Rate, Arg::No),
    ("persistent-conn", None, Meaning::NotYet("persistent connections (--persistent-conn)"), Arg::No),
    ("exact", Some('X'), Meaning::Exact, Arg::No),
    ("ipv6", Some('6'), Meaning::NotYet("IPv6 (-6)"), Arg::No),
    ("ops", Some('o'), Meaning::NotYet("one-packet scheduling (-o)"), Arg::No),
    ("mcast-interface", None, Meaning::McastInterface, Arg::Yes),
    ("syncid", None, Meaning::SyncId, Arg::Yes),
];
