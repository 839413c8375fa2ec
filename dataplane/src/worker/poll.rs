//! The poll loop: apply updates, receive a burst, decide per packet, batch transmissions, hold
//! packets for unresolved next hops, pass misdirected replies to their owners, send the frames the
//! worker originates, and expire connections a bounded number at a time (and serve a connection
//! listing a bounded stretch at a time: `shared`). A datagram the worker reassembled is taken into
//! a buffer of its size and handled again; a frame longer than its port's MTU leaves in fragments
//! (`packet::frag`), each in a buffer of its own.
//!
//! Written against two small traits so that the same loop runs over DPDK mbufs in fnatd and over
//! plain byte frames in tests. Every buffer vector is allocated once in [`Poller::new`] and reused:
//! the loop does not allocate (buffers for ARP frames come from the packet I/O's pool). Redirect
//! rings are single-producer single-consumer (one per ordered pair of workers), so handing a packet
//! to its owner is a plain store with release ordering, not a read-modify-write.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use rtrb::{Consumer, Producer, RingBuffer};

use super::shared::{Listing, Update, WorkerLinks};
use super::{DropReason, Verdict, Worker};
use crate::net::{PortIdx, arp};
use crate::packet::ethernet;
use crate::packet::frag::{self, FragError};

/// Packets handled per receive burst.
pub const BURST: usize = 32;
/// Connection entries examined for expiry per poll.
pub const EXPIRE_BUDGET: usize = 64;
/// Packets that may wait for ARP on one worker.
pub const HOLD_MAX: usize = 256;
/// How long a packet waits for ARP before it is dropped.
pub const HOLD_MS: u64 = 3000;

/// A packet buffer: one contiguous frame.
pub trait PacketBuf: Send {
    /// The frame.
    fn data(&self) -> &[u8];
    /// The frame, writable.
    fn data_mut(&mut self) -> &mut [u8];
    /// Grows the frame by `n` bytes at its front (their content is unspecified); false when there is
    /// no room.
    fn prepend(&mut self, n: usize) -> bool;
    /// Shortens the frame to `len` bytes (no-op when it is not longer).
    fn truncate(&mut self, len: usize);
}

impl PacketBuf for Vec<u8> {
    fn data(&self) -> &[u8] {
        self
    }

    fn data_mut(&mut self) -> &mut [u8] {
        self
    }

    fn prepend(&mut self, n: usize) -> bool {
        self.splice(0..0, std::iter::repeat_n(0, n));
        true
    }

    fn truncate(&mut self, len: usize) {
        Vec::truncate(self, len);
    }
}

/// This worker's queues on every port.
pub trait PacketIo {
    /// The buffer type.
    type Buf: PacketBuf;

    /// The number of ports.
    fn ports(&self) -> usize;

    /// Appends up to `max` received frames of `port` to `out`.
    fn rx_burst(&mut self, port: PortIdx, out: &mut Vec<Self::Buf>, max: usize);

    /// Transmits frames of `pkts` on `port` from the front; removes those sent and leaves the rest, in
    /// order. Returns the number sent.
    fn tx_burst(&mut self, port: PortIdx, pkts: &mut Vec<Self::Buf>) -> usize;

    /// A new buffer holding `len` bytes (zeroed or not), for a frame the worker originates.
    fn alloc(&mut self, len: usize) -> Option<Self::Buf>;

    /// Appends up to `max` frames that the kernel twin of `port` sent (the gateway's own traffic,
    /// to leave by `port`); none when the port has no twin.
    fn kernel_rx(&mut self, _port: PortIdx, _out: &mut Vec<Self::Buf>, _max: usize) {}

    /// Hands frames of `pkts` to the kernel twin of `port`, as [`PacketIo::tx_burst`] sends them;
    /// none is taken when the port has no twin.
    fn kernel_tx(&mut self, _port: PortIdx, _pkts: &mut Vec<Self::Buf>) -> usize {
        0
    }
}

/// A redirected frame and the port it arrived on.
pub type Redirected<B> = (B, PortIdx);

/// One worker's ends of the redirect rings.
#[derive(Debug)]
pub struct RedirectLinks<B> {
    /// To worker `i` (`None` for itself).
    pub to: Vec<Option<Producer<Redirected<B>>>>,
    /// From every other worker.
    pub from: Vec<Consumer<Redirected<B>>>,
}

/// The rings among `workers` workers, each holding up to `capacity` frames: element `i` of the result
/// belongs to worker `i`.
pub fn redirect_mesh<B>(workers: usize, capacity: usize) -> Vec<RedirectLinks<B>> {
    let mut links: Vec<RedirectLinks<B>> =
        (0..workers).map(|_| RedirectLinks { to: (0..workers).map(|_| None).collect(), from: Vec::new() }).collect();
    for from in 0..workers {
        for to in (0..workers).filter(|&t| t != from) {
            let (p, c) = RingBuffer::new(capacity);
            links[from].to[to] = Some(p);
            links[to].from.push(c);
        }
    }
    links
}

/// Where a batch of frames goes: a port's TX queue, or its kernel twin.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Lane {
    Wire,
    Kernel,
}

impl Lane {
    /// Why a frame for a port that has no such queue is dropped.
    fn no_queue(self) -> DropReason {
        match self {
            Lane::Wire => DropReason::NoRoute,
            Lane::Kernel => DropReason::KernelFull,
        }
    }

    /// Why a frame the queue did not take is dropped.
    fn full(self) -> DropReason {
        match self {
            Lane::Wire => DropReason::TxFull,
            Lane::Kernel => DropReason::KernelFull,
        }
    }
}

/// A frame waiting for its next hop's MAC address.
#[derive(Debug)]
struct Held<B> {
    buf: B,
    port: PortIdx,
    next_hop: Ipv4Addr,
    since: u64,
}

/// A worker with its burst buffers, rings and hold queue: one per core.
#[derive(Debug)]
pub struct Poller<B> {
    /// The worker's forwarding state.
    pub worker: Worker,
    links: RedirectLinks<B>,
    control: Option<WorkerLinks>,
    served: u64,
    /// The connection listing being served, a bounded stretch per poll.
    listing: Option<Listing>,
    rx: Vec<B>,
    tx: Vec<Vec<B>>,
    /// Frames for each port's kernel twin.
    kernel: Vec<Vec<B>>,
    held: VecDeque<Held<B>>,
    /// The longest frame each port sends whole (its MTU and the Ethernet header), from the
    /// worker's snapshot.
    frame_max: Vec<usize>,
}

impl<B: PacketBuf> Poller<B> {
    /// A poller for `worker` over `ports` ports, without a control lcore (tests, tools).
    pub fn new(worker: Worker, links: RedirectLinks<B>, ports: usize) -> Self {
        Self {
            worker,
            links,
            control: None,
            served: 0,
            listing: None,
            rx: Vec::with_capacity(BURST),
            tx: (0..ports).map(|_| Vec::with_capacity(BURST)).collect(),
            kernel: (0..ports).map(|_| Vec::with_capacity(BURST)).collect(),
            held: VecDeque::with_capacity(HOLD_MAX),
            frame_max: Vec::with_capacity(ports),
        }
        .with_frame_max()
    }

    /// Reads the ports' MTUs from the worker's snapshot (a port it does not describe sends frames
    /// of any length).
    fn with_frame_max(mut self) -> Self {
        self.refresh_frame_max();
        self
    }

    fn refresh_frame_max(&mut self) {
        let ifaces = &self.worker.snapshot().ifaces;
        let ports = self.tx.len();
        self.frame_max.clear();
        self.frame_max.extend(
            (0..ports).map(|p| ifaces.get(p).map_or(usize::MAX, |i| ethernet::HEADER_LEN + usize::from(i.mtu))),
        );
    }

    /// The same, linked with the control lcore.
    pub fn with_control(worker: Worker, links: RedirectLinks<B>, ports: usize, control: WorkerLinks) -> Self {
        Self { control: Some(control), ..Self::new(worker, links, ports) }
    }

    /// One round: updates, frames the worker originates, frames from the kernel twins, frames from
    /// other workers, one burst from each port, held frames; flushes transmissions and expires
    /// connections. Returns the number of frames received.
    pub fn poll<I: PacketIo<Buf = B>>(&mut self, io: &mut I, now: u64) -> usize {
        self.apply_updates(io, now);
        // What the worker decided to send on its own account in the previous round (ARP requests
        // for held packets, announcements) leaves first, then the kernel's: the gateway's own
        // traffic never waits behind a backlog of forwarded frames.
        self.send_outgoing(io);
        self.send_from_kernel(io);
        let mut handled = 0;
        for c in 0..self.links.from.len() {
            for _ in 0..BURST {
                let Ok((buf, port)) = self.links.from[c].pop() else {
                    break;
                };
                self.worker.stats.redirected_in += 1;
                self.dispatch(io, buf, port, now, true);
                handled += 1;
            }
        }
        for port in 0..io.ports() {
            let Ok(port) = PortIdx::try_from(port) else {
                break;
            };
            io.rx_burst(port, &mut self.rx, BURST);
            self.worker.stats.rx += self.rx.len() as u64;
            handled += self.rx.len();
            // Taking the vector out keeps it (and its capacity) while `dispatch` borrows `self`.
            let mut rx = std::mem::take(&mut self.rx);
            self.worker.prefetch(&rx);
            for buf in rx.drain(..) {
                self.dispatch(io, buf, port, now, false);
            }
            self.rx = rx;
        }
        self.expire_held(now);
        for port in 0..self.tx.len() {
            self.flush(io, port, Lane::Wire);
            self.flush(io, port, Lane::Kernel);
        }
        self.worker.expire(now, crate::worker::poll::EXPIRE_BUDGET);
        self.exchange_with_control(now);
        handled
    }

    fn apply_updates<I: PacketIo<Buf = B>>(&mut self, io: &mut I, now: u64) {
        let Some(ctl) = self.control.as_mut() else {
            return;
        };
        let mut neigh_changed = false;
        let mut snapshot_changed = false;
        while let Ok(u) = ctl.updates.pop() {
            match u {
                Update::Snapshot(s, n) => {
                    self.worker.set_snapshot(s);
                    ctl.shared.set_running(n);
                    snapshot_changed = true;
                }
                Update::Neigh(n) => {
                    self.worker.set_neigh(n);
                    neigh_changed = true;
                }
                Update::Announce(addrs) => self.worker.announce(&addrs),
                Update::Sync(records) => {
                    for r in &records {
                        self.worker.install_synced(r, now);
                    }
                }
                Update::Resync => self.worker.start_resync(),
            }
        }
        if snapshot_changed {
            self.refresh_frame_max();
        }
        if neigh_changed {
            self.release_held(io, now);
        }
    }

    /// Sends held frames whose next hop is now known.
    fn release_held<I: PacketIo<Buf = B>>(&mut self, io: &mut I, _now: u64) {
        for _ in 0..self.held.len() {
            let Some(mut h) = self.held.pop_front() else {
                break;
            };
            if self.worker.fill_l2(h.buf.data_mut(), h.port, h.next_hop) {
                self.worker.stats.released += 1;
                self.queue_tx(io, h.buf, h.port);
            } else {
                self.held.push_back(h);
            }
        }
    }

    fn expire_held(&mut self, now: u64) {
        while self.held.front().is_some_and(|h| now.saturating_sub(h.since) >= HOLD_MS) {
            self.held.pop_front();
            self.worker.stats.count_drop(DropReason::NeighTimeout);
        }
    }

    fn send_outgoing<I: PacketIo<Buf = B>>(&mut self, io: &mut I) {
        if !self.worker.has_outgoing() {
            return;
        }
        let mut out = [None; 2 * BURST];
        let mut n = 0;
        self.worker.drain_outgoing(|o| {
            if let Some(slot) = out.get_mut(n) {
                *slot = Some(o);
                n += 1;
            }
        });
        for o in out.iter().take(n).flatten() {
            let Some(mut buf) = io.alloc(arp::FRAME_LEN) else {
                break;
            };
            let port = match *o {
                super::Outgoing::Solicit { port, .. } | super::Outgoing::Announce { port, .. } => port,
            };
            if self.worker.write_outgoing(*o, buf.data_mut()).is_some() {
                self.queue_tx(io, buf, port);
            }
        }
    }

    /// Sends what the kernel twins sent, a burst per port at most.
    fn send_from_kernel<I: PacketIo<Buf = B>>(&mut self, io: &mut I) {
        for port in 0..self.kernel.len() {
            let Ok(p) = PortIdx::try_from(port) else {
                break;
            };
            io.kernel_rx(p, &mut self.rx, BURST);
            if self.rx.is_empty() {
                continue;
            }
            let mut rx = std::mem::take(&mut self.rx);
            for mut buf in rx.drain(..) {
                match self.worker.from_kernel(buf.data_mut(), p) {
                    Ok(()) => self.queue_tx(io, buf, p),
                    Err(reason) => self.worker.stats.count_drop(reason),
                }
            }
            self.rx = rx;
        }
    }

    fn exchange_with_control(&mut self, now: u64) {
        let Some(ctl) = self.control.as_mut() else {
            return;
        };
        let learned = &mut ctl.learned;
        self.worker.drain_learned(|l| {
            // A full ring loses a confirmation that the next ARP message repeats.
            let _ = learned.push(l);
        });
        let unanswered = &mut ctl.unanswered;
        self.worker.drain_unanswered(|d| {
            // A full ring loses evidence that the client's next SYN brings again.
            let _ = unanswered.push(d);
        });
        self.worker.resync_step(now);
        let sync = &mut ctl.sync;
        let mut lost = 0;
        self.worker.drain_sync(|r| {
            // A full ring loses a record; the connection's next change or refresh sends it again.
            if sync.push(r).is_err() {
                lost += 1;
            }
        });
        self.worker.stats.sync_lost += lost;
        let w = &self.worker;
        if let Some(ticket) = ctl.shared.pending_request(self.served)
            && self.listing.is_none_or(|l| l.ticket() != ticket)
        {
            let query = ctl.shared.take_query();
            let fill = |p: &mut super::shared::Published| {
                p.stats.clone_from(&w.stats);
                p.conns = w.conns().len();
                p.dests.clear();
                p.dests.extend(w.dest_conns());
                p.traffic.clear();
                p.traffic.extend(w.traffic());
            };
            match query {
                Some(q) => {
                    ctl.shared.publish_counters(fill);
                    self.listing = Some(ctl.shared.start_listing(ticket, q));
                }
                None => {
                    ctl.shared.publish(ticket, fill);
                    self.listing = None;
                    self.served = ticket;
                }
            }
        }
        if let Some(l) = self.listing.as_mut() {
            let q = l.query();
            // A fwmark service's connections are those its classifier marks.
            let marks = w.snapshot().services.marks();
            let matches = |c: &crate::lb::Conn| {
                q.svc.is_none_or(|k| match k.fwmark {
                    0 => c.proto == k.protocol && c.vip == k.vip && c.vport == k.vport,
                    m => marks.classify(c.proto, c.vip, c.vport) == Some(m),
                })
            };
            if ctl.shared.list_step(l, w.conns(), matches) {
                self.served = l.ticket();
                self.listing = None;
            }
        }
    }

    fn dispatch<I: PacketIo<Buf = B>>(&mut self, io: &mut I, mut buf: B, rx_port: PortIdx, now: u64, redirected: bool) {
        match self.worker.handle(&mut buf, rx_port, now) {
            Verdict::Tx(port) => self.queue_tx(io, buf, port),
            Verdict::Hold { port, next_hop } => {
                if self.held.len() < HOLD_MAX {
                    self.worker.stats.held += 1;
                    self.held.push_back(Held { buf, port, next_hop, since: now });
                } else {
                    self.worker.stats.count_drop(DropReason::HoldFull);
                }
            }
            Verdict::Redirect(_) if redirected => self.worker.stats.count_drop(DropReason::RedirectLoop),
            Verdict::Redirect(owner) => self.redirect(buf, rx_port, owner),
            Verdict::Reassembled(len) => match io.alloc(usize::try_from(len).unwrap_or(usize::MAX)) {
                Some(mut whole) => {
                    let n = self.worker.take_reassembled(whole.data_mut());
                    whole.truncate(n);
                    // Not a fragment: handled once more at most, here or where its flow's
                    // unfragmented packets go.
                    match self.worker.flow_owner(whole.data()) {
                        Some(owner) if !redirected => self.redirect(whole, rx_port, owner),
                        _ => self.dispatch(io, whole, rx_port, now, redirected),
                    }
                }
                None => {
                    self.worker.discard_reassembled();
                    self.worker.stats.count_drop(DropReason::NoBuffer);
                }
            },
            Verdict::ToKernel => self.push(io, buf, rx_port, Lane::Kernel),
            Verdict::Consumed => {}
            Verdict::Drop(reason) => self.worker.stats.count_drop(reason),
        }
    }

    /// Passes `buf`, received on `rx_port`, to worker `owner` through their ring.
    fn redirect(&mut self, buf: B, rx_port: PortIdx, owner: u16) {
        let pushed = match self.links.to.get_mut(usize::from(owner)).and_then(Option::as_mut) {
            Some(ring) => ring.push((buf, rx_port)).is_ok(),
            None => false,
        };
        if pushed {
            self.worker.stats.redirected_out += 1;
        } else {
            self.worker.stats.count_drop(DropReason::RedirectFull);
        }
    }

    /// Queues `buf` for `port`, in fragments when it is longer than the port's MTU.
    fn queue_tx<I: PacketIo<Buf = B>>(&mut self, io: &mut I, buf: B, port: PortIdx) {
        if self.frame_max.get(usize::from(port)).is_some_and(|&max| buf.data().len() > max) {
            self.fragment(io, buf, port);
        } else {
            self.push(io, buf, port, Lane::Wire);
        }
    }

    /// Cuts the frame in `buf` into fragments that fit `port` and queues them (a frame with Don't
    /// Fragment set is dropped: the worker answered those it could with "fragmentation needed"; one
    /// whose packet fits but for the bytes after it goes whole, without them).
    fn fragment<I: PacketIo<Buf = B>>(&mut self, io: &mut I, mut buf: B, port: PortIdx) {
        let max = self.frame_max.get(usize::from(port)).copied().unwrap_or(usize::MAX);
        let mtu = u16::try_from(max.saturating_sub(ethernet::HEADER_LEN)).unwrap_or(u16::MAX);
        let pieces = match frag::pieces(buf.data(), mtu) {
            Ok(p) => p,
            Err(FragError::Fits) => {
                buf.truncate(max);
                return self.push(io, buf, port, Lane::Wire);
            }
            Err(FragError::DontFragment) => return self.worker.stats.count_drop(DropReason::NeedsFragmentation),
            Err(_) => return self.worker.stats.count_drop(DropReason::IpMalformed),
        };
        self.worker.stats.fragmented += 1;
        for piece in pieces {
            let Some(mut out) = io.alloc(piece.frame_len) else {
                return self.worker.stats.count_drop(DropReason::NoBuffer);
            };
            let n = frag::write_piece(buf.data(), &piece, out.data_mut());
            out.truncate(n);
            self.worker.stats.frags_out += 1;
            self.push(io, out, port, Lane::Wire);
        }
    }

    /// Queues `buf` for `port`'s TX queue or its kernel twin; a full batch is sent at once.
    #[inline]
    fn push<I: PacketIo<Buf = B>>(&mut self, io: &mut I, buf: B, port: PortIdx, lane: Lane) {
        let p = usize::from(port);
        let batches = match lane {
            Lane::Wire => &mut self.tx,
            Lane::Kernel => &mut self.kernel,
        };
        let Some(q) = batches.get_mut(p) else {
            return self.worker.stats.count_drop(lane.no_queue());
        };
        q.push(buf);
        if q.len() >= BURST {
            self.flush(io, p, lane);
        }
    }

    /// Sends the batch of `port`'s lane; what its queue did not take is dropped, counted.
    fn flush<I: PacketIo<Buf = B>>(&mut self, io: &mut I, port: usize, lane: Lane) {
        let Self { tx, kernel, worker, .. } = self;
        let batches = match lane {
            Lane::Wire => tx,
            Lane::Kernel => kernel,
        };
        let (Some(q), Ok(p)) = (batches.get_mut(port), PortIdx::try_from(port)) else {
            return;
        };
        if q.is_empty() {
            return;
        }
        let sent = match lane {
            Lane::Wire => io.tx_burst(p, q),
            Lane::Kernel => io.kernel_tx(p, q),
        } as u64;
        match lane {
            Lane::Wire => worker.stats.tx += sent,
            Lane::Kernel => worker.stats.to_kernel += sent,
        }
        for _ in q.drain(..) {
            worker.stats.count_drop(lane.full());
        }
    }

    /// Frames waiting in this worker's inbound redirect rings.
    pub fn pending_redirects(&self) -> usize {
        self.links.from.iter().map(Consumer::slots).sum()
    }

    /// Frames waiting for ARP.
    pub fn held(&self) -> usize {
        self.held.len()
    }

    /// Whether the control side asked this worker to stop.
    #[inline]
    pub fn stop_requested(&self) -> bool {
        self.control.as_ref().is_some_and(|c| c.shared.stop.load(std::sync::atomic::Ordering::Relaxed))
    }
}
