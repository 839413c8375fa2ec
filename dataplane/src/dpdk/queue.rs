//! Per-queue fast-path handles: [`RxQueue::rx_burst`] and [`TxQueue::tx_burst`].
//!
//! DPDK's rule is one lcore per queue: `rte_eth_rx_burst`/`rte_eth_tx_burst` on the same queue
//! from two threads at once corrupts it. Here that rule is in the types: [`Port::start`] makes
//! exactly one handle per queue, handles are neither `Clone` nor usable through `&` (bursts take
//! `&mut self`), and they are `Send`, so a handle moves to the worker lcore that owns the queue.
//! A handle keeps its port's state alive, and the port refuses to stop, close or reconfigure
//! while any handle exists, so a burst never runs on a queue DPDK is tearing down.
//!
//! Bursts do not allocate (unless the caller's `Vec` lacks capacity), lock, or panic.
//!
//! [`Port::start`]: super::Port::start

use std::mem::MaybeUninit;
use std::ptr::NonNull;
use std::sync::Arc;

use super::mbuf::Mbuf;
use super::port::{PortId, PortShared};

/// The most packets one [`RxQueue::rx_burst`] receives (the size of its stack buffer).
pub const RX_BURST_MAX: usize = 64;

/// The receive side of one queue of a started port.
#[derive(Debug)]
pub struct RxQueue {
    port: Arc<PortShared>,
    queue: u16,
}

/// The transmit side of one queue of a started port.
#[derive(Debug)]
pub struct TxQueue {
    port: Arc<PortShared>,
    queue: u16,
}

impl RxQueue {
    pub(crate) fn new(port: Arc<PortShared>, queue: u16) -> Self {
        RxQueue { port, queue }
    }

    /// The port this queue belongs to.
    pub fn port_id(&self) -> PortId {
        self.port.id()
    }

    /// The queue index on its port.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Receives up to `max` packets (at most [`RX_BURST_MAX`]) and appends them to `out`;
    /// returns how many. Allocates only if `out` lacks capacity for the packets received.
    #[inline]
    pub fn rx_burst(&mut self, out: &mut Vec<Mbuf>, max: usize) -> usize {
        let mut raw = [MaybeUninit::<*mut dpdk_sys::rte_mbuf>::uninit(); RX_BURST_MAX];
        let want = u16::try_from(max.min(RX_BURST_MAX)).unwrap_or(0);
        // SAFETY: raw has room for `want` pointers; the port is started and this handle is
        // the queue's only user (see module docs).
        let n = unsafe { dpdk_sys::rte_eth_rx_burst(self.port.id().0, self.queue, raw.as_mut_ptr().cast(), want) };
        let received = &raw[..usize::from(n.min(want))];
        let before = out.len();
        out.reserve(received.len());
        for slot in received {
            // SAFETY: the PMD initialised the first n slots with packets it hands over to us.
            let m = unsafe { slot.assume_init() };
            if let Some(m) = NonNull::new(m) {
                // SAFETY: a received mbuf is a valid, direct packet with refcnt 1 that the PMD
                // no longer touches; its pool is the one the port keeps alive.
                out.push(unsafe { Mbuf::from_raw(m) });
            }
        }
        out.len() - before
    }
}

impl TxQueue {
    pub(crate) fn new(port: Arc<PortShared>, queue: u16) -> Self {
        TxQueue { port, queue }
    }

    /// The port this queue belongs to.
    pub fn port_id(&self) -> PortId {
        self.port.id()
    }

    /// The queue index on its port.
    pub fn queue_id(&self) -> u16 {
        self.queue
    }

    /// Transmits from the front of `pkts` (at most 65535 per call) and removes the packets the
    /// device took, keeping the rest in order for a retry or a drop; returns how many were sent.
    #[inline]
    pub fn tx_burst(&mut self, pkts: &mut Vec<Mbuf>) -> usize {
        let len = pkts.len();
        let want = u16::try_from(len).unwrap_or(u16::MAX);
        let base = pkts.as_mut_ptr();
        // SAFETY: the first `want` elements are initialised Mbufs, laid out as `*mut rte_mbuf`
        // (repr(transparent)); the PMD only reads the array. It takes ownership of the first
        // `sent` mbufs, so we must not drop those: we move the unsent tail over them
        // (ptr::copy handles the overlap) and shorten the Vec, which forgets the sent ones
        // without running their destructors. The port is started and this handle is the
        // queue's only user.
        unsafe {
            let sent =
                dpdk_sys::rte_eth_tx_burst(self.port.id().0, self.queue, base.cast::<*mut dpdk_sys::rte_mbuf>(), want);
            let sent = usize::from(sent.min(want));
            std::ptr::copy(base.add(sent), base, len - sent);
            pkts.set_len(len - sent);
            sent
        }
    }
}

impl Drop for RxQueue {
    fn drop(&mut self) {
        self.port.release_queue();
    }
}

impl Drop for TxQueue {
    fn drop(&mut self) {
        self.port.release_queue();
    }
}
