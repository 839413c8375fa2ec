//! Flow steering (`rte_flow`) and the RSS features of the virtual devices that have them, against
//! a real EAL.
//!
//! DPDK's EAL starts once per process, so this file has one `#[test]` that runs each behaviour as
//! a named step (its own process: its devices differ from `dpdk_wrapper.rs`'s). Devices:
//! `net_memif0` (a server with no peer: it is only asked what it offers) and `net_tap0`, a Linux
//! tap interface named `fnflow<pid>` whose rte_flow rules the PMD turns into tc flower filters.
//! Frames are sent from the kernel side through an AF_PACKET socket bound to that interface, so
//! the traffic never leaves it; DPDK removes the interface when the port closes.
//!
//! Needs root and /dev/net/tun (CI runs it as root); if DPDK cannot start, the test fails with a
//! message saying why. net_tap can install its rules only in a kernel with cls_flower,
//! sch_multiq and act_skbedit. Without them the test checks the refusal and that kernel-side
//! frames still reach the port, and prints loudly that steering was not checked end to end;
//! `FNAT_REQUIRE_TAP_FLOW=1` makes that a failure instead.

#![cfg(feature = "dpdk")]

mod common;

use common::Cleanup;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use dataplane::dpdk::{DpdkError, Eal, FlowRules, Mbuf, Mempool, Port, PortConf};
use etherparse::PacketBuilder;

/// The address the steering rules match.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 9, 0, 1);
/// The UDP destination ports the kernel side sends to (each once).
const PORTS: std::ops::RangeInclusive<u16> = 2000..=2010;

#[test]
fn flow_steering_over_net_tap() {
    let pid = std::process::id();
    let file_prefix = format!("fnat-flow-test-{pid}");
    let mut cleanup = Cleanup::new("fnat-dpdk-flow-test", pid, &file_prefix);
    let memif_socket = cleanup.tmp.join("memif.sock");
    // Interface names have at most 15 bytes; pids have at most 7 digits.
    let tap_iface = format!("fnflow{pid}");

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
        &format!("--vdev=net_memif0,role=server,socket={}", memif_socket.display()),
        &format!("--vdev=net_tap0,iface={tap_iface}"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let eal = Eal::init(&args).unwrap_or_else(|err| {
        panic!(
            "DPDK could not start ({err}). This test needs Debian's DPDK 22.11 with its PMD plugins \
             (apt-get install libdpdk-dev), root, and /dev/net/tun (a kernel with CONFIG_TUN) for net_tap."
        )
    });
    cleanup.runtime_dirs.push(eal.runtime_dir());
    let pool = Mempool::pktmbuf("flow_pool", 1023, 32, Mempool::DEFAULT_DATA_ROOM, eal.socket_id())
        .expect("create packet pool");

    flow_rules_move_between_threads();
    memif_port_has_no_rss_table_and_no_flow_rules(&pool);
    tap_port_steers_udp_by_destination_port(&pool, &tap_iface);

    assert_eq!(pool.in_use(), 0, "every mbuf is back in the pool");
    drop(pool);
    drop(eal);
}

fn flow_rules_move_between_threads() {
    fn send_and_sync<T: Send + Sync>() {}
    send_and_sync::<FlowRules>();
}

/// net_memif (DPDK 22.11), the benches' PMD: up to 255 queue pairs, no RSS (no hash types, no
/// table, so an empty key), no rte_flow.
fn memif_port_has_no_rss_table_and_no_flow_rules(pool: &Mempool) {
    let port = Port::by_name("net_memif0").unwrap();
    let id = port.id().0;
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_memif");
    assert_eq!((info.max_rx_queues, info.max_tx_queues), (255, 255));
    assert_eq!((info.flow_type_rss_offloads, info.reta_size, info.hash_key_size), (0, 0, 0));
    assert_eq!(port.rss_key().unwrap(), Vec::<u8>::new());
    assert_eq!(port.rss_reta().err(), Some(DpdkError::Unsupported { port: id, what: "RSS redirection table" }));

    let conf = PortConf { rx_queues: 2, tx_queues: 2, rss: true, ..PortConf::default() };
    port.configure(&conf, pool).expect("configure net_memif0");
    assert!(matches!(
        port.steer_to_queue(VIP, 1, 1, 1),
        Err(DpdkError::Flow { call: "rte_flow_validate", code, .. }) if code == libc::ENOSYS
    ));
    port.close().unwrap();
}

/// net_tap (DPDK 22.11): up to 16 queue pairs; it claims RSS hash types but has no redirection
/// table and no readable key (its RSS is an rte_flow action). Its rte_flow rules match ports
/// exactly or not at all, so the split by low bits is refused, and one rule per port is used
/// instead: even ports to queue 0, odd ports to queue 1.
fn tap_port_steers_udp_by_destination_port(pool: &Mempool, iface: &str) {
    let port = Port::by_name("net_tap0").unwrap();
    let id = port.id().0;
    let info = port.info().unwrap();
    assert_eq!(info.driver_name, "net_tap");
    assert_eq!((info.max_rx_queues, info.max_tx_queues), (16, 16));
    assert_eq!((info.reta_size, info.hash_key_size), (0, 40));
    assert_ne!(info.flow_type_rss_offloads, 0);
    assert_eq!(port.rss_reta().err(), Some(DpdkError::Unsupported { port: id, what: "RSS redirection table" }));
    assert_eq!(port.rss_key().err(), Some(DpdkError::Unsupported { port: id, what: "readable RSS key" }));

    // net_tap fills every rx descriptor at setup: 2 x 256 mbufs from the pool.
    let conf = PortConf { rx_queues: 2, tx_queues: 2, rx_desc: 256, tx_desc: 256, ..PortConf::default() };
    port.configure(&conf, pool).expect("configure net_tap0");
    let mut queues = port.start().expect("start net_tap0");
    let flags = fs::read_to_string(Path::new("/sys/class/net").join(iface).join("flags")).expect("tap flags");
    let flags = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "starting the port brought {iface} up (IFF_UP)");

    // A partial port mask passes net_tap's validation, then its translation to tc refuses it.
    assert_eq!(
        port.steer_to_queue(VIP, 1, 1, 1).err(),
        Some(DpdkError::Flow {
            port: id,
            call: "rte_flow_create",
            code: libc::ENOTSUP,
            cause: "a pattern item",
            msg: "item not supported".to_owned(),
        })
    );

    let rules: Result<Vec<FlowRules>, DpdkError> =
        PORTS.map(|dport| port.steer_to_queue(VIP, dport, 0xffff, dport & 1)).collect();
    let mut rules = match rules {
        Ok(rules) => {
            assert!(rules.iter().all(|set| set.len() == 2 && set.port().id() == port.id()));
            Some(rules)
        }
        Err(err) if is_kernel_refusal(&err) => {
            let banner = "!".repeat(100);
            eprintln!(
                "{banner}\n!!! net_tap flow steering NOT checked end to end: the kernel refused net_tap's tc \
                 filter ({err}).\n!!! net_tap needs tc flower, sch_multiq and act_skbedit (CONFIG_NET_CLS_FLOWER, \
                 CONFIG_NET_SCH_MULTIQ, CONFIG_NET_ACT_SKBEDIT);\n!!! this kernel cannot carry the rules. Checked \
                 instead: the PMD's refusals, and kernel-side frames reaching the port.\n{banner}"
            );
            assert!(
                std::env::var_os("FNAT_REQUIRE_TAP_FLOW").is_none(),
                "FNAT_REQUIRE_TAP_FLOW is set and net_tap could not install flow rules: {err}"
            );
            None
        }
        Err(err) => panic!("installing exact-port steering rules on net_tap failed: {err}"),
    };

    let mac = port.mac_addr().unwrap();
    let sender = PacketSocket::bind(iface);
    for dport in PORTS {
        sender.send(&udp_to_vip(mac, dport));
    }
    let arrived = receive_udp_to_vip(&mut queues.rx, PORTS.count());
    assert_eq!(
        arrived.keys().copied().collect::<Vec<_>>(),
        PORTS.collect::<Vec<_>>(),
        "each frame sent on {iface} reached the port once (queues: {arrived:?})"
    );
    if rules.is_some() {
        for (dport, queue) in &arrived {
            assert_eq!(*queue, dport & 1, "port {dport} is steered to rx queue {} (all: {arrived:?})", dport & 1);
        }
        eprintln!("net_tap steered UDP by destination port: {arrived:?}");
    } else {
        eprintln!("net_tap without rules: the kernel spread the frames as {arrived:?}");
    }

    drop(queues);
    if let Some(rules) = rules.as_mut() {
        port.stop().unwrap();
        assert_eq!(
            port.configure(&conf, pool).err(),
            Some(DpdkError::PortState { port: id, op: "configure", state: "flow rules are installed" })
        );
        rules.pop().unwrap().destroy().expect("destroy one set of rules");
    }
    // Close flushes the rules still installed; dropping their FlowRules afterwards does nothing.
    port.close().expect("close net_tap0");
    drop(rules);
    assert!(!Path::new("/sys/class/net").join(iface).exists(), "closing the port removed {iface}");
}

/// Whether net_tap failed to install a rule because the kernel refused its tc filter.
fn is_kernel_refusal(err: &DpdkError) -> bool {
    matches!(err, DpdkError::Flow { call: "rte_flow_create", cause: "the flow rule", msg, .. }
        if msg.contains("Kernel too old for flower support"))
}

/// The frames of UDP to the VIP received on `rx` within 5 s, by destination port -> rx queue;
/// stops once `expected` have arrived. Other frames (the kernel's IPv6 chatter) are dropped.
fn receive_udp_to_vip(rx: &mut [dataplane::dpdk::RxQueue], expected: usize) -> BTreeMap<u16, u16> {
    let mut arrived = BTreeMap::new();
    let mut burst: Vec<Mbuf> = Vec::with_capacity(32);
    let deadline = Instant::now() + Duration::from_secs(5);
    while arrived.len() < expected && Instant::now() < deadline {
        let mut got = 0;
        for queue in rx.iter_mut() {
            got += queue.rx_burst(&mut burst, 32);
            for m in burst.drain(..) {
                if let Some(dport) = udp_dport_to_vip(m.data()) {
                    let first = arrived.insert(dport, queue.queue_id());
                    assert_eq!(first, None, "port {dport} arrived twice");
                }
            }
        }
        if got == 0 {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    arrived
}

/// The UDP destination port of an Ethernet/IPv4/UDP frame addressed to the VIP.
fn udp_dport_to_vip(frame: &[u8]) -> Option<u16> {
    let ip = frame.get(14..)?;
    if frame.get(12..14)? != [0x08, 0x00]
        || ip.first()? >> 4 != 4
        || *ip.get(9)? != 17
        || ip.get(16..20)? != VIP.octets()
    {
        return None;
    }
    let udp = ip.get(usize::from(ip[0] & 0x0f) * 4..)?;
    Some(u16::from_be_bytes([*udp.get(2)?, *udp.get(3)?]))
}

/// A UDP datagram from a neighbour on the tap link to VIP:`dport`, as a whole Ethernet frame.
fn udp_to_vip(dst_mac: [u8; 6], dport: u16) -> Vec<u8> {
    let builder = PacketBuilder::ethernet2([0x02, 0, 0, 0, 0, 0x99], dst_mac)
        .ipv4([10, 9, 0, 2], VIP.octets(), 64)
        .udp(40_000, dport);
    let payload = dport.to_be_bytes();
    let mut frame = Vec::with_capacity(builder.size(payload.len()));
    builder.write(&mut frame, &payload).unwrap();
    frame
}

/// An AF_PACKET socket that writes whole Ethernet frames out of one interface (from the kernel's
/// side of a tap, "out" means into the DPDK port).
struct PacketSocket {
    fd: OwnedFd,
    ifindex: i32,
}

impl PacketSocket {
    fn bind(iface: &str) -> Self {
        let name = CString::new(iface).unwrap();
        // SAFETY: name is a NUL-terminated string that outlives the call.
        let ifindex = unsafe { libc::if_nametoindex(name.as_ptr()) };
        assert_ne!(ifindex, 0, "no interface {iface}: {}", std::io::Error::last_os_error());
        // SAFETY: socket(2) with constant arguments; the result is checked below.
        let raw = unsafe { libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0) };
        assert!(raw >= 0, "AF_PACKET socket: {}", std::io::Error::last_os_error());
        // SAFETY: raw is a socket just opened and owned by nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        PacketSocket { fd, ifindex: i32::try_from(ifindex).unwrap() }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: sockaddr_ll is plain data, for which all zeroes is a valid value.
        let mut addr: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
        addr.sll_family = u16::try_from(libc::AF_PACKET).unwrap();
        addr.sll_protocol = u16::try_from(libc::ETH_P_IP).unwrap().to_be();
        addr.sll_ifindex = self.ifindex;
        let addr_len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_ll>()).unwrap();
        // SAFETY: frame and addr are valid for reads of the lengths given for the whole call.
        let sent = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                frame.as_ptr().cast(),
                frame.len(),
                0,
                std::ptr::from_ref(&addr).cast(),
                addr_len,
            )
        };
        assert_eq!(usize::try_from(sent).ok(), Some(frame.len()), "sendto: {}", std::io::Error::last_os_error());
    }
}
