//! The real fnatctl binary against a stand-in fnatd: the control `Server` and a `ControlState`
//! answered on a thread of this test, exactly as fnatd's main loop does (no DPDK needed).

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use dataplane::control::{ControlState, Server};
use dataplane::lb::{DestId, Services};

/// fnatd's control loop on a thread.
struct Fnatd {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    state: Arc<Mutex<Option<ControlState>>>,
    thread: Option<JoinHandle<()>>,
}

impl Fnatd {
    fn start(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "fnatctl-test-{}-{name}-{}.ctl",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let mut server = Server::create(&path).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicUsize::new(0));
        let state = Arc::new(Mutex::new(None));
        let (flag, count, keep) = (stop.clone(), requests.clone(), state.clone());
        let thread = std::thread::spawn(move || {
            let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
            // Made-up connection counts, so that the columns show something.
            let counts = |id: DestId| (id.0 * 2, id.0 * 3 + 1);
            while !flag.load(Ordering::Relaxed) {
                while let Some(incoming) = server.poll() {
                    count.fetch_add(1, Ordering::Relaxed);
                    let reply = st.answer(incoming.request, &counts);
                    server.reply(incoming.seq, &reply).unwrap();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            *keep.lock().unwrap() = Some(st);
        });
        Self { path, stop, requests, state, thread: Some(thread) }
    }

    fn requests(&self) -> usize {
        self.requests.load(Ordering::Relaxed)
    }

    /// Stops the loop and hands back the state.
    fn finish(mut self) -> ControlState {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.state.lock().unwrap().take().unwrap()
    }
}

impl Drop for Fnatd {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// What one fnatctl run did.
#[derive(Debug)]
struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn fnatctl_env(ctl: &Path, args: &str, env: Option<&Path>) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fnatctl"));
    cmd.env_remove("FNAT_CTL");
    match env {
        Some(e) => {
            cmd.env("FNAT_CTL", e);
        }
        None => {
            cmd.arg("--ctl").arg(ctl);
        }
    }
    cmd.args(args.split_whitespace());
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// Runs fnatctl against `d`; asserts success and returns stdout.
fn ok(d: &Fnatd, args: &str) -> String {
    let r = fnatctl_env(&d.path, args, None);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""), "fnatctl {args}");
    r.stdout
}

/// Runs fnatctl against `d`; asserts exit status `code`, no output, and exactly `msg` on stderr.
fn fails(d: &Fnatd, args: &str, code: i32, msg: &str) {
    let r = fnatctl_env(&d.path, args, None);
    assert_eq!(r.code, code, "fnatctl {args}: {r:?}");
    assert_eq!(r.stderr, format!("fnatctl: {msg}\n"), "fnatctl {args}");
    assert_eq!(r.stdout, "", "fnatctl {args}");
}

const TITLES: &str = "\
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
";

#[test]
fn services_and_real_servers_are_added_listed_edited_and_deleted() {
    let d = Fnatd::start("session");
    assert_eq!(ok(&d, "-A -t 10.0.0.100:80 -s rr"), "");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12:8080 -w 3");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080");
    ok(&d, "--add-service --udp-service 10.0.0.100:53 --scheduler wrr");
    ok(&d, "-a -u 10.0.0.100:53 -r 10.1.0.21 -b -w 2");
    assert_eq!(
        ok(&d, "-L -n"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:80 rr
  -> 10.1.0.11:8080               FullNat 1      2          4         
  -> 10.1.0.12:8080               FullNat 3      0          1         
UDP  10.0.0.100:53 wrr
  -> 10.1.0.21:53                 FullNat 2      4          7         
"
        )
    );
    ok(&d, "-E -t 10.0.0.100:80 -s wrr");
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -w 5");
    ok(&d, "-d -t 10.0.0.100:80 -r 10.1.0.12:8080");
    assert_eq!(
        ok(&d, "-Ln -t 10.0.0.100:80"),
        format!(
            "{TITLES}\
TCP  10.0.0.100:80 wrr
  -> 10.1.0.11:8080               FullNat 5      2          4         
"
        )
    );
    ok(&d, "-D -t 10.0.0.100:80");
    assert_eq!(
        ok(&d, "-l -n"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
UDP  10.0.0.100:53 wrr
  -> 10.1.0.21:53                 FullNat 2      4          7         
"
        )
    );
    ok(&d, "-C");
    assert_eq!(ok(&d, "-Ln"), format!("IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}"));
    assert!(d.finish().is_empty());
}

#[test]
fn refused_changes_exit_255_with_one_line_and_change_nothing() {
    let d = Fnatd::start("refused");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080");
    let before = ok(&d, "-Ln");
    fails(&d, "-A -t 10.0.0.100:80 -s wrr", 255, "Service already exists");
    fails(&d, "-E -t 10.0.0.100:81 -s wrr", 255, "No such service");
    fails(&d, "-D -t 10.0.0.100:81", 255, "No such service");
    fails(&d, "-a -t 10.0.0.100:81 -r 10.1.0.11", 255, "Service not defined");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080", 255, "Destination already exists");
    fails(&d, "-e -t 10.0.0.100:80 -r 10.1.0.99:8080", 255, "No such destination");
    fails(&d, "-d -t 10.0.0.100:80 -r 10.1.0.11", 255, "No such destination");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12 -m", 255, "forwarding method Masq (-m) is not supported yet");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12 -g", 255, "forwarding method Route (-g) is not supported yet");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12 -i", 255, "forwarding method Tunnel (-i) is not supported yet");
    fails(&d, "-A -t 10.1.0.10:80 -s rr", 255, "virtual address 10.1.0.10 is a local address");
    // A listing that fails exits 1, like ipvsadm's.
    fails(&d, "-L -n -t 10.0.0.100:81", 1, "No such service");
    fails(&d, "--get-laddr -t 10.0.0.100:81", 1, "No such service");
    assert_eq!(ok(&d, "-Ln"), before);
}

#[test]
fn bad_input_never_reaches_fnatd() {
    let d = Fnatd::start("bad-input");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    let sent = d.requests();
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11 -w 70000", 2, "illegal weight specified");
    fails(&d, "-A -t 10.0.0.300:80 -s rr", 2, "invalid address '10.0.0.300:80'");
    fails(&d, "-A -t 10.0.0.101:80 -s fair", 2, "unknown scheduler 'fair' (supported: rr, wrr)");
    fails(
        &d,
        "-A -t 10.0.0.101:80",
        2,
        "no scheduler given (-s): ipvsadm's default, wlc, is not supported yet; use -s rr or -s wrr",
    );
    fails(&d, "-A -t 10.0.0.101:80 -s wlc", 2, "scheduler 'wlc' is not supported yet (supported: rr, wrr)");
    fails(&d, "-A -t 10.0.0.101:80 -s rr -p", 2, "persistence (-p) is not supported yet");
    fails(&d, "-A -t 10.0.0.101 -s rr", 2, "Zero port specified for non-persistent service");
    fails(&d, "-a -t 10.0.0.100:80", 2, "You need to supply the 'real-server' option for the 'add-server' command");
    fails(&d, "--bogus", 255, "unknown option '--bogus' (try 'fnatctl --help')");
    assert_eq!(d.requests(), sent);
}

#[test]
fn local_addresses_are_managed_per_service() {
    let d = Fnatd::start("laddr");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    ok(&d, "-A -u 10.0.0.100:53 -s rr");
    ok(&d, "--add-laddr -t 10.0.0.100:80 -z 10.1.0.12");
    assert_eq!(
        ok(&d, "--get-laddr"),
        "\
Prot VIP:VPORT             TOTAL    SNAT_IP
TCP  10.0.0.100:80         2
                                    10.1.0.10
                                    10.1.0.12
UDP  10.0.0.100:53         1
                                    10.1.0.10
"
    );
    fails(&d, "--add-laddr -t 10.0.0.100:80 -z 10.1.0.12", 255, "Local address already exists");
    fails(&d, "-P -t 10.0.0.100:80 -z 10.0.0.100", 255, "local address 10.0.0.100 is a virtual service address");
    ok(&d, "--del-laddr -t 10.0.0.100:80 -z 10.1.0.10");
    fails(&d, "-Q -t 10.0.0.100:80 -z 10.1.0.10", 255, "No such local address");
    assert_eq!(
        ok(&d, "-G -t 10.0.0.100:80"),
        "Prot VIP:VPORT             TOTAL    SNAT_IP\nTCP  10.0.0.100:80         1\n                                    10.1.0.12\n"
    );
    // The last local address of a service with FULLNAT real servers stays.
    ok(&d, "-a -t 10.0.0.100:80 -r 10.2.0.1");
    fails(
        &d,
        "--del-laddr -t 10.0.0.100:80 -z 10.1.0.12",
        255,
        "service TCP 10.0.0.100:80 has FULLNAT real servers but no local address",
    );
}

#[test]
fn without_numeric_ports_are_named_from_etc_services() {
    let services = std::fs::read_to_string("/etc/services").unwrap_or_default();
    let has = |name: &str, port: &str| {
        services.lines().any(|l| {
            let mut w = l.split_whitespace();
            w.next() == Some(name) && w.next() == Some(port)
        })
    };
    if !(has("http", "80/tcp") && has("http-alt", "8080/tcp")) {
        eprintln!("skipped: /etc/services lacks http or http-alt");
        return;
    }
    let d = Fnatd::start("names");
    ok(&d, "-A -t 10.0.0.100:http -s rr");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:http-alt");
    assert_eq!(
        ok(&d, "-L"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:http rr
  -> 10.1.0.11:http-alt           FullNat 1      0          1         
"
        )
    );
}

#[test]
fn fnat_ctl_names_the_control_file_and_no_argument_lists() {
    let d = Fnatd::start("env");
    ok(&d, "-A -t 10.0.0.100:8443 -s rr");
    let r = fnatctl_env(&d.path, "", Some(&d.path));
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(r.stdout, format!("IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}TCP  10.0.0.100:8443 rr\n"));
}

#[test]
fn without_fnatd_fnatctl_says_it_is_not_running() {
    let path = std::env::temp_dir().join(format!("fnatctl-test-{}-absent.ctl", std::process::id()));
    let r = fnatctl_env(&path, "-L -n", None);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr, format!("fnatctl: fnatd is not running ({}: no such file)\n", path.display()));
    assert_eq!(r.stdout, "");
}
