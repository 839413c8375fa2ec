//! An owned packet buffer (`rte_mbuf`).
//!
//! [`Mbuf`] is a unique owner, like `Box`: it is `Send` (handing a packet to another lcore is
//! ownership transfer, which DPDK allows) and frees the mbuf back to its pool on drop. Its byte
//! accessors cover the first segment only: frames received into a pool with
//! [`Mempool::DEFAULT_DATA_ROOM`](super::Mempool::DEFAULT_DATA_ROOM) or more arrive in one segment
//! up to the standard MTU. Check [`Mbuf::nb_segs`] and drop chained (jumbo) packets, or handle
//! them through the raw pointer.
//!
//! Nothing here allocates, locks or panics; lengths that do not fit DPDK's `u16` fields are
//! refused like any other request that does not fit.

use std::ptr::NonNull;

use super::port::PortId;

/// An owned, single-owner pointer to an `rte_mbuf`.
#[repr(transparent)]
#[derive(Debug)]
pub struct Mbuf(NonNull<dpdk_sys::rte_mbuf>);

// SAFETY: an Mbuf is the only handle to its rte_mbuf (see `from_raw`'s contract). Moving it to
// another thread moves that ownership; freeing into the mempool from any thread is thread-safe.
unsafe impl Send for Mbuf {}

impl Drop for Mbuf {
    fn drop(&mut self) {
        // SAFETY: we own the mbuf (and any chained segments); nobody uses it after this.
        unsafe { dpdk_sys::rte_pktmbuf_free(self.0.as_ptr()) };
    }
}

impl Mbuf {
    /// Takes ownership of a raw mbuf.
    ///
    /// # Safety
    ///
    /// `m` must point to a valid, initialised packet mbuf that nobody else uses or frees
    /// afterwards: a direct mbuf (not attached to another's buffer) with reference count 1, as
    /// returned by `rte_pktmbuf_alloc` or a PMD's rx burst. Its mempool must outlive it, which
    /// holds for pools created through [`Mempool`](super::Mempool).
    #[inline]
    pub unsafe fn from_raw(m: NonNull<dpdk_sys::rte_mbuf>) -> Mbuf {
        Mbuf(m)
    }

    /// Gives up ownership without freeing; the caller must free or transmit the mbuf.
    #[inline]
    pub fn into_raw(self) -> NonNull<dpdk_sys::rte_mbuf> {
        let m = self.0;
        std::mem::forget(self);
        m
    }

    /// The raw mbuf, for reading through DPDK calls this wrapper does not cover.
    #[inline]
    pub fn as_ptr(&self) -> *const dpdk_sys::rte_mbuf {
        self.0.as_ptr()
    }

    /// The raw mbuf, for DPDK calls that modify it.
    #[inline]
    pub fn as_mut_ptr(&mut self) -> *mut dpdk_sys::rte_mbuf {
        self.0.as_ptr()
    }

    #[inline]
    fn raw(&self) -> &dpdk_sys::rte_mbuf {
        // SAFETY: the pointer is valid while we own it, and only `&mut self` methods change the
        // struct, so a shared borrow tied to `&self` is not aliased by a writer.
        unsafe { self.0.as_ref() }
    }

    #[inline]
    fn raw_mut(&mut self) -> &mut dpdk_sys::rte_mbuf {
        // SAFETY: we own the mbuf exclusively and hold `&mut self`.
        unsafe { self.0.as_mut() }
    }

    /// The packet bytes of the first segment (`rte_pktmbuf_mtod`, `data_len` long).
    #[inline]
    pub fn data(&self) -> &[u8] {
        let m = self.raw();
        // SAFETY: DPDK keeps data_off + data_len within buf_len of the buffer at buf_addr, which
        // this mbuf owns; the bytes stay put while the borrow of self lives.
        unsafe {
            std::slice::from_raw_parts(m.buf_addr.cast::<u8>().add(usize::from(m.data_off)), usize::from(m.data_len))
        }
    }

    /// The packet bytes of the first segment, writable.
    #[inline]
    pub fn data_mut(&mut self) -> &mut [u8] {
        let m = self.raw_mut();
        // SAFETY: as in `data`; the buffer belongs to this mbuf alone (direct, refcnt 1, per
        // `from_raw`), and `&mut self` makes this the only borrow.
        unsafe {
            std::slice::from_raw_parts_mut(
                m.buf_addr.cast::<u8>().add(usize::from(m.data_off)),
                usize::from(m.data_len),
            )
        }
    }

    /// Bytes in the first segment (equal to [`Mbuf::pkt_len`] for single-segment packets).
    #[inline]
    pub fn len(&self) -> usize {
        usize::from(self.raw().data_len)
    }

    /// Whether the first segment holds no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.raw().data_len == 0
    }

    /// Bytes in the whole packet, all segments.
    #[inline]
    pub fn pkt_len(&self) -> u32 {
        self.raw().pkt_len
    }

    /// Number of segments (1 for the packets this wrapper's byte accessors fully cover).
    #[inline]
    pub fn nb_segs(&self) -> u16 {
        self.raw().nb_segs
    }

    /// Free bytes before the data (room for [`Mbuf::prepend`]).
    #[inline]
    pub fn headroom(&self) -> u16 {
        self.raw().data_off
    }

    /// Free bytes after the data of the last segment (room for [`Mbuf::append`]).
    #[inline]
    pub fn tailroom(&self) -> u16 {
        // SAFETY: the mbuf is valid; the function only reads it (and its last segment).
        unsafe { dpdk_sys::rte_pktmbuf_tailroom(self.as_ptr()) }
    }

    /// Grows the packet by `n` bytes at the front and returns them (uninitialised: old headroom
    /// contents); `None` if the headroom is too small.
    #[inline]
    pub fn prepend(&mut self, n: usize) -> Option<&mut [u8]> {
        let len = u16::try_from(n).ok()?;
        // SAFETY: we own the mbuf; rte_pktmbuf_prepend checks the headroom and returns NULL
        // rather than moving data_off below 0.
        let start = unsafe { dpdk_sys::rte_pktmbuf_prepend(self.as_mut_ptr(), len) };
        let start = NonNull::new(start.cast::<u8>())?;
        // SAFETY: the n bytes at start are the new front of this mbuf's own data buffer, and the
        // borrow is tied to `&mut self`.
        Some(unsafe { std::slice::from_raw_parts_mut(start.as_ptr(), n) })
    }

    /// Grows the packet by `n` bytes at the end (of the last segment) and returns them
    /// (uninitialised: old buffer contents); `None` if the tailroom is too small.
    #[inline]
    pub fn append(&mut self, n: usize) -> Option<&mut [u8]> {
        let len = u16::try_from(n).ok()?;
        // SAFETY: we own the mbuf; rte_pktmbuf_append checks the tailroom and returns NULL
        // rather than growing past the buffer.
        let start = unsafe { dpdk_sys::rte_pktmbuf_append(self.as_mut_ptr(), len) };
        let start = NonNull::new(start.cast::<u8>())?;
        // SAFETY: the n bytes at start are the new tail inside this mbuf's own buffer (last
        // segment), and the borrow is tied to `&mut self`.
        Some(unsafe { std::slice::from_raw_parts_mut(start.as_ptr(), n) })
    }

    /// Appends `bytes`; false (and no change) if the tailroom is too small.
    #[inline]
    pub fn extend_from_slice(&mut self, bytes: &[u8]) -> bool {
        match self.append(bytes.len()) {
            Some(tail) => {
                tail.copy_from_slice(bytes);
                true
            }
            None => false,
        }
    }

    /// Removes `n` bytes from the front (e.g. a decapsulated header); false if the first
    /// segment is shorter.
    #[inline]
    pub fn adj(&mut self, n: usize) -> bool {
        let Ok(len) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the mbuf; rte_pktmbuf_adj refuses (NULL) lengths beyond data_len.
        !unsafe { dpdk_sys::rte_pktmbuf_adj(self.as_mut_ptr(), len) }.is_null()
    }

    /// Removes `n` bytes from the end; false if the last segment is shorter.
    #[inline]
    pub fn trim(&mut self, n: usize) -> bool {
        let Ok(len) = u16::try_from(n) else {
            return false;
        };
        // SAFETY: we own the mbuf; rte_pktmbuf_trim refuses (-1) lengths beyond the last
        // segment's data_len.
        unsafe { dpdk_sys::rte_pktmbuf_trim(self.as_mut_ptr(), len) == 0 }
    }

    /// The port the packet was received on.
    #[inline]
    pub fn port(&self) -> PortId {
        PortId(self.raw().port)
    }

    /// The NIC's RSS hash of the packet, if the PMD provided one.
    #[inline]
    pub fn rss_hash(&self) -> Option<u32> {
        let m = self.raw();
        if m.ol_flags & u64::from(dpdk_sys::RTE_MBUF_F_RX_RSS_HASH) == 0 {
            return None;
        }
        // SAFETY: all members of the hash union are plain integers, so reading `rss` is a valid
        // read of initialised bytes; RX_RSS_HASH says the PMD wrote it.
        Some(unsafe { m.__bindgen_anon_2.hash.rss })
    }

    /// Offload flags (`RTE_MBUF_F_RX_*` on receive, `RTE_MBUF_F_TX_*` requests for transmit).
    #[inline]
    pub fn ol_flags(&self) -> u64 {
        self.raw().ol_flags
    }

    /// Replaces the offload flags (e.g. `RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM`).
    #[inline]
    pub fn set_ol_flags(&mut self, flags: u64) {
        self.raw_mut().ol_flags = flags;
    }

    /// The packet type the PMD recognised (`RTE_PTYPE_*` bits; 0 if unknown).
    #[inline]
    pub fn packet_type(&self) -> u32 {
        // SAFETY: the union's members are integers over the same 4 bytes; reading the whole
        // packet_type word is always a valid read.
        unsafe { self.raw().__bindgen_anon_1.packet_type }
    }

    /// The L2 header length, for tx offloads (7 bits).
    #[inline]
    pub fn l2_len(&self) -> u8 {
        // SAFETY: the tx_offload union is one u64 with a bitfield view; both are plain integers.
        let len = unsafe { self.raw().__bindgen_anon_3.__bindgen_anon_1.l2_len() };
        u8::try_from(len).unwrap_or(u8::MAX)
    }

    /// The L3 header length, for tx offloads (9 bits).
    #[inline]
    pub fn l3_len(&self) -> u16 {
        // SAFETY: as in `l2_len`.
        let len = unsafe { self.raw().__bindgen_anon_3.__bindgen_anon_1.l3_len() };
        u16::try_from(len).unwrap_or(u16::MAX)
    }

    /// Sets the L2 header length for tx offloads (values above 127 are masked by the field).
    #[inline]
    pub fn set_l2_len(&mut self, len: u8) {
        // SAFETY: writing a bitfield of the integer-only tx_offload union of an mbuf we own.
        unsafe { self.raw_mut().__bindgen_anon_3.__bindgen_anon_1.set_l2_len(u64::from(len)) };
    }

    /// Sets the L3 header length for tx offloads (values above 511 are masked by the field).
    #[inline]
    pub fn set_l3_len(&mut self, len: u16) {
        // SAFETY: as in `set_l2_len`.
        unsafe { self.raw_mut().__bindgen_anon_3.__bindgen_anon_1.set_l3_len(u64::from(len)) };
    }

    /// Sets the L4 header length for tx offloads (TSO; 8 bits).
    #[inline]
    pub fn set_l4_len(&mut self, len: u8) {
        // SAFETY: as in `set_l2_len`.
        unsafe { self.raw_mut().__bindgen_anon_3.__bindgen_anon_1.set_l4_len(u64::from(len)) };
    }
}
