//! The fixtures through real DPDK: fnatd on net_pcap ports replaying the demo captures, and two
//! workers with the redirect ring on real mbufs. Needs root (DPDK); CI runs as root.

#![cfg(feature = "dpdk")]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use dataplane::daemon::{DpdkIo, LinkGate};
use dataplane::dpdk::{Eal, Mbuf, Mempool, Port, PortConf};
use dataplane::fixtures::process::Daemon;
use dataplane::fixtures::{self, DMZ, DMZ_MAC, Expect, FIRST_LPORT, Flow, LAN, LAN_MAC};
use dataplane::net::PortIdx;
use dataplane::packet::TcpFlags;
use dataplane::pcap;
use dataplane::worker::poll::{PacketIo, Poller, redirect_mesh};

/// A scratch directory removed on drop, with DPDK's runtime directory for `prefix`.
struct RunDir {
    path: PathBuf,
    prefix: String,
}

impl RunDir {
    fn new(tag: &str) -> Self {
        let prefix = format!("fnat-{tag}-{}", std::process::id());
        let path = std::env::temp_dir().join(&prefix);
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Self { path, prefix }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
        let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(&self.prefix));
    }
}

fn require_root() {
    // Only root may start DPDK here; CI runs as root, so a non-root run is a misconfiguration, not a skip.
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1).unwrap_or("").to_owned())
    });
    assert_eq!(uid.as_deref(), Some("0"), "DPDK tests need root: run them as root (CI does)");
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    pcap::write_frames(std::fs::File::create(path).unwrap(), frames).unwrap();
}

fn read_pcap(path: &Path) -> Vec<Vec<u8>> {
    pcap::read(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap()
        .into_iter()
        .map(|r| r.data)
        .collect()
}

#[test]
fn fnatd_rewrites_the_demo_captures_frame_by_frame() {
    require_root();
    let dir = RunDir::new("fnatd-pcap");
    let demo = fixtures::demo();
    let drops = demo.steps.iter().filter(|s| matches!(s.expect, Expect::Drop(_))).count();
    let ports = fixtures::demo_captures();
    write_pcap(&dir.file("lan-in.pcap"), &ports[usize::from(LAN)].input);
    write_pcap(&dir.file("dmz-in.pcap"), &ports[usize::from(DMZ)].input);
    let config = fixtures::CONFIG_TEMPLATE
        .replace("@RUN_DIR@", &dir.path.display().to_string())
        .replace("file_prefix = \"fnat-pcap\"", &format!("file_prefix = \"{}\"", dir.prefix));
    std::fs::write(dir.file("fnatd.toml"), config).unwrap();

    let mut cmd = Command::new(env!("CARGO_BIN_EXE_fnatd"));
    cmd.arg("--config").arg(dir.file("fnatd.toml"));
    let mut fnatd =
        Daemon::fnatd(cmd, &dir.file("fnatd.log"), Duration::from_secs(60)).unwrap_or_else(|e| panic!("{e}"));
    // The captures are read at once; give the worker a moment, then look at it with fnatctl and stop
    // it as an operator would.
    std::thread::sleep(Duration::from_millis(1500));
    let fnatctl = Path::new(env!("CARGO_BIN_EXE_fnatd")).with_file_name("fnatctl");
    let ctl = |args: &[&str]| {
        let out = Command::new(&fnatctl).arg("--ctl").arg(dir.file("fnatd.ctl")).args(args).output().unwrap();
        assert!(out.status.success(), "fnatctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let conns = ctl(&["-L", "-n", "-c"]);
    let lines: Vec<&str> = conns.lines().collect();
    assert_eq!(lines[0], "IPVS connection entries", "{conns}");
    assert!(lines[1].contains(" local ") && lines[1].ends_with("destination"), "{conns}");
    assert_eq!(lines.len(), 2 + 10 + 1, "ten connections and a persistence template: {conns}");
    let (templates, conns_only): (Vec<&str>, Vec<&str>) = lines[2..].iter().partition(|l| l.contains(" NONE "));
    assert!(conns_only.iter().all(|l| l.contains("10.0.0.2:") && l.contains("10.1.0.10:")), "{conns}");
    assert!(conns_only.iter().any(|l| l.starts_with("UDP ") && l.contains(" UDP ")), "{conns}");
    // The template, as ipvsadm lists one: client port 0, state NONE, about 360 s left (the local
    // column, there for the FULLNAT connections, shows the client as for non-FULLNAT entries).
    let t = templates.first().copied().unwrap_or_default();
    assert!(t.starts_with("TCP 05:5") || t.starts_with("TCP 06:00"), "{conns}");
    let cols: Vec<&str> = t.split_whitespace().collect();
    assert_eq!(cols[2..], ["NONE", "10.0.0.2:0", "10.0.0.104:80", "10.0.0.2:0", "10.1.0.11:80"], "{conns}");
    let persistent: Vec<&str> = conns_only.iter().copied().filter(|l| l.contains("10.0.0.104:80")).collect();
    assert_eq!(persistent.len(), 2, "{conns}");
    assert!(persistent.iter().all(|l| l.ends_with(" 10.1.0.11:80")), "both on rs1: {conns}");
    // The capture's client frames (through its FIN) all come before the server's SYN-ACK: by IPVS's
    // table, an OUTPUT SYN on CLOSE_WAIT gives SYN_SENT; the other connections saw SYN, SYN-ACK only.
    let state =
        |cport: &str| lines.iter().find(|l| l.contains(&format!("10.0.0.2:{cport} "))).map(|l| l[11..23].trim_end());
    assert_eq!(state("40000"), Some("SYN_SENT"), "{conns}");
    assert_eq!(state("40001"), Some("SYN_RECV"), "{conns}");
    ctl(&["--set", "100", "0", "0"]);
    assert_eq!(ctl(&["-L", "--timeout"]), "Timeout (tcp tcpfin udp): 100 120 300\n");
    let status = fnatd.stop(Duration::from_secs(30)).unwrap_or_else(|e| panic!("fnatd {e}"));
    let rest = fnatd.log();
    assert!(status.success(), "fnatd exited with {status}: {rest}");
    assert!(rest.contains("fnatd: stopped"), "{rest}");
    // The LAN port also carries worker 0's announcements of the VIPs.
    let garps = fixtures::announcements().len();
    // ... and the "time exceeded" for the demo's TTL-1 SYN.
    assert!(rest.contains(&format!("port lan: rx 16 tx {} ", 7 + garps)), "{rest}");
    assert!(rest.contains("port dmz: rx 6 tx 14 "), "{rest}");
    let total = rest.lines().find(|l| l.starts_with("workers total:")).unwrap_or_default();
    let wants = [
        format!("rx 22 tx {} fwd_in 13 fwd_out 6 ", 21 + garps),
        // The datagram in two fragments: whole in a large buffer, out in two plain ones.
        "icmp_time_exceeded 1 frags_in 2 reassembled 1 fragmented 1 frags_out 2 ".to_owned(),
        "conns_created 10 ".to_owned(),
        "persist_followed 1 persist_untracked 0 ".to_owned(),
        format!("arp_requests {garps} "),
        format!("drops {drops} "),
    ];
    for want in &wants {
        assert!(total.contains(want), "{want:?} in {total}");
    }

    assert_eq!(read_pcap(&dir.file("dmz-out.pcap")), ports[usize::from(DMZ)].expected, "frames to the real servers");
    assert_eq!(read_pcap(&dir.file("lan-out.pcap")), ports[usize::from(LAN)].expected, "frames to the clients");
}

#[test]
fn fnatd_refuses_a_bad_config_naming_file_and_field() {
    let dir = RunDir::new("fnatd-bad");
    let bad = fixtures::CONFIG_TEMPLATE.replace("weight = 2", "weight = -2");
    std::fs::write(dir.file("bad.toml"), bad).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fnatd")).arg("--config").arg(dir.file("bad.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml") && err.contains("weight") && err.contains("line"), "{err}");

    let unknown = fixtures::CONFIG_TEMPLATE
        .replace("@RUN_DIR@", &dir.path.display().to_string())
        .replace("scheduler = \"rr\"", "scheduler = \"fair\"");
    std::fs::write(dir.file("fair.toml"), unknown).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_fnatd")).arg("--config").arg(dir.file("fair.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fair.toml: service[0].scheduler: unknown scheduler 'fair'"), "{err}");

    let out = Command::new(env!("CARGO_BIN_EXE_fnatd")).arg("--config").arg(dir.file("missing.toml")).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml: cannot read"));
}

/// A worker's DPDK queues, with each port's receive side switched on or off.
struct Gated {
    io: DpdkIo,
    rx_on: [bool; 2],
}

impl PacketIo for Gated {
    type Buf = Mbuf;

    fn ports(&self) -> usize {
        self.io.ports()
    }

    fn rx_burst(&mut self, port: PortIdx, out: &mut Vec<Mbuf>, max: usize) {
        if self.rx_on[usize::from(port)] {
            self.io.rx_burst(port, out, max);
        }
    }

    fn alloc(&mut self, len: usize) -> Option<Mbuf> {
        self.io.alloc(len)
    }

    fn tx_burst(&mut self, port: PortIdx, pkts: &mut Vec<Mbuf>) -> usize {
        self.io.tx_burst(port, pkts)
    }
}

#[test]
fn two_workers_pass_misdirected_replies_through_the_ring_on_real_mbufs() {
    require_root();
    let dir = RunDir::new("two-workers");
    // Worker 0 owns the even local ports, worker 1 the odd ones. Each worker's queue 0/1 of a port
    // is a capture file of its own.
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    // rr cycles per service over both workers: a goes to rs1, b to rs2.
    let b = Flow::tcp(40001, 1, FIRST_LPORT + 1);
    let syn_a = a.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
    let syn_b = b.tcp_in(0, TcpFlags::SYN, 1, 0, b"");
    let reply_a = a.tcp_out(1, TcpFlags::ACK, 5, 2, b"a");
    let reply_b = b.tcp_out(1, TcpFlags::ACK, 5, 2, b"b");
    write_pcap(&dir.file("lan-in0.pcap"), std::slice::from_ref(&syn_a.frame));
    write_pcap(&dir.file("lan-in1.pcap"), std::slice::from_ref(&syn_b.frame));
    // Each reply lands on the worker that does not own it.
    write_pcap(&dir.file("dmz-in0.pcap"), std::slice::from_ref(&reply_b.frame));
    write_pcap(&dir.file("dmz-in1.pcap"), std::slice::from_ref(&reply_a.frame));
    let d = dir.path.display();
    let args: Vec<String> = [
        "-l", "0,1", "--no-huge", "-m", "256", "--no-pci", "--file-prefix", &dir.prefix, "--log-level=*:warning",
        &format!("--vdev=net_pcap0,rx_pcap={d}/lan-in0.pcap,rx_pcap={d}/lan-in1.pcap,tx_pcap={d}/lan-out0.pcap,tx_pcap={d}/lan-out1.pcap"),
        &format!("--vdev=net_pcap1,rx_pcap={d}/dmz-in0.pcap,rx_pcap={d}/dmz-in1.pcap,tx_pcap={d}/dmz-out0.pcap,tx_pcap={d}/dmz-out1.pcap"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).expect("EAL starts");
    let pool = Mempool::pktmbuf("fixture_pool", 8191, 64, 2048 + 128, eal.socket_id()).unwrap();
    let conf = PortConf { rx_queues: 2, tx_queues: 2, rx_desc: 256, tx_desc: 256, ..PortConf::default() };
    let ports: Vec<Port> = ["net_pcap0", "net_pcap1"].iter().map(|n| Port::by_name(n).unwrap()).collect();
    let mut queues: Vec<_> = ports
        .iter()
        .map(|p| {
            p.configure(&conf, &pool).unwrap();
            p.start().unwrap()
        })
        .collect();
    let snap = fixtures::snapshot();
    assert_eq!((snap.ifaces[0].mac, snap.ifaces[1].mac), (LAN_MAC, DMZ_MAC));
    let templates = fixtures::templates();
    // The pcap devices report their links up once started: the workers' gate opens at once.
    let gate = LinkGate::new(&ports);
    let mut workers: Vec<(Poller<Mbuf>, Gated)> = redirect_mesh::<Mbuf>(2, 64)
        .into_iter()
        .enumerate()
        .map(|(i, links)| {
            let io = DpdkIo::new(
                queues.iter_mut().map(|q| q.rx.remove(0)).collect(),
                queues.iter_mut().map(|q| q.tx.remove(0)).collect(),
                pool.clone(),
                gate.flags(),
            );
            let w = fixtures::worker(&Arc::clone(&snap), u16::try_from(i).unwrap(), 2, &templates);
            (Poller::new(w, links, 2), Gated { io, rx_on: [true, false] })
        })
        .collect();
    // Phase 1: only the clients' SYNs. Phase 2: the replies, then the rings.
    for (p, io) in &mut workers {
        p.poll(io, 0);
    }
    for round in 0..3 {
        for (p, io) in &mut workers {
            io.rx_on = [false, true];
            p.poll(io, 1 + round);
        }
    }
    let stats: Vec<_> = workers.iter().map(|(p, _)| p.worker.stats.clone()).collect();
    drop(workers);
    drop(queues);
    for p in &ports {
        p.stop().unwrap();
        p.close().unwrap();
    }
    for (i, s) in stats.iter().enumerate() {
        // Worker 0 also sends the announcements of the VIPs.
        let tx = 2 + if i == 0 { fixtures::announcements().len() as u64 } else { 0 };
        assert_eq!(
            (s.rx, s.tx, s.redirected_out, s.redirected_in, s.total_drops()),
            (2, tx, 1, 1, 0),
            "worker {i}: {s}"
        );
    }
    let frame = |e: &Expect| e.frames().remove(0).1;
    assert_eq!(read_pcap(&dir.file("dmz-out0.pcap")), vec![frame(&syn_a.expect)]);
    assert_eq!(read_pcap(&dir.file("dmz-out1.pcap")), vec![frame(&syn_b.expect)]);
    let mut want: Vec<Vec<u8>> = fixtures::announcements().into_iter().map(|(_, f)| f).collect();
    want.push(frame(&reply_a.expect));
    assert_eq!(read_pcap(&dir.file("lan-out0.pcap")), want, "worker 0 announces the VIPs, then sends its reply");
    assert_eq!(read_pcap(&dir.file("lan-out1.pcap")), vec![frame(&reply_b.expect)], "worker 1 sends the reply it owns");
    drop(pool);
    drop(eal);
}
