use std::net::Ipv4Addr;

use crate::msg::{DestSpec, ServiceSpec};
use crate::vocab::{Persistence, Protocol, SchedFlags, SchedKind};

use super::*;

fn names() -> PortNames {
    PortNames::parse("http 80/tcp www\nhttp-alt 8080/tcp\ndomain 53/udp\n")
}

fn parse_str(s: &str) -> Result<Action, UsageError> {
    let args: Vec<String> = s.split_whitespace().map(str::to_owned).collect();
    parse(&args, None, &names())
}

/// The operation of a valid command line.
fn op(s: &str) -> Op {
    match parse_str(s) {
        Ok(Action::Run { op, .. }) => op,
        other => panic!("{s}: {other:?}"),
    }
}

/// The message of an invalid command line (exit status 2).
fn invalid_msg(s: &str) -> String {
    match parse_str(s) {
        Err(UsageError::Invalid(m)) => m,
        other => panic!("{s}: {other:?}"),
    }
}

fn tcp(vip: [u8; 4], vport: u16) -> ServiceKey {
    ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::from(vip), vport, fwmark: 0 }
}

const VIP: [u8; 4] = [10, 0, 0, 100];
const RIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);

#[test]
fn add_and_edit_service() {
    let spec =
        |scheduler| ServiceSpec { key: tcp(VIP, 80), scheduler, flags: SchedFlags::default(), persistence: None };
    assert_eq!(op("-A -t 10.0.0.100:80 -s rr"), Op::Change(Command::AddService(spec(SchedKind::Rr))));
    assert_eq!(
        op("--add-service --tcp-service 10.0.0.100:80 --scheduler wrr"),
        Op::Change(Command::AddService(spec(SchedKind::Wrr)))
    );
    assert_eq!(op("-E -t 10.0.0.100:80 -s wrr"), Op::Change(Command::EditService(spec(SchedKind::Wrr))));
    assert_eq!(
        op("--edit-service --tcp-service=10.0.0.100:80 --scheduler=rr"),
        Op::Change(Command::EditService(spec(SchedKind::Rr)))
    );
    // Bundled short options and attached values, as popt allows.
    assert_eq!(op("-At 10.0.0.100:80 -srr"), Op::Change(Command::AddService(spec(SchedKind::Rr))));
    assert_eq!(op("-At10.0.0.100:80 -s rr"), Op::Change(Command::AddService(spec(SchedKind::Rr))));
    // Port names from the services file.
    assert_eq!(op("-A -t 10.0.0.100:http -s rr"), Op::Change(Command::AddService(spec(SchedKind::Rr))));
    assert_eq!(op("-A -t 10.0.0.100:www -s rr"), Op::Change(Command::AddService(spec(SchedKind::Rr))));
    let udp = ServiceKey { protocol: Protocol::Udp, vip: Ipv4Addr::from(VIP), vport: 53, fwmark: 0 };
    assert_eq!(
        op("-A -u 10.0.0.100:domain -s rr"),
        Op::Change(Command::AddService(ServiceSpec {
            key: udp,
            scheduler: SchedKind::Rr,
            flags: SchedFlags::default(),
            persistence: None,
        }))
    );
    assert_eq!(op("--add-service --udp-service 10.0.0.100:53 -s rr"), op("-A -u 10.0.0.100:domain -s rr"));
}

#[test]
fn delete_service_and_clear() {
    assert_eq!(op("-D -t 10.0.0.100:80"), Op::Change(Command::DelService(tcp(VIP, 80))));
    assert_eq!(op("--delete-service -t 10.0.0.100:80"), Op::Change(Command::DelService(tcp(VIP, 80))));
    // Without a port the service is port 0: fnatd will say it does not exist.
    assert_eq!(op("-D -t 10.0.0.100"), Op::Change(Command::DelService(tcp(VIP, 0))));
    assert_eq!(op("-C"), Op::Change(Command::Clear));
    assert_eq!(op("--clear"), Op::Change(Command::Clear));
}

#[test]
fn add_edit_and_delete_real_servers() {
    let svc = tcp(VIP, 80);
    let dest = |port, weight, method| DestSpec { addr: RIP, port, weight, method, upper: 0, lower: 0 };
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -w 3"),
        Op::Change(Command::AddDest { svc, dest: dest(8080, 3, FwdMethod::FullNat) })
    );
    // The port defaults to the service's, the weight to 1, the method to FULLNAT.
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11"),
        Op::Change(Command::AddDest { svc, dest: dest(80, 1, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("--add-server --tcp-service 10.0.0.100:80 --real-server 10.1.0.11:http-alt --fullnat --weight 0"),
        Op::Change(Command::AddDest { svc, dest: dest(8080, 0, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -w 65535 -b"),
        Op::Change(Command::EditDest { svc, dest: dest(8080, 65535, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("--edit-server -t 10.0.0.100:80 -r 10.1.0.11:8080"),
        Op::Change(Command::EditDest { svc, dest: dest(8080, 1, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("-d -t 10.0.0.100:80 -r 10.1.0.11:8080"),
        Op::Change(Command::DelDest { svc, addr: RIP, port: 8080 })
    );
    assert_eq!(
        op("--delete-server -t 10.0.0.100:80 -r 10.1.0.11"),
        Op::Change(Command::DelDest { svc, addr: RIP, port: 80 })
    );
}

#[test]
fn every_forwarding_method_is_parsed() {
    let svc = tcp(VIP, 80);
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m"),
        Op::Change(Command::AddDest {
            svc,
            dest: DestSpec { addr: RIP, port: 8080, weight: 1, method: FwdMethod::Nat, upper: 0, lower: 0 }
        })
    );
    // Direct routing and tunnelling cannot map ports: the service's port, as ipvsadm does.
    for (flag, method) in
        [("-g", FwdMethod::Dr), ("--gatewaying", FwdMethod::Dr), ("-i", FwdMethod::Tun), ("--ipip", FwdMethod::Tun)]
    {
        assert_eq!(
            op(&format!("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 {flag}")),
            Op::Change(Command::AddDest {
                svc,
                dest: DestSpec { addr: RIP, port: 80, weight: 1, method, upper: 0, lower: 0 }
            })
        );
    }
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 --masquerading"),
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m")
    );
}

#[test]
fn list() {
    assert_eq!(
        op("-L"),
        Op::List {
            svc: None,
            format: ListFormat { numeric: false, sort: true, columns: Columns::Plain, exact: false }
        }
    );
    assert_eq!(
        op("-l"),
        Op::List {
            svc: None,
            format: ListFormat { numeric: false, sort: true, columns: Columns::Plain, exact: false }
        }
    );
    assert_eq!(
        op("-Ln"),
        Op::List { svc: None, format: ListFormat { numeric: true, sort: true, columns: Columns::Plain, exact: false } }
    );
    assert_eq!(
        op("--list --numeric --nosort"),
        Op::List {
            svc: None,
            format: ListFormat { numeric: true, sort: false, columns: Columns::Plain, exact: false }
        }
    );
    assert_eq!(
        op("-L -n --sort"),
        Op::List { svc: None, format: ListFormat { numeric: true, sort: true, columns: Columns::Plain, exact: false } }
    );
    assert_eq!(
        op("-L -n -t 10.0.0.100:80"),
        Op::List {
            svc: Some(tcp(VIP, 80)),
            format: ListFormat { numeric: true, sort: true, columns: Columns::Plain, exact: false }
        }
    );
    // No argument at all lists the table, as ipvsadm does; so does --ctl alone.
    assert_eq!(
        op(""),
        Op::List {
            svc: None,
            format: ListFormat { numeric: false, sort: true, columns: Columns::Plain, exact: false }
        }
    );
    assert_eq!(
        op("--ctl /tmp/x.ctl"),
        Op::List {
            svc: None,
            format: ListFormat { numeric: false, sort: true, columns: Columns::Plain, exact: false }
        }
    );
}

#[test]
fn local_addresses() {
    let svc = tcp(VIP, 80);
    let lip = Ipv4Addr::new(10, 1, 0, 12);
    assert_eq!(op("--add-laddr -t 10.0.0.100:80 -z 10.1.0.12"), Op::Change(Command::AddLaddr { svc, addr: lip }));
    assert_eq!(op("-P -t 10.0.0.100:80 --laddr=10.1.0.12"), Op::Change(Command::AddLaddr { svc, addr: lip }));
    assert_eq!(op("--del-laddr -t 10.0.0.100:80 -z 10.1.0.12"), Op::Change(Command::DelLaddr { svc, addr: lip }));
    assert_eq!(op("-Q -t 10.0.0.100:80 -z 10.1.0.12"), Op::Change(Command::DelLaddr { svc, addr: lip }));
    assert_eq!(op("--get-laddr"), Op::GetLaddr { svc: None });
    assert_eq!(op("-G -t 10.0.0.100:80"), Op::GetLaddr { svc: Some(svc) });
}

#[test]
fn help_and_version() {
    assert_eq!(parse_str("-h"), Ok(Action::Help));
    assert_eq!(parse_str("--help"), Ok(Action::Help));
    assert_eq!(parse_str("-v"), Ok(Action::Version));
    assert_eq!(parse_str("--version"), Ok(Action::Version));
}

#[test]
fn the_control_file_comes_from_ctl_then_fnat_ctl_then_the_default() {
    let args = |s: &str| s.split_whitespace().map(str::to_owned).collect::<Vec<_>>();
    let ctl = |a: &[String], env| match parse(a, env, &names()) {
        Ok(Action::Run { ctl, .. }) => ctl,
        other => panic!("{other:?}"),
    };
    assert_eq!(ctl(&args("-C"), None), PathBuf::from("/dev/shm/fnat.ctl"));
    assert_eq!(ctl(&args("-C"), Some("/run/a.ctl")), PathBuf::from("/run/a.ctl"));
    assert_eq!(ctl(&args("-C --ctl /run/b.ctl"), Some("/run/a.ctl")), PathBuf::from("/run/b.ctl"));
    assert_eq!(ctl(&args("--ctl=/run/c.ctl -C"), None), PathBuf::from("/run/c.ctl"));
    assert_eq!(
        parse(&args("-C"), Some(""), &names()),
        Err(invalid("the control file path is empty (--ctl or FNAT_CTL)"))
    );
}

/// The service spec of a valid `-A`/`-E` line.
fn service_spec(line: &str) -> ServiceSpec {
    match op(line) {
        Op::Change(Command::AddService(spec) | Command::EditService(spec)) => spec,
        other => panic!("{line}: {other:?}"),
    }
}

/// ipvsadm's scheduler names (as its man page lists them).
const SCHEDULERS: [&str; 13] = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"];

#[test]
fn every_ipvs_scheduler_is_accepted_and_wlc_is_the_default() {
    assert_eq!(SchedKind::ALL.map(SchedKind::name), SCHEDULERS, "fnat knows every IPVS scheduler");
    for name in SCHEDULERS {
        for line in
            [format!("-A -t 10.0.0.100:80 -s {name}"), format!("--edit-service -t 10.0.0.100:80 --scheduler={name}")]
        {
            let spec = service_spec(&line);
            assert_eq!((spec.key, spec.scheduler.name(), spec.flags), (tcp(VIP, 80), name, SchedFlags::default()));
        }
    }
    // As ipvsadm: without -s, wlc, for -A and for -E alike.
    assert_eq!(service_spec("-A -t 10.0.0.100:80").scheduler.name(), "wlc");
    assert_eq!(service_spec("-E -t 10.0.0.100:80").scheduler.name(), "wlc");
    assert_eq!(service_spec("-E -t 10.0.0.100:80").flags, SchedFlags::default());
}

#[test]
fn unknown_schedulers_are_refused() {
    for bad in ["fair", "WRR", "rr,wrr", ""] {
        let line: Vec<String> = ["-A", "-t", "10.0.0.100:80", "-s", bad].into_iter().map(str::to_owned).collect();
        match parse(&line, None, &names()) {
            Err(UsageError::Invalid(m)) => assert!(m.contains(&format!("'{bad}'")), "-s {bad:?}: {m}"),
            other => panic!("-s {bad:?}: {other:?}"),
        }
    }
}

fn flags(fallback: bool, port: bool, flag3: bool) -> SchedFlags {
    SchedFlags { fallback, port, flag3 }
}

#[test]
fn sched_flags_on_add_and_edit_service() {
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -s rr -b flag-1").flags, flags(true, false, false));
    assert_eq!(service_spec("-E -t 10.0.0.100:80 -s wrr -b flag-2,flag-3").flags, flags(false, true, true));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 --sched-flags flag-3,flag-1").flags, flags(true, false, true));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -s rr --sched-flags=flag-2").flags, flags(false, true, false));
    // Bundled and attached, as popt; empty items are skipped (strtok), repeats are fine.
    assert_eq!(service_spec("-Ab flag-1 -t 10.0.0.100:80").flags, flags(true, false, false));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -bflag-2 -s rr").flags, flags(false, true, false));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -b ,flag-1,,flag-1,").flags, flags(true, false, false));
    // The scheduler may come after -b: the flags are checked against it.
    assert_eq!(service_spec("-E -t 10.0.0.100:80 -b flag-3 -s lc").scheduler.name(), "lc");
    for (line, msg) in [
        ("-A -t 10.0.0.100:80 -s rr -b sh-port", "incompatible scheduler flag `sh-port'"),
        ("-A -t 10.0.0.100:80 -s wrr -b flag-1,mh-fallback", "incompatible scheduler flag `mh-fallback'"),
        // Without -s the scheduler is wlc, which has no flags of its own.
        ("-E -t 10.0.0.100:80 -b sh-fallback", "incompatible scheduler flag `sh-fallback'"),
        ("-A -t 10.0.0.100:80 -s sh -b mh-port", "incompatible scheduler flag `mh-port'"),
        ("-A -t 10.0.0.100:80 -s rr -b flag-4", "invalid scheduler flag `flag-4'"),
        ("-A -t 10.0.0.100:80 -s rr -b flag-1,sh_port", "invalid scheduler flag `sh_port'"),
        ("-A -t 10.0.0.100:80 -s rr -b ,", "invalid scheduler flag `,'"),
        ("-A -t 10.0.0.100:80 -s rr -b", "option '-b' needs a value"),
        ("-A -t 10.0.0.100:80 --sched-flags", "option '--sched-flags' needs a value"),
        ("-A -t 10.0.0.100:80 -b flag-1 --sched-flags flag-2", "multiple 'sched-flags' options specified"),
        ("-A -t 10.0.0.100:80 -s rr --fullnat", "Illegal 'forwarding-method' option with the 'add-service' command"),
        (
            "-a -t 10.0.0.100:80 -r 10.1.0.11 --sched-flags flag-1",
            "Illegal 'sched-flags' option with the 'add-server' command",
        ),
        ("-L --sched-flags flag-1", "Illegal 'sched-flags' option with the 'list' command"),
        ("-D -t 10.0.0.100:80 --sched-flags=flag-1", "Illegal 'sched-flags' option with the 'delete-service' command"),
        (
            "-t 10.0.0.100:80 -b flag-1 -A",
            "option '-b' must come after the command: -A|-E take -b sched-flags, -a|-e take -b for full NAT",
        ),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
    // An empty -b is no flags, as ipvsadm.
    let line: Vec<String> =
        ["-A", "-t", "10.0.0.100:80", "-s", "rr", "-b", ""].into_iter().map(str::to_owned).collect();
    match parse(&line, None, &names()) {
        Ok(Action::Run { op: Op::Change(Command::AddService(spec)), .. }) => {
            assert_eq!(spec.flags, SchedFlags::default())
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn sh_and_mh_take_their_named_flags() {
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -s sh -b sh-fallback,sh-port").flags, flags(true, true, false));
    assert_eq!(service_spec("-E -t 10.0.0.100:80 -b mh-port -s mh").flags, flags(false, true, false));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -s mh -b mh-fallback,flag-3").flags, flags(true, false, true));
    assert_eq!(service_spec("-A -t 10.0.0.100:80 -s sh -b flag-1,flag-2").flags, flags(true, true, false));
}

#[test]
fn b_is_full_nat_on_real_server_commands() {
    let svc = tcp(VIP, 80);
    let fullnat = DestSpec { addr: RIP, port: 80, weight: 1, method: FwdMethod::FullNat, upper: 0, lower: 0 };
    assert_eq!(op("-a -t 10.0.0.100:80 -r 10.1.0.11 -b"), Op::Change(Command::AddDest { svc, dest: fullnat }));
    assert_eq!(op("-ab -t 10.0.0.100:80 -r 10.1.0.11"), Op::Change(Command::AddDest { svc, dest: fullnat }));
    assert_eq!(op("-e -t 10.0.0.100:80 -br 10.1.0.11"), Op::Change(Command::EditDest { svc, dest: fullnat }));
    assert_eq!(op("-e -t 10.0.0.100:80 -r 10.1.0.11 --fullnat"), Op::Change(Command::EditDest { svc, dest: fullnat }));
    // After -a, the word after -b is not its value.
    assert_eq!(invalid_msg("-a -t 10.0.0.100:80 -r 10.1.0.11 -b sh-port"), "unexpected argument sh-port");
    assert_eq!(invalid_msg("-a -t 10.0.0.100:80 -r 10.1.0.11 -b -m"), "multiple 'forwarding-method' options specified");
}

#[test]
fn thresholds_on_add_and_edit_server() {
    let svc = tcp(VIP, 80);
    let dest = |upper, lower| DestSpec { addr: RIP, port: 8080, weight: 1, method: FwdMethod::FullNat, upper, lower };
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -x 100 -y 50"),
        Op::Change(Command::AddDest { svc, dest: dest(100, 50) })
    );
    assert_eq!(
        op("--edit-server -t 10.0.0.100:80 -r 10.1.0.11:8080 --u-threshold=2147483647 --l-threshold 0"),
        Op::Change(Command::EditDest { svc, dest: dest(2_147_483_647, 0) })
    );
    assert_eq!(
        op("-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -x0"),
        Op::Change(Command::EditDest { svc, dest: dest(0, 0) })
    );
    // Only the range is checked here (as ipvsadm): fnatd refuses a lower threshold above the upper one.
    assert_eq!(
        op("-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -y 7"),
        Op::Change(Command::AddDest { svc, dest: dest(0, 7) })
    );
    for (line, msg) in [
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -x 2147483648", "illegal u_threshold specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -x abc", "illegal u_threshold specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -x 1.5", "illegal u_threshold specified"),
        ("-e -t 10.0.0.1:80 -r 10.1.0.1 -y 99999999999", "illegal l_threshold specified"),
        ("-e -t 10.0.0.1:80 -r 10.1.0.1 -y=1", "illegal l_threshold specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -x", "option '-x' needs a value"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -x 1 -x 2", "multiple 'u-threshold' options specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -y 1 --l-threshold 2", "multiple 'l-threshold' options specified"),
        ("-A -t 10.0.0.1:80 -x 5", "Illegal 'u-threshold' option with the 'add-service' command"),
        ("-d -t 10.0.0.1:80 -r 10.1.0.1 -y 5", "Illegal 'l-threshold' option with the 'delete-server' command"),
        ("-L -x 5", "Illegal 'u-threshold' option with the 'list' command"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
    let line: Vec<String> =
        ["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.1", "-x", "-1"].into_iter().map(str::to_owned).collect();
    assert_eq!(parse(&line, None, &names()), Err(invalid("illegal u_threshold specified")), "a value, even with '-'");
}

#[test]
fn list_thresholds() {
    let list = |svc, numeric, sort| Op::List {
        svc,
        format: ListFormat { numeric, sort, columns: Columns::Thresholds, exact: false },
    };
    assert_eq!(op("-L --thresholds"), list(None, false, true));
    assert_eq!(op("-Ln --thresholds --nosort"), list(None, true, false));
    assert_eq!(op("--list --thresholds -n -t 10.0.0.100:80"), list(Some(tcp(VIP, 80)), true, true));
    for (line, msg) in [
        ("-L -c --thresholds", "options conflicts in the list command"),
        ("-L --timeout --thresholds", "options conflicts in the list command"),
        (
            "-L --timeout -c --thresholds",
            "The option 'timeout' conflicts with the 'connection' option in the 'list' command",
        ),
        ("-L --thresholds --thresholds", "multiple 'thresholds' options specified"),
        ("-L --thresholds=1", "option '--thresholds' takes no value"),
        ("-A -t 10.0.0.1:80 --thresholds", "Illegal 'thresholds' option with the 'add-service' command"),
        ("--get-laddr --thresholds", "Illegal 'thresholds' option with the 'get-laddr' command"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn bad_addresses_and_ports_are_refused() {
    for (line, msg) in [
        ("-A -t 10.0.0.300:80 -s rr", "invalid address '10.0.0.300:80'"),
        ("-A -t 10.0.0:80 -s rr", "invalid address '10.0.0:80'"),
        ("-A -t 80 -s rr", "invalid address '80'"),
        ("-A -t :80 -s rr", "invalid address ':80'"),
        ("-A -t web.example:80 -s rr", "invalid address 'web.example:80' (host names are not resolved)"),
        ("-A -t [::1]:80 -s rr", "invalid address '[::1]:80': IPv6 is not supported yet"),
        ("-A -t fe80::1 -s rr", "invalid address 'fe80::1': IPv6 is not supported yet"),
        ("-A -t 10.0.0.1:65536 -s rr", "invalid port '65536' in '10.0.0.1:65536'"),
        ("-A -t 10.0.0.1: -s rr", "invalid port '' in '10.0.0.1:'"),
        ("-A -t 10.0.0.1:+80 -s rr", "invalid port '+80' in '10.0.0.1:+80'"),
        ("-A -t 10.0.0.1:nosuchservice -s rr", "invalid port 'nosuchservice' in '10.0.0.1:nosuchservice'"),
        ("-A -u 10.0.0.1:http -s rr", "invalid port 'http' in '10.0.0.1:http'"),
        ("-A -t 10.0.0.1 -s rr", "Zero port specified for non-persistent service"),
        ("-A -t 10.0.0.1:0 -s rr", "Zero port specified for non-persistent service"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.256", "invalid address '10.1.0.256'"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1:0", "real server port 0 is out of range (1 to 65535)"),
        ("--add-laddr -t 10.0.0.1:80 -z 10.1.0.999", "invalid address '10.1.0.999'"),
        ("--add-laddr -t 10.0.0.1:80 -z lip.example", "invalid address 'lip.example' (host names are not resolved)"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn bad_weights_are_refused() {
    for w in ["65536", "-1", "abc", "", "1.5", "99999999999"] {
        let line = vec!["-a", "-t", "10.0.0.1:80", "-r", "10.1.0.1", "-w", w]
            .into_iter()
            .map(str::to_owned)
            .collect::<Vec<_>>();
        assert_eq!(parse(&line, None, &names()), Err(invalid("illegal weight specified")), "-w {w:?}");
    }
}

#[test]
fn commands_and_options_combine_as_in_ipvsadm() {
    for (line, msg) in [
        ("-A -s rr", "You need to supply the 'service-address' option for the 'add-service' command"),
        ("-D", "You need to supply the 'service-address' option for the 'delete-service' command"),
        ("-a -t 10.0.0.1:80", "You need to supply the 'real-server' option for the 'add-server' command"),
        ("-e -t 10.0.0.1:80", "You need to supply the 'real-server' option for the 'edit-server' command"),
        ("-d -t 10.0.0.1:80", "You need to supply the 'real-server' option for the 'delete-server' command"),
        ("--add-laddr -t 10.0.0.1:80", "You need to supply the 'laddr' option for the 'add-laddr' command"),
        ("--del-laddr -z 10.1.0.1", "You need to supply the 'service-address' option for the 'del-laddr' command"),
        ("-A -t 10.0.0.1:80 -s rr -w 3", "Illegal 'weight' option with the 'add-service' command"),
        ("-A -t 10.0.0.1:80 -s rr -r 10.1.0.1", "Illegal 'real-server' option with the 'add-service' command"),
        ("-A -t 10.0.0.1:80 -s rr --fullnat", "Illegal 'forwarding-method' option with the 'add-service' command"),
        ("-A -t 10.0.0.1:80 -s rr -n", "Illegal 'numeric' option with the 'add-service' command"),
        ("-D -t 10.0.0.1:80 -s rr", "Illegal 'scheduler' option with the 'delete-service' command"),
        ("-C -t 10.0.0.1:80", "Illegal 'service-address' option with the 'flush' command"),
        ("-L -s rr", "Illegal 'scheduler' option with the 'list' command"),
        ("-L -z 10.1.0.1", "Illegal 'laddr' option with the 'list' command"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -s rr", "Illegal 'scheduler' option with the 'add-server' command"),
        ("-d -t 10.0.0.1:80 -r 10.1.0.1 -w 2", "Illegal 'weight' option with the 'delete-server' command"),
        ("-d -t 10.0.0.1:80 -r 10.1.0.1 -b", "Illegal 'forwarding-method' option with the 'delete-server' command"),
        (
            "--add-laddr -t 10.0.0.1:80 -z 10.1.0.1 -r 10.1.0.2",
            "Illegal 'real-server' option with the 'add-laddr' command",
        ),
        ("--get-laddr -z 10.1.0.1", "Illegal 'laddr' option with the 'get-laddr' command"),
        ("-A -C", "multiple commands specified"),
        ("-L -l", "multiple commands specified"),
        ("-A -t 10.0.0.1:80 -u 10.0.0.1:80 -s rr", "multiple 'service-address' options specified"),
        ("-A -t 10.0.0.1:80 -s rr -s wrr", "multiple 'scheduler' options specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -r 10.1.0.2", "multiple 'real-server' options specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -b -m", "multiple 'forwarding-method' options specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -w 1 -w 2", "multiple 'weight' options specified"),
        ("-Lnn", "multiple 'numeric' options specified"),
        ("-C --ctl /a --ctl /b", "multiple 'ctl' options specified"),
        ("-L extra", "unexpected argument extra"),
        ("-L -- extra", "unexpected argument extra"),
        ("-A -t", "option '-t' needs a value"),
        ("-A --tcp-service", "option '--tcp-service' needs a value"),
        ("-L --numeric=yes", "option '--numeric' takes no value"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn stats_rate_exact_and_their_precedence() {
    let list =
        |svc, numeric, columns, exact| Op::List { svc, format: ListFormat { numeric, sort: true, columns, exact } };
    assert_eq!(op("-L --stats"), list(None, false, Columns::Stats, false));
    assert_eq!(op("-Ln --rate"), list(None, true, Columns::Rate, false));
    assert_eq!(op("-L -n --stats --exact"), list(None, true, Columns::Stats, true));
    assert_eq!(op("-LnX --rate"), list(None, true, Columns::Rate, true));
    assert_eq!(op("--list --exact"), list(None, false, Columns::Plain, true));
    assert_eq!(op("-L --stats -t 10.0.0.100:80"), list(Some(tcp(VIP, 80)), false, Columns::Stats, false));
    // ipvsadm's precedence: --stats, then --rate, then --thresholds.
    assert_eq!(op("-L --rate --stats --thresholds"), list(None, false, Columns::Stats, false));
    assert_eq!(op("-L --thresholds --rate"), list(None, false, Columns::Rate, false));
    for (line, msg) in [
        ("-L -c --stats", "options conflicts in the list command"),
        ("-L --timeout --rate", "options conflicts in the list command"),
        ("-L --stats --stats", "multiple 'stats' options specified"),
        ("-L --rate=1", "option '--rate' takes no value"),
        ("-L -X -X", "multiple 'exact' options specified"),
        ("-A -t 10.0.0.1:80 --stats", "Illegal 'stats' option with the 'add-service' command"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 --rate", "Illegal 'rate' option with the 'add-server' command"),
        ("-S --exact", "Illegal 'exact' option with the 'save' command"),
        ("-Z --stats", "Illegal 'stats' option with the 'zero' command"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn zero_and_counters() {
    assert_eq!(op("-Z"), Op::Zero { svc: None });
    assert_eq!(op("--zero -t 10.0.0.100:80"), Op::Zero { svc: Some(tcp(VIP, 80)) });
    assert_eq!(op("-Z -f 7"), Op::Zero { svc: Some(ServiceKey::mark(7)) });
    assert_eq!(op("--counters"), Op::Counters);
    assert_eq!(op("--health"), Op::Health);
    assert_eq!(op("--vrrp"), Op::Vrrp);
    assert_eq!(op("--reload-checks"), Op::Change(Command::ReloadChecks));
    for (line, msg) in [
        ("-Z -n", "Illegal 'numeric' option with the 'zero' command"),
        ("-Z -t 10.0.0.100:80 -r 10.1.0.1", "Illegal 'real-server' option with the 'zero' command"),
        ("-Z -L", "multiple commands specified"),
        ("-Z -t 10.0.0.300:80", "invalid address '10.0.0.300:80'"),
        ("--counters -n", "Illegal 'numeric' option with the 'counters' command"),
        ("--counters -t 10.0.0.100:80", "Illegal 'service-address' option with the 'counters' command"),
        ("-Z extra", "unexpected argument extra"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn the_sync_daemon_commands_parse_as_ipvsadm_s() {
    use crate::msg::SyncRole;
    assert_eq!(
        op("--start-daemon master --mcast-interface lan --syncid 7"),
        Op::Change(Command::StartDaemon { role: SyncRole::Master, syncid: 7, interface: "lan".into() })
    );
    assert_eq!(
        op("--start-daemon=backup --mcast-interface=dmz"),
        Op::Change(Command::StartDaemon { role: SyncRole::Backup, syncid: 0, interface: "dmz".into() })
    );
    assert_eq!(op("--stop-daemon backup"), Op::Change(Command::StopDaemon { role: SyncRole::Backup }));
    assert_eq!(op("-L --daemon"), Op::Daemons);
    for (line, msg) in [
        ("--start-daemon master", "You need to supply the 'mcast-interface' option for the 'start-daemon' command"),
        ("--start-daemon leader --mcast-interface lan", "daemon state 'leader' is neither master nor backup"),
        ("--start-daemon master --mcast-interface lan --syncid 256", "illegal syncid '256': use 0 to 255"),
        ("--stop-daemon master --syncid 1", "Illegal 'syncid' option with the 'stop-daemon' command"),
        ("-A -t 10.0.0.1:80 --mcast-interface lan", "Illegal 'mcast-interface' option with the 'add-service' command"),
        ("-L -c --daemon", "options conflicts in the list command"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn ipvsadm_features_fnat_lacks_are_named() {
    for (line, msg) in [
        ("-L --persistent-conn", "persistent connections (--persistent-conn) is not supported yet"),
        ("-A -f 1 -6", "IPv6 (-6) is not supported yet"),
        ("-A -u 10.0.0.1:53 -s rr -o", "one-packet scheduling (-o) is not supported yet"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn unknown_options_and_a_missing_command_send_to_the_help() {
    assert_eq!(parse_str("--frobnicate"), Err(UsageError::TryHelp("unknown option '--frobnicate'".into())));
    assert_eq!(parse_str("-A -k"), Err(UsageError::TryHelp("unknown option '-k'".into())));
    assert_eq!(parse_str("-n"), Err(UsageError::TryHelp("no command given".into())));
    assert_eq!(parse_str("-t 10.0.0.1:80"), Err(UsageError::TryHelp("no command given".into())));
    assert_eq!(
        UsageError::TryHelp("unknown option '-k'".into()).to_string(),
        "unknown option '-k' (try 'fnatctl --help')"
    );
}

#[test]
fn set_timeouts() {
    let set = |tcp, tcpfin, udp| Op::Change(Command::SetTimeouts { tcp, tcpfin, udp });
    assert_eq!(op("--set 900 120 300"), set(900, 120, 300));
    assert_eq!(op("--set 0 0 0"), set(0, 0, 0));
    assert_eq!(op("--set 2678400 1 0"), set(2_678_400, 1, 0));
    // popt takes the values wherever they are.
    assert_eq!(op("--set 600 --ctl /run/x.ctl 60 30"), set(600, 60, 30));
    assert_eq!(op("--set -- 1 2 3"), set(1, 2, 3));
    for (line, msg) in [
        ("--set", "--set option requires 3 timeout values"),
        ("--set 900 120", "--set option requires 3 timeout values"),
        ("--set 1 2 3 4", "unexpected argument 4"),
        ("--set 2678401 0 0", "invalid timeout value `2678401' specified"),
        ("--set 1 99999999999 0", "invalid timeout value `99999999999' specified"),
        ("--set 1 2 abc", "invalid timeout value `abc' specified"),
        ("--set +5 0 0", "invalid timeout value `+5' specified"),
        ("--set 1.5 0 0", "invalid timeout value `1.5' specified"),
        ("--set 1 2 3 -n", "Illegal 'numeric' option with the 'set' command"),
        ("--set 1 2 3 -t 10.0.0.1:80", "Illegal 'service-address' option with the 'set' command"),
        ("--set 1 2 3 -c", "Illegal 'connection' option with the 'set' command"),
        ("--set 1 2 3 -L", "multiple commands specified"),
        ("--set=1 2 3", "option '--set' takes no value"),
        ("-L 5", "unexpected argument 5"),
        ("-C 1 2 3", "unexpected argument 1"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
    // A negative value is an option, as with popt.
    assert_eq!(parse_str("--set -1 0 0"), Err(UsageError::TryHelp("unknown option '-1'".into())));
}

#[test]
fn list_timeouts() {
    assert_eq!(op("-L --timeout"), Op::Timeouts);
    assert_eq!(op("--list --timeout"), Op::Timeouts);
    assert_eq!(op("-Ln --timeout"), Op::Timeouts);
    assert_eq!(op("-l --timeout --nosort"), Op::Timeouts);
    for (line, msg) in [
        ("-L --timeout -c", "The option 'timeout' conflicts with the 'connection' option in the 'list' command"),
        (
            "-L --timeout -t 10.0.0.100:80",
            "The option 'timeout' conflicts with the 'service-address' option in the 'list' command",
        ),
        ("-L --timeout --timeout", "multiple 'timeout' options specified"),
        ("-A -t 10.0.0.1:80 -s rr --timeout", "Illegal 'timeout' option with the 'add-service' command"),
        ("--timeout", "no command given"),
    ] {
        match parse_str(line) {
            Err(UsageError::Invalid(m) | UsageError::TryHelp(m)) => assert_eq!(m, msg, "{line}"),
            other => panic!("{line}: {other:?}"),
        }
    }
}

#[test]
fn list_connections() {
    let conns = |svc, numeric| Op::Conns { svc, numeric };
    assert_eq!(op("-L -c"), conns(None, false));
    assert_eq!(op("-Lc"), conns(None, false));
    assert_eq!(op("-Lnc"), conns(None, true));
    assert_eq!(op("-lcn"), conns(None, true));
    assert_eq!(op("--list --connection --numeric"), conns(None, true));
    assert_eq!(op("-L -c --nosort"), conns(None, false), "nothing to sort");
    // fnat's extension: the connections of one service.
    assert_eq!(op("-Lnc -t 10.0.0.100:80"), conns(Some(tcp(VIP, 80)), true));
    let udp = ServiceKey { protocol: Protocol::Udp, vip: Ipv4Addr::from(VIP), vport: 53, fwmark: 0 };
    assert_eq!(op("-L --connection -u 10.0.0.100:domain"), conns(Some(udp), false));
    for (line, msg) in [
        ("-L -c -c", "multiple 'connection' options specified"),
        ("-Lcc", "multiple 'connection' options specified"),
        ("-a -t 10.0.0.1:80 -r 10.1.0.1 -c", "Illegal 'connection' option with the 'add-server' command"),
        ("--get-laddr -c", "Illegal 'connection' option with the 'get-laddr' command"),
        ("-L -c -t 10.0.0.300:80", "invalid address '10.0.0.300:80'"),
        ("-L -c extra", "unexpected argument extra"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn persistence_takes_an_optional_timeout_like_popt() {
    let p = |line: &str| service_spec(line).persistence;
    let secs = |n| Some(Persistence::secs(n));
    // Without a value: ipvsadm's 360 s (its man page says 300; its code, IPVS_SVC_PERSISTENT_TIMEOUT).
    assert_eq!(p("-A -t 10.0.0.100:80 -s rr -p"), secs(360));
    assert_eq!(p("-A -t 10.0.0.100:80 -p -s rr"), secs(360), "the next word starts with '-': no value");
    assert_eq!(p("-A -t 10.0.0.100:80 -s rr -p 600"), secs(600));
    assert_eq!(p("-A -t 10.0.0.100:80 -p600"), secs(600));
    assert_eq!(p("-At 10.0.0.100:80 -p 1"), secs(1));
    assert_eq!(p("-A -t 10.0.0.100:80 --persistent"), secs(360));
    assert_eq!(p("-A -t 10.0.0.100:80 --persistent 2678400"), secs(2_678_400));
    assert_eq!(p("-A -t 10.0.0.100:80 --persistent=60 -s rr"), secs(60));
    assert_eq!(p("-E -t 10.0.0.100:80 -s rr"), None, "-E without -p: not persistent");
    assert_eq!(p("-A -t 10.0.0.100:80 -p -M 255.255.255.0"), Some(Persistence::secs(360).with_netmask(24)));
    assert_eq!(p("-E -t 10.0.0.100:80 -M 255.255.0.0 --persistent 90"), Some(Persistence::secs(90).with_netmask(16)));
    assert_eq!(p("-A -t 10.0.0.100:80 -p --netmask=0.0.0.0"), Some(Persistence::secs(360).with_netmask(0)));
    assert_eq!(p("-A -t 10.0.0.100:80 -p -M 255.255.255.255"), secs(360));
    for (line, msg) in [
        ("-A -t 10.0.0.100:80 -p 0", "invalid timeout value `0' specified"),
        ("-A -t 10.0.0.100:80 -p 2678401", "invalid timeout value `2678401' specified"),
        ("-A -t 10.0.0.100:80 -p five", "invalid timeout value `five' specified"),
        ("-A -t 10.0.0.100:80 -p +5", "invalid timeout value `+5' specified"),
        ("-A -t 10.0.0.100:80 -M 255.255.255.0", "the persistence netmask (-M) needs persistence (-p)"),
        ("-A -t 10.0.0.100:80 -p -M 255.255.256.0", "illegal virtual server persistent mask specified"),
        ("-A -t 10.0.0.100:80 -p -M 24", "illegal virtual server persistent mask specified"),
        ("-A -t 10.0.0.100:80 -p -M 255.0.255.0", "persistent mask 255.0.255.0 is not contiguous (like 255.255.255.0)"),
        ("-A -t 10.0.0.100:80 -p -p 5", "multiple 'persistent' options specified"),
        ("-A -t 10.0.0.100:80 -p -M", "option '-M' needs a value"),
        ("-a -t 10.0.0.100:80 -r 10.1.0.1 -p", "Illegal 'persistent' option with the 'add-server' command"),
        ("-D -t 10.0.0.100:80 -p", "Illegal 'persistent' option with the 'delete-service' command"),
        ("-L -p", "Illegal 'persistent' option with the 'list' command"),
        ("-L -M 255.0.0.0", "Illegal 'netmask' option with the 'list' command"),
        ("--set 1 2 3 -p", "Illegal 'persistent' option with the 'set' command"),
    ] {
        assert_eq!(invalid_msg(line), msg, "{line}");
    }
}

#[test]
fn port_zero_needs_persistence_and_its_real_servers_have_port_zero() {
    let spec = service_spec("-A -t 10.0.0.100:0 -s rr -p");
    assert_eq!((spec.key, spec.persistence), (tcp(VIP, 0), Some(Persistence::secs(360))));
    assert_eq!(service_spec("-A -t 10.0.0.100 -p 30").key, tcp(VIP, 0), "no port is port 0");
    assert_eq!(invalid_msg("-E -t 10.0.0.100:0 -s rr"), "Zero port specified for non-persistent service");
    let svc = tcp(VIP, 0);
    let dest = |port, method| DestSpec { addr: RIP, port, weight: 1, method, upper: 0, lower: 0 };
    assert_eq!(
        op("-a -t 10.0.0.100:0 -r 10.1.0.11 -m"),
        Op::Change(Command::AddDest { svc, dest: dest(0, FwdMethod::Nat) })
    );
    assert_eq!(
        op("-a -t 10.0.0.100 -r 10.1.0.11:0"),
        Op::Change(Command::AddDest { svc, dest: dest(0, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("-a -t 10.0.0.100:0 -r 10.1.0.11 -g"),
        Op::Change(Command::AddDest { svc, dest: dest(0, FwdMethod::Dr) })
    );
    assert_eq!(op("-d -t 10.0.0.100:0 -r 10.1.0.11"), Op::Change(Command::DelDest { svc, addr: RIP, port: 0 }));
    // Another port goes to fnatd, which refuses it for a port-0 service.
    assert_eq!(
        op("-a -t 10.0.0.100:0 -r 10.1.0.11:8080"),
        Op::Change(Command::AddDest { svc, dest: dest(8080, FwdMethod::FullNat) })
    );
}

#[test]
fn fwmark_services_work_wherever_tcp_and_udp_services_do() {
    let fwm = ServiceKey::mark(1);
    let pers = Some(Persistence::secs(360));
    let spec = ServiceSpec { key: fwm, scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: pers };
    assert_eq!(op("-A -f 1 -s rr -p"), Op::Change(Command::AddService(spec)));
    // Unlike a port-0 service, a fwmark service need not be persistent.
    let plain = ServiceSpec { persistence: None, ..spec };
    assert_eq!(op("--add-service --fwmark-service=1 -s rr"), Op::Change(Command::AddService(plain)));
    assert_eq!(op("-E -f 1 -s rr -p"), Op::Change(Command::EditService(spec)));
    assert_eq!(op("-D -f 1"), Op::Change(Command::DelService(fwm)));
    // Real servers keep the packet's port (0) unless a port is given; DR cannot map it.
    let dest = |port, method| DestSpec { addr: RIP, port, weight: 1, method, upper: 0, lower: 0 };
    assert_eq!(op("-a -f 1 -r 10.1.0.11 -m"), Op::Change(Command::AddDest { svc: fwm, dest: dest(0, FwdMethod::Nat) }));
    assert_eq!(
        op("-a -f 1 -r 10.1.0.11:8080 -b"),
        Op::Change(Command::AddDest { svc: fwm, dest: dest(8080, FwdMethod::FullNat) })
    );
    assert_eq!(
        op("-e -f 1 -r 10.1.0.11:8080 -g"),
        Op::Change(Command::EditDest { svc: fwm, dest: dest(0, FwdMethod::Dr) })
    );
    assert_eq!(op("-d -f 1 -r 10.1.0.11"), Op::Change(Command::DelDest { svc: fwm, addr: RIP, port: 0 }));
    let laddr = Ipv4Addr::new(192, 168, 0, 1);
    assert_eq!(op("--add-laddr -f 1 -z 192.168.0.1"), Op::Change(Command::AddLaddr { svc: fwm, addr: laddr }));
    assert_eq!(
        op("-L -n -f 1"),
        Op::List {
            svc: Some(fwm),
            format: ListFormat { numeric: true, sort: true, columns: Columns::Plain, exact: false }
        }
    );
    assert_eq!(op("-L -c -f 1"), Op::Conns { svc: Some(fwm), numeric: false });
    for bad in ["0", "x", "-1", "4294967296", "10.0.0.1"] {
        assert_eq!(invalid_msg(&format!("-D -f {bad}")), format!("invalid firewall mark '{bad}' (1 to 4294967295)"));
    }
    assert_eq!(invalid_msg("-A -f 1 -t 10.0.0.1:80"), "multiple 'service-address' options specified");
}

#[test]
fn mark_rules_are_added_deleted_and_listed() {
    use crate::vocab::MarkRule;
    let rule = MarkRule {
        mark: 1,
        dst: Ipv4Addr::from(VIP),
        prefix: 32,
        proto: Some(Protocol::Tcp),
        ports: vec![(80, 80), (443, 443)],
    };
    assert_eq!(
        op("--add-mark -f 1 --dst 10.0.0.100 --proto tcp --dports 80,443"),
        Op::Change(Command::AddMark(rule.clone()))
    );
    assert_eq!(
        op("--del-mark -f 1 --dst=10.0.0.100/32 --proto=tcp --dports=80,443"),
        Op::Change(Command::DelMark(rule))
    );
    let any = MarkRule { mark: 7, dst: Ipv4Addr::new(10, 0, 1, 0), prefix: 24, proto: None, ports: vec![] };
    assert_eq!(op("--add-mark -f 7 --dst 10.0.1.0/24"), Op::Change(Command::AddMark(any)));
    assert_eq!(op("--list-marks"), Op::Marks);
    assert_eq!(op("-S"), Op::Save { sort: true });
    assert_eq!(op("--save -n"), Op::Save { sort: true });
    assert_eq!(op("-S -n --nosort"), Op::Save { sort: false });
    assert_eq!(op("-R"), Op::Restore);
    assert_eq!(
        invalid_msg("--add-mark --dst 10.0.0.100"),
        "You need to supply the 'service-address' option for the 'add-mark' command"
    );
    assert_eq!(invalid_msg("--add-mark -f 1"), "You need to supply the 'dst' option for the 'add-mark' command");
    assert_eq!(
        invalid_msg("--add-mark -t 10.0.0.1:80 --dst 10.0.0.1"),
        "--add-mark and --del-mark name the mark with -f"
    );
    assert_eq!(invalid_msg("-A -f 1 --dst 10.0.0.1"), "Illegal 'dst' option with the 'add-service' command");
    assert_eq!(invalid_msg("--list-marks -f 1"), "Illegal 'service-address' option with the 'list-marks' command");
    assert_eq!(
        invalid_msg("--add-mark -f 1 --dst 10.0.0.1 --dports 0"),
        "invalid --dports: '0' is not a port from 1 to 65535"
    );
}

#[test]
fn every_long_option_means_its_short_one() {
    for (long, short) in [
        (
            "--add-service --tcp-service 10.0.0.100:80 --scheduler wrr --persistent 600 --netmask 255.255.255.0",
            "-A -t 10.0.0.100:80 -s wrr -p 600 -M 255.255.255.0",
        ),
        ("--edit-service --udp-service=10.0.0.100:53 --scheduler=rr", "-E -u 10.0.0.100:53 -s rr"),
        ("--delete-service --fwmark-service 3", "-D -f 3"),
        ("--clear", "-C"),
        (
            "--add-server -t 10.0.0.100:80 --real-server 10.1.0.11:8080 --masquerading --weight 3 --u-threshold 9 --l-threshold 4",
            "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -m -w 3 -x 9 -y 4",
        ),
        ("--edit-server -t 10.0.0.100:80 -r 10.1.0.11 --gatewaying", "-e -t 10.0.0.100:80 -r 10.1.0.11 -g"),
        ("--edit-server -t 10.0.0.100:80 -r 10.1.0.11 --ipip", "-e -t 10.0.0.100:80 -r 10.1.0.11 -i"),
        ("--edit-server -t 10.0.0.100:80 -r 10.1.0.11:8080 --fullnat", "-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -b"),
        ("--delete-server -t 10.0.0.100:80 -r 10.1.0.11:8080", "-d -t 10.0.0.100:80 -r 10.1.0.11:8080"),
        ("--list --numeric --stats --exact", "-L -n --stats -X"),
        ("--list --numeric --rate -t 10.0.0.100:80", "-Ln --rate -t 10.0.0.100:80"),
        ("--list --connection --numeric", "-L -c -n"),
        ("--list --timeout", "-L --timeout"),
        ("--zero --tcp-service 10.0.0.100:80", "-Z -t 10.0.0.100:80"),
        ("--save --numeric", "-S -n"),
        ("--restore", "-R"),
        ("--set 900 120 300", "--set 900 120 300"),
        ("--add-laddr -t 10.0.0.100:80 --laddr 10.1.0.10", "-P -t 10.0.0.100:80 -z 10.1.0.10"),
        ("--del-laddr -t 10.0.0.100:80 --laddr 10.1.0.10", "-Q -t 10.0.0.100:80 -z 10.1.0.10"),
        ("--get-laddr", "-G"),
        ("--help", "-h"),
        ("--version", "-v"),
    ] {
        assert_eq!(parse_str(long), parse_str(short), "{long}");
        assert!(parse_str(long).is_ok(), "{long}: {:?}", parse_str(long));
    }
}
