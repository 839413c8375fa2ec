use std::net::Ipv4Addr;
use std::path::Path;

use super::*;
use crate::control::{ControlState, NoConnections};
use crate::lb::{FwdMethod, Protocol, ServiceKey};
use crate::lb::{Persistence, SchedFlags, SchedKind, Services};
use ctrl::msg::{Command, DestSpec, Listing, Request, ServiceSpec};
use ctrl::save::restore_commands;
use ctrl::vocab::MarkRule;

fn key(proto: Protocol, last: u8, vport: u16) -> ServiceKey {
    ServiceKey { protocol: proto, vip: Ipv4Addr::new(10, 0, 0, last), vport, fwmark: 0 }
}

fn dest(last: u8, port: u16, method: FwdMethod, weight: u32) -> DestSpec {
    DestSpec { addr: Ipv4Addr::new(10, 1, 0, last), port, weight, method, upper: 0, lower: 0 }
}

fn apply(st: &mut ControlState, commands: Vec<Command>) {
    st.apply(&Request { id: 1, commands }, &NoConnections).unwrap();
}

#[test]
fn save_is_ipvsadm_save_n_in_ipvsadms_order_with_fnats_lines_after() {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
    let udp = key(Protocol::Udp, 1, 53);
    let tcp = key(Protocol::Tcp, 2, 80);
    let fwm = ServiceKey::mark(7);
    let spec = |key, scheduler| ServiceSpec { key, scheduler, flags: SchedFlags::default(), persistence: None };
    let mut persistent = spec(tcp, SchedKind::Wrr);
    persistent.persistence = Some(Persistence::secs(360).with_netmask(24));
    persistent.flags.fallback = true;
    let mut thresholds = dest(12, 8080, FwdMethod::FullNat, 3);
    (thresholds.upper, thresholds.lower) = (100, 10);
    // Created out of order: saving sorts as ipvsadm does.
    apply(
        &mut st,
        vec![
            Command::AddService(spec(fwm, SchedKind::Rr)),
            Command::AddDest { svc: fwm, dest: dest(20, 0, FwdMethod::Dr, 1) },
            Command::AddService(spec(udp, SchedKind::Rr)),
            Command::AddDest { svc: udp, dest: dest(13, 53, FwdMethod::Nat, 0) },
            Command::AddService(persistent),
            Command::AddDest { svc: tcp, dest: thresholds },
            Command::AddDest { svc: tcp, dest: dest(11, 80, FwdMethod::Tun, 1) },
        ],
    );
    // A later --add-laddr adds to the default local address.
    apply(&mut st, vec![Command::AddLaddr { svc: tcp, addr: Ipv4Addr::new(10, 1, 0, 201) }]);
    let rule =
        MarkRule { mark: 7, dst: Ipv4Addr::new(10, 0, 1, 0), prefix: 24, proto: Some(Protocol::Udp), ports: vec![] };
    let listing = st.listing(None, &NoConnections).unwrap();
    assert_eq!(
        save(&listing, &[rule], Order::Sorted),
        "-A -t 10.0.0.2:80 -s wrr -b flag-1 -p 360 -M 255.255.255.0\n\
         -a -t 10.0.0.2:80 -r 10.1.0.11:80 -i -w 1\n\
         -a -t 10.0.0.2:80 -r 10.1.0.12:8080 -b -w 3 -x 100 -y 10\n\
         -A -u 10.0.0.1:53 -s rr\n\
         -a -u 10.0.0.1:53 -r 10.1.0.13:53 -m -w 0\n\
         -A -f 7 -s rr\n\
         -a -f 7 -r 10.1.0.20:0 -g -w 1\n\
         --add-laddr -t 10.0.0.2:80 -z 10.1.0.10\n\
         --add-laddr -t 10.0.0.2:80 -z 10.1.0.201\n\
         --add-laddr -u 10.0.0.1:53 -z 10.1.0.10\n\
         --add-laddr -f 7 -z 10.1.0.10\n\
         --add-mark -f 7 --dst 10.0.1.0/24 --proto udp --dports any\n"
    );
    assert_eq!(save(&Listing { conn_table_size: 1, services: vec![] }, &[], Order::Sorted), "");
}

#[test]
fn the_rules_file_recreates_each_list_of_real_servers_in_its_order() {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
    let tcp = key(Protocol::Tcp, 2, 80);
    let spec = ServiceSpec { key: tcp, scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None };
    let mut cmds = vec![Command::AddService(spec)];
    cmds.extend([12, 13, 11].map(|last| Command::AddDest { svc: tcp, dest: dest(last, 80, FwdMethod::FullNat, 1) }));
    apply(&mut st, cmds);
    let order = |st: &ControlState| -> Vec<u8> {
        st.listing(None, &NoConnections).unwrap().services[0].dests.iter().map(|d| d.spec.addr.octets()[3]).collect()
    };
    assert_eq!(order(&st), vec![11, 13, 12], "IPVS's list: the last added first");
    let listing = st.listing(None, &NoConnections).unwrap();
    let lines =
        |o| save(&listing, &[], o).lines().filter(|l| l.starts_with("-a")).map(str::to_owned).collect::<Vec<_>>();
    let rs = |l: &[String]| l.iter().map(|l| l.split_whitespace().nth(4).unwrap().to_owned()).collect::<Vec<_>>();
    assert_eq!(rs(&lines(Order::Sorted)), ["10.1.0.11:80", "10.1.0.12:80", "10.1.0.13:80"]);
    assert_eq!(rs(&lines(Order::Kernel)), ["10.1.0.11:80", "10.1.0.13:80", "10.1.0.12:80"]);
    // The rules file replays the additions oldest first: restored, the list is the same.
    let text = save_state(&st).unwrap();
    let mut back = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
    apply(&mut back, ctrl::save::parse_rules(&text).unwrap());
    assert_eq!(order(&back), vec![11, 13, 12]);
}

#[test]
fn laddrs_given_with_the_service_in_one_request_replace_the_defaults() {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
    let tcp = key(Protocol::Tcp, 2, 80);
    let spec = ServiceSpec { key: tcp, scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None };
    let laddr = |last| Command::AddLaddr { svc: tcp, addr: Ipv4Addr::new(10, 1, 0, last) };
    apply(&mut st, vec![Command::AddService(spec), laddr(30), laddr(10)]);
    let laddrs = |st: &ControlState| st.listing(None, &NoConnections).unwrap().services[0].laddrs.clone();
    assert_eq!(laddrs(&st), [Ipv4Addr::new(10, 1, 0, 30), Ipv4Addr::new(10, 1, 0, 10)]);
    // Later requests add, and a duplicate is refused as before.
    apply(&mut st, vec![laddr(31)]);
    assert_eq!(laddrs(&st).len(), 3);
    assert!(st.apply(&Request { id: 1, commands: vec![laddr(31)] }, &NoConnections).is_err());
}

#[test]
fn restore_names_the_line_of_the_first_error_and_skips_comments() {
    let parse = |words: &[String]| match words[0].as_str() {
        "-C" => Ok(Command::Clear),
        "-L" => Ok(Command::List { svc: None, traffic: false }),
        other => Err(format!("unknown '{other}'")),
    };
    assert_eq!(restore_commands("# saved\n\n  -C  \n-C\n", parse).unwrap(), vec![Command::Clear, Command::Clear]);
    let err = restore_commands("-C\n# x\n-X 1\n-C\n", parse).unwrap_err();
    assert_eq!(err.to_string(), "line 3: unknown '-X'");
    assert_eq!(restore_commands("-L\n", parse).unwrap_err().line, 1);
}

fn temp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fnat-rules-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const CONFIG: &str = r#"
[eal]
no_huge = true
memory_mb = 256
[workers]
lcores = [1]
[[port]]
name = "lan"
device = "net_af_packet0,iface=veth0"
addresses = ["10.0.0.1/24"]
[local]
addresses = ["10.1.0.10"]
[[service]]
protocol = "tcp"
vip = "10.0.0.100"
port = 80
scheduler = "wrr"
  [[service.real_server]]
  address = "10.1.0.2"
  port = 8080
  weight = 3
"#;

#[test]
fn the_rules_file_is_rewritten_after_a_change_and_read_back_at_start() {
    let dir = temp("cycle");
    let rules = dir.join("rules");
    let toml = format!("{CONFIG}\n[control]\nrules = \"{}\"\n", rules.display());
    let cfg = crate::config::Config::parse(Path::new("fnatd.toml"), &toml).unwrap();
    // No file yet: the configuration's services.
    let mut st = initial_state(&cfg).unwrap();
    let from_config = save_state(&st).unwrap();
    assert!(from_config.starts_with("-A -t 10.0.0.100:80 -s wrr\n-a -t 10.0.0.100:80 -r 10.1.0.2:8080 -b -w 3\n"));
    // A change (as serve_control applies it), then the file is rewritten with the -S text.
    let names = ctrl::cli::PortNames::parse("");
    let change = |line: &str| {
        let words: Vec<String> = line.split_whitespace().map(str::to_owned).collect();
        ctrl::cli::change(&words, &names).unwrap()
    };
    let before = st.generation();
    st.apply(&Request::new(vec![change("-A -u 10.0.0.101:53 -s rr")]), &NoConnections).unwrap();
    assert_ne!(st.generation(), before);
    write_rules(&rules, &save_state(&st).unwrap()).unwrap();
    let text = std::fs::read_to_string(&rules).unwrap();
    assert!(text.contains("-A -u 10.0.0.101:53 -s rr\n") && text.starts_with(&from_config[..30]), "{text}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temporary file is left behind");
    // A restart reads it back: the same configuration, the config's service not added twice.
    let again = initial_state(&cfg).unwrap();
    assert_eq!(save_state(&again).unwrap(), text);
    // An invalid file stops the start, naming the file and the line.
    std::fs::write(&rules, "-A -t 10.0.0.9:80 -s rr\n-a -t 10.0.0.9:80 -r 10.1.0.999:80\n").unwrap();
    let err = initial_state(&cfg).unwrap_err();
    assert_eq!(err, format!("rules file {}: line 2: invalid address '10.1.0.999:80'", rules.display()));
    // A file that parses but does not apply changes nothing.
    let mut st2 = cfg.state.clone();
    std::fs::write(&rules, "-A -t 10.0.0.9:80 -s rr\n-A -t 10.0.0.100:80 -s rr\n").unwrap();
    let err = load_rules(&rules, &mut st2).unwrap_err();
    assert_eq!(err, format!("rules file {}: Service already exists", rules.display()));
    assert_eq!(save_state(&st2).unwrap(), from_config);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn clear_then_restore_of_a_saved_file_rebuilds_the_same_table() {
    let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 1024);
    let text = "-A -t 10.0.0.100:80 -s rr\n-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -b -w 1\n-A -f 1 -s rr -p 360\n\
                -a -f 1 -r 10.1.0.11:0 -b -w 1\n--add-mark -f 1 --dst 10.0.0.106/32 --proto tcp --dports 80,443\n";
    st.apply(&Request::new(parse_rules(text).unwrap()), &NoConnections).unwrap();
    let saved = save_state(&st).unwrap();
    st.apply(&Request::new(vec![Command::Clear]), &NoConnections).unwrap();
    assert!(st.mark_rules().is_empty(), "-C clears the classifier rules too");
    st.apply(&Request::new(parse_rules(&saved).unwrap()), &NoConnections).expect("restoring the saved file after -C");
    assert_eq!(save_state(&st).unwrap(), saved);
}
