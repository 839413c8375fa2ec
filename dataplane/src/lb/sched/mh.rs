//! Maglev hashing (ip_vs_mh.c): a lookup table of prime size filled from a per-server permutation.
//!
//! Each real server gets an `offset` and a `skip` from two keyed hashes of its address and port
//! (`port + address` as integers in host order); its permutation of the table is `offset`,
//! `offset + skip`, ... (mod size). The table is filled in rounds over the servers in order, each
//! taking `turns` entries per round, the next free entry of its permutation each time. Turns come
//! from the servers' last non-zero weights (IPVS's `last_weight`, so that quiescing a server with
//! weight 0 leaves the table alone): `turns = (weight / gcd) >> shift`, at least 1 for a non-zero
//! weight, where `shift` keeps the largest `weight / gcd` within the table's bits.
//!
//! The hash is the kernel's `hsiphash` as 64-bit kernels compute it (SipHash-1-3, keeping the low 32
//! bits) with the kernel's fixed keys (`generate_hash_secret`), so every fnat box, and a 64-bit
//! Linux IPVS with the same table size, builds the same table for the same servers. The lookup key
//! is the source address (plus the source port with the `port` flag, `mh-port`); an unavailable
//! server (weight 0 or overloaded) fails the lookup unless the `fallback` flag (`mh-fallback`)
//! re-hashes with offsets `h, h + 1, ...` (mod size) until an available server comes up.

use std::fmt;
use std::net::Ipv4Addr;

use super::{Remap, SchedFlags, View};
use crate::lb::service::RealServer;

/// IPVS's default table size (`CONFIG_IP_VS_MH_TAB_INDEX` 12).
pub(super) const MH_TABLE_SIZE: u32 = 4093;

/// The sizes IPVS allows (`primes[]`): `CONFIG_IP_VS_MH_TAB_INDEX` 8 to 17 picks one.
const PRIMES: [u32; 10] = [251, 509, 1021, 2039, 4093, 8191, 16381, 32749, 65521, 131071];

/// The kernel's keys: `hash1` for the lookup and the offsets, `hash2` for the skips.
const KEY1: [u64; 2] = [2_654_435_761, 2_654_435_761];
const KEY2: [u64; 2] = [2_654_446_892, 2_654_446_892];

/// An entry without a server.
const EMPTY: u32 = u32::MAX;

/// One service's Maglev lookup table.
#[derive(Clone)]
pub(super) struct Maglev {
    /// The table size, a prime from [`PRIMES`].
    size: u32,
    /// `IP_VS_MH_TAB_BITS`: half the table index, the bits `shift` keeps weights within.
    bits: u32,
    /// Each entry's server, by index (`EMPTY` when no server has a weight).
    lookup: Vec<u32>,
    /// Each server's last non-zero weight (its weight when added, if 0).
    last_weight: Vec<u32>,
}

impl Maglev {
    /// A table of `size` entries (one of IPVS's primes; anything else gets the default) over these
    /// servers.
    pub(super) fn new(dests: &[RealServer], size: u32) -> Self {
        let idx = PRIMES.iter().position(|&p| p == size).unwrap_or(4);
        let index = u32::try_from(idx).unwrap_or(4) + 8;
        let mut m = Self {
            size: PRIMES[idx],
            bits: index / 2,
            lookup: Vec::new(),
            last_weight: dests.iter().map(|d| d.weight).collect(),
        };
        m.populate(dests);
        m
    }

    /// IPVS `ip_vs_mh_dest_changed`: new last weights (a server whose weight became or stayed 0
    /// keeps its last one), then the table rebuilt.
    pub(super) fn dests_changed(&mut self, dests: &[RealServer], map: &Remap) {
        self.last_weight = dests
            .iter()
            .zip(&map.old_of_new)
            .map(|(d, old)| match old {
                Some(i) if d.weight == 0 => self.last_weight.get(*i).copied().unwrap_or(0),
                _ => d.weight,
            })
            .collect();
        self.populate(dests);
    }

    /// IPVS `ip_vs_mh_permutate` and `ip_vs_mh_populate`.
    fn populate(&mut self, dests: &[RealServer]) {
        let size = self.size;
        self.lookup = vec![EMPTY; size as usize];
        let g = self.last_weight.iter().copied().filter(|&w| w > 0).fold(0, gcd);
        if g == 0 {
            return;
        }
        let max = self.last_weight.iter().copied().max().unwrap_or(0) / g;
        let shift = (32 - max.leading_zeros()).saturating_sub(self.bits);
        let n = dests.len().min(self.last_weight.len());
        let mut perm = Vec::with_capacity(n);
        let mut skip = Vec::with_capacity(n);
        let mut turns = Vec::with_capacity(n);
        for (d, &lw) in dests.iter().zip(&self.last_weight) {
            let key = u32::from(d.port).wrapping_add(u32::from(d.addr));
            perm.push(hsiphash(&KEY1, key) % size);
            skip.push(hsiphash(&KEY2, key) % (size - 1) + 1);
            turns.push(match (lw / g) >> shift {
                0 => u32::from(lw != 0),
                t => t,
            });
        }
        if turns.iter().all(|&t| t == 0) {
            return;
        }
        let mut taken = vec![false; size as usize];
        let mut filled = 0;
        let mut round = 0;
        while filled < size {
            // A round: each server with turns takes that many entries in turn.
            let i = round % n;
            round += 1;
            for _ in 0..turns[i] {
                while taken[perm[i] as usize] {
                    perm[i] += skip[i];
                    if perm[i] >= size {
                        perm[i] -= size;
                    }
                }
                let c = perm[i] as usize;
                taken[c] = true;
                self.lookup[c] = u32::try_from(i).unwrap_or(EMPTY);
                filled += 1;
                if filled == size {
                    break;
                }
            }
        }
    }

    /// The entry for a key and offset: `hsiphash(offset + port + address) % size`.
    #[inline]
    fn entry(&self, key: u32, offset: u32) -> Option<usize> {
        let h = hsiphash(&KEY1, offset.wrapping_add(key)) % self.size;
        let s = *self.lookup.get(h as usize)?;
        if s == EMPTY { None } else { usize::try_from(s).ok() }
    }

    /// IPVS `ip_vs_mh_schedule` with `ip_vs_mh_get` or, with `fallback`, `ip_vs_mh_get_fallback`.
    pub(super) fn pick(&self, v: &View<'_>, src: Ipv4Addr, sport: u16, flags: SchedFlags) -> Option<usize> {
        let port = if flags.port { u32::from(sport) } else { 0 };
        let key = port.wrapping_add(u32::from(src));
        let first = self.entry(key, 0)?;
        if v.available(first) {
            return Some(first);
        }
        if !flags.fallback {
            return None;
        }
        let ihash = hsiphash(&KEY1, key) % self.size;
        for offset in 0..self.size {
            let roffset = (offset + ihash) % self.size;
            let d = self.entry(key, roffset)?;
            if v.available(d) {
                return Some(d);
            }
        }
        None
    }

    #[cfg(test)]
    fn owners(&self) -> &[u32] {
        &self.lookup
    }
}

impl fmt::Debug for Maglev {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Maglev")
            .field("size", &self.size)
            .field("last_weight", &self.last_weight)
            .finish_non_exhaustive()
    }
}

fn gcd(a: u32, b: u32) -> u32 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The kernel's `hsiphash` of one 32-bit value on a 64-bit kernel: SipHash-1-3 over its 4 bytes
/// in memory order (little-endian on the platforms IPVS runs on), truncated to the low 32 bits.
#[inline]
fn hsiphash(key: &[u64; 2], v: u32) -> u32 {
    let h = siphash(key, &v.to_le_bytes(), 1, 3);
    // The kernel returns the hash as a u32: its low half.
    #[allow(clippy::cast_possible_truncation)]
    let low = h as u32;
    low
}

/// SipHash-c-d (Aumasson and Bernstein) of `msg` with a 128-bit key given as two little-endian
/// words, as the kernel's `PREAMBLE`/`POSTAMBLE` compute it.
fn siphash(key: &[u64; 2], msg: &[u8], c: usize, d: usize) -> u64 {
    let mut v = [
        0x736f_6d65_7073_6575 ^ key[0],
        0x646f_7261_6e64_6f6d ^ key[1],
        0x6c79_6765_6e65_7261 ^ key[0],
        0x7465_6462_7974_6573 ^ key[1],
    ];
    let round = |v: &mut [u64; 4]| {
        v[0] = v[0].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(13) ^ v[0];
        v[0] = v[0].rotate_left(32);
        v[2] = v[2].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(16) ^ v[2];
        v[0] = v[0].wrapping_add(v[3]);
        v[3] = v[3].rotate_left(21) ^ v[0];
        v[2] = v[2].wrapping_add(v[1]);
        v[1] = v[1].rotate_left(17) ^ v[2];
        v[2] = v[2].rotate_left(32);
    };
    let compress = |v: &mut [u64; 4], m: u64| {
        v[3] ^= m;
        for _ in 0..c {
            round(v);
        }
        v[0] ^= m;
    };
    let mut blocks = msg.chunks_exact(8);
    for b in &mut blocks {
        let mut w = [0u8; 8];
        w.copy_from_slice(b);
        compress(&mut v, u64::from_le_bytes(w));
    }
    let mut last = [0u8; 8];
    let rest = blocks.remainder();
    last[..rest.len()].copy_from_slice(rest);
    // The length's low byte goes in the top byte of the last word.
    last[7] = msg.len().to_le_bytes()[0];
    compress(&mut v, u64::from_le_bytes(last));
    v[2] ^= 0xff;
    for _ in 0..d {
        round(&mut v);
    }
    v[0] ^ v[1] ^ v[2] ^ v[3]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Bench, server, servers};
    use super::super::{Algo, SchedKind};
    use super::*;

    fn table(b: &Bench) -> &Maglev {
        match &b.state.algo {
            Algo::Mh(m) => m,
            _ => unreachable!(),
        }
    }

    fn shares(m: &Maglev, n: usize) -> Vec<usize> {
        (0..n).map(|i| m.owners().iter().filter(|&&s| s as usize == i).count()).collect()
    }

    fn client(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + i * 7919)
    }

    #[test]
    fn siphash_matches_the_reference_vector() {
        // SipHash-2-4, key 00..0f, message 00..0e (the paper's appendix A).
        let key = [0x0706_0504_0302_0100, 0x0f0e_0d0c_0b0a_0908];
        let msg: Vec<u8> = (0..15).collect();
        assert_eq!(siphash(&key, &msg, 2, 4), 0xa129_ca61_49be_45e5);
        // The empty message of the reference test vectors (vectors.h, first entry).
        assert_eq!(siphash(&key, &[], 2, 4), 0x726f_db47_dd0e_0e31);
    }

    #[test]
    fn table_shares_follow_weights_within_one_percent() {
        let b = Bench::new(SchedKind::Mh, &servers(&[1, 2, 3, 4]));
        let m = table(&b);
        let s = shares(m, 4);
        assert_eq!(s, [410, 820, 1227, 1636]);
        for (i, &n) in s.iter().enumerate() {
            let want = 4093.0 * (i + 1) as f64 / 10.0;
            assert!((n as f64 - want).abs() / 4093.0 < 0.01, "{s:?}");
        }
    }

    #[test]
    fn big_weights_are_shifted_into_the_table_bits() {
        // gcd 1, 1000/1 needs 10 bits: shifted by 4 (6 bits kept), so 1000 -> 62 turns, 1 -> 1.
        let b = Bench::new(SchedKind::Mh, &servers(&[1000, 1]));
        let s = shares(table(&b), 2);
        assert_eq!(s[0] + s[1], 4093);
        assert!((63..=67).contains(&s[1]), "{s:?}");
        // A common divisor is taken out first: 300:100 is 3:1.
        let b = Bench::new(SchedKind::Mh, &servers(&[300, 100]));
        let s = shares(table(&b), 2);
        assert!((1020..=1026).contains(&s[1]), "{s:?}");
    }

    #[test]
    fn removing_a_server_moves_its_entries_and_few_others() {
        let d = servers(&[1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
        let mut b = Bench::new(SchedKind::Mh, &d);
        let before: Vec<u32> = table(&b).owners().to_vec();
        let mut fewer = d.clone();
        fewer.remove(3);
        b.change(&fewer);
        let after = table(&b).owners();
        // Compare owners by identity (indices shift after the removed server).
        let id = |list: &[RealServer], s: u32| list[s as usize].id;
        let mut of_removed = 0;
        let mut others_moved = 0;
        for (x, y) in before.iter().zip(after) {
            if id(&d, *x) == d[3].id {
                of_removed += 1;
            } else if id(&d, *x) != id(&fewer, *y) {
                others_moved += 1;
            }
        }
        assert_eq!(of_removed, 409);
        // Maglev's disruption is small but not zero (the NSDI'16 paper, 3.4): 46 entries (1.1%)
        // change hands between the servers that stay.
        assert_eq!(others_moved, 46);
    }

    #[test]
    fn lookups_are_stable_and_spread() {
        let mut b = Bench::new(SchedKind::Mh, &servers(&[1, 1, 1]));
        let mut count = [0usize; 3];
        for i in 0..3000 {
            let p = b.pick_for(client(i)).unwrap();
            assert_eq!(b.pick_for(client(i)), Some(p));
            count[p] += 1;
        }
        assert!(count.iter().all(|&c| (900..1100).contains(&c)), "{count:?}");
    }

    #[test]
    fn mh_port_hashes_the_source_port_too() {
        let d = servers(&[1, 1, 1, 1]);
        let mut plain = Bench::new(SchedKind::Mh, &d);
        let mut ported = Bench::with_flags(SchedKind::Mh, SchedFlags { port: true, ..SchedFlags::default() }, &d);
        let src = client(5);
        let fixed = plain.pick_for(src);
        let mut seen = [false; 4];
        for sport in 2000..2100 {
            plain.sport = sport;
            ported.sport = sport;
            assert_eq!(plain.pick_for(src), fixed);
            let p = ported.pick_for(src).unwrap();
            assert_eq!(ported.pick_for(src), Some(p));
            seen[p] = true;
        }
        assert_eq!(seen, [true; 4]);
    }

    #[test]
    fn mh_fails_on_an_unavailable_server_unless_fallback() {
        let mut d = servers(&[1, 1, 1]);
        let fallback = SchedFlags { fallback: true, ..SchedFlags::default() };
        let mut plain = Bench::new(SchedKind::Mh, &d);
        let mut fb = Bench::with_flags(SchedKind::Mh, fallback, &d);
        let homes: Vec<usize> = (0..300).map(|i| plain.pick_for(client(i)).unwrap()).collect();
        // Quiesce B: the table stays (last weight), B's clients fail or fall back, others stay.
        d[1].weight = 0;
        plain.change(&d);
        fb.change(&d);
        assert_eq!(table(&plain).owners(), table(&fb).owners());
        for (i, &home) in (0..).zip(&homes) {
            if home == 1 {
                assert_eq!(plain.pick_for(client(i)), None);
                assert!(matches!(fb.pick_for(client(i)), Some(0 | 2)));
            } else {
                assert_eq!(plain.pick_for(client(i)), Some(home));
                assert_eq!(fb.pick_for(client(i)), Some(home));
            }
        }
        // An overloaded server is unavailable too.
        d[1].weight = 1;
        d[2].upper = 1;
        fb.change(&d);
        fb.loads[2].active = 1;
        assert!((0..300).all(|i| fb.pick_for(client(i)) != Some(2)));
    }

    #[test]
    fn quiescing_keeps_the_table_and_no_weight_empties_it() {
        let mut d = servers(&[2, 1]);
        let mut b = Bench::new(SchedKind::Mh, &d);
        let before = table(&b).owners().to_vec();
        d[0].weight = 0;
        b.change(&d);
        assert_eq!(table(&b).owners(), &before[..]);
        // A server added with weight 0 gets no entries.
        d.push(server(2, 0));
        b.change(&d);
        assert_eq!(table(&b).owners(), &before[..]);
        let none = Bench::new(SchedKind::Mh, &servers(&[0, 0]));
        assert!(table(&none).owners().iter().all(|&s| s == EMPTY));
        assert!(Bench::new(SchedKind::Mh, &[]).pick().is_none());
    }

    #[test]
    fn other_table_sizes() {
        for size in PRIMES {
            let m = Maglev::new(&servers(&[1, 3]), size);
            assert_eq!(m.owners().len(), size as usize);
            let s = shares(&m, 2);
            assert!((s[1] as f64 / f64::from(size) - 0.75).abs() < 0.02, "{size}: {s:?}");
        }
        assert_eq!(Maglev::new(&servers(&[1]), 1000).owners().len(), 4093);
    }
}
