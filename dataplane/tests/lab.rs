//! The live lab: real clients and real servers in network namespaces, fnatd on DPDK af_packet
//! ports in between, configured at runtime with fnatctl (scripts/lab.sh, docs/LAB.md).
//!
//! Needs root (namespaces, DPDK); CI runs as root. The lab's namespaces have fixed names, so the
//! tests take a lock file and run one at a time, each with a fresh lab that is torn down even when
//! the test fails.

#![cfg(feature = "dpdk")]

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataplane::fixtures::process::Daemon;

// Only the lab's helpers of it (not the DPDK tests' cleanup).
#[allow(dead_code)]
mod common;
use common::lab::{fnatctl_bin, lab_lock, metric_sample, repo, run, text};

const VIP: &str = "10.0.0.100";
const RS: [&str; 3] = ["10.1.0.11", "10.1.0.12", "10.1.0.13"];
const CTL: &str = "/dev/shm/fnat.ctl";

/// The lab, built for one test and torn down on drop; holds the lab lock meanwhile.
struct Lab {
    _lock: File,
    fnatd: Option<Daemon>,
    log: PathBuf,
    config: PathBuf,
}

impl Lab {
    fn up() -> Lab {
        Lab::up_with(repo().join("configs/lab.toml"))
    }

    /// The lab with fnatd on `config`.
    fn up_with(config: PathBuf) -> Lab {
        let lock = lab_lock();
        let out = run(Command::new(repo().join("scripts/lab.sh")).arg("up"));
        assert!(out.status.success(), "lab.sh up failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        let log = std::env::temp_dir().join(format!("fnat-lab-fnatd-{}.log", std::process::id()));
        let mut lab = Lab { _lock: lock, fnatd: None, log, config };
        lab.start_fnatd();
        lab
    }

    fn start_fnatd(&mut self) {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", "fnat-gw"]).arg(env!("CARGO_BIN_EXE_fnatd")).arg("--config").arg(&self.config);
        self.fnatd = Some(Daemon::fnatd(cmd, &self.log, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}")));
    }

    fn fnatd_log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Stops fnatd with SIGTERM and returns what it printed.
    fn stop_fnatd(&mut self) -> String {
        if let Some(mut d) = self.fnatd.take() {
            let status = d.stop(Duration::from_secs(20)).unwrap_or_else(|e| panic!("fnatd {e}"));
            assert!(status.success(), "fnatd exited with {status}:\n{}", self.fnatd_log());
        }
        self.fnatd_log()
    }

    /// Kills fnatd with SIGKILL, as a crash would, and waits for it to be gone.
    fn kill_fnatd(&mut self) {
        if let Some(mut d) = self.fnatd.take() {
            let status = d.kill().expect("SIGKILL fnatd");
            assert!(!status.success(), "fnatd was killed: {status}");
        }
    }

    /// Runs fnatctl and insists that it succeeds; returns its output.
    fn ctl(&self, args: &[&str]) -> String {
        let out = run(Command::new(fnatctl_bin()).args(args));
        assert!(out.status.success(), "fnatctl {args:?}: {}{}", text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// A command in the client namespace.
    fn client(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", "fnat-client", "timeout", "20"]).args(args))
    }

    /// A command in the gateway namespace: its kernel reaches the ports' networks through fnatd's
    /// kernel twins.
    fn gw(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", "fnat-gw", "timeout", "20"]).args(args))
    }

    fn probe(&self, args: &[&str]) -> Output {
        let probe = repo().join("lab/probe.py");
        let mut all = vec!["python3", probe.to_str().unwrap()];
        all.extend_from_slice(args);
        self.client(&all)
    }

    /// The lines a real server's service logged (`service` is http, udp or tcp).
    fn server_log(&self, rs: usize, service: &str) -> String {
        std::fs::read_to_string(format!("/run/fnat-lab/rs{}-{service}.log", rs + 1)).unwrap_or_default()
    }

    /// A TCP (`-t`) or UDP (`-u`) service on VIP:`vport` with rr over the three real servers on
    /// `rport`, added rs3 first: each `-a` goes to the head of the list, as in IPVS, so rr
    /// starts at rs1 and goes on to rs2 and rs3.
    fn service(&self, proto: &str, vport: u16, rport: u16) {
        let svc = format!("{VIP}:{vport}");
        self.ctl(&["-A", proto, &svc, "-s", "rr"]);
        for rs in RS.iter().rev() {
            self.ctl(&["-a", proto, &svc, "-r", &format!("{rs}:{rport}"), "-b"]);
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        // fnatd stops (SIGTERM, SIGKILL after 10 s) before its namespace goes.
        drop(self.fnatd.take());
        let _ = Command::new(repo().join("scripts/lab.sh")).arg("down").output();
        let _ = std::fs::remove_file(&self.log);
    }
}

#[test]
fn http_and_udp_through_the_vip_spread_evenly_and_real_servers_see_the_local_address() {
    let mut lab = Lab::up();
    lab.service("-t", 80, 8080);
    lab.service("-u", 53, 5353);

    // 99 requests: rr gives each real server exactly a third; every answer is a real server's body.
    let mut counts = [0usize; 3];
    for i in 0..100 {
        let out = lab.client(&["curl", "-s", "--max-time", "5", &format!("http://{VIP}/")]);
        let body = text(&out.stdout);
        assert!(out.status.success(), "request {i} failed: {}", text(&out.stderr));
        let rs = ["rs1\n", "rs2\n", "rs3\n"].iter().position(|b| *b == body);
        let rs = rs.unwrap_or_else(|| panic!("request {i}: body {body:?} is no real server's"));
        if i < 99 {
            counts[rs] += 1;
        }
    }
    assert_eq!(counts, [33, 33, 33], "rr over three servers");

    // FULLNAT: the real servers see the local address, never the client.
    for rs in 0..3 {
        let log = lab.server_log(rs, "http");
        // (The lab's readiness check connects from inside the server's namespace, over loopback.)
        let conns: Vec<&str> = log.lines().filter(|l| l.starts_with("conn ") && !l.starts_with("conn 127.")).collect();
        assert!(conns.len() >= 33, "rs{}: {} connections logged", rs + 1, conns.len());
        assert!(
            conns.iter().all(|l| l.starts_with("conn 10.1.0.10:")),
            "rs{} saw a source other than the LIP: {log}",
            rs + 1
        );
    }

    // UDP request and response through the VIP, each answer from a real server.
    let out = lab.probe(&["udp", VIP, "53", "hello", "--count", "6"]);
    let answers = text(&out.stdout);
    assert!(out.status.success(), "UDP through the VIP: {answers}{}", text(&out.stderr));
    for line in answers.lines() {
        assert!(line.starts_with(&format!("{VIP}:53 rs")) && line.contains("hello"), "UDP answer {line:?}");
    }

    // The VIP answers ping (ICMP echo) and ARP (the client resolved it to reach it at all).
    let out = lab.client(&["ping", "-c", "2", "-W", "2", VIP]);
    assert!(out.status.success(), "ping {VIP}: {}", text(&out.stdout));

    let table = lab.ctl(&["-L", "-n"]);
    assert!(table.contains(&format!("TCP  {VIP}:80 rr")) && table.contains(&format!("UDP  {VIP}:53 rr")), "{table}");
    assert!(table.contains("  -> 10.1.0.11:8080               FullNat 1"), "{table}");

    let report = lab.stop_fnatd();
    assert!(report.contains("fnatd: stopped"), "{report}");
    let total = report.lines().find(|l| l.starts_with("workers total:")).unwrap_or_default().to_owned();
    assert!(total.contains("arp_replies") && !total.contains(" arp_replies 0 "), "fnatd answered ARP: {total}");
}

#[test]
fn removing_a_real_server_keeps_an_open_connection_and_new_ones_avoid_it() {
    let lab = Lab::up();
    lab.service("-t", 9000, 9000);

    // A long-lived connection: 24 lines, one every 250 ms. rr gives the first connection to rs1.
    let probe = repo().join("lab/probe.py");
    let mut long = Command::new("ip")
        .args(["netns", "exec", "fnat-client", "timeout", "30", "python3"])
        .arg(&probe)
        .args(["tcp", VIP, "9000", "long", "--count", "24", "--interval", "0.25"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(long.stdout.take().unwrap()).lines();
    let first = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("rs")).expect("first echo");
    assert!(first.starts_with("rs1 "), "the first connection goes to rs1: {first}");

    // The operator removes rs2 while the connection to rs1 is open.
    lab.ctl(&["-d", "-t", &format!("{VIP}:9000"), "-r", &format!("{}:9000", RS[1])]);
    let table = lab.ctl(&["-L", "-n", "-t", &format!("{VIP}:9000")]);
    assert!(!table.contains(RS[1]), "{table}");

    // New connections go to rs1 and rs3 only.
    let mut seen = Vec::new();
    for _ in 0..6 {
        let out = lab.probe(&["tcp", VIP, "9000", "short"]);
        let echo = text(&out.stdout);
        assert!(out.status.success(), "short connection: {echo}");
        let line = echo.lines().find(|l| l.starts_with("rs")).unwrap_or_default().to_owned();
        seen.push(line.split_whitespace().next().unwrap_or_default().to_owned());
    }
    assert!(seen.iter().all(|s| s == "rs1" || s == "rs3"), "new connections after removing rs2: {seen:?}");
    assert!(seen.contains(&"rs1".to_owned()) && seen.contains(&"rs3".to_owned()), "{seen:?}");

    // The open connection finished every round on rs1.
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = long.wait().unwrap();
    assert!(status.success(), "the long-lived connection broke: {rest:?}");
    assert_eq!(rest.iter().filter(|l| l.starts_with("rs1 long")).count(), 23, "{rest:?}");
}

#[test]
fn bad_fnatctl_input_is_refused_with_one_line_and_changes_nothing() {
    let lab = Lab::up();
    lab.service("-t", 80, 8080);
    let before = lab.ctl(&["-L", "-n"]);
    let refused: &[&[&str]] = &[
        &["-A", "-t", "10.0.0.300:80", "-s", "rr"],
        &["-A", "-t", "10.0.0.100:81", "-s", "fair"],
        &["-a", "-t", "10.0.0.100:82", "-r", "10.1.0.11:8080"],
        &["-a", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080"],
        &["-d", "-t", "10.0.0.100:80", "-r", "10.1.0.99:8080"],
        &["-e", "-t", "10.0.0.100:80", "-r", "10.1.0.11:8080", "-w", "70000"],
    ];
    for args in refused {
        let out = run(Command::new(fnatctl_bin()).args(*args));
        let err = text(&out.stderr);
        assert!(!out.status.success(), "fnatctl {args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "fnatctl {args:?}: one line of reason, got {err:?}");
        assert!(err.starts_with("fnatctl: "), "{err}");
        assert_eq!(lab.ctl(&["-L", "-n"]), before, "fnatctl {args:?} changed the table");
    }
    let out = run(Command::new(fnatctl_bin()).args(["--ctl", "/dev/shm/fnat-nobody.ctl", "-L", "-n"]));
    assert!(!out.status.success());
    assert_eq!(text(&out.stderr).trim_end(), "fnatctl: fnatd is not running (/dev/shm/fnat-nobody.ctl: no such file)");
    drop(lab);
    // After fnatd stopped, its control file is gone and fnatctl says so.
    let out = run(Command::new(fnatctl_bin()).args(["-L", "-n"]));
    assert!(!out.status.success());
    assert!(text(&out.stderr).starts_with("fnatctl: fnatd is not running"), "{}", text(&out.stderr));
    assert!(!Path::new(CTL).exists());
}

/// HTTP and UDP through the VIP with every real server on `method` (an fnatctl flag); checks the
/// answers, the source address the real servers saw, and whether replies passed through fnatd.
fn through_the_vip_in_mode(method: &str, http_port: u16, udp_port: u16, seen: &str, replies_through_fnatd: bool) {
    through_the_vip_on(Lab::up(), method, http_port, udp_port, seen, replies_through_fnatd);
}

/// The same on a lab already up; returns what fnatd printed when it stopped.
fn through_the_vip_on(
    mut lab: Lab,
    method: &str,
    http_port: u16,
    udp_port: u16,
    seen: &str,
    replies_through_fnatd: bool,
) -> String {
    for (proto, vport, rport) in [("-t", 80u16, http_port), ("-u", 53, udp_port)] {
        let svc = format!("{VIP}:{vport}");
        lab.ctl(&["-A", proto, &svc, "-s", "rr"]);
        for rs in RS {
            lab.ctl(&["-a", proto, &svc, "-r", &format!("{rs}:{rport}"), method]);
        }
    }
    let table = lab.ctl(&["-L", "-n"]);
    let forward = match method {
        "-m" => "Masq",
        "-g" => "Route",
        "-i" => "Tunnel",
        _ => "FullNat",
    };
    assert!(table.contains(&format!("  -> 10.1.0.11:{http_port}")) && table.contains(forward), "{table}");

    let mut counts = [0usize; 3];
    for i in 0..30 {
        let out = lab.client(&["curl", "-s", "--max-time", "5", &format!("http://{VIP}/")]);
        let body = text(&out.stdout);
        let rs = ["rs1\n", "rs2\n", "rs3\n"].iter().position(|b| *b == body);
        counts[rs.unwrap_or_else(|| panic!("{method} request {i}: body {body:?} ({})", text(&out.stderr)))] += 1;
    }
    assert_eq!(counts, [10, 10, 10], "{method}: rr over three servers");
    let out = lab.probe(&["udp", VIP, "53", "hello", "--count", "3"]);
    let answers = text(&out.stdout);
    assert!(out.status.success(), "{method}: UDP through the VIP: {answers}{}", text(&out.stderr));
    assert!(answers.lines().all(|l| l.starts_with(&format!("{VIP}:53 rs")) && l.contains("hello")), "{answers}");

    // What the real servers saw as the source of the HTTP connections.
    for rs in 0..3 {
        let log = lab.server_log(rs, "http");
        let conns: Vec<&str> = log.lines().filter(|l| l.starts_with("conn ") && !l.starts_with("conn 127.")).collect();
        assert!(conns.len() >= 10, "{method}: rs{}: {} connections logged\n{log}", rs + 1, conns.len());
        assert!(conns.iter().all(|l| l.starts_with(&format!("conn {seen}:"))), "{method}: rs{} saw\n{log}", rs + 1);
    }

    let report = lab.stop_fnatd();
    let total = report.lines().find(|l| l.starts_with("workers total:")).unwrap_or_default().to_owned();
    let fwd_out: u64 = total
        .split(" fwd_out ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fwd_out in {total}"));
    if replies_through_fnatd {
        assert!(fwd_out > 0, "{method}: replies pass through fnatd: {total}");
    } else {
        assert_eq!(fwd_out, 0, "{method}: replies must bypass fnatd: {total}");
    }
    report
}

/// The lab's fnatd on two workers: two af_packet queue pairs per port, the kernel's fanout hash
/// spreading the frames (fnatd cannot know it, and af_packet takes no rte_flow rule: the ports fall
/// back to the redirect ring, and say so), the second worker sharing CPU 0.
fn two_worker_lab(name: &str) -> Lab {
    let lab_toml = std::fs::read_to_string(repo().join("configs/lab.toml")).unwrap();
    let config =
        lab_toml.replace(",qpairs=1,", ",qpairs=2,").replacen("lcores = [1]", "lcores = [1, 2]\ncpus = [1, 0]", 1);
    assert_eq!(config.matches("qpairs=2").count(), 2, "configs/lab.toml's ports");
    let path = std::env::temp_dir().join(format!("fnat-lab-{name}-{}.toml", std::process::id()));
    std::fs::write(&path, config).unwrap();
    let lab = Lab::up_with(path.clone());
    // fnatd has read it (and this test does not restart fnatd).
    let _ = std::fs::remove_file(path);
    lab
}

#[test]
fn two_workers_pass_replies_to_their_owner_for_fullnat_and_nat() {
    for (method, http_port, udp_port, seen) in [("-b", 8080, 5353, "10.1.0.10"), ("-m", 8080, 5353, "10.0.0.2")] {
        let lab = two_worker_lab("two-workers");
        let log = lab.fnatd_log();
        for port in ["lan", "dmz"] {
            assert!(log.contains(&format!("fnatd: port {port}: steering redirect (")), "{log}");
        }
        let report = through_the_vip_on(lab, method, http_port, udp_port, seen, true);
        // Both workers forwarded, and replies that the fanout gave the wrong one went through the ring.
        for w in ["worker 0 (lcore 1)", "worker 1 (lcore 2)"] {
            let line = report.lines().find(|l| l.starts_with(w)).unwrap_or_else(|| panic!("{report}"));
            assert!(!line.contains(" fwd_in 0 "), "{method}: {line}");
        }
        let total = report.lines().find(|l| l.starts_with("workers total:")).unwrap_or_default();
        let redirected: u64 = total
            .split(" redirected_out ")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{total}"));
        assert!(redirected > 0, "{method}: {total}");
        assert!(!total.contains("redirect_loop"), "{method}: {total}");
    }
}

#[test]
fn nat_through_the_vip_real_servers_see_the_client_and_answer_through_fnatd() {
    through_the_vip_in_mode("-m", 8080, 5353, "10.0.0.2", true);
}

#[test]
fn dr_through_the_vip_real_servers_see_the_client_and_answer_directly() {
    through_the_vip_in_mode("-g", 80, 53, "10.0.0.2", false);
}

#[test]
fn tun_through_the_vip_real_servers_see_the_client_and_answer_directly() {
    through_the_vip_in_mode("-i", 80, 53, "10.0.0.2", false);
}

#[test]
fn fullnat_through_the_vip_real_servers_see_the_local_address() {
    through_the_vip_in_mode("-b", 8080, 5353, "10.1.0.10", true);
}

/// The real server that answered an HTTP request from `src` (a client address in fnat-client).
fn http_from(lab: &Lab, src: &str) -> usize {
    let out = lab.client(&["curl", "-s", "--max-time", "5", "--interface", src, &format!("http://{VIP}/")]);
    let body = text(&out.stdout);
    ["rs1\n", "rs2\n", "rs3\n"]
        .iter()
        .position(|b| *b == body)
        .unwrap_or_else(|| panic!("from {src}: body {body:?} ({})", text(&out.stderr)))
}

#[test]
fn sh_pins_each_client_to_one_real_server() {
    let lab = Lab::up();
    let out = lab.client(&["ip", "addr", "add", "10.0.0.3/24", "dev", "cl0"]);
    assert!(out.status.success(), "second client address: {}", text(&out.stderr));
    let svc = format!("{VIP}:80");
    lab.ctl(&["-A", "-t", &svc, "-s", "sh"]);
    for rs in RS {
        lab.ctl(&["-a", "-t", &svc, "-r", &format!("{rs}:8080")]);
    }
    assert!(lab.ctl(&["-L", "-n"]).contains(&format!("TCP  {svc} sh")));
    for src in ["10.0.0.2", "10.0.0.3"] {
        let first = http_from(&lab, src);
        for i in 0..12 {
            assert_eq!(http_from(&lab, src), first, "request {i} from {src} left its real server");
        }
    }
}

#[test]
fn weight_zero_drains_a_real_server_without_breaking_its_open_connection() {
    let lab = Lab::up();
    lab.service("-t", 9000, 9000);
    let svc = format!("{VIP}:9000");
    let probe = repo().join("lab/probe.py");
    let mut long = Command::new("ip")
        .args(["netns", "exec", "fnat-client", "timeout", "30", "python3"])
        .arg(&probe)
        .args(["tcp", VIP, "9000", "long", "--count", "24", "--interval", "0.25"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(long.stdout.take().unwrap()).lines();
    let first = lines.by_ref().map_while(Result::ok).find(|l| l.starts_with("rs")).expect("first echo");
    assert!(first.starts_with("rs1 "), "the first connection goes to rs1: {first}");

    // Quiesce rs1: it keeps its connection and takes no new one.
    lab.ctl(&["-e", "-t", &svc, "-r", &format!("{}:9000", RS[0]), "-w", "0"]);
    let table = lab.ctl(&["-L", "-n", "-t", &svc]);
    let rs1_line = table.lines().find(|l| l.contains(&format!("{}:9000", RS[0]))).unwrap_or_default();
    let cols: Vec<&str> = rs1_line.split_whitespace().collect();
    assert_eq!(cols.get(3..5), Some(&["0", "1"][..]), "rs1 weight 0 with its one active connection: {table}");
    for _ in 0..6 {
        let out = lab.probe(&["tcp", VIP, "9000", "short"]);
        let echo = text(&out.stdout);
        assert!(out.status.success(), "short connection: {echo}");
        assert!(!echo.lines().any(|l| l.starts_with("rs1 ")), "a new connection reached the drained rs1: {echo}");
    }
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = long.wait().unwrap();
    assert!(status.success(), "the drained server's connection broke: {rest:?}");
    assert_eq!(rest.iter().filter(|l| l.starts_with("rs1 long")).count(), 23, "{rest:?}");
}

/// The real server whose body a request to `url` got.
fn http_body_rs(lab: &Lab, url: &str) -> usize {
    let out = lab.client(&["curl", "-s", "--max-time", "5", url]);
    let body = text(&out.stdout);
    ["rs1\n", "rs2\n", "rs3\n"]
        .iter()
        .position(|b| *b == body)
        .unwrap_or_else(|| panic!("{url}: body {body:?} ({})", text(&out.stderr)))
}

#[test]
fn a_persistent_fwmark_service_keeps_a_client_on_one_server_across_its_ports() {
    let lab = Lab::up();
    lab.ctl(&["--add-mark", "-f", "1", "--dst", VIP, "--proto", "tcp", "--dports", "80,443"]);
    lab.ctl(&["-A", "-f", "1", "-s", "rr", "-p"]);
    for rs in RS {
        // Port 0: each connection goes to the port the client used.
        lab.ctl(&["-a", "-f", "1", "-r", rs, "-b"]);
    }
    let table = lab.ctl(&["-L", "-n"]);
    assert!(table.contains("FWM  1 rr persistent 360") && table.contains("  -> 10.1.0.11:0 "), "{table}");
    assert!(lab.ctl(&["--list-marks"]).contains(&format!("1          {VIP}/32      tcp   80,443")));
    let (http, https) = (format!("http://{VIP}/"), format!("http://{VIP}:443/"));
    let first = http_body_rs(&lab, &http);
    for i in 0..6 {
        // rr alone would spread these over the three servers.
        assert_eq!(http_body_rs(&lab, &https), first, "request {i} to :443 left the client's server");
        assert_eq!(http_body_rs(&lab, &http), first, "request {i} to :80 left the client's server");
    }
    let log = lab.server_log(first, "http");
    let saw = |port: &str| log.lines().any(|l| l.starts_with("conn 10.1.0.10:") && l.ends_with(port));
    assert!(saw(":443") && saw(":80"), "the server saw both ports: {log}");
    let conns = lab.ctl(&["-L", "-n", "-c"]);
    assert!(conns.lines().any(|l| l.starts_with("IP ") && l.contains("0.0.0.1:0")), "the fwmark template: {conns}");
}

/// `fnatctl -L -n --stats --exact` of one service, as (service line, real server lines) of numbers:
/// Conns InPkts OutPkts InBytes OutBytes.
fn stats_of(lab: &Lab, svc: &[&str]) -> Vec<(String, [u64; 5])> {
    let mut args = vec!["-L", "-n", "--stats", "--exact"];
    args.extend_from_slice(svc);
    let out = lab.ctl(&args);
    out.lines()
        .skip(2)
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            let (name, nums) = words.split_at(words.len() - 5);
            let nums: Vec<u64> = nums.iter().map(|n| n.parse().unwrap_or_else(|_| panic!("{l:?} in\n{out}"))).collect();
            (name.join(" "), [nums[0], nums[1], nums[2], nums[3], nums[4]])
        })
        .collect()
}

/// A metric's value in the Prometheus text fnatd serves (in the gateway's namespace).
fn metric(text: &str, sample: &str) -> u64 {
    metric_sample(text, sample).unwrap_or_else(|| panic!("no {sample} in\n{text}"))
}

#[test]
fn counters_match_the_traffic_prometheus_agrees_and_rules_survive_sigkill() {
    let dir = std::env::temp_dir().join(format!("fnat-lab-stats-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rules = dir.join("fnatd.rules");
    let lab_toml = std::fs::read_to_string(repo().join("configs/lab.toml")).unwrap();
    let config = lab_toml.replacen("[control]\n", &format!("[control]\nrules = \"{}\"\n", rules.display()), 1);
    assert_ne!(config, lab_toml, "configs/lab.toml has a [control] table");
    std::fs::write(dir.join("fnatd.toml"), config).unwrap();
    let mut lab = Lab::up_with(dir.join("fnatd.toml"));
    lab.service("-u", 53, 5353);
    lab.service("-t", 80, 8080);
    let udp = ["-u", "10.0.0.100:53"];

    // A bounded run: two UDP flows (two client ports) of 10 requests each. rr sends the first to
    // rs1 and the second to rs2. A request "hello N" is 20 + 8 + 7 bytes of IP; the answer
    // "rsK hello N" 4 bytes more.
    for sport in ["40001", "40002"] {
        let out = lab.probe(&["udp", VIP, "53", "hello", "--count", "10", "--sport", sport]);
        assert!(out.status.success(), "UDP: {}{}", text(&out.stdout), text(&out.stderr));
    }
    let flow = [1, 10, 10, 350, 390];
    let two = [2, 20, 20, 700, 780];
    let got = stats_of(&lab, &udp);
    assert_eq!(
        got,
        vec![
            ("UDP 10.0.0.100:53".to_owned(), two),
            ("-> 10.1.0.11:5353".to_owned(), flow),
            ("-> 10.1.0.12:5353".to_owned(), flow),
            ("-> 10.1.0.13:5353".to_owned(), [0; 5]),
        ]
    );
    // Ten HTTP requests: ten connections, spread 4/3/3.
    for _ in 0..10 {
        let out = lab.client(&["curl", "-s", "--max-time", "5", &format!("http://{VIP}/")]);
        assert!(out.status.success(), "curl: {}", text(&out.stderr));
    }
    let http = stats_of(&lab, &["-t", "10.0.0.100:80"]);
    let conns: Vec<u64> = http.iter().map(|(_, n)| n[0]).collect();
    assert_eq!(conns, [10, 4, 3, 3], "{http:?}");
    assert!(http[0].1[1] >= 30 && http[0].1[2] >= 30, "at least SYN, request and FIN each way: {http:?}");

    // The Prometheus endpoint answers the same figures.
    let scrape = || {
        let out = run(Command::new("ip")
            .args(["netns", "exec", "fnat-gw", "curl", "-s", "--max-time", "5"])
            .arg("http://127.0.0.1:9542/metrics"));
        assert!(out.status.success(), "metrics: {}", text(&out.stderr));
        text(&out.stdout)
    };
    let m = scrape();
    let svc = "service=\"udp/10.0.0.100:53\"";
    assert_eq!(metric(&m, &format!("fnat_service_connections_total{{{svc}}}")), 2);
    assert_eq!(metric(&m, &format!("fnat_service_packets_total{{{svc},direction=\"in\"}}")), 20);
    assert_eq!(metric(&m, &format!("fnat_service_bytes_total{{{svc},direction=\"out\"}}")), 780);
    let rs1 = "server=\"10.1.0.11:5353\"";
    assert_eq!(metric(&m, &format!("fnat_real_server_packets_total{{{svc},{rs1},direction=\"out\"}}")), 10);
    assert_eq!(metric(&m, "fnat_service_connections_total{service=\"tcp/10.0.0.100:80\"}"), 10);
    let fwd_in = metric(&m, "fnat_worker_fwd_in_total{worker=\"0\",lcore=\"1\"}");
    assert!(fwd_in >= 20 + http[0].1[1], "every forwarded packet: {fwd_in}");
    assert!(metric(&m, "fnat_port_packets_total{port=\"lan\",direction=\"rx\"}") >= fwd_in);
    // fnatctl --counters shows the same ports (one worker: nothing to steer) and workers.
    let counters = lab.ctl(&["--counters"]);
    assert!(
        counters.lines().any(|l| l.starts_with("lan ") && l.ends_with(" single"))
            && counters.contains("Worker 0 (lcore 1): rx "),
        "{counters}"
    );
    assert_eq!(metric(&m, "fnat_port_steering{port=\"lan\",mode=\"single\"}"), 1);

    // Rates: estimated every 2 s from the counters.
    std::thread::sleep(Duration::from_millis(2500));
    let rate = lab.ctl(&["-L", "-n", "--rate", "-u", "10.0.0.100:53"]);
    let line = rate.lines().find(|l| l.starts_with("UDP ")).unwrap_or_default().to_owned();
    let inpps: u64 = line.split_whitespace().nth(3).and_then(|v| v.parse().ok()).unwrap_or(0);
    assert!(inpps > 0, "an input packet rate: {rate}");

    // -Z of one service zeroes it and its real servers only; -Z zeroes everything.
    lab.ctl(&["-Z", "-u", "10.0.0.100:53"]);
    assert!(stats_of(&lab, &udp).iter().all(|(_, n)| *n == [0; 5]));
    assert_eq!(stats_of(&lab, &["-t", "10.0.0.100:80"])[0].1[0], 10);
    lab.ctl(&["-Z"]);
    assert_eq!(stats_of(&lab, &["-t", "10.0.0.100:80"])[0].1, [0; 5]);

    // SIGKILL: fnatd comes back from its rules file with the same rules, and clients recover.
    // The rules file holds the same lines as -S, each service's real servers oldest first, so
    // that the restored lists keep the kernel's order (-S --nosort shows it).
    let saved = lab.ctl(&["-S", "-n"]);
    let kernel = lab.ctl(&["-S", "-n", "--nosort"]);
    let sorted_lines = |t: &str| {
        let mut l: Vec<String> = t.lines().map(str::to_owned).collect();
        l.sort();
        l
    };
    assert_eq!(
        sorted_lines(&std::fs::read_to_string(&rules).unwrap()),
        sorted_lines(&saved),
        "the rules file is current"
    );
    lab.kill_fnatd();
    lab.start_fnatd();
    assert_eq!(lab.ctl(&["-S", "-n"]), saved, "the same rules after the restart");
    assert_eq!(lab.ctl(&["-S", "-n", "--nosort"]), kernel, "every list in the same order after the restart");
    let out = lab.probe(&["udp", VIP, "53", "again", "--count", "3", "--sport", "40001"]);
    assert!(out.status.success(), "UDP after the restart: {}{}", text(&out.stdout), text(&out.stderr));
    let out = lab.client(&["curl", "-s", "--max-time", "5", &format!("http://{VIP}/")]);
    assert!(out.status.success(), "HTTP after the restart: {}", text(&out.stderr));
    // A fresh fnatd counts from zero.
    assert_eq!(stats_of(&lab, &udp)[0].1, [1, 3, 3, 3 * 35, 3 * 39]);
    drop(lab);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_port_whose_link_drops_and_comes_back_resumes_forwarding() {
    let lab = Lab::up();
    lab.service("-t", 80, 8080);
    let url = format!("http://{VIP}/");
    assert!(lab.client(&["curl", "-s", "--max-time", "5", &url]).status.success(), "before the link drops");
    // The LAN port's link goes down under fnatd (its veth end in the gateway's namespace), then up.
    let link = |state: &str| {
        let out = run(Command::new("ip").args(["netns", "exec", "fnat-gw", "ip", "link", "set", "lan0", state]));
        assert!(out.status.success(), "ip link set lan0 {state}: {}", text(&out.stderr));
    };
    link("down");
    let out = lab.client(&["curl", "-s", "--max-time", "2", &url]);
    assert!(!out.status.success(), "nothing passes while the link is down");
    link("up");
    // Back within a few seconds: fnatd keeps polling the port; ARP and connections carry on.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut ok = 0;
    while ok < 10 {
        assert!(Instant::now() < deadline, "forwarding did not resume within 15 s of the link coming back");
        if lab.client(&["curl", "-s", "--max-time", "2", &url]).status.success() {
            ok += 1;
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Which real server (1, 2 or 3) answered one short TCP connection to VIP:`vport` (the echo
/// servers listen on 9000).
fn served_by(lab: &Lab, vport: u16) -> usize {
    let out = lab.probe(&["tcp", VIP, &vport.to_string(), "short"]);
    let echo = text(&out.stdout);
    assert!(out.status.success(), "short connection to port {vport}: {echo}{}", text(&out.stderr));
    let rs = echo.lines().find_map(|l| l.strip_prefix("rs")).and_then(|l| l.split_whitespace().next());
    rs.and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("no real server in {echo}"))
}

/// The real servers of `n` connections in a row.
fn sequence(lab: &Lab, vport: u16, n: usize) -> Vec<usize> {
    (0..n).map(|_| served_by(lab, vport)).collect()
}

#[test]
fn schedulers_walk_the_kernels_list_and_keep_their_place_across_edits() {
    let lab = Lab::up();
    let rs = |i: usize, port: u16| format!("{}:{port}", RS[i - 1]);
    // rr over real servers added rs2, rs3, rs1: IPVS's list is rs1, rs3, rs2 (each -a at its head).
    let rr = format!("{VIP}:9000");
    lab.ctl(&["-A", "-t", &rr, "-s", "rr"]);
    for i in [2, 3, 1] {
        lab.ctl(&["-a", "-t", &rr, "-r", &rs(i, 9000), "-b"]);
    }
    assert_eq!(sequence(&lab, 9000, 4), [1, 3, 2, 1], "rr in list order");
    // An edit keeps rr's place (its scheduler has no update hook): the cycle goes on after rs1.
    lab.ctl(&["-e", "-t", &rr, "-r", &rs(2, 9000), "-b", "-w", "2"]);
    assert_eq!(sequence(&lab, 9000, 3), [3, 2, 1], "rr after -e");
    // A deleted server under the cursor moves it back to the one before: rs1 -> head.
    served_by(&lab, 9000);
    lab.ctl(&["-d", "-t", &rr, "-r", &rs(3, 9000)]);
    assert_eq!(sequence(&lab, 9000, 3), [2, 1, 2], "rr after -d of the server it stood on");

    // wrr A=4 (rs1), B=3 (rs2), C=2 (rs3) added in that order: the list is C, B, A, and the
    // hooks of the three -a leave the current weight at 1, so the first pass takes every server.
    let wrr = format!("{VIP}:9001");
    lab.ctl(&["-A", "-t", &wrr, "-s", "wrr"]);
    for (i, w) in [(1, "4"), (2, "3"), (3, "2")] {
        lab.ctl(&["-a", "-t", &wrr, "-r", &rs(i, 9000), "-b", "-w", w]);
    }
    assert_eq!(sequence(&lab, 9001, 8), [3, 2, 1, 1, 2, 1, 3, 2], "wrr: C B A (weight 1), A (4), B A (3), C B (2)");
    // -e runs wrr's dest_changed: back to the list head with the current weight (2) kept, so
    // C B A; keeping the place would give A C B, and starting afresh (weight 4) A B A.
    lab.ctl(&["-e", "-t", &wrr, "-r", &rs(3, 9000), "-b", "-w", "2"]);
    assert_eq!(sequence(&lab, 9001, 3), [3, 2, 1], "wrr after -e");
}

#[test]
fn the_next_connection_after_fnatctl_returns_follows_the_change() {
    let lab = Lab::up();
    let svc = format!("{VIP}:9000");
    lab.ctl(&["-A", "-t", &svc, "-s", "rr"]);
    for i in [1, 0] {
        lab.ctl(&["-a", "-t", &svc, "-r", &format!("{}:9000", RS[i]), "-b"]);
    }
    // Each round leaves one real server with weight 1 and the other with 0, the second edit
    // being the one that decides; the connection right after it must reach the one left. Were a
    // change not in force when fnatctl returns, the old snapshot (both at 1) would send about
    // half of them to the other.
    for round in 0..24 {
        let (on, off) = if round % 2 == 0 { (0, 1) } else { (1, 0) };
        lab.ctl(&["-e", "-t", &svc, "-r", &format!("{}:9000", RS[on]), "-b", "-w", "1"]);
        lab.ctl(&["-e", "-t", &svc, "-r", &format!("{}:9000", RS[off]), "-b", "-w", "0"]);
        assert_eq!(served_by(&lab, 9000), on + 1, "round {round}: the connection right after the change");
    }
}

#[test]
fn a_udp_datagram_larger_than_the_mtu_crosses_fnatd_both_ways() {
    let mut lab = Lab::up();
    lab.service("-u", 53, 5353);
    // 1600 bytes of payload: 1628 bytes of IP on 1500-byte links. The client's kernel fragments
    // it; af_packet hands fnatd the datagram whole (the kernel's defrag in its fanout group);
    // fnatd must send it to the real server in fragments, and the echo back the same way.
    let message = "x".repeat(1600);
    let out = lab.probe(&["udp", VIP, "53", &message]);
    let echo = text(&out.stdout);
    assert!(out.status.success(), "the datagram and its echo crossed: {echo}{}", text(&out.stderr));
    assert!(echo.contains(&format!("rs1 {message}")), "rs1 echoed the whole datagram: {echo}");
    let report = lab.stop_fnatd();
    let total = report.lines().find(|l| l.starts_with("workers total:")).unwrap_or_default().to_owned();
    assert!(total.contains(" fragmented 2 ") && total.contains(" frags_out 4 "), "both ways in two fragments: {total}");
}

/// A worker counter (`name N`) or drop (`name=N`) of worker 0 in `fnatctl --counters`.
fn worker_counter(counters: &str, name: &str) -> u64 {
    let words: Vec<&str> = counters.split_whitespace().collect();
    let n = words.windows(2).find(|w| w[0] == name).and_then(|w| w[1].parse().ok());
    let drop = || words.iter().find_map(|w| w.strip_prefix(&format!("{name}=")).and_then(|v| v.parse().ok()));
    n.or_else(drop).unwrap_or(0)
}

#[test]
fn the_gateways_own_programs_reach_the_networks_through_the_kernel_twins() {
    let mut lab = Lab::up();
    lab.service("-t", 80, 8080);
    let probe = repo().join("lab/probe.py");
    let probe = probe.to_str().unwrap();
    let curl_rs = |rs: &str| lab.gw(&["curl", "-s", "--max-time", "5", &format!("http://{rs}:8080/")]);
    // curl from the gateway itself to each real server, through fnatd's port and its twin.
    for (i, rs) in RS.iter().enumerate() {
        let out = curl_rs(rs);
        assert!(out.status.success(), "curl {rs} from the gateway: {}", text(&out.stderr));
        assert_eq!(text(&out.stdout).trim(), format!("rs{}", i + 1));
    }
    // An interactive session (ssh-like: a line now and then on one connection).
    let out = lab.gw(&["python3", probe, "tcp", RS[1], "9000", "keystroke", "--count", "5", "--interval", "0.2"]);
    assert!(out.status.success(), "TCP session from the gateway: {}{}", text(&out.stdout), text(&out.stderr));
    assert_eq!(text(&out.stdout).lines().filter(|l| l.starts_with("rs2 keystroke")).count(), 5);
    // The client reaches the gateway's kernel: a closed port is refused by the kernel's reset
    // (curl's exit 7), where without a twin the SYN would be dropped (a timeout, exit 28).
    let out = lab.client(&["curl", "-s", "--max-time", "3", "http://10.0.0.1:22/"]);
    assert_eq!(out.status.code(), Some(7), "refused by the gateway's kernel: {}", text(&out.stderr));

    // Under forwarding load: every one of the gateway's requests gets through meanwhile.
    let wrk = Command::new("ip")
        .args(["netns", "exec", "fnat-client", "timeout", "20", "wrk", "-t1", "-c32", "-d4s"])
        .arg(format!("http://{VIP}/"))
        .stdout(Stdio::piped())
        .spawn()
        .expect("wrk");
    std::thread::sleep(Duration::from_millis(500));
    let during: Vec<bool> = (0..20).map(|i| curl_rs(RS[i % 3]).status.success()).collect();
    let wrk_out = wrk.wait_with_output().expect("wrk ran");
    let wrk_text = text(&wrk_out.stdout);
    assert!(wrk_out.status.success() && wrk_text.contains("Requests/sec"), "wrk: {wrk_text}");
    assert!(during.iter().all(|&ok| ok), "the gateway's requests under load: {during:?}\n{wrk_text}");

    // A flood at the gateway's own address: the kernel gets its port's rate (20000/s, bursts of
    // 2000, configs/lab.toml), the rest is dropped and counted.
    let before = lab.ctl(&["--counters"]);
    let t = Instant::now();
    let out = lab.probe(&["flood", "10.0.0.1", "9", "--count", "60000", "--timeout", "10"]);
    let secs = t.elapsed().as_secs_f64();
    assert!(out.status.success(), "flood: {}", text(&out.stderr));
    std::thread::sleep(Duration::from_millis(200));
    let after = lab.ctl(&["--counters"]);
    let delta = |name| worker_counter(&after, name) - worker_counter(&before, name);
    let (passed, limited) = (delta("to_kernel"), delta("kernel_rate_limited"));
    assert!(limited > 0, "the flood was limited: {} / {after}", text(&out.stdout));
    let ceiling = 2000.0 + 20000.0 * (secs + 0.5);
    #[allow(clippy::cast_precision_loss)]
    let within = (passed as f64) <= ceiling;
    assert!(within, "{passed} frames to the kernel in {secs:.2}s, at most {ceiling}: {}", text(&out.stdout));
    eprintln!("flood: {} -> {passed} to the kernel, {limited} rate-limited", text(&out.stdout).trim());
    // The gateway's own traffic works again at once.
    assert!(curl_rs(RS[0]).status.success(), "curl from the gateway after the flood");

    // The twins go with fnatd.
    lab.stop_fnatd();
    let out = lab.gw(&["ip", "link", "show", "dev", "dmz"]);
    assert!(!out.status.success(), "the twin 'dmz' is gone: {}", text(&out.stdout));
}

impl Lab {
    /// Stops (`stop-server`) or starts again (`start-server`) one real server's server.
    fn server(&self, action: &str, rs: &str, kind: &str) {
        let out = run(Command::new(repo().join("scripts/lab.sh")).args([action, rs, kind]));
        assert!(out.status.success(), "lab.sh {action} {rs} {kind}: {}{}", text(&out.stdout), text(&out.stderr));
    }

    /// Waits (at most `limit`) until `fnatctl --health` shows `rs` in `state`; returns how long it took
    /// and the listing.
    fn wait_health(&self, rs: &str, state: &str, limit: Duration) -> (Duration, String) {
        let t = Instant::now();
        loop {
            let listing = self.ctl(&["--health"]);
            let line = listing.lines().find(|l| l.trim_start().starts_with(&format!("-> {rs}"))).unwrap_or_default();
            if line.split_whitespace().nth(3) == Some(state) {
                return (t.elapsed(), listing);
            }
            assert!(t.elapsed() < limit, "{rs} not {state} within {limit:?}:\n{listing}\n{}", self.fnatd_log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// The lab's configuration with `extra` appended, written for one test.
fn lab_config_with(name: &str, extra: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fnat-lab-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let lab_toml = std::fs::read_to_string(repo().join("configs/lab.toml")).unwrap();
    let path = dir.join("fnatd.toml");
    std::fs::write(&path, format!("{lab_toml}\n{extra}")).unwrap();
    path
}

#[test]
fn a_real_server_whose_http_check_fails_is_taken_out_and_comes_back() {
    let config = lab_config_with(
        "health",
        "[[check]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\ntype = \"http\"\npath = \"/\"\n\
         interval = 0.5\ntimeout = 0.5\nfall = 2\nrise = 2\n",
    );
    let mut lab = Lab::up_with(config.clone());
    lab.service("-t", 80, 8080);
    for rs in RS {
        lab.wait_health(rs, "UP", Duration::from_secs(10));
    }
    let curls = |lab: &Lab, n: usize| -> Vec<String> {
        (0..n)
            .map(|_| {
                let out = lab.client(&["curl", "-s", "--max-time", "3", &format!("http://{VIP}/")]);
                assert!(out.status.success(), "every curl succeeds: {}", text(&out.stderr));
                text(&out.stdout).trim().to_owned()
            })
            .collect()
    };

    // rs2's HTTP server stops: out within interval x fall + timeout (1.5 s; 1 s more for the
    // check already under way and the listing's polling).
    let stopped = Instant::now();
    lab.server("stop-server", "rs2", "http");
    let (_, listing) = lab.wait_health(RS[1], "DOWN", Duration::from_secs(10));
    let took = stopped.elapsed();
    eprintln!("rs2 taken out {took:?} after its server was told to stop");
    assert!(took < Duration::from_millis(3000), "out in {took:?}:\n{listing}");
    let line = listing.lines().find(|l| l.contains(RS[1])).unwrap();
    assert!(line.contains("http:8080") && line.contains("(removed)"), "{listing}");
    assert!(line.contains("refused"), "why: {listing}");
    let table = lab.ctl(&["-L", "-n"]);
    assert!(!table.contains(RS[1]) && table.contains(RS[0]) && table.contains(RS[2]), "{table}");
    let served = curls(&lab, 60);
    assert_eq!(served.iter().filter(|s| s.as_str() == "rs2").count(), 0, "0 of 60 to rs2: {served:?}");
    assert_eq!(served.iter().filter(|s| *s == "rs1" || *s == "rs3").count(), 60);
    // -S and the rules would still hold it: it is configured, only taken out.
    assert!(lab.ctl(&["-S", "-n"]).contains(RS[0]));

    // Back after `rise` passes, in its place.
    lab.server("start-server", "rs2", "http");
    lab.wait_health(RS[1], "UP", Duration::from_secs(10));
    assert!(lab.ctl(&["-L", "-n"]).contains(RS[1]));
    let served = curls(&lab, 6);
    assert_eq!(served.iter().filter(|s| s.as_str() == "rs2").count(), 2, "rr over three again: {served:?}");
    let log = lab.stop_fnatd();
    assert!(
        log.contains("health: TCP 10.0.0.100:80 -> 10.1.0.12:8080 DOWN, removed (http check of 10.1.0.12:8080: ")
            && log.contains("health: TCP 10.0.0.100:80 -> 10.1.0.12:8080 UP (http check"),
        "one log line per transition:\n{log}"
    );
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

/// A process the test started, killed (by its pid) when dropped.
struct Spawned(std::process::Child);

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The line of real server `dest` under service `svc` (e.g. "TCP  10.0.0.100:80") in `fnatctl --health`.
fn health_line<'a>(listing: &'a str, svc: &str, dest: &str) -> Option<&'a str> {
    let mut current = "";
    for l in listing.lines() {
        match l.trim_start().strip_prefix("-> ") {
            Some(rest) if current.starts_with(svc) && rest.starts_with(&format!("{dest} ")) => return Some(l),
            Some(_) => {}
            None => current = l,
        }
    }
    None
}

#[test]
fn every_checker_decides_and_hostile_servers_are_taken_out_on_time() {
    let check = |svc: &str, dest: Option<&str>, body: &str| {
        let (proto, port) = svc.split_once(':').unwrap();
        let dest = dest.map(|d| format!("real_server = \"{d}\"\n")).unwrap_or_default();
        format!(
            "[[check]]\nprotocol = \"{proto}\"\nvip = \"{VIP}\"\nport = {port}\n{dest}{body}\n\
             interval = 0.5\ntimeout = 0.5\nfall = 2\nrise = 1\n\n"
        )
    };
    let checks = [
        check("tcp:80", None, "type = \"http\"\npath = \"/\""),
        check("tcp:80", Some("10.1.0.12:8080"), "type = \"http\"\nstatus = [404]"),
        check("tcp:80", Some("10.1.0.13:8080"), "type = \"http\"\ndigest = \"00000000000000000000000000000000\""),
        check("tcp:80", Some("10.1.0.77:8080"), "type = \"tcp\""),
        check("udp:53", None, "type = \"udp\"\npayload = \"ping\"\nrequire_reply = true"),
        check("udp:53", Some("10.1.0.11:5300"), "type = \"dns\"\nname = \"example.org\""),
        check("tcp:90", Some("10.1.0.11:9000"), "type = \"icmp\""),
        check("tcp:90", Some("10.1.0.12:9000"), "type = \"misc\"\ncommand = \"/bin/true\""),
        check("tcp:90", Some("10.1.0.13:9000"), "type = \"misc\"\ncommand = \"/bin/false\""),
        check("tcp:8000", None, "type = \"http\"\ninhibit_on_failure = true\nsorry_server = \"10.1.0.13:8080\""),
    ];
    let config = lab_config_with("checkers", &checks.concat());
    let lab = Lab::up_with(config.clone());
    let hostile = repo().join("lab/hostile.py");
    let _hostile = Spawned(
        Command::new("ip")
            .args(["netns", "exec", "fnat-rs1", "python3"])
            .arg(&hostile)
            .args(["--silent", "7001", "--garbage", "7002", "--reset", "7003", "--dns", "5300"])
            .stdout(Stdio::null())
            .spawn()
            .expect("hostile servers"),
    );
    let add = |proto: &str, vport: u16, dests: &[&str]| {
        let svc = format!("{VIP}:{vport}");
        lab.ctl(&["-A", proto, &svc, "-s", "rr"]);
        for d in dests {
            lab.ctl(&["-a", proto, &svc, "-r", d, "-b"]);
        }
    };
    let a = ["10.1.0.11:8080", "10.1.0.11:7001", "10.1.0.11:7002", "10.1.0.11:7003", "10.1.0.77:8080"];
    add("-t", 80, &[&a[..], &["10.1.0.12:8080", "10.1.0.13:8080"]].concat());
    add("-u", 53, &["10.1.0.11:5353", "10.1.0.12:5399", "10.1.0.11:5300"]);
    add("-t", 90, &["10.1.0.11:9000", "10.1.0.12:9000", "10.1.0.13:9000"]);
    add("-t", 8000, &["10.1.0.11:7001", "10.1.0.11:7003"]);
    let started = Instant::now();

    // (service, real server, state, what the last result says)
    let want: [(&str, &str, &str, &str); 16] = [
        ("TCP  10.0.0.100:80", "10.1.0.11:8080", "UP", "HTTP 200"),
        ("TCP  10.0.0.100:80", "10.1.0.11:7001", "DOWN", "timed out after 500 ms"),
        ("TCP  10.0.0.100:80", "10.1.0.11:7002", "DOWN", "garbage: not HTTP"),
        ("TCP  10.0.0.100:80", "10.1.0.11:7003", "DOWN", ""),
        ("TCP  10.0.0.100:80", "10.1.0.77:8080", "DOWN", "timed out after 500 ms"),
        ("TCP  10.0.0.100:80", "10.1.0.12:8080", "DOWN", "HTTP 200 (want 404)"),
        ("TCP  10.0.0.100:80", "10.1.0.13:8080", "DOWN", "digest mismatch"),
        ("UDP  10.0.0.100:53", "10.1.0.11:5353", "UP", "answered"),
        ("UDP  10.0.0.100:53", "10.1.0.12:5399", "DOWN", "ICMP port unreachable"),
        ("UDP  10.0.0.100:53", "10.1.0.11:5300", "UP", "NOERROR"),
        ("TCP  10.0.0.100:90", "10.1.0.11:9000", "UP", "echo reply"),
        ("TCP  10.0.0.100:90", "10.1.0.12:9000", "UP", "exit 0"),
        ("TCP  10.0.0.100:90", "10.1.0.13:9000", "DOWN", "exit 1"),
        ("TCP  10.0.0.100:8000", "10.1.0.11:7001", "DOWN", "(weight 0)"),
        ("TCP  10.0.0.100:8000", "10.1.0.11:7003", "DOWN", "(weight 0)"),
        ("TCP  10.0.0.100:8000", "10.1.0.13:8080", "", ""),
    ];
    let decided = |listing: &str| {
        want.iter().filter(|w| !w.2.is_empty()).all(|(svc, dest, state, why)| {
            health_line(listing, svc, dest)
                .is_some_and(|l| l.split_whitespace().nth(3) == Some(*state) && l.contains(why))
        })
    };
    let mut listing = lab.ctl(&["--health"]);
    while !decided(&listing) {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "not every check decided in 15 s:\n{listing}\n{}",
            lab.fnatd_log()
        );
        std::thread::sleep(Duration::from_millis(100));
        listing = lab.ctl(&["--health"]);
    }
    let took = started.elapsed();
    eprintln!("every check decided in {took:?}:\n{listing}");
    // interval x fall + timeout = 1.5 s for each, with the first checks spread over an interval.
    assert!(took < Duration::from_secs(4), "decided in {took:?}");
    assert!(health_line(&listing, want[15].0, want[15].1).is_none(), "the sorry server is not checked");

    // The healthy servers take the traffic; the sorry server took VIP:8000, whose servers are
    // kept at weight 0 (inhibit_on_failure).
    let table = lab.ctl(&["-L", "-n"]);
    let svc_80: Vec<&str> =
        table.lines().skip_while(|l| !l.starts_with("TCP  10.0.0.100:80 ")).skip(1).take(2).collect();
    assert!(svc_80.len() == 1 || !svc_80[1].starts_with("  ->"), "only rs1:8080 is left in VIP:80: {table}");
    assert!(svc_80[0].contains("10.1.0.11:8080"), "{table}");
    assert!(!table.contains("10.1.0.12:5399"), "{table}");
    let svc_8000: Vec<&str> =
        table.lines().skip_while(|l| !l.starts_with("TCP  10.0.0.100:8000")).skip(1).take(3).collect();
    let weight_of = |dest: &str| svc_8000.iter().find(|l| l.contains(dest)).map(|l| l.split_whitespace().nth(3));
    assert_eq!(weight_of("10.1.0.13:8080"), Some(Some("1")), "the sorry server: {svc_8000:?}");
    assert_eq!(weight_of("10.1.0.11:7001"), Some(Some("0")), "inhibited: {svc_8000:?}");
    assert_eq!(weight_of("10.1.0.11:7003"), Some(Some("0")), "inhibited: {svc_8000:?}");
    for _ in 0..3 {
        let out = lab.client(&["curl", "-s", "--max-time", "3", &format!("http://{VIP}:8000/")]);
        assert_eq!(text(&out.stdout).trim(), "rs3", "the sorry server answers: {}", text(&out.stderr));
        let out = lab.client(&["curl", "-s", "--max-time", "3", &format!("http://{VIP}/")]);
        assert_eq!(text(&out.stdout).trim(), "rs1", "the one healthy HTTP server: {}", text(&out.stderr));
    }

    // The hostile servers never held up the others: rs1:8080 was checked every 0.5 s throughout.
    std::thread::sleep(Duration::from_secs(2));
    let listing = lab.ctl(&["--health"]);
    let line = health_line(&listing, want[0].0, want[0].1).unwrap();
    let checks: u64 = line.split_whitespace().nth(5).and_then(|n| n.parse().ok()).unwrap();
    let due = started.elapsed().as_secs_f64() / 0.5;
    #[allow(clippy::cast_precision_loss)]
    let on_time = checks as f64 >= due - 2.0;
    assert!(on_time, "{checks} checks of rs1:8080 in {:?} (every 0.5 s):\n{listing}", started.elapsed());
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

#[test]
fn a_blackholed_real_server_is_taken_out_by_what_the_workers_see_before_its_check_fails() {
    // The active check alone would take 10.1.0.77 (no such host: SYNs go unanswered) out after
    // two failed checks 5 s apart; two clients' SYNs sent again within 10 s do it at once.
    let config = lab_config_with(
        "passive",
        "[[check]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\ntype = \"tcp\"\n\
         interval = 5.0\ntimeout = 1.0\nfall = 2\npassive_failures = 2\npassive_window = 10.0\n",
    );
    let mut lab = Lab::up_with(config.clone());
    let svc = format!("{VIP}:80");
    lab.ctl(&["-A", "-t", &svc, "-s", "rr"]);
    for rs in ["10.1.0.77:8080", "10.1.0.11:8080"] {
        lab.ctl(&["-a", "-t", &svc, "-r", rs, "-b"]);
    }
    // Four clients at once: rr sends two to the blackhole; their SYNs go out again after 1 s.
    let started = Instant::now();
    let curls: Vec<Spawned> = (0..4)
        .map(|_| {
            Spawned(
                Command::new("ip")
                    .args(["netns", "exec", "fnat-client", "curl", "-s", "--max-time", "4"])
                    .arg(format!("http://{VIP}/"))
                    .stdout(Stdio::null())
                    .spawn()
                    .expect("curl"),
            )
        })
        .collect();
    let (_, listing) = lab.wait_health("10.1.0.77", "DOWN", Duration::from_secs(8));
    let took = started.elapsed();
    eprintln!("the blackholed server was out {took:?} after the first clients:\n{listing}");
    assert!(took < Duration::from_secs(3), "faster than the 5 s interval, let alone two checks: {took:?}");
    drop(curls);
    // New clients go to the healthy server only.
    for _ in 0..6 {
        let out = lab.client(&["curl", "-s", "--max-time", "3", &format!("http://{VIP}/")]);
        assert_eq!(text(&out.stdout).trim(), "rs1", "{}", text(&out.stderr));
    }
    let counters = lab.ctl(&["--counters"]);
    assert!(worker_counter(&counters, "syn_unanswered") >= 2, "{counters}");
    let log = lab.stop_fnatd();
    assert!(
        log.contains(
            "-> 10.1.0.77:8080 DOWN, removed (tcp check of 10.1.0.77:8080: passive: 2 SYNs unanswered within 10000 ms)"
        ),
        "{log}"
    );
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

#[test]
fn a_keepalived_conf_converts_and_runs_in_the_lab() {
    // lab/keepalived.conf: a NAT web farm with HTTP_GET checks and a UDP service with UDP_CHECK.
    let out = run(Command::new(fnatctl_bin()).arg("--from-keepalived").arg(repo().join("lab/keepalived.conf")));
    assert!(out.status.success(), "the conversion: {}", text(&out.stderr));
    let config = lab_config_with("keepalived", &text(&out.stdout));
    let mut lab = Lab::up_with(config.clone());
    let table = lab.ctl(&["-L", "-n"]);
    assert!(table.contains("TCP  10.0.0.100:80 rr") && table.contains("UDP  10.0.0.100:53 wrr"), "{table}");
    // The vrrp_instance too: the address owner, Master at once.
    let vrrp = lab.ctl(&["--vrrp"]);
    assert!(vrrp.lines().nth(1).is_some_and(|l| l.contains(" 255 ") && l.contains("MASTER")), "{vrrp}");
    assert_eq!(table.matches("Masq").count(), 5, "{table}");
    for rs in RS {
        lab.wait_health(rs, "UP", Duration::from_secs(10));
    }
    let out = lab.probe(&["udp", VIP, "53", "hello", "--count", "3"]);
    assert!(out.status.success(), "UDP through the converted service: {}", text(&out.stdout));
    // The converted check takes rs2 out (delay_loop 1, connect_timeout 1, one failure).
    lab.server("stop-server", "rs2", "http");
    let (_, listing) = lab.wait_health(RS[1], "DOWN", Duration::from_secs(5));
    assert!(listing.contains("refused"), "{listing}");
    let bodies: Vec<String> = (0..12)
        .map(|_| {
            let out = lab.client(&["curl", "-s", "--max-time", "3", &format!("http://{VIP}/")]);
            assert!(out.status.success(), "{}", text(&out.stderr));
            text(&out.stdout).trim().to_owned()
        })
        .collect();
    assert!(bodies.iter().all(|b| b == "rs1" || b == "rs3"), "{bodies:?}");
    lab.server("start-server", "rs2", "http");
    lab.wait_health(RS[1], "UP", Duration::from_secs(5));
    lab.stop_fnatd();
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}

#[test]
fn checks_are_read_again_from_the_configuration_at_runtime() {
    let config = lab_config_with("reload", "");
    let lab = Lab::up_with(config.clone());
    lab.service("-t", 80, 8080);
    let health = || lab.ctl(&["--health"]);
    assert_eq!(health().lines().count(), 1, "no checks yet: {}", health());
    let base = std::fs::read_to_string(&config).unwrap();
    let check = "[[check]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\ntype = \"http\"\ninterval = 0.5\n";
    std::fs::write(&config, format!("{base}\n{check}")).unwrap();
    lab.ctl(&["--reload-checks"]);
    for rs in RS {
        lab.wait_health(rs, "UP", Duration::from_secs(5));
    }
    // A file fnatd refuses changes nothing, and fnatctl says why.
    std::fs::write(
        &config,
        format!("{base}\n{check}\n[[check]]\nprotocol = \"tcp\"\nvip = \"10.0.0.100\"\nport = 80\ntype = \"smtp\"\n"),
    )
    .unwrap();
    let out = run(Command::new(fnatctl_bin()).arg("--reload-checks"));
    let said = text(&out.stderr);
    assert!(!out.status.success() && said.contains("check[1].type: 'smtp' is not tcp, http"), "{said}");
    assert_eq!(health().lines().filter(|l| l.contains(" UP ")).count(), 3, "{}", health());
    // Without the check, the servers are no longer checked, and one its check had taken out is
    // back in what the workers see.
    lab.server("stop-server", "rs2", "http");
    lab.wait_health(RS[1], "DOWN", Duration::from_secs(5));
    assert!(!lab.ctl(&["-L", "-n"]).contains(RS[1]));
    std::fs::write(&config, &base).unwrap();
    lab.ctl(&["--reload-checks"]);
    let deadline = Instant::now() + Duration::from_secs(5);
    while !lab.ctl(&["-L", "-n"]).contains(RS[1]) {
        assert!(Instant::now() < deadline, "rs2 back unchecked: {}", lab.ctl(&["-L", "-n"]));
        std::thread::sleep(Duration::from_millis(50));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while health().lines().count() > 1 {
        assert!(Instant::now() < deadline, "{}", health());
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = std::fs::remove_dir_all(config.parent().unwrap());
}
