//! Packet I/O over a worker's DPDK queues: the production [`PacketIo`].

use crate::dpdk::{Mbuf, Mempool, RxQueue, TxQueue};
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

/// One worker's queues: queue `i` of every port for worker `i`, and the pool for frames it
/// originates.
#[derive(Debug)]
pub struct DpdkIo {
    rx: Vec<RxQueue>,
    tx: Vec<TxQueue>,
    pool: Mempool,
}

impl DpdkIo {
    /// A worker's queues: `rx[p]` and `tx[p]` are its queues on port `p`.
    pub fn new(rx: Vec<RxQueue>, tx: Vec<TxQueue>, pool: Mempool) -> Self {
        Self { rx, tx, pool }
    }
}

impl PacketIo for DpdkIo {
    type Buf = Mbuf;

    fn ports(&self) -> usize {
        self.rx.len()
    }

    #[inline]
    fn rx_burst(&mut self, port: PortIdx, out: &mut Vec<Mbuf>, max: usize) {
        if let Some(q) = self.rx.get_mut(usize::from(port)) {
            q.rx_burst(out, max);
        }
    }

    #[inline]
    fn tx_burst(&mut self, port: PortIdx, pkts: &mut Vec<Mbuf>) -> usize {
        self.tx.get_mut(usize::from(port)).map_or(0, |q| q.tx_burst(pkts))
    }

    fn alloc(&mut self, len: usize) -> Option<Mbuf> {
        let mut m = self.pool.alloc()?;
        m.append(len)?;
        Some(m)
    }
}
