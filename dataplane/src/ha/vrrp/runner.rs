//! One VRRP instance at work: a thread with a raw IP socket (protocol 112) on its port's kernel
//! twin, driving the [`Instance`] state machine.
//!
//! The advertisements travel through the exception path: the kernel sends them out of the twin
//! (the worker passes the twin's frames first each poll, so forwarding load never delays them),
//! and the workers pass the link-local multicast and the unicast advertisements they receive to
//! the twin (within the bucket of the peers' and servers' frames, apart from a flood's). The
//! thread sleeps in `recv` until a packet comes or its next timer is due, so an advertisement
//! leaves on time whatever the main lcore is doing. What the state machine decides that concerns
//! the workers (hold the addresses or let them go, announce them) goes to the main lcore as
//! [`Event`]s; the main lcore tells the thread of a tracked link going down or up ([`Command`]).

use std::io::{self, Read as _};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use super::packet::{self, PROTOCOL};
use super::{Action, Instance, InstanceConfig, State};
use crate::net::PortIdx;
use crate::packet::Ipv4Packet;

/// A configured instance (`[[vrrp]]`), validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceSpec {
    /// Its name (keepalived's `vrrp_instance` name).
    pub name: String,
    /// The port it advertises on.
    pub port: PortIdx,
    /// That port's kernel twin, where its socket lives.
    pub iface: String,
    /// The state machine's configuration (VRID, priority, interval, preemption, addresses, and
    /// the port's first address as the source of the advertisements).
    pub instance: InstanceConfig,
    /// Peers advertised to by unicast instead of the multicast group (none: multicast).
    pub unicast_peers: Vec<Ipv4Addr>,
    /// Ports whose link going down puts the instance in Fault.
    pub track_ports: Vec<PortIdx>,
    /// Commands run on becoming Master, Backup, or Fault.
    pub notify: Notify,
    /// Gratuitous ARPs sent for each address on becoming Master (at least one).
    pub garp_repeat: u32,
    /// Milliseconds between two of them.
    pub garp_interval_ms: u64,
}

/// The commands run on a change of state (no shell; the state's line is appended as the last
/// argument).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notify {
    /// On becoming Master.
    pub master: Option<Vec<String>>,
    /// On becoming Backup.
    pub backup: Option<Vec<String>>,
    /// On entering Fault.
    pub fault: Option<Vec<String>>,
}

/// What the main lcore tells an instance's thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// A tracked link went down (`true`) or every tracked link is up again (`false`).
    Fault(bool),
    /// Stop: a Master sends an advertisement of priority 0 first, so a Backup takes over at once.
    Stop,
}

/// What an instance's thread tells the main lcore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// The instance's state changed (`Fault` is reported as [`Status::Fault`]).
    Status(Status),
    /// Announce the addresses (gratuitous ARP): the instance just became Master.
    Announce,
    /// An advertisement was sent.
    Sent,
    /// An advertisement for this VRID was received and accepted by the parser.
    Received {
        /// The sender.
        from: Ipv4Addr,
    },
    /// A received packet was refused, with the reason's label.
    Refused(&'static str),
    /// The socket failed; the instance keeps trying.
    Error(String),
}

/// An instance's state as shown: RFC 5798's three, and Fault (a tracked link is down: the
/// instance stopped, holding nothing, until the link is back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Not started.
    Init,
    /// Watching the master.
    Backup {
        /// The master, once one advertised.
        master: Option<Ipv4Addr>,
    },
    /// Holding the addresses.
    Master,
    /// A tracked link is down.
    Fault,
}

impl Status {
    /// The name keepalived and `fnatctl --vrrp` show.
    pub fn name(self) -> &'static str {
        match self {
            Status::Init => "INIT",
            Status::Backup { .. } => "BACKUP",
            Status::Master => "MASTER",
            Status::Fault => "FAULT",
        }
    }
}

/// The longest a thread sleeps without looking at its commands.
const COMMAND_POLL: Duration = Duration::from_millis(20);

/// An instance's thread.
#[derive(Debug)]
pub struct Runner {
    commands: mpsc::Sender<Command>,
    events: mpsc::Receiver<Event>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Runner {
    /// Opens the instance's socket on its twin and starts its thread (the instance starts at
    /// once: Backup, or Master when it owns the addresses).
    pub fn start(spec: &InstanceSpec) -> io::Result<Self> {
        let socket = open_socket(spec)?;
        let instance = Instance::new(spec.instance.clone()).map_err(io::Error::other)?;
        let (commands, command_rx) = mpsc::channel();
        let (event_tx, events) = mpsc::channel();
        let mut task = Task {
            instance,
            socket,
            peers: spec.unicast_peers.clone(),
            commands: command_rx,
            events: event_tx,
            clock: Instant::now(),
            fault: false,
            last: Status::Init,
        };
        let thread = std::thread::Builder::new().name(format!("vrrp-{}", spec.name)).spawn(move || task.run())?;
        Ok(Self { commands, events, thread: Some(thread) })
    }

    /// Tells the thread something (ignored if it ended).
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }

    /// The events since the last call.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        self.events.try_iter()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A raw socket for protocol 112 on the twin: advertisements leave with TTL 255, to the group or
/// the peers, and the group is joined on the twin so the kernel delivers what the workers pass.
fn open_socket(spec: &InstanceSpec) -> io::Result<Socket> {
    let ctx = |what: &str, e: io::Error| io::Error::new(e.kind(), format!("vrrp {}: {what}: {e}", spec.name));
    let s = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(i32::from(PROTOCOL))))
        .map_err(|e| ctx("opening a raw socket (needs CAP_NET_RAW)", e))?;
    s.bind_device(Some(spec.iface.as_bytes())).map_err(|e| ctx(&format!("binding to {}", spec.iface), e))?;
    s.set_ttl(u32::from(packet::TTL)).map_err(|e| ctx("setting the TTL", e))?;
    s.set_multicast_ttl_v4(u32::from(packet::TTL)).map_err(|e| ctx("setting the multicast TTL", e))?;
    s.set_multicast_loop_v4(false).map_err(|e| ctx("turning multicast loop off", e))?;
    let local = spec.instance.local_addr;
    s.set_multicast_if_v4(&local).map_err(|e| ctx("choosing the multicast interface", e))?;
    s.join_multicast_v4(&packet::MULTICAST_GROUP, &local)
        .map_err(|e| ctx(&format!("joining {} on {}", packet::MULTICAST_GROUP, spec.iface), e))?;
    Ok(s)
}

/// The thread's state.
struct Task {
    instance: Instance,
    socket: Socket,
    peers: Vec<Ipv4Addr>,
    commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<Event>,
    clock: Instant,
    fault: bool,
    last: Status,
}

impl Task {
    fn now(&self) -> u64 {
        u64::try_from(self.clock.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn run(&mut self) {
        let actions = self.instance.start(self.now());
        self.carry_out(&actions);
        let mut buf = [0u8; 2048];
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Stop) | Err(mpsc::TryRecvError::Disconnected) => {
                        let actions = self.instance.shutdown(self.now());
                        self.carry_out(&actions);
                        return;
                    }
                    Ok(Command::Fault(f)) => self.set_fault(f),
                    Err(mpsc::TryRecvError::Empty) => break,
                }
            }
            let now = self.now();
            let wait = self
                .instance
                .next_deadline()
                .map_or(COMMAND_POLL, |d| Duration::from_millis(d.saturating_sub(now)).min(COMMAND_POLL));
            if wait.is_zero() {
                let actions = self.instance.on_timer(now);
                self.carry_out(&actions);
                continue;
            }
            let _ = self.socket.set_read_timeout(Some(wait));
            match (&self.socket).read(&mut buf) {
                Ok(n) => self.received(&buf[..n]),
                Err(e) if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = self.events.send(Event::Error(e.to_string()));
                    std::thread::sleep(COMMAND_POLL);
                }
            }
            let actions = self.instance.on_timer(self.now());
            self.carry_out(&actions);
        }
    }

    /// Enters or leaves Fault: the instance stops (a Master says so with priority 0) and holds
    /// nothing until every tracked link is up again, then starts afresh.
    fn set_fault(&mut self, fault: bool) {
        if fault == self.fault {
            return;
        }
        self.fault = fault;
        let now = self.now();
        let actions = if fault { self.instance.shutdown(now) } else { self.instance.start(now) };
        self.carry_out(&actions);
        self.report();
    }

    /// A packet from the socket: the IPv4 header the kernel checked, then the advertisement.
    fn received(&mut self, bytes: &[u8]) {
        let Ok(ip) = Ipv4Packet::new_checked(bytes) else {
            return self.refuse("ip_malformed");
        };
        let (src, dst) = (ip.src_addr(), ip.dst_addr());
        if src == self.instance.config().local_addr {
            return;
        }
        if ip.ttl() != packet::TTL {
            return self.refuse("ttl");
        }
        let adv = match packet::parse(ip.payload(), src, dst) {
            Ok(a) => a,
            Err(e) => return self.refuse(e.label()),
        };
        if adv.vrid != self.instance.config().vrid {
            return;
        }
        let _ = self.events.send(Event::Received { from: src });
        let actions = self.instance.on_advert(&adv, src, self.now());
        self.carry_out(&actions);
        self.report();
    }

    fn refuse(&self, why: &'static str) {
        let _ = self.events.send(Event::Refused(why));
    }

    /// Carries out the state machine's decisions, then reports the state if it changed.
    fn carry_out(&mut self, actions: &[Action]) {
        for a in actions {
            match *a {
                Action::SendAdvert { priority } => self.advertise(priority),
                Action::GratuitousArp => {
                    let _ = self.events.send(Event::Announce);
                }
                Action::BecameMaster | Action::BecameBackup => {}
            }
        }
        self.report();
    }

    fn status(&self) -> Status {
        if self.fault {
            return Status::Fault;
        }
        match self.instance.state() {
            State::Initialize => Status::Init,
            State::Backup => Status::Backup { master: self.instance.master_addr() },
            State::Master => Status::Master,
        }
    }

    fn report(&mut self) {
        let s = self.status();
        if s != self.last {
            self.last = s;
            let _ = self.events.send(Event::Status(s));
        }
    }

    /// Sends an advertisement with `priority` to the group, or to each unicast peer.
    fn advertise(&mut self, priority: u8) {
        let adv = self.instance.advert(priority);
        let local = self.instance.config().local_addr;
        let mut buf = [0u8; 1100];
        let group = [packet::MULTICAST_GROUP];
        let dsts: &[Ipv4Addr] = if self.peers.is_empty() { &group } else { &self.peers };
        for &dst in dsts {
            let Some(n) = packet::write(&adv, local, dst, &mut buf) else { continue };
            let to = SockAddr::from(SocketAddr::V4(SocketAddrV4::new(dst, 0)));
            match self.socket.send_to(&buf[..n], &to) {
                Ok(_) => {
                    let _ = self.events.send(Event::Sent);
                }
                Err(e) => {
                    let _ = self.events.send(Event::Error(format!("sending to {dst}: {e}")));
                }
            }
        }
    }
}
