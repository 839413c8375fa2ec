//! Local addresses (LIPs) and the local ports a worker owns on them, for FULLNAT.
//!
//! Worker `w` of `n` owns exactly the local ports `p` with `p % n == w` on every LIP, so the owner of a
//! reply addressed to `LIP:lport` follows from the port alone ([`lport_owner`]) and the sets of ports
//! of different workers never meet. Each worker keeps its own ports in a FIFO per LIP: a released port
//! goes to the back, so a port is reused as late as possible (the real server may still hold the old
//! connection in TIME_WAIT). Owned by one worker core; no allocation after `new`.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;

/// The worker that owns local port `lport` when there are `workers` workers.
#[inline]
pub fn lport_owner(lport: u16, workers: u16) -> u16 {
    lport % workers.max(1)
}

#[derive(Debug)]
struct Lip {
    addr: Ipv4Addr,
    free: VecDeque<u16>,
    owned: usize,
}

impl Lip {
    fn new(addr: Ipv4Addr, range: &RangeInclusive<u16>, worker: u16, workers: u16) -> Self {
        let free: VecDeque<u16> = range.clone().filter(|&p| lport_owner(p, workers) == worker).collect();
        Self { addr, owned: free.len(), free }
    }
}

/// One worker's share of the local ports on every LIP.
#[derive(Debug)]
pub struct LocalAddrPool {
    lips: Vec<Lip>,
    next: usize,
    worker: u16,
    workers: u16,
    range: RangeInclusive<u16>,
}

impl LocalAddrPool {
    /// The ports in `range` owned by `worker` (of `workers`) on each address of `addrs`.
    pub fn new(addrs: &[Ipv4Addr], range: RangeInclusive<u16>, worker: u16, workers: u16) -> Self {
        let workers = workers.max(1);
        let lips = addrs.iter().map(|&addr| Lip::new(addr, &range, worker, workers)).collect();
        Self { lips, next: 0, worker, workers, range }
    }

    /// Takes a free port on one of `lips` (a service's local addresses), cycling over them; `None`
    /// when all are in use or none is known to this pool.
    #[inline]
    pub fn acquire(&mut self, lips: &[Ipv4Addr]) -> Option<(Ipv4Addr, u16)> {
        let n = lips.len();
        for k in 0..n {
            let addr = lips[(self.next + k) % n];
            if let Some(port) = self.lips.iter_mut().find(|l| l.addr == addr).and_then(|l| l.free.pop_front()) {
                self.next = (self.next + k + 1) % n;
                return Some((addr, port));
            }
        }
        None
    }

    /// Adds a local address (with this worker's share of its ports) unless the pool has it already.
    /// Addresses are never removed: connections still holding ports on a removed address return them.
    pub fn add(&mut self, addr: Ipv4Addr) {
        if !self.is_local(addr) {
            self.lips.push(Lip::new(addr, &self.range, self.worker, self.workers));
        }
    }

    /// Gives a port back. Returns false (and keeps nothing) for an address or port this worker does
    /// not own, or when the LIP already holds all of its ports (a double release).
    pub fn release(&mut self, addr: Ipv4Addr, port: u16) -> bool {
        if !self.range.contains(&port) || lport_owner(port, self.workers) != self.worker {
            return false;
        }
        let Some(lip) = self.lips.iter_mut().find(|l| l.addr == addr) else {
            return false;
        };
        if lip.free.len() >= lip.owned {
            return false;
        }
        lip.free.push_back(port);
        true
    }

    /// Whether `addr` is one of the local addresses.
    #[inline]
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.lips.iter().any(|l| l.addr == addr)
    }

    /// Free ports left, over all LIPs.
    pub fn available(&self) -> usize {
        self.lips.iter().map(|l| l.free.len()).sum()
    }

    /// This worker's index.
    pub fn worker(&self) -> u16 {
        self.worker
    }

    /// The number of workers the ports are shared among.
    pub fn workers(&self) -> u16 {
        self.workers
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
    const B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);

    #[test]
    fn workers_own_disjoint_ports() {
        let pools: Vec<LocalAddrPool> = (0..3).map(|w| LocalAddrPool::new(&[A], 1024..=65535, w, 3)).collect();
        let total: usize = pools.iter().map(LocalAddrPool::available).sum();
        assert_eq!(total, 65535 - 1024 + 1);
        for (w, mut p) in pools.into_iter().enumerate() {
            while let Some((_, port)) = p.acquire(&[A]) {
                assert_eq!(usize::from(lport_owner(port, 3)), w);
            }
        }
    }

    #[test]
    fn acquire_cycles_over_lips_and_exhausts() {
        let mut p = LocalAddrPool::new(&[A, B], 2000..=2003, 0, 2);
        assert_eq!(p.acquire(&[A, B]), Some((A, 2000)));
        assert_eq!(p.acquire(&[A, B]), Some((B, 2000)));
        assert_eq!(p.acquire(&[A, B]), Some((A, 2002)));
        assert_eq!(p.acquire(&[A, B]), Some((B, 2002)));
        assert_eq!(p.acquire(&[A, B]), None);
        assert!(p.release(A, 2000));
        assert_eq!(p.acquire(&[A, B]), Some((A, 2000)));
        assert_eq!(p.acquire(&[]), None);
    }

    #[test]
    fn released_ports_are_reused_last() {
        let mut p = LocalAddrPool::new(&[A], 3000..=3003, 0, 1);
        let first = p.acquire(&[A]).unwrap();
        assert!(p.release(first.0, first.1));
        assert_eq!(p.acquire(&[A]), Some((A, 3001)));
    }

    #[test]
    fn foreign_and_double_releases_are_refused() {
        let mut p = LocalAddrPool::new(&[A], 3000..=3003, 1, 2);
        assert!(!p.release(A, 3000), "owned by worker 0");
        assert!(!p.release(A, 5001), "outside the range");
        assert!(!p.release(B, 3001), "not a local address");
        assert!(!p.release(A, 3001), "already free");
        assert!(p.is_local(A) && !p.is_local(B));
        let mut empty = LocalAddrPool::new(&[], 1..=10, 0, 1);
        assert_eq!(empty.acquire(&[A]), None, "an address the pool does not know");
        empty.add(A);
        empty.add(A);
        assert_eq!(empty.available(), 10);
        assert_eq!(empty.acquire(&[A]), Some((A, 1)));
    }
}
