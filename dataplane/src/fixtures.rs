//! The packet fixture table: input frames with the exact frames expected out (or the drop reason),
//! over the topology of `configs/pcap-demo.toml`.
//!
//! Shared by the byte-frame fixture tests, the DPDK net_pcap tests, the pcap demo and the benchmarks.
//! Expected frames are built from scratch by [`crate::packet::builder`] (full checksums), never by
//! rewriting the input, so a fixture also checks the incremental checksum updates. Not on the packet
//! path; everything here allocates freely.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::sync::Arc;

use crate::config::Config;
use crate::lb::{ConnTable, LocalAddrPool};
use crate::net::{NeighManager, NeighTable, NeighTimers, PortIdx, arp};
use crate::packet::builder::{self, FrameSpec, TcpSpec};
use crate::packet::{self, ArpOperation, EtherType, Ipv4Packet, MacAddr, TcpFlags, UdpPacket};
use crate::snapshot::Snapshot;
use crate::worker::poll::{PacketBuf, PacketIo, Poller, RedirectLinks};
use crate::worker::shared::{self, ControlLinks};
use crate::worker::{DropReason, Worker, WorkerId};

/// The demo configuration; `@RUN_DIR@` stands for the directory holding the capture files.
pub const CONFIG_TEMPLATE: &str = include_str!("../../configs/pcap-demo.toml");

/// The client-side port.
pub const LAN: PortIdx = 0;
/// The real-server-side port.
pub const DMZ: PortIdx = 1;
/// MAC address of the client-side port.
pub const LAN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 1]);
/// MAC address of the real-server-side port.
pub const DMZ_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0, 2]);
/// The directly connected client.
pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// Its MAC address.
pub const CLIENT_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 2]);
/// The router towards remote clients.
pub const ROUTER_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 0xfe]);
/// The virtual address.
pub const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);
/// The local address (FULLNAT source towards the real servers).
pub const LIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
/// The real servers.
pub const RS: [Ipv4Addr; 3] = [Ipv4Addr::new(10, 1, 0, 11), Ipv4Addr::new(10, 1, 0, 12), Ipv4Addr::new(10, 1, 0, 13)];
/// Their MAC addresses.
pub const RS_MAC: [MacAddr; 3] =
    [MacAddr([2, 0, 0, 0, 0x0d, 0x11]), MacAddr([2, 0, 0, 0, 0x0d, 0x12]), MacAddr([2, 0, 0, 0, 0x0d, 0x13])];
/// A client on the LAN that no configuration knows: its MAC address must be learned with ARP.
pub const UNKNOWN_CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 77);
/// Its MAC address.
pub const UNKNOWN_MAC: MacAddr = MacAddr([2, 0, 0, 0, 0x0c, 0x77]);
/// The gateway's address on the LAN port.
pub const LAN_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The gateway's address on the DMZ port.
pub const DMZ_ADDR: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
/// The first local port a single worker hands out.
pub const FIRST_LPORT: u16 = 1024;

/// What must come out for one input frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Expect {
    /// Exactly this frame, on this port.
    Tx {
        /// The egress port.
        port: PortIdx,
        /// The frame, byte for byte.
        frame: Vec<u8>,
    },
    /// Exactly these frames (possibly none), in this order, and no drop: for frames the gateway
    /// consumes, holds while it resolves a next hop (the ARP request goes out), or releases.
    Frames(Vec<(PortIdx, Vec<u8>)>),
    /// Nothing, and one drop counted under this reason.
    Drop(DropReason),
}

impl Expect {
    /// The frames expected out, with their ports.
    pub fn frames(&self) -> Vec<(PortIdx, Vec<u8>)> {
        match self {
            Expect::Tx { port, frame } => vec![(*port, frame.clone())],
            Expect::Frames(f) => f.clone(),
            Expect::Drop(_) => Vec::new(),
        }
    }
}

/// One input frame and its expected outcome.
#[derive(Clone, Debug)]
pub struct Step {
    /// When it arrives, in milliseconds.
    pub at_ms: u64,
    /// The port it arrives on.
    pub port: PortIdx,
    /// The frame.
    pub frame: Vec<u8>,
    /// The expected outcome.
    pub expect: Expect,
}

/// A sequence of steps run against one fresh worker.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// What the scenario shows.
    pub name: &'static str,
    /// The steps, in order.
    pub steps: Vec<Step>,
}

/// The frames of one port in a scenario: what arrives on it, and what must leave on it, in order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PortFrames {
    /// Frames arriving on the port.
    pub input: Vec<Vec<u8>>,
    /// Frames that must leave on the port.
    pub expected: Vec<Vec<u8>>,
}

impl Scenario {
    /// The scenario's frames sorted by port (index = `PortIdx`), as capture files hold them.
    pub fn by_port(&self) -> [PortFrames; 2] {
        let mut ports: [PortFrames; 2] = Default::default();
        for step in &self.steps {
            if let Some(p) = ports.get_mut(usize::from(step.port)).filter(|_| !step.frame.is_empty()) {
                p.input.push(step.frame.clone());
            }
            for (port, frame) in step.expect.frames() {
                if let Some(p) = ports.get_mut(usize::from(port)) {
                    p.expected.push(frame);
                }
            }
        }
        ports
    }
}

/// The demo configuration with `run_dir` for the capture files.
pub fn config(run_dir: &Path) -> Config {
    let text = CONFIG_TEMPLATE.replace("@RUN_DIR@", &run_dir.display().to_string());
    Config::parse(Path::new("configs/pcap-demo.toml"), &text).expect("the demo configuration is valid")
}

/// The snapshot of the demo configuration, with the ports' configured MAC addresses.
pub fn snapshot() -> Arc<Snapshot> {
    let cfg = config(Path::new("/nonexistent"));
    Arc::new(Snapshot::from_config(&cfg, &[LAN_MAC, DMZ_MAC]))
}

/// Worker `index` of `count` over the demo configuration, with a fixed hash seed.
pub fn worker(snap: &Arc<Snapshot>, index: u16, count: u16) -> Worker {
    let cfg = config(Path::new("/nonexistent"));
    Worker::new(
        WorkerId { index, count },
        Arc::clone(snap),
        Arc::new(NeighTable::new(&cfg.neighbours)),
        ConnTable::with_seed(cfg.conn_table_size, [0x1234, 0x5678]),
        LocalAddrPool::new(&cfg.local_addrs, cfg.local_ports.clone(), index, count),
    )
}

/// A client flow to one of the services and the real server and local port it is expected to get.
#[derive(Clone, Copy, Debug)]
pub struct Flow {
    /// The client's address and port.
    pub client: SocketAddrV4,
    /// The MAC address the client's frames come from (the client's, or the router's).
    pub client_mac: MacAddr,
    /// The virtual service.
    pub vip: SocketAddrV4,
    /// Index into [`RS`] of the expected real server.
    pub rs: usize,
    /// The real server's port.
    pub rport: u16,
    /// The expected local port.
    pub lport: u16,
}

impl Flow {
    /// A flow from the directly connected client to VIP:80 (TCP service, real servers on 8080).
    pub fn tcp(cport: u16, rs: usize, lport: u16) -> Self {
        Self {
            client: SocketAddrV4::new(CLIENT, cport),
            client_mac: CLIENT_MAC,
            vip: SocketAddrV4::new(VIP, 80),
            rs,
            rport: 8080,
            lport,
        }
    }

    /// A flow from the directly connected client to VIP:53 (UDP service, real servers on 5353).
    pub fn udp(cport: u16, rs: usize, lport: u16) -> Self {
        Self { vip: SocketAddrV4::new(VIP, 53), rport: 5353, ..Self::tcp(cport, rs, lport) }
    }

    /// The same flow from another client address behind the given MAC.
    pub fn from(self, client: Ipv4Addr, mac: MacAddr) -> Self {
        Self { client: SocketAddrV4::new(client, self.client.port()), client_mac: mac, ..self }
    }

    /// Client to VIP, as it arrives on the LAN port.
    pub fn request(&self, ttl: u8) -> FrameSpec {
        FrameSpec::new((self.client_mac, LAN_MAC), *self.client.ip(), *self.vip.ip()).with_ttl(ttl)
    }

    /// LIP to real server, as it must leave on the DMZ port.
    pub fn to_server(&self, ttl: u8) -> FrameSpec {
        FrameSpec::new((DMZ_MAC, RS_MAC[self.rs]), LIP, RS[self.rs]).with_ttl(ttl)
    }

    /// Real server to LIP, as it arrives on the DMZ port.
    pub fn reply(&self, ttl: u8) -> FrameSpec {
        FrameSpec::new((RS_MAC[self.rs], DMZ_MAC), RS[self.rs], LIP).with_ttl(ttl)
    }

    /// VIP to client, as it must leave on the LAN port.
    pub fn to_client(&self, ttl: u8) -> FrameSpec {
        FrameSpec::new((LAN_MAC, self.client_mac), *self.vip.ip(), *self.client.ip()).with_ttl(ttl)
    }

    /// A TCP segment client -> VIP at `at` and the segment expected towards the real server.
    pub fn tcp_in(&self, at: u64, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Step {
        let c = TcpSpec::new(self.client.port(), self.vip.port(), flags).seq(seq).ack(ack);
        let s = TcpSpec::new(self.lport, self.rport, flags).seq(seq).ack(ack);
        fwd(at, LAN, self.request(64).tcp(c, payload), DMZ, self.to_server(63).tcp(s, payload))
    }

    /// A TCP segment real server -> LIP at `at` and the segment expected towards the client.
    pub fn tcp_out(&self, at: u64, flags: TcpFlags, seq: u32, ack: u32, payload: &[u8]) -> Step {
        let r = TcpSpec::new(self.rport, self.lport, flags).seq(seq).ack(ack);
        let c = TcpSpec::new(self.vip.port(), self.client.port(), flags).seq(seq).ack(ack);
        fwd(at, DMZ, self.reply(64).tcp(r, payload), LAN, self.to_client(63).tcp(c, payload))
    }

    /// A UDP datagram client -> VIP and the datagram expected towards the real server.
    pub fn udp_in(&self, at: u64, payload: &[u8]) -> Step {
        fwd(
            at,
            LAN,
            self.request(64).udp(self.client.port(), self.vip.port(), payload),
            DMZ,
            self.to_server(63).udp(self.lport, self.rport, payload),
        )
    }

    /// A UDP datagram real server -> LIP and the datagram expected towards the client.
    pub fn udp_out(&self, at: u64, payload: &[u8]) -> Step {
        fwd(
            at,
            DMZ,
            self.reply(64).udp(self.rport, self.lport, payload),
            LAN,
            self.to_client(63).udp(self.vip.port(), self.client.port(), payload),
        )
    }

    /// A TCP segment client -> VIP that must be dropped.
    pub fn tcp_in_dropped(&self, at: u64, flags: TcpFlags, reason: DropReason) -> Step {
        let c = TcpSpec::new(self.client.port(), self.vip.port(), flags);
        drop_step(at, LAN, self.request(64).tcp(c, b""), reason)
    }
}

impl Step {
    /// No frame: time passes to `at_ms` and the gateway acts on its own (timeouts).
    pub fn tick(at_ms: u64, expect: Expect) -> Self {
        Step { at_ms, port: LAN, frame: Vec::new(), expect }
    }
}

/// The ARP request the gateway sends from `mac`/`ip` to resolve `target` (padded to 60 bytes).
pub fn arp_request(mac: MacAddr, ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = builder::arp((mac, MacAddr::BROADCAST), ArpOperation::Request, (mac, ip), (MacAddr::ZERO, target));
    f.resize(arp::FRAME_LEN, 0);
    f
}

/// The gratuitous ARP worker 0 sends for each VIP when it starts: `(port, frame)`.
pub fn announcements() -> Vec<(PortIdx, Vec<u8>)> {
    let mut f =
        builder::arp((LAN_MAC, MacAddr::BROADCAST), ArpOperation::Request, (LAN_MAC, VIP), (MacAddr::ZERO, VIP));
    f.resize(arp::FRAME_LEN, 0);
    vec![(LAN, f)]
}

/// A step whose frame must leave on `out_port` as `out`.
pub fn fwd(at_ms: u64, port: PortIdx, frame: Vec<u8>, out_port: PortIdx, out: Vec<u8>) -> Step {
    Step { at_ms, port, frame, expect: Expect::Tx { port: out_port, frame: out } }
}

/// A step whose frame must be dropped for `reason`.
pub fn drop_step(at_ms: u64, port: PortIdx, frame: Vec<u8>, reason: DropReason) -> Step {
    Step { at_ms, port, frame, expect: Expect::Drop(reason) }
}

const SYN: TcpFlags = TcpFlags::SYN;
const ACK: TcpFlags = TcpFlags::ACK;

fn flags(list: &[TcpFlags]) -> TcpFlags {
    let mut f = TcpFlags::empty();
    for x in list {
        f.insert(*x);
    }
    f
}

/// A valid SYN from the client to VIP:80, to be broken by the caller.
fn syn_frame() -> Vec<u8> {
    Flow::tcp(40000, 0, FIRST_LPORT).request(64).tcp(TcpSpec::new(40000, 80, SYN).seq(1), b"")
}

/// Applies `f` to the IPv4 header of `frame` and refills the header checksum.
fn edit_ip(mut frame: Vec<u8>, f: impl FnOnce(&mut Ipv4Packet<&mut [u8]>)) -> Vec<u8> {
    let mut ip = Ipv4Packet::new_unchecked(&mut frame[packet::ethernet::HEADER_LEN..]);
    f(&mut ip);
    ip.fill_checksum();
    frame
}

/// The main sequence: a TCP connection both ways, round robin over the three servers, UDP with wrr,
/// and a few drops. At most 32 frames per port and no frame from the real servers that depends on a
/// later client frame, so it replays deterministically through fnatd on capture files.
pub fn demo() -> Scenario {
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let b = Flow::tcp(40001, 1, FIRST_LPORT + 1);
    let c = Flow::tcp(40002, 2, FIRST_LPORT + 2);
    let d = Flow::tcp(40003, 0, FIRST_LPORT + 3);
    let u1 = Flow::udp(5000, 0, FIRST_LPORT + 4);
    let u2 = Flow::udp(5001, 0, FIRST_LPORT + 5);
    let u3 = Flow::udp(5002, 1, FIRST_LPORT + 6);
    let psh_ack = flags(&[TcpFlags::PSH, ACK]);
    let fin_ack = flags(&[TcpFlags::FIN, ACK]);
    let steps = vec![
        a.tcp_in(0, SYN, 1000, 0, b""),
        b.tcp_in(0, SYN, 2000, 0, b""),
        c.tcp_in(0, SYN, 3000, 0, b""),
        d.tcp_in(0, SYN, 4000, 0, b""),
        a.tcp_in(0, ACK, 1001, 9001, b""),
        a.tcp_in(0, psh_ack, 1001, 9001, b"GET / HTTP/1.0\r\n\r\n"),
        a.tcp_in(0, fin_ack, 1019, 9030, b""),
        u1.udp_in(0, b"query one"),
        u2.udp_in(0, b"query two"),
        u3.udp_in(0, b"query three"),
        Flow::tcp(40009, 0, 0).tcp_in_dropped(0, ACK, DropReason::NoConn),
        drop_step(0, LAN, edit_ip(syn_frame(), |ip| ip.set_ttl(1)), DropReason::TtlExpired),
        a.tcp_out(0, flags(&[SYN, ACK]), 9000, 1001, b""),
        a.tcp_out(0, psh_ack, 9001, 1019, b"HTTP/1.0 200 OK\r\n\r\nhi\n"),
        a.tcp_out(0, fin_ack, 9029, 1020, b""),
        b.tcp_out(0, flags(&[SYN, ACK]), 7000, 2001, b""),
        u1.udp_out(0, b"answer one"),
        u3.udp_out(0, b"answer three"),
    ];
    Scenario { name: "demo: TCP both ways, rr over three servers, UDP with wrr, drops", steps }
}

/// The demo's capture files: per port, the frames going in and the frames that must come out,
/// worker 0's announcement of the VIP first.
pub fn demo_captures() -> [PortFrames; 2] {
    let mut ports = demo().by_port();
    for (port, frame) in announcements().into_iter().rev() {
        ports[usize::from(port)].expected.insert(0, frame);
    }
    ports
}

/// Every fixture scenario, the demo included.
pub fn scenarios() -> Vec<Scenario> {
    let mut all = vec![demo()];
    all.extend(forwarding());
    all.extend(drops());
    all
}

fn forwarding() -> Vec<Scenario> {
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let fin_ack = flags(&[TcpFlags::FIN, ACK]);
    let remote = Flow::tcp(33333, 0, FIRST_LPORT).from(Ipv4Addr::new(203, 0, 113, 7), ROUTER_MAC);
    let mut list = vec![
        Scenario {
            name: "TCP handshake, data and close pass both ways",
            steps: vec![
                a.tcp_in(0, SYN, 1, 0, b""),
                a.tcp_out(1, flags(&[SYN, ACK]), 100, 2, b""),
                a.tcp_in(2, ACK, 2, 101, b""),
                a.tcp_in(3, flags(&[TcpFlags::PSH, ACK]), 2, 101, b"hello"),
                a.tcp_out(4, flags(&[TcpFlags::PSH, ACK]), 101, 7, b"world!"),
                a.tcp_in(5, fin_ack, 7, 107, b""),
                a.tcp_out(6, fin_ack, 107, 8, b""),
                a.tcp_in(7, ACK, 8, 108, b""),
            ],
        },
        Scenario {
            name: "rr gives new connections to the servers in turn, each with the next local port",
            steps: (0..5u16)
                .map(|i| Flow::tcp(41000 + i, usize::from(i % 3), FIRST_LPORT + i).tcp_in(0, SYN, 1, 0, b""))
                .collect(),
        },
        Scenario {
            name: "a remote client is answered through its router",
            steps: vec![remote.tcp_in(0, SYN, 1, 0, b""), remote.tcp_out(1, flags(&[SYN, ACK]), 5, 2, b"")],
        },
        Scenario {
            name: "wrr 2:1 gives UDP flows A A B; each flow keeps its connection",
            steps: vec![
                Flow::udp(5000, 0, FIRST_LPORT).udp_in(0, b"1"),
                Flow::udp(5001, 0, FIRST_LPORT + 1).udp_in(0, b"2"),
                Flow::udp(5002, 1, FIRST_LPORT + 2).udp_in(0, b"3"),
                Flow::udp(5000, 0, FIRST_LPORT).udp_in(1, b"again"),
                Flow::udp(5002, 1, FIRST_LPORT + 2).udp_out(2, b"answer"),
                Flow::udp(5003, 0, FIRST_LPORT + 3).udp_in(3, b"4"),
            ],
        },
        Scenario { name: "a UDP checksum of zero stays zero", steps: vec![udp_without_checksum()] },
        Scenario {
            name: "a UDP checksum that the rewrite makes zero is sent as 0xffff",
            steps: vec![udp_checksum_turning_zero()],
        },
        Scenario {
            name: "TTL 2 leaves as 1",
            steps: vec![{
                let c = TcpSpec::new(40000, 80, SYN).seq(1);
                let s = TcpSpec::new(FIRST_LPORT, 8080, SYN).seq(1);
                fwd(0, LAN, a.request(2).tcp(c, b""), DMZ, a.to_server(1).tcp(s, b""))
            }],
        },
        Scenario {
            name: "Ethernet padding of a short frame is kept",
            steps: vec![{
                let mut step = a.tcp_in(0, SYN, 1, 0, b"");
                step.frame.resize(60, 0);
                if let Expect::Tx { frame, .. } = &mut step.expect {
                    frame.resize(60, 0);
                }
                step
            }],
        },
        Scenario {
            name: "an established connection outlives the SYN timeout",
            steps: vec![
                a.tcp_in(0, SYN, 1, 0, b""),
                a.tcp_out(10, flags(&[SYN, ACK]), 100, 2, b""),
                a.tcp_in(20, ACK, 2, 101, b""),
                a.tcp_in(899_000, ACK, 2, 101, b"late"),
            ],
        },
        Scenario {
            name: "a half-open connection expires after SYN_RECV's 60 s and its segments are then dropped",
            steps: vec![a.tcp_in(0, SYN, 1, 0, b""), a.tcp_in_dropped(60_001, ACK, DropReason::NoConn)],
        },
        Scenario {
            name: "a reply to an expired connection is dropped",
            steps: vec![a.tcp_in(0, SYN, 1, 0, b""), {
                let r = TcpSpec::new(8080, FIRST_LPORT, flags(&[SYN, ACK])).seq(5).ack(2);
                drop_step(60_001, DMZ, a.reply(64).tcp(r, b""), DropReason::NoConn)
            }],
        },
        Scenario {
            name: "an expired connection is replaced by a new one on a new SYN",
            steps: vec![
                a.tcp_in(0, SYN, 1, 0, b""),
                Flow::tcp(40000, 1, FIRST_LPORT + 1).tcp_in(70_000, SYN, 1, 0, b""),
            ],
        },
        Scenario {
            name: "a client RST passes and closes the connection",
            steps: vec![a.tcp_in(0, SYN, 1, 0, b""), a.tcp_in(1, TcpFlags::RST, 2, 0, b"")],
        },
    ];
    // A client whose MAC address is not known yet: the reply waits while fnatd asks with ARP, and
    // leaves as soon as the client answers.
    let unknown = Flow::tcp(40000, 0, FIRST_LPORT).from(UNKNOWN_CLIENT, UNKNOWN_MAC);
    let held = unknown.tcp_out(1, flags(&[SYN, ACK]), 5, 2, b"");
    let Expect::Tx { frame: released, .. } = held.expect.clone() else { unreachable!() };
    list.push(Scenario {
        name: "a reply to a client with an unknown MAC waits for ARP and then leaves",
        steps: vec![
            unknown.tcp_in(0, SYN, 1, 0, b""),
            Step {
                expect: Expect::Frames(vec![(LAN, arp_request(LAN_MAC, Ipv4Addr::new(10, 0, 0, 1), UNKNOWN_CLIENT))]),
                ..held
            },
            Step {
                at_ms: 2,
                port: LAN,
                frame: builder::arp(
                    (UNKNOWN_MAC, LAN_MAC),
                    ArpOperation::Reply,
                    (UNKNOWN_MAC, UNKNOWN_CLIENT),
                    (LAN_MAC, Ipv4Addr::new(10, 0, 0, 1)),
                ),
                expect: Expect::Frames(vec![(LAN, released)]),
            },
        ],
    });
    list.push(Scenario {
        name: "a packet whose next hop never answers ARP is dropped after 3 s",
        steps: vec![
            unknown.tcp_in(0, SYN, 1, 0, b""),
            Step {
                expect: Expect::Frames(vec![(LAN, arp_request(LAN_MAC, Ipv4Addr::new(10, 0, 0, 1), UNKNOWN_CLIENT))]),
                ..unknown.tcp_out(1, ACK, 5, 2, b"")
            },
            Step::tick(3001, Expect::Drop(DropReason::NeighTimeout)),
        ],
    });
    list.extend(own_addresses());
    list
}

fn udp_without_checksum() -> Step {
    let f = Flow::udp(5000, 0, FIRST_LPORT);
    let input = f.request(64).udp_without_checksum(5000, 53, b"no checksum");
    let out = f.to_server(63).udp_without_checksum(FIRST_LPORT, 5353, b"no checksum");
    fwd(0, LAN, input, DMZ, out)
}

/// Searches a two-byte payload whose rewritten datagram has a computed checksum of zero.
fn udp_checksum_turning_zero() -> Step {
    let f = Flow::udp(5000, 0, FIRST_LPORT);
    for w in 0..=u16::MAX {
        let payload = w.to_be_bytes();
        let out = f.to_server(63).udp(FIRST_LPORT, 5353, &payload);
        let udp = UdpPacket::new_unchecked(&out[34..]);
        if udp.checksum() == 0xffff {
            return fwd(0, LAN, f.request(64).udp(5000, 53, &payload), DMZ, out);
        }
    }
    unreachable!("some payload word makes the checksum zero")
}

fn drops() -> Vec<Scenario> {
    use DropReason as R;
    let a = Flow::tcp(40000, 0, FIRST_LPORT);
    let one = |name, frame: Vec<u8>, reason| Scenario { name, steps: vec![drop_step(0, LAN, frame, reason)] };
    let spec = a.request(64);
    let mut vlan = syn_frame();
    vlan.splice(12..12, [0x81, 0x00, 0x00, 0x64]);
    let mut ipv6 = syn_frame();
    ipv6[12..14].copy_from_slice(&u16::from(EtherType::IPV6).to_be_bytes());
    let mut other_mac = syn_frame();
    other_mac[0..6].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]);
    let mut bad_csum = syn_frame();
    bad_csum[24] ^= 0xff;
    let mut short_tcp = syn_frame();
    short_tcp.truncate(14 + 20 + 12);
    let short_tcp = edit_ip(short_tcp, |ip| ip.set_total_len(32));
    let mut long_udp = a.request(64).udp(5000, 53, b"abc");
    long_udp[14 + 20 + 4..14 + 20 + 6].copy_from_slice(&100u16.to_be_bytes());
    let with_options = {
        // IHL 6: a four-byte NOP option list between the IPv4 and TCP headers.
        let mut f = syn_frame();
        f.splice(34..34, [1, 1, 1, 1]);
        edit_ip(f, |ip| {
            ip.set_header_len(24);
            ip.set_total_len(44);
        })
    };
    vec![
        Scenario {
            name: "TCP that is not a lone SYN cannot open a connection",
            steps: vec![
                a.tcp_in_dropped(0, ACK, R::NoConn),
                a.tcp_in_dropped(0, flags(&[SYN, ACK]), R::NoConn),
                a.tcp_in_dropped(0, flags(&[SYN, TcpFlags::FIN]), R::NoConn),
                a.tcp_in_dropped(0, flags(&[SYN, TcpFlags::RST]), R::NoConn),
                a.tcp_in_dropped(0, TcpFlags::RST, R::NoConn),
                a.tcp_in_dropped(0, TcpFlags::FIN, R::NoConn),
            ],
        },
        one("a VIP port without a service", spec.tcp(TcpSpec::new(40000, 81, SYN), b""), R::NoService),
        one("UDP to the TCP service's port", spec.udp(40000, 80, b"x"), R::NoService),
        one(
            "an address that is neither VIP nor local",
            FrameSpec::new((CLIENT_MAC, LAN_MAC), CLIENT, Ipv4Addr::new(10, 0, 0, 200))
                .tcp(TcpSpec::new(1, 80, SYN), b""),
            R::NotForUs,
        ),
        one("TTL 1", edit_ip(syn_frame(), |ip| ip.set_ttl(1)), R::TtlExpired),
        one("TTL 0", edit_ip(syn_frame(), |ip| ip.set_ttl(0)), R::TtlExpired),
        one("a wrong IPv4 header checksum", bad_csum, R::IpChecksum),
        one("a frame cut inside the IPv4 header", syn_frame()[..14 + 12].to_vec(), R::IpTruncated),
        one("an IPv4 total length beyond the frame", edit_ip(syn_frame(), |ip| ip.set_total_len(80)), R::IpTruncated),
        one("IPv4 version 5", edit_ip(syn_frame(), |ip| ip.set_version_and_header_len(5, 20)), R::IpMalformed),
        one("an IPv4 header length below 20", edit_ip(syn_frame(), |ip| ip.set_header_len(16)), R::IpMalformed),
        one("a TCP header cut short", short_tcp, R::L4Malformed),
        one("a UDP length beyond the datagram", long_udp, R::L4Malformed),
        one("IPv4 options", with_options, R::IpOptions),
        one("a first fragment (MF set)", edit_ip(syn_frame(), |ip| ip.set_more_frags(true)), R::Fragment),
        one("a later fragment (offset set)", edit_ip(syn_frame(), |ip| ip.set_frag_offset(8)), R::Fragment),
        one(
            "ARP for an address that is not ours",
            builder::arp(
                (CLIENT_MAC, MacAddr::BROADCAST),
                ArpOperation::Request,
                (CLIENT_MAC, CLIENT),
                (MacAddr::ZERO, Ipv4Addr::new(10, 0, 0, 99)),
            ),
            R::ArpNotForUs,
        ),
        one(
            "ARP cut short",
            builder::arp(
                (CLIENT_MAC, MacAddr::BROADCAST),
                ArpOperation::Request,
                (CLIENT_MAC, CLIENT),
                (MacAddr::ZERO, VIP),
            )[..30]
                .to_vec(),
            R::ArpMalformed,
        ),
        one(
            "ARP for another protocol than IPv4",
            {
                let mut f = builder::arp(
                    (CLIENT_MAC, MacAddr::BROADCAST),
                    ArpOperation::Request,
                    (CLIENT_MAC, CLIENT),
                    (MacAddr::ZERO, VIP),
                );
                f[16..18].copy_from_slice(&0x86ddu16.to_be_bytes());
                f
            },
            R::ArpMalformed,
        ),
        one("a VLAN tag", vlan, R::Vlan),
        one("IPv6", ipv6, R::NotIpv4),
        one("a frame for another MAC address", other_mac, R::EthNotForUs),
        one("a runt frame", vec![0u8; 10], R::EthTruncated),
        one("ICMP timestamp request to the VIP", spec.icmp(13, 0, 0, &[0u8; 12]), R::Icmp),
        one(
            "ICMP echo to an address that is not ours",
            FrameSpec::new((CLIENT_MAC, LAN_MAC), CLIENT, Ipv4Addr::new(10, 0, 0, 200)).icmp_echo(8, 1, 1, b"ping"),
            R::Icmp,
        ),
        one(
            "ICMP echo with a wrong checksum",
            {
                let mut f = spec.icmp_echo(8, 1, 1, b"ping");
                f[36] ^= 0xff;
                f
            },
            R::IcmpMalformed,
        ),
        one("GRE", spec.ipv4(47, &[0u8; 8]), R::UnsupportedProtocol),
        one(
            "a loopback source",
            FrameSpec::new((CLIENT_MAC, LAN_MAC), Ipv4Addr::LOCALHOST, VIP).tcp(TcpSpec::new(1, 80, SYN), b""),
            R::Martian,
        ),
        one(
            "a multicast source",
            FrameSpec::new((CLIENT_MAC, LAN_MAC), Ipv4Addr::new(224, 0, 0, 1), VIP).tcp(TcpSpec::new(1, 80, SYN), b""),
            R::Martian,
        ),
        one(
            "source equal to destination (land)",
            FrameSpec::new((CLIENT_MAC, LAN_MAC), VIP, VIP).tcp(TcpSpec::new(80, 80, SYN), b""),
            R::Land,
        ),
        one("source port zero", spec.tcp(TcpSpec::new(0, 80, SYN), b""), R::ZeroPort),
        Scenario {
            name: "a reply to a local port that no connection holds",
            steps: vec![drop_step(
                0,
                DMZ,
                a.reply(64).tcp(TcpSpec::new(8080, 2000, flags(&[SYN, ACK])), b""),
                R::NoConn,
            )],
        },
    ]
}

/// ARP and ICMP echo for the gateway's own addresses.
fn own_addresses() -> Vec<Scenario> {
    let ask = |from: (MacAddr, Ipv4Addr), port: PortIdx, our_mac: MacAddr, ip: Ipv4Addr| {
        let req = builder::arp((from.0, MacAddr::BROADCAST), ArpOperation::Request, from, (MacAddr::ZERO, ip));
        let rep = builder::arp((our_mac, from.0), ArpOperation::Reply, (our_mac, ip), from);
        fwd(0, port, req, port, rep)
    };
    let ping = |from: (MacAddr, Ipv4Addr), port: PortIdx, our_mac: MacAddr, ip: Ipv4Addr| {
        let req = FrameSpec::new((from.0, our_mac), from.1, ip).with_ttl(61).icmp_echo(8, 0x1234, 7, b"are you there?");
        let rep = FrameSpec::new((our_mac, from.0), ip, from.1).with_ttl(64).icmp_echo(0, 0x1234, 7, b"are you there?");
        fwd(0, port, req, port, rep)
    };
    let client = (CLIENT_MAC, CLIENT);
    let rs = (RS_MAC[1], RS[1]);
    vec![
        Scenario { name: "ARP for the VIP is answered", steps: vec![ask(client, LAN, LAN_MAC, VIP)] },
        Scenario { name: "ARP for the port address is answered", steps: vec![ask(client, LAN, LAN_MAC, LAN_ADDR)] },
        Scenario {
            name: "ARP for the local address is answered on the server side",
            steps: vec![ask(rs, DMZ, DMZ_MAC, LIP)],
        },
        Scenario { name: "ICMP echo to the VIP is answered", steps: vec![ping(client, LAN, LAN_MAC, VIP)] },
        Scenario {
            name: "ICMP echo to the port address is answered",
            steps: vec![ping(client, LAN, LAN_MAC, LAN_ADDR)],
        },
        Scenario {
            name: "ICMP echo from a real server to the local address is answered",
            steps: vec![ping(rs, DMZ, DMZ_MAC, LIP)],
        },
        Scenario {
            name: "a client that asked for the VIP is learned and answered without asking back",
            steps: vec![
                ask((UNKNOWN_MAC, UNKNOWN_CLIENT), LAN, LAN_MAC, VIP),
                fwd(
                    1,
                    LAN,
                    FrameSpec::new((UNKNOWN_MAC, LAN_MAC), UNKNOWN_CLIENT, VIP).icmp_echo(8, 1, 1, b"x"),
                    LAN,
                    FrameSpec::new((LAN_MAC, UNKNOWN_MAC), VIP, UNKNOWN_CLIENT).icmp_echo(0, 1, 1, b"x"),
                ),
            ],
        },
    ]
}

/// One worker with the control lcore's neighbour duty beside it, as fnatd runs them: what the
/// fixture runs and the DPDK tests drive.
#[derive(Debug)]
pub struct Harness<B> {
    /// The worker's poll loop.
    pub poller: Poller<B>,
    control: Vec<ControlLinks>,
    neigh: NeighManager,
}

impl<B: PacketBuf> Harness<B> {
    /// Worker `index` of `count` on the demo configuration, with its redirect links.
    pub fn new(snap: &Arc<Snapshot>, index: u16, count: u16, redirect: RedirectLinks<B>) -> Self {
        let cfg = config(Path::new("/nonexistent"));
        let (control, links) = shared::links(16, 256);
        let poller = Poller::with_control(worker(snap, index, count), redirect, snap.ifaces.len(), links);
        Self { poller, control: vec![control], neigh: NeighManager::new(&cfg.neighbours, NeighTimers::default()) }
    }

    /// Hands the worker a new configuration, as the control lcore does after an fnatctl change.
    pub fn publish(&mut self, snap: Arc<Snapshot>) {
        for c in &mut self.control {
            c.updates.push(shared::Update::Snapshot(Arc::clone(&snap))).expect("the update ring has room");
        }
    }

    /// The gateway at `now`: a poll, the control lcore's turn, and another poll that applies what
    /// the control lcore published.
    pub fn run<I: PacketIo<Buf = B>>(&mut self, io: &mut I, now: u64) {
        self.poller.poll(io, now);
        shared::serve_neighbours(&mut self.neigh, &mut self.control, now);
        self.poller.poll(io, now);
    }
}
