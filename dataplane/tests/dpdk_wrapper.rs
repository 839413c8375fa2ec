//! The DPDK wrapper against a real EAL and virtual devices (no NIC, no hugepages).
//!
//! DPDK's EAL starts once per process, so this file has one `#[test]` that starts it and runs
//! each behaviour as a named step; it behaves the same under `cargo test` and `cargo nextest`.
//! Devices: `net_ring0` (its tx ring is its rx ring: a loopback), `net_null0` (RSS-capable sink
//! and source, with a readable key and redirection table), and `net_pcap0` replaying a pcap this
//! test writes and recording what is sent. None of them supports `rte_flow`; flow steering is
//! tested over `net_tap` in `dpdk_flow.rs`.
//!
//! With `--no-huge --no-pci` the EAL starts unprivileged too (checked as `nobody`); CI runs it as
//! root. If DPDK cannot start, the test fails with a message saying why: it never skips.
//! Temporary files live in `$TMPDIR/fnat-dpdk-test-<pid>`; the EAL runtime directory is removed
//! at the end, also when a step fails.

#![cfg(feature = "dpdk")]

mod common;

use common::Cleanup;
use std::fs;
use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use dataplane::dpdk::{DpdkError, Eal, LcoreId, Mbuf, Mempool, Port, PortConf, PortId, current_lcore, sys};
use etherparse::PacketBuilder;

#[test]
fn dpdk_wrapper_over_virtual_devices() {
    let pid = std::process::id();
    let file_prefix = format!("fnat-test-{pid}");
    let mut cleanup = Cleanup::new("fnat-dpdk-test", pid, &file_prefix);
    let in_pcap = cleanup.tmp.join("in.pcap");
    let out_pcap = cleanup.tmp.join("out.pcap");
    let frames = udp_frames(5);
    fs::write(&in_pcap, pcap_file(&frames)).expect("write input pcap");

    let args: Vec<String> = [
        "-l",
        "0,1",
        "--no-huge",
        "-m",
        "256",
        "--no-pci",
        &format!("--file-prefix={file_prefix}"),
        "--log-level=*:warning",
        "--no-telemetry",
        "--vdev=net_ring0",
        "--vdev=net_null0",
        &format!("--vdev=net_pcap0,rx_pcap={},tx_pcap={}", in_pcap.display(), out_pcap.display()),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).unwrap_or_else(|err| {
        panic!(
            "DPDK could not start ({err}). This test needs Debian's DPDK 22.11 with its PMD \
             plugins (apt-get install libdpdk-dev) and may need root (CI runs it as root)."
        )
    });
    cleanup.runtime_dirs.push(eal.runtime_dir());

    eal_starts_once_and_reports_lcores(&eal, &args);
    let pool = Mempool::pktmbuf("test_pool", 1023, 32, Mempool::DEFAULT_DATA_ROOM, eal.socket_id())
        .expect("create packet pool");
    mempool_counts_allocs_and_frees(&eal);
    mbuf_edits_data_at_both_ends(&pool);
    ports_are_found_by_name_only_if_they_exist();
    ring_port_loops_tx_back_to_rx(&pool);
    null_port_spreads_with_rss_over_two_queues(&pool);
    pcap_port_replays_and_records_frames(&pool, &frames, &out_pcap);
    worker_lcore_runs_a_closure_and_returns_its_value(&eal, &pool);

    assert_eq!(pool.in_use(), 0, "every mbuf is back in the pool");
    drop(pool);
    drop(eal);
    assert_eq!(
        Mempool::pktmbuf("after", 63, 0, 2048, -1).err(),
        Some(DpdkError::EalNotRunning),
        "the EAL is gone once the Eal and all resources are dropped"
    );
}

fn eal_starts_once_and_reports_lcores(eal: &Eal, args: &[String]) {
    assert_eq!(Eal::init(args).err(), Some(DpdkError::EalAlreadyInitialized));
    assert_eq!(eal.main_lcore(), LcoreId(0));
    assert_eq!(eal.worker_lcores(), vec![LcoreId(1)]);
    assert_eq!(current_lcore(), Some(LcoreId(0)), "the init thread is the main lcore");
    assert!(eal.tsc_hz() > 0);
    assert!(eal.socket_id() >= 0);
    assert!(
        eal.runtime_dir().ends_with(format!("fnat-test-{}", std::process::id())),
        "runtime dir {} is per file-prefix",
        eal.runtime_dir().display()
    );
}

fn mempool_counts_allocs_and_frees(eal: &Eal) {
    let pool = Mempool::pktmbuf("count_pool", 63, 0, 2048, eal.socket_id()).expect("create pool");
    assert_eq!(pool.name(), "count_pool");
    assert_eq!(pool.capacity(), 63);
    assert_eq!(pool.data_room(), 2048);
    assert_eq!((pool.available(), pool.in_use()), (63, 0));

    let one = pool.alloc().expect("alloc one");
    let mut many = Vec::new();
    assert!(pool.alloc_bulk(&mut many, 10));
    assert_eq!((pool.available(), pool.in_use()), (52, 11));
    assert!(!pool.alloc_bulk(&mut many, 53), "all-or-nothing bulk alloc");
    assert_eq!(many.len(), 10);

    drop(one);
    many.truncate(4);
    assert_eq!((pool.available(), pool.in_use()), (59, 4));
    many.clear();
    assert_eq!((pool.available(), pool.in_use()), (63, 0));

    let all: Vec<Mbuf> = std::iter::from_fn(|| pool.alloc()).collect();
    assert_eq!(all.len(), 63, "an exhausted pool says None");
    drop(all);
    assert_eq!(pool.in_use(), 0);

    assert!(matches!(
        Mempool::pktmbuf("count_pool", 63, 0, 2048, -1),
        Err(DpdkError::Call { call: "rte_pktmbuf_pool_create", code, .. }) if code == libc::EEXIST
    ));
}

fn mbuf_edits_data_at_both_ends(pool: &Mempool) {
    let mut m = pool.alloc().expect("alloc");
    let headroom = u16::try_from(sys::RTE_PKTMBUF_HEADROOM).unwrap();
    assert_eq!((m.len(), m.headroom(), m.nb_segs()), (0, headroom, 1));
    assert!(m.is_empty());
    assert_eq!(m.tailroom(), Mempool::DEFAULT_DATA_ROOM - headroom);

    m.append(4).expect("append").copy_from_slice(b"data");
    m.prepend(3).expect("prepend").copy_from_slice(b"hdr");
    assert!(m.extend_from_slice(b"tail"));
    assert_eq!(m.data(), b"hdrdatatail");
    assert_eq!((m.len(), m.pkt_len()), (11, 11));
    assert_eq!(m.headroom(), headroom - 3);

    m.data_mut()[0] = b'H';
    assert!(m.adj(1));
    assert!(m.trim(4));
    assert_eq!(m.data(), b"drdata");

    assert!(m.prepend(usize::from(m.headroom()) + 1).is_none(), "prepend beyond headroom");
    assert!(m.append(usize::from(m.tailroom()) + 1).is_none(), "append beyond tailroom");
    assert!(m.append(100_000).is_none(), "lengths beyond u16 are refused");
    assert!(!m.adj(7) && !m.trim(7), "cannot remove more than the data");
    assert_eq!(m.data(), b"drdata", "refused edits change nothing");

    assert_eq!(m.rss_hash(), None);
    m.set_l2_len(14);
    m.set_l3_len(20);
    m.set_l4_len(8);
    m.set_ol_flags(sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM);
    assert_eq!((m.l2_len(), m.l3_len()), (14, 20));
    assert_eq!(m.ol_flags(), sys::RTE_MBUF_F_TX_IPV4 | sys::RTE_MBUF_F_TX_IP_CKSUM);

    let raw = m.into_raw();
    let in_use = pool.in_use();
    // SAFETY: `raw` came from into_raw just above and nothing else owns it.
    let m = unsafe { Mbuf::from_raw(raw) };
    assert_eq!(m.data(), b"drdata");
    drop(m);
    assert_eq!(pool.in_use(), in_use - 1);
}

fn ports_are_found_by_name_only_if_they_exist() {
    assert_eq!(Port::count(), 3);
    for name in ["net_ring0", "net_null0", "net_pcap0"] {
        let port = Port::by_name(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(port.name().unwrap(), name);
        assert_eq!(Port::by_id(port.id()).unwrap().id(), port.id());
    }
    assert_eq!(Port::by_name("net_nothing9").err(), Some(DpdkError::PortNotFound("net_nothing9".to_owned())));
    assert!(matches!(Port::by_id(PortId(31)), Err(DpdkError::PortNotFound(_))));
}

fn ring_port_loops_tx_back_to_rx(pool: &Mempool) {
    let port = Port::by_name("net_ring0").unwrap();
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_ring");
    assert_eq!(
        port.start().err(),
        Some(DpdkError::PortState { port: port.id().0, op: "start", state: "not configured" })
    );
    assert_eq!((info.flow_type_rss_offloads, info.reta_size), (0, 0), "net_ring has no RSS");
    let no_table = port.rss_reta().unwrap_err();
    assert_eq!(no_table, DpdkError::Unsupported { port: port.id().0, what: "RSS redirection table" });
    assert_eq!(no_table.to_string(), format!("port {}: the device has no RSS redirection table", port.id().0));
    assert_eq!(
        port.steer_to_queue(Ipv4Addr::new(10, 9, 0, 1), 0, 1, 0).err(),
        Some(DpdkError::PortState { port: port.id().0, op: "install flow rules", state: "not configured" })
    );
    let too_many = PortConf { rx_queues: info.max_rx_queues + 1, tx_queues: 1, ..PortConf::default() };
    assert!(matches!(port.configure(&too_many, pool), Err(DpdkError::QueueCount { .. })));

    let conf = PortConf { rx_queues: 1, tx_queues: 1, rx_desc: 256, tx_desc: 256, ..PortConf::default() };
    port.configure(&conf, pool).expect("configure net_ring0");
    let mut queues = port.start().expect("start net_ring0");
    assert_eq!((queues.rx.len(), queues.tx.len()), (1, 1));
    assert!(port.link().unwrap().up);
    assert_eq!(
        port.configure(&conf, pool).err(),
        Some(DpdkError::PortState { port: port.id().0, op: "configure", state: "started" })
    );
    assert_eq!(port.stop().err(), Some(DpdkError::QueuesInUse { port: port.id().0, count: 2 }));

    let frames = udp_frames(8);
    let mut tx: Vec<Mbuf> = frames.iter().map(|f| mbuf_with(pool, f)).collect();
    let sent = queues.tx[0].tx_burst(&mut tx);
    assert_eq!((sent, tx.len()), (8, 0));

    let mut rx = Vec::with_capacity(64);
    let cap = rx.capacity();
    assert_eq!(queues.rx[0].rx_burst(&mut rx, 5), 5, "rx honours max");
    assert_eq!(queues.rx[0].rx_burst(&mut rx, 64), 3);
    assert_eq!(rx.capacity(), cap, "rx_burst did not reallocate");
    let got: Vec<&[u8]> = rx.iter().map(Mbuf::data).collect();
    assert_eq!(got, frames.iter().map(Vec::as_slice).collect::<Vec<_>>());

    let stats = port.stats().unwrap();
    assert_eq!((stats.opackets, stats.ipackets), (8, 8));
    port.reset_stats().unwrap();

    drop(rx);
    drop(queues);
    port.close().expect("close net_ring0");
    assert_eq!(port.stats().err(), Some(DpdkError::PortClosed(port.id().0)));
}

fn null_port_spreads_with_rss_over_two_queues(pool: &Mempool) {
    let port = Port::by_name("net_null0").unwrap();
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_null");
    assert!(info.max_rx_queues >= 2);
    let unsupported = PortConf { rx_queues: 1, tx_queues: 1, tx_offloads: 1 << 63, ..PortConf::default() };
    assert!(matches!(
        port.configure(&unsupported, pool),
        Err(DpdkError::OffloadUnsupported { tx_missing, .. }) if tx_missing == 1 << 63
    ));

    let conf = PortConf { rx_queues: 2, tx_queues: 2, rss: true, ..PortConf::default() };
    port.configure(&conf, pool).expect("configure net_null0 with RSS");
    port.set_mac_addr([0x02, 0, 0, 0, 0, 0x42]).unwrap();
    assert_eq!(port.mac_addr().unwrap(), [0x02, 0, 0, 0, 0, 0x42]);
    port.promiscuous(true).unwrap();
    assert!(port.is_promiscuous().unwrap());
    let mut queues = port.start().unwrap();
    null_port_reports_its_rss_key_and_table(&port);
    null_port_refuses_flow_rules(&port);
    fnatd_steers_replies_by_the_null_ports_rss(&port);

    // net_null generates 64-byte packets on every rx queue and swallows whatever is sent.
    let mut rx = Vec::with_capacity(32);
    for q in &mut queues.rx {
        assert_eq!(q.rx_burst(&mut rx, 16), 16);
    }
    assert!(rx.iter().all(|m| m.len() == 64 && m.nb_segs() == 1));
    let sent = queues.tx[1].tx_burst(&mut rx);
    assert_eq!((sent, rx.len()), (32, 0));
    assert_eq!(port.stats().unwrap().ipackets, 32);

    drop(queues);
    port.close().unwrap();
}

/// net_null (DPDK 22.11): RSS over the IP/TCP/UDP hash types, no key size reported (the wrapper
/// reads the standard 40 bytes), a 128-entry redirection table that the PMD leaves all zeros
/// (unlike NIC drivers, it fills no round-robin default; fnatd rewrites such a table) and that it
/// stores as written.
fn null_port_reports_its_rss_key_and_table(port: &Port) {
    let info = port.info().unwrap();
    assert_ne!(info.flow_type_rss_offloads, 0);
    assert_eq!((info.reta_size, info.hash_key_size), (128, 0));
    let key = port.rss_key().unwrap();
    assert_eq!(key.len(), 40);
    assert!(key.iter().any(|&b| b != 0), "a real key, not our zeroed buffer");

    let reta = port.rss_reta().expect("net_null has a redirection table");
    assert_eq!(reta, vec![0; 128], "net_null's table before any update");

    // Write a table no zeroed buffer could fake, then read it back.
    let written: Vec<u16> = (0..128u16).map(|i| (i / 3) % 2).collect();
    port.set_rss_reta(&written).expect("net_null takes a table");
    assert!(matches!(port.set_rss_reta(&written[..64]), Err(DpdkError::InvalidArgument(_))), "too short");
    assert!(matches!(port.set_rss_reta(&[2; 128]), Err(DpdkError::InvalidArgument(_))), "queue 2 of 2");
    let reta = port.rss_reta().unwrap();
    assert_eq!(reta, written);
    assert!(reta.iter().all(|&q| q < 2));
    assert!(reta.contains(&0) && reta.contains(&1), "both queues are in the table");
}

/// fnatd's decision for a device with RSS and no rte_flow: `rss`, from the key and table read
/// back, the table first spread over both workers (net_null leaves it as written: all on queue 0
/// here); `flow` asked for falls back to `redirect`, saying why.
fn fnatd_steers_replies_by_the_null_ports_rss(port: &Port) {
    use dataplane::config::{PortConfig, PortDevice, SteerChoice};
    use dataplane::daemon::PortSteer;
    use dataplane::lb::rss::SteerMode;

    port.set_rss_reta(&[0; 128]).unwrap();
    let pc = |steering| PortConfig {
        name: "lan".into(),
        device: PortDevice::Vdev("net_null0".into()),
        mac: None,
        addrs: vec![],
        rx_desc: 1024,
        tx_desc: 1024,
        mtu: None,
        steering,
        rss_key: None,
        peer_reta_size: None,
        kernel: None,
    };
    let s = PortSteer::decide(&pc(SteerChoice::Auto), port, 2);
    assert_eq!(s.steering.mode, SteerMode::Rss, "{}", s.describe());
    let rss = s.steering.rss.as_ref().expect("the device's RSS");
    assert_eq!(rss.reta(), port.rss_reta().unwrap(), "what fnatd uses is what the device holds");
    assert!(rss.covers(2), "{:?}", rss.reta());
    assert!(s.describe().contains("steering rss (the device's RSS: key"), "{}", s.describe());

    let s = PortSteer::decide(&pc(SteerChoice::Flow), port, 2);
    assert_eq!(s.steering.mode, SteerMode::Redirect);
    assert!(s.describe().contains("takes no rte_flow steering rule"), "{}", s.describe());
    assert!(s.steering.rss.is_some(), "the RSS is still known (NAT's owners)");
    let s = PortSteer::decide(&pc(SteerChoice::Redirect), port, 2);
    assert_eq!(s.steering.mode, SteerMode::Redirect);
    assert!(s.describe().contains("(as configured; "), "{}", s.describe());
    let s = PortSteer::decide(&pc(SteerChoice::Auto), port, 1);
    assert_eq!((s.steering.mode, s.steering.rss.is_none()), (SteerMode::Single, true));
}

/// net_null has no rte_flow support: the rule is refused at validation with ethdev's ENOSYS;
/// arguments the wrapper can judge are refused before DPDK sees them.
fn null_port_refuses_flow_rules(port: &Port) {
    let id = port.id().0;
    let vip = Ipv4Addr::new(10, 9, 0, 1);
    assert_eq!(
        port.steer_to_queue(vip, 1, 1, 1).err(),
        Some(DpdkError::Flow {
            port: id,
            call: "rte_flow_validate",
            code: libc::ENOSYS,
            cause: "unspecified",
            msg: "Function not implemented".to_owned(),
        })
    );
    assert!(matches!(port.steer_to_queue(vip, 2, 1, 0), Err(DpdkError::InvalidArgument(_))), "bits outside the mask");
    assert!(matches!(port.steer_to_queue(vip, 0, 1, 2), Err(DpdkError::InvalidArgument(_))), "no rx queue 2");
}

fn pcap_port_replays_and_records_frames(pool: &Mempool, frames: &[Vec<u8>], out_pcap: &Path) {
    let port = Port::by_name("net_pcap0").unwrap();
    assert_eq!(port.info().unwrap().driver_name, "net_pcap");
    let mac = port.mac_addr().unwrap();
    assert_eq!(mac[0] & 0x01, 0, "unicast MAC {mac:02x?}");
    assert!(
        matches!(
            port.set_mac_addr([0x02, 0, 0, 0, 0, 0x42]),
            Err(DpdkError::Call { code, .. }) if code == libc::ENOTSUP
        ),
        "net_pcap keeps its MAC"
    );

    let conf = PortConf { rx_queues: 1, tx_queues: 1, ..PortConf::default() };
    port.configure(&conf, pool).expect("configure net_pcap0");
    let mut queues = port.start().expect("start net_pcap0");

    let mut rx = Vec::with_capacity(32);
    let deadline = Instant::now() + Duration::from_secs(5);
    while rx.len() < frames.len() && Instant::now() < deadline {
        queues.rx[0].rx_burst(&mut rx, 32);
    }
    let got: Vec<&[u8]> = rx.iter().map(Mbuf::data).collect();
    assert_eq!(got, frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
    assert!(rx.iter().all(|m| m.port() == port.id()));

    assert_eq!(queues.tx[0].tx_burst(&mut rx), frames.len());
    let stats = port.stats().unwrap();
    let bytes: u64 = frames.iter().map(|f| f.len() as u64).sum();
    assert_eq!((stats.ipackets, stats.ibytes), (frames.len() as u64, bytes));
    assert_eq!((stats.opackets, stats.obytes), (frames.len() as u64, bytes));

    drop(queues);
    port.close().expect("close net_pcap0 (flushes the tx pcap)");
    let written = fs::read(out_pcap).expect("read output pcap");
    let (header, records) = parse_pcap(&written);
    assert_eq!((header.version_major, header.version_minor, header.linktype), (2, 4, 1));
    assert_eq!(records, frames);
}

fn worker_lcore_runs_a_closure_and_returns_its_value(eal: &Eal, pool: &Mempool) {
    assert_eq!(eal.launch(eal.main_lcore(), || 0).err(), Some(DpdkError::NotAWorker(0)));
    let worker = eal.worker_lcores()[0];
    let worker_pool = pool.clone();
    eal.launch(worker, move || {
        let on_worker = current_lcore() == Some(LcoreId(1));
        let m = worker_pool.alloc();
        i32::from(on_worker) * 40 + i32::from(m.is_some()) * 2
    })
    .expect("launch on the worker");
    assert_eq!(eal.wait(worker), 42);

    let release = Arc::new(AtomicBool::new(false));
    let spin = Arc::clone(&release);
    eal.launch(worker, move || {
        while !spin.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        7
    })
    .unwrap();
    assert_eq!(eal.launch(worker, || 0).err(), Some(DpdkError::LcoreBusy(1)));
    release.store(true, Ordering::Release);
    assert_eq!(eal.wait(worker), 7);
}

/// Allocates an mbuf holding `frame`.
fn mbuf_with(pool: &Mempool, frame: &[u8]) -> Mbuf {
    let mut m = pool.alloc().expect("alloc");
    assert!(m.extend_from_slice(frame));
    m
}

/// `n` Ethernet/IPv4/UDP frames of different lengths.
fn udp_frames(n: u8) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| {
            let builder = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [2, 0, 0, 0, 0, 2])
                .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
                .udp(10_000 + u16::from(i), 80);
            let payload = vec![i; usize::from(i) * 37 + 1];
            let mut frame = Vec::with_capacity(builder.size(payload.len()));
            builder.write(&mut frame, &payload).unwrap();
            frame
        })
        .collect()
}

/// Microsecond pcap magic; net_pcap writes nanosecond files (`PCAP_NSEC_MAGIC`).
const PCAP_MAGIC: u32 = 0xa1b2_c3d4;
const PCAP_NSEC_MAGIC: u32 = 0xa1b2_3c4d;

/// A classic pcap file (native byte order, Ethernet link type) holding `frames`.
fn pcap_file(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.extend_from_slice(&PCAP_MAGIC.to_ne_bytes());
    out.extend_from_slice(&2u16.to_ne_bytes());
    out.extend_from_slice(&4u16.to_ne_bytes());
    out.extend_from_slice(&0i32.to_ne_bytes()); // thiszone
    out.extend_from_slice(&0u32.to_ne_bytes()); // sigfigs
    out.extend_from_slice(&65_535u32.to_ne_bytes()); // snaplen
    out.extend_from_slice(&1u32.to_ne_bytes()); // linktype: Ethernet
    for (i, frame) in frames.iter().enumerate() {
        let len = u32::try_from(frame.len()).unwrap();
        out.extend_from_slice(&u32::try_from(i).unwrap().to_ne_bytes()); // ts_sec
        out.extend_from_slice(&0u32.to_ne_bytes()); // ts_usec
        out.extend_from_slice(&len.to_ne_bytes()); // incl_len
        out.extend_from_slice(&len.to_ne_bytes()); // orig_len
        out.extend_from_slice(frame);
    }
    out
}

/// The global header fields the test checks.
struct PcapHeader {
    version_major: u16,
    version_minor: u16,
    linktype: u32,
}

/// Parses a native-order pcap file (micro- or nanosecond) into its header and frames.
fn parse_pcap(bytes: &[u8]) -> (PcapHeader, Vec<Vec<u8>>) {
    let u16_at = |at: usize| u16::from_ne_bytes(bytes[at..at + 2].try_into().unwrap());
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap());
    assert!(bytes.len() >= 24, "pcap shorter than its global header");
    let magic = u32_at(0);
    assert!(magic == PCAP_MAGIC || magic == PCAP_NSEC_MAGIC, "pcap magic {magic:#x}");
    let header = PcapHeader { version_major: u16_at(4), version_minor: u16_at(6), linktype: u32_at(20) };
    let mut frames = Vec::new();
    let mut at = 24;
    while at < bytes.len() {
        let incl = usize::try_from(u32_at(at + 8)).unwrap();
        let orig = usize::try_from(u32_at(at + 12)).unwrap();
        assert_eq!(incl, orig, "frame {} was truncated", frames.len());
        frames.push(bytes[at + 16..at + 16 + incl].to_vec());
        at += 16 + incl;
    }
    (header, frames)
}
