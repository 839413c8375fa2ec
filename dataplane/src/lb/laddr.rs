//! Local addresses (LIPs) and the local ports a worker takes on them, for FULLNAT.
//!
//! A FULLNAT reply comes back addressed to `LIP:lport`, and only the worker that opened the
//! connection holds it, so the local port must tell which worker that is. Two ways, per LIP:
//!
//! - By RSS (`SteerMode::Rss`/`PeerRss` on the port where the LIP's replies arrive): every worker
//!   keeps every port, bucketed by what the port adds to the reply's Toeplitz hash
//!   ([`SteeredPorts`]), and takes for a connection to `RIP:rport` a port whose reply the NIC
//!   delivers to its own queue. The owner of a reply is the queue its hash names
//!   ([`LocalAddrPool::owner`]), which is the worker that receives it.
//! - By the port's remainder otherwise: worker `w` of `n` owns the ports `p % n == w`
//!   ([`lport_owner`]); a reply that reaches another worker is passed to the owner through a ring.
//!
//! Either way, the ports of one worker are kept FIFO: a released port goes to the back, so it is
//! reused as late as possible (the real server may still hold the old connection in TIME_WAIT).
//! Owned by one worker core; no allocation after an address is added.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::ops::RangeInclusive;
use std::sync::Arc;

use super::rss::{SteeredPorts, Steering};

/// The worker that owns local port `lport` when there are `workers` workers and the port's LIP is
/// not steered by RSS.
#[inline]
pub fn lport_owner(lport: u16, workers: u16) -> u16 {
    lport % workers.max(1)
}

#[derive(Debug)]
enum Ports {
    /// This worker's share of the range, `port % workers == worker`, in FIFO order.
    Modulo { queue: VecDeque<u16> },
    /// Every port of the range, chosen per real server by the LIP's port's RSS.
    Steered { ports: SteeredPorts, steering: Arc<Steering> },
}

#[derive(Debug)]
struct Lip {
    addr: Ipv4Addr,
    ports: Ports,
    /// A bit per port of the range, set while the port is free here: a double release is
    /// refused, and a port taken for a synced connection ([`LocalAddrPool::take`]) stays in the
    /// queue it sits in until it is reached there, then is passed over.
    free: Box<[u64]>,
}

impl Lip {
    /// Bit `port - first` of the free map: its word and mask.
    fn bit(first: u16, port: u16) -> (usize, u64) {
        let i = usize::from(port - first);
        (i / 64, 1 << (i % 64))
    }

    fn is_free(&self, first: u16, port: u16) -> bool {
        let (w, b) = Self::bit(first, port);
        self.free[w] & b != 0
    }

    fn set_free(&mut self, first: u16, port: u16, free: bool) {
        let (w, b) = Self::bit(first, port);
        if free { self.free[w] |= b } else { self.free[w] &= !b }
    }
}

/// One worker's local ports on every LIP.
#[derive(Debug)]
pub struct LocalAddrPool {
    lips: Vec<Lip>,
    next: usize,
    worker: u16,
    workers: u16,
    range: RangeInclusive<u16>,
}

impl LocalAddrPool {
    /// A pool of the ports in `range` for `worker` (of `workers`), with no address yet.
    pub fn new(range: RangeInclusive<u16>, worker: u16, workers: u16) -> Self {
        Self { lips: Vec::new(), next: 0, worker, workers: workers.max(1), range }
    }

    /// Adds a local address unless the pool has it already: with all the ports of the range chosen
    /// by `steering` (the RSS of the port where the address's replies arrive) when there is one and
    /// more than one worker, else with this worker's share of them. Addresses are never removed:
    /// connections still holding ports on a removed address return them.
    pub fn add(&mut self, addr: Ipv4Addr, steering: Option<&Arc<Steering>>) {
        if self.is_local(addr) {
            return;
        }
        let first = *self.range.start();
        let free = vec![0u64; self.range.len().div_ceil(64)].into_boxed_slice();
        let mut lip = Lip { addr, ports: Ports::Modulo { queue: VecDeque::new() }, free };
        lip.ports = match steering.filter(|_| self.workers > 1) {
            Some(s) => {
                for p in self.range.clone() {
                    lip.set_free(first, p, true);
                }
                Ports::Steered { ports: SteeredPorts::new(s, self.range.clone(), self.worker), steering: Arc::clone(s) }
            }
            None => {
                let queue: VecDeque<u16> =
                    self.range.clone().filter(|&p| lport_owner(p, self.workers) == self.worker).collect();
                for &p in &queue {
                    lip.set_free(first, p, true);
                }
                Ports::Modulo { queue }
            }
        };
        self.lips.push(lip);
    }

    /// Takes a free port on one of `lips` (a service's local addresses), cycling over them, for a
    /// connection to the real server `rip:rport`; `None` when none is left or none is known here.
    #[inline]
    pub fn acquire(&mut self, lips: &[Ipv4Addr], rip: Ipv4Addr, rport: u16) -> Option<(Ipv4Addr, u16)> {
        let n = lips.len();
        let first = *self.range.start();
        for k in 0..n {
            let addr = lips[(self.next + k) % n];
            let Some(lip) = self.lips.iter_mut().find(|l| l.addr == addr) else { continue };
            // Ports taken for synced connections meanwhile are passed over (and leave the queue).
            let port = loop {
                let p = match &mut lip.ports {
                    Ports::Modulo { queue } => queue.pop_front(),
                    Ports::Steered { ports, steering } => ports.acquire(steering, rip, rport, addr),
                };
                match p {
                    Some(p) if !lip.is_free(first, p) => continue,
                    p => break p,
                }
            };
            if let Some(port) = port {
                lip.set_free(first, port, false);
                self.next = (self.next + k + 1) % n;
                return Some((addr, port));
            }
        }
        None
    }

    /// Gives a port back. Returns false (and keeps nothing) for an address or port this worker does
    /// not own, or a port that is free already (a double release).
    pub fn release(&mut self, addr: Ipv4Addr, port: u16) -> bool {
        if !self.range.contains(&port) {
            return false;
        }
        let (worker, workers, first) = (self.worker, self.workers, *self.range.start());
        let Some(lip) = self.lips.iter_mut().find(|l| l.addr == addr) else {
            return false;
        };
        if lip.is_free(first, port) {
            return false;
        }
        match &mut lip.ports {
            Ports::Modulo { queue } => {
                if lport_owner(port, workers) != worker {
                    return false;
                }
                queue.push_back(port);
            }
            Ports::Steered { ports, steering } => ports.release(steering, port),
        }
        lip.set_free(first, port, true);
        true
    }

    /// Takes `port` of `addr` for a connection the master gateway synced (it chose the port):
    /// false when this worker has it in use. A port this worker does not hand out (another
    /// worker's share) is not reserved, and its release later is refused, as any foreign port's.
    pub fn take(&mut self, addr: Ipv4Addr, port: u16) -> bool {
        let first = *self.range.start();
        let Some(lip) = self.lips.iter_mut().find(|l| l.addr == addr) else {
            return false;
        };
        if !self.range.contains(&port) {
            return true;
        }
        let ours = match lip.ports {
            Ports::Modulo { .. } => lport_owner(port, self.workers) == self.worker,
            Ports::Steered { .. } => true,
        };
        if !ours {
            return true;
        }
        if !lip.is_free(first, port) {
            return false;
        }
        lip.set_free(first, port, false);
        true
    }

    /// The worker that holds the connection, if any, of a reply from `rip:rport` to the local
    /// `addr:lport`; `None` when `addr` is not one of the local addresses.
    #[inline]
    pub fn owner(&self, addr: Ipv4Addr, rip: Ipv4Addr, rport: u16, lport: u16) -> Option<u16> {
        let lip = self.lips.iter().find(|l| l.addr == addr)?;
        Some(match &lip.ports {
            Ports::Modulo { .. } => lport_owner(lport, self.workers),
            Ports::Steered { steering, .. } => steering.reply_queue(rip, rport, addr, lport),
        })
    }

    /// Whether `addr` is one of the local addresses.
    #[inline]
    pub fn is_local(&self, addr: Ipv4Addr) -> bool {
        self.lips.iter().any(|l| l.addr == addr)
    }

    /// Whether the ports of `addr` are chosen by RSS.
    pub fn is_steered(&self, addr: Ipv4Addr) -> bool {
        self.lips.iter().any(|l| l.addr == addr && matches!(l.ports, Ports::Steered { .. }))
    }

    /// Free ports left, over all LIPs.
    pub fn available(&self) -> usize {
        self.lips
            .iter()
            .map(|l| match &l.ports {
                Ports::Modulo { queue } => queue.len(),
                Ports::Steered { ports, .. } => ports.available(),
            })
            .sum()
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
    use crate::lb::rss::DEFAULT_KEY;

    const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 10);
    const B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 11);
    const RIP: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 21);

    fn pool(addrs: &[Ipv4Addr], range: RangeInclusive<u16>, worker: u16, workers: u16) -> LocalAddrPool {
        let mut p = LocalAddrPool::new(range, worker, workers);
        for &a in addrs {
            p.add(a, None);
        }
        p
    }

    #[test]
    fn workers_own_disjoint_ports() {
        let pools: Vec<LocalAddrPool> = (0..3).map(|w| pool(&[A], 1024..=65535, w, 3)).collect();
        let total: usize = pools.iter().map(LocalAddrPool::available).sum();
        assert_eq!(total, 65535 - 1024 + 1);
        for (w, mut p) in pools.into_iter().enumerate() {
            while let Some((_, port)) = p.acquire(&[A], RIP, 80) {
                assert_eq!(usize::from(lport_owner(port, 3)), w);
                assert_eq!(p.owner(A, RIP, 80, port).map(usize::from), Some(w));
            }
        }
    }

    #[test]
    fn acquire_cycles_over_lips_and_exhausts() {
        let mut p = pool(&[A, B], 2000..=2003, 0, 2);
        assert_eq!(p.acquire(&[A, B], RIP, 80), Some((A, 2000)));
        assert_eq!(p.acquire(&[A, B], RIP, 80), Some((B, 2000)));
        assert_eq!(p.acquire(&[A, B], RIP, 80), Some((A, 2002)));
        assert_eq!(p.acquire(&[A, B], RIP, 80), Some((B, 2002)));
        assert_eq!(p.acquire(&[A, B], RIP, 80), None);
        assert!(p.release(A, 2000));
        assert_eq!(p.acquire(&[A, B], RIP, 80), Some((A, 2000)));
        assert_eq!(p.acquire(&[], RIP, 80), None);
    }

    #[test]
    fn a_port_taken_for_a_synced_connection_is_passed_over_until_released() {
        let mut p = pool(&[A], 3000..=3003, 0, 1);
        assert!(p.take(A, 3001));
        assert!(!p.take(A, 3001), "in use");
        assert_eq!(p.acquire(&[A], RIP, 80), Some((A, 3000)));
        assert_eq!(p.acquire(&[A], RIP, 80), Some((A, 3002)), "3001 passed over");
        assert_eq!(p.acquire(&[A], RIP, 80), Some((A, 3003)));
        assert_eq!(p.acquire(&[A], RIP, 80), None);
        assert!(p.release(A, 3001));
        assert!(!p.release(A, 3001), "a double release");
        assert_eq!(p.acquire(&[A], RIP, 80), Some((A, 3001)));
        // Another worker's share is not reserved here; an unknown address is refused.
        let mut two = pool(&[A], 3000..=3003, 0, 2);
        assert!(two.take(A, 3001));
        assert!(!two.release(A, 3001));
        assert!(!two.take(B, 3000));
    }

    #[test]
    fn released_ports_are_reused_last() {
        let mut p = pool(&[A], 3000..=3003, 0, 1);
        let first = p.acquire(&[A], RIP, 80).unwrap();
        assert!(p.release(first.0, first.1));
        assert_eq!(p.acquire(&[A], RIP, 80), Some((A, 3001)));
    }

    #[test]
    fn foreign_and_double_releases_are_refused() {
        let mut p = pool(&[A], 3000..=3003, 1, 2);
        assert!(!p.release(A, 3000), "owned by worker 0");
        assert!(!p.release(A, 5001), "outside the range");
        assert!(!p.release(B, 3001), "not a local address");
        assert!(!p.release(A, 3001), "already free");
        assert!(p.is_local(A) && !p.is_local(B));
        assert_eq!(p.owner(B, RIP, 80, 3001), None);
        let mut empty = pool(&[], 1..=10, 0, 1);
        assert_eq!(empty.acquire(&[A], RIP, 80), None, "an address the pool does not know");
        empty.add(A, None);
        empty.add(A, None);
        assert_eq!(empty.available(), 10);
        assert_eq!(empty.acquire(&[A], RIP, 80), Some((A, 1)));
    }

    #[test]
    fn steered_ports_bring_replies_to_their_worker_and_come_back_once() {
        let s = Arc::new(Steering::round_robin(&DEFAULT_KEY, 128, 2).unwrap());
        let mut pools: Vec<LocalAddrPool> = (0..2)
            .map(|w| {
                let mut p = LocalAddrPool::new(1024..=65535, w, 2);
                p.add(A, Some(&s));
                p
            })
            .collect();
        for (w, p) in pools.iter_mut().enumerate() {
            assert!(p.is_steered(A));
            assert_eq!(p.available(), 64_512, "every worker keeps every port");
            let mut taken = Vec::new();
            for i in 0..1000u32 {
                let (rip, rport) = (Ipv4Addr::from(0x0a01_0100 + i % 5), 8080 + u16::try_from(i % 2).unwrap());
                let (lip, port) = p.acquire(&[A], rip, rport).expect("a port");
                assert_eq!(usize::from(s.reply_queue(rip, rport, lip, port)), w);
                assert_eq!(p.owner(lip, rip, rport, port), Some(u16::try_from(w).unwrap()));
                taken.push(port);
            }
            for &port in &taken {
                assert!(p.release(A, port));
                assert!(!p.release(A, port), "a double release");
            }
            assert_eq!(p.available(), 64_512);
        }
        // One worker: nothing to steer, every port by remainder.
        let mut one = LocalAddrPool::new(1024..=1027, 0, 1);
        one.add(A, Some(&s));
        assert!(!one.is_steered(A));
        assert_eq!(one.available(), 4);
    }
}
