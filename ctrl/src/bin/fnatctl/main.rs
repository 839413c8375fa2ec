//! fnatctl: the ipvsadm-compatible control CLI of fnatd.
//!
//! It parses ipvsadm's command line ([`cli`]), sends one request through fnatd's control file
//! ([`ctrl::shm::Client`]) and prints the answer as ipvsadm would ([`output`]). It depends on the
//! `ctrl` library alone: nothing of the gateway, no DPDK.
//!
//! Exit statuses follow ipvsadm: 0 success; 1 a listing failed (`-L -t`, `-L -c -t` or
//! `--get-laddr -t` of a service that does not exist); 2 a bad command line, or fnatd could not be reached or did not
//! answer; 255 an unknown option or no command, or fnatd refused the change. Errors are one line on
//! stderr, `fnatctl: <reason>`.

mod marks;
mod output;
#[cfg(test)]
mod restore_tests;

use std::ffi::OsString;
use std::io::Write as _;
use std::process::ExitCode;
use std::time::Duration;

use ctrl::cli::{self, Action, Columns, Op, PortNames, UsageError};
use ctrl::msg::{Command, PROTOCOL_VERSION, Reply, Request};
use ctrl::save::{Order, restore_commands};
use ctrl::shm::Client;

/// How long fnatctl waits for fnatd (the control file's lock included).
const TIMEOUT: Duration = Duration::from_secs(10);

/// Exit status: a listing failed.
const LIST_FAILED: u8 = 1;
/// Exit status: bad command line, or fnatd unreachable.
const USAGE: u8 = 2;
/// Exit status: not ipvsadm's grammar, or fnatd refused the change (ipvsadm's -1).
const REFUSED: u8 = 255;

const HELP: &str = "\
Usage:
  fnatctl -A|E -t|u|f service-address [-s scheduler] [-b sched-flags]
          [-p [timeout]] [-M netmask]
  fnatctl -D -t|u|f service-address
  fnatctl -C
  fnatctl -a|e -t|u|f service-address -r server-address [-b|-m|-g|-i] [-w weight]
          [-x upper] [-y lower]
  fnatctl -d -t|u|f service-address -r server-address
  fnatctl -L|l [-n] [--nosort] [--stats] [--rate] [--thresholds] [--exact]
          [-t|u|f service-address]
  fnatctl -L|l -c [-n] [-t|u|f service-address]
  fnatctl -L|l --timeout
  fnatctl -Z [-t|u|f service-address]
  fnatctl --counters
  fnatctl --health
  fnatctl --vrrp
  fnatctl --start-daemon master|backup --mcast-interface port [--syncid N]
  fnatctl --stop-daemon master|backup
  fnatctl -L --daemon
  fnatctl --reload-checks
  fnatctl --from-keepalived FILE
  fnatctl --set tcp tcpfin udp
  fnatctl --add-laddr|--del-laddr -t|u|f service-address -z local-address
  fnatctl --get-laddr [-t|u|f service-address]
  fnatctl --add-mark|--del-mark -f mark --dst address[/len] [--proto tcp|udp|any]
          [--dports ports]
  fnatctl --list-marks
  fnatctl -S [-n]
  fnatctl -R
  fnatctl -h|-v

Commands:
Either long or short options are allowed.
  --add-service     -A        add virtual service with options
  --edit-service    -E        edit virtual service with options
  --delete-service  -D        delete virtual service
  --clear           -C        clear the whole table (services and fwmark classifier rules)
  --add-server      -a        add real server with options
  --edit-server     -e        edit real server with options
  --delete-server   -d        delete real server
  --list            -L|-l     list the table
  --zero            -Z        zero counters and rates of a service and its real
                              servers, or of everything
  --reload-checks             make fnatd read the [[check]] tables of its
                              configuration file again (all or nothing)
  --health                    print what the health checks found of every checked
                              real server: its check, UP or DOWN and since when,
                              checks run and failed, the last result and why
  --start-daemon    state     start the connection sync daemon (master or backup; both
                              may run) on fnatd's port --mcast-interface, with
                              --syncid (0 by default); the key, group and UDP port
                              come from fnatd's [sync]
  --stop-daemon     state     stop it (master or backup)
  --daemon                    with -L: the sync daemons running
  --vrrp                      print every VRRP instance: its port, VRID, priority,
                              state and since when, the master, its addresses,
                              and the advertisements sent, received and refused
  --counters                  print every port's and worker's counters (drops
                              by reason) and the gateway's traffic totals
  --from-keepalived FILE      print the virtual_servers and vrrp_instances of
                              keepalived.conf FILE as fnatd's configuration
                              (TOML), or what cannot be converted, with its line
                              (fnatd is not asked)
  --set tcp tcpfin udp        set connection timeout values (seconds, at most 31 days;
                              0 keeps a value): ESTABLISHED, FIN_WAIT and UDP
  --add-laddr       -P        add a local address to a FULLNAT service
  --del-laddr       -Q        delete a local address from a FULLNAT service
  --get-laddr       -G        list local addresses (of all services, or of one)
  --add-mark                  append a firewall-mark classifier rule: a new
                              connection to --dst (an address or a prefix),
                              --proto and --dports gets mark -f; the first
                              matching rule wins (fnat's stand-in for iptables)
  --del-mark                  delete the classifier rule with these values
  --list-marks                list the classifier rules in matching order
  --save            -S        save the configuration to stdout, one command a
                              line, as ipvsadm-save -n (always numeric); fnat's
                              extensions (-b real servers, -x/-y, --add-laddr,
                              --add-mark) as extra lines
  --restore         -R        read such lines (or ipvsadm-save output) from
                              stdin and add them as one transaction: all or
                              nothing; an error names the line
  --help            -h        display this help message
  --version         -v        display the version

Options:
  --tcp-service  -t service-address   service-address is IPv4-address:port; port 0
                                      (or none) is every port of the address, for a
                                      persistent service only
  --udp-service  -u service-address   service-address is IPv4-address:port
  --fwmark-service -f fwmark          fwmark is an integer from 1 to 4294967295: the
                                      service takes the new connections the
                                      classifier (--add-mark) marks; its real
                                      servers' port 0 keeps the packet's port
  --dst          address[/len]        with --add-mark|--del-mark: the destination
  --proto        tcp|udp|any          with --add-mark|--del-mark (default any)
  --dports       ports                with --add-mark|--del-mark: ports and ranges,
                                      comma-separated (80,443,8000-8100), or any
                                      (the default)
  --scheduler    -s scheduler         one of rr|wrr|lc|wlc|lblc|lblcr|dh|sh|sed|nq|fo|
                                      ovf|mh, the default scheduler is wlc (also for
                                      -E: it sets scheduler, flags and persistence
                                      anew, as ipvsadm)
  --sched-flags  -b flags             with -A|-E: scheduler flags, comma-separated:
                                      flag-1, flag-2, flag-3 for any scheduler;
                                      sh-fallback, sh-port with sh; mh-fallback,
                                      mh-port with mh; none if not given
  --persistent   -p [timeout]         persistent service: a client's connections go
                                      to one real server while any is open and for
                                      timeout seconds after (1 to 2678400; 360 if
                                      not given; -E without -p switches it off)
  --netmask      -M netmask           persistent granularity mask, a contiguous
                                      IPv4 netmask (default 255.255.255.255)
  --real-server  -r server-address    server-address is IPv4-address[:port]; the
                                      port defaults to the service's (0 in a port-0
                                      service, where connections keep their port)
  --fullnat      -b                   full NAT (the default in fnat; plain ipvsadm
                                      defaults to -g); the service needs local
                                      addresses. -b means this after -a|-e, and
                                      --sched-flags after -A|-E (DPVS's convention)
  --masquerading -m                   masquerading (NAT); fnatd must run one worker
  --gatewaying   -g                   gatewaying (direct routing); the real server's
                                      port is the service's
  --ipip         -i                   ipip encapsulation (tunneling); the real
                                      server's port is the service's
  --weight       -w weight            capacity of real server, 0 to 65535 (default 1)
  --u-threshold  -x uthreshold        upper threshold of connections, 0 to 2147483647
                                      (default 0: none)
  --l-threshold  -y lthreshold        lower threshold of connections, 0 to 2147483647,
                                      not above the upper one (default 0)
  --laddr        -z local-address     a FULLNAT local address (IPv4)
  --connection   -c                   output of current connections and persistence
                                      templates (state NONE, client port 0); with
                                      -t|u, of that service only (an fnat
                                      extension); when a FULLNAT connection is
                                      listed, a local column
                                      (DPVS's) shows the local address (the client's
                                      for the other methods)
  --timeout                           output of timeout (tcp tcpfin udp)
  --thresholds                        output of thresholds information
  --stats                             output of statistics information: connections,
                                      packets and bytes in and out since the start
                                      or the last -Z (K, M, G, T: thousands,
                                      millions, ... from 100 million up)
  --rate                              output of rate information (per second,
                                      estimated every 2 s as IPVS does)
  --exact        -X                   expand numbers (display exact values)
  --numeric      -n                   numeric output of ports (addresses are always
                                      numeric: fnatctl does no DNS lookups, which
                                      could hang; port names come from /etc/services)
  --nosort                            do not sort services and real servers
  --ctl PATH                          fnatd's control file (default: $FNAT_CTL, or
                                      /dev/shm/fnat.ctl)

Not supported yet: -o, -6, --persistent-conn, --daemon, --start-daemon,
--stop-daemon.
Ports may be given by name from /etc/services (10.0.0.1:http). Host names are not resolved.
With no argument, fnatctl lists the table (like ipvsadm).
Exit status: 0 success, 1 a listing failed, 2 bad command line or fnatd unreachable,
255 unknown option or fnatd refused the change.
";

/// What one run prints and returns.
#[derive(Debug, PartialEq, Eq)]
struct Outcome {
    code: u8,
    stdout: String,
    stderr: Option<String>,
}

impl Outcome {
    fn ok(stdout: String) -> Self {
        Self { code: 0, stdout, stderr: None }
    }

    fn fail(code: u8, why: impl std::fmt::Display) -> Self {
        Self { code, stdout: String::new(), stderr: Some(why.to_string()) }
    }
}

fn main() -> ExitCode {
    let args: Result<Vec<String>, OsString> = std::env::args_os().skip(1).map(OsString::into_string).collect();
    let outcome = match args {
        Ok(args) => {
            run(&args, std::env::var("FNAT_CTL").ok().as_deref(), &|| std::io::read_to_string(std::io::stdin()))
        }
        Err(bad) => Outcome::fail(USAGE, format!("argument {bad:?} is not UTF-8")),
    };
    // A closed stdout (`fnatctl -L | head -1`) is not an error worth reporting.
    let _ = std::io::stdout().write_all(outcome.stdout.as_bytes());
    if let Some(why) = outcome.stderr {
        eprintln!("fnatctl: {why}");
    }
    ExitCode::from(outcome.code)
}

/// Reads standard input (for `-R`).
type Input<'a> = &'a dyn Fn() -> std::io::Result<String>;

/// One invocation: `args` without the program name, `env_ctl` the value of `FNAT_CTL`, `input`
/// what reads stdin.
fn run(args: &[String], env_ctl: Option<&str>, input: Input) -> Outcome {
    if let Some(("--from-keepalived", files)) = args.split_first().map(|(a, rest)| (a.as_str(), rest)) {
        return from_keepalived(files);
    }
    let names = PortNames::system();
    let (ctl, op) = match cli::parse(args, env_ctl, &names) {
        Ok(Action::Help) => return Outcome::ok(HELP.to_owned()),
        Ok(Action::Version) => {
            return Outcome::ok(format!(
                "fnatctl {} (fnat control protocol {PROTOCOL_VERSION}; ipvsadm-compatible)\n",
                env!("CARGO_PKG_VERSION")
            ));
        }
        Ok(Action::Run { ctl, op }) => (ctl, op),
        Err(e @ UsageError::TryHelp(_)) => return Outcome::fail(REFUSED, e),
        Err(e @ UsageError::Invalid(_)) => return Outcome::fail(USAGE, e),
    };
    // -R: every line is checked before fnatd is asked anything.
    let restore = if op == Op::Restore {
        let text = match input() {
            Ok(t) => t,
            Err(e) => return Outcome::fail(USAGE, format!("cannot read the rules from stdin: {e}")),
        };
        match restore_commands(&text, |words| cli::change(words, &names)) {
            Ok(c) if c.is_empty() => return Outcome::ok(String::new()),
            Ok(c) => c,
            Err(e) => return Outcome::fail(USAGE, e),
        }
    } else {
        Vec::new()
    };
    let mut client = match Client::connect(&ctl) {
        Ok(c) => c,
        Err(e) => return Outcome::fail(USAGE, e),
    };
    let commands = match &op {
        Op::Change(c) => vec![c.clone()],
        Op::List { svc, format } => {
            vec![Command::List { svc: *svc, traffic: matches!(format.columns, Columns::Stats | Columns::Rate) }]
        }
        Op::GetLaddr { svc } => vec![Command::List { svc: *svc, traffic: false }],
        Op::Conns { svc, .. } => vec![Command::ListConns { svc: *svc }],
        Op::Timeouts => vec![Command::GetTimeouts],
        Op::Zero { svc } => vec![Command::Zero { svc: *svc }],
        Op::Counters => vec![Command::Counters],
        Op::Health => vec![Command::ListHealth],
        Op::Vrrp => vec![Command::ListVrrp],
        Op::Daemons => vec![Command::ListDaemons],
        Op::Marks => vec![Command::ListMarks],
        Op::Save { sort } => return save(&mut client, if *sort { Order::Sorted } else { Order::Kernel }),
        // All the lines in one request: one transaction.
        Op::Restore => restore,
    };
    let reply = match client.call(&Request::new(commands), TIMEOUT) {
        Ok(r) => r,
        Err(e) => return Outcome::fail(USAGE, e),
    };
    match (op, reply) {
        (Op::Change(_) | Op::Restore | Op::Zero { .. }, Reply::Done) => Outcome::ok(String::new()),
        (Op::List { svc, format }, Reply::Listing(l)) => Outcome::ok(output::list(&l, svc.is_none(), format, &names)),
        (Op::Counters, Reply::Counters(r)) => Outcome::ok(output::counters(&r)),
        (Op::Health, Reply::Health(h)) => Outcome::ok(output::health(&h)),
        (Op::Vrrp, Reply::Vrrp(v)) => Outcome::ok(output::vrrp(&v)),
        (Op::Daemons, Reply::Daemons(d)) => Outcome::ok(output::daemons(&d)),
        (Op::GetLaddr { .. }, Reply::Listing(l)) => Outcome::ok(output::laddrs(&l)),
        (Op::Conns { numeric, .. }, Reply::Conns(l)) => Outcome::ok(output::conns(&l, numeric, &names)),
        (Op::Timeouts, Reply::Timeouts { tcp, tcpfin, udp }) => Outcome::ok(output::timeouts(tcp, tcpfin, udp)),
        (Op::Marks, Reply::Marks(rules)) => Outcome::ok(marks::list(&rules)),
        (Op::Change(_) | Op::Zero { .. }, Reply::Error(e)) => Outcome::fail(REFUSED, e),
        (Op::Restore, Reply::Error(e)) => Outcome::fail(REFUSED, format!("restore refused, nothing changed: {e}")),
        (_, Reply::Error(e)) => Outcome::fail(LIST_FAILED, e),
        (_, other) => Outcome::fail(USAGE, format!("unexpected reply from fnatd: {other:?}")),
    }
}

/// `--from-keepalived FILE`: keepalived.conf's VRRP instances and virtual servers as fnatd's TOML,
/// on stdout.
fn from_keepalived(files: &[String]) -> Outcome {
    let [file] = files else {
        return Outcome::fail(USAGE, "--from-keepalived takes one file: fnatctl --from-keepalived FILE");
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => return Outcome::fail(USAGE, format!("{file}: cannot read: {e}")),
    };
    match ctrl::keepalived::to_fnat_toml(&text) {
        Ok(toml) => Outcome::ok(toml),
        Err(e) => Outcome::fail(USAGE, format!("{file}: {e}")),
    }
}

/// `-S`: the services, then the classifier's rules (two requests), printed as ipvsadm-save does.
fn save(client: &mut Client, order: Order) -> Outcome {
    let listing = match client.call(&Request::new(vec![Command::List { svc: None, traffic: false }]), TIMEOUT) {
        Ok(Reply::Listing(l)) => l,
        Ok(Reply::Error(e)) => return Outcome::fail(LIST_FAILED, e),
        Ok(other) => return Outcome::fail(USAGE, format!("unexpected reply from fnatd: {other:?}")),
        Err(e) => return Outcome::fail(USAGE, e),
    };
    match client.call(&Request::new(vec![Command::ListMarks]), TIMEOUT) {
        Ok(Reply::Marks(rules)) => Outcome::ok(ctrl::save::save(&listing, &rules, order)),
        Ok(Reply::Error(e)) => Outcome::fail(LIST_FAILED, e),
        Ok(other) => Outcome::fail(USAGE, format!("unexpected reply from fnatd: {other:?}")),
        Err(e) => Outcome::fail(USAGE, e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_no_input(args: &[String], ctl: Option<&str>) -> Outcome {
        run(args, ctl, &|| Ok(String::new()))
    }

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn help_and_version_need_no_fnatd() {
        let help = run_no_input(&args("-h"), Some("/nonexistent/fnat.ctl"));
        assert_eq!(help.code, 0);
        assert!(help.stdout.contains("the default in fnat; plain ipvsadm"));
        assert!(help.stdout.contains("no DNS lookups"));
        assert!(help.stdout.contains("--set tcp tcpfin udp"));
        assert!(!help.stdout.contains("(not supported yet)"), "-m, -g and -i work now");
        assert!(help.stdout.contains("Not supported yet: -o, -6"));
        assert!(help.stdout.contains("--zero            -Z") && help.stdout.contains("--exact        -X"));
        assert!(help.stdout.contains("--persistent   -p [timeout]") && help.stdout.contains("--netmask      -M"));
        assert!(help.stdout.contains("the default scheduler is wlc"));
        assert!(help.stdout.contains("--sched-flags  -b flags") && help.stdout.contains("--thresholds"));
        let v = run_no_input(&args("--version"), None);
        assert_eq!(v.code, 0);
        assert_eq!(
            v.stdout,
            format!("fnatctl {} (fnat control protocol 9; ipvsadm-compatible)\n", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn exit_statuses_follow_ipvsadm() {
        let ctl = Some("/nonexistent/fnat.ctl");
        let o = run_no_input(&args("--frobnicate"), ctl);
        assert_eq!((o.code, o.stderr.as_deref()), (255, Some("unknown option '--frobnicate' (try 'fnatctl --help')")));
        let o = run_no_input(&args("-n"), ctl);
        assert_eq!((o.code, o.stderr.as_deref()), (255, Some("no command given (try 'fnatctl --help')")));
        let o = run_no_input(&args("-A -t 10.0.0.300:80 -s rr"), ctl);
        assert_eq!((o.code, o.stderr.as_deref()), (2, Some("invalid address '10.0.0.300:80'")));
        let o = run_no_input(&args("-A -t 10.0.0.1:80 -s rr"), ctl);
        assert_eq!(
            (o.code, o.stderr.as_deref()),
            (2, Some("fnatd is not running (/nonexistent/fnat.ctl: no such file)"))
        );
        assert!(o.stdout.is_empty());
    }
}
