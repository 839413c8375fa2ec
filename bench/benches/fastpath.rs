//! Criterion microbenchmarks of the sans-IO fast path: `Worker::handle` and `ConnTable::lookup`, on
//! one core, with no DPDK and no I/O.
//!
//! Run with `cargo bench -p bench --bench fastpath` (release profile; about 2 s of measurement, 1 s
//! of warm-up and 20 samples per benchmark, plus setup). Every benchmark counts one element per
//! packet (or lookup), so criterion prints ns per packet and packets (or connections, or lookups)
//! per second. Setup (building workers and tables, opening connections, generating frames) is done
//! once, lazily, the first time criterion calls a benchmark, and never inside the timed loop; a
//! benchmark filtered out on the command line builds nothing.
//!
//! Frames are minimum-size Ethernet frames: 64 bytes on the wire, i.e. 60 bytes in the buffer (the
//! NIC strips the 4-byte FCS, as DPDK delivers it): Ethernet 14 + IPv4 20 + TCP 20 + 6 bytes of
//! payload (data segments) or of Ethernet padding (SYNs). The buffer is a `Vec<u8>`, the
//! `PacketBuf` the byte-frame tests and `MemIo` use. `Worker::handle` rewrites the frame in place,
//! so every iteration first restores the input bytes into one reusable buffer: that 60-byte copy
//! (a few ns) is part of every `established_*` and `new_connection` figure, standing in for the
//! NIC's DMA write the real path gets for free. Not included anywhere: rx/tx bursts, mbufs, the
//! poll loop (`Poller`: batching per port, hold queue, redirect rings, the expiry sweep), ARP and
//! statistics publication.
//!
//! - `established_fullnat_in`: one established FULLNAT TCP connection of the demo topology
//!   (`fixtures::snapshot()`/`fixtures::worker()`, opened with SYN, SYN-ACK, ACK), then a PSH-ACK
//!   data segment client -> VIP:80 through `Worker::handle`: Ethernet and IPv4 checks (header
//!   checksum verified), TCP header, connection lookup, TCP state and expiry update, per-server
//!   traffic counters, FULLNAT rewrite (addresses, ports, TTL, incremental checksums), route and
//!   neighbour lookup, MAC addresses. The one connection stays in L1: the best case.
//! - `established_fullnat_out`: the same connection's reply direction, real server -> LIP:lport,
//!   rewritten to VIP:80 -> client.
//! - `established_fullnat_in_1m`: as `established_fullnat_in`, on a worker holding 1,000,000
//!   established connections (17 local addresses x 64,512 local ports, a table of 2^20 entries;
//!   the 1M handshakes are done in setup), clients spread over 20.0.0.0/12 behind the router. Each
//!   iteration takes the next of 2^19 pre-built frames of randomly chosen connections (30 MiB of
//!   frames, read sequentially), so the connection entries and index slots touched (about 80 MiB in
//!   all, randomly) mostly miss the 32 MiB L3 like real traffic; a few thousand flows cycled would
//!   stay in cache: `established_fullnat_in_1m_hot4k` shows that case, the same worker and table
//!   with only the first 4,096 of those frames cycled (their entries, slots and frames, about 1 MiB,
//!   stay in L2/L3), i.e. what the table's size costs apart from cache misses.
//! - `established_fullnat_in_1m_burst32`: the same frames a burst of 32 at a time, as the poll loop
//!   handles them: the burst's lookups prefetched first (`Worker::prefetch`: index slots, then the
//!   connections they name), then each frame handled. Criterion's time is per burst; its elements/s
//!   is per frame (32 per iteration).
//! - `new_connection`: each iteration is the SYN of a flow the worker has not seen (60,000 frames
//!   pre-built, clients across 20.0.0.0/8 with varied ports): lookup miss, service lookup, rr
//!   scheduling (the shared cursor's compare-and-swap), local port, connection insert, per-server
//!   counts, rewrite, route, MACs. After 60,000 SYNs the worker (table of 65,536, one local address)
//!   is replaced by a fresh one outside the timed sections (`iter_custom`). Elements/s is
//!   connections opened per second (1e9 / ns).
//! - `new_connection_rss_steered`: the same on worker 0 of two whose local ports are chosen by the
//!   port's RSS (the reply of each connection must hash to its queue), 30,000 SYNs per worker.
//! - `conn_lookup_1m`, `conn_lookup_10m`: `ConnTable::lookup` alone on a full table of 1M and 10M
//!   FULLNAT connections (inserted directly with `ConnTable::insert`), random hits of either
//!   direction: 2^20 pre-generated keys read sequentially (16 MiB), each naming a random entry.
//!   Includes the keyed hash, the probe and the comparison with the connection's key. Consecutive
//!   lookups do not depend on each other, so the CPU overlaps the cache misses of several: the
//!   figure is a throughput, below the latency of one lookup that misses (which the
//!   `established_fullnat_in_1m` figure, with far more work between misses, comes closer to).
//!
//! - `template_fwmark_4k`: `Templates::acquire` (follow the live template, take a reference) and
//!   `Templates::release` of one fwmark service's template, 4,096 clients (the /24 prefixes of
//!   10.0.0.0/12, as a `-M 255.255.255.0` netmask leaves them) bound in setup, taken in a random
//!   order (2^16 pre-drawn). One shard lock each way. How well the template hash spreads one
//!   mark's clients shows here: keys that hash alike share a probe run.
//!
//! Memory per connection (not a timing): the setup of `conn_lookup_1m` and `conn_lookup_10m` prints
//! the bytes per connection of the full table computed from sizes (48-byte `Conn` + index slots of
//! 8 bytes, at least 4 per connection rounded up to a power of two, + the 4-byte free list), against
//! the target of at most 128 bytes with both directions indexed. The measured figure, the process
//! RSS delta around creating and filling the table, comes from the `fnat-conn-memory` binary
//! (`cargo run --release -p bench --bin fnat-conn-memory`): it needs a fresh process, since here
//! the heap pages freed by the earlier benchmarks would be reused and hide part of the table.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, Throughput, criterion_group, criterion_main};
use dataplane::config::Config;
use dataplane::fixtures::{self, DMZ, DMZ_MAC, Expect, Flow, LAN, LAN_MAC, ROUTER_MAC, RS, RS_MAC, Step, VIP};
use dataplane::ha::sync::{
    Header, MAX_MESSAGE_LEN, MAX_RECORDS, RecordKind, SyncFlags, SyncKey, SyncRecord, decode, encode,
};
use dataplane::lb::persist::{Acquired, Pick, TemplateDest};
use dataplane::lb::rss::{DEFAULT_KEY, PortSteering, SteerMode, Steering};
use dataplane::lb::{Conn, ConnTable, DestId, Dir, FlowKey, FwdMethod, LocalAddrPool, Protocol, TcpState};
use dataplane::lb::{TemplateKey, Templates};
use dataplane::net::{NeighTable, PortIdx};
use dataplane::packet::TcpFlags;
use dataplane::packet::builder::{FrameSpec, TcpSpec};
use dataplane::snapshot::Snapshot;
use dataplane::worker::{Verdict, Worker, WorkerId};

/// The worker's clock during every benchmark (ms): nothing expires.
const NOW: u64 = 1_000;
/// A minimum-size frame as the NIC delivers it (64 bytes on the wire less the FCS).
const FRAME_LEN: usize = 60;
/// The data segments' payload: 54 bytes of headers + 6 = 60.
const PAYLOAD: &[u8] = b"hello!";
/// Connections of `established_fullnat_in_1m`.
const CONNS_1M: u32 = 1_000_000;
/// Frames of random established flows cycled through in `established_fullnat_in_1m`.
const HOT_FRAMES: usize = 1 << 19;
/// Frames cycled through in `established_fullnat_in_1m_hot4k` (the first of the `HOT_FRAMES`).
const HOT4K_FRAMES: usize = 4096;
/// SYNs handled by one worker in `new_connection` before it is replaced.
const SYNS_PER_WORKER: usize = 60_000;
/// Keys cycled through in `conn_lookup_*`.
const LOOKUP_KEYS: usize = 1 << 20;
/// Bytes of one index slot (`(u32 hash, u32 entry)`).
const SLOT_BYTES: usize = 8;
/// The memory target per connection, both directions indexed.
const TARGET_BYTES_PER_CONN: f64 = 128.0;

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;

fn psh_ack() -> TcpFlags {
    TcpFlags::PSH | TcpFlags::ACK
}

/// splitmix64: a small deterministic generator for the random choices of the setup.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform enough in `0..n` for `n` far below 2^32.
    fn below(&mut self, n: u32) -> u32 {
        u32::try_from(((self.next() >> 32) * u64::from(n)) >> 32).expect("below n")
    }
}

/// Handles `frame` and checks that it leaves on `port`; returns the rewritten frame.
fn forward(w: &mut Worker, mut frame: Vec<u8>, rx: PortIdx, port: PortIdx) -> Vec<u8> {
    let v = w.handle(&mut frame, rx, NOW);
    assert_eq!(v, Verdict::Tx(port), "setup frame not forwarded");
    frame
}

/// Runs a fixture step and checks its exact output frame.
fn run_step(w: &mut Worker, step: &Step) {
    let Expect::Tx { port, frame } = &step.expect else { panic!("a forwarding step") };
    let out = forward(w, step.frame.clone(), step.port, *port);
    assert_eq!(&out, frame, "rewritten frame differs from the fixture's");
}

fn established(w: &Worker, key: &FlowKey) -> bool {
    w.conns().lookup(key).is_some_and(|(idx, _)| w.conns().get(idx).state == TcpState::Established as u8)
}

/// The reusable buffer and the timed loop shared by the `established_*` benchmarks: restore the
/// input frame, handle it.
fn bench_frames(b: &mut Bencher<'_>, w: &mut Worker, frames: &[u8], rx: PortIdx) {
    let n = frames.len() / FRAME_LEN;
    assert!(n.is_power_of_two() && frames.len() == n * FRAME_LEN);
    let mut buf = vec![0u8; FRAME_LEN];
    let mut k = 0;
    b.iter(|| {
        buf.copy_from_slice(&frames[k * FRAME_LEN..(k + 1) * FRAME_LEN]);
        k = (k + 1) & (n - 1);
        black_box(w.handle(black_box(&mut buf), rx, NOW))
    });
}

/// As [`bench_frames`], a burst at a time as the poll loop handles them: 32 frames restored, the
/// burst's lookups prefetched (`Worker::prefetch`), then each frame handled. One element per frame.
fn bench_bursts(b: &mut Bencher<'_>, w: &mut Worker, frames: &[u8], rx: PortIdx) {
    const BURST: usize = 32;
    let n = frames.len() / FRAME_LEN;
    assert!(n.is_power_of_two() && n >= BURST && frames.len() == n * FRAME_LEN);
    let mut bufs = vec![vec![0u8; FRAME_LEN]; BURST];
    let mut k = 0;
    b.iter(|| {
        for buf in &mut bufs {
            buf.copy_from_slice(&frames[k * FRAME_LEN..(k + 1) * FRAME_LEN]);
            k = (k + 1) & (n - 1);
        }
        w.prefetch(&bufs);
        for buf in &mut bufs {
            black_box(w.handle(black_box(buf), rx, NOW));
        }
    });
}

/// One established FULLNAT connection on the demo topology, and a data segment each way with the
/// frame the fixtures expect out (checked once here).
struct Demo {
    worker: Worker,
    input: Vec<u8>,
    reply: Vec<u8>,
}

fn demo() -> Demo {
    let snap = fixtures::snapshot();
    let mut worker = fixtures::worker(&snap, 0, 1, &fixtures::templates());
    let a = Flow::tcp(40000, 0, fixtures::FIRST_LPORT);
    run_step(&mut worker, &a.tcp_in(NOW, SYN, 1, 0, b""));
    run_step(&mut worker, &a.tcp_out(NOW, SYN | ACK, 100, 2, b""));
    run_step(&mut worker, &a.tcp_in(NOW, ACK, 2, 101, b""));
    let key = FlowKey { src: *a.client.ip(), dst: VIP, sport: a.client.port(), dport: 80, proto: Protocol::Tcp };
    assert!(established(&worker, &key), "the demo connection is established");
    let input = a.tcp_in(NOW, psh_ack(), 2, 101, PAYLOAD);
    let reply = a.tcp_out(NOW, psh_ack(), 101, 8, PAYLOAD);
    for step in [&input, &reply] {
        assert_eq!(step.frame.len(), FRAME_LEN);
        // Twice: the measured packet is the same one again and again.
        run_step(&mut worker, step);
        run_step(&mut worker, step);
    }
    Demo { worker, input: input.frame, reply: reply.frame }
}

/// The demo configuration with other local addresses and connection table size.
fn config_with(lips: &[Ipv4Addr], table: usize) -> Config {
    let list = lips.iter().map(|a| format!("\"{a}\"")).collect::<Vec<_>>().join(", ");
    let from = ("addresses = [\"10.1.0.10\"]", "size = 65536");
    let template = fixtures::CONFIG_TEMPLATE;
    assert!(template.contains(from.0) && template.contains(from.1), "the demo configuration changed");
    let text = template
        .replace("@RUN_DIR@", "/nonexistent")
        .replace(from.0, &format!("addresses = [{list}]"))
        .replace(from.1, &format!("size = {table}"));
    Config::parse(Path::new("configs/pcap-demo.toml"), &text).unwrap_or_else(|e| panic!("{e}"))
}

/// The single worker of `cfg`, built as `fixtures::worker` builds the demo's.
fn worker_for(cfg: &Config) -> Worker {
    let snap = Arc::new(Snapshot::from_config(cfg, &[LAN_MAC, DMZ_MAC]));
    Worker::new(
        WorkerId { index: 0, count: 1 },
        snap,
        Arc::new(NeighTable::new(&cfg.neighbours)),
        ConnTable::with_seed(cfg.conn_table_size, [0x1234, 0x5678]),
        LocalAddrPool::new(cfg.local_ports.clone(), 0, 1),
        fixtures::templates(),
    )
}

/// Client `i` of the 1M connections: 20.0.0.0/12 behind the router.
fn client_1m(i: u32) -> (Ipv4Addr, u16) {
    (Ipv4Addr::from(0x1400_0000 + i), 1024 + u16::try_from(i % 60_000).expect("port"))
}

fn request_1m(i: u32, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Vec<u8> {
    let (cip, cport) = client_1m(i);
    FrameSpec::new((ROUTER_MAC, LAN_MAC), cip, VIP)
        .with_ttl(64)
        .tcp(TcpSpec::new(cport, 80, flags).seq(seq).ack(ack), payload)
}

/// A worker with 1M established connections, and `HOT_FRAMES` data segments of random ones.
struct Million {
    worker: Worker,
    frames: Vec<u8>,
}

fn million() -> Million {
    // 17 LIPs x 64,512 ports (1024-65535) >= 1M; 10.1.0.11-13 are the real servers.
    let lips: Vec<Ipv4Addr> =
        std::iter::once(fixtures::LIP).chain((100..=115).map(|h| Ipv4Addr::new(10, 1, 0, h))).collect();
    let cfg = config_with(&lips, 1 << 20);
    let mut w = worker_for(&cfg);
    let t0 = Instant::now();
    eprintln!("established_fullnat_in_1m: opening {CONNS_1M} connections (SYN, SYN-ACK, ACK each)...");
    for i in 0..CONNS_1M {
        forward(&mut w, request_1m(i, SYN, 1, 0, b""), LAN, DMZ);
        let (cip, cport) = client_1m(i);
        let key = FlowKey { src: cip, dst: VIP, sport: cport, dport: 80, proto: Protocol::Tcp };
        let (idx, _) = w.conns().lookup(&key).expect("the SYN opened a connection");
        let c = *w.conns().get(idx);
        let rs = RS.iter().position(|&r| r == c.rip).expect("a demo real server");
        let syn_ack = FrameSpec::new((RS_MAC[rs], DMZ_MAC), c.rip, c.lip)
            .with_ttl(64)
            .tcp(TcpSpec::new(c.rport, c.lport, SYN | ACK).seq(100).ack(2), b"");
        forward(&mut w, syn_ack, DMZ, LAN);
        forward(&mut w, request_1m(i, ACK, 2, 101, b""), LAN, DMZ);
        debug_assert!(established(&w, &key));
        if (i + 1) % 250_000 == 0 {
            eprintln!("  {} connections, {:.1} s", i + 1, t0.elapsed().as_secs_f64());
        }
    }
    assert_eq!(w.conns().len(), CONNS_1M as usize);
    let mut rng = Rng(0x1_0000_0001);
    let mut frames = Vec::with_capacity(HOT_FRAMES * FRAME_LEN);
    for _ in 0..HOT_FRAMES {
        let i = rng.below(CONNS_1M);
        let (cip, cport) = client_1m(i);
        let key = FlowKey { src: cip, dst: VIP, sport: cport, dport: 80, proto: Protocol::Tcp };
        assert!(established(&w, &key));
        let f = request_1m(i, psh_ack(), 2, 101, PAYLOAD);
        assert_eq!(f.len(), FRAME_LEN);
        frames.extend_from_slice(&f);
    }
    eprintln!("  ready: {} connections, {HOT_FRAMES} frames, {:.1} s", w.conns().len(), t0.elapsed().as_secs_f64());
    Million { worker: w, frames }
}

/// `n` SYNs of distinct flows: clients across 20.0.0.0/8 and ports, padded to 60 bytes.
fn syn_frames(n: usize) -> Vec<u8> {
    let mut frames = Vec::with_capacity(n * FRAME_LEN);
    for i in 0..u32::try_from(n).expect("count") {
        // An odd multiplier is a bijection of the low 24 bits: distinct addresses.
        let host = i.wrapping_mul(0x9e37_79b1) & 0x00ff_ffff;
        let cip = Ipv4Addr::from(0x1400_0000 | host);
        let cport = 1024 + u16::try_from(host % 64_000).expect("port");
        let mut f =
            FrameSpec::new((ROUTER_MAC, LAN_MAC), cip, VIP).with_ttl(64).tcp(TcpSpec::new(cport, 80, SYN).seq(1), b"");
        f.resize(FRAME_LEN, 0);
        frames.extend_from_slice(&f);
    }
    frames
}

fn fresh_demo_worker() -> Worker {
    fixtures::worker(&fixtures::snapshot(), 0, 1, &fixtures::templates())
}

/// The demo worker as a sync master: it notes each new connection for the backups.
fn fresh_sync_master_worker() -> Worker {
    let s = fixtures::snapshot();
    let mut snap = s.with_services(s.services.clone());
    snap.sync_master = true;
    fixtures::worker(&Arc::new(snap), 0, 1, &fixtures::templates())
}

/// Worker 0 of two whose ports are steered by RSS (a 128-entry table over two queues): its local
/// ports are chosen so that each reply hashes to its own queue. Each port serves one connection
/// on this worker, and to each real server only the ports whose reply hashes here: with the demo's
/// three real servers, about 48,000 connections fit on its one local address.
fn fresh_steered_worker() -> Worker {
    let rss = Arc::new(Steering::round_robin(&DEFAULT_KEY, 128, 2).expect("a table"));
    let steering = vec![PortSteering { mode: SteerMode::Rss, rss: Some(rss) }; 2];
    let snap = Arc::try_unwrap(fixtures::snapshot_for(2)).expect("a fresh snapshot").with_steering(steering);
    fixtures::worker(&Arc::new(snap), 0, 2, &fixtures::templates())
}

/// `n` SYN frames for `new_connection*`, checked to open a connection each on a worker from
/// `make`, and a fresh worker to time.
fn new_connections(make: fn() -> Worker, n: usize) -> (Vec<u8>, Worker, usize) {
    let frames = syn_frames(n);
    let mut w = make();
    for f in frames.chunks_exact(FRAME_LEN) {
        forward(&mut w, f.to_vec(), LAN, DMZ);
    }
    assert_eq!(w.conns().len(), n);
    (frames, make(), 0)
}

/// Times SYNs of new flows, a fresh worker from `make` (untimed) after each pass over the frames.
fn bench_new_connections(b: &mut Bencher<'_>, (frames, w, next): &mut (Vec<u8>, Worker, usize), make: fn() -> Worker) {
    let mut buf = vec![0u8; FRAME_LEN];
    let count = frames.len() / FRAME_LEN;
    b.iter_custom(|iters| {
        let mut timed = Duration::ZERO;
        let mut left = iters;
        while left > 0 {
            if *next == count {
                *w = make();
                *next = 0;
            }
            let n = usize::try_from(left).unwrap_or(usize::MAX).min(count - *next);
            let chunk = &frames[*next * FRAME_LEN..(*next + n) * FRAME_LEN];
            let start = Instant::now();
            for burst in chunk.chunks(FRAME_LEN * 32) {
                for f in burst.chunks_exact(FRAME_LEN) {
                    buf.copy_from_slice(f);
                    black_box(w.handle(black_box(&mut buf), LAN, NOW));
                }
                // What the poller does after each burst: a sync master's notes leave for the
                // control lcore (here into nothing; nothing otherwise).
                w.drain_sync(|r| {
                    black_box(r);
                });
            }
            timed += start.elapsed();
            *next += n;
            left -= n as u64;
        }
        timed
    });
}

/// A full table of `n` connections and `LOOKUP_KEYS` random keys of them (either direction); prints
/// the memory per connection.
struct Lookup {
    table: ConnTable,
    keys: Vec<FlowKey>,
}

fn lookup_table(name: &str, n: u32) -> Lookup {
    let t0 = Instant::now();
    eprintln!("{name}: filling a table of {n} connections...");
    let mut table = ConnTable::with_seed(n as usize, [0x1234, 0x5678]);
    for i in 0..n {
        let idx = table.insert(dataplane::fixtures::synthetic_conn(i)).expect("room for every connection");
        debug_assert_eq!(idx, i);
        if (i + 1) % 2_000_000 == 0 {
            eprintln!("  {} inserted, {:.1} s", i + 1, t0.elapsed().as_secs_f64());
        }
    }
    let n_usize = n as usize;
    let slots = (n_usize * 4).next_power_of_two();
    let conn = std::mem::size_of::<Conn>();
    let sized = conn * n_usize + slots * SLOT_BYTES + n_usize * std::mem::size_of::<u32>();
    let by_size = sized as f64 / f64::from(n);
    let verdict = if by_size <= TARGET_BYTES_PER_CONN { "within" } else { "OVER" };
    println!(
        "memory {name}: {n} connections, both directions indexed: {by_size:.1} B/conn by sizes (Conn {conn} B \
         + {slots} slots x {SLOT_BYTES} B / {n} = {:.1} B + free list 4 B; ConnTable::bytes_per_conn {}), {verdict} \
         the {TARGET_BYTES_PER_CONN} B target (RSS: fnat-conn-memory)",
        (slots * SLOT_BYTES) as f64 / f64::from(n),
        table.bytes_per_conn(),
    );
    let mut rng = Rng(u64::from(n));
    let keys = (0..LOOKUP_KEYS)
        .map(|_| {
            let i = rng.below(n);
            let dir = if rng.next() & 1 == 0 { Dir::In } else { Dir::Out };
            let key = dataplane::fixtures::synthetic_conn(i).key(dir);
            assert_eq!(table.lookup(&key), Some((i, dir)));
            key
        })
        .collect();
    eprintln!("  ready: {LOOKUP_KEYS} keys, {:.1} s", t0.elapsed().as_secs_f64());
    Lookup { table, keys }
}

fn bench_lookup(b: &mut Bencher<'_>, l: &Lookup) {
    let mask = l.keys.len() - 1;
    let mut k = 0;
    b.iter(|| {
        let key = &l.keys[k];
        k = (k + 1) & mask;
        black_box(l.table.lookup(black_box(key)))
    });
}

/// Templates of one fwmark service for `TEMPLATE_CLIENTS` clients, all bound, and a random order
/// of them.
struct FwmarkTemplates {
    table: Templates,
    keys: Vec<TemplateKey>,
}

/// Clients of `template_fwmark_4k`: the /24 prefixes of 10.0.0.0/12.
const TEMPLATE_CLIENTS: u32 = 4096;
/// Template timeout (ms): nothing expires during the benchmark.
const TEMPLATE_TIMEOUT: u64 = 3_600_000;

fn fwmark_templates() -> FwmarkTemplates {
    let table = Templates::with_seed(65_536, [0x1234, 0x5678]);
    let key = |i: u32| TemplateKey { client: Ipv4Addr::from(0x0a00_0000 + (i << 8)), ..TemplateKey::mark(1) };
    let dest = TemplateDest { id: DestId(1), addr: RS[0], port: 0, method: FwdMethod::FullNat };
    for i in 0..TEMPLATE_CLIENTS {
        let a = table.acquire(&key(i), NOW, TEMPLATE_TIMEOUT, |_| Pick::Bind(dest, ()));
        assert!(matches!(a, Acquired::Bound(..)), "template {i} bound");
    }
    let mut rng = Rng(7);
    let keys = (0..1 << 16).map(|_| key(rng.below(TEMPLATE_CLIENTS))).collect();
    FwmarkTemplates { table, keys }
}

fn bench_templates(b: &mut Bencher<'_>, t: &FwmarkTemplates) {
    let mask = t.keys.len() - 1;
    let mut k = 0;
    b.iter(|| {
        let key = &t.keys[k];
        k = (k + 1) & mask;
        match t.table.acquire(black_box(key), NOW, TEMPLATE_TIMEOUT, |cur| Pick::Keep(cur.is_some())) {
            Acquired::Bound(h, _) => t.table.release(h, NOW),
            other => panic!("template not followed: {other:?}"),
        }
    });
}

fn fastpath(c: &mut Criterion) {
    let mut g = c.benchmark_group("fastpath");
    g.throughput(Throughput::Elements(1));

    // Built on first use and shared by both directions.
    let mut demo_state: Option<Demo> = None;
    g.bench_function("established_fullnat_in", |b| {
        let d = demo_state.get_or_insert_with(demo);
        bench_frames(b, &mut d.worker, &d.input, LAN);
    });
    g.bench_function("established_fullnat_out", |b| {
        let d = demo_state.get_or_insert_with(demo);
        bench_frames(b, &mut d.worker, &d.reply, DMZ);
    });
    drop(demo_state);

    let mut m: Option<Million> = None;
    g.bench_function("established_fullnat_in_1m", |b| {
        let m = m.get_or_insert_with(million);
        bench_frames(b, &mut m.worker, &m.frames, LAN);
    });
    g.throughput(Throughput::Elements(32));
    g.bench_function("established_fullnat_in_1m_burst32", |b| {
        let m = m.get_or_insert_with(million);
        bench_bursts(b, &mut m.worker, &m.frames, LAN);
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("established_fullnat_in_1m_hot4k", |b| {
        let m = m.get_or_insert_with(million);
        bench_frames(b, &mut m.worker, &m.frames[..HOT4K_FRAMES * FRAME_LEN], LAN);
    });
    drop(m);

    for (name, make, n) in [
        ("new_connection", fresh_demo_worker as fn() -> Worker, SYNS_PER_WORKER),
        ("new_connection_rss_steered", fresh_steered_worker, SYNS_PER_WORKER / 2),
        ("new_connection_sync_master", fresh_sync_master_worker, SYNS_PER_WORKER),
    ] {
        let mut syn: Option<(Vec<u8>, Worker, usize)> = None;
        g.bench_function(name, |b| bench_new_connections(b, syn.get_or_insert_with(|| new_connections(make, n)), make));
    }

    // The control lcore's share of sync: a full message of 35 connections written and tagged
    // (master), and checked and read (backup).
    let records: Vec<SyncRecord> = (0..MAX_RECORDS)
        .map(|i| SyncRecord {
            kind: RecordKind::Conn,
            proto: Protocol::Tcp,
            method: FwdMethod::FullNat,
            state: TcpState::Established,
            flags: SyncFlags::REPLIED,
            fwmark: 0,
            cip: Ipv4Addr::from(0x1400_0000 + u32::try_from(i).expect("35")),
            vip: VIP,
            lip: Ipv4Addr::new(10, 1, 0, 10),
            rip: RS[0],
            cport: 40_000,
            vport: 80,
            lport: 5000,
            rport: 8080,
            timeout_ms: 900_000,
            worker: 0,
        })
        .collect();
    let key = SyncKey::new(&[7; 32]).expect("a key");
    let header = Header { syncid: 1, sender: 42, seq: 1 };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    g.throughput(Throughput::Elements(MAX_RECORDS as u64));
    g.bench_function("sync_message_encode_35", |b| {
        b.iter(|| black_box(encode(&key, &header, black_box(&records), &mut buf).expect("fits")));
    });
    let n = encode(&key, &header, &records, &mut buf).expect("fits");
    g.bench_function("sync_message_decode_35", |b| {
        b.iter(|| black_box(decode(&key, 1, black_box(&buf[..n])).expect("valid").records().count()));
    });
    g.throughput(Throughput::Elements(1));

    let mut tmpl: Option<FwmarkTemplates> = None;
    g.bench_function("template_fwmark_4k", |b| bench_templates(b, tmpl.get_or_insert_with(fwmark_templates)));
    drop(tmpl);

    for (name, n) in [("conn_lookup_1m", 1_000_000), ("conn_lookup_10m", 10_000_000)] {
        let mut l: Option<Lookup> = None;
        g.bench_function(name, |b| bench_lookup(b, l.get_or_insert_with(|| lookup_table(name, n))));
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default().warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(2)).sample_size(20)
}

criterion_group! {
    name = benches;
    config = config();
    targets = fastpath
}
criterion_main!(benches);
