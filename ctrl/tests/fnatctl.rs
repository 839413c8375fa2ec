//! The real fnatctl binary against a stand-in fnatd: the control `Server` and a `ControlState`
//! answered on a thread of this test, exactly as fnatd's main loop does (no DPDK needed), with a
//! fake gateway standing for the workers (made-up counts, connections the test sets).

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use ctrl::msg::{ConnListing, ConnView};
use ctrl::shm::Server;
use ctrl::vocab::{Counters, DestId, FwdMethod, Protocol, Rates, SchedFlags, ServiceKey};
use dataplane::control::{ControlState, Gateway};
use dataplane::lb::Services;

/// The workers as the test wants them: connection counts made up from the real server's id, and
/// the connections the test sets (plus a number of others that did not fit).
#[derive(Clone, Default)]
struct FakeGateway(Arc<Mutex<(Vec<ConnView>, u64)>>, Arc<Mutex<Vec<Zeroed>>>);

/// What one `-Z` asked the gateway to zero: everything, or a service with its real servers.
type Zeroed = Option<(ServiceKey, Vec<DestId>)>;

impl FakeGateway {
    fn set(&self, conns: Vec<ConnView>, more: u64) {
        *self.0.lock().unwrap() = (conns, more);
    }
}

impl Gateway for FakeGateway {
    fn conn_counts(&self, id: DestId) -> (u32, u32) {
        (id.0 * 2, id.0 * 3 + 1)
    }

    /// Traffic made up from the real server's id (ids start at 0).
    fn dest_stats(&self, id: DestId) -> (Counters, Rates) {
        let n = u64::from(id.0) + 1;
        let c = Counters { conns: n, inpkts: n * 10, outpkts: n * 9, inbytes: n * 1_000_000_000, outbytes: n };
        (c, Rates { cps: n, ..Rates::default() })
    }

    fn service_stats(&self, _: &ServiceKey) -> (Counters, Rates) {
        (Counters { conns: 77, ..Counters::default() }, Rates { inbps: 5, ..Rates::default() })
    }

    fn zero(&self, svc: Option<(ServiceKey, &[DestId])>) {
        self.1.lock().unwrap().push(svc.map(|(k, d)| (k, d.to_vec())));
    }

    fn connections(&self, svc: Option<ServiceKey>, max: usize) -> ConnListing {
        let (all, more) = &*self.0.lock().unwrap();
        let of_svc =
            |c: &&ConnView| svc.is_none_or(|k| c.proto == k.protocol && c.virt == SocketAddrV4::new(k.vip, k.vport));
        let matching: Vec<ConnView> = all.iter().filter(of_svc).cloned().collect();
        let omitted = more + u64::try_from(matching.len().saturating_sub(max)).unwrap();
        ConnListing { conns: matching.into_iter().take(max).collect(), omitted }
    }
}

/// fnatd's control loop on a thread.
struct Fnatd {
    path: PathBuf,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    state: Arc<Mutex<Option<ControlState>>>,
    gateway: FakeGateway,
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
        let gateway = FakeGateway::default();
        let (flag, count, keep, gw) = (stop.clone(), requests.clone(), state.clone(), gateway.clone());
        let thread = std::thread::spawn(move || {
            let laddrs = vec![Ipv4Addr::new(10, 1, 0, 10)];
            let mut st = ControlState::new(&Services::default(), laddrs, 4096);
            st.set_max_payload(server.max_payload());
            while !flag.load(Ordering::Relaxed) {
                while let Some(incoming) = server.poll() {
                    count.fetch_add(1, Ordering::Relaxed);
                    let reply = st.answer(incoming.request, &gw);
                    server.reply(incoming.seq, &reply).unwrap();
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            *keep.lock().unwrap() = Some(st);
        });
        Self { path, stop, requests, state, gateway, thread: Some(thread) }
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
    // -g and -i take the service's port (as ipvsadm): this names 10.1.0.11:80, which does not exist.
    fails(&d, "-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -g", 255, "No such destination");
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
    let r = fnatctl_env(&d.path, "-A -t 10.0.0.101:80 -s fair", None);
    assert_eq!(r.code, 2, "{r:?}");
    assert!(r.stderr.starts_with("fnatctl: ") && r.stderr.contains("'fair'") && r.stderr.lines().count() == 1, "{r:?}");
    fails(&d, "-A -t 10.0.0.101:80 -s rr -b sh-port", 2, "incompatible scheduler flag `sh-port'");
    fails(&d, "-A -t 10.0.0.101:80 -s rr -b fallback", 2, "invalid scheduler flag `fallback'");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11 -x 2147483648", 2, "illegal u_threshold specified");
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11 -y x", 2, "illegal l_threshold specified");
    fails(&d, "-L -c --thresholds", 2, "options conflicts in the list command");
    fails(&d, "-A -t 10.0.0.101:80 -s rr -p 0", 2, "invalid timeout value `0' specified");
    fails(&d, "-A -t 10.0.0.101:80 -M 255.255.255.0", 2, "the persistence netmask (-M) needs persistence (-p)");
    fails(&d, "-A -t 10.0.0.101:80 -f 1", 2, "multiple 'service-address' options specified");
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

#[test]
fn every_forwarding_method_is_listed_and_an_edit_changes_it() {
    let d = Fnatd::start("methods");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -b");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12:8080 -m -w 2");
    // Direct routing and tunnelling take the service's port, whatever -r says (as ipvsadm).
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.13:8080 -g -w 3");
    ok(&d, "--add-server -t 10.0.0.100:80 -r 10.1.0.14 --ipip -w 4");
    assert_eq!(
        ok(&d, "-Ln"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:80 rr
  -> 10.1.0.11:8080               FullNat 1      0          1         
  -> 10.1.0.12:8080               Masq    2      2          4         
  -> 10.1.0.13:80                 Route   3      4          7         
  -> 10.1.0.14:80                 Tunnel  4      6          10        
"
        )
    );
    // -e changes the method; the real server keeps its identity (and so its counts).
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.12:8080 -b -w 2");
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.13 -i -w 3");
    assert_eq!(
        ok(&d, "-Ln -t 10.0.0.100:80"),
        format!(
            "{TITLES}\
TCP  10.0.0.100:80 rr
  -> 10.1.0.11:8080               FullNat 1      0          1         
  -> 10.1.0.12:8080               FullNat 2      2          4         
  -> 10.1.0.13:80                 Tunnel  3      4          7         
  -> 10.1.0.14:80                 Tunnel  4      6          10        
"
        )
    );
    // A service without FULLNAT real servers needs no local address.
    ok(&d, "-d -t 10.0.0.100:80 -r 10.1.0.11:8080");
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.12:8080 -m -w 2");
    ok(&d, "--del-laddr -t 10.0.0.100:80 -z 10.1.0.10");
    fails(
        &d,
        "-e -t 10.0.0.100:80 -r 10.1.0.12:8080 -b",
        255,
        "service TCP 10.0.0.100:80 has FULLNAT real servers but no local address",
    );
}

#[test]
fn timeouts_are_set_and_listed_like_ipvsadm() {
    let d = Fnatd::start("timeouts");
    assert_eq!(ok(&d, "-L --timeout"), "Timeout (tcp tcpfin udp): 900 120 300\n");
    assert_eq!(ok(&d, "--set 600 0 30"), "");
    assert_eq!(ok(&d, "-Ln --timeout"), "Timeout (tcp tcpfin udp): 600 120 30\n");
    ok(&d, "--set 0 45 0");
    assert_eq!(ok(&d, "--list --timeout"), "Timeout (tcp tcpfin udp): 600 45 30\n");
    let sent = d.requests();
    fails(&d, "--set 2678401 0 0", 2, "invalid timeout value `2678401' specified");
    fails(&d, "--set 1 2", 2, "--set option requires 3 timeout values");
    fails(
        &d,
        "-L --timeout -t 10.0.0.100:80",
        2,
        "The option 'timeout' conflicts with the 'service-address' option in the 'list' command",
    );
    assert_eq!(d.requests(), sent, "refused before reaching fnatd");
    let st = d.finish();
    assert_eq!(st.timeouts().tcp(dataplane::lb::TcpState::Established), 600_000);
    assert_eq!(st.timeouts().tcp(dataplane::lb::TcpState::FinWait), 45_000);
    assert_eq!(st.timeouts().udp, 30_000);
    assert_eq!(st.generation(), 2);
}

fn sa(a: [u8; 4], port: u16) -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::from(a), port)
}

fn tcp_conn(cport: u16, vport: u16, state: &str, method: FwdMethod, lport: Option<u16>) -> ConnView {
    ConnView {
        proto: Protocol::Tcp,
        expire_ms: 61_900,
        state: state.into(),
        client: sa([192, 168, 1, 5], cport),
        virt: sa([10, 0, 0, 100], vport),
        local: lport.map(|p| sa([10, 1, 0, 10], p)),
        dest: sa([10, 1, 0, 11], 8080),
        method,
        fwmark: 0,
    }
}

const CONN_TITLE: &str = "pro expire state       source             virtual            destination\n";

#[test]
fn connections_are_listed_like_ipvsadm_with_a_local_column_for_fullnat() {
    let d = Fnatd::start("conns");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    ok(&d, "-A -t 10.0.0.100:81 -s rr");
    assert_eq!(ok(&d, "-Lnc"), format!("IPVS connection entries\n{CONN_TITLE}"));
    d.gateway.set(
        vec![
            tcp_conn(50_001, 80, "ESTABLISHED", FwdMethod::Nat, None),
            tcp_conn(50_002, 81, "SYN_RECV", FwdMethod::Dr, None),
            ConnView {
                proto: Protocol::Udp,
                expire_ms: 300_000,
                state: "UDP".into(),
                client: sa([192, 168, 1, 6], 5353),
                virt: sa([10, 0, 0, 100], 53),
                local: None,
                dest: sa([10, 1, 0, 21], 53),
                method: FwdMethod::Tun,
                fwmark: 0,
            },
        ],
        0,
    );
    assert_eq!(
        ok(&d, "-L -n -c"),
        format!(
            "IPVS connection entries\n{CONN_TITLE}\
TCP 01:01  ESTABLISHED 192.168.1.5:50001  10.0.0.100:80      10.1.0.11:8080
TCP 01:01  SYN_RECV    192.168.1.5:50002  10.0.0.100:81      10.1.0.11:8080
UDP 05:00  UDP         192.168.1.6:5353   10.0.0.100:53      10.1.0.21:53
"
        )
    );
    // One service's connections (fnat's extension), and a service that does not exist.
    assert_eq!(
        ok(&d, "-Lnc -t 10.0.0.100:81"),
        format!(
            "IPVS connection entries\n{CONN_TITLE}\
TCP 01:01  SYN_RECV    192.168.1.5:50002  10.0.0.100:81      10.1.0.11:8080
"
        )
    );
    fails(&d, "-Lnc -t 10.0.0.100:82", 1, "No such service");
    // FULLNAT connections bring DPVS's local column; the others show their client there.
    d.gateway.set(
        vec![
            tcp_conn(50_003, 80, "FIN_WAIT", FwdMethod::FullNat, Some(1030)),
            tcp_conn(50_004, 80, "ESTABLISHED", FwdMethod::Nat, None),
        ],
        5,
    );
    assert_eq!(
        ok(&d, "--list --connection --numeric"),
        "IPVS connection entries
pro expire state       source             virtual            local              destination
TCP 01:01  FIN_WAIT    192.168.1.5:50003  10.0.0.100:80      10.1.0.10:1030     10.1.0.11:8080
TCP 01:01  ESTABLISHED 192.168.1.5:50004  10.0.0.100:80      192.168.1.5:50004  10.1.0.11:8080
(5 more connections not shown)
"
    );
}

#[test]
fn a_huge_connection_table_is_cut_to_one_answer() {
    let d = Fnatd::start("many");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    let n = 60_000;
    let conns = (0..n)
        .map(|i| {
            let mut c = tcp_conn(u16::try_from(i % 60_000).unwrap(), 80, "ESTABLISHED", FwdMethod::FullNat, Some(2000));
            c.client = sa([172, 16, u8::try_from(i / 256 % 256).unwrap(), u8::try_from(i % 256).unwrap()], 1);
            c
        })
        .collect();
    d.gateway.set(conns, 0);
    let out = ok(&d, "-Lnc");
    let lines: Vec<&str> = out.lines().collect();
    let shown = lines.len() - 3;
    assert!(shown > 40_000 && shown < n, "{shown}");
    assert_eq!(lines.last().copied(), Some(format!("({} more connections not shown)", n - shown).as_str()));
}

const THRESHOLD_TITLES: &str = "\
Prot LocalAddress:Port            Uthreshold Lthreshold ActiveConn InActConn 
  -> RemoteAddress:Port
";

#[test]
fn every_scheduler_is_accepted_and_wlc_is_the_default() {
    let d = Fnatd::start("schedulers");
    let names = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"];
    for (i, name) in names.iter().enumerate() {
        ok(&d, &format!("-A -t 10.0.0.100:{} -s {name}", 1000 + i));
    }
    // As ipvsadm: no -s is wlc, for -A and for -E.
    ok(&d, "-A -u 10.0.0.100:53");
    ok(&d, "-A -t 10.0.0.100:2000 -s rr");
    ok(&d, "-E -t 10.0.0.100:2000");
    let mut want = format!("IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}");
    for (i, name) in names.iter().enumerate() {
        want.push_str(&format!("TCP  10.0.0.100:{} {name}\n", 1000 + i));
    }
    want.push_str("TCP  10.0.0.100:2000 wlc\nUDP  10.0.0.100:53 wlc\n");
    assert_eq!(ok(&d, "-Ln"), want);
}

#[test]
fn scheduler_flags_are_set_listed_and_replaced_like_ipvsadm() {
    let d = Fnatd::start("sched-flags");
    ok(&d, "-A -t 10.0.0.100:80 -s sh -b sh-fallback,sh-port");
    ok(&d, "-A -t 10.0.0.100:81 -s mh -b mh-port");
    ok(&d, "--add-service -t 10.0.0.100:82 --scheduler rr --sched-flags flag-1,flag-3");
    ok(&d, "-Ab flag-2 -t 10.0.0.100:83");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -b -w 2");
    assert_eq!(
        ok(&d, "-Ln"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:80 sh (sh-fallback,sh-port)
  -> 10.1.0.11:8080               FullNat 2      0          1         
TCP  10.0.0.100:81 mh (mh-port)
TCP  10.0.0.100:82 rr (flag-1,flag-3)
TCP  10.0.0.100:83 wlc (flag-2)
"
        )
    );
    // -E sets scheduler and flags anew: without -b the flags go, without -s the scheduler is wlc.
    ok(&d, "-E -t 10.0.0.100:80 -s sh -b sh-port");
    ok(&d, "-E -t 10.0.0.100:81 -s mh");
    ok(&d, "-E -t 10.0.0.100:82 -b flag-3");
    // sh names only its own two flags: flag 3 alone shows as "()", as ipvsadm prints it.
    ok(&d, "-E -t 10.0.0.100:83 -s sh -b flag-3");
    assert_eq!(
        ok(&d, "-Ln"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:80 sh (sh-port)
  -> 10.1.0.11:8080               FullNat 2      0          1         
TCP  10.0.0.100:81 mh
TCP  10.0.0.100:82 wlc (flag-3)
TCP  10.0.0.100:83 sh ()
"
        )
    );
    let sent = d.requests();
    fails(&d, "-E -t 10.0.0.100:80 -b sh-port", 2, "incompatible scheduler flag `sh-port'");
    fails(&d, "-A -t 10.0.0.100:84 -s sh -b mh-fallback", 2, "incompatible scheduler flag `mh-fallback'");
    fails(
        &d,
        "-t 10.0.0.100:84 -b flag-1 -A",
        2,
        "option '-b' must come after the command: -A|-E take -b sched-flags, -a|-e take -b for full NAT",
    );
    assert_eq!(d.requests(), sent, "refused before reaching fnatd");
    let st = d.finish();
    let snap = st.services().unwrap();
    let key = |vport| ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 };
    let flags = |vport| snap.find(&key(vport)).unwrap().1.flags;
    assert_eq!(flags(80), SchedFlags { fallback: false, port: true, flag3: false });
    assert_eq!(flags(81), SchedFlags::default());
    assert_eq!(flags(83), SchedFlags { fallback: false, port: false, flag3: true });
}

#[test]
fn thresholds_are_set_edited_and_listed_like_ipvsadm() {
    let d = Fnatd::start("thresholds");
    ok(&d, "-A -t 10.0.0.100:80 -s wlc -b flag-1");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080 -x 100 -y 75");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12:8080 --u-threshold 2147483647 -w 3");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.13:8080");
    ok(&d, "-A -u 10.0.0.100:53 -s rr");
    ok(&d, "-a -u 10.0.0.100:53 -r 10.1.0.21 -x 10 -y 10 -g");
    assert_eq!(
        ok(&d, "-Ln --thresholds"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{THRESHOLD_TITLES}\
TCP  10.0.0.100:80 wlc (flag-1)
  -> 10.1.0.11:8080               100        75         0          1         
  -> 10.1.0.12:8080               2147483647 0          2          4         
  -> 10.1.0.13:8080               0          0          4          7         
UDP  10.0.0.100:53 rr
  -> 10.1.0.21:53                 10         10         6          10        
"
        )
    );
    // The usual listing shows method and weight, not thresholds.
    assert_eq!(
        ok(&d, "-Ln -t 10.0.0.100:80"),
        format!(
            "{TITLES}\
TCP  10.0.0.100:80 wlc (flag-1)
  -> 10.1.0.11:8080               FullNat 1      0          1         
  -> 10.1.0.12:8080               FullNat 3      2          4         
  -> 10.1.0.13:8080               FullNat 1      4          7         
"
        )
    );
    // -e sets the thresholds anew (none given: none), keeping the real server's identity and counts.
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.11:8080 -x 50");
    ok(&d, "-e -t 10.0.0.100:80 -r 10.1.0.12:8080 -w 3");
    fails(
        &d,
        "-e -t 10.0.0.100:80 -r 10.1.0.13:8080 -x 5 -y 6",
        255,
        "lower threshold 6 is higher than upper threshold 5",
    );
    fails(&d, "-a -t 10.0.0.100:80 -r 10.1.0.14:8080 -y 1", 255, "lower threshold 1 is higher than upper threshold 0");
    // --nosort shows the kernel's order: the last added first.
    assert_eq!(
        ok(&d, "-L -n --thresholds --nosort -t 10.0.0.100:80"),
        format!(
            "{THRESHOLD_TITLES}\
TCP  10.0.0.100:80 wlc (flag-1)
  -> 10.1.0.13:8080               0          0          4          7         
  -> 10.1.0.12:8080               0          0          2          4         
  -> 10.1.0.11:8080               50         0          0          1         
"
        )
    );
    let st = d.finish();
    let snap = st.services().unwrap();
    let key = ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 };
    let got: Vec<(u32, u32)> = snap.find(&key).unwrap().1.dests.iter().map(|d| (d.upper, d.lower)).collect();
    assert_eq!(got, vec![(0, 0), (0, 0), (50, 0)]);
}

#[test]
fn persistence_is_set_listed_and_edited_like_ipvsadm() {
    let d = Fnatd::start("persistence");
    ok(&d, "-A -t 10.0.0.104:80 -s rr -p");
    ok(&d, "-a -t 10.0.0.104:80 -r 10.1.0.11");
    ok(&d, "-A -t 10.0.0.105 -p 600 -M 255.255.255.0 -s sh -b sh-port");
    ok(&d, "-a -t 10.0.0.105:0 -r 10.1.0.12 -m");
    fails(
        &d,
        "-a -t 10.0.0.105:0 -r 10.1.0.13:8080",
        255,
        "real server port 8080 in a port-0 service: it must be 0 (each connection keeps its port)",
    );
    fails(&d, "-E -t 10.0.0.105:0 -s rr", 2, "Zero port specified for non-persistent service");
    assert_eq!(
        ok(&d, "-Ln"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.104:80 rr persistent 360
  -> 10.1.0.11:80                 FullNat 1      0          1         
TCP  10.0.0.105:0 sh (sh-port) persistent 600 mask 255.255.255.0
  -> 10.1.0.12:0                  Masq    1      2          4         
"
        )
    );
    // -E sets everything anew: without -p the service is no longer persistent.
    ok(&d, "-E -t 10.0.0.104:80 -s wlc");
    ok(&d, "-E -t 10.0.0.105:0 -s wlc --persistent=60");
    assert_eq!(
        ok(&d, "-L -n -t 10.0.0.104:80"),
        format!(
            "{TITLES}TCP  10.0.0.104:80 wlc\n  -> 10.1.0.11:80                 FullNat 1      0          1         \n"
        )
    );
    assert_eq!(
        ok(&d, "-L -n -t 10.0.0.105"),
        format!(
            "{TITLES}TCP  10.0.0.105:0 wlc persistent 60\n  -> 10.1.0.12:0                  Masq    1      2          4         \n"
        )
    );
    ok(&d, "-d -t 10.0.0.105:0 -r 10.1.0.12");
    ok(&d, "-D -t 10.0.0.105");
    let st = d.finish();
    assert_eq!(st.len(), 1);
    assert_eq!(st.services().unwrap().iter().next().unwrap().persistence, None);
}

#[test]
fn fwmark_services_and_mark_rules_are_managed_like_ipvsadm_services() {
    let d = Fnatd::start("fwmark");
    ok(&d, "--add-mark -f 1 --dst 10.0.0.100 --proto tcp --dports 80,443");
    ok(&d, "--add-mark -f 2 --dst 10.0.1.0/24 --dports 8000-8100");
    fails(&d, "--add-mark -f 1 --dst 10.0.0.100 --proto tcp --dports 80,443", 255, "Mark rule already exists");
    assert_eq!(
        ok(&d, "--list-marks"),
        "Mark       Destination        Proto Ports\n\
         1          10.0.0.100/32      tcp   80,443\n\
         2          10.0.1.0/24        any   8000-8100\n"
    );
    ok(&d, "-A -f 1 -s rr -p");
    ok(&d, "-a -f 1 -r 10.1.0.11 -m");
    ok(&d, "-a -f 1 -r 10.1.0.12:8080");
    ok(&d, "-A -t 10.0.0.100:22 -s wlc");
    fails(&d, "-A -f 1 -s rr", 255, "Service already exists");
    assert_eq!(
        ok(&d, "-L -n"),
        format!(
            "IP Virtual Server version 1.2.1 (size=4096)\n{TITLES}\
TCP  10.0.0.100:22 wlc
FWM  1 rr persistent 360
  -> 10.1.0.11:0                  Masq    1      0          1         
  -> 10.1.0.12:8080               FullNat 1      2          4         
"
        )
    );
    ok(&d, "-d -f 1 -r 10.1.0.11");
    ok(&d, "-E -f 1 -s wrr");
    assert_eq!(
        ok(&d, "-Ln -f 1"),
        format!("{TITLES}FWM  1 wrr\n  -> 10.1.0.12:8080               FullNat 1      2          4         \n")
    );
    ok(&d, "--del-mark -f 2 --dst 10.0.1.0/24 --dports 8000-8100");
    fails(&d, "--del-mark -f 2 --dst 10.0.1.0/24", 255, "No such mark rule");
    ok(&d, "-D -f 1");
    ok(&d, "-D -t 10.0.0.100:22");
    fails(&d, "-D -f 1", 255, "No such service");
    assert_eq!(
        ok(&d, "--list-marks"),
        "Mark       Destination        Proto Ports\n1          10.0.0.100/32      tcp   80,443\n"
    );
    assert!(d.finish().is_empty());
}

#[test]
fn stats_rates_and_zero_reach_fnatd_and_print_like_ipvsadm() {
    let d = Fnatd::start("stats");
    ok(&d, "-A -t 10.0.0.100:80 -s rr");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.11:8080");
    ok(&d, "-a -t 10.0.0.100:80 -r 10.1.0.12:8080");
    let stats = concat!(
        "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes OutBytes\n",
        "  -> RemoteAddress:Port\n",
        "TCP  10.0.0.100:80                      77        0        0        0        0\n",
        "  -> 10.1.0.11:8080                      1       10        9    1000M        1\n",
        "  -> 10.1.0.12:8080                      2       20       18    2000M        2\n",
    );
    assert_eq!(ok(&d, "-L -n --stats -t 10.0.0.100:80"), stats);
    let exact = ok(&d, "-L -n --stats --exact -t 10.0.0.100:80");
    assert!(
        exact.contains("  -> 10.1.0.12:8080                      2       20       18 2000000000        2\n"),
        "{exact}"
    );
    let rate = ok(&d, "-Ln --rate");
    assert!(
        rate.starts_with("IP Virtual Server version 1.2.1 (size=4096)\nProt LocalAddress:Port                 CPS")
    );
    assert!(
        rate.contains("TCP  10.0.0.100:80                       0        0        0        5        0\n"),
        "{rate}"
    );
    assert!(
        rate.contains("  -> 10.1.0.12:8080                      2        0        0        0        0\n"),
        "{rate}"
    );
    // -Z: everything, or one service with its real servers; an unknown service is refused.
    ok(&d, "-Z");
    ok(&d, "--zero -t 10.0.0.100:80");
    fails(&d, "-Z -t 10.0.0.100:81", 255, "No such service");
    fails(&d, "-Z -n", 2, "Illegal 'numeric' option with the 'zero' command");
    let zeroed = d.gateway.1.lock().unwrap().clone();
    let key = dataplane::lb::ServiceKey {
        protocol: dataplane::lb::Protocol::Tcp,
        vip: Ipv4Addr::new(10, 0, 0, 100),
        vport: 80,
        fwmark: 0,
    };
    assert_eq!(zeroed.len(), 2, "{zeroed:?}");
    assert_eq!(zeroed[0], None);
    assert_eq!(zeroed[1].as_ref().map(|(k, d)| (*k, d.len())), Some((key, 2)));
    // Zeroing is not a configuration change.
    assert_eq!(d.finish().generation(), 3);
}
