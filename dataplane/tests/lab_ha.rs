//! The two-gateway lab (`FNAT_LAB_HA=1 scripts/lab.sh up`, docs/LAB.md): fnatd on gateways A
//! (`fnat-gw`, priority 150) and B (`fnat-gw2`, priority 100) on the same client and server
//! bridges, VRRP at 100 ms (configs/lab-ha-a.toml, lab-ha-b.toml), or a real keepalived in B's
//! place. Failover, preemption, split brain, interoperation.
//!
//! Needs root (namespaces, DPDK); CI runs as root. One lab at a time (the lab lock).

#![cfg(feature = "dpdk")]

use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use dataplane::fixtures::process::Daemon;

// Only the lab's helpers of it (not the DPDK tests' cleanup).
#[allow(dead_code)]
mod common;
use common::lab::{fnatctl_bin, lab_lock, metric_sample, repo, run, text};

const VIP: &str = "10.0.0.100";
/// The TCP echo through the VIP in FULLNAT (to the real servers' 9000).
const ECHO: &str = "9001";
/// The gateways: namespace, configuration, control file, own address on the client side.
const GW: [(&str, &str, &str, &str); 2] = [
    ("fnat-gw", "configs/lab-ha-a.toml", "/dev/shm/fnat-a.ctl", "10.0.0.4"),
    ("fnat-gw2", "configs/lab-ha-b.toml", "/dev/shm/fnat-b.ctl", "10.0.0.5"),
];
const A: usize = 0;
const B: usize = 1;
/// Master_Down_Interval of B (priority 100, 100 ms adverts): 3 * 10 cs + (156 * 10) / 256 cs.
const B_MASTER_DOWN_MS: u64 = 360;

struct HaLab {
    _lock: std::fs::File,
    gws: [Option<Daemon>; 2],
    configs: [PathBuf; 2],
    keepalived: Option<Child>,
    tmp: PathBuf,
}

impl HaLab {
    /// The HA lab; `gw2_kernel`: B's interfaces for a kernel program (keepalived) instead of fnatd.
    fn up(gw2_kernel: bool) -> HaLab {
        let lock = lab_lock();
        let out = run(Command::new(repo().join("scripts/lab.sh"))
            .arg("up")
            .env("FNAT_LAB_HA", "1")
            .env("FNAT_LAB_GW2", if gw2_kernel { "kernel" } else { "quiet" }));
        assert!(out.status.success(), "lab.sh up failed:\n{}{}", text(&out.stdout), text(&out.stderr));
        let tmp = std::env::temp_dir().join(format!("fnat-lab-ha-{}", std::process::id()));
        std::fs::create_dir_all(&tmp).expect("temp dir");
        HaLab { _lock: lock, gws: [None, None], configs: GW.map(|g| repo().join(g.1)), keepalived: None, tmp }
    }

    /// Starts fnatd on gateway `i` and gives it the lab's services, through the VIP to rs1 and
    /// rs2: TCP echo in FULLNAT (9001), NAT (9002) and DR (9000), and HTTP (80) in FULLNAT.
    fn start(&mut self, i: usize) {
        let log = self.tmp.join(format!("fnatd-{i}.log"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", GW[i].0]).arg(env!("CARGO_BIN_EXE_fnatd")).arg("--config").arg(&self.configs[i]);
        self.gws[i] = Some(Daemon::fnatd(cmd, &log, Duration::from_secs(30)).unwrap_or_else(|e| panic!("{e}")));
        for (vport, rport, method) in
            [(ECHO, "9000", "-b"), ("9002", "9000", "-m"), ("9000", "9000", "-g"), ("80", "8080", "-b")]
        {
            let svc = format!("{VIP}:{vport}");
            self.ctl(i, &["-A", "-t", &svc, "-s", "rr"]);
            for rs in ["10.1.0.11", "10.1.0.12"] {
                self.ctl(i, &["-a", "-t", &svc, "-r", &format!("{rs}:{rport}"), method]);
            }
        }
    }

    /// A as MASTER, then B as its BACKUP.
    fn pair(&mut self) {
        self.start(A);
        self.wait_vrrp(A, "MASTER", GW[A].3, Duration::from_secs(5));
        self.start(B);
        self.wait_vrrp(B, "BACKUP", GW[A].3, Duration::from_secs(5));
    }

    fn log(&self, i: usize) -> String {
        std::fs::read_to_string(self.tmp.join(format!("fnatd-{i}.log"))).unwrap_or_default()
    }

    /// SIGKILL of gateway `i`'s fnatd, as a crash.
    fn kill(&mut self, i: usize) {
        let mut d = self.gws[i].take().expect("fnatd running");
        assert!(!d.kill().expect("SIGKILL fnatd").success());
    }

    fn ctl(&self, i: usize, args: &[&str]) -> String {
        let out = run(Command::new(fnatctl_bin()).arg("--ctl").arg(GW[i].2).args(args));
        assert!(out.status.success(), "fnatctl {args:?} on {}: {}{}", GW[i].0, text(&out.stdout), text(&out.stderr));
        text(&out.stdout)
    }

    /// Gateway `i`'s instance: its state and master, from `fnatctl --vrrp`.
    fn vrrp(&self, i: usize) -> (String, String) {
        let out = self.ctl(i, &["--vrrp"]);
        let line = out.lines().nth(1).unwrap_or_else(|| panic!("no instance listed:\n{out}"));
        let f: Vec<&str> = line.split_whitespace().collect();
        (f[5].to_owned(), f[7].to_owned())
    }

    /// Waits until gateway `i` is in `state` with `master`; returns how long it took.
    fn wait_vrrp(&self, i: usize, state: &str, master: &str, limit: Duration) -> Duration {
        let start = Instant::now();
        loop {
            let (s, m) = self.vrrp(i);
            if s == state && m == master {
                return start.elapsed();
            }
            assert!(
                start.elapsed() < limit,
                "{} is {s} (master {m}), not {state} (master {master}) after {limit:?}:\n{}",
                GW[i].0,
                self.log(i)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn client(&self, args: &[&str]) -> Output {
        run(Command::new("ip").args(["netns", "exec", "fnat-client"]).args(args))
    }

    /// Starts `args` in the client's namespace, its output piped.
    fn client_spawn(&self, args: &[&str]) -> Child {
        Command::new("ip")
            .args(["netns", "exec", "fnat-client"])
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    /// One connection through the VIP, echoed.
    fn echo_works(&self) -> bool {
        self.client(&["python3", &lab_script("probe.py"), "tcp", VIP, ECHO, "hello", "--timeout", "1"]).status.success()
    }

    /// Starts a client opening a connection through the VIP every 10 ms for `rounds` rounds.
    fn gaps(&self, rounds: u32) -> Child {
        let (probe, rounds) = (lab_script("probe.py"), rounds.to_string());
        self.client_spawn(&[
            "python3",
            &probe,
            "gaps",
            VIP,
            ECHO,
            "--interval",
            "0.01",
            "--timeout",
            "0.1",
            "--count",
            &rounds,
        ])
    }
}

/// The path of a script of `lab/`.
fn lab_script(name: &str) -> String {
    repo().join("lab").join(name).to_str().expect("a UTF-8 path").to_owned()
}

/// Gateway `i`'s Prometheus exposition.
fn scrape(i: usize) -> String {
    text(
        &run(Command::new("ip").args(["netns", "exec", GW[i].0, "curl", "-s", "http://127.0.0.1:9542/metrics"])).stdout,
    )
}

/// The probe's answered rounds and longest gap (ms).
fn gap_report(child: Child) -> (u32, u64) {
    let out = child.wait_with_output().expect("probe.py gaps");
    let s = text(&out.stdout);
    let f: Vec<&str> = s.split_whitespace().collect();
    assert!(f.len() == 6 && f[2] == "answered", "probe.py gaps printed {s:?}");
    (f[3].parse().expect("answered"), f[5].parse().expect("gap"))
}

impl Drop for HaLab {
    fn drop(&mut self) {
        if let Some(mut k) = self.keepalived.take() {
            let _ = k.kill();
            let _ = k.wait();
        }
        for g in &mut self.gws {
            if let Some(mut d) = g.take() {
                let _ = d.kill();
            }
        }
        let _ = Command::new(repo().join("scripts/lab.sh")).arg("down").env("FNAT_LAB_HA", "1").output();
        let _ = std::fs::remove_dir_all(&self.tmp);
    }
}

#[test]
fn a_killed_master_hands_over_to_the_backup_and_takes_over_again_when_back() {
    let mut lab = HaLab::up(false);
    lab.pair();
    assert!(lab.echo_works(), "through A");

    // SIGKILL A while a client opens a connection every 10 ms: B takes over within its
    // Master_Down_Interval, and traffic flows again within it plus 100 ms (the probe's own
    // granularity, its 100 ms connect timeout and 10 ms pause, added).
    let probe = lab.gaps(150);
    std::thread::sleep(Duration::from_millis(500));
    lab.kill(A);
    let took = lab.wait_vrrp(B, "MASTER", GW[B].3, Duration::from_secs(3));
    let (answered, gap) = gap_report(probe);
    println!("B became MASTER {took:?} after the kill was seen; the client's longest gap: {gap} ms");
    assert!(answered > 100, "{answered} of 150 rounds answered");
    assert!(gap < B_MASTER_DOWN_MS + 100 + 110, "longest gap {gap} ms");
    assert!(lab.echo_works(), "through B");

    // A back with the higher priority: it preempts, B goes back to BACKUP, and the handover
    // costs the client (almost) nothing: A announces itself before B lets go.
    let probe = lab.gaps(150);
    std::thread::sleep(Duration::from_millis(300));
    lab.start(A);
    lab.wait_vrrp(A, "MASTER", GW[A].3, Duration::from_secs(5));
    lab.wait_vrrp(B, "BACKUP", GW[A].3, Duration::from_secs(2));
    let (answered, gap) = gap_report(probe);
    println!("preempted back to A; the client's longest gap: {gap} ms");
    assert!(answered > 100, "{answered} of 150 rounds answered");
    assert!(lab.echo_works(), "through A again");
    let b = lab.ctl(B, &["--vrrp"]);
    assert!(b.contains("10.0.0.100 10.1.0.10 10.1.0.1"), "{b}");
}

#[test]
fn without_preempt_the_returning_master_stays_backup() {
    let mut lab = HaLab::up(false);
    let conf = std::fs::read_to_string(&lab.configs[A]).expect("config").replace("preempt = true", "preempt = false");
    assert!(conf.contains("preempt = false"));
    let cfg = lab.tmp.join("lab-ha-a-nopreempt.toml");
    std::fs::write(&cfg, conf).expect("write config");
    lab.configs[A] = cfg;
    lab.start(B);
    lab.wait_vrrp(B, "MASTER", GW[B].3, Duration::from_secs(5));
    lab.start(A);
    lab.wait_vrrp(A, "BACKUP", GW[B].3, Duration::from_secs(5));
    // Well past a Master_Down_Interval: A, with a higher priority but no preempt, still waits.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(lab.vrrp(A), ("BACKUP".to_owned(), GW[B].3.to_owned()));
    assert_eq!(lab.vrrp(B).0, "MASTER");
    assert!(lab.echo_works(), "through B");
    // The sync daemons as ipvsadm lists them; stopped and started again by fnatctl.
    let line = |role: &str| {
        format!("{role} sync daemon (mcast=lan, syncid=1, maxlen=1444, group=224.0.0.81, port=8848, ttl=1)\n")
    };
    assert_eq!(lab.ctl(B, &["-L", "--daemon"]), line("master") + &line("backup"));
    lab.ctl(B, &["--stop-daemon", "backup"]);
    assert_eq!(lab.ctl(B, &["-L", "--daemon"]), line("master"));
    let refused = run(Command::new(fnatctl_bin()).args(["--ctl", GW[B].2, "--stop-daemon", "backup"]));
    assert!(!refused.status.success() && text(&refused.stderr).contains("no backup sync daemon runs"));
    let refused = run(Command::new(fnatctl_bin()).args([
        "--ctl",
        GW[B].2,
        "--start-daemon",
        "backup",
        "--mcast-interface",
        "dmz",
        "--syncid",
        "1",
    ]));
    assert!(text(&refused.stderr).contains("both run on one port and sync id"), "{}", text(&refused.stderr));
    lab.ctl(B, &["--start-daemon", "backup", "--mcast-interface", "lan", "--syncid", "1"]);
    assert_eq!(lab.ctl(B, &["-L", "--daemon"]), line("master") + &line("backup"));
    assert!(lab.echo_works(), "through B, its daemons restarted");
}

#[test]
fn a_split_brain_heals_to_the_higher_priority_which_takes_its_addresses_back() {
    let mut lab = HaLab::up(false);
    lab.pair();
    let partition = |action: &str| {
        let out = run(Command::new(repo().join("scripts/lab.sh")).arg(action).env("FNAT_LAB_HA", "1"));
        assert!(out.status.success(), "lab.sh {action}: {}{}", text(&out.stdout), text(&out.stderr));
    };
    let vip_mac = |lab: &HaLab| text(&lab.client(&["ip", "neigh", "show", VIP]).stdout);
    // The client knows the VIP (an announcement updates a known neighbour only), and its entry is
    // older than Linux's locktime (1 s), within which an announcement is ignored.
    assert!(lab.echo_works());
    std::thread::sleep(Duration::from_millis(1100));
    partition("partition");
    // B hears nothing: it takes the addresses too, and announces them.
    lab.wait_vrrp(B, "MASTER", GW[B].3, Duration::from_secs(3));
    assert_eq!(lab.vrrp(A).0, "MASTER");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(vip_mac(&lab).contains("02:00:00:00:01:01"), "the client follows B's announcement: {}", vip_mac(&lab));
    partition("heal");
    // A hears B (lower) and answers at once with its advertisement and announcements; B steps back.
    lab.wait_vrrp(B, "BACKUP", GW[A].3, Duration::from_secs(3));
    assert_eq!(lab.vrrp(A).0, "MASTER");
    std::thread::sleep(Duration::from_millis(300));
    assert!(vip_mac(&lab).contains("02:00:00:00:00:01"), "A took the VIP back: {}", vip_mac(&lab));
    // A long session through the winner.
    let probe = lab_script("probe.py");
    let out = lab.client(&["python3", &probe, "tcp", VIP, ECHO, "line", "--count", "20", "--interval", "0.05"]);
    assert!(out.status.success(), "a session through A after the healing:\n{}", text(&out.stdout));
    for i in [A, B] {
        assert!(lab.gws[i].as_mut().expect("running").try_wait().is_none(), "{} still runs", GW[i].0);
    }
}

impl HaLab {
    /// Both gateways' configurations without `[sync]`.
    fn without_sync(&mut self) {
        for i in [A, B] {
            let text = std::fs::read_to_string(&self.configs[i]).expect("config");
            let cut = text.find("\n[sync]").expect("a [sync] section");
            let cfg = self.tmp.join(format!("no-sync-{i}.toml"));
            std::fs::write(&cfg, &text[..cut]).expect("write config");
            self.configs[i] = cfg;
        }
    }

    /// A long TCP echo session through `vport`: one line every 100 ms, `lines` lines.
    fn session(&self, vport: &str, lines: u32) -> Child {
        let (probe, lines) = (lab_script("probe.py"), lines.to_string());
        self.client_spawn(&[
            "python3",
            &probe,
            "tcp",
            VIP,
            vport,
            "line",
            "--count",
            &lines,
            "--interval",
            "0.1",
            "--timeout",
            "3",
        ])
    }
}

/// Long sessions through A in FULLNAT, NAT and DR, A killed in their middle (and with `and_back`,
/// restarted, so that it takes over again): which finished every line (as echoed).
fn sessions_over_a_takeover(lab: &mut HaLab, and_back: bool) -> Vec<(&'static str, bool, String)> {
    lab.pair();
    let lines = if and_back { 90 } else { 40 };
    let sessions: Vec<(&str, Child)> =
        [("FULLNAT", ECHO), ("NAT", "9002"), ("DR", "9000")].map(|(m, port)| (m, lab.session(port, lines))).into();
    std::thread::sleep(Duration::from_millis(1500));
    lab.kill(A);
    lab.wait_vrrp(B, "MASTER", GW[B].3, Duration::from_secs(3));
    if and_back {
        // A restarts, asks B for every connection, and preempts B with them.
        std::thread::sleep(Duration::from_millis(1000));
        lab.start(A);
        lab.wait_vrrp(A, "MASTER", GW[A].3, Duration::from_secs(5));
        lab.wait_vrrp(B, "BACKUP", GW[A].3, Duration::from_secs(2));
    }
    sessions
        .into_iter()
        .map(|(m, child)| {
            let out = child.wait_with_output().expect("session");
            let got = text(&out.stdout);
            let whole = (0..lines).all(|i| got.lines().any(|l| l.ends_with(&format!(" line {i}"))));
            (m, out.status.success() && whole, got)
        })
        .collect()
}

#[test]
fn established_connections_survive_the_masters_death_with_sync_and_break_without() {
    let mut lab = HaLab::up(false);
    for (method, survived, got) in sessions_over_a_takeover(&mut lab, false) {
        assert!(survived, "the {method} session broke with sync on:\n{got}\n{}", lab.log(B));
    }
    let counters = lab.ctl(B, &["--counters"]);
    assert!(counters.contains("sync_in"), "{counters}");
    drop(lab);

    let mut lab = HaLab::up(false);
    lab.without_sync();
    let broke: Vec<&str> = sessions_over_a_takeover(&mut lab, false)
        .into_iter()
        .filter(|(_, survived, _)| !survived)
        .map(|(m, ..)| m)
        .collect();
    assert_eq!(broke, ["FULLNAT", "NAT", "DR"], "without sync every session breaks");
}

#[test]
fn synced_sessions_survive_the_takeover_and_the_old_masters_return() {
    let mut lab = HaLab::up(false);
    for (method, survived, got) in sessions_over_a_takeover(&mut lab, true) {
        let state = |i: usize| {
            let sync: String =
                scrape(i).lines().filter(|l| l.starts_with("fnat_sync")).map(|l| format!("{l}\n")).collect();
            lab.ctl(i, &["--counters"]) + &lab.ctl(i, &["-L", "-n", "-c"]) + &sync
        };
        assert!(
            survived,
            "the {method} session broke over A's death and return:\n{got}\nA:\n{}\nB:\n{}",
            state(A),
            state(B)
        );
    }
    let counters = lab.ctl(A, &["--counters"]);
    let synced_in = counters.split("sync_in ").nth(1).and_then(|t| t.split_whitespace().next()).unwrap_or("0");
    assert!(synced_in.parse::<u64>().unwrap_or(0) >= 3, "A installed B's connections: {counters}");
}

/// A gateway's metric `sample` (a full sample line's name and labels), 0 when absent.
fn metric(i: usize, sample: &str) -> u64 {
    metric_sample(&scrape(i), sample).unwrap_or(0)
}

#[test]
fn hostile_vrrp_and_sync_input_is_dropped_counted_and_changes_nothing() {
    let mut lab = HaLab::up(false);
    lab.pair();
    let hostile = lab_script("ha_hostile.py");
    let hostile = hostile.as_str();
    let transitions = |i| metric(i, "fnat_vrrp_transitions_total{instance=\"VI_1\"}");
    let before = [transitions(A), transitions(B)];

    // Bad advertisements (version 2, a wrong checksum, cut short, TTL 64), then a flood of them.
    let out = lab.client(&["python3", hostile, "vrrp", "10.0.0.2", "--flood", "20000"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    println!("{}", text(&out.stdout));
    std::thread::sleep(Duration::from_millis(500));
    let refused = metric(B, "fnat_vrrp_adverts_total{instance=\"VI_1\",direction=\"refused\"}");
    assert!(refused >= 4, "B refused {refused} advertisements");
    println!("B refused {refused} bad advertisements (the rest of the flood over the kernel rate)");
    assert_eq!(lab.vrrp(A).0, "MASTER");
    assert_eq!(lab.vrrp(B), ("BACKUP".to_owned(), GW[A].3.to_owned()));
    assert_eq!([transitions(A), transitions(B)], before, "no instance changed state");

    // Bad sync messages, and a real one replayed.
    let out = lab.client(&["python3", hostile, "sync", "10.0.0.2"]);
    assert!(out.status.success(), "{}{}", text(&out.stdout), text(&out.stderr));
    let capture = lab.client_spawn(&["python3", hostile, "replay", "cl0", "10.0.0.2", "--timeout", "5"]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(lab.echo_works(), "a connection for A to sync");
    let out = capture.wait_with_output().expect("replay");
    assert!(out.status.success(), "{}", text(&out.stdout));
    std::thread::sleep(Duration::from_millis(300));
    for reason in ["bad_magic", "truncated", "version", "bad_tag", "replay"] {
        let n = metric(B, &format!("fnat_sync_dropped_total{{reason=\"{reason}\"}}"));
        assert!(n >= 1, "B dropped no message as {reason}");
    }
    assert!(lab.echo_works(), "still forwarding");
    for i in [A, B] {
        assert!(lab.gws[i].as_mut().expect("running").try_wait().is_none(), "{} still runs", GW[i].0);
    }
}

/// keepalived's configuration for B's namespace: one VRRPv3 instance like fnatd's, at `priority`.
fn keepalived_conf(priority: u8) -> String {
    format!(
        "global_defs {{\n  vrrp_version 3\n  script_user root\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface lan0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 0.1\n  virtual_ipaddress {{\n    10.0.0.100/32\n    \
         10.1.0.10/32\n    10.1.0.1/32\n  }}\n}}\n"
    )
}

impl HaLab {
    /// Starts keepalived in B's namespace at `priority`; its log goes to `ka-N.log`.
    fn start_keepalived(&mut self, priority: u8, n: u32) -> PathBuf {
        let conf = self.tmp.join(format!("keepalived-{n}.conf"));
        std::fs::write(&conf, keepalived_conf(priority)).expect("keepalived.conf");
        let log = self.tmp.join(format!("ka-{n}.log"));
        let out = std::fs::File::create(&log).expect("log");
        let child = Command::new("ip")
            .args(["netns", "exec", GW[B].0, "keepalived", "--dont-fork", "--log-console", "--vrrp", "-f"])
            .arg(&conf)
            .arg("-p")
            .arg(self.tmp.join("ka.pid"))
            .arg("-r")
            .arg(self.tmp.join("ka-vrrp.pid"))
            .stdout(out.try_clone().expect("log"))
            .stderr(out)
            .spawn()
            .expect("keepalived (scripts/lab.sh installs it)");
        self.keepalived = Some(child);
        log
    }

    fn stop_keepalived(&mut self) {
        let mut k = self.keepalived.take().expect("keepalived running");
        let pid = k.id().to_string();
        run(Command::new("kill").args(["-TERM", &pid]));
        let start = Instant::now();
        while k.try_wait().expect("wait").is_none() {
            assert!(start.elapsed() < Duration::from_secs(10), "keepalived did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

fn wait_log(log: &PathBuf, needle: &str, limit: Duration) {
    let start = Instant::now();
    loop {
        let t = std::fs::read_to_string(log).unwrap_or_default();
        if t.contains(needle) {
            return;
        }
        assert!(start.elapsed() < limit, "keepalived never said {needle:?}:\n{t}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn fnatd_and_keepalived_elect_each_other_by_priority_both_ways() {
    let mut lab = HaLab::up(true);
    let addr = run(Command::new("ip").args(["-n", GW[B].0, "addr", "add", "10.0.0.5/24", "dev", "lan0"]));
    assert!(addr.status.success(), "{}", text(&addr.stderr));
    lab.start(A);
    lab.wait_vrrp(A, "MASTER", GW[A].3, Duration::from_secs(5));
    // keepalived at 200 preempts fnatd at 150.
    let log = lab.start_keepalived(200, 1);
    wait_log(&log, "Entering MASTER STATE", Duration::from_secs(5));
    lab.wait_vrrp(A, "BACKUP", GW[B].3, Duration::from_secs(3));
    // keepalived stops and says so (priority 0): fnatd takes over within its skew time.
    lab.stop_keepalived();
    let took = lab.wait_vrrp(A, "MASTER", GW[A].3, Duration::from_secs(2));
    println!("fnatd MASTER {took:?} after keepalived's priority-0 advertisement");
    assert!(lab.echo_works(), "through A");
    // keepalived at 50 stays BACKUP under fnatd at 150.
    let log = lab.start_keepalived(50, 2);
    wait_log(&log, "Entering BACKUP STATE", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(2));
    let t = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(!t.contains("Entering MASTER STATE"), "keepalived at 50 took over:\n{t}");
    assert_eq!(lab.vrrp(A).0, "MASTER");
}
