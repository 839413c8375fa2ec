//! Packet I/O over a worker's DPDK queues (its ports' and their kernel twins'): the production
//! [`PacketIo`], and the gate that keeps workers off ports whose link is down.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::dpdk::{Mbuf, Mempool, Port, RxQueue, TxQueue};
use crate::net::PortIdx;
use crate::worker::poll::{PacketBuf, PacketIo};

impl PacketBuf for Mbuf {
    #[inline]
    fn data(&self) -> &[u8] {
        Mbuf::data(self)
    }

    #[inline]
    fn data_mut(&mut self) -> &mut [u8] {
        Mbuf::data_mut(self)
    }

    #[inline]
    fn prepend(&mut self, n: usize) -> bool {
        Mbuf::prepend(self, n).is_some()
    }

    #[inline]
    fn truncate(&mut self, len: usize) {
        let cur = self.len();
        if cur > len {
            self.trim(cur - len);
        }
    }
}

/// Which ports have their link up, as the main lcore last saw it: workers poll and send only on
/// those. Besides sparing the polls of a dead link, this keeps workers out of a PMD's queues
/// while its link is being set up: DPDK 22.11's memif maps its rings from its interrupt thread
/// while lcores may already poll, and a worker that polls in the middle crashes (seen with two
/// queue pairs on a busy machine); the link reads up only once the rings are in place.
#[derive(Debug)]
pub struct LinkGate {
    up: Arc<[AtomicBool]>,
    last: Instant,
}

impl LinkGate {
    /// How often the main lcore reads the links.
    const PERIOD: Duration = Duration::from_millis(10);

    /// The gate of `ports`, read once now.
    pub fn new(ports: &[Port]) -> Self {
        let up = ports.iter().map(|p| AtomicBool::new(p.link().is_ok_and(|l| l.up))).collect();
        Self { up, last: Instant::now() }
    }

    /// Whether `port`'s link was up at the last refresh.
    pub fn is_up(&self, port: crate::net::PortIdx) -> bool {
        self.up.get(usize::from(port)).is_some_and(|u| u.load(std::sync::atomic::Ordering::Relaxed))
    }

    /// The flags the workers read.
    pub fn flags(&self) -> Arc<[AtomicBool]> {
        Arc::clone(&self.up)
    }

    /// Reads the links again when it is time (every 10 ms).
    pub fn refresh<'a>(&mut self, ports: impl Iterator<Item = &'a Port>) {
        if self.last.elapsed() < Self::PERIOD {
            return;
        }
        self.last = Instant::now();
        for (flag, port) in self.up.iter().zip(ports) {
            flag.store(port.link().is_ok_and(|l| l.up), Ordering::Release);
        }
    }
}

/// One worker's queues: queue `i` of every port for worker `i`, the pool for frames it
/// originates (fragments among them), and optionally a pool of large buffers for the datagrams it
/// reassembles.
#[derive(Debug)]
pub struct DpdkIo {
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    pool: Mempool,
    large: Option<Mempool>,
    up: Arc<[AtomicBool]>,
    /// Its queues on each port's kernel twin (`None`: the port has none).
    twins: Vec<Option<(RxQueue, TxQueue)>>,
}

impl DpdkIo {
    /// A worker's queues: `rx[p]` and `tx[p]` are its queues on port `p`, used while `up[p]`.
    pub fn new(rx: Vec<RxQueue>, tx: Vec<TxQueue>, pool: Mempool, up: Arc<[AtomicBool]>) -> Self {
        Self { rx, tx, pool, large: None, up, twins: Vec::new() }
    }

    /// The same, with its queues on the ports' kernel twins (`twins[p]` for port `p`).
    #[must_use]
    pub fn with_twins(self, twins: Vec<Option<(RxQueue, TxQueue)>>) -> Self {
        Self { twins, ..self }
    }

    /// The same, taking buffers longer than `pool`'s from `large` (reassembled datagrams, up to its
    /// data room).
    #[must_use]
    pub fn with_large(self, large: Mempool) -> Self {
        Self { large: Some(large), ..self }
    }

    #[inline]
    fn is_up(&self, port: PortIdx) -> bool {
        self.up.get(usize::from(port)).is_some_and(|u| u.load(Ordering::Acquire))
    }
}

impl PacketIo for DpdkIo {
    type Buf = Mbuf;

    fn ports(&self) -> usize {
        self.rx.len()
    }

    #[inline]
    fn rx_burst(&mut self, port: PortIdx, out: &mut Vec<Mbuf>, max: usize) {
        if !self.is_up(port) {
            return;
        }
        if let Some(q) = self.rx.get_mut(usize::from(port)) {
            q.rx_burst(out, max);
        }
    }

    #[inline]
    fn tx_burst(&mut self, port: PortIdx, pkts: &mut Vec<Mbuf>) -> usize {
        if !self.is_up(port) {
            return 0;
        }
        self.tx.get_mut(usize::from(port)).map_or(0, |q| q.tx_burst(pkts))
    }

    fn kernel_rx(&mut self, port: PortIdx, out: &mut Vec<Mbuf>, max: usize) {
        if let Some(Some((rx, _))) = self.twins.get_mut(usize::from(port)) {
            rx.rx_burst(out, max);
        }
    }

    fn kernel_tx(&mut self, port: PortIdx, pkts: &mut Vec<Mbuf>) -> usize {
        match self.twins.get_mut(usize::from(port)) {
            Some(Some((_, tx))) => tx.tx_burst(pkts),
            _ => 0,
        }
    }

    fn alloc(&mut self, len: usize) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        if m.append(len).is_some() {
            return Some(m);
        }
        // Longer than a plain buffer (a reassembled datagram): rare, so the plain one's round
        // trip to its pool does not matter.
        drop(m);
        let mut m = self.large.as_ref()?.alloc()?;
        m.append(len)?;
        Some(m)
    }
}
