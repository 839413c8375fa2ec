//! The table of lblc and lblcr: destination address -> what the scheduler remembers for it, with
//! the kernel's expiry (ip_vs_lblc.c / ip_vs_lblcr.c `check_expire` and `full_check`) driven by the
//! caller's clock, and a hard bound on its size.
//!
//! The kernel runs a timer every minute. Every 30th run (a half hour without pressure) is a full
//! check that drops entries unused for `lblc_expiration` (24 h). Other runs do nothing unless the
//! table holds more than `max_size` (16,384) entries: then entries unused for 6 minutes are dropped
//! until the excess, times 4/3, is gone (at most `max_size / 2`). Here the runs are due at the same
//! minutes of `now` (the first a minute after the first decision) and happen at the next decision;
//! missed runs are replayed at their own times, at most [`MAX_CATCHUP`] of them (the latest ones)
//! after a long silence. A pressure run stops at its goal entry by entry where the kernel finishes
//! a bucket.
//!
//! Bound: the kernel stops remembering new addresses past `max_size + 1` entries. Here the table
//! holds up to [`MAX_ENTRIES`] (twice `max_size`) and then makes room by evicting up to
//! [`EVICT_BATCH`] of its stalest entries (those last used in the oldest eighth of the table's
//! span of last uses), one pass over the table. The map's capacity ([`RESERVED`]) is reserved when
//! the table is built; hashbrown rehashes in place (without allocating) while the entries stay
//! under half of that capacity, which [`MAX_ENTRIES`] guarantees, so a decision never allocates.

use std::collections::HashMap;
use std::fmt;
use std::net::Ipv4Addr;

/// The timer's period (`CHECK_EXPIRE_INTERVAL`), ms.
const CHECK_INTERVAL: u64 = 60_000;
/// Under pressure, entries unused this long go (`ENTRY_TIMEOUT`), ms.
const ENTRY_TIMEOUT: u64 = 6 * 60_000;
/// The full check drops entries unused this long (`DEFAULT_EXPIRATION`, sysctl
/// `lblc_expiration`/`lblcr_expiration`), ms; lblcr also shrinks a set unchanged this long.
pub(super) const EXPIRATION: u64 = 24 * 60 * 60_000;
/// Every this many runs is a full check (`COUNT_FOR_FULL_EXPIRATION`).
const COUNT_FOR_FULL: u32 = 30;
/// Above this many entries the table is under pressure (the kernel's `max_size`: 1024 buckets * 16).
const MAX_SIZE: usize = 16_384;
/// The most entries the table holds.
pub(super) const MAX_ENTRIES: usize = 2 * MAX_SIZE;
/// The capacity reserved at construction: twice [`MAX_ENTRIES`], so that rehashing never allocates.
const RESERVED: usize = 2 * MAX_ENTRIES;
/// The most entries one eviction pass removes.
const EVICT_BATCH: usize = MAX_ENTRIES / 16;
/// The most missed timer runs replayed at one decision.
const MAX_CATCHUP: u64 = 32;

/// What the table remembers for one destination address.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry<V> {
    /// When a decision last looked it up, ms.
    pub(super) lastuse: u64,
    /// The scheduler's data.
    pub(super) value: V,
}

/// Destination address -> entry, bounded and expiring.
#[derive(Clone)]
pub(super) struct Table<V> {
    map: HashMap<Ipv4Addr, Entry<V>>,
    /// When the timer runs next (`None` before the first decision).
    next_check: Option<u64>,
    /// Runs since the last full check, from 1 (`tbl->counter`).
    counter: u32,
}

impl<V> fmt::Debug for Table<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("entries", &self.map.len())
            .field("next_check", &self.next_check)
            .field("counter", &self.counter)
            .finish()
    }
}

impl<V> Table<V> {
    /// An empty table with its whole capacity reserved.
    pub(super) fn new() -> Self {
        Self { map: HashMap::with_capacity(RESERVED), next_check: None, counter: 1 }
    }

    /// Runs the timer runs due by `now`.
    pub(super) fn expire(&mut self, now: u64) {
        let mut next = *self.next_check.get_or_insert(now.saturating_add(CHECK_INTERVAL));
        if now >= next {
            let due = (now - next) / CHECK_INTERVAL + 1;
            if due > MAX_CATCHUP {
                next += (due - MAX_CATCHUP) * CHECK_INTERVAL;
            }
            while now >= next {
                self.check_expire(next);
                next += CHECK_INTERVAL;
            }
        }
        self.next_check = Some(next);
    }

    /// One timer run at time `t` (`ip_vs_lblc_check_expire`).
    fn check_expire(&mut self, t: u64) {
        if self.counter.is_multiple_of(COUNT_FOR_FULL) {
            self.map.retain(|_, e| t < e.lastuse.saturating_add(EXPIRATION));
            self.counter = 1;
            return;
        }
        if self.map.len() <= MAX_SIZE {
            self.counter += 1;
            return;
        }
        let mut goal = ((self.map.len() - MAX_SIZE) * 4 / 3).min(MAX_SIZE / 2);
        self.map.retain(|_, e| {
            if goal > 0 && t >= e.lastuse.saturating_add(ENTRY_TIMEOUT) {
                goal -= 1;
                false
            } else {
                true
            }
        });
    }

    /// The entry for `addr`.
    #[inline]
    pub(super) fn get_mut(&mut self, addr: Ipv4Addr) -> Option<&mut Entry<V>> {
        self.map.get_mut(&addr)
    }

    /// Remembers `value` for `addr` (replacing what was there), used at `now`; makes room first
    /// when the table is full.
    pub(super) fn insert(&mut self, addr: Ipv4Addr, value: V, now: u64) {
        if self.map.len() >= MAX_ENTRIES && !self.map.contains_key(&addr) {
            self.evict_stalest();
        }
        self.map.insert(addr, Entry { lastuse: now, value });
    }

    /// Drops up to [`EVICT_BATCH`] entries among the least recently used (at least one).
    fn evict_stalest(&mut self) {
        let (lo, hi) = self.map.values().fold((u64::MAX, 0), |(lo, hi), e| (lo.min(e.lastuse), hi.max(e.lastuse)));
        let limit = lo.saturating_add((hi.saturating_sub(lo)) / 8);
        let mut budget = EVICT_BATCH;
        self.map.retain(|_, e| {
            if budget > 0 && e.lastuse <= limit {
                budget -= 1;
                false
            } else {
                true
            }
        });
    }

    /// Every entry's value, to follow a change of real servers.
    pub(super) fn values_mut(&mut self) -> impl Iterator<Item = &mut V> {
        self.map.values_mut().map(|e| &mut e.value)
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.map.len()
    }

    #[cfg(test)]
    pub(super) fn capacity(&self) -> usize {
        self.map.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(i: usize) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + u32::try_from(i).unwrap())
    }

    #[test]
    fn idle_entries_expire_after_a_day_at_a_full_check() {
        let mut t: Table<u8> = Table::new();
        t.expire(0);
        t.insert(addr(1), 1, 0);
        t.insert(addr(2), 2, 0);
        // Keep addr(2) in use every hour.
        for h in 1..=25 {
            t.expire(h * 3_600_000);
            t.get_mut(addr(2)).unwrap().lastuse = h * 3_600_000;
        }
        // Full checks run every 30 minutes: by 25 h one has dropped addr(1), unused since 0.
        assert!(t.get_mut(addr(1)).is_none());
        assert!(t.get_mut(addr(2)).is_some());
    }

    #[test]
    fn an_entry_is_kept_until_its_day_is_over() {
        let mut t: Table<u8> = Table::new();
        t.expire(0);
        t.insert(addr(1), 1, 0);
        t.expire(EXPIRATION - 1);
        assert!(t.get_mut(addr(1)).is_some());
        // After a long silence the last runs are replayed: a full check among them.
        t.expire(EXPIRATION + 31 * 60_000);
        assert!(t.get_mut(addr(1)).is_none());
    }

    #[test]
    fn under_pressure_entries_idle_for_six_minutes_go() {
        let mut t: Table<u8> = Table::new();
        t.expire(0);
        for i in 0..MAX_SIZE + 300 {
            t.insert(addr(i), 0, 0);
        }
        // Runs at 1..5 min find nothing idle for 6 minutes.
        t.expire(5 * 60_000);
        assert_eq!(t.len(), MAX_SIZE + 300);
        // The run at 6 min removes the excess times 4/3.
        t.expire(6 * 60_000);
        assert_eq!(t.len(), MAX_SIZE + 300 - 400);
        // No more pressure: nothing else goes.
        t.expire(20 * 60_000);
        assert_eq!(t.len(), MAX_SIZE - 100);
    }

    #[test]
    fn pressure_spares_entries_in_use() {
        let mut t: Table<u8> = Table::new();
        t.expire(0);
        for i in 0..MAX_SIZE + 300 {
            t.insert(addr(i), 0, if i < 100 { 0 } else { 5 * 60_000 });
        }
        t.expire(6 * 60_000);
        // Only the 100 idle ones could go.
        assert_eq!(t.len(), MAX_SIZE + 200);
    }

    #[test]
    fn a_full_table_evicts_its_stalest_entries_and_never_grows() {
        let mut t: Table<u8> = Table::new();
        let capacity = t.capacity();
        assert!(capacity >= RESERVED);
        for i in 0..MAX_ENTRIES {
            t.insert(addr(i), 0, u64::try_from(i).unwrap());
        }
        assert_eq!(t.len(), MAX_ENTRIES);
        t.insert(addr(MAX_ENTRIES), 0, 1_000_000);
        // A batch of the oldest eighth of the span (last use <= 4095) is evicted.
        assert_eq!(t.len(), MAX_ENTRIES - EVICT_BATCH + 1);
        let gone: Vec<usize> = (0..MAX_ENTRIES).filter(|&i| t.get_mut(addr(i)).is_none()).collect();
        assert_eq!(gone.len(), EVICT_BATCH);
        assert!(gone.iter().all(|&i| i <= 4095));
        // Churn through many more addresses: the map never reallocates to grow.
        for i in 0..5 * MAX_ENTRIES {
            t.insert(addr(MAX_ENTRIES + 1 + i), 0, 2_000_000 + u64::try_from(i).unwrap());
            assert!(t.len() <= MAX_ENTRIES);
        }
        assert!(t.capacity() <= capacity);
        // Replacing an entry of a full table evicts nothing.
        let len = t.len();
        let last = addr(MAX_ENTRIES + 5 * MAX_ENTRIES);
        t.insert(last, 1, 9_000_000);
        assert_eq!(t.len(), len);
    }
}
