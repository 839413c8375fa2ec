//! The VRRPv3 codec and state machine, as specifications.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::packet::{self, Advert, VrrpParseError};
use super::*;

const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
const VIP: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 100);
const LOW: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 2);
const HIGH: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);

/// VRID 51, priority 100, interval 100 cs, one address 192.168.1.100, sent from 192.168.1.10 to
/// 224.0.0.18. The checksum, by hand (RFC 1071, 16-bit big-endian words):
///
/// ```text
/// pseudo-header: c0a8 + 010a (src) + e000 + 0012 (dst) + 0070 (protocol 112) + 000c (length 12)
/// message:       3133 (v3, type 1, vrid 0x33) + 6401 (priority 100, count 1) + 0064 (100 cs)
///                + 0000 (checksum) + c0a8 + 0164 (192.168.1.100)
/// sum            = 0x2f9e4 -> fold: 0xf9e4 + 0x2 = 0xf9e6 -> complement: 0x0619
/// ```
static ADVERT_BYTES: [u8; 12] = [0x31, 0x33, 0x64, 0x01, 0x00, 0x64, 0x06, 0x19, 0xc0, 0xa8, 0x01, 0x64];

fn advert_51() -> Advert {
    Advert { vrid: 51, priority: 100, max_adver_int_cs: 100, addresses: vec![VIP] }
}

/// Writes `bytes`' checksum for SRC -> group, so that a test can reach the checks after it.
fn fix_checksum(bytes: &mut [u8]) {
    bytes[6..8].copy_from_slice(&[0, 0]);
    let pseudo = crate::packet::checksum::pseudo_header_v4_len(SRC, packet::MULTICAST_GROUP, 112, bytes.len());
    let csum = !crate::packet::checksum::fold(crate::packet::checksum::sum(bytes, pseudo));
    bytes[6..8].copy_from_slice(&csum.to_be_bytes());
}

fn parse(bytes: &[u8]) -> Result<Advert, VrrpParseError> {
    packet::parse(bytes, SRC, packet::MULTICAST_GROUP)
}

#[test]
fn constants_follow_rfc_5798() {
    assert_eq!(packet::PROTOCOL, 112);
    // etherparse knows VRRP's protocol number, but has no VRRP codec to cross-check the bytes with.
    assert_eq!(etherparse::IpNumber::VRRP.0, packet::PROTOCOL);
    assert_eq!(packet::MULTICAST_GROUP, Ipv4Addr::new(224, 0, 0, 18));
    assert_eq!(packet::TTL, 255);
    assert_eq!(packet::virtual_mac(51).octets(), [0x00, 0x00, 0x5e, 0x00, 0x01, 0x33]);
}

#[test]
fn write_produces_the_hand_computed_bytes() {
    let mut out = [0xaa; 64];
    let len = packet::write(&advert_51(), SRC, packet::MULTICAST_GROUP, &mut out).unwrap();
    assert_eq!(&out[..len], &ADVERT_BYTES);
    assert_eq!(out[len], 0xaa);
}

#[test]
fn parse_reads_the_hand_computed_bytes() {
    assert_eq!(parse(&ADVERT_BYTES), Ok(advert_51()));
}

#[test]
fn round_trip_keeps_every_field() {
    let adv = Advert {
        vrid: 255,
        priority: 0,
        max_adver_int_cs: 4095,
        addresses: (1..=255).map(|i| Ipv4Addr::new(10, 0, 1, i)).collect(),
    };
    let mut out = [0; 1100];
    let len = packet::write(&adv, HIGH, packet::MULTICAST_GROUP, &mut out).unwrap();
    assert_eq!(len, 8 + 4 * 255);
    assert_eq!(packet::parse(&out[..len], HIGH, packet::MULTICAST_GROUP), Ok(adv));
}

#[test]
fn write_refuses_what_it_cannot_encode() {
    let mut out = [0; 64];
    let group = packet::MULTICAST_GROUP;
    assert_eq!(packet::write(&advert_51(), SRC, group, &mut out[..11]), None);
    let no_address = Advert { addresses: vec![], ..advert_51() };
    assert_eq!(packet::write(&no_address, SRC, group, &mut out), None);
    let zero = Advert { max_adver_int_cs: 0, ..advert_51() };
    assert_eq!(packet::write(&zero, SRC, group, &mut out), None);
    let too_long = Advert { max_adver_int_cs: 4096, ..advert_51() };
    assert_eq!(packet::write(&too_long, SRC, group, &mut out), None);
    let many = Advert { addresses: vec![VIP; 256], ..advert_51() };
    assert_eq!(packet::write(&many, SRC, group, &mut [0; 2000]), None);
}

#[test]
fn parse_reports_each_error() {
    assert_eq!(parse(&ADVERT_BYTES[..7]), Err(VrrpParseError::Truncated));
    assert_eq!(parse(&ADVERT_BYTES[..11]), Err(VrrpParseError::Truncated));

    let mut v2 = ADVERT_BYTES;
    v2[0] = 0x21;
    fix_checksum(&mut v2);
    assert_eq!(parse(&v2), Err(VrrpParseError::WrongVersion));

    let mut type2 = ADVERT_BYTES;
    type2[0] = 0x32;
    fix_checksum(&mut type2);
    assert_eq!(parse(&type2), Err(VrrpParseError::WrongType));

    let mut corrupt = ADVERT_BYTES;
    corrupt[2] = 101;
    assert_eq!(parse(&corrupt), Err(VrrpParseError::BadChecksum));
    // The pseudo-header counts: the right bytes from another source fail.
    assert_eq!(packet::parse(&ADVERT_BYTES, HIGH, packet::MULTICAST_GROUP), Err(VrrpParseError::BadChecksum));

    let mut extra = [0u8; 16];
    extra[..12].copy_from_slice(&ADVERT_BYTES);
    fix_checksum(&mut extra);
    assert_eq!(parse(&extra), Err(VrrpParseError::AddressCountMismatch));
    let mut count0 = [0x31, 0x33, 0x64, 0x00, 0x00, 0x64, 0, 0];
    fix_checksum(&mut count0);
    assert_eq!(parse(&count0), Err(VrrpParseError::AddressCountMismatch));

    let mut interval0 = ADVERT_BYTES;
    interval0[4..6].copy_from_slice(&[0xf0, 0x00]); // reserved bits set, interval 0
    fix_checksum(&mut interval0);
    assert_eq!(parse(&interval0), Err(VrrpParseError::ZeroInterval));
}

#[test]
fn parse_ignores_the_reserved_bits() {
    let mut rsvd = ADVERT_BYTES;
    rsvd[4] = 0xf0;
    fix_checksum(&mut rsvd);
    assert_eq!(parse(&rsvd), Ok(advert_51()));
}

#[test]
fn parse_error_labels_are_distinct_snake_case() {
    let labels: std::collections::HashSet<_> = VrrpParseError::ALL.iter().map(|e| e.label()).collect();
    assert_eq!(labels.len(), VrrpParseError::ALL.len());
    for label in labels {
        assert!(label.starts_with("vrrp_") && label.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
    }
    assert_eq!(VrrpParseError::BadChecksum.to_string(), "vrrp_bad_checksum");
}

proptest! {
    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn parse_never_panics_on_valid_looking_headers(
        count in any::<u8>(), len in 0usize..1100, fill in any::<u8>()
    ) {
        let mut bytes = vec![fill; len];
        if len >= 8 {
            bytes[..6].copy_from_slice(&[0x31, 1, 100, count, 0, 100]);
            fix_checksum(&mut bytes);
        }
        let result = parse(&bytes);
        if len >= 8 && count > 0 && len == 8 + 4 * usize::from(count) {
            prop_assert_eq!(result.map(|a| a.addresses.len()), Ok(usize::from(count)));
        }
    }
}

// The state machine.

fn config(priority: u8, local_addr: Ipv4Addr) -> InstanceConfig {
    InstanceConfig {
        vrid: 51,
        priority,
        advert_interval_cs: 100,
        preempt: true,
        preempt_delay_ms: 0,
        addresses: vec![VIP],
        local_addr,
    }
}

fn instance(priority: u8, local_addr: Ipv4Addr) -> Instance {
    Instance::new(config(priority, local_addr)).unwrap()
}

fn advert(priority: u8, interval_cs: u16) -> Advert {
    Advert { vrid: 51, priority, max_adver_int_cs: interval_cs, addresses: vec![VIP] }
}

const BECOME_MASTER: [Action; 3] = [Action::SendAdvert { priority: 100 }, Action::GratuitousArp, Action::BecameMaster];

#[test]
fn config_errors_are_clear() {
    let bad = |f: fn(&mut InstanceConfig)| {
        let mut cfg = config(100, SRC);
        f(&mut cfg);
        Instance::new(cfg).unwrap_err()
    };
    assert_eq!(bad(|c| c.vrid = 0), VrrpConfigError::VridZero);
    assert_eq!(bad(|c| c.priority = 0), VrrpConfigError::PriorityZero);
    assert_eq!(bad(|c| c.advert_interval_cs = 0), VrrpConfigError::IntervalOutOfRange(0));
    assert_eq!(bad(|c| c.advert_interval_cs = 4096), VrrpConfigError::IntervalOutOfRange(4096));
    assert_eq!(bad(|c| c.addresses.clear()), VrrpConfigError::NoAddresses);
    assert_eq!(bad(|c| c.addresses = vec![VIP; 256]), VrrpConfigError::TooManyAddresses(256));
    assert_eq!(
        VrrpConfigError::IntervalOutOfRange(0).to_string(),
        "advertisement interval 0 cs is out of range: use 1..=4095 cs (10 ms to 40.95 s)"
    );
}

#[test]
fn timing_matches_the_rfc_formulas_exactly() {
    // Priority 100: Skew = (156 * 100) / 256 = 60 cs; Down = 3 * 100 + 60 = 360 cs.
    assert_eq!(skew_time_cs(100, 100), 60);
    assert_eq!(master_down_interval_cs(100, 100), 360);
    // Priority 254: Skew = (2 * 100) / 256 = 0 cs; Down = 300 cs.
    assert_eq!(skew_time_cs(254, 100), 0);
    assert_eq!(master_down_interval_cs(254, 100), 300);
    let i = instance(100, SRC);
    assert_eq!((i.skew_time_ms(), i.master_down_interval_ms()), (600, 3600));
    let i = instance(254, SRC);
    assert_eq!((i.skew_time_ms(), i.master_down_interval_ms()), (0, 3000));
}

#[test]
fn owner_starts_as_master_and_advertises() {
    let mut owner = instance(255, SRC);
    assert_eq!(owner.state(), State::Initialize);
    assert_eq!(owner.next_deadline(), None);
    assert_eq!(owner.start(5_000), [Action::SendAdvert { priority: 255 }, Action::GratuitousArp, Action::BecameMaster]);
    assert_eq!(owner.state(), State::Master);
    assert_eq!(owner.next_deadline(), Some(6_000));
    assert_eq!(owner.master_addr(), Some(SRC));
    assert_eq!(owner.transitions(), 1);
    assert_eq!(owner.start(5_001), []);
}

#[test]
fn backup_starts_with_the_master_down_timer_and_takes_over_when_it_runs_out() {
    let mut b = instance(100, SRC);
    assert_eq!(b.start(1_000), [Action::BecameBackup]);
    assert_eq!(b.state(), State::Backup);
    assert_eq!(b.next_deadline(), Some(1_000 + 3_600));
    assert_eq!(b.master_addr(), None);
    assert_eq!(b.on_timer(4_599), []);
    assert_eq!(b.on_timer(4_600), BECOME_MASTER);
    assert_eq!(b.state(), State::Master);
    assert_eq!(b.next_deadline(), Some(5_600));
    assert_eq!(b.transitions(), 2);
}

#[test]
fn master_advertises_at_its_interval() {
    let mut m = instance(255, SRC);
    m.start(0);
    let mut sent = Vec::new();
    for now in (0..=5_000).step_by(10) {
        if m.next_deadline().is_some_and(|d| now >= d) {
            assert_eq!(m.on_timer(now), [Action::SendAdvert { priority: 255 }]);
            sent.push(now);
        }
    }
    assert_eq!(sent, [1_000, 2_000, 3_000, 4_000, 5_000]);
    assert_eq!(m.transitions(), 1);
}

#[test]
fn on_timer_before_the_deadline_does_nothing() {
    let mut m = instance(255, SRC);
    assert_eq!(m.on_timer(10_000), []);
    m.start(0);
    assert_eq!(m.on_timer(999), []);
    assert_eq!(m.next_deadline(), Some(1_000));
}

/// A Master of priority 100 stepping back: its last advertisement, then Backup.
const STEP_BACK_100: [Action; 2] = [Action::SendAdvert { priority: 100 }, Action::BecameBackup];

#[test]
fn higher_priority_wins_the_election() {
    let mut m = instance(100, SRC);
    m.start(0);
    m.on_timer(3_600);
    assert_eq!(m.state(), State::Master);
    let answer = [Action::SendAdvert { priority: 100 }, Action::GratuitousArp];
    assert_eq!(m.on_advert(&advert(99, 100), HIGH, 3_700), answer, "the loser is answered");
    assert_eq!(m.state(), State::Master);
    assert_eq!(m.on_advert(&advert(101, 100), LOW, 3_800), STEP_BACK_100);
    assert_eq!(m.state(), State::Backup);
    assert_eq!(m.master_addr(), Some(LOW));
    assert_eq!(m.next_deadline(), Some(3_800 + 3_600));
}

#[test]
fn equal_priority_is_won_by_the_higher_address() {
    let mut m = instance(100, SRC);
    m.start(0);
    m.on_timer(3_600);
    let answer = [Action::SendAdvert { priority: 100 }, Action::GratuitousArp];
    assert_eq!(m.on_advert(&advert(100, 100), LOW, 4_000), answer, "the loser is answered");
    assert_eq!(m.state(), State::Master);
    assert_eq!(m.on_advert(&advert(100, 100), HIGH, 4_100), STEP_BACK_100);
    assert_eq!(m.master_addr(), Some(HIGH));
    // Unsigned comparison in network byte order: 200.0.0.1 > 10.0.0.1 even with the top bit set.
    let mut a = instance(100, Ipv4Addr::new(10, 0, 0, 1));
    a.start(0);
    a.on_timer(3_600);
    assert_eq!(a.on_advert(&advert(100, 100), Ipv4Addr::new(200, 0, 0, 1), 4_000), STEP_BACK_100);
}

#[test]
fn backup_with_preempt_ignores_a_lower_priority_master_and_takes_over() {
    let mut b = instance(100, SRC);
    b.start(0);
    for now in (0..3_600).step_by(1_000) {
        assert_eq!(b.on_advert(&advert(50, 100), HIGH, now), []);
    }
    assert_eq!(b.next_deadline(), Some(3_600));
    assert_eq!(b.master_addr(), Some(HIGH));
    assert_eq!(b.on_timer(3_600), BECOME_MASTER);
}

#[test]
fn backup_without_preempt_follows_a_lower_priority_master() {
    let mut b = Instance::new(InstanceConfig { preempt: false, ..config(100, SRC) }).unwrap();
    b.start(0);
    for now in (0..10_000).step_by(1_000) {
        assert_eq!(b.on_advert(&advert(50, 100), HIGH, now), []);
        assert_eq!(b.next_deadline(), Some(now + 3_600));
    }
    assert_eq!(b.state(), State::Backup);
}

#[test]
fn backup_follows_a_higher_priority_master_with_or_without_preempt() {
    let mut b = instance(100, SRC);
    b.start(0);
    assert_eq!(b.on_advert(&advert(200, 100), LOW, 2_000), []);
    assert_eq!(b.next_deadline(), Some(5_600));
    assert_eq!(b.on_advert(&advert(100, 100), LOW, 3_000), []);
    assert_eq!(b.next_deadline(), Some(6_600));
}

#[test]
fn preempt_delay_postpones_the_takeover() {
    // Priority 200: Down = 300 + (56 * 100) / 256 = 321 cs. The lower-priority master's adverts
    // reset the timer until 2_500 ms after the first one, then are ignored.
    let mut b = Instance::new(InstanceConfig { preempt_delay_ms: 2_500, ..config(200, SRC) }).unwrap();
    b.start(0);
    for now in [0, 1_000, 2_000] {
        b.on_advert(&advert(100, 100), HIGH, now);
        assert_eq!(b.next_deadline(), Some(now + 3_210));
    }
    for now in [3_000, 4_000, 5_000] {
        b.on_advert(&advert(100, 100), HIGH, now);
        assert_eq!(b.next_deadline(), Some(5_210));
    }
    assert_eq!(b.state(), State::Backup);
    assert_eq!(b.on_timer(5_210), [Action::SendAdvert { priority: 200 }, Action::GratuitousArp, Action::BecameMaster]);
}

#[test]
fn a_higher_priority_advert_restarts_the_preempt_delay() {
    let mut b = Instance::new(InstanceConfig { preempt_delay_ms: 2_500, ..config(200, SRC) }).unwrap();
    b.start(0);
    b.on_advert(&advert(100, 100), HIGH, 0);
    b.on_advert(&advert(250, 100), LOW, 1_000);
    // The clock starts again at 2_000: accepted until 4_500.
    b.on_advert(&advert(100, 100), HIGH, 2_000);
    b.on_advert(&advert(100, 100), HIGH, 4_000);
    assert_eq!(b.next_deadline(), Some(7_210));
    b.on_advert(&advert(100, 100), HIGH, 5_000);
    assert_eq!(b.next_deadline(), Some(7_210));
}

#[test]
fn priority_zero_shutdown_hands_over_after_skew_time() {
    let mut m = instance(200, HIGH);
    let mut b = instance(100, SRC);
    m.start(0);
    b.start(0);
    assert_eq!(m.on_timer(3_210)[2], Action::BecameMaster);
    assert_eq!(b.on_advert(&m.advert(200), HIGH, 3_210), []);
    assert_eq!(b.next_deadline(), Some(3_210 + 3_600));
    assert_eq!(m.shutdown(4_000), [Action::SendAdvert { priority: 0 }]);
    assert_eq!((m.state(), m.next_deadline(), m.master_addr()), (State::Initialize, None, None));
    assert_eq!(m.transitions(), 3);
    assert_eq!(b.on_advert(&m.advert(0), HIGH, 4_000), []);
    assert_eq!(b.next_deadline(), Some(4_000 + 600));
    assert_eq!(b.master_addr(), None);
    assert_eq!(b.on_timer(4_600), BECOME_MASTER);
}

#[test]
fn master_answers_a_priority_zero_advert_at_once() {
    let mut m = instance(255, SRC);
    m.start(0);
    assert_eq!(m.on_advert(&advert(0, 100), LOW, 400), [Action::SendAdvert { priority: 255 }]);
    assert_eq!(m.next_deadline(), Some(1_400));
}

#[test]
fn master_answers_a_lower_priority_master_and_announces_again() {
    // The split brain healing: both Masters; the lower one hears the higher and steps back, the
    // higher answers the lower at once and takes the addresses back.
    let mut high = instance(200, SRC);
    high.start(0);
    high.on_timer(3_600 + 1_000);
    assert_eq!(high.state(), State::Master);
    assert_eq!(
        high.on_advert(&advert(100, 100), LOW, 5_000),
        [Action::SendAdvert { priority: 200 }, Action::GratuitousArp]
    );
    assert_eq!((high.state(), high.next_deadline()), (State::Master, Some(6_000)));
    let mut low = instance(100, LOW);
    low.start(0);
    low.on_timer(4_000);
    assert_eq!(low.state(), State::Master);
    assert_eq!(low.on_advert(&high.advert(200), SRC, 5_001), STEP_BACK_100, "a last word to the winner");
}

#[test]
fn backup_shutdown_sends_nothing() {
    let mut b = instance(100, SRC);
    b.start(0);
    assert_eq!(b.shutdown(10), []);
    assert_eq!(b.state(), State::Initialize);
    assert_eq!(b.on_advert(&advert(200, 100), LOW, 20), []);
    assert_eq!(b.on_timer(1_000_000), []);
    assert_eq!(b.start(30), [Action::BecameBackup]);
}

#[test]
fn backup_adopts_the_masters_advert_interval() {
    let mut b = instance(100, SRC);
    b.start(0);
    assert_eq!(b.master_adver_interval_cs(), 100);
    b.on_advert(&advert(200, 200), LOW, 1_000);
    // Skew = (156 * 200) / 256 = 121 cs; Down = 600 + 121 = 721 cs.
    assert_eq!(b.master_adver_interval_cs(), 200);
    assert_eq!(b.skew_time_ms(), 1_210);
    assert_eq!(b.next_deadline(), Some(1_000 + 7_210));
    // And so does a Master that loses: it learns the winner's interval.
    let mut m = instance(255, SRC);
    m.start(0);
    m.on_advert(&advert(255, 50), HIGH, 100);
    assert_eq!(m.master_adver_interval_cs(), 50);
    assert_eq!(m.next_deadline(), Some(100 + 1_500));
}

#[test]
fn adverts_for_another_vrid_are_ignored() {
    let mut m = instance(100, SRC);
    m.start(0);
    let other = Advert { vrid: 52, ..advert(200, 100) };
    assert_eq!(m.on_advert(&other, HIGH, 100), []);
    assert_eq!(m.next_deadline(), Some(3_600));
}

#[test]
fn next_deadline_drives_a_two_router_election() {
    // Two routers on one lossless wire, driven by the earliest deadline: the higher priority ends
    // as the only Master, whatever the start order.
    let mut routers = [instance(100, SRC), instance(150, LOW)];
    routers[0].start(0);
    routers[1].start(50);
    let mut now = 0;
    for _ in 0..50 {
        let (idx, due) = routers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.next_deadline().map(|d| (i, d)))
            .min_by_key(|&(_, d)| d)
            .unwrap();
        assert!(due >= now, "deadlines never go back in time");
        now = due;
        let src = routers[idx].config().local_addr;
        for action in routers[idx].on_timer(now) {
            if let Action::SendAdvert { priority } = action {
                let adv = routers[idx].advert(priority);
                routers[1 - idx].on_advert(&adv, src, now);
            }
        }
        assert!(routers.iter().all(|r| r.next_deadline().is_some()));
    }
    assert_eq!(routers[1].state(), State::Master);
    assert_eq!(routers[0].state(), State::Backup);
    assert_eq!(routers[0].master_addr(), Some(LOW));
}
