//! Traffic statistics as IPVS keeps them: per real server, per service and for the whole gateway,
//! the connections scheduled and the packets and bytes in (client to real server) and out; rates
//! estimated from them every two seconds; zeroed on request (`-Z`).
//!
//! Each worker counts its own real servers' traffic in plain integers that only grow (see
//! `worker::counts`), and hands them over when the main lcore asks. The main lcore folds what
//! every worker counted since it last looked into a [`StatsBook`]: the book keeps, per worker,
//! the last figures it saw of each source, and adds the difference to the real server, to its
//! service and to the gateway's total. So the book's figures survive what the workers forget (a
//! deleted real server's counters, once its last connection ended, go into its service's "retired"
//! figures on the worker), and zeroing touches only the book.
//!
//! Rates follow IPVS's estimator: every two seconds the rate over those two seconds is averaged
//! into the estimate with weight 1/4 (an exponentially weighted moving average), in fixed point
//! (2^10 for connections and packets per second, 2^5 for bytes per second), and shown rounded up
//! from half a unit.

use std::collections::HashMap;

use ctrl::vocab::{Counters, Rates};

use crate::lb::{DestId, ServiceKey};
pub use crate::worker::counts::Source;

/// How often the rates are estimated, in milliseconds (IPVS: 2 s).
pub const ESTIMATE_MS: u64 = 2000;

/// IPVS's rate estimator over one set of counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Estimator {
    last: Counters,
    /// Estimates in fixed point: cps, inpps, outpps scaled by 2^10, inbps, outbps by 2^5.
    avg: [i64; 5],
}

impl Estimator {
    /// Averages in the rates since the last call, `ESTIMATE_MS` ago.
    fn update(&mut self, now: &Counters) {
        let d = now.since(&self.last);
        self.last = *now;
        // Over two seconds: count * 2^10 / 2 = count << 9 for the 2^10 scale, count << 4 for 2^5.
        let sample = |n: u64, shift: u32| i64::try_from(n.min(u64::MAX >> 24) << shift).unwrap_or(i64::MAX);
        let samples = [
            sample(d.conns, 9),
            sample(d.inpkts, 9),
            sample(d.outpkts, 9),
            sample(d.inbytes, 4),
            sample(d.outbytes, 4),
        ];
        for (avg, s) in self.avg.iter_mut().zip(samples) {
            *avg += (s - *avg) >> 2;
        }
    }

    fn rates(&self) -> Rates {
        let show = |v: i64, shift: u32| u64::try_from((v + (1 << (shift - 1)) - 1) >> shift).unwrap_or(0);
        Rates {
            cps: show(self.avg[0], 10),
            inpps: show(self.avg[1], 10),
            outpps: show(self.avg[2], 10),
            inbps: show(self.avg[3], 5),
            outbps: show(self.avg[4], 5),
        }
    }
}

/// Counters with their rate estimator.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    counters: Counters,
    est: Estimator,
}

impl Tally {
    fn add(&mut self, d: &Counters) {
        self.counters.add(d);
    }

    fn zero(&mut self) {
        *self = Tally::default();
    }
}

/// The gateway's statistics, kept on the main lcore (see the module docs).
#[derive(Debug, Default)]
pub struct StatsBook {
    /// Per worker, the last figures seen of each source.
    seen: Vec<HashMap<Source, Counters>>,
    dests: HashMap<DestId, Tally>,
    services: HashMap<ServiceKey, Tally>,
    total: Tally,
}

impl StatsBook {
    /// A book for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self { seen: vec![HashMap::new(); workers], ..Self::default() }
    }

    /// Folds in what worker `worker` hands over: every source it counts, with its figures since it
    /// started counting it. Real servers and services are tallied only while `configured` says
    /// they exist (the gateway's total takes everything); a source the worker no longer reports
    /// is forgotten.
    pub fn fold(
        &mut self,
        worker: usize,
        sources: impl IntoIterator<Item = (Source, Counters)>,
        configured: impl Fn(Source) -> (bool, bool),
    ) {
        let Some(seen) = self.seen.get_mut(worker) else {
            return;
        };
        let now: HashMap<Source, Counters> = sources.into_iter().collect();
        // A real server the worker no longer reports was freed there: its figures went into its
        // service's retired ones, and what was seen of it counts as seen of those.
        let moved: Vec<(ServiceKey, Counters)> = seen
            .iter()
            .filter_map(|(src, c)| match *src {
                Source::Dest(_, svc) if !now.contains_key(src) => Some((svc, *c)),
                _ => None,
            })
            .collect();
        for (svc, c) in moved {
            seen.entry(Source::Retired(svc)).or_default().add(&c);
        }
        for (&src, c) in &now {
            let d = c.since(&seen.get(&src).copied().unwrap_or_default());
            if d == Counters::default() {
                continue;
            }
            self.total.add(&d);
            let (dest_known, svc_known) = configured(src);
            if let Source::Dest(id, _) = src
                && dest_known
            {
                self.dests.entry(id).or_default().add(&d);
            }
            if svc_known {
                self.services.entry(src.service()).or_default().add(&d);
            }
        }
        *seen = now;
    }

    /// Forgets the real servers and services that no longer exist.
    pub fn retain(&mut self, dest: impl Fn(DestId) -> bool, service: impl Fn(&ServiceKey) -> bool) {
        self.dests.retain(|id, _| dest(*id));
        self.services.retain(|k, _| service(k));
    }

    /// Runs the estimators (every [`ESTIMATE_MS`]).
    pub fn estimate(&mut self) {
        for t in self.dests.values_mut().chain(self.services.values_mut()).chain(std::iter::once(&mut self.total)) {
            t.est.update(&t.counters);
        }
    }

    /// Zeroes counters and rates: of one service and its real servers, or of everything.
    pub fn zero(&mut self, svc: Option<(ServiceKey, &[DestId])>) {
        match svc {
            Some((key, dests)) => {
                self.services.entry(key).or_default().zero();
                for id in dests {
                    self.dests.entry(*id).or_default().zero();
                }
            }
            None => {
                self.dests.values_mut().chain(self.services.values_mut()).for_each(Tally::zero);
                self.total.zero();
            }
        }
    }

    /// A real server's counters and rates.
    pub fn dest(&self, id: DestId) -> (Counters, Rates) {
        self.dests.get(&id).map_or_else(Default::default, |t| (t.counters, t.est.rates()))
    }

    /// A service's counters and rates.
    pub fn service(&self, key: &ServiceKey) -> (Counters, Rates) {
        self.services.get(key).map_or_else(Default::default, |t| (t.counters, t.est.rates()))
    }

    /// The gateway's counters and rates.
    pub fn total(&self) -> (Counters, Rates) {
        (self.total.counters, self.total.est.rates())
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::lb::Protocol;

    fn svc(port: u16) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: port, fwmark: 0 }
    }

    fn c(conns: u64, pkts: u64, bytes: u64) -> Counters {
        Counters { conns, inpkts: pkts, outpkts: pkts / 2, inbytes: bytes, outbytes: bytes * 3 }
    }

    const ALL: fn(Source) -> (bool, bool) = |_| (true, true);

    #[test]
    fn workers_are_summed_by_difference_and_survive_what_workers_forget() {
        let mut b = StatsBook::new(2);
        let (a, s) = (DestId(1), svc(80));
        b.fold(0, [(Source::Dest(a, s), c(2, 10, 1000))], ALL);
        b.fold(1, [(Source::Dest(a, s), c(1, 4, 100))], ALL);
        // Worker 0 counts on; looking twice adds nothing twice.
        b.fold(0, [(Source::Dest(a, s), c(3, 16, 1600))], ALL);
        b.fold(0, [(Source::Dest(a, s), c(3, 16, 1600))], ALL);
        assert_eq!(b.dest(a).0, c(4, 20, 1700));
        // Worker 1 forgets the real server after counting a little more: its figures move to the
        // service's retired ones, and only what is new counts.
        b.fold(1, [(Source::Retired(s), c(1, 6, 300))], ALL);
        assert_eq!(b.dest(a).0, c(4, 20, 1700), "retired figures are the service's, not the server's");
        let mut want = c(3, 16, 1600);
        want.add(&c(1, 6, 300));
        assert_eq!(b.service(&s).0, want);
        assert_eq!(b.total().0, want);
        // Another real server of the service is freed later: its seen figures add to the retired.
        let x = DestId(2);
        b.fold(1, [(Source::Retired(s), c(1, 6, 300)), (Source::Dest(x, s), c(1, 1, 10))], ALL);
        b.fold(1, [(Source::Retired(s), c(2, 7, 310))], ALL);
        want.add(&c(1, 1, 10));
        assert_eq!(b.service(&s).0, want);
    }

    #[test]
    fn unconfigured_sources_count_only_in_the_total_and_retain_forgets() {
        let mut b = StatsBook::new(1);
        let (a, gone, s) = (DestId(1), DestId(2), svc(80));
        let known = |src: Source| (matches!(src, Source::Dest(DestId(1), _)), true);
        b.fold(0, [(Source::Dest(a, s), c(1, 1, 10)), (Source::Dest(gone, s), c(1, 2, 20))], known);
        assert_eq!(b.dest(a).0, c(1, 1, 10));
        assert_eq!(b.dest(gone).0, Counters::default());
        assert_eq!(b.service(&s).0, c(2, 3, 30));
        b.retain(|_| false, |_| false);
        assert_eq!(b.service(&s).0, Counters::default());
        assert_eq!(b.total().0, c(2, 3, 30));
    }

    #[test]
    fn zero_clears_one_service_and_its_servers_or_everything() {
        let mut b = StatsBook::new(1);
        let (a, x, s, t) = (DestId(1), DestId(2), svc(80), svc(443));
        b.fold(0, [(Source::Dest(a, s), c(1, 1, 10)), (Source::Dest(x, t), c(2, 2, 20))], ALL);
        b.zero(Some((s, &[a])));
        assert_eq!((b.dest(a).0, b.service(&s).0), (Counters::default(), Counters::default()));
        assert_eq!(b.dest(x).0, c(2, 2, 20));
        // Counting goes on from the zero.
        b.fold(0, [(Source::Dest(a, s), c(2, 5, 50)), (Source::Dest(x, t), c(2, 2, 20))], ALL);
        assert_eq!(b.dest(a).0, c(1, 4, 40));
        b.zero(None);
        assert_eq!((b.dest(x).0, b.service(&t).0, b.total().0), Default::default());
    }

    #[test]
    fn rates_follow_ipvs_estimator() {
        let mut b = StatsBook::new(1);
        let (a, s) = (DestId(1), svc(80));
        let mut total = Counters::default();
        // 1000 connections, 1000 packets and 64000 bytes each way per second, for 20 periods.
        for _ in 0..20 {
            total.add(&Counters { conns: 2000, inpkts: 2000, outpkts: 2000, inbytes: 128_000, outbytes: 128_000 });
            b.fold(0, [(Source::Dest(a, s), total)], ALL);
            b.estimate();
        }
        let r = b.dest(a).1;
        assert!((990..=1000).contains(&r.cps), "{r:?}");
        assert!((63_500..=64_000).contains(&r.inbps), "{r:?}");
        // The first period gives a quarter of the rate, as IPVS's does.
        let mut b = StatsBook::new(1);
        b.fold(0, [(Source::Dest(a, s), Counters { conns: 2000, ..Counters::default() })], ALL);
        b.estimate();
        assert_eq!(b.dest(a).1.cps, 250);
        // Idle: the estimate decays towards zero.
        for _ in 0..60 {
            b.estimate();
        }
        assert_eq!(b.dest(a).1, Rates::default());
    }

    #[test]
    fn a_restarted_counter_counts_from_zero() {
        let mut b = StatsBook::new(1);
        let (a, s) = (DestId(1), svc(80));
        b.fold(0, [(Source::Dest(a, s), c(5, 5, 5))], ALL);
        b.fold(0, [(Source::Dest(a, s), c(1, 4, 1))], ALL);
        let d = b.dest(a).0;
        assert_eq!((d.conns, d.inpkts, d.inbytes), (6, 9, 6));
    }
}
