//! `fnat-gen`: a pktgen-style traffic generator for fnatd over net_memif, with the I/O ceiling
//! beside it.
//!
//! The generator is both ends of the gateway: on the LAN link it is the clients (behind a router,
//! 198.18.0.0/15), on the DMZ link it is every real server, answering as real servers would. So
//! both directions of a FULLNAT service are measured: client to real server ("in") and back
//! ("out"). It starts the target itself, in a run directory it removes afterwards: fnatd with a
//! configuration written for the run, or `dpdk-testpmd` forwarding between the same two memif
//! ports in io mode (the ceiling: the same link and the same generator with a gateway that only
//! moves frames). `--compare` runs both, one after the other, and prints fnatd's figures as a
//! share of testpmd's.
//!
//! Traffic:
//! - `established`: every flow first does a TCP handshake (SYN, SYN-ACK from the "real server",
//!   ACK) or, for UDP, one request the real server side learns the flow from; then, for the
//!   measured time, frames of each flow go both ways, round robin over the flows.
//! - `new`: each frame opens a new connection (a SYN of the next flow, answered with a SYN-ACK
//!   and acknowledged); the figure is completed handshakes per second.
//!
//! Every frame carries its send time (TSC) in its payload, so the other side measures the latency
//! (the generator runs on one lcore and reads one TSC). One frame in 64 is checked in full on
//! arrival: the addresses and ports fnatd must have written (the local address and port, the real
//! server; the VIP back to the client), TTL decremented, IPv4 and TCP/UDP checksums valid.
//!
//! Bounded: the measurement lasts at most 60 s, the setup at most 30 s. Needs root (DPDK) and
//! `dpdk-testpmd` (Debian's `dpdk-dev`) for the ceiling.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use bench::pktgen::churn::Churn;
use bench::pktgen::frames;
use bench::pktgen::report::Report;
use bench::pktgen::target::{self, Spread};
use bench::pktgen::topo::Topo;
use clap::{Parser, ValueEnum};
use dataplane::dpdk::{Eal, Mempool, Port, PortConf};
use dataplane::fixtures::process::Daemon;
use dataplane::lb::rss::{self, Steering};

mod generator;

use generator::{Gen, Side};

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum TargetKind {
    /// fnatd, configured for the run.
    Fnatd,
    /// dpdk-testpmd in io mode: the ceiling.
    Testpmd,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Traffic {
    /// Established flows, frames both ways.
    Established,
    /// A new connection per frame (a handshake each).
    New,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Proto {
    Tcp,
    Udp,
}

/// A pktgen-style generator for fnatd over net_memif (see the module docs).
#[derive(Parser, Debug, Clone)]
#[command(name = "fnat-gen")]
struct Args {
    /// The gateway under test.
    #[arg(long, value_enum, default_value = "fnatd")]
    target: TargetKind,
    /// Run testpmd then fnatd with the same options and print fnatd's figures as a share of
    /// testpmd's.
    #[arg(long)]
    compare: bool,
    /// Established flows, or a new connection per frame.
    #[arg(long, value_enum, default_value = "established")]
    traffic: Traffic,
    /// TCP or UDP.
    #[arg(long, value_enum, default_value = "tcp")]
    proto: Proto,
    /// Flows (client address and port pairs); a new-connection run opens at most this many.
    #[arg(long, default_value_t = 100_000)]
    flows: u32,
    /// Client addresses the flows come from.
    #[arg(long, default_value_t = 256)]
    clients: u32,
    /// Real servers.
    #[arg(long, default_value_t = 4)]
    servers: u32,
    /// Frame size on the wire, FCS included (64 to 1518).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Offered rate in frames per second, both directions together (0: as fast as possible).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds of measurement (at most 60).
    #[arg(long, default_value_t = 5.0)]
    duration: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// fnatd's binary (default: next to this one).
    #[arg(long)]
    fnatd: Option<PathBuf>,
    /// dpdk-testpmd's binary.
    #[arg(long, default_value = "dpdk-testpmd")]
    testpmd: PathBuf,
    /// fnatd's connection-table size (default: enough for the flows, at least 65536).
    #[arg(long)]
    conn_table: Option<u32>,
    /// fnatd only: this many fnatctl changes per second while the measurement runs (a real server
    /// added to the measured service and deleted again, weights of its servers changed, a second
    /// service added and deleted), none of which takes a flow's real server away.
    #[arg(long, default_value_t = 0)]
    churn: u32,
    /// A SYN flood beside the measured traffic: this many SYNs a second (0: none) to the TCP
    /// service from random spoofed sources (100.64.0.0/10, random ports) that never complete their
    /// handshake. Not counted in the measured traffic; fnatd's memory is reported before and after.
    #[arg(long, default_value_t = 0)]
    flood: u64,
    /// fnatd's workers (testpmd's queues), and queues per link: the generator spreads its frames
    /// over them by the Toeplitz hash of their 4-tuple, as a NIC's RSS would (1 to 8).
    #[arg(long, default_value_t = 1)]
    workers: u16,
    /// fnatd's steering on both ports with several workers: auto, rss, flow or redirect.
    #[arg(long, default_value = "auto")]
    steering: String,
    /// The RSS key the generator spreads frames by (and tells fnatd): default, symmetric or hex.
    #[arg(long, default_value = "default")]
    rss_key: String,
    /// Every fnatd worker on this CPU (e.g. 1: the generator keeps CPU 0 to itself on a two-core
    /// machine, and two workers take turns on the other).
    #[arg(long)]
    workers_cpu: Option<u32>,
    /// fnatd's real servers forward by NAT (the real server sees the client) instead of FULLNAT.
    #[arg(long)]
    nat: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let result = if args.compare { compare(&args) } else { run_one(&args).map(|r| print(&args, &r)) };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fnat-gen: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn print(args: &Args, r: &Report) {
    if args.json {
        println!("{}", r.json());
    } else {
        print!("{}", r.table());
    }
}

/// `--compare`: this binary twice (its DPDK state is one per process), against testpmd then
/// fnatd, and the ratios.
fn compare(args: &Args) -> Result<()> {
    let me = std::env::current_exe().context("finding fnat-gen's own path")?;
    let mut results = Vec::new();
    for target in ["testpmd", "fnatd"] {
        let mut cmd = Command::new(&me);
        cmd.args(std::env::args().skip(1).filter(|a| a != "--compare" && a != "--json"));
        cmd.args(["--target", target, "--json"]);
        let out =
            cmd.stderr(Stdio::inherit()).output().with_context(|| format!("running fnat-gen against {target}"))?;
        ensure!(out.status.success(), "the run against {target} failed");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).context("reading its JSON")?;
        results.push(v);
    }
    let (ceiling, fnat) = (&results[0], &results[1]);
    let ratio = |k: &str| {
        let (a, b) = (fnat[k].as_f64().unwrap_or(0.0), ceiling[k].as_f64().unwrap_or(0.0));
        if b > 0.0 { a / b } else { 0.0 }
    };
    let summary = serde_json::json!({
        "testpmd": ceiling, "fnatd": fnat,
        "ratio": {"mpps": ratio("mpps"), "cps": ratio("cps")},
    });
    if args.json {
        println!("{summary}");
    } else {
        for (name, v) in [("testpmd (ceiling)", ceiling), ("fnatd", fnat)] {
            let lat = &v["latency_ns"];
            println!(
                "{name:<18} {:>8.3} Mpps {:>7.3} Gbit/s  loss in {:.3}% out {:.3}%  p50 {:.1} us p99 {:.1} us p99.9 {:.1} us{}",
                v["mpps"].as_f64().unwrap_or(0.0),
                v["gbps"].as_f64().unwrap_or(0.0),
                v["in"]["loss"].as_f64().unwrap_or(0.0) * 100.0,
                v["out"]["loss"].as_f64().unwrap_or(0.0) * 100.0,
                lat["p50"].as_f64().unwrap_or(0.0) / 1e3,
                lat["p99"].as_f64().unwrap_or(0.0) / 1e3,
                lat["p999"].as_f64().unwrap_or(0.0) / 1e3,
                if args.traffic == Traffic::New {
                    format!("  {:.0} conn/s", v["cps"].as_f64().unwrap_or(0.0))
                } else {
                    String::new()
                }
            );
        }
        println!(
            "fnatd / testpmd: {:.1}% of the frames per second{}",
            ratio("mpps") * 100.0,
            if args.traffic == Traffic::New {
                format!(", {:.1}% of the connections", ratio("cps") * 100.0)
            } else {
                String::new()
            }
        );
        if fnat["wrong"].as_u64().unwrap_or(1) != 0 {
            bail!("fnatd wrote wrong frames: {}", fnat["first_wrong"]);
        }
    }
    Ok(())
}

/// The run directory and the target process, removed and stopped on drop.
struct Run {
    dir: PathBuf,
    prefix: String,
    child: Option<Daemon>,
    gen_prefix: String,
}

impl Run {
    /// Stops the target (SIGTERM, then SIGKILL after 10 s).
    fn stop_target(&mut self) {
        if let Some(mut d) = self.child.take() {
            let _ = d.stop(Duration::from_secs(10));
        }
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        self.stop_target();
        let _ = std::fs::remove_dir_all(&self.dir);
        for p in [&self.prefix, &self.gen_prefix] {
            let _ = std::fs::remove_dir_all(Path::new("/var/run/dpdk").join(p));
        }
    }
}

fn run_one(args: &Args) -> Result<Report> {
    ensure!(frames::SIZES.contains(&args.size), "--size must be 64 to 1518 (a frame on the wire, FCS included)");
    ensure!(args.duration > 0.0 && args.duration <= 60.0, "--duration must be more than 0 and at most 60 s");
    ensure!((1..=8).contains(&args.workers), "--workers must be 1 to 8");
    let key = rss::parse_key(&args.rss_key).map_err(|e| anyhow::anyhow!("--rss-key: {e}"))?;
    let nic = Steering::round_robin(&key, target::PEER_RETA_SIZE, args.workers).map_err(anyhow::Error::msg)?;
    let topo = Topo { flows: args.flows, clients: args.clients, servers: args.servers, laddrs: 0 };
    // FULLNAT needs a local port per connection: 64,512 per local address.
    let topo = Topo { laddrs: args.flows.div_ceil(60_000).max(1), ..topo };
    topo.check().map_err(anyhow::Error::msg)?;
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("fnat-gen-{pid}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut run = Run {
        dir: dir.clone(),
        prefix: format!("fnat-gen-t{pid}"),
        child: None,
        gen_prefix: format!("fnat-gen-g{pid}"),
    };
    run.child = Some(start_target(args, &topo, &run)?);

    let eal_args: Vec<String> = std::iter::once("fnat-gen".to_owned())
        .chain(target::memif_eal_args(&["-l", "0"], &run.gen_prefix, &dir, false))
        .collect();
    let eal = Eal::init(&eal_args).context("starting the generator's EAL")?;
    let pool = Mempool::pktmbuf("gen_pool", 65535, 256, 2048 + 128, eal.socket_id()).context("the mbuf pool")?;
    let mut ports = Vec::new();
    for name in ["net_memif0", "net_memif1"] {
        let port = Port::by_name(name).with_context(|| format!("no port {name}"))?;
        let n = args.workers;
        let conf = PortConf { rx_queues: n, tx_queues: n, rx_desc: 1024, tx_desc: 1024, ..PortConf::default() };
        port.configure(&conf, &pool).with_context(|| format!("configuring {name}"))?;
        ports.push(port);
    }
    let mut queues = Vec::new();
    let measured = (|| {
        for p in &ports {
            let q = p.start().context("starting a memif port")?;
            queues.push(Side { rx: q.rx, tx: q.tx });
        }
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ports.iter().all(|p| p.link().is_ok_and(|l| l.up)) {
            ensure!(Instant::now() < deadline, "the memif links did not come up within 20 s");
            std::thread::sleep(Duration::from_millis(50));
        }
        let (dmz, lan) = (queues.pop().context("dmz queues")?, queues.pop().context("lan queues")?);
        let mut g = Gen::new(args, topo, eal.tsc_hz(), pool, (lan, dmz), nic);
        g.target_pid = run.child.as_ref().and_then(Daemon::pid);
        if args.churn > 0 {
            ensure!(args.target == TargetKind::Fnatd, "--churn changes fnatd's configuration: it needs --target fnatd");
            let fnatd =
                args.fnatd.clone().map_or_else(|| std::env::current_exe().map(|p| p.with_file_name("fnatd")), Ok)?;
            g.churn = Some(Churn {
                fnatctl: fnatd.with_file_name("fnatctl"),
                ctl: dir.join("fnatd.ctl"),
                rate: args.churn,
                first_server: topo.server(0),
                stop: std::sync::Arc::default(),
                thread: None,
            });
        }
        g.run()
    })();
    // The target stops first, while its links are up: DPDK 22.11's memif unmaps a link's rings
    // from its interrupt thread when the peer goes, under the lcores that may still be polling
    // them (a crash seen with two workers). The generator no longer polls by now.
    run.stop_target();
    // Whatever happened, the ports stop before the EAL goes (memif's interrupt handlers with it).
    drop(queues);
    for p in &ports {
        let _ = p.stop();
        let _ = p.close();
    }
    drop(ports);
    drop(eal);
    let log = std::fs::read_to_string(run.dir.join("target.log")).unwrap_or_default();
    let measured = measured.map(|mut r| {
        // fnatd prints its counters when it stops: the workers' total, drops by reason included.
        r.target_counters = log.lines().find_map(|l| l.strip_prefix("workers total: ")).map(str::to_owned);
        r.steering = log.lines().filter(|l| l.contains(": steering ")).map(str::to_owned).collect();
        r
    });
    if measured.is_err() {
        let tail: Vec<&str> = log.lines().rev().take(12).collect();
        eprintln!("fnat-gen: the target's last words:");
        for l in tail.iter().rev() {
            eprintln!("  {l}");
        }
    }
    drop(run);
    measured
}

/// Starts the target and waits until it serves the memif sockets.
fn start_target(args: &Args, topo: &Topo, run: &Run) -> Result<Daemon> {
    let log = run.dir.join("target.log");
    let timeout = Duration::from_secs(30);
    let started = match args.target {
        TargetKind::Fnatd => {
            let fnatd = match &args.fnatd {
                Some(p) => p.clone(),
                None => std::env::current_exe()?.with_file_name("fnatd"),
            };
            let table = args.conn_table.unwrap_or_else(|| (args.flows.saturating_mul(2)).max(65_536));
            let spread = Spread {
                workers: args.workers,
                steering: args.steering.clone(),
                rss_key: args.rss_key.clone(),
                cpu: args.workers_cpu,
                nat: args.nat,
            };
            let cfg = target::fnatd_config(&run.dir, topo, table, &run.prefix, &spread);
            let path = run.dir.join("fnatd.toml");
            std::fs::write(&path, cfg)?;
            let mut cmd = Command::new(&fnatd);
            cmd.arg("--config").arg(&path);
            Daemon::fnatd(cmd, &log, timeout)
        }
        TargetKind::Testpmd => {
            let mut cmd = Command::new(&args.testpmd);
            cmd.args(target::testpmd_args(&run.dir, &run.prefix, args.workers));
            let served = |_: &str| run.dir.join("lan.sock").exists() && run.dir.join("dmz.sock").exists();
            Daemon::spawn(cmd, &log, timeout, served)
                .map_err(|e| format!("{e}\n(dpdk-testpmd: Debian's dpdk-dev package has it)"))
        }
    };
    started.map_err(|e| anyhow!("the target: {e}"))
}
