//! Packet I/O over plain byte frames in memory: the worker loop without DPDK, for tests and tools.

use std::collections::VecDeque;

use super::poll::PacketIo;
use crate::net::PortIdx;

/// One worker's queues on every port, as in-memory frame lists.
#[derive(Clone, Debug, Default)]
pub struct MemIo {
    /// Frames waiting to be received, per port.
    pub rx: Vec<VecDeque<Vec<u8>>>,
    /// Frames transmitted, per port, in order.
    pub tx: Vec<Vec<Vec<u8>>>,
    /// When set, a TX burst takes at most this many frames (to exercise a full TX queue).
    pub tx_limit: Option<usize>,
    /// When set, no buffer longer than this is to be had (a DPDK pool of plain buffers only).
    pub alloc_limit: Option<usize>,
    /// Each port's kernel twin, when it has one: what the kernel sends (`rx`) and what it got
    /// (`tx`).
    pub kernel: Vec<Option<MemTwin>>,
}

/// A kernel twin in memory.
#[derive(Clone, Debug, Default)]
pub struct MemTwin {
    /// Frames the kernel sends, waiting to be taken.
    pub rx: VecDeque<Vec<u8>>,
    /// Frames the kernel got, in order.
    pub tx: Vec<Vec<u8>>,
    /// When set, a burst to the kernel takes at most this many frames (a full queue).
    pub tx_limit: Option<usize>,
}

impl MemIo {
    /// Empty queues for `ports` ports.
    pub fn new(ports: usize) -> Self {
        Self {
            rx: vec![VecDeque::new(); ports],
            tx: vec![Vec::new(); ports],
            tx_limit: None,
            alloc_limit: None,
            kernel: vec![None; ports],
        }
    }

    /// The same, with a kernel twin on each of `twins`.
    #[must_use]
    pub fn with_twins(mut self, twins: &[PortIdx]) -> Self {
        for &p in twins {
            if let Some(t) = self.kernel.get_mut(usize::from(p)) {
                *t = Some(MemTwin::default());
            }
        }
        self
    }

    /// The kernel twin of `port`.
    pub fn twin(&mut self, port: PortIdx) -> Option<&mut MemTwin> {
        self.kernel.get_mut(usize::from(port)).and_then(Option::as_mut)
    }

    /// Queues a frame for reception on `port`.
    pub fn push_rx(&mut self, port: PortIdx, frame: Vec<u8>) {
        if let Some(q) = self.rx.get_mut(usize::from(port)) {
            q.push_back(frame);
        }
    }

    /// Takes the frames transmitted on `port` so far.
    pub fn take_tx(&mut self, port: PortIdx) -> Vec<Vec<u8>> {
        self.tx.get_mut(usize::from(port)).map(std::mem::take).unwrap_or_default()
    }
}

impl PacketIo for MemIo {
    type Buf = Vec<u8>;

    fn ports(&self) -> usize {
        self.rx.len()
    }

    fn rx_burst(&mut self, port: PortIdx, out: &mut Vec<Vec<u8>>, max: usize) {
        if let Some(q) = self.rx.get_mut(usize::from(port)) {
            let n = max.min(q.len());
            out.extend(q.drain(..n));
        }
    }

    fn alloc(&mut self, len: usize) -> Option<Vec<u8>> {
        self.alloc_limit.is_none_or(|l| len <= l).then(|| vec![0; len])
    }

    fn kernel_rx(&mut self, port: PortIdx, out: &mut Vec<Vec<u8>>, max: usize) {
        if let Some(t) = self.twin(port) {
            let n = max.min(t.rx.len());
            out.extend(t.rx.drain(..n));
        }
    }

    fn kernel_tx(&mut self, port: PortIdx, pkts: &mut Vec<Vec<u8>>) -> usize {
        let Some(t) = self.twin(port) else {
            return 0;
        };
        let n = t.tx_limit.map_or(pkts.len(), |l| l.min(pkts.len()));
        t.tx.extend(pkts.drain(..n));
        n
    }

    fn tx_burst(&mut self, port: PortIdx, pkts: &mut Vec<Vec<u8>>) -> usize {
        let Some(q) = self.tx.get_mut(usize::from(port)) else {
            return 0;
        };
        let n = self.tx_limit.map_or(pkts.len(), |l| l.min(pkts.len()));
        q.extend(pkts.drain(..n));
        n
    }
}
