//! fnatd's assembly: EAL from the configuration, ports with one queue pair per worker, one pinned
//! poll-mode worker per lcore, and an orderly stop on SIGINT/SIGTERM with the final counters.
//!
//! The main lcore runs this module and then [`MainLoop`] (the control side); each worker lcore runs
//! one [`Poller`] over [`DpdkIo`], its own queues on every port. Workers and the main lcore talk
//! only through single-producer single-consumer rings, one stop flag per worker (a relaxed load
//! per poll) and the ports' link flags (`LinkGate`). Each port's steering is decided at start
//! (`steer`).

use std::fmt::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

mod ha;
mod io;
pub mod kni;
mod metrics;
mod steer;

pub use io::{DpdkIo, LinkGate};
pub use metrics::MetricsServer;
pub use steer::PortSteer;

use std::collections::HashMap;

use crate::config::{Config, PortDevice};
use crate::control::{ControlState, MainLoop};
use crate::dpdk::{Eal, LcoreId, Mbuf, Mempool, Port, PortConf, PortStats};
use crate::lb::{ConnTable, LocalAddrPool, Templates};
use crate::net::{NeighManager, NeighTimers};
use crate::packet::MacAddr;
use crate::snapshot::Snapshot;
use crate::worker::DestConns;
use crate::worker::poll::{BURST, Poller, redirect_mesh};
use crate::worker::shared;
use crate::worker::{DropReason, Worker, WorkerId, WorkerStats};
use ctrl::msg::{Command, CounterReport, PortCounters, Reply, WorkerCounters};
use ctrl::shm::Server;
use ctrl::vocab::{Counters, Rates};

/// Frames each redirect ring holds.
const REDIRECT_RING: usize = 1024;
/// Per-lcore mempool cache.
const POOL_CACHE: u32 = 256;

/// The EAL arguments a configuration asks for.
pub fn eal_args(cfg: &Config) -> Vec<String> {
    let ids = std::iter::once(cfg.eal.main_lcore).chain(cfg.worker_lcores.iter().copied());
    let [flag, lcores] = match &cfg.worker_cpus {
        // lcore@cpu: each lcore on its CPU; the main lcore on the CPU of its number.
        Some(cpus) => {
            let on = std::iter::once(cfg.eal.main_lcore).chain(cpus.iter().copied());
            ["--lcores".to_owned(), ids.zip(on).map(|(l, c)| format!("{l}@{c}")).collect::<Vec<_>>().join(",")]
        }
        None => ["-l".to_owned(), ids.map(|l| l.to_string()).collect::<Vec<_>>().join(",")],
    };
    let mut args = vec![
        flag,
        lcores,
        "--main-lcore".to_owned(),
        cfg.eal.main_lcore.to_string(),
        "--file-prefix".to_owned(),
        cfg.eal.file_prefix.clone(),
        "-m".to_owned(),
        cfg.eal.memory_mb.to_string(),
    ];
    if cfg.eal.no_huge {
        args.push("--no-huge".to_owned());
    }
    let mut any_pci = false;
    for p in &cfg.ports {
        match &p.device {
            PortDevice::Pci(addr) => {
                any_pci = true;
                args.extend(["-a".to_owned(), addr.clone()]);
            }
            PortDevice::Vdev(v) => args.push(format!("--vdev={v}")),
        }
    }
    if !any_pci {
        args.push("--no-pci".to_owned());
    }
    args.extend(kni::eal_vdevs(cfg));
    args.extend(cfg.eal.extra_args.iter().cloned());
    args
}

/// Mbufs for every descriptor of every queue, the burst buffers and redirect rings, plus headroom;
/// a power of two minus one, as DPDK's mempool prefers.
fn pool_size(cfg: &Config) -> u32 {
    let workers = cfg.worker_lcores.len();
    let descs: usize =
        cfg.ports.iter().map(|p| usize::from(p.rx_desc) + usize::from(p.tx_desc)).sum::<usize>() * workers;
    let per_worker = usize::try_from(POOL_CACHE).unwrap_or(256) + BURST * (cfg.ports.len() + 1) * 2;
    let rings = REDIRECT_RING * workers * workers.saturating_sub(1);
    let need = descs + kni::descriptors(cfg) + per_worker * workers + rings + 4096;
    u32::try_from(need.next_power_of_two() - 1).unwrap_or(u32::MAX)
}

/// The workers and ports as the control state sees them.
struct Gateway<'a> {
    main: &'a MainLoop,
    /// What the workers published, gathered once for a request that lists services or a scrape (a
    /// round trip to every worker, which also folds their traffic into the statistics).
    published: Option<Vec<shared::Published>>,
    /// Per-real-server connection counts, summed from it.
    counts: HashMap<crate::lb::DestId, DestConns>,
    io: &'a ControlIo<'a>,
}

impl<'a> Gateway<'a> {
    fn new(main: &'a MainLoop, gather: bool, io: &'a ControlIo<'a>) -> Self {
        let published = gather.then(|| main.gather());
        let counts = published.as_deref().map(MainLoop::dest_conns).unwrap_or_default();
        Self { main, published, counts, io }
    }
}

impl crate::control::Gateway for Gateway<'_> {
    fn conn_counts(&self, dest: crate::lb::DestId) -> (u32, u32) {
        self.counts.get(&dest).map_or((0, 0), |c| (c.active, c.inactive))
    }

    fn connections(&self, svc: Option<crate::lb::ServiceKey>, max: usize) -> ctrl::msg::ConnListing {
        self.main.connections(svc, max, self.io.now)
    }

    fn dest_stats(&self, dest: crate::lb::DestId) -> (Counters, Rates) {
        self.main.stats_book().dest(dest)
    }

    fn service_stats(&self, svc: &crate::lb::ServiceKey) -> (Counters, Rates) {
        self.main.stats_book().service(svc)
    }

    fn zero(&self, svc: Option<(crate::lb::ServiceKey, &[crate::lb::DestId])>) {
        // What the workers counted so far is folded in first, so that it is zeroed too.
        self.main.gather();
        self.main.stats_book().zero(svc);
    }

    fn health(&self) -> Vec<ctrl::msg::HealthView> {
        self.io.health.views(self.io.now)
    }

    fn vrrp(&self) -> Vec<ctrl::msg::VrrpView> {
        let names =
            |p: crate::net::PortIdx| self.io.ports.get(usize::from(p)).map(|(n, _)| n.clone()).unwrap_or_default();
        self.io.ha.vrrp.views(self.io.now, names)
    }

    fn sync_daemon(&self, command: &Command) -> Result<(), String> {
        self.io.ha.sync_command(command)
    }

    fn daemons(&self) -> Vec<ctrl::msg::DaemonView> {
        self.io.ha.daemons()
    }

    fn reload_checks(&self) -> Result<(), String> {
        let cfg = Config::load(self.io.config).map_err(|e| e.to_string())?;
        self.io.health.reload(cfg.checks);
        Ok(())
    }

    fn counters(&self) -> CounterReport {
        let fresh;
        let published = match &self.published {
            Some(p) => p,
            None => {
                fresh = self.main.gather();
                &fresh
            }
        };
        let (total, rates) = self.main.stats_book().total();
        let ports = self.io.ports.iter().zip(self.io.steers).map(|((name, port), steer)| {
            port_counters(name, &port.stats().unwrap_or_default(), steer.steering.mode.name())
        });
        let workers = published.iter().zip(self.io.lcores).map(|(p, &lcore)| WorkerCounters {
            lcore,
            counters: p.stats.named().iter().map(|&(n, v)| (n.to_owned(), v)).collect(),
            drops: DropReason::ALL.iter().map(|&r| (r.label().to_owned(), p.stats.dropped(r))).collect(),
        });
        CounterReport { ports: ports.collect(), workers: workers.collect(), total, rates }
    }
}

fn port_counters(name: &str, p: &PortStats, steering: &str) -> PortCounters {
    PortCounters {
        name: name.to_owned(),
        steering: steering.to_owned(),
        rx: p.ipackets,
        tx: p.opackets,
        rx_bytes: p.ibytes,
        tx_bytes: p.obytes,
        missed: p.imissed,
        rx_errors: p.ierrors,
        tx_errors: p.oerrors,
        rx_nombuf: p.rx_nombuf,
    }
}

/// How long a change's answer waits for every worker to take its snapshot (a worker takes it
/// between two bursts: microseconds); a worker that has not by then is reported, and fnatctl
/// answered all the same (the change is made). Well under fnatctl's wait for an answer.
const IN_FORCE_WAIT_MS: u64 = 1000;

/// The answer to a request that changed the configuration, held until every worker forwards
/// with the snapshot that carries the change: like ipvsadm, fnatctl returns once the change is in
/// force, so the next connection after it is scheduled by the new configuration.
struct HeldReply {
    seq: u64,
    reply: Reply,
    /// The snapshot's number ([`MainLoop::in_force`]).
    snapshot: u64,
    /// When it was published, on the workers' clock.
    since: u64,
}

/// Answers the requests fnatctl left in the control file and the waiting metrics scrape. A
/// request that changes the configuration hands the workers the new one (services and timeouts)
/// at once and rewrites the rules file, if any; its answer is held (in `held`) until the change is
/// in force, and the requests behind it wait meanwhile. Returns whether the configuration changed.
fn serve_control(
    server: &mut Server,
    state: &mut ControlState,
    main: &mut MainLoop,
    io: &ControlIo<'_>,
    held: &mut Option<HeldReply>,
) -> Result<bool, Error> {
    use anyhow::Context as _;

    if let Some(h) = held.take() {
        let (waited, in_force) = (io.now.saturating_sub(h.since), main.in_force(h.snapshot));
        if in_force || waited >= IN_FORCE_WAIT_MS {
            if !in_force {
                eprintln!("fnatd: a worker has not taken the change after {waited} ms; answering fnatctl anyway");
            }
            server.reply(h.seq, &h.reply).context("answering fnatctl")?;
        } else {
            *held = Some(h);
            server.heartbeat();
        }
    }
    // Connection listings are cut to fit this file's replies.
    state.set_max_payload(server.max_payload());
    let mut changed = false;
    while held.is_none()
        && let Some(incoming) = server.poll()
    {
        let lists =
            incoming.request.as_ref().is_ok_and(|r| r.commands.iter().any(|c| matches!(c, Command::List { .. })));
        let before = state.generation();
        let reply = state.answer(incoming.request, &Gateway::new(main, lists, io));
        if state.generation() == before {
            server.reply(incoming.seq, &reply).context("answering fnatctl")?;
            continue;
        }
        changed = true;
        let snapshot = publish_change(state, main, io)?;
        *held = Some(HeldReply { seq: incoming.seq, reply, snapshot, since: io.now });
    }
    if let Some(scrape) = io.metrics.and_then(MetricsServer::pending) {
        let gw = Gateway::new(main, true, io);
        let text = state
            .listing_with(None, true, &gw)
            .map(|l| {
                let counters = crate::control::Gateway::counters(&gw);
                let (health, vrrp, daemons) = {
                    use crate::control::Gateway as _;
                    (gw.health(), gw.vrrp(), gw.daemons())
                };
                let extras = crate::control::metrics::Extras { health: &health, vrrp: &vrrp, daemons: &daemons };
                crate::control::metrics::render(&l, &counters, extras)
            })
            .unwrap_or_default();
        // The scrape may have given up waiting.
        let _ = scrape.send(text);
    }
    Ok(changed)
}

/// Hands the workers the configuration `state` now holds and rewrites the rules file, if any.
/// Returns the new snapshot's number.
fn publish_change(state: &mut ControlState, main: &mut MainLoop, io: &ControlIo<'_>) -> Result<u64, Error> {
    let n = publish(state, main)?;
    if let Some(path) = io.rules {
        // The change is applied already; a rules file that cannot be written is reported, and
        // the next change tries again.
        let written = crate::control::rules::save_state(state)
            .map_err(std::io::Error::other)
            .and_then(|text| crate::control::rules::write_rules(path, &text));
        if let Err(e) = written {
            eprintln!("fnatd: rules file {}: cannot write it: {e}", path.display());
        }
    }
    Ok(n)
}

/// Hands the workers the configuration `state` now holds; returns the new snapshot's number.
fn publish(state: &mut ControlState, main: &mut MainLoop) -> Result<u64, Error> {
    publish_with(state, main, None)
}

/// Publishes the state's configuration, with other floating addresses held and sync role when
/// given.
fn publish_with(
    state: &mut ControlState,
    main: &mut MainLoop,
    ha: Option<(crate::snapshot::Floating, bool)>,
) -> Result<u64, Error> {
    use anyhow::Context as _;

    let services = state.services().context("building the new configuration")?;
    let mut snap = main.snapshot().with_config(services, state.timeouts().clone());
    if let Some((floating, sync_master)) = ha {
        snap = snap.with_floating(floating);
        snap.sync_master = sync_master;
    }
    Ok(main.publish(Arc::new(snap), &state.take_history()))
}

/// The configured RSS key, to set on a device that does RSS: at the device's key size (the
/// symmetric key, a repeated pattern, is stretched to it; another key must have that size).
fn device_key(pc: &crate::config::PortConfig, port: &Port) -> Result<Option<Vec<u8>>, Error> {
    use anyhow::Context as _;

    let info = port.info().with_context(|| format!("port {}: reading what the device offers", pc.name))?;
    let (Some(key), size) = (&pc.rss_key, usize::from(info.hash_key_size)) else { return Ok(None) };
    if info.flow_type_rss_offloads == 0 || size == 0 || key.len() == size {
        return Ok(Some(key.clone()));
    }
    if key[..] == crate::lb::rss::SYMMETRIC_KEY[..] {
        return Ok(Some(key.iter().copied().cycle().take(size).collect()));
    }
    anyhow::bail!("port {}: rss_key has {} bytes; {} takes {size}", pc.name, key.len(), info.driver_name)
}

/// Installs the rte_flow rules of the ports in `flow` mode for the local addresses of `snap`.
fn install_flows(steers: &mut [PortSteer], snap: &Snapshot, workers: u16) {
    for (i, s) in steers.iter_mut().enumerate() {
        let index = u16::try_from(i).unwrap_or(u16::MAX);
        s.install_flows(snap.services.laddrs(), &snap.routes, index, workers);
    }
}

/// What the control duty reaches besides the control file and the state.
struct ControlIo<'a> {
    /// Milliseconds on the workers' clock.
    now: u64,
    ports: &'a [(String, Port)],
    steers: &'a [PortSteer],
    lcores: &'a [u32],
    rules: Option<&'a std::path::Path>,
    metrics: Option<&'a MetricsServer>,
    /// The health checks.
    health: &'a crate::health::Health,
    /// The VRRP instances and the sync daemon.
    ha: &'a ha::HaGlue,
    /// The configuration file (`--reload-checks` reads it again).
    config: &'a std::path::Path,
}

/// What a run ends with.
#[derive(Debug, Default)]
pub struct Report {
    /// Counters per port, with the port's name.
    pub ports: Vec<(String, PortStats)>,
    /// Counters per worker, with its lcore.
    pub workers: Vec<(u32, WorkerStats)>,
}

impl Report {
    /// The counters as text, one line per port and per worker and a total.
    pub fn render(&self) -> String {
        let mut s = String::new();
        for (name, p) in &self.ports {
            let _ = writeln!(
                s,
                "port {name}: rx {} tx {} rx_bytes {} tx_bytes {} missed {} rx_errors {} tx_errors {} rx_nombuf {}",
                p.ipackets, p.opackets, p.ibytes, p.obytes, p.imissed, p.ierrors, p.oerrors, p.rx_nombuf
            );
        }
        let mut total = WorkerStats::default();
        for (i, (lcore, w)) in self.workers.iter().enumerate() {
            let _ = writeln!(s, "worker {i} (lcore {lcore}): {w}");
            total.add(w);
        }
        let _ = writeln!(s, "workers total: {total}");
        s
    }
}

/// Errors of a run, as the operator should read them.
pub type Error = anyhow::Error;

/// Runs fnatd until `stop` is set (by a signal), then stops the workers, closes the ports and returns
/// the counters. `on_ready` is called once traffic flows.
pub fn run(cfg: &Config, stop: Arc<AtomicBool>, on_ready: impl FnOnce(&str)) -> Result<Report, Error> {
    use anyhow::Context as _;

    let eal = Eal::init(&eal_args(cfg)).context("starting DPDK's EAL")?;
    let workers = cfg.worker_lcores.len();
    let nq = u16::try_from(workers).context("too many workers")?;
    let pool = Mempool::pktmbuf("fnat_pool", pool_size(cfg), POOL_CACHE, 2048 + 128, eal.socket_id())
        .context("creating the mbuf pool")?;
    // Buffers for the datagrams the workers reassemble (up to 64 KiB each, briefly: a datagram
    // too long for its egress leaves in plain buffers). Without them such datagrams are dropped,
    // counted as no_buffer.
    let large_n = u32::try_from((16 * workers + 16).next_power_of_two() - 1).unwrap_or(u32::MAX);
    let large = Mempool::pktmbuf("fnat_large", large_n, 0, u16::MAX, eal.socket_id())
        .inspect_err(|e| eprintln!("fnatd: no buffers for reassembled datagrams ({e}): fragments will be dropped"))
        .ok();

    let mut ports = Vec::with_capacity(cfg.ports.len());
    let mut queues = Vec::with_capacity(cfg.ports.len());
    let mut macs = Vec::with_capacity(cfg.ports.len());
    for pc in &cfg.ports {
        let name = pc.device.dpdk_name();
        let port = Port::by_name(name).with_context(|| format!("port {}: DPDK has no device '{name}'", pc.name))?;
        let conf = PortConf {
            rx_queues: nq,
            tx_queues: nq,
            rx_desc: pc.rx_desc,
            tx_desc: pc.tx_desc,
            mtu: pc.mtu,
            rss: workers > 1,
            rss_key: device_key(pc, &port)?,
            ..PortConf::default()
        };
        port.configure(&conf, &pool).with_context(|| format!("port {}: configuring {workers} queue pairs", pc.name))?;
        let mac = match pc.mac {
            Some(mac) => {
                if let Err(e) = port.set_mac_addr(mac.0) {
                    // Virtual devices (pcap, some af_packet setups) cannot change their address: use
                    // the configured one in software and receive every frame.
                    eprintln!(
                        "fnatd: port {}: the device keeps its MAC address ({e}); using {mac} in software, promiscuous",
                        pc.name
                    );
                    port.promiscuous(true).with_context(|| format!("port {}: enabling promiscuous mode", pc.name))?;
                }
                mac
            }
            None => MacAddr(port.mac_addr().with_context(|| format!("port {}: reading its MAC address", pc.name))?),
        };
        macs.push(mac);
        queues.push(port.start().with_context(|| format!("port {}: starting", pc.name))?);
        ports.push(port);
    }
    let mut twins = Vec::with_capacity(cfg.ports.len());
    for (i, (pc, &mac)) in cfg.ports.iter().zip(&macs).enumerate() {
        let twin = kni::start(i, pc, mac, nq, &pool, &cfg.routes)?;
        if let Some(t) = &twin {
            println!("fnatd: port {}: kernel twin {} ({mac})", pc.name, t.iface);
        }
        twins.push(twin);
    }

    // The control file first: a second fnatd on the same file stops here, before touching traffic.
    let mut server = Server::create(&cfg.control_path)
        .with_context(|| format!("creating the control file {}", cfg.control_path.display()))?;
    let mut state = crate::control::rules::initial_state(cfg).map_err(anyhow::Error::msg)?;
    let services = state.first_services().context("the configured services")?;
    // Spent: the next change's snapshot carries the positions over from this one.
    state.take_history();
    let snap = Snapshot::from_config(cfg, &macs).with_services(services);
    let mut steers: Vec<PortSteer> = cfg.ports.iter().zip(&ports).map(|(pc, p)| PortSteer::decide(pc, p, nq)).collect();
    install_flows(&mut steers, &snap, nq);
    for s in &steers {
        println!("{}", s.describe());
    }
    let snap = Arc::new(snap.with_steering(steers.iter().map(|s| s.steering.clone()).collect()));
    let neigh = NeighManager::new(&cfg.neighbours, NeighTimers::default());
    let (tx_stats, rx_stats) = mpsc::channel::<(usize, WorkerStats)>();
    let mut links = redirect_mesh::<Mbuf>(workers, REDIRECT_RING);
    let start = Instant::now();
    // The persistence templates: one table for the gateway, as many as one worker's connections,
    // shared by every worker and the main lcore for the whole run.
    let templates = Arc::new(Templates::new(cfg.conn_table_size));
    let mut gate = LinkGate::new(&ports);
    let mut launched: Vec<LcoreId> = Vec::with_capacity(workers);
    let mut control = Vec::with_capacity(workers);
    for (i, &lcore) in cfg.worker_lcores.iter().enumerate().rev() {
        let id = WorkerId { index: u16::try_from(i).context("too many workers")?, count: nq };
        let mut io = DpdkIo::new(
            queues.iter_mut().map(|q| q.rx.pop()).collect::<Option<Vec<_>>>().context("missing rx queue")?,
            queues.iter_mut().map(|q| q.tx.pop()).collect::<Option<Vec<_>>>().context("missing tx queue")?,
            pool.clone(),
            gate.flags(),
        );
        if let Some(l) = &large {
            io = io.with_large(l.clone());
        }
        io = io.with_twins(
            twins.iter_mut().map(|t| t.as_mut().and_then(|t| Some((t.queues.rx.pop()?, t.queues.tx.pop()?)))).collect(),
        );
        let mut worker = Worker::new(
            id,
            Arc::clone(&snap),
            neigh.current(),
            ConnTable::new(cfg.conn_table_size),
            LocalAddrPool::new(cfg.local_ports.clone(), id.index, id.count),
            Arc::clone(&templates),
        );
        worker.set_reassembly(cfg.reassembly);
        let (ctl, wl) = shared::links(64, 1024);
        let mut poller =
            Poller::with_control(worker, links.pop().context("missing redirect links")?, cfg.ports.len(), wl);
        let report = tx_stats.clone();
        let launch = eal.launch(LcoreId(lcore), move || {
            while !poller.stop_requested() {
                let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
                poller.poll(&mut io, now);
            }
            let _ = report.send((i, poller.worker.stats.clone()));
            0
        });
        if let Err(e) = launch {
            for c in &control {
                let c: &shared::ControlLinks = c;
                c.shared.stop.store(true, Ordering::Relaxed);
            }
            for &l in &launched {
                eal.wait(l);
            }
            return Err(e).with_context(|| format!("launching worker {i} on lcore {lcore}"));
        }
        control.push(ctl);
        launched.push(LcoreId(lcore));
    }
    drop(tx_stats);
    control.reverse();
    let mut main = MainLoop::new(control, neigh, snap, templates);
    let metrics = match cfg.metrics_addr {
        Some(addr) => {
            let m = MetricsServer::start(addr);
            if m.is_err() {
                main.stop_workers();
                for &l in &launched {
                    eal.wait(l);
                }
            }
            let m = m.with_context(|| format!("serving metrics on {addr}"))?;
            println!("fnatd: metrics on http://{}/metrics", m.addr());
            Some(m)
        }
        None => None,
    };
    let ports: Vec<(String, Port)> = cfg.ports.iter().map(|p| p.name.clone()).zip(ports).collect();

    let summary: Vec<String> =
        cfg.ports.iter().zip(&macs).map(|(p, m)| format!("{} ({}, {m})", p.name, p.device.dpdk_name())).collect();
    on_ready(&format!("{workers} worker(s) on lcores {:?}; ports {}", cfg.worker_lcores, summary.join(", ")));
    // The health checks run on a thread of their own, off the worker cores.
    let health = crate::health::Health::start(cfg.checks.clone());
    if health.is_err() {
        main.stop_workers();
        for &l in &launched {
            eal.wait(l);
        }
    }
    let mut health = health.context("starting the health checker")?;
    let ha = ha::HaGlue::start(cfg);
    if ha.is_err() {
        main.stop_workers();
        for &l in &launched {
            eal.wait(l);
        }
    }
    let mut ha = ha.context("starting VRRP and connection sync")?;
    let mut held = None;
    // The workers' passive health evidence of one tick.
    let mut unanswered = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let now = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        main.tick(now);
        gate.refresh(ports.iter().map(|(_, p)| p));
        unanswered.clear();
        main.drain_unanswered(|d| unanswered.push(d));
        let generation = state.generation();
        let verdicts = health.tick(&mut state, &unanswered, now);
        if ha.tick(now, &mut main, |p| gate.is_up(p)).republish {
            publish_with(&mut state, &mut main, Some((ha.vrrp.floating(), ha.sync_master())))?;
        }
        let io = ControlIo {
            now,
            ports: &ports,
            steers: &steers,
            lcores: &cfg.worker_lcores,
            rules: cfg.rules_path.as_deref(),
            metrics: metrics.as_ref(),
            health: &health,
            ha: &ha,
            config: &cfg.file,
        };
        for v in &verdicts {
            println!("fnatd: {}", v.describe());
        }
        // Verdicts, and rules read again (which may bring servers back), change what the
        // workers see, not the configured table the rules file keeps.
        if state.generation() != generation {
            publish(&mut state, &mut main)?;
        }
        if serve_control(&mut server, &mut state, &mut main, &io, &mut held)? {
            // New local addresses get their rte_flow rules.
            install_flows(&mut steers, main.snapshot(), nq);
            ha.config_changed();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    if let Some(h) = held.take() {
        // Stopping: the change was made; its answer goes out now (fnatd may be gone before
        // fnatctl reads it).
        let _ = server.reply(h.seq, &h.reply);
    }
    drop(health);
    // Each Master says it stops (priority 0), so a Backup takes over at once; the kernel twins
    // still carry that advertisement out.
    drop(ha);
    std::thread::sleep(Duration::from_millis(20));
    main.stop_workers();

    for &l in &launched {
        eal.wait(l);
    }
    let mut report =
        Report { ports: Vec::new(), workers: rx_stats.iter().map(|(i, s)| (cfg.worker_lcores[i], s)).collect() };
    report.workers.sort_by_key(|(lcore, _)| *lcore);
    drop(metrics);
    for (name, port) in &ports {
        report.ports.push((name.clone(), port.stats().unwrap_or_default()));
    }
    drop(queues);
    for s in &mut steers {
        s.clear();
    }
    for t in twins.into_iter().flatten() {
        let kni::Twin { port, queues, iface } = t;
        drop(queues);
        // The interface goes with the device; a twin that will not close is only reported.
        if let Err(e) = port.stop().and_then(|()| port.close()) {
            eprintln!("fnatd: kernel twin {iface}: closing: {e}");
        }
    }
    for (name, port) in &ports {
        port.stop().with_context(|| format!("port {name}: stopping"))?;
        port.close().with_context(|| format!("port {name}: closing"))?;
    }
    drop(pool);
    drop(eal);
    Ok(report)
}
