//! The poll loop: receive a burst, decide per packet, batch transmissions, pass misdirected replies
//! to their owners, and expire connections a bounded number at a time.
//!
//! Written against two small traits so that the same loop runs over DPDK mbufs in fnatd and over
//! plain byte frames in tests. Every buffer vector is allocated once in [`Poller::new`] and reused:
//! the loop does not allocate. Redirect rings are single-producer single-consumer (one per ordered
//! pair of workers), so handing a packet to its owner is a plain store with release ordering, not a
//! read-modify-write.

use rtrb::{Consumer, Producer, RingBuffer};

use super::{DropReason, Verdict, Worker};
use crate::net::PortIdx;

/// Packets handled per receive burst.
pub const BURST: usize = 32;
/// Connection entries examined for expiry per poll.
pub const EXPIRE_BUDGET: usize = 64;

/// A packet buffer: one contiguous frame.
pub trait PacketBuf: Send {
    /// The frame.
    fn data(&self) -> &[u8];
    /// The frame, writable.
    fn data_mut(&mut self) -> &mut [u8];
}

impl PacketBuf for Vec<u8> {
    fn data(&self) -> &[u8] {
        self
    }

    fn data_mut(&mut self) -> &mut [u8] {
        self
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
    let mut links: Vec<RedirectLinks<B>> = (0..workers)
        .map(|_| RedirectLinks {
            to: (0..workers).map(|_| None).collect(),
            from: Vec::new(),
        })
        .collect();
    for from in 0..workers {
        for to in (0..workers).filter(|&t| t != from) {
            let (p, c) = RingBuffer::new(capacity);
            links[from].to[to] = Some(p);
            links[to].from.push(c);
        }
    }
    links
}

/// A worker with its burst buffers and redirect rings: one per core.
#[derive(Debug)]
pub struct Poller<B> {
    /// The worker's forwarding state.
    pub worker: Worker,
    links: RedirectLinks<B>,
    rx: Vec<B>,
    tx: Vec<Vec<B>>,
}

impl<B: PacketBuf> Poller<B> {
    /// A poller for `worker` over `ports` ports.
    pub fn new(worker: Worker, links: RedirectLinks<B>, ports: usize) -> Self {
        Self {
            worker,
            links,
            rx: Vec::with_capacity(BURST),
            tx: (0..ports).map(|_| Vec::with_capacity(BURST)).collect(),
        }
    }

    /// One round: frames from other workers, then one burst from each port; flushes transmissions and
    /// expires connections. Returns the number of frames handled.
    pub fn poll<I: PacketIo<Buf = B>>(&mut self, io: &mut I, now: u64) -> usize {
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
            for buf in rx.drain(..) {
                self.dispatch(io, buf, port, now, false);
            }
            self.rx = rx;
        }
        for port in 0..self.tx.len() {
            self.flush(io, port);
        }
        self.worker.expire(now, EXPIRE_BUDGET);
        handled
    }

    fn dispatch<I: PacketIo<Buf = B>>(
        &mut self,
        io: &mut I,
        mut buf: B,
        rx_port: PortIdx,
        now: u64,
        redirected: bool,
    ) {
        match self.worker.handle(buf.data_mut(), rx_port, now) {
            Verdict::Tx(port) => {
                let p = usize::from(port);
                match self.tx.get_mut(p) {
                    Some(q) => q.push(buf),
                    None => self.worker.stats.count_drop(DropReason::NoRoute),
                }
                if self.tx.get(p).is_some_and(|q| q.len() >= BURST) {
                    self.flush(io, p);
                }
            }
            Verdict::Redirect(_) if redirected => {
                self.worker.stats.count_drop(DropReason::RedirectLoop)
            }
            Verdict::Redirect(owner) => {
                let pushed = match self
                    .links
                    .to
                    .get_mut(usize::from(owner))
                    .and_then(Option::as_mut)
                {
                    Some(ring) => ring.push((buf, rx_port)).is_ok(),
                    None => false,
                };
                if pushed {
                    self.worker.stats.redirected_out += 1;
                } else {
                    self.worker.stats.count_drop(DropReason::RedirectFull);
                }
            }
            Verdict::Drop(reason) => self.worker.stats.count_drop(reason),
        }
    }

    fn flush<I: PacketIo<Buf = B>>(&mut self, io: &mut I, port: usize) {
        let (Some(q), Ok(p)) = (self.tx.get_mut(port), PortIdx::try_from(port)) else {
            return;
        };
        if q.is_empty() {
            return;
        }
        let sent = io.tx_burst(p, q);
        self.worker.stats.tx += sent as u64;
        for _ in q.drain(..) {
            self.worker.stats.count_drop(DropReason::TxFull);
        }
    }

    /// Frames waiting in this worker's inbound redirect rings.
    pub fn pending_redirects(&self) -> usize {
        self.links.from.iter().map(Consumer::slots).sum()
    }
}
