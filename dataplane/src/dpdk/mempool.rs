//! Packet-buffer pools (`rte_mempool` created by `rte_pktmbuf_pool_create`).
//!
//! A [`Mempool`] is a cheap, cloneable handle (`Arc`) and is `Send + Sync`: DPDK mempools are
//! multi-producer/multi-consumer safe, with a per-lcore cache in front for EAL threads. Ports
//! keep a handle to the pool their rx queues refill from.
//!
//! Lifetime rule: [`Mbuf`]s do not hold a handle (that would cost an atomic per packet). When the
//! last handle goes, the pool is freed only if every mbuf is back; otherwise it is leaked on
//! purpose (and the EAL is then never cleaned up), so an mbuf can never point into freed memory.

use std::ffi::{CStr, CString};
use std::ptr::NonNull;
use std::sync::Arc;

use super::eal::{EalRef, keep_eal_forever};
use super::error::DpdkError;
use super::mbuf::Mbuf;

/// The pool itself; freed by the last [`Mempool`] handle.
#[derive(Debug)]
struct PoolInner {
    pool: NonNull<dpdk_sys::rte_mempool>,
    _eal: EalRef,
}

// SAFETY: an rte_mempool is built for concurrent use from any thread: get/put go through its
// thread-safe ring (and a per-lcore cache that only its own lcore touches); the counters we read
// are plain loads. PoolInner never hands out the pointer for mutation of the pool struct itself.
unsafe impl Send for PoolInner {}
// SAFETY: see Send; every method takes &self and is thread-safe in DPDK.
unsafe impl Sync for PoolInner {}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool pointer is valid until we free it here; in_use_count only reads it.
        let in_use = unsafe { dpdk_sys::rte_mempool_in_use_count(self.pool.as_ptr()) };
        if in_use != 0 {
            // Outstanding mbufs would point into the freed pool: leak it instead, and keep the
            // EAL memory it lives in for the rest of the process.
            keep_eal_forever();
            return;
        }
        // SAFETY: this is the last handle (no port or caller can reach the pool) and no mbuf of
        // it is outstanding, so nothing refers to it after rte_mempool_free.
        unsafe { dpdk_sys::rte_mempool_free(self.pool.as_ptr()) };
    }
}

/// A pool of packet buffers ([`Mbuf`]s), created with `rte_pktmbuf_pool_create`.
#[derive(Debug, Clone)]
pub struct Mempool {
    inner: Arc<PoolInner>,
}

impl Mempool {
    /// Creates a pool of `n` mbufs named `name` (unique in the process), with a per-lcore cache
    /// of `cache` mbufs and `data_room` bytes of buffer each (headroom included; use
    /// [`Mempool::DEFAULT_DATA_ROOM`] for MTU-sized frames), on NUMA `socket` (-1 for any).
    pub fn pktmbuf(name: &str, n: u32, cache: u32, data_room: u16, socket: i32) -> Result<Mempool, DpdkError> {
        let eal = EalRef::current()?;
        let c_name = CString::new(name)
            .map_err(|_| DpdkError::InvalidArgument(format!("mempool name {name:?} contains a NUL byte")))?;
        // SAFETY: the EAL is running (we hold it); c_name is a valid C string for the call and
        // DPDK copies it. A NULL return is handled below.
        let pool = unsafe { dpdk_sys::rte_pktmbuf_pool_create(c_name.as_ptr(), n, cache, 0, data_room, socket) };
        let pool = NonNull::new(pool).ok_or_else(|| DpdkError::from_errno("rte_pktmbuf_pool_create"))?;
        Ok(Mempool { inner: Arc::new(PoolInner { pool, _eal: eal }) })
    }

    /// Data room for a standard 1518-byte frame plus DPDK's headroom (`RTE_MBUF_DEFAULT_BUF_SIZE`).
    // The assert proves the value fits, so the cast cannot truncate (try_from is not const).
    #[allow(clippy::cast_possible_truncation)]
    pub const DEFAULT_DATA_ROOM: u16 = {
        assert!(dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE <= u16::MAX as u32);
        dpdk_sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16
    };

    /// Takes one mbuf (length 0, default headroom) from the pool; `None` if the pool is empty.
    #[inline]
    pub fn alloc(&self) -> Option<Mbuf> {
        // SAFETY: the pool is valid while self lives; rte_pktmbuf_alloc is thread-safe and
        // returns either NULL or a freshly reset mbuf that nobody else owns.
        let m = unsafe { dpdk_sys::rte_pktmbuf_alloc(self.as_ptr()) };
        // SAFETY: a non-NULL result is a new, uniquely owned mbuf.
        NonNull::new(m).map(|m| unsafe { Mbuf::from_raw(m) })
    }

    /// Appends `n` mbufs to `out` all at once, or none (returns false) if the pool has fewer.
    /// Allocates on the heap only if `out` lacks capacity.
    pub fn alloc_bulk(&self, out: &mut Vec<Mbuf>, n: usize) -> bool {
        let Ok(count) = u32::try_from(n) else {
            return false;
        };
        if count > self.available() {
            return false;
        }
        out.reserve(n);
        let len = out.len();
        // SAFETY: out has room for n more elements; Mbuf is repr(transparent) over a non-null
        // rte_mbuf pointer, so the spare capacity is a valid array of n `*mut rte_mbuf` slots.
        // On success DPDK fills all n with new, uniquely owned mbufs and we extend the length;
        // on failure it writes nothing we keep.
        unsafe {
            let slots = out.as_mut_ptr().add(len).cast::<*mut dpdk_sys::rte_mbuf>();
            if dpdk_sys::rte_pktmbuf_alloc_bulk(self.as_ptr(), slots, count) != 0 {
                return false;
            }
            out.set_len(len + n);
        }
        true
    }

    /// Mbufs currently free in the pool (its ring plus the per-lcore caches).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is valid while self lives; the count only reads it.
        unsafe { dpdk_sys::rte_mempool_avail_count(self.as_ptr()) }
    }

    /// Mbufs currently taken out of the pool (by the application or by port rx rings).
    pub fn in_use(&self) -> u32 {
        // SAFETY: as in `available`.
        unsafe { dpdk_sys::rte_mempool_in_use_count(self.as_ptr()) }
    }

    /// The pool's total number of mbufs.
    pub fn capacity(&self) -> u32 {
        // SAFETY: the pool is valid while self lives; `size` is fixed at creation.
        unsafe { (*self.as_ptr()).size }
    }

    /// The pool's name.
    pub fn name(&self) -> String {
        // SAFETY: the pool is valid; its name is a NUL-terminated array fixed at creation.
        let name = unsafe { CStr::from_ptr((*self.as_ptr()).name.as_ptr()) };
        name.to_string_lossy().into_owned()
    }

    /// Bytes of buffer per mbuf, headroom included.
    pub fn data_room(&self) -> u16 {
        // SAFETY: the pool is a pktmbuf pool (we created it so), which the call requires.
        unsafe { dpdk_sys::rte_pktmbuf_data_room_size(self.as_ptr()) }
    }

    /// The raw pool, for DPDK calls this wrapper does not cover; valid while `self` lives.
    pub fn as_ptr(&self) -> *mut dpdk_sys::rte_mempool {
        self.inner.pool.as_ptr()
    }
}
