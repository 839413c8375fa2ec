//! The schedulers over the lists fnatctl's commands build, against what the kernel's IPVS does
//! after the same commands: each test says in which order the real servers were added, edited and
//! deleted. Real servers are named by the order they were added (A first), whatever their place.
//! The state, the snapshot's services and the rr/wrr cursors carried from one snapshot to the
//! next are the real ones; each pick is a worker's (`SchedState` over the snapshot's list, with
//! the service's shared cursor).

use std::net::Ipv4Addr;

use super::*;
use crate::lb::sched::{DestLoad, SchedCtx, SchedState};
use ctrl::cli::PortNames;

/// Real server `n` (0 for A) is 10.1.0.(11 + n).
fn letter(addr: Ipv4Addr) -> char {
    char::from(b'A' + (addr.octets()[3] - 11))
}

/// The control state and the services of the snapshot the workers would run.
struct Gateway {
    st: ControlState,
    services: Services,
}

impl Gateway {
    fn new() -> Self {
        let st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 4096);
        let services = st.first_services().unwrap();
        Self { st, services }
    }

    /// Applies fnatctl's words (one request) and publishes as fnatd does: a new snapshot with the
    /// cursors carried over through the hooks the commands ran.
    fn fnatctl(&mut self, lines: &[&str]) {
        let names = PortNames::system();
        let commands = lines
            .iter()
            .map(|l| ctrl::cli::change(&l.split_whitespace().map(str::to_owned).collect::<Vec<_>>(), &names).unwrap())
            .collect();
        self.st.apply(&Request::new(commands), &NoConnections).unwrap();
        let next = self.st.services().unwrap();
        next.carry_cursors(&self.services, &self.st.take_history());
        self.services = next;
    }

    /// The service's list as IPVS keeps it, by letter.
    fn list(&self) -> String {
        self.services.iter().next().unwrap().dests.iter().map(|d| letter(d.addr)).collect()
    }

    /// `n` new connections from `src` (the first of them) and on, to `dst`: a worker's picks over
    /// the snapshot with no connections counted.
    fn picks(&self, n: usize, src: impl Fn(usize) -> Ipv4Addr, dst: impl Fn(usize) -> Ipv4Addr) -> String {
        let (idx, svc) = self.services.find(&self.services.iter().next().unwrap().key).unwrap();
        let mut state = SchedState::new(svc.scheduler, svc.flags, &svc.dests);
        let loads = vec![DestLoad::default(); svc.dests.len()];
        (0..n)
            .map(|i| {
                let ctx = SchedCtx {
                    src: src(i),
                    sport: 40000,
                    dst: dst(i),
                    now: 0,
                    loads: &loads,
                    cursor: self.services.cursor(idx),
                };
                state.pick(&svc.dests, &ctx).map_or('-', |j| letter(svc.dests[j].addr))
            })
            .collect()
    }

    /// `n` picks for one client to the VIP.
    fn next(&self, n: usize) -> String {
        self.picks(n, |_| Ipv4Addr::new(10, 0, 0, 2), |_| Ipv4Addr::new(10, 0, 0, 100))
    }
}

/// `-A` of the service with `sched`, then `-a` of each `(letter, weight)` in that order.
fn added(sched: &str, servers: &[(char, u32)]) -> Gateway {
    let mut g = Gateway::new();
    let mut lines = vec![format!("-A -t 10.0.0.100:80 -s {sched}")];
    for &(l, w) in servers {
        lines.push(format!("-a -t 10.0.0.100:80 -r 10.1.0.{}:80 -b -w {w}", 11 + u32::from(l) - u32::from('A')));
    }
    // One command a request, as an operator typing them; the result is the same in one request.
    for l in &lines {
        g.fnatctl(&[l]);
    }
    g
}

fn edit(g: &mut Gateway, l: char, w: u32) {
    g.fnatctl(&[&format!("-e -t 10.0.0.100:80 -r 10.1.0.{}:80 -b -w {w}", 11 + u32::from(l) - u32::from('A'))]);
}

fn delete(g: &mut Gateway, l: char) {
    g.fnatctl(&[&format!("-d -t 10.0.0.100:80 -r 10.1.0.{}:80", 11 + u32::from(l) - u32::from('A'))]);
}

#[test]
fn rr_walks_the_newest_first_list_and_keeps_its_place_across_edits() {
    // Added B, C, A: the list is A, C, B.
    let mut g = added("rr", &[('B', 1), ('C', 1), ('A', 1)]);
    assert_eq!(g.list(), "ACB");
    assert_eq!(g.next(4), "ACBA");
    // -e: rr has no update hook; the cycle goes on after A.
    edit(&mut g, 'B', 3);
    assert_eq!(g.next(3), "CBA");
    // -a of D puts it at the head; rr goes on after A (C), and D comes at the wrap.
    g.fnatctl(&["-a -t 10.0.0.100:80 -r 10.1.0.14:80 -b"]);
    assert_eq!(g.list(), "DACB");
    assert_eq!(g.next(5), "CBDAC");
    // -d of the server the cursor stands on (C): it steps back to the one before (A), so the
    // next is the one after C.
    delete(&mut g, 'C');
    assert_eq!(g.next(3), "BDA");
    // -d of A while the cursor stands on it: back to D before it, so B is next.
    delete(&mut g, 'A');
    assert_eq!(g.list(), "DB");
    assert_eq!(g.next(2), "BD");
}

#[test]
fn wrr_after_a_series_of_adds_runs_its_first_pass_at_weight_1() {
    // A=4 B=3 C=2 added in that order: the list is C, B, A. Each -a ran dest_changed; the first
    // one set the current weight to the maximum then (A's 4, less gcd 4 - 1: 1), which the others
    // kept: the first pass takes every server.
    let g = added("wrr", &[('A', 4), ('B', 3), ('C', 2)]);
    assert_eq!(g.list(), "CBA");
    assert_eq!(g.next(9 + 9), "CBAABACBACBAABACBA");
    // The same commands in one request end the same way.
    let mut one = Gateway::new();
    one.fnatctl(&[
        "-A -t 10.0.0.100:80 -s wrr",
        "-a -t 10.0.0.100:80 -r 10.1.0.11:80 -b -w 4",
        "-a -t 10.0.0.100:80 -r 10.1.0.12:80 -b -w 3",
        "-a -t 10.0.0.100:80 -r 10.1.0.13:80 -b -w 2",
    ]);
    assert_eq!(one.next(9), "CBAABACBA");
}

#[test]
fn wrr_after_an_edit_restarts_at_the_head_with_its_weight_clamped() {
    let mut g = added("wrr", &[('A', 4), ('B', 3), ('C', 2)]);
    assert_eq!(g.next(5), "CBAAB", "after B at weight 3");
    // -e with no change of weight: dest_changed sends the cursor to the head, weight 3 kept.
    edit(&mut g, 'C', 2);
    assert_eq!(g.next(3), "BAC", "B A at 3 from the head, then C at 2");
    // Weights 2, 3, 1 then 2, 1, 1 (gcd 1): the current weight 2 stays, from the head.
    edit(&mut g, 'A', 1);
    edit(&mut g, 'B', 1);
    assert_eq!(g.next(4), "CCBA", "C at 2, then C B A at 1");

    // A current weight above the new maximum drops to it: at 4 after A, B's edit to 2 makes the
    // weights 2, 2, 4 (gcd 2, so mw = 4 - 1 = 3).
    let mut g = added("wrr", &[('A', 4), ('B', 3), ('C', 2)]);
    assert_eq!(g.next(4), "CBAA");
    edit(&mut g, 'B', 2);
    assert_eq!(g.next(4), "ACBA", "A at 3, then C B A at 1");
    // One in range is put on the gcd's steps: at 2 after C, the same edit gives (2 / 2) * 2 + 1 = 3.
    let mut g = added("wrr", &[('A', 4), ('B', 3), ('C', 2)]);
    assert_eq!(g.next(7), "CBAABAC");
    edit(&mut g, 'B', 2);
    assert_eq!(g.next(4), "ACBA", "at 2 it would be C first");
}

#[test]
fn a_rescheduled_service_starts_afresh_and_a_same_scheduler_edit_keeps_the_cycle() {
    let mut g = added("rr", &[('A', 1), ('B', 1), ('C', 1)]);
    assert_eq!(g.next(2), "CB");
    g.fnatctl(&["-E -t 10.0.0.100:80 -s rr"]);
    assert_eq!(g.next(1), "A", "the same scheduler keeps its state");
    g.fnatctl(&["-E -t 10.0.0.100:80 -s wrr"]);
    assert_eq!(g.next(3), "CBA", "wrr bound anew over the list: weight 1 from the head");
}

#[test]
fn lc_and_wlc_ties_go_to_the_last_added() {
    for sched in ["lc", "wlc", "sed", "nq", "fo"] {
        let g = added(sched, &[('A', 1), ('B', 1), ('C', 1)]);
        assert_eq!(g.next(1), "C", "{sched}: the first of the list on a tie");
    }
}

/// The kernel's `hash_32` (`include/linux/hash.h`), to name a key's bucket independently.
fn hash_32(v: u32, bits: u32) -> u32 {
    v.wrapping_mul(0x61C8_8647) >> (32 - bits)
}

#[test]
fn sh_and_dh_fill_their_buckets_from_the_list_head() {
    // Added A, B, C with weights 1, 2, 1: the list is C, B, A, and the 256 buckets take C, B, B, A,
    // C, B, B, A, ... (sh counts weights; dh gives each server one bucket in turn: C, B, A, ...).
    let sh_table = ['C', 'B', 'B', 'A'];
    let dh_table = ['C', 'B', 'A'];
    let addr = |i: usize| Ipv4Addr::new(10, 9, u8::try_from(i / 250).unwrap(), u8::try_from(i % 250).unwrap());
    let g = added("sh", &[('A', 1), ('B', 2), ('C', 1)]);
    let got = g.picks(500, addr, |_| Ipv4Addr::new(10, 0, 0, 100));
    let want: String = (0..500).map(|i| sh_table[hash_32(u32::from(addr(i)), 8) as usize % 4]).collect();
    assert_eq!(got, want, "sh");
    let g = added("dh", &[('A', 1), ('B', 2), ('C', 1)]);
    let got = g.picks(500, |_| Ipv4Addr::new(10, 0, 0, 2), addr);
    let want: String = (0..500).map(|i| dh_table[hash_32(u32::from(addr(i)), 8) as usize % 3]).collect();
    assert_eq!(got, want, "dh");
}

#[test]
fn mh_populates_from_the_list_head() {
    // Maglev's population takes the servers in list order, so the order they were added in
    // decides ties: A, B, C added give the kernel's table over C, B, A, not A, B, C's.
    let addr = |i: usize| Ipv4Addr::new(10, 9, u8::try_from(i / 250).unwrap(), u8::try_from(i % 250).unwrap());
    let vip = |_| Ipv4Addr::new(10, 0, 0, 100);
    let g = added("mh", &[('A', 1), ('B', 1), ('C', 1)]);
    let reversed = added("mh", &[('C', 1), ('B', 1), ('A', 1)]);
    assert_eq!(g.list(), "CBA");
    assert_eq!(reversed.list(), "ABC");
    let (a, b) = (g.picks(2000, addr, vip), reversed.picks(2000, addr, vip));
    assert_ne!(a, b, "the population order shows in the lookups");
    for l in ['A', 'B', 'C'] {
        let n = a.chars().filter(|&c| c == l).count();
        assert!((500..=830).contains(&n), "{l}: {n} of 2000");
    }
}
