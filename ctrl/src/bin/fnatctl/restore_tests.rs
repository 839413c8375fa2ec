//! `-S` and `-R` end to end without fnatd: lines parsed by the command-line parser, applied to a
//! `ControlState` as one request, and saved back.

use std::net::Ipv4Addr;

use ctrl::cli::{self, PortNames};
use ctrl::msg::{Command, CtrlError, Reply, Request, encode_request};
use ctrl::save::{Order, RestoreError, restore_commands, save};
use ctrl::shm::DEFAULT_MAX_PAYLOAD;
use dataplane::control::{ControlState, NoConnections};
use dataplane::lb::Services;

fn state() -> ControlState {
    ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096)
}

fn commands(text: &str) -> Result<Vec<Command>, RestoreError> {
    let names = PortNames::parse("http 80/tcp\n");
    restore_commands(text, |words| cli::change(words, &names))
}

fn restore(st: &mut ControlState, text: &str) -> Result<(), String> {
    let cmds = commands(text).map_err(|e| e.to_string())?;
    st.apply(&Request { id: 1, commands: cmds }, &NoConnections).map(drop).map_err(|e| e.to_string())
}

fn saved(st: &ControlState) -> String {
    let listing = st.listing(None, &NoConnections).unwrap();
    let marks = match st.clone().apply(&Request { id: 2, commands: vec![Command::ListMarks] }, &NoConnections) {
        Ok(Reply::Marks(m)) => m,
        other => panic!("{other:?}"),
    };
    save(&listing, &marks, Order::Sorted)
}

/// Every feature, in the order and format `-S` prints.
const FULL: &str = "\
-A -t 10.0.0.100:80 -s wrr -b flag-1,flag-2 -p 360 -M 255.255.255.0
-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -b -w 3 -x 100 -y 10
-a -t 10.0.0.100:80 -r 10.1.0.12:8080 -b -w 1
-A -t 10.0.0.104:0 -s sh -b sh-port -p 60
-a -t 10.0.0.104:0 -r 10.1.0.16:0 -b -w 1
-A -u 10.0.0.101:53 -s rr
-a -u 10.0.0.101:53 -r 10.1.0.13:5353 -m -w 2
-A -f 1 -s wlc
-a -f 1 -r 10.1.0.14:0 -g -w 1
-a -f 1 -r 10.1.0.15:0 -i -w 0
--add-laddr -t 10.0.0.100:80 -z 10.1.0.200
--add-laddr -t 10.0.0.100:80 -z 10.1.0.201
--add-laddr -t 10.0.0.104:0 -z 10.1.0.10
--add-laddr -u 10.0.0.101:53 -z 10.1.0.202
--add-laddr -f 1 -z 10.1.0.10
--add-mark -f 1 --dst 10.0.0.102 --proto tcp --dports 80,443
--add-mark -f 1 --dst 10.0.1.0/24 --proto any --dports 8000-8100
";

#[test]
fn a_file_with_every_feature_round_trips() {
    let mut st = state();
    restore(&mut st, FULL).unwrap();
    assert_eq!(saved(&st), FULL);
    // Restoring the saved text into a fresh fnatd gives the same text again.
    let mut again = state();
    restore(&mut again, &saved(&st)).unwrap();
    assert_eq!(saved(&again), FULL);
}

#[test]
fn real_ipvsadm_save_output_restores() {
    // As `ipvsadm-save -n` writes it: no -C, no local addresses, -g/-m/-i and -w on every server.
    let ipvsadm = "\
-A -t 192.168.10.1:80 -s wlc -p 300
-a -t 192.168.10.1:80 -r 192.168.20.11:80 -g -w 1
-a -t 192.168.10.1:80 -r 192.168.20.12:8080 -m -w 2
-A -u 192.168.10.1:53 -s rr
-a -u 192.168.10.1:53 -r 192.168.20.13:53 -i -w 1
-A -f 10 -s rr
-a -f 10 -r 192.168.20.14:0 -g -w 1
";
    let mut st = state();
    restore(&mut st, ipvsadm).unwrap();
    let text = saved(&st);
    // fnat adds its lines (the default local addresses) after ipvsadm's, which are unchanged.
    assert_eq!(
        text,
        format!(
            "{ipvsadm}--add-laddr -t 192.168.10.1:80 -z 10.1.0.10\n--add-laddr -u 192.168.10.1:53 -z 10.1.0.10\n\
             --add-laddr -f 10 -z 10.1.0.10\n"
        )
    );
    // -R adds to what is there, like ipvsadm: a second service file keeps the first.
    restore(&mut st, "-A -t 192.168.10.2:http -s rr\n").unwrap();
    let text = saved(&st);
    assert!(text.starts_with(ipvsadm.lines().next().unwrap()) && text.contains("\n-A -t 192.168.10.2:80 -s rr\n"));
}

#[test]
fn a_bad_line_is_named_and_nothing_changes() {
    let mut st = state();
    restore(&mut st, FULL).unwrap();
    let before = saved(&st);
    let bad = "# comment\n\n-A -t 10.0.0.110:80 -s rr\n-a -t 10.0.0.110:80 -r 10.1.0.300:80 -m\n";
    let err = commands(bad).unwrap_err();
    assert_eq!(err.line, 4);
    assert!(err.to_string().starts_with("line 4: "), "{err}");
    assert_eq!(commands("-L -n\n").unwrap_err().to_string(), "line 1: '-L -n' is not a change");
    assert_eq!(commands("-A -t 10.0.0.1:80 -s nope").unwrap_err().line, 1);
    assert!(commands("--frobnicate").unwrap_err().reason.contains("unknown option"));
    // Every line parses, but the transaction fails (a service that exists): nothing is applied.
    let dup = "-A -t 10.0.0.110:80 -s rr\n-a -t 10.0.0.110:80 -r 10.1.0.30:80 -b -w 1\n-A -t 10.0.0.100:80 -s rr\n";
    assert_eq!(restore(&mut st, dup).unwrap_err(), CtrlError::ServiceExists(key()).to_string());
    assert_eq!(saved(&st), before);
    // An empty file is nothing to do.
    assert_eq!(commands("\n# nothing\n").unwrap(), vec![]);
}

fn key() -> dataplane::lb::ServiceKey {
    dataplane::lb::ServiceKey {
        protocol: dataplane::lb::Protocol::Tcp,
        vip: Ipv4Addr::new(10, 0, 0, 100),
        vport: 80,
        fwmark: 0,
    }
}

#[test]
fn a_large_restore_fits_in_one_request() {
    // 10,000 services of 10 real servers each, as -S writes them.
    let mut text = String::new();
    for s in 0..10_000u32 {
        let vip = Ipv4Addr::from(0x0a00_0000 + s);
        text.push_str(&format!("-A -t {vip}:80 -s wrr -p 360\n"));
        for d in 0..10u32 {
            let rs = Ipv4Addr::from(0xac10_0000 + s * 16 + d);
            text.push_str(&format!("-a -t {vip}:80 -r {rs}:8080 -b -w 1\n"));
        }
    }
    let cmds = commands(&text).unwrap();
    assert_eq!(cmds.len(), 110_000);
    let size = encode_request(&Request { id: u64::MAX, commands: cmds }).len() as u64;
    // About 11.6 MB against the default 16 MiB payload.
    assert!(size < DEFAULT_MAX_PAYLOAD, "{size} bytes");
    eprintln!("10,000 x 10 restore: {size} bytes of {DEFAULT_MAX_PAYLOAD}");
}
