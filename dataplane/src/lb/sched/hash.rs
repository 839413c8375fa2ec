//! Source hashing (ip_vs_sh.c) and destination hashing (ip_vs_dh.c): a 256-bucket table of real
//! servers indexed by `hash_32` of an address.
//!
//! sh fills the buckets by walking the servers cyclically, each taking `weight` consecutive buckets
//! (at least one: a server with weight 0 takes one, where it is unavailable). Its key is the source
//! address, plus the source port with the `port` flag (`sh-port`), added as integers in host order
//! before hashing. An unavailable server (weight 0 or overloaded) in the key's bucket fails the
//! lookup, unless the `fallback` flag (`sh-fallback`) probes on: the kernel adds an offset to the
//! hash, so from a key whose bucket is `h` it tries `2h`, `2h + 1`, ... (mod 256), ending at the
//! first available server.
//!
//! dh gives each server one bucket in turn, weights ignored, and hashes the destination address;
//! it has no flags.

use std::fmt;
use std::net::Ipv4Addr;

use super::{SchedFlags, View};
use crate::lb::service::RealServer;

/// log2 of the number of buckets (`CONFIG_IP_VS_SH_TAB_BITS`, `CONFIG_IP_VS_DH_TAB_BITS`).
const TAB_BITS: u32 = 8;
/// The number of buckets.
const TAB_SIZE: usize = 1 << TAB_BITS;
/// A bucket without a server (a service without real servers).
const EMPTY: u32 = u32::MAX;

/// The kernel's `hash_32` (include/linux/hash.h, generic version): multiply by the 32-bit golden
/// ratio and keep the top `bits` bits.
#[inline]
pub(super) fn hash_32(val: u32, bits: u32) -> u32 {
    val.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

/// A table of 256 buckets, each naming a real server by index.
#[derive(Clone, PartialEq, Eq)]
pub(super) struct Buckets([u32; TAB_SIZE]);

impl fmt::Debug for Buckets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Buckets({:?}, ...)", &self.0[..8])
    }
}

impl Buckets {
    /// IPVS `ip_vs_sh_reassign`: cyclically, each server takes `max(weight, 1)` buckets.
    pub(super) fn sh(dests: &[RealServer]) -> Self {
        let mut t = [EMPTY; TAB_SIZE];
        if !dests.is_empty() {
            let (mut p, mut count) = (0, 0);
            for b in &mut t {
                *b = index(p);
                count += 1;
                if count >= dests[p].weight {
                    p = (p + 1) % dests.len();
                    count = 0;
                }
            }
        }
        Self(t)
    }

    /// IPVS `ip_vs_dh_reassign`: one bucket per server in turn.
    pub(super) fn dh(dests: &[RealServer]) -> Self {
        let mut t = [EMPTY; TAB_SIZE];
        if !dests.is_empty() {
            for (b, slot) in t.iter_mut().enumerate() {
                *slot = index(b % dests.len());
            }
        }
        Self(t)
    }

    /// The server in bucket `b` (mod 256), if any.
    #[inline]
    fn get(&self, b: u32) -> Option<usize> {
        let s = self.0[usize::try_from(b).unwrap_or(0) % TAB_SIZE];
        if s == EMPTY { None } else { usize::try_from(s).ok() }
    }

    /// IPVS `ip_vs_sh_schedule` with `ip_vs_sh_get` or, with `fallback`, `ip_vs_sh_get_fallback`.
    pub(super) fn sh_pick(&self, v: &View<'_>, src: Ipv4Addr, sport: u16, flags: SchedFlags) -> Option<usize> {
        let port = if flags.port { u32::from(sport) } else { 0 };
        let h = hash_32(port.wrapping_add(u32::from(src)), TAB_BITS);
        let first = self.get(h)?;
        if v.available(first) {
            return Some(first);
        }
        if !flags.fallback {
            return None;
        }
        // The kernel's probe: offsets ihash, ihash + 1, ... added to the key's hash.
        for offset in 0..TAB_SIZE {
            let roffset = (index(offset) + h) % index(TAB_SIZE);
            let d = self.get(roffset + h)?;
            if v.available(d) {
                return Some(d);
            }
        }
        None
    }

    /// IPVS `ip_vs_dh_schedule`.
    pub(super) fn dh_pick(&self, v: &View<'_>, dst: Ipv4Addr) -> Option<usize> {
        self.get(hash_32(u32::from(dst), TAB_BITS)).filter(|&d| v.available(d))
    }

    #[cfg(test)]
    fn shares(&self, n: usize) -> Vec<usize> {
        (0..n).map(|i| self.0.iter().filter(|&&s| s == index(i)).count()).collect()
    }
}

/// A server index as stored in a bucket (a service has far fewer than 2^32 servers).
#[inline]
fn index(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(EMPTY)
}

#[cfg(test)]
mod tests {
    use super::super::testing::{Bench, servers};
    use super::super::{SchedFlags, SchedKind};
    use super::*;

    fn client(i: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + i * 7919)
    }

    #[test]
    fn hash_32_is_the_kernels() {
        assert_eq!(hash_32(1, 8), 0x61);
        assert_eq!(hash_32(0, 8), 0);
        assert_eq!(hash_32(0xffff_ffff, 32), 0x9E37_79B9);
        assert_eq!(hash_32(u32::from(Ipv4Addr::new(10, 0, 0, 1)), 10), 0x61C8_8647_u32.wrapping_mul(0x0a00_0001) >> 22);
    }

    #[test]
    fn sh_buckets_follow_weights() {
        assert_eq!(Buckets::sh(&servers(&[1, 3])).shares(2), [64, 192]);
        assert_eq!(Buckets::sh(&servers(&[1, 1, 1])).shares(3), [86, 85, 85]);
        // Weight 0 still takes one bucket per cycle (where it fails the lookup).
        assert_eq!(Buckets::sh(&servers(&[0, 2])).shares(2), [86, 170]);
        // A weight above 256 fills the table on its own.
        assert_eq!(Buckets::sh(&servers(&[300, 1])).shares(2), [256, 0]);
        let t = Buckets::sh(&servers(&[2, 1]));
        assert_eq!(&t.0[..6], &[0, 0, 1, 0, 0, 1]);
        assert_eq!(Buckets::sh(&[]), Buckets([EMPTY; TAB_SIZE]));
    }

    #[test]
    fn sh_is_stable_per_client_and_shares_by_weight() {
        let mut b = Bench::new(SchedKind::Sh, &servers(&[1, 3]));
        let mut count = [0usize; 2];
        for i in 0..4000 {
            let first = b.pick_for(client(i)).unwrap();
            assert_eq!(b.pick_for(client(i)), Some(first));
            count[first] += 1;
        }
        // hash_32 spreads consecutive-ish keys well: close to 1:3.
        assert!((900..1100).contains(&count[0]), "{count:?}");
        // The bucket is hash_32 of the address.
        let src = Ipv4Addr::new(172, 16, 3, 4);
        let bucket = hash_32(u32::from(src), 8) as usize;
        assert_eq!(b.pick_for(src), Some(usize::from(!bucket.is_multiple_of(4))));
    }

    #[test]
    fn sh_port_hashes_the_source_port_too() {
        let d = servers(&[1, 1, 1, 1]);
        let mut plain = Bench::new(SchedKind::Sh, &d);
        let port = SchedFlags { port: true, ..SchedFlags::default() };
        let mut ported = Bench::with_flags(SchedKind::Sh, port, &d);
        let src = Ipv4Addr::new(10, 1, 2, 3);
        let mut seen = [false; 4];
        for sport in 1000..1064 {
            plain.sport = sport;
            ported.sport = sport;
            assert_eq!(plain.pick_for(src), plain.pick_for(src));
            let p = ported.pick_for(src).unwrap();
            assert_eq!(ported.pick_for(src), Some(p));
            let key = u32::from(sport) + u32::from(src);
            assert_eq!(p, hash_32(key, 8) as usize % 4);
            seen[p] = true;
        }
        assert_eq!(seen, [true; 4], "the port moves clients over every server");
        let first = plain.pick_for(src);
        assert!((1000..1064).all(|s| {
            plain.sport = s;
            plain.pick_for(src) == first
        }));
    }

    #[test]
    fn sh_fails_on_an_unavailable_bucket_unless_fallback() {
        let mut d = servers(&[1, 1, 1]);
        d[1].weight = 0;
        let fallback = SchedFlags { fallback: true, ..SchedFlags::default() };
        let mut plain = Bench::new(SchedKind::Sh, &d);
        let mut fb = Bench::with_flags(SchedKind::Sh, fallback, &d);
        let mut tried = 0;
        for i in 0..200 {
            let src = client(i);
            let h = hash_32(u32::from(src), 8) as usize;
            if h % 3 != 1 {
                assert_eq!(plain.pick_for(src), Some(h % 3));
                assert_eq!(fb.pick_for(src), Some(h % 3));
                continue;
            }
            tried += 1;
            assert_eq!(plain.pick_for(src), None);
            // The kernel's probe starts at bucket 2h and walks up.
            let start = (2 * h) % 256;
            let expect = if start % 3 == 1 { (start + 1) % 256 % 3 } else { start % 3 };
            assert_eq!(fb.pick_for(src), Some(expect), "h = {h}");
        }
        assert!(tried > 30);
        // Nobody available: nothing, with or without fallback.
        d.iter_mut().for_each(|s| s.weight = 0);
        fb.change(&d);
        assert_eq!(fb.pick_for(client(1)), None);
    }

    #[test]
    fn sh_skips_an_overloaded_server() {
        let mut d = servers(&[1, 1]);
        d[0].upper = 1;
        let mut b = Bench::with_flags(SchedKind::Sh, SchedFlags { fallback: true, ..SchedFlags::default() }, &d);
        b.loads[0].inactive = 1;
        assert!((0..100).all(|i| b.pick_for(client(i)) == Some(1)));
    }

    #[test]
    fn dh_gives_each_server_one_bucket_in_turn() {
        assert_eq!(Buckets::dh(&servers(&[1, 100])).shares(2), [128, 128]);
        assert_eq!(Buckets::dh(&servers(&[1, 1, 1])).shares(3), [86, 85, 85]);
        let mut b = Bench::new(SchedKind::Dh, &servers(&[1, 5, 1]));
        for i in 0..300 {
            b.dst = client(i);
            let h = hash_32(u32::from(b.dst), 8) as usize;
            assert_eq!(b.pick(), Some(h % 3));
            // The client does not matter.
            assert_eq!(b.pick_for(client(i + 1)), Some(h % 3));
        }
    }

    #[test]
    fn dh_fails_on_an_unavailable_bucket() {
        let mut b =
            Bench::with_flags(SchedKind::Dh, SchedFlags { fallback: true, port: true, flag3: true }, &servers(&[1, 0]));
        for i in 0..100 {
            b.dst = client(i);
            let h = hash_32(u32::from(b.dst), 8) as usize;
            assert_eq!(b.pick(), if h.is_multiple_of(2) { Some(0) } else { None });
        }
    }

    #[test]
    fn tables_are_rebuilt_when_servers_change() {
        let mut b = Bench::new(SchedKind::Sh, &servers(&[1, 1]));
        let src = (0..).map(client).find(|&s| hash_32(u32::from(s), 8) % 4 == 3).unwrap();
        assert_eq!(b.pick_for(src), Some(1));
        b.change(&servers(&[1, 1, 1, 1]));
        assert_eq!(b.pick_for(src), Some(3));
        b.change(&[]);
        assert_eq!(b.pick_for(src), None);
    }
}
