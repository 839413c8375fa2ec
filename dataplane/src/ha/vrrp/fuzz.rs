//! Arbitrary bytes as a VRRP advertisement and as a sequence of events: the body of the
//! `vrrp_advert` fuzz target (`dataplane/fuzz`), also run by the tests on its seeds.
//!
//! The input is `src (4 bytes) | dst (4 bytes) | payload`. Asserted, beyond not panicking:
//! an advertisement `packet::parse` accepts is written back by `packet::write` and parses to the
//! same advertisement; and a backup router fed the payload as events (time passing, adverts of
//! any priority from any address) never sees its deadline go back in time and is always in a
//! state with the timer that state needs.

use std::net::Ipv4Addr;

use super::packet::{self, Advert};
use super::{Instance, InstanceConfig, State};

/// Runs one input.
pub fn advert(data: &[u8]) {
    let Some((head, payload)) = data.split_at_checked(8) else { return };
    let addr = |b: &[u8]| Ipv4Addr::new(b[0], b[1], b[2], b[3]);
    let (src, dst) = (addr(&head[..4]), addr(&head[4..]));
    if let Ok(adv) = packet::parse(payload, src, dst) {
        let mut out = [0u8; packet::HEADER_LEN + 4 * 255];
        let n = packet::write(&adv, src, dst, &mut out).expect("an accepted advertisement can be written");
        assert_eq!(packet::parse(&out[..n], src, dst), Ok(adv), "written back, parsed the same");
    }
    events(src, payload);
}

/// A backup router (VRID 1, priority 100, 1 s) fed `events`, four bytes each: time passing (the
/// first, in centiseconds), then an advert of priority `b[1]` and interval `b[2]` (cs) from the
/// address ending in `b[3]`.
fn events(local: Ipv4Addr, events: &[u8]) {
    let cfg = InstanceConfig {
        vrid: 1,
        priority: 100,
        advert_interval_cs: 100,
        preempt: events.first().is_some_and(|b| b & 1 == 1),
        preempt_delay_ms: events.get(1).map_or(0, |&b| u64::from(b) * 10),
        addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
        local_addr: local,
    };
    let Ok(mut r) = Instance::new(cfg) else { return };
    let mut now = 0u64;
    r.start(now);
    for e in events.chunks_exact(4) {
        now += u64::from(e[0]) * 10;
        while r.next_deadline().is_some_and(|d| d <= now) {
            let before = r.next_deadline();
            r.on_timer(now);
            assert!(r.next_deadline() > before, "a timer that fired is set later");
        }
        let adv = Advert {
            vrid: 1,
            priority: e[1],
            max_adver_int_cs: u16::from(e[2]).max(1),
            addresses: vec![Ipv4Addr::new(10, 0, 0, 100)],
        };
        r.on_advert(&adv, Ipv4Addr::new(10, 0, 0, e[3]), now);
        match r.state() {
            State::Backup | State::Master => assert!(r.next_deadline().is_some_and(|d| d >= now)),
            State::Initialize => panic!("only shutdown goes back to Initialize"),
        }
    }
}

/// Seeds: a valid advertisement (the hand-checked one of the tests) and a short election.
pub fn seeds() -> Vec<Vec<u8>> {
    let mut valid = vec![192, 168, 1, 10, 224, 0, 0, 18];
    valid.extend_from_slice(&[0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x06, 0x19, 0xc0, 0xa8, 0x01, 0x64]);
    let election = vec![10, 0, 0, 1, 224, 0, 0, 18, 0, 100, 100, 2, 50, 150, 100, 3, 250, 0, 100, 3, 255, 90, 100, 4];
    vec![valid, election]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seeds_run_and_the_valid_one_is_accepted() {
        let seeds = super::seeds();
        let (src, dst) = ("192.168.1.10".parse().unwrap(), "224.0.0.18".parse().unwrap());
        assert!(super::packet::parse(&seeds[0][8..], src, dst).is_ok());
        for s in &seeds {
            super::advert(s);
        }
    }
}
