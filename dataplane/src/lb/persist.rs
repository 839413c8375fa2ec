//! IPVS persistence templates, gateway-wide.
//!
//! A persistent service (`-p`) sends every new connection of a client to the real server the
//! client's earlier connections went to. IPVS remembers that choice in a connection *template*:
//! key (protocol, client address masked by the service's netmask, VIP, virtual port; the port is 0
//! for a port-0 service, which spans every port of its VIP) -> real server. The template lives
//! while connections use it ("controls" them, in IPVS's words) and for the service's timeout after
//! the last one ends; then the client is scheduled afresh.
//!
//! RSS spreads one client's connections over the workers (it hashes the 4-tuple, not the client
//! address), so the templates cannot be per core: [`Templates`] is one table for the whole gateway,
//! created once when fnatd starts and shared by every worker and the main lcore through an `Arc`.
//! Templates are state, not configuration: they survive configuration snapshots.
//!
//! # Locking: a deliberate exception
//!
//! The table is split into [`SHARDS`] shards by a keyed hash of the template key, each a
//! `std::sync::Mutex` around a preallocated open-addressing table (a slab of entries and an index
//! with linear probing, load at most 1/2, backward-shift deletion). This is the one place where the
//! packet path takes a lock. It does so only when a connection of a *persistent* service is opened
//! ([`Templates::acquire`]) and when such a connection ends ([`Templates::release`]) - never for a
//! packet of an established connection, which finds its real server in the worker's own connection
//! table. The critical sections are short (a probe, the scheduler's pick for a new client, a few
//! stores), nothing allocates or panics under a lock, and with 64 shards two workers rarely want the
//! same one. IPVS does the same: its connection and template hash tables are protected by locks
//! taken on connection setup and teardown.
//!
//! A connection holds a [`TmplHandle`] (slab position and shard) to its template and releases it
//! exactly once when it is removed. An entry is never removed while connections hold it, so a
//! handle stays valid: a template invalidated by a configuration change (its service or real server
//! deleted, see [`Templates::retain`]) loses its real server but stays until its last connection
//! ends, as IPVS keeps an invalidated template for the connections it controls. When a shard is
//! full, its expired entries are dropped first; if none is expired, [`Templates::acquire`] reports
//! [`Acquired::Untracked`] and the caller schedules without a template.
//!
//! Time is the caller's `now` (milliseconds on the clock all workers share). The main lcore frees
//! expired, unused entries with [`Templates::sweep`], a bounded number per call.

use std::collections::hash_map::RandomState;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::net::Ipv4Addr;
use std::sync::{Mutex, MutexGuard, PoisonError};

use super::probe::{self, EMPTY, EMPTY_SLOT, Slot};
use super::service::{DestId, FwdMethod, Protocol, RealServer, ServiceKey};

/// Shards of the table (a power of two).
pub const SHARDS: usize = 64;
const SHARD_BITS: u32 = SHARDS.trailing_zeros();
const SHARD_MASK: u32 = (1 << SHARD_BITS) - 1;
/// The most entries one shard holds (its positions must fit in a handle).
const MAX_PER_SHARD: usize = 1 << 25;
/// Entries the sweep examines per lock acquisition.
const SWEEP_CHUNK: usize = 256;

/// What a template is found by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TemplateKey {
    /// The service's protocol.
    pub proto: Protocol,
    /// The client's address masked by the service's netmask.
    pub client: Ipv4Addr,
    /// The virtual address.
    pub vip: Ipv4Addr,
    /// The service's port: 0 for a port-0 service (one template across every port of the VIP).
    pub vport: u16,
    /// The firewall mark of a fwmark service (then `proto` is TCP, `vip` 0.0.0.0 and `vport` 0: one
    /// template across the ports and protocols of the mark); 0 otherwise.
    pub fwmark: u32,
}

impl TemplateKey {
    /// The key of a fwmark service's templates, before its client is set.
    pub fn mark(fwmark: u32) -> Self {
        Self { proto: Protocol::Tcp, client: Ipv4Addr::UNSPECIFIED, vip: Ipv4Addr::UNSPECIFIED, vport: 0, fwmark }
    }

    /// The template of service `svc` for `client` (already masked by the service's netmask), whose
    /// connection is `proto` to `vip`: for a fwmark service one template per mark and client,
    /// across the mark's ports and protocols (IPVS's PFWMC); else per protocol, VIP and the
    /// service's port (0 for a port-0 service).
    pub fn for_service(svc: &ServiceKey, proto: Protocol, client: Ipv4Addr, vip: Ipv4Addr) -> Self {
        if svc.is_mark() {
            Self { client, ..Self::mark(svc.fwmark) }
        } else {
            Self { proto, client, vip, vport: svc.vport, fwmark: 0 }
        }
    }
}

/// The real server a template sends its client to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateDest {
    /// The real server's identity.
    pub id: DestId,
    /// Its address.
    pub addr: Ipv4Addr,
    /// Its port; 0 for a port-0 service (each connection keeps its own port), as IPVS lists it.
    pub port: u16,
    /// Its forwarding method when the template was bound (for listings).
    pub method: FwdMethod,
}

impl From<&RealServer> for TemplateDest {
    fn from(d: &RealServer) -> Self {
        Self { id: d.id, addr: d.addr, port: d.port, method: d.method }
    }
}

/// A connection's reference to its template: [`NO_TEMPLATE`] or a position in the table.
pub type TmplHandle = u32;
/// The handle of a connection without a template.
pub const NO_TEMPLATE: TmplHandle = 0;

/// What the caller decides when it sees the live template (or none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pick<T> {
    /// Follow the live template.
    Keep(T),
    /// (Re)bind the template to this real server.
    Bind(TemplateDest, T),
    /// No real server is available: nothing changes.
    None,
}

/// The outcome of [`Templates::acquire`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Acquired<T> {
    /// The connection uses the template behind this handle; release it when the connection ends.
    Bound(TmplHandle, T),
    /// The caller's choice stands, but the table had no room for a template (counted by the caller).
    Untracked(T),
    /// The caller found no real server.
    None,
}

/// A template as listings show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TemplateInfo {
    /// Its key.
    pub key: TemplateKey,
    /// Its real server.
    pub dest: TemplateDest,
    /// Connections using it.
    pub conns: u32,
    /// Milliseconds until it expires: from its last use while connections use it (IPVS re-arms a
    /// template's timer, a timeout at a time, while it controls connections), from the end of its
    /// last connection otherwise.
    pub expire_ms: u64,
}

/// Where [`Templates::sweep`] goes on from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepCursor {
    shard: usize,
    idx: usize,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    key: TemplateKey,
    /// `None` once invalidated: the entry only waits for its connections to end.
    dest: Option<TemplateDest>,
    conns: u32,
    used: bool,
    /// The key's hash in the shard's index.
    hash: u32,
    timeout: u64,
    /// While unused: when it expires. While used: its last use plus the timeout.
    expires: u64,
}

const EMPTY_ENTRY: Entry = Entry {
    key: TemplateKey {
        proto: Protocol::Tcp,
        client: Ipv4Addr::UNSPECIFIED,
        vip: Ipv4Addr::UNSPECIFIED,
        vport: 0,
        fwmark: 0,
    },
    dest: None,
    conns: 0,
    used: false,
    hash: 0,
    timeout: 0,
    expires: 0,
};

impl Entry {
    /// The real server, if the template is alive at `now`.
    #[inline]
    fn live(&self, now: u64) -> Option<&TemplateDest> {
        if self.used && (self.conns > 0 || self.expires > now) { self.dest.as_ref() } else { None }
    }

    /// Whether nothing keeps the entry any more: no connection, and expired or invalidated.
    #[inline]
    fn is_dead(&self, now: u64) -> bool {
        self.used && self.conns == 0 && (self.expires <= now || self.dest.is_none())
    }
}

/// One shard: a slab of entries with a free list and an open-addressing index.
struct Shard {
    entries: Box<[Entry]>,
    free: Vec<u32>,
    slots: Box<[Slot]>,
    mask: usize,
    /// No entry can be dead before this time (the earliest expiry of an unused entry, as far as
    /// the shard knows): a full shard is scanned for dead entries only from then on, so a shard
    /// full of live templates costs no scan per new client.
    purge_after: u64,
}

impl Shard {
    fn new(capacity: usize) -> Self {
        let slots = (capacity * 2).next_power_of_two();
        Self {
            entries: vec![EMPTY_ENTRY; capacity].into_boxed_slice(),
            free: (0..capacity).rev().map(|i| u32::try_from(i).unwrap_or(EMPTY)).collect(),
            slots: vec![EMPTY_SLOT; slots].into_boxed_slice(),
            mask: slots - 1,
            purge_after: 0,
        }
    }

    #[inline]
    fn home(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    fn find(&self, key: &TemplateKey, hash: u32) -> Option<usize> {
        let mut i = self.home(hash);
        loop {
            let s = self.slots[i];
            if s.entry == EMPTY {
                return None;
            }
            if s.hash == hash && self.entries[s.entry as usize].key == *key {
                return Some(s.entry as usize);
            }
            i = (i + 1) & self.mask;
        }
    }

    fn insert(&mut self, key: TemplateKey, hash: u32, entry: Entry) -> Option<usize> {
        let idx = self.free.pop()?;
        self.entries[idx as usize] = Entry { key, used: true, hash, ..entry };
        let mut i = self.home(hash);
        while self.slots[i].entry != EMPTY {
            i = (i + 1) & self.mask;
        }
        self.slots[i] = Slot { hash, entry: idx };
        Some(idx as usize)
    }

    fn remove(&mut self, idx: usize) {
        let Some(e) = self.entries.get(idx).copied().filter(|e| e.used) else {
            return;
        };
        let Ok(entry) = u32::try_from(idx) else {
            return;
        };
        let mut hole = self.home(e.hash);
        while self.slots[hole].entry != entry {
            debug_assert_ne!(self.slots[hole].entry, EMPTY, "template missing from its index");
            if self.slots[hole].entry == EMPTY {
                break;
            }
            hole = (hole + 1) & self.mask;
        }
        if self.slots[hole].entry == entry {
            probe::delete(&mut self.slots, self.mask, hole);
        }
        self.entries[idx] = EMPTY_ENTRY;
        self.free.push(entry);
    }

    /// Drops every dead entry, unless none can be dead yet; returns how many it dropped.
    fn purge(&mut self, now: u64) -> usize {
        if now < self.purge_after {
            return 0;
        }
        let mut n = 0;
        let mut next = u64::MAX;
        for i in 0..self.entries.len() {
            let e = &self.entries[i];
            if e.is_dead(now) {
                self.remove(i);
                n += 1;
            } else if e.used && e.conns == 0 {
                next = next.min(e.expires);
            }
        }
        self.purge_after = next;
        n
    }
}

/// The gateway's persistence templates; see the module documentation.
pub struct Templates {
    shards: Box<[Mutex<Shard>]>,
    per_shard: usize,
    seed: [u64; 2],
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates").field("capacity", &self.capacity()).finish_non_exhaustive()
    }
}

impl Templates {
    /// A table for about `capacity` templates (at least one per shard), with a random hash seed.
    pub fn new(capacity: usize) -> Self {
        let rs = RandomState::new();
        let mut a = rs.build_hasher();
        a.write_u64(0x3c6e_f372_fe94_f82b);
        let mut b = rs.build_hasher();
        b.write_u64(0xa54f_f53a_5f1d_36f1);
        Self::with_seed(capacity, [a.finish(), b.finish()])
    }

    /// The same with a fixed hash seed (deterministic tests).
    pub fn with_seed(capacity: usize, seed: [u64; 2]) -> Self {
        let per_shard = capacity.div_ceil(SHARDS).clamp(1, MAX_PER_SHARD);
        let shards = (0..SHARDS).map(|_| Mutex::new(Shard::new(per_shard))).collect();
        Self { shards, per_shard, seed }
    }

    /// The most templates the table holds.
    pub fn capacity(&self) -> usize {
        self.per_shard * SHARDS
    }

    // Folding the 128-bit product to 64 bits is intended.
    #[allow(clippy::cast_possible_truncation)]
    #[inline]
    fn hash(&self, k: &TemplateKey) -> u64 {
        // Every field has bits of its own in (a, b), so distinct keys give distinct operands: the
        // client and the VIP in a, the mark, the port and the protocol in b (the constant keeps b
        // odd). A mark OR-ed into the client's half would merge clients that differ only in bits
        // the mark's mix sets.
        let a = (u64::from(u32::from(k.client)) << 32) | u64::from(u32::from(k.vip));
        let b = (u64::from(k.fwmark) << 32) | (u64::from(k.vport) << 16) | (u64::from(k.proto as u8) << 8) | 1;
        let p = u128::from(a ^ self.seed[0]) * u128::from(b ^ self.seed[1]);
        (p as u64) ^ ((p >> 64) as u64)
    }

    /// The shard of a hash (its top bits) and the hash the shard's index uses (its low bits).
    #[allow(clippy::cast_possible_truncation)]
    #[inline]
    fn split(h: u64) -> (usize, u32) {
        ((h >> (64 - SHARD_BITS)) as usize, h as u32)
    }

    #[inline]
    fn lock(&self, shard: usize) -> MutexGuard<'_, Shard> {
        // A worker never panics while holding a shard (and fnatd aborts on panic), so a poisoned
        // lock still guards a consistent shard.
        self.shards[shard].lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The shard a key lands in.
    pub fn shard_of(&self, key: &TemplateKey) -> usize {
        Self::split(self.hash(key)).0
    }

    #[allow(clippy::cast_possible_truncation)]
    fn handle(shard: usize, idx: usize) -> TmplHandle {
        ((idx as u32) << SHARD_BITS | shard as u32) + 1
    }

    fn unhandle(h: TmplHandle) -> Option<(usize, usize)> {
        let x = h.checked_sub(1)?;
        Some(((x & SHARD_MASK) as usize, (x >> SHARD_BITS) as usize))
    }

    /// A new connection of a persistent service: shows `pick` the live template of `key` (or none)
    /// and does what it decides, under the key's shard lock (so two workers opening connections for
    /// the same client agree). `Keep` takes a reference on the template; `Bind` points the template
    /// (a new one, or the existing one, alive or not) at the given real server and takes a
    /// reference. Either way the template's expiry moves to `now + timeout_ms`.
    pub fn acquire<T>(
        &self,
        key: &TemplateKey,
        now: u64,
        timeout_ms: u64,
        pick: impl FnOnce(Option<&TemplateDest>) -> Pick<T>,
    ) -> Acquired<T> {
        let (shard, hash) = Self::split(self.hash(key));
        let mut g = self.lock(shard);
        let found = g.find(key, hash);
        let live = found.and_then(|i| g.entries[i].live(now).copied());
        let expires = now.saturating_add(timeout_ms);
        let (dest, value) = match pick(live.as_ref()) {
            Pick::None => return Acquired::None,
            Pick::Keep(v) => match live {
                Some(d) => (d, v),
                None => return Acquired::Untracked(v),
            },
            Pick::Bind(d, v) => (d, v),
        };
        let idx = match found {
            Some(i) => i,
            None => {
                if g.free.is_empty() {
                    g.purge(now);
                }
                let fresh = Entry { dest: None, conns: 0, timeout: timeout_ms, expires, ..EMPTY_ENTRY };
                match g.insert(*key, hash, fresh) {
                    Some(i) => i,
                    None => return Acquired::Untracked(value),
                }
            }
        };
        let e = &mut g.entries[idx];
        e.dest = Some(dest);
        e.conns = e.conns.saturating_add(1);
        e.timeout = timeout_ms;
        e.expires = e.expires.max(expires);
        Acquired::Bound(Self::handle(shard, idx), value)
    }

    /// A connection holding `handle` ended at `now` (for a connection removed after it expired:
    /// when it expired): the template loses a reference, and when it was the last one, it expires
    /// its timeout after the latest end (an invalidated template goes at once). [`NO_TEMPLATE`] is
    /// ignored.
    pub fn release(&self, handle: TmplHandle, now: u64) {
        let Some((shard, idx)) = Self::unhandle(handle).filter(|&(s, _)| s < self.shards.len()) else {
            return;
        };
        let mut g = self.lock(shard);
        let Some(e) = g.entries.get_mut(idx).filter(|e| e.used) else {
            return;
        };
        e.conns = e.conns.saturating_sub(1);
        // Connections may be removed out of order (a worker's sweep finds an expired one late):
        // the template lives for the timeout after the latest end.
        e.expires = e.expires.max(now.saturating_add(e.timeout));
        if e.conns == 0 {
            let expires = e.expires;
            if e.dest.is_none() {
                g.remove(idx);
            } else {
                g.purge_after = g.purge_after.min(expires);
            }
        }
    }

    /// Examines up to `budget` entries from `cursor` on, removing those that are expired and unused
    /// (a shard's lock is held for at most a few hundred entries at a time). Returns how many it
    /// removed.
    pub fn sweep(&self, cursor: &mut SweepCursor, now: u64, budget: usize) -> usize {
        let mut left = budget;
        let mut removed = 0;
        while left > 0 {
            let shard = cursor.shard % SHARDS;
            let start = cursor.idx.min(self.per_shard);
            let end = (start + left.min(SWEEP_CHUNK)).min(self.per_shard);
            let mut g = self.lock(shard);
            for i in start..end {
                if g.entries[i].is_dead(now) {
                    g.remove(i);
                    removed += 1;
                }
            }
            drop(g);
            left = left.saturating_sub((end - start).max(1));
            *cursor = if end >= self.per_shard {
                SweepCursor { shard: (shard + 1) % SHARDS, idx: 0 }
            } else {
                SweepCursor { shard, idx: end }
            };
        }
        removed
    }

    /// Invalidates every template for which `keep` (given its key and real server) says no: after a
    /// configuration change, the templates of deleted services and real servers. An invalidated
    /// template is found no more; it is removed at once when no connection uses it, and otherwise
    /// when its last connection ends. Returns how many it invalidated.
    pub fn retain(&self, mut keep: impl FnMut(&TemplateKey, &TemplateDest) -> bool) -> usize {
        let mut n = 0;
        for shard in 0..SHARDS {
            let mut g = self.lock(shard);
            for i in 0..g.entries.len() {
                let e = g.entries[i];
                let Some(d) = e.dest.filter(|_| e.used) else { continue };
                if !keep(&e.key, &d) {
                    n += 1;
                    if e.conns == 0 {
                        g.remove(i);
                    } else {
                        g.entries[i].dest = None;
                    }
                }
            }
        }
        n
    }

    /// Hands every live template to `f` until `f` returns false. Each shard's live templates are
    /// copied out under its lock into a buffer sized once, and `f` runs with no lock held.
    pub fn for_each(&self, now: u64, mut f: impl FnMut(TemplateInfo) -> bool) {
        let mut buf: Vec<TemplateInfo> = Vec::with_capacity(self.per_shard);
        for shard in 0..SHARDS {
            buf.clear();
            let g = self.lock(shard);
            for e in g.entries.iter() {
                let Some(dest) = e.live(now).copied() else { continue };
                let expire_ms = if e.expires > now {
                    e.expires - now
                } else {
                    // Re-armed a timeout at a time since it expired with connections.
                    e.timeout.max(1) - (now - e.expires) % e.timeout.max(1)
                };
                buf.push(TemplateInfo { key: e.key, dest, conns: e.conns, expire_ms });
            }
            drop(g);
            for t in buf.drain(..) {
                if !f(t) {
                    return;
                }
            }
        }
    }

    /// The template behind a handle, if it is alive at `now`.
    pub fn get(&self, handle: TmplHandle, now: u64) -> Option<TemplateInfo> {
        let (shard, idx) = Self::unhandle(handle).filter(|&(s, _)| s < self.shards.len())?;
        let g = self.lock(shard);
        let e = g.entries.get(idx)?;
        let dest = e.live(now).copied()?;
        Some(TemplateInfo { key: e.key, dest, conns: e.conns, expire_ms: e.expires.saturating_sub(now) })
    }

    /// Entries held (live, invalidated ones waiting for their connections, and expired ones not
    /// swept yet).
    pub fn len(&self) -> usize {
        (0..SHARDS).map(|s| self.per_shard - self.lock(s).free.len()).sum()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
#[path = "persist_tests.rs"]
mod tests;
