//! The per-core connection table: preallocated, bounded, indexed in both directions, expired by `now`.
//!
//! Layout: a slab of fixed-size [`Conn`] entries (with a free list) and one open-addressing index with
//! linear probing that holds two entries per connection, one for each direction's flow key. The index
//! has at least four slots per connection, so its load never passes one half and a probe always ends at
//! an empty slot; deletion shifts the following entries back (no tombstones). A slot keeps the full
//! 32-bit hash so that most mismatches are rejected without touching the connection entry. The hash is
//! keyed with a per-table random seed, so remote clients cannot aim collisions at one chain.
//!
//! Expiry is driven by `now`: a lookup that finds an expired entry reports it as such (the caller then
//! removes it), and [`ConnTable::expire`] sweeps a bounded number of entries per call so that the work
//! per poll iteration stays bounded. Owned by one worker core; nothing here allocates after `new`.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;

use super::persist::{NO_TEMPLATE, TmplHandle};
use super::probe::{self, EMPTY, EMPTY_SLOT, Slot};
use super::service::{DestId, FwdMethod, Protocol};

/// A flow as seen on the wire: protocol and both endpoints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Source port.
    pub sport: u16,
    /// Destination port.
    pub dport: u16,
    /// Transport protocol.
    pub proto: Protocol,
}

/// Which way a packet travels on a connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Dir {
    /// Client to real server: the packet's flow is `cip:cport -> vip:vport`.
    In = 0,
    /// Real server to client: the packet's flow is `rip:rport -> lip:lport`.
    Out = 1,
}

impl Dir {
    /// The other direction.
    #[inline]
    pub fn opposite(self) -> Dir {
        match self {
            Dir::In => Dir::Out,
            Dir::Out => Dir::In,
        }
    }
}

/// Index of a connection in its table.
pub type ConnIdx = u32;

/// One connection. For FULLNAT, `lip:lport` is the gateway's local address and port towards the real
/// server; for modes without source translation it equals `cip:cport`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Conn {
    /// Client address.
    pub cip: Ipv4Addr,
    /// Virtual address.
    pub vip: Ipv4Addr,
    /// Local address (source towards the real server).
    pub lip: Ipv4Addr,
    /// Real server address.
    pub rip: Ipv4Addr,
    /// Client port.
    pub cport: u16,
    /// Virtual port.
    pub vport: u16,
    /// Local port.
    pub lport: u16,
    /// Real server port.
    pub rport: u16,
    /// When the connection expires, in milliseconds of the caller's clock.
    pub expires: u64,
    /// The real server's stable identity.
    pub dest: DestId,
    /// Transport protocol.
    pub proto: Protocol,
    /// TCP state (`TcpState as u8`); unused for UDP.
    pub state: u8,
    /// `CONN_F_*` flags.
    pub flags: u8,
    /// Forwarding method.
    pub method: FwdMethod,
    /// The persistence template the connection uses ([`NO_TEMPLATE`] for none), released when the
    /// connection is removed.
    pub tmpl: TmplHandle,
    /// The slot of its real server's tally on the owning worker (counters per packet without a
    /// lookup); `u32::MAX` for none.
    pub tally: u32,
}

/// The entry is in use.
pub const CONN_F_USED: u8 = 0x01;
/// No packet from the real server has been seen yet (IPVS's NOOUTPUT: INPUT-ONLY state table).
pub const CONN_F_NO_OUTPUT: u8 = 0x02;
/// A packet from the real server has been seen (whatever the method): a client's SYN again
/// before it is no longer passive health evidence.
pub const CONN_F_REPLIED: u8 = 0x04;

impl Conn {
    const EMPTY: Conn = Conn {
        cip: Ipv4Addr::UNSPECIFIED,
        vip: Ipv4Addr::UNSPECIFIED,
        lip: Ipv4Addr::UNSPECIFIED,
        rip: Ipv4Addr::UNSPECIFIED,
        cport: 0,
        vport: 0,
        lport: 0,
        rport: 0,
        expires: 0,
        dest: DestId(0),
        proto: Protocol::Tcp,
        state: 0,
        flags: 0,
        method: FwdMethod::FullNat,
        tmpl: NO_TEMPLATE,
        tally: u32::MAX,
    };

    /// The flow key of packets travelling in `dir`.
    #[inline]
    pub fn key(&self, dir: Dir) -> FlowKey {
        match dir {
            Dir::In => {
                FlowKey { src: self.cip, dst: self.vip, sport: self.cport, dport: self.vport, proto: self.proto }
            }
            Dir::Out => {
                FlowKey { src: self.rip, dst: self.lip, sport: self.rport, dport: self.lport, proto: self.proto }
            }
        }
    }

    /// Whether the entry holds a connection.
    #[inline]
    pub fn is_used(&self) -> bool {
        self.flags & CONN_F_USED != 0
    }
}

/// Largest supported capacity (the index entry packs `index << 1 | dir` into 32 bits).
pub const MAX_CAPACITY: usize = 1 << 30;

/// Why a connection could not be inserted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableFull;

/// A bounded connection table owned by one worker.
#[derive(Debug)]
pub struct ConnTable {
    conns: Box<[Conn]>,
    free: Vec<ConnIdx>,
    slots: Box<[Slot]>,
    mask: usize,
    seed: [u64; 2],
    sweep: usize,
}

impl ConnTable {
    /// A table for at most `capacity` connections (1 ..= [`MAX_CAPACITY`]), with a random hash seed.
    pub fn new(capacity: usize) -> Self {
        let rs = RandomState::new();
        let mut a = rs.build_hasher();
        a.write_u64(0x6a09_e667_f3bc_c908);
        let mut b = rs.build_hasher();
        b.write_u64(0xbb67_ae85_84ca_a73b);
        Self::with_seed(capacity, [a.finish(), b.finish()])
    }

    /// A table with a fixed hash seed (deterministic tests and benchmarks).
    pub fn with_seed(capacity: usize, seed: [u64; 2]) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let slots = (capacity * 4).next_power_of_two();
        // Free indices are popped from the back: lowest index first.
        let free = (0..capacity).rev().map(|i| ConnIdx::try_from(i).unwrap_or(0)).collect();
        Self {
            conns: vec![Conn::EMPTY; capacity].into_boxed_slice(),
            free,
            slots: vec![EMPTY_SLOT; slots].into_boxed_slice(),
            mask: slots - 1,
            seed,
            sweep: 0,
        }
    }

    /// The most connections the table holds.
    pub fn capacity(&self) -> usize {
        self.conns.len()
    }

    /// Connections in the table (expired ones not yet removed included).
    pub fn len(&self) -> usize {
        self.conns.len() - self.free.len()
    }

    /// Whether the table holds no connection.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes of memory the table holds per connection it can store (entry plus index slots).
    pub fn bytes_per_conn(&self) -> usize {
        let total = std::mem::size_of_val(&*self.conns)
            + std::mem::size_of_val(&*self.slots)
            + self.free.capacity() * std::mem::size_of::<ConnIdx>();
        total / self.conns.len()
    }

    // Folding the 64-bit mix to the 32 bits a slot keeps is intended.
    #[allow(clippy::cast_possible_truncation)]
    #[inline]
    fn hash(&self, k: &FlowKey) -> u32 {
        let a = (u64::from(u32::from(k.src)) << 32) | u64::from(u32::from(k.dst));
        let b = (u64::from(k.sport) << 32) | (u64::from(k.dport) << 16) | u64::from(k.proto as u8);
        let p = u128::from(a ^ self.seed[0]) * u128::from(b ^ self.seed[1]);
        let h = (p as u64) ^ ((p >> 64) as u64);
        (h ^ (h >> 32)) as u32
    }

    /// The hash the index keeps for `key` (what [`ConnTable::lookup_hashed`] takes).
    #[inline]
    pub fn hash_of(&self, key: &FlowKey) -> u32 {
        self.hash(key)
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    /// First stage of a burst's lookups: starts loading the index slot where `key`'s search
    /// begins, and returns the hash for [`ConnTable::prefetch_conn`].
    #[inline]
    pub fn prefetch_slot(&self, key: &FlowKey) -> u32 {
        let h = self.hash(key);
        crate::prefetch::read(&self.slots[self.home(h)]);
        h
    }

    /// Second stage: once the slot is loaded, starts loading the connection of the first of the
    /// next few slots (eight share a cache line) whose hash matches. A 48-byte entry may straddle
    /// two cache lines: both are asked for.
    #[inline]
    pub fn prefetch_conn(&self, hash: u32) {
        let mut i = self.home(hash);
        for _ in 0..4 {
            let s = self.slots[i];
            if s.entry == EMPTY {
                return;
            }
            if s.hash == hash {
                let c = &self.conns[(s.entry >> 1) as usize];
                crate::prefetch::read(c);
                crate::prefetch::read(&c.tally);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The connection a packet with flow `key` belongs to, and the direction it travels in.
    /// The entry may have expired: check [`ConnTable::is_expired`].
    #[inline]
    pub fn lookup(&self, key: &FlowKey) -> Option<(ConnIdx, Dir)> {
        self.lookup_hashed(key, self.hash(key))
    }

    /// [`ConnTable::lookup`] with `key`'s hash already computed, as [`ConnTable::prefetch_slot`]
    /// returned it (the burst's prefetch): the hash is computed once per packet.
    #[inline]
    pub fn lookup_hashed(&self, key: &FlowKey, h: u32) -> Option<(ConnIdx, Dir)> {
        debug_assert_eq!(h, self.hash(key), "a hash of another key or table");
        let mut i = self.home(h);
        loop {
            let s = self.slots[i];
            if s.entry == EMPTY {
                return None;
            }
            if s.hash == h {
                let idx = s.entry >> 1;
                let dir = if s.entry & 1 == 0 { Dir::In } else { Dir::Out };
                if self.conns[idx as usize].key(dir) == *key {
                    return Some((idx, dir));
                }
            }
            i = (i + 1) & self.mask;
        }
    }

    /// The connection at `idx`.
    #[inline]
    pub fn get(&self, idx: ConnIdx) -> &Conn {
        &self.conns[idx as usize]
    }

    /// The connection at `idx`, for state and expiry updates. Its flow keys must not change.
    #[inline]
    pub fn get_mut(&mut self, idx: ConnIdx) -> &mut Conn {
        &mut self.conns[idx as usize]
    }

    /// Whether the connection at `idx` has expired at `now`.
    #[inline]
    pub fn is_expired(&self, idx: ConnIdx, now: u64) -> bool {
        self.conns[idx as usize].expires <= now
    }

    /// Inserts a connection and indexes both of its flow keys. The caller guarantees that neither key
    /// is in the table already (it looked them up, and local ports are owned by one connection).
    pub fn insert(&mut self, mut conn: Conn) -> Result<ConnIdx, TableFull> {
        let idx = self.free.pop().ok_or(TableFull)?;
        conn.flags |= CONN_F_USED;
        self.conns[idx as usize] = conn;
        for dir in [Dir::In, Dir::Out] {
            let h = self.hash(&conn.key(dir));
            let mut i = self.home(h);
            while self.slots[i].entry != EMPTY {
                i = (i + 1) & self.mask;
            }
            self.slots[i] = Slot { hash: h, entry: (idx << 1) | dir as u32 };
        }
        Ok(idx)
    }

    /// Removes the connection at `idx` and returns it. Removing a free entry returns `None`.
    pub fn remove(&mut self, idx: ConnIdx) -> Option<Conn> {
        let conn = *self.conns.get(idx as usize)?;
        if !conn.is_used() {
            return None;
        }
        for dir in [Dir::In, Dir::Out] {
            let h = self.hash(&conn.key(dir));
            let entry = (idx << 1) | dir as u32;
            let mut i = self.home(h);
            while self.slots[i].entry != entry {
                debug_assert_ne!(self.slots[i].entry, EMPTY, "indexed connection missing from index");
                if self.slots[i].entry == EMPTY {
                    break;
                }
                i = (i + 1) & self.mask;
            }
            if self.slots[i].entry == entry {
                self.delete_slot(i);
            }
        }
        self.conns[idx as usize] = Conn::EMPTY;
        self.free.push(idx);
        Some(conn)
    }

    fn delete_slot(&mut self, hole: usize) {
        probe::delete(&mut self.slots, self.mask, hole);
    }

    /// Examines up to `budget` entries from where the last sweep stopped, removes those expired at
    /// `now` and hands each removed connection to `on_expire` (to release its local port). Returns the
    /// number removed.
    pub fn expire(&mut self, now: u64, budget: usize, mut on_expire: impl FnMut(&Conn)) -> usize {
        let n = self.conns.len();
        let mut removed = 0;
        for _ in 0..budget.min(n) {
            self.sweep = if self.sweep + 1 >= n { 0 } else { self.sweep + 1 };
            let c = &self.conns[self.sweep];
            if c.is_used() && c.expires <= now {
                let idx = ConnIdx::try_from(self.sweep).unwrap_or(ConnIdx::MAX);
                if let Some(conn) = self.remove(idx) {
                    on_expire(&conn);
                    removed += 1;
                }
            }
        }
        removed
    }

    /// The connection in entry `i` of the slab, if that entry is in use (a listing walks the slab
    /// from 0 to [`ConnTable::capacity`] a bounded stretch at a time).
    #[inline]
    pub fn used_at(&self, i: usize) -> Option<&Conn> {
        self.conns.get(i).filter(|c| c.is_used())
    }

    /// All connections in the table, with their indices.
    pub fn iter(&self) -> impl Iterator<Item = (ConnIdx, &Conn)> {
        self.conns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_used())
            .map(|(i, c)| (ConnIdx::try_from(i).unwrap_or(ConnIdx::MAX), c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn(client: u32, cport: u16, lport: u16, expires: u64) -> Conn {
        Conn {
            cip: Ipv4Addr::from(0x0a00_0000 + client),
            vip: Ipv4Addr::new(10, 0, 0, 100),
            lip: Ipv4Addr::new(10, 1, 0, 10),
            rip: Ipv4Addr::new(10, 1, 0, 2),
            cport,
            vport: 80,
            lport,
            rport: 8080,
            expires,
            dest: DestId(7),
            proto: Protocol::Tcp,
            state: 0,
            flags: 0,
            method: FwdMethod::FullNat,
            tmpl: NO_TEMPLATE,
            tally: u32::MAX,
        }
    }

    #[test]
    fn both_directions_find_the_connection() {
        let mut t = ConnTable::with_seed(16, [1, 2]);
        let c = conn(1, 40000, 2000, 100);
        let idx = t.insert(c).unwrap();
        for dir in [Dir::In, Dir::Out] {
            let h = t.prefetch_slot(&c.key(dir));
            assert_eq!(t.lookup_hashed(&c.key(dir), h), Some((idx, dir)), "by the prefetch's hash");
        }
        assert_eq!(t.lookup(&c.key(Dir::In)), Some((idx, Dir::In)));
        assert_eq!(t.lookup(&c.key(Dir::Out)), Some((idx, Dir::Out)));
        let mut other = c.key(Dir::In);
        other.sport += 1;
        assert_eq!(t.lookup(&other), None);
        let udp = FlowKey { proto: Protocol::Udp, ..c.key(Dir::In) };
        assert_eq!(t.lookup(&udp), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn table_is_bounded() {
        let mut t = ConnTable::with_seed(3, [1, 2]);
        for i in 0..3 {
            t.insert(conn(i, 1000, 2000 + u16::try_from(i).unwrap(), 10)).unwrap();
        }
        assert_eq!(t.insert(conn(9, 1000, 3000, 10)), Err(TableFull));
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn removal_keeps_colliding_entries_reachable() {
        // A tiny table with a fixed seed: many keys share probe runs, so backward shifts happen.
        let mut t = ConnTable::with_seed(64, [3, 4]);
        let conns: Vec<Conn> =
            (0..64).map(|i| conn(i, 1024 + u16::try_from(i).unwrap(), 5000 + u16::try_from(i).unwrap(), 10)).collect();
        let idx: Vec<ConnIdx> = conns.iter().map(|c| t.insert(*c).unwrap()).collect();
        for (k, i) in idx.iter().enumerate().filter(|(k, _)| k % 3 == 0) {
            assert_eq!(t.remove(*i), Some(Conn { flags: CONN_F_USED, ..conns[k] }));
        }
        for (k, c) in conns.iter().enumerate() {
            let want = if k % 3 == 0 { None } else { Some(idx[k]) };
            assert_eq!(t.lookup(&c.key(Dir::In)).map(|x| x.0), want, "in {k}");
            assert_eq!(t.lookup(&c.key(Dir::Out)).map(|x| x.0), want, "out {k}");
        }
        assert_eq!(t.remove(idx[0]), None, "double remove");
    }

    #[test]
    fn expiry_follows_now() {
        let mut t = ConnTable::with_seed(8, [5, 6]);
        let a = t.insert(conn(1, 1, 1, 100)).unwrap();
        let b = t.insert(conn(2, 2, 2, 200)).unwrap();
        assert!(!t.is_expired(a, 99));
        assert!(t.is_expired(a, 100));
        let mut released = Vec::new();
        assert_eq!(t.expire(150, 8, |c| released.push(c.lport)), 1);
        assert_eq!(released, vec![1]);
        assert_eq!(t.lookup(&conn(1, 1, 1, 0).key(Dir::In)), None);
        assert_eq!(t.lookup(&conn(2, 2, 2, 0).key(Dir::In)).map(|x| x.0), Some(b));
        assert_eq!(t.expire(1000, 8, |_| {}), 1);
        assert!(t.is_empty());
    }

    #[test]
    fn sweep_budget_bounds_work() {
        let mut t = ConnTable::with_seed(100, [7, 8]);
        for i in 0..100 {
            t.insert(conn(i, 1, u16::try_from(i).unwrap(), 5)).unwrap();
        }
        assert_eq!(t.expire(10, 30, |_| {}), 30);
        assert_eq!(t.len(), 70);
        let mut total = 30;
        while total < 100 {
            total += t.expire(10, 30, |_| {});
        }
        assert!(t.is_empty());
    }

    #[test]
    fn memory_per_connection_is_small() {
        let t = ConnTable::with_seed(1 << 16, [0, 0]);
        assert_eq!(std::mem::size_of::<Conn>(), 48);
        assert!(t.bytes_per_conn() <= 128, "{} bytes per connection", t.bytes_per_conn());
    }
}
