//! IPv4 reassembly for one worker, bounded (RFC 791 section 3.2, as Linux's `ip_fragment.c` and
//! `inet_fragment.c` do it).
//!
//! # Design
//!
//! Sans-IO: fragments come in as Ethernet frames ([`Reassembly::push`]), time as `now` (ms), and a
//! complete datagram goes out as a whole Ethernet frame written into the caller's buffer
//! ([`Reassembly::take`]). Datagrams are keyed by (source, destination, identification,
//! protocol). Each datagram in progress holds one slot: the first fragment's Ethernet and IPv4
//! headers, a sorted list of the payload ranges received (at most `max_frags`, so a hole is
//! simply the gap between two ranges), and a data buffer the payload is copied into at its offset.
//! A datagram is complete when its last fragment (More Fragments clear) has given its end and the
//! ranges, being disjoint, add up to it.
//!
//! Fragments are judged as Linux does since CVE-2018-5391 (RFC 5722's rule, applied to IPv4):
//!
//! - An exact duplicate (same offset and end as a fragment held) is dropped alone
//!   ([`ReasmDrop::Duplicate`]). Any other overlap discards the whole datagram
//!   ([`ReasmDrop::Overlap`]). Unlike Linux, a fragment lying inside a run of adjacent fragments
//!   but not matching one of them exactly is an overlap, not a duplicate.
//! - A fragment that contradicts the datagram's end (a second last fragment with another end, data
//!   beyond the known end, a last fragment ending before data held) discards the datagram too
//!   ([`ReasmDrop::Malformed`]), as does one fragment too many ([`ReasmDrop::TooMany`]): such a
//!   datagram could never complete.
//! - Other refusals drop the fragment alone: a malformed fragment (payload empty, or not a multiple
//!   of 8 bytes with More Fragments set), one ending beyond 65515 bytes ([`ReasmDrop::TooBig`]), and
//!   one for which there is no room ([`ReasmDrop::NoRoom`]: no free slot for a new datagram, or the
//!   byte budget spent). Nothing in progress is evicted to make room; a datagram that lost a
//!   fragment this way waits for its timeout.
//! - Once a datagram is discarded, completed or expired its slot is free: fragments of it arriving
//!   later start a new slot, which can seldom complete and is freed by [`Reassembly::expire`]
//!   `timeout_ms` after its first fragment. No slot outlives its timeout, since the clock of a slot
//!   starts at its first fragment and is never restarted, provided the caller calls `expire`
//!   regularly (`push` does not look at timeouts).
//!
//! # Invariants
//!
//! - Owned by one worker core; no locks, no atomics, no `unsafe`.
//! - Every allocation but one happens in [`Reassembly::new`]: the slots and their range lists. A
//!   slot's data buffer is allocated lazily, once, at its full size of 65515 bytes, the first time
//!   the slot is used, and is reused ever after; so the memory held is at most
//!   `max_datagrams` × 64 KiB, and once every slot has been used nothing allocates.
//! - No panic whatever the bytes: every frame is untrusted. A frame that is not Ethernet/IPv4
//!   without options is [`ReasmDrop::Malformed`]. The IPv4 header checksum is the caller's to verify.
//! - `bytes_held` (the payload bytes held over all datagrams) never exceeds `max_bytes`, and
//!   `in_progress` never exceeds `max_datagrams`.

use core::fmt;
use std::net::Ipv4Addr;

use crate::packet::ethernet::{self, EtherType, EthernetFrame};
use crate::packet::ipv4::{self, Ipv4Packet};

/// The largest payload of an IPv4 datagram without options: no fragment may end beyond it.
pub const MAX_PAYLOAD: usize = 65_535 - ipv4::HEADER_LEN;

/// The most fragments a datagram can have (8-byte pieces over [`MAX_PAYLOAD`]): `max_frags` is
/// capped to it.
const MAX_FRAGS: usize = MAX_PAYLOAD.div_ceil(8);

/// Bytes in front of the payload in a frame: the Ethernet and the IPv4 headers.
const HEADERS_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN;

/// How much reassembly may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReasmLimits {
    /// Datagrams in progress at once.
    pub max_datagrams: usize,
    /// Payload bytes held over all datagrams (Linux's `ipfrag_high_thresh`).
    pub max_bytes: usize,
    /// Fragments per datagram (capped to 8190, the most a datagram can have).
    pub max_frags: usize,
    /// A datagram still incomplete this long after its first fragment is dropped (ms; Linux's
    /// `ipfrag_time`).
    pub timeout_ms: u64,
}

impl Default for ReasmLimits {
    /// 64 datagrams, 4 MiB, 64 fragments per datagram, 30 s.
    fn default() -> Self {
        ReasmLimits { max_datagrams: 64, max_bytes: 4 << 20, max_frags: 64, timeout_ms: 30_000 }
    }
}

/// Why a fragment was dropped (a hot-path drop reason: small and `Copy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ReasmDrop {
    /// It overlaps a fragment held with another extent: the whole datagram was discarded.
    Overlap,
    /// An exact duplicate of a fragment held: dropped alone.
    Duplicate,
    /// One fragment more than `max_frags`: the whole datagram was discarded.
    TooMany,
    /// It ends beyond 65515 bytes of payload: dropped alone.
    TooBig,
    /// No free slot for a new datagram, or the byte budget is spent: dropped alone.
    NoRoom,
    /// Not an Ethernet/IPv4 fragment without options, an empty payload, a payload not a multiple of
    /// 8 with More Fragments set (dropped alone), or an end contradicting the datagram's (the whole
    /// datagram was discarded).
    Malformed,
    /// The datagram was incomplete when its time ran out (counted by [`Reassembly::expire`]).
    Timeout,
}

impl ReasmDrop {
    /// Every reason, in counter order.
    pub const ALL: [ReasmDrop; 7] = [
        ReasmDrop::Overlap,
        ReasmDrop::Duplicate,
        ReasmDrop::TooMany,
        ReasmDrop::TooBig,
        ReasmDrop::NoRoom,
        ReasmDrop::Malformed,
        ReasmDrop::Timeout,
    ];

    /// A short stable snake_case name for counters and logs.
    pub const fn label(self) -> &'static str {
        match self {
            ReasmDrop::Overlap => "frag_overlap",
            ReasmDrop::Duplicate => "frag_duplicate",
            ReasmDrop::TooMany => "frag_too_many",
            ReasmDrop::TooBig => "frag_too_big",
            ReasmDrop::NoRoom => "frag_no_room",
            ReasmDrop::Malformed => "frag_malformed",
            ReasmDrop::Timeout => "frag_timeout",
        }
    }
}

impl fmt::Display for ReasmDrop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// What identifies a datagram (RFC 791): its fragments share all four.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ident: u16,
    protocol: u8,
}

/// Payload bytes `start..end` of a datagram, received in one fragment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: u16,
    end: u16,
}

/// A fragment, parsed and checked on its own.
#[derive(Debug)]
struct Fragment<'a> {
    key: Key,
    span: Span,
    more_frags: bool,
    eth: [u8; ethernet::HEADER_LEN],
    ip: [u8; ipv4::HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> Fragment<'a> {
    /// Parses `frame` as an Ethernet/IPv4 fragment without options.
    fn parse(frame: &'a [u8]) -> Result<Self, ReasmDrop> {
        let eth = EthernetFrame::new_checked(frame).map_err(|_| ReasmDrop::Malformed)?;
        if eth.ethertype() != EtherType::IPV4 {
            return Err(ReasmDrop::Malformed);
        }
        let (eth_bytes, rest) = frame.split_at_checked(ethernet::HEADER_LEN).ok_or(ReasmDrop::Malformed)?;
        let ip = Ipv4Packet::new_checked(rest).map_err(|_| ReasmDrop::Malformed)?;
        let ip_bytes: [u8; ipv4::HEADER_LEN] = ip.header().try_into().map_err(|_| ReasmDrop::Malformed)?;
        if !ip.is_fragment() {
            return Err(ReasmDrop::Malformed);
        }
        // The view's payload borrows the view; the same bytes, borrowed from the frame.
        let payload = rest.get(ipv4::HEADER_LEN..usize::from(ip.total_len())).ok_or(ReasmDrop::Malformed)?;
        let more_frags = ip.more_frags();
        if payload.is_empty() || (more_frags && !payload.len().is_multiple_of(8)) {
            return Err(ReasmDrop::Malformed);
        }
        let start = ip.frag_offset();
        let end = usize::from(start) + payload.len();
        if end > MAX_PAYLOAD {
            return Err(ReasmDrop::TooBig);
        }
        let end = u16::try_from(end).map_err(|_| ReasmDrop::TooBig)?;
        Ok(Fragment {
            key: Key { src: ip.src_addr(), dst: ip.dst_addr(), ident: ip.ident(), protocol: ip.protocol() },
            span: Span { start, end },
            more_frags,
            eth: eth_bytes.try_into().map_err(|_| ReasmDrop::Malformed)?,
            ip: ip_bytes,
            payload,
        })
    }
}

/// One datagram in progress, or a free slot.
#[derive(Debug)]
struct Slot {
    key: Key,
    /// When its first fragment arrived (ms).
    first_ms: u64,
    /// The Ethernet header of the fragment at offset 0, once received.
    eth: [u8; ethernet::HEADER_LEN],
    /// The IPv4 header of the fragment at offset 0, once received.
    ip: [u8; ipv4::HEADER_LEN],
    /// The payload's length, known once the last fragment arrived.
    end: Option<u16>,
    /// The ranges received: sorted, disjoint, at most `max_frags` (the capacity, never exceeded).
    spans: Vec<Span>,
    /// Payload bytes received: the sum of `spans`' lengths.
    held: usize,
    /// The payload at its offsets: empty until the slot is first used, then [`MAX_PAYLOAD`] bytes.
    data: Vec<u8>,
}

impl Slot {
    fn new(max_frags: usize) -> Self {
        Slot {
            key: Key { src: Ipv4Addr::UNSPECIFIED, dst: Ipv4Addr::UNSPECIFIED, ident: 0, protocol: 0 },
            first_ms: 0,
            eth: [0; ethernet::HEADER_LEN],
            ip: [0; ipv4::HEADER_LEN],
            end: None,
            spans: Vec::with_capacity(max_frags),
            held: 0,
            data: Vec::new(),
        }
    }

    /// Whether every byte up to the known end has arrived.
    fn is_complete(&self) -> bool {
        self.end.is_some_and(|end| self.held == usize::from(end))
    }
}

/// The fragments of up to `max_datagrams` datagrams being reassembled, for one worker.
#[derive(Debug)]
pub struct Reassembly {
    limits: ReasmLimits,
    slots: Vec<Slot>,
    /// Indices of the slots in use, in no order.
    live: Vec<usize>,
    /// Indices of the free slots.
    free: Vec<usize>,
    /// Payload bytes held over all slots in use.
    bytes_held: usize,
    /// The slot whose datagram is complete and waits for [`Reassembly::take`].
    ready: Option<usize>,
}

impl Reassembly {
    /// Allocates `limits.max_datagrams` slots with room for `limits.max_frags` ranges each.
    pub fn new(limits: ReasmLimits) -> Self {
        let limits = ReasmLimits { max_frags: limits.max_frags.min(MAX_FRAGS), ..limits };
        let slots = (0..limits.max_datagrams).map(|_| Slot::new(limits.max_frags)).collect();
        let mut free = Vec::with_capacity(limits.max_datagrams);
        free.extend((0..limits.max_datagrams).rev());
        Reassembly { limits, slots, live: Vec::with_capacity(limits.max_datagrams), free, bytes_held: 0, ready: None }
    }

    /// The limits in force (`max_frags` capped).
    pub fn limits(&self) -> &ReasmLimits {
        &self.limits
    }

    /// Datagrams in progress (a complete one not yet taken included).
    pub fn in_progress(&self) -> usize {
        self.live.len()
    }

    /// Payload bytes held over all datagrams in progress.
    pub fn bytes_held(&self) -> usize {
        self.bytes_held
    }

    /// Adds the fragment in `frame` (an Ethernet frame) received at `now` (ms).
    ///
    /// `Ok(None)`: held. `Ok(Some(len))`: its datagram is complete, and [`Reassembly::take`]
    /// writes it as a `len`-byte frame; a complete datagram not taken before the next `push` is
    /// dropped.
    ///
    /// # Errors
    ///
    /// Why the fragment was dropped; see [`ReasmDrop`] for which reasons discard its datagram too.
    pub fn push(&mut self, frame: &[u8], now: u64) -> Result<Option<usize>, ReasmDrop> {
        if let Some(idx) = self.ready.take() {
            self.release(idx);
        }
        let frag = Fragment::parse(frame)?;
        match self.live.iter().copied().find(|&idx| self.slots[idx].key == frag.key) {
            Some(idx) => self.add(idx, &frag),
            None => self.start(&frag, now),
        }
    }

    /// Starts a datagram with its first fragment to arrive.
    fn start(&mut self, frag: &Fragment<'_>, now: u64) -> Result<Option<usize>, ReasmDrop> {
        if self.limits.max_frags == 0 {
            return Err(ReasmDrop::TooMany);
        }
        if self.bytes_held.saturating_add(frag.payload.len()) > self.limits.max_bytes {
            return Err(ReasmDrop::NoRoom);
        }
        let Some(idx) = self.free.pop() else {
            return Err(ReasmDrop::NoRoom);
        };
        self.live.push(idx);
        let slot = &mut self.slots[idx];
        slot.key = frag.key;
        slot.first_ms = now;
        Ok(self.accept(idx, 0, frag))
    }

    /// Adds a fragment to the datagram in slot `idx`.
    fn add(&mut self, idx: usize, frag: &Fragment<'_>) -> Result<Option<usize>, ReasmDrop> {
        let slot = &self.slots[idx];
        let Span { start, end } = frag.span;
        let held_end = slot.spans.last().map_or(0, |s| s.end);
        let contradicts = match (slot.end, frag.more_frags) {
            (Some(known), false) => end != known,
            (None, false) => held_end > end,
            (Some(known), true) => end > known,
            (None, true) => false,
        };
        if contradicts {
            self.release(idx);
            return Err(ReasmDrop::Malformed);
        }
        let at = slot.spans.partition_point(|s| s.start < start);
        if slot.spans.get(at) == Some(&frag.span) {
            return Err(ReasmDrop::Duplicate);
        }
        let overlaps_next = slot.spans.get(at).is_some_and(|next| next.start < end);
        let overlaps_prev = at.checked_sub(1).and_then(|i| slot.spans.get(i)).is_some_and(|prev| prev.end > start);
        if overlaps_next || overlaps_prev {
            self.release(idx);
            return Err(ReasmDrop::Overlap);
        }
        if slot.spans.len() >= self.limits.max_frags {
            self.release(idx);
            return Err(ReasmDrop::TooMany);
        }
        if self.bytes_held.saturating_add(frag.payload.len()) > self.limits.max_bytes {
            return Err(ReasmDrop::NoRoom);
        }
        Ok(self.accept(idx, at, frag))
    }

    /// Stores a fragment already judged acceptable in slot `idx` at position `at` of its ranges;
    /// returns the frame length when that completes the datagram.
    fn accept(&mut self, idx: usize, at: usize, frag: &Fragment<'_>) -> Option<usize> {
        let slot = &mut self.slots[idx];
        if slot.data.len() < MAX_PAYLOAD {
            // The one lazy allocation of a slot, at its first use.
            slot.data.resize(MAX_PAYLOAD, 0);
        }
        let (start, end) = (usize::from(frag.span.start), usize::from(frag.span.end));
        if let Some(dst) = slot.data.get_mut(start..end) {
            dst.copy_from_slice(frag.payload);
        }
        // `at <= len < max_frags <= capacity`: no reallocation.
        slot.spans.insert(at, frag.span);
        slot.held += frag.payload.len();
        self.bytes_held += frag.payload.len();
        if !frag.more_frags {
            slot.end = Some(frag.span.end);
        }
        if start == 0 {
            slot.eth = frag.eth;
            slot.ip = frag.ip;
        }
        if !slot.is_complete() {
            return None;
        }
        self.ready = Some(idx);
        slot.end.map(|end| HEADERS_LEN + usize::from(end))
    }

    /// Writes the datagram that the last [`Reassembly::push`] completed into `out` as one frame and
    /// frees its slot; returns the frame's length, or 0 (writing nothing and keeping the datagram)
    /// when `out` is shorter or no datagram is complete.
    ///
    /// The frame is the first fragment's Ethernet header, its IPv4 header with More Fragments and
    /// the fragment offset cleared (the other flags kept), `total_len` set and the checksum
    /// recomputed, then the payload.
    pub fn take(&mut self, out: &mut [u8]) -> usize {
        let Some(idx) = self.ready else {
            return 0;
        };
        let slot = &self.slots[idx];
        let Some(end) = slot.end else {
            return 0;
        };
        let payload_len = usize::from(end);
        let frame_len = HEADERS_LEN + payload_len;
        let (Some(out), Some(payload)) = (out.get_mut(..frame_len), slot.data.get(..payload_len)) else {
            return 0;
        };
        let (eth_out, rest) = out.split_at_mut(ethernet::HEADER_LEN);
        let (ip_out, data_out) = rest.split_at_mut(ipv4::HEADER_LEN);
        eth_out.copy_from_slice(&slot.eth);
        ip_out.copy_from_slice(&slot.ip);
        let mut header = Ipv4Packet::new_unchecked(ip_out);
        // `end <= MAX_PAYLOAD`, so the total length is at most 65535.
        header.set_total_len(end.saturating_add(20));
        header.set_more_frags(false);
        header.set_frag_offset(0);
        header.fill_checksum();
        data_out.copy_from_slice(payload);
        self.release(idx);
        frame_len
    }

    /// Frees the datagram the last [`Reassembly::push`] completed without writing it (the caller
    /// had no buffer for it).
    pub fn discard(&mut self) {
        if let Some(idx) = self.ready.take() {
            self.release(idx);
        }
    }

    /// Frees the datagrams whose first fragment arrived `timeout_ms` or more before `now`; returns
    /// how many (each a [`ReasmDrop::Timeout`]).
    pub fn expire(&mut self, now: u64) -> usize {
        let mut expired = 0;
        let mut i = 0;
        while let Some(&idx) = self.live.get(i) {
            if now.saturating_sub(self.slots[idx].first_ms) >= self.limits.timeout_ms {
                self.release(idx);
                expired += 1;
            } else {
                i += 1;
            }
        }
        expired
    }

    /// Empties slot `idx` and returns it to the free list; its buffers are kept.
    fn release(&mut self, idx: usize) {
        let slot = &mut self.slots[idx];
        self.bytes_held -= slot.held;
        slot.held = 0;
        slot.end = None;
        slot.spans.clear();
        if let Some(pos) = self.live.iter().position(|&i| i == idx) {
            self.live.swap_remove(pos);
            self.free.push(idx);
        }
        if self.ready == Some(idx) {
            self.ready = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::packet::MacAddr;
    use crate::packet::builder::FrameSpec;
    use crate::packet::frag;

    const ETH: (MacAddr, MacAddr) = (MacAddr([2, 0, 0, 0, 0, 1]), MacAddr([2, 0, 0, 0, 0, 2]));
    const SRC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    /// An unfragmented UDP datagram, ident `ident`, total length `total_len` (at least 28).
    fn original(ident: u16, total_len: usize) -> Vec<u8> {
        let mut spec = FrameSpec::new(ETH, SRC, DST);
        spec.ident = ident;
        spec.dont_frag = false;
        let data: Vec<u8> = (0..total_len - 28).map(|i| u8::try_from(i % 251).unwrap()).collect();
        spec.udp(4000, 53, &data)
    }

    /// `frame` split at `mtu` by [`frag`].
    fn split(frame: &[u8], mtu: u16) -> Vec<Vec<u8>> {
        frag::pieces(frame, mtu)
            .unwrap()
            .map(|p| {
                let mut out = vec![0; p.frame_len];
                assert_eq!(frag::write_piece(frame, &p, &mut out), p.frame_len);
                out
            })
            .collect()
    }

    /// A fragment of `frame` built by hand: payload bytes `offset..offset + len` (zeros past the
    /// payload's end), with More Fragments `more`.
    fn fragment(frame: &[u8], offset: u16, len: u16, more: bool) -> Vec<u8> {
        let mut out = frame[..34].to_vec();
        let start = 34 + usize::from(offset);
        out.extend((start..start + usize::from(len)).map(|i| frame.get(i).copied().unwrap_or(0)));
        let mut ip = Ipv4Packet::new_unchecked(&mut out[14..]);
        ip.set_total_len(20 + len);
        ip.set_more_frags(more);
        ip.set_frag_offset(offset);
        ip.fill_checksum();
        out
    }

    /// Pushes every fragment at `now`: all but the last are held, the last completes a frame of
    /// `frame_len` bytes, which is returned.
    fn push_all(reasm: &mut Reassembly, fragments: &[Vec<u8>], now: u64) -> Vec<u8> {
        let (last, rest) = fragments.split_last().unwrap();
        for (i, f) in rest.iter().enumerate() {
            assert_eq!(reasm.push(f, now), Ok(None), "fragment {i}");
        }
        let len = reasm.push(last, now).unwrap().expect("complete");
        let mut out = vec![0; len + 10];
        assert_eq!(reasm.take(&mut out), len);
        out.truncate(len);
        out
    }

    #[test]
    fn reassembles_in_order_into_the_original_frame() {
        let original = original(0x1234, 4000);
        let fragments = split(&original, 1500);
        assert_eq!(fragments.len(), 3);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragments[0], 0), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1480));
        assert_eq!(reasm.push(&fragments[1], 1), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 2960));
        assert_eq!(reasm.push(&fragments[2], 2), Ok(Some(4014)));
        let mut out = [0u8; 4014];
        assert_eq!(reasm.take(&mut out), 4014);
        assert_eq!(&out[..], &original[..]);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
        assert_eq!(reasm.take(&mut out), 0);
    }

    #[test]
    fn reassembles_in_reverse_order() {
        let original = original(7, 4000);
        let mut fragments = split(&original, 576);
        assert_eq!(fragments.len(), 8);
        fragments.reverse();
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(push_all(&mut reasm, &fragments, 0), original);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
    }

    #[test]
    fn reassembles_in_shuffled_orders() {
        let original = original(7, 4000);
        let fragments = split(&original, 576);
        let orders: [[usize; 8]; 4] =
            [[7, 0, 6, 1, 5, 2, 4, 3], [3, 5, 1, 7, 0, 2, 6, 4], [1, 2, 3, 4, 5, 6, 7, 0], [6, 7, 4, 5, 2, 3, 0, 1]];
        let mut reasm = Reassembly::new(ReasmLimits::default());
        for order in orders {
            let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| fragments[i].clone()).collect();
            assert_eq!(push_all(&mut reasm, &shuffled, 0), original, "{order:?}");
        }
    }

    #[test]
    fn the_ethernet_header_is_the_first_fragments_even_when_it_comes_last() {
        let original = original(9, 1500);
        let mut fragments = split(&original, 576);
        for later in &mut fragments[1..] {
            later[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 0x99]);
        }
        fragments.reverse();
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(push_all(&mut reasm, &fragments, 0), original);
    }

    #[test]
    fn keeps_dont_fragment_and_clears_the_fragment_fields() {
        let mut original = original(9, 1500);
        let fragments: Vec<Vec<u8>> = split(&original, 576)
            .into_iter()
            .map(|mut f| {
                let mut ip = Ipv4Packet::new_unchecked(&mut f[14..]);
                ip.set_dont_frag(true);
                ip.fill_checksum();
                f
            })
            .collect();
        let mut ip = Ipv4Packet::new_unchecked(&mut original[14..]);
        ip.set_dont_frag(true);
        ip.fill_checksum();
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(push_all(&mut reasm, &fragments, 0), original);
        assert_eq!(&original[20..22], &[0x40, 0x00]);
    }

    #[test]
    fn an_exact_duplicate_is_dropped_alone() {
        let original = original(1, 4000);
        let fragments = split(&original, 1500);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragments[1], 0), Ok(None));
        assert_eq!(reasm.push(&fragments[2], 0), Ok(None));
        assert_eq!(reasm.push(&fragments[1], 0), Err(ReasmDrop::Duplicate));
        assert_eq!(reasm.push(&fragments[2], 0), Err(ReasmDrop::Duplicate));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 2500));
        assert_eq!(reasm.push(&fragments[0], 0), Ok(Some(4014)));
        let mut out = vec![0; 4014];
        assert_eq!(reasm.take(&mut out), 4014);
        assert_eq!(out, original);
    }

    #[test]
    fn an_overlap_discards_the_whole_datagram() {
        let original = original(1, 4000);
        // Overlapping the end of a range, the start of one, or lying inside one.
        for (offset, len) in [(1472, 16), (8, 1480), (0, 8), (8, 8), (2952, 16), (2960, 8)] {
            let mut reasm = Reassembly::new(ReasmLimits::default());
            assert_eq!(reasm.push(&fragment(&original, 0, 1480, true), 0), Ok(None));
            assert_eq!(reasm.push(&fragment(&original, 2960, 1020, false), 0), Ok(None));
            assert_eq!(reasm.push(&fragment(&original, offset, len, true), 0), Err(ReasmDrop::Overlap), "{offset}");
            assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0), "{offset}");
        }
    }

    #[test]
    fn fragments_after_a_discard_start_over_and_time_out() {
        let original = original(1, 4000);
        let fragments = split(&original, 1500);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragments[0], 1_000), Ok(None));
        assert_eq!(reasm.push(&fragment(&original, 8, 16, true), 1_000), Err(ReasmDrop::Overlap));
        assert_eq!(reasm.push(&fragments[1], 2_000), Ok(None));
        assert_eq!(reasm.push(&fragments[2], 2_000), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 2500));
        assert_eq!(reasm.expire(31_999), 0);
        assert_eq!(reasm.expire(32_000), 1);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
    }

    #[test]
    fn one_fragment_too_many_discards_the_datagram() {
        let original = original(1, 100);
        let limits = ReasmLimits { max_frags: 3, ..ReasmLimits::default() };
        let mut reasm = Reassembly::new(limits);
        for offset in [0, 8, 16] {
            assert_eq!(reasm.push(&fragment(&original, offset, 8, true), 0), Ok(None));
        }
        assert_eq!(reasm.push(&fragment(&original, 24, 8, true), 0), Err(ReasmDrop::TooMany));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
        // A duplicate is still a duplicate when the list is full.
        for offset in [0, 8, 16] {
            assert_eq!(reasm.push(&fragment(&original, offset, 8, true), 0), Ok(None));
        }
        assert_eq!(reasm.push(&fragment(&original, 8, 8, true), 0), Err(ReasmDrop::Duplicate));
        // No fragment at all allowed.
        let mut none = Reassembly::new(ReasmLimits { max_frags: 0, ..ReasmLimits::default() });
        assert_eq!(none.push(&fragment(&original, 0, 8, true), 0), Err(ReasmDrop::TooMany));
        assert_eq!(none.in_progress(), 0);
    }

    #[test]
    fn max_frags_fragments_complete_a_datagram() {
        let original = original(1, 20 + 64 * 8);
        let mut fragments: Vec<Vec<u8>> = (0..64).map(|i| fragment(&original, i * 8, 8, i < 63)).collect();
        fragments.reverse();
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(push_all(&mut reasm, &fragments, 0), original);
    }

    #[test]
    fn a_fragment_ending_beyond_65515_is_too_big() {
        let original = original(1, 100);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragment(&original, 65_512, 4, false), 0), Err(ReasmDrop::TooBig));
        assert_eq!(reasm.push(&fragment(&original, 65_504, 16, true), 0), Err(ReasmDrop::TooBig));
        assert_eq!(reasm.push(&fragment(&original, 65_528, 8, true), 0), Err(ReasmDrop::TooBig));
        assert_eq!(reasm.in_progress(), 0);
        assert_eq!(reasm.push(&fragment(&original, 65_512, 3, false), 0), Ok(None));
        assert_eq!(reasm.push(&fragment(&original, 65_504, 8, true), 0), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 11));
    }

    #[test]
    fn the_largest_datagram_reassembles() {
        let original = original(0xffff, 65_535);
        let fragments = split(&original, 9000);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(push_all(&mut reasm, &fragments, 0), original);
    }

    #[test]
    fn malformed_fragments_are_dropped_alone() {
        let original = original(1, 4000);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragment(&original, 0, 1480, true), 0), Ok(None));
        let mut options = fragment(&original, 1480, 8, true);
        options[14] = 0x46;
        let mut arp = fragment(&original, 1480, 8, true);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut v6 = fragment(&original, 1480, 8, true);
        v6[14] = 0x65;
        let truncated = &original[..1000];
        let whole = original.clone();
        for (what, bad) in [
            ("not a multiple of 8 with MF", fragment(&original, 1480, 12, true)),
            ("empty with MF", fragment(&original, 1480, 0, true)),
            ("empty last", fragment(&original, 1480, 0, false)),
            ("options", options),
            ("not IPv4", arp),
            ("version 6", v6),
            ("total length beyond the frame", truncated.to_vec()),
            ("not a fragment", whole),
            ("shorter than Ethernet", original[..13].to_vec()),
            ("shorter than IPv4", original[..33].to_vec()),
        ] {
            assert_eq!(reasm.push(&bad, 0), Err(ReasmDrop::Malformed), "{what}");
            assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1480), "{what}");
        }
        // The last fragment may have any length.
        assert_eq!(reasm.push(&fragment(&original, 1480, 2500, false), 0), Ok(Some(4014)));
    }

    #[test]
    fn an_end_contradicting_the_datagram_discards_it() {
        let original = original(1, 4000);
        let last = fragment(&original, 2960, 1020, false);
        let middle = fragment(&original, 1480, 1480, true);
        let cases = [
            ("a second last fragment with another end", &last, fragment(&original, 1480, 1488, false)),
            ("data beyond the known end", &last, fragment(&original, 3976, 8, true)),
            ("a last fragment ending before data held", &middle, fragment(&original, 8, 1000, false)),
        ];
        for (what, first, second) in cases {
            let mut reasm = Reassembly::new(ReasmLimits::default());
            assert_eq!(reasm.push(first, 0), Ok(None), "{what}");
            assert_eq!(reasm.push(&second, 0), Err(ReasmDrop::Malformed), "{what}");
            assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0), "{what}");
        }
    }

    #[test]
    fn expires_after_the_timeout_then_a_late_fragment_starts_over() {
        let original = original(1, 4000);
        let fragments = split(&original, 1500);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.push(&fragments[0], 1_000), Ok(None));
        assert_eq!(reasm.push(&fragments[1], 20_000), Ok(None));
        assert_eq!(reasm.expire(30_999), 0);
        assert_eq!(reasm.in_progress(), 1);
        assert_eq!(reasm.expire(31_000), 1);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
        assert_eq!(reasm.push(&fragments[2], 31_001), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1020));
        assert_eq!(reasm.expire(61_000), 0);
        assert_eq!(reasm.expire(61_001), 1);
        assert_eq!(reasm.expire(u64::MAX), 0);
        // A clock that goes back expires nothing.
        assert_eq!(reasm.push(&fragments[0], 5_000), Ok(None));
        assert_eq!(reasm.expire(4_000), 0);
        // The slot is reused: the datagram completes anew.
        assert_eq!(push_all(&mut reasm, &fragments[1..], 5_000), original);
    }

    #[test]
    fn expire_frees_only_the_old_datagrams() {
        let mut reasm = Reassembly::new(ReasmLimits::default());
        for ident in 0..10u16 {
            let first = &split(&original(ident, 1500), 576)[0];
            assert_eq!(reasm.push(first, u64::from(ident) * 1_000), Ok(None));
        }
        assert_eq!(reasm.expire(34_500), 5);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (5, 5 * 552));
        // Those left complete.
        for ident in 5..10u16 {
            let original = original(ident, 1500);
            let rest = &split(&original, 576)[1..];
            assert_eq!(push_all(&mut reasm, rest, 35_000), original);
        }
    }

    #[test]
    fn no_free_slot_drops_the_new_datagram_and_evicts_nothing() {
        let limits = ReasmLimits { max_datagrams: 2, ..ReasmLimits::default() };
        let mut reasm = Reassembly::new(limits);
        let (a, b, c) = (original(1, 1500), original(2, 1500), original(3, 1500));
        let (fa, fb, fc) = (split(&a, 576), split(&b, 576), split(&c, 576));
        assert_eq!(reasm.push(&fa[0], 0), Ok(None));
        assert_eq!(reasm.push(&fb[0], 0), Ok(None));
        assert_eq!(reasm.push(&fc[0], 0), Err(ReasmDrop::NoRoom));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (2, 1104));
        assert_eq!(push_all(&mut reasm, &fa[1..], 0), a);
        assert_eq!(push_all(&mut reasm, &fc, 0), c);
        assert_eq!(push_all(&mut reasm, &fb[1..], 0), b);
        let mut none = Reassembly::new(ReasmLimits { max_datagrams: 0, ..ReasmLimits::default() });
        assert_eq!(none.push(&fa[0], 0), Err(ReasmDrop::NoRoom));
    }

    #[test]
    fn a_spent_byte_budget_drops_new_fragments_and_evicts_nothing() {
        let limits = ReasmLimits { max_bytes: 2500, ..ReasmLimits::default() };
        let mut reasm = Reassembly::new(limits);
        let (a, b) = (original(1, 4000), original(2, 4000));
        let (fa, fb) = (split(&a, 1500), split(&b, 1500));
        assert_eq!(reasm.push(&fa[0], 0), Ok(None));
        assert_eq!(reasm.push(&fb[0], 0), Err(ReasmDrop::NoRoom));
        assert_eq!(reasm.push(&fa[1], 0), Err(ReasmDrop::NoRoom));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1480));
        assert_eq!(reasm.push(&fa[2], 0), Ok(None));
        assert_eq!(reasm.push(&fb[2], 0), Err(ReasmDrop::NoRoom));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 2500));
        assert_eq!(reasm.expire(30_000), 1);
        // A budget of exactly one datagram's payload completes it.
        let mut exact = Reassembly::new(ReasmLimits { max_bytes: 3980, ..ReasmLimits::default() });
        assert_eq!(push_all(&mut exact, &fa, 0), a);
    }

    #[test]
    fn interleaved_datagrams_reassemble_separately() {
        let (a, b) = (original(1, 4000), original(2, 3000));
        let mut other_src = original(1, 2000);
        let mut ip = Ipv4Packet::new_unchecked(&mut other_src[14..]);
        ip.set_src_addr(Ipv4Addr::new(192, 0, 2, 2));
        ip.fill_checksum();
        let (fa, fb, fc) = (split(&a, 576), split(&b, 576), split(&other_src, 576));
        let mut reasm = Reassembly::new(ReasmLimits::default());
        let mut done = Vec::new();
        for i in 0..fa.len() {
            for f in [fa.get(i), fb.get(fb.len().wrapping_sub(i + 1)), fc.get(i)].into_iter().flatten() {
                if let Some(len) = reasm.push(f, 0).unwrap() {
                    let mut out = vec![0; len];
                    assert_eq!(reasm.take(&mut out), len);
                    done.push(out);
                }
            }
        }
        assert_eq!(done, [other_src, b, a]);
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
    }

    #[test]
    fn take_needs_a_big_enough_buffer_and_the_next_push_drops_what_was_not_taken() {
        let (a, b) = (original(1, 1500), original(2, 1500));
        let (fa, fb) = (split(&a, 1400), split(&b, 1400));
        let mut reasm = Reassembly::new(ReasmLimits::default());
        assert_eq!(reasm.take(&mut [0; 2000]), 0);
        assert_eq!(reasm.push(&fa[0], 0), Ok(None));
        assert_eq!(reasm.push(&fa[1], 0), Ok(Some(1514)));
        let mut out = vec![0x55; 1513];
        assert_eq!(reasm.take(&mut out), 0);
        assert!(out.iter().all(|&b| b == 0x55));
        out.push(0x55);
        assert_eq!(reasm.take(&mut out), 1514);
        assert_eq!(out, a);
        assert_eq!(reasm.push(&fb[0], 0), Ok(None));
        assert_eq!(reasm.push(&fb[1], 0), Ok(Some(1514)));
        assert_eq!(reasm.in_progress(), 1);
        assert_eq!(reasm.push(&fa[0], 0), Ok(None));
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1376));
        assert_eq!(reasm.take(&mut out), 0);
    }

    #[test]
    fn discard_frees_the_complete_datagram_unwritten() {
        let original = original(1, 1500);
        let fragments = split(&original, 1400);
        let mut reasm = Reassembly::new(ReasmLimits::default());
        reasm.discard();
        assert_eq!(reasm.push(&fragments[0], 0), Ok(None));
        reasm.discard();
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (1, 1376));
        assert_eq!(reasm.push(&fragments[1], 0), Ok(Some(1514)));
        reasm.discard();
        assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
        assert_eq!(reasm.take(&mut [0; 2000]), 0);
    }

    #[test]
    fn buffers_are_reused_after_warm_up() {
        let limits = ReasmLimits { max_datagrams: 4, ..ReasmLimits::default() };
        let mut reasm = Reassembly::new(limits);
        let warm_up: Vec<Vec<u8>> = (0..4).map(|i| split(&original(i, 1500), 576)[0].clone()).collect();
        for f in &warm_up {
            assert_eq!(reasm.push(f, 0), Ok(None));
        }
        assert_eq!(reasm.expire(u64::MAX), 4);
        let buffers = |r: &Reassembly| -> Vec<(usize, usize, usize, usize)> {
            r.slots
                .iter()
                .map(|s| (s.data.as_ptr() as usize, s.data.capacity(), s.spans.as_ptr() as usize, s.spans.capacity()))
                .collect()
        };
        let before = buffers(&reasm);
        assert!(before.iter().all(|&(_, data, _, spans)| data == MAX_PAYLOAD && spans == 64));
        let live = (reasm.live.capacity(), reasm.free.capacity());
        for ident in 0..50u16 {
            let original = original(ident, 9000);
            let mut fragments = split(&original, 200);
            let count = fragments.len();
            fragments.rotate_left(usize::from(ident) % count);
            assert_eq!(push_all(&mut reasm, &fragments, 0), original);
        }
        assert_eq!(buffers(&reasm), before);
        assert_eq!((reasm.live.capacity(), reasm.free.capacity()), live);
    }

    #[test]
    fn max_frags_is_capped() {
        let reasm = Reassembly::new(ReasmLimits { max_frags: usize::MAX, max_datagrams: 1, ..ReasmLimits::default() });
        assert_eq!(reasm.limits().max_frags, 8190);
    }

    #[test]
    fn labels_are_distinct_snake_case() {
        let labels: Vec<&str> = ReasmDrop::ALL.iter().map(|r| r.label()).collect();
        assert_eq!(
            labels,
            [
                "frag_overlap",
                "frag_duplicate",
                "frag_too_many",
                "frag_too_big",
                "frag_no_room",
                "frag_malformed",
                "frag_timeout"
            ]
        );
        assert_eq!(ReasmDrop::NoRoom.to_string(), "frag_no_room");
    }

    proptest! {
        #[test]
        fn any_order_reassembles_the_original(
            (total_len, mtu, order) in (48usize..9000, 68u16..1500).prop_flat_map(|(total_len, mtu)| {
                let count = (total_len - 20).div_ceil(usize::from((mtu - 20) & !7));
                (Just(total_len), Just(mtu), Just((0..count).collect::<Vec<usize>>()).prop_shuffle())
            })
        ) {
            let original = original(0xabcd, total_len);
            if total_len <= usize::from(mtu) {
                return Ok(());
            }
            let fragments = split(&original, mtu);
            prop_assert_eq!(fragments.len(), order.len());
            let shuffled: Vec<Vec<u8>> = order.iter().map(|&i| fragments[i].clone()).collect();
            let limits = ReasmLimits { max_frags: 8190, ..ReasmLimits::default() };
            let mut reasm = Reassembly::new(limits);
            prop_assert_eq!(push_all(&mut reasm, &shuffled, 0), original);
            prop_assert_eq!((reasm.in_progress(), reasm.bytes_held()), (0, 0));
        }

        #[test]
        fn damaged_fragments_never_panic_nor_break_the_limits(
            pushes in prop::collection::vec(
                (0usize..3, 0usize..16, any::<prop::sample::Index>(), any::<u8>(), 0u64..40_000),
                1..60,
            ),
        ) {
            let originals = [original(1, 600), original(2, 300), original(1, 150)];
            let fragments: Vec<Vec<Vec<u8>>> = originals.iter().map(|o| split(o, 68)).collect();
            let limits = ReasmLimits { max_datagrams: 2, max_bytes: 700, max_frags: 8, timeout_ms: 10_000 };
            let mut reasm = Reassembly::new(limits);
            let mut out = vec![0; 700];
            for (which, nth, at, value, now) in pushes {
                let mut frame = fragments[which][nth % fragments[which].len()].clone();
                // Damage one byte of the IPv4 header's length, flags or offset, or of the payload.
                if value % 2 == 0 {
                    let i = at.index(frame.len());
                    frame[i] = value;
                } else if value % 3 == 0 {
                    frame.truncate(at.index(frame.len()));
                }
                if let Ok(Some(len)) = reasm.push(&frame, now) {
                    prop_assert_eq!(reasm.take(&mut out), len);
                }
                reasm.expire(now);
                prop_assert!(reasm.in_progress() <= 2);
                prop_assert!(reasm.bytes_held() <= 700);
                let held: usize = reasm.live.iter().map(|&i| reasm.slots[i].held).sum();
                prop_assert_eq!(held, reasm.bytes_held());
            }
        }
    }
}
