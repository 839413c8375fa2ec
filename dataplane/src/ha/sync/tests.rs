//! The connection-sync codec and replay window, as specifications.

use std::net::Ipv4Addr;

use proptest::prelude::*;

use super::codec::{self, HEADER_LEN, KIND_CONNECTIONS, MAX_UDP_PAYLOAD, TAG_LEN};
use super::replay::{MAX_SENDERS, WINDOW};
use super::*;
use crate::lb::{FwdMethod, Protocol, TcpState};

const SYNCID: u8 = 9;
const SENDER: u64 = 0x0123_4567_89ab_cdef;

fn key() -> SyncKey {
    SyncKey::new(&[0x42; 32]).unwrap()
}

fn header(seq: u64) -> Header {
    Header { syncid: SYNCID, sender: SENDER, seq }
}

/// A TCP FULLNAT connection 203.0.113.5:40001 -> 192.0.2.10:80, via 10.0.0.100:5001 to
/// 10.0.1.2:8080, established, the server has replied, 15 minutes left.
fn conn() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Conn,
        proto: Protocol::Tcp,
        method: FwdMethod::FullNat,
        state: TcpState::Established,
        flags: SyncFlags::REPLIED,
        fwmark: 0,
        cip: Ipv4Addr::new(203, 0, 113, 5),
        vip: Ipv4Addr::new(192, 0, 2, 10),
        lip: Ipv4Addr::new(10, 0, 0, 100),
        rip: Ipv4Addr::new(10, 0, 1, 2),
        cport: 40001,
        vport: 80,
        lport: 5001,
        rport: 8080,
        timeout_ms: 900_000,
        worker: 0,
    }
}

/// The persistence template of 203.0.113.0/24 on the port-0 service of 192.0.2.10 (TCP), to
/// 10.0.1.2, 6 minutes left.
fn template() -> SyncRecord {
    SyncRecord {
        kind: RecordKind::Template,
        method: FwdMethod::FullNat,
        state: TcpState::None,
        flags: SyncFlags::NONE,
        cip: Ipv4Addr::new(203, 0, 113, 0),
        lip: Ipv4Addr::UNSPECIFIED,
        cport: 0,
        vport: 0,
        lport: 0,
        timeout_ms: 360_000,
        worker: 0,
        ..conn()
    }
}

/// The message of `records` (seq 1) under `key()`.
fn message(records: &[SyncRecord]) -> Vec<u8> {
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let n = encode(&key(), &header(1), records, &mut out).unwrap();
    out[..n].to_vec()
}

/// Writes the right tag for `bytes` (as its count places it), so that a test reaches the checks
/// after the tag.
fn resign(bytes: &mut [u8]) {
    let count = usize::from(u16::from_be_bytes([bytes[24], bytes[25]]));
    let end = HEADER_LEN + count * RECORD_LEN;
    let tag = codec::tag(&key(), &bytes[..end]);
    bytes[end..end + TAG_LEN].copy_from_slice(&tag);
}

fn decode_all(bytes: &[u8]) -> Result<(Header, Vec<SyncRecord>), SyncError> {
    decode(&key(), SYNCID, bytes).map(|m| (m.header, m.records().collect()))
}

/// The header of `message(&[conn()])`, then its record, field by field (the tag follows).
static CONN_MESSAGE_BYTES: [u8; HEADER_LEN + RECORD_LEN] = [
    b'F', b'N', b'S', b'Y', // magic
    1, 1, SYNCID, 0, // version, kind, syncid, flags
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, // sender
    0, 0, 0, 0, 0, 0, 0, 1, // seq
    0, 1, 0, 0, // count, reserved
    1, 6, 0, 1, // conn, TCP, FULLNAT, ESTABLISHED
    0, 1, 0, 0, // flags (replied), reserved
    0, 0, 0, 0, // fwmark
    203, 0, 113, 5, // cip
    192, 0, 2, 10, // vip
    10, 0, 0, 100, // lip
    10, 0, 1, 2, // rip
    0x9c, 0x41, 0, 80, // cport 40001, vport 80
    0x13, 0x89, 0x1f, 0x90, // lport 5001, rport 8080
    0x00, 0x0d, 0xbb, 0xa0, // timeout_ms 900000
];

#[test]
fn sizes_fit_a_1500_byte_ethernet_mtu() {
    assert_eq!((HEADER_LEN, RECORD_LEN, TAG_LEN), (28, 40, 16));
    assert_eq!(MAX_UDP_PAYLOAD, 1472);
    assert_eq!(MAX_RECORDS, 35);
    assert_eq!(MAX_MESSAGE_LEN, 1444);
    const { assert!(MAX_MESSAGE_LEN + RECORD_LEN > MAX_UDP_PAYLOAD, "one more record would not fit") };
}

#[test]
fn the_tag_is_hmac_sha256_truncated_to_16_bytes() {
    // RFC 4231 test case 5: the truncation to 128 bits.
    let key = SyncKey::new(&[0x0c; 20]).unwrap();
    let want = [0xa3, 0xb6, 0x16, 0x74, 0x73, 0x10, 0x0e, 0xe0, 0x6e, 0x0c, 0x79, 0x6c, 0x29, 0x55, 0x55, 0x2b];
    assert_eq!(codec::tag(&key, b"Test With Truncation"), want);
}

#[test]
fn a_message_is_laid_out_as_the_table_says() {
    let bytes = message(&[conn()]);
    assert_eq!(bytes.len(), HEADER_LEN + RECORD_LEN + TAG_LEN);
    assert_eq!(&bytes[..HEADER_LEN + RECORD_LEN], &CONN_MESSAGE_BYTES);
    assert_eq!(&bytes[HEADER_LEN + RECORD_LEN..], &codec::tag(&key(), &CONN_MESSAGE_BYTES));
}

#[test]
fn records_of_each_kind_protocol_method_and_state_round_trip() {
    let mut records = Vec::new();
    for method in [FwdMethod::FullNat, FwdMethod::Nat, FwdMethod::Dr, FwdMethod::Tun] {
        for state in 0..11 {
            let state = TcpState::from_u8(state);
            records.push(SyncRecord { method, state, flags: SyncFlags::ALL, ..conn() });
        }
        records.push(SyncRecord { proto: Protocol::Udp, method, state: TcpState::None, ..conn() });
    }
    records.push(template());
    records.push(SyncRecord { proto: Protocol::Udp, vport: 53, rport: 53, ..template() });
    records.push(SyncRecord { fwmark: 0xdead_beef, vip: Ipv4Addr::UNSPECIFIED, ..template() });
    for chunk in records.chunks(MAX_RECORDS) {
        let (h, got) = decode_all(&message(chunk)).unwrap();
        assert_eq!(h, header(1));
        assert_eq!(got, chunk);
    }
}

#[test]
fn an_empty_message_and_a_full_one_round_trip() {
    assert_eq!(decode_all(&message(&[])), Ok((header(1), vec![])));
    let full: Vec<SyncRecord> =
        (0..MAX_RECORDS).map(|i| SyncRecord { cport: u16::try_from(i).unwrap(), ..conn() }).collect();
    let bytes = message(&full);
    assert_eq!(bytes.len(), MAX_MESSAGE_LEN);
    let m = decode(&key(), SYNCID, &bytes).unwrap();
    assert_eq!(m.len(), MAX_RECORDS);
    assert!(m.records().eq(full.iter().copied()));
}

#[test]
fn fields_a_record_does_not_use_are_written_as_zero() {
    let noisy = SyncRecord {
        method: FwdMethod::Tun,
        state: TcpState::Established,
        flags: SyncFlags::ALL,
        lip: Ipv4Addr::new(10, 0, 0, 100),
        cport: 1,
        lport: 2,
        ..template()
    };
    assert_eq!(noisy.normalized(), template());
    let udp = SyncRecord { proto: Protocol::Udp, state: TcpState::Established, ..conn() };
    assert_eq!(udp.normalized().state, TcpState::None);
    assert_eq!(decode_all(&message(&[noisy, udp])).unwrap().1, vec![template(), udp.normalized()]);
}

#[test]
fn the_writer_batches_until_the_message_is_full() {
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let mut w = MessageWriter::new(&header(7), &mut buf).unwrap();
    assert!(w.is_empty());
    for i in 0..MAX_RECORDS {
        assert!(w.push(&conn()), "record {i} fits");
    }
    assert!(!w.push(&conn()), "the 36th does not");
    assert_eq!(w.len(), MAX_RECORDS);
    let n = w.finish(&key());
    assert_eq!(n, MAX_MESSAGE_LEN);
    let m = decode(&key(), SYNCID, &buf[..n]).unwrap();
    assert_eq!((m.header.seq, m.len()), (7, MAX_RECORDS));
}

#[test]
fn the_writer_stops_at_the_end_of_a_short_buffer() {
    let mut buf = [0u8; HEADER_LEN + 2 * RECORD_LEN + TAG_LEN + RECORD_LEN - 1];
    let mut w = MessageWriter::new(&header(1), &mut buf).unwrap();
    assert!(w.push(&conn()) && w.push(&template()));
    assert!(!w.push(&conn()), "no room for a third record and the tag");
    let n = w.finish(&key());
    assert_eq!(decode_all(&buf[..n]).unwrap().1, vec![conn(), template()]);

    let mut tiny = [0u8; HEADER_LEN + TAG_LEN - 1];
    let need = HEADER_LEN + TAG_LEN;
    assert_eq!(
        MessageWriter::new(&header(1), &mut tiny).unwrap_err(),
        EncodeError::BufferTooSmall { need, have: need - 1 }
    );
}

#[test]
fn encode_refuses_too_many_records_and_a_short_buffer() {
    let mut out = [0u8; 2 * MAX_MESSAGE_LEN];
    let many = vec![conn(); MAX_RECORDS + 1];
    assert_eq!(encode(&key(), &header(1), &many, &mut out), Err(EncodeError::TooManyRecords(MAX_RECORDS + 1)));
    let need = HEADER_LEN + 3 * RECORD_LEN + TAG_LEN;
    assert_eq!(
        encode(&key(), &header(1), &[conn(); 3], &mut out[..need - 1]),
        Err(EncodeError::BufferTooSmall { need, have: need - 1 })
    );
    assert_eq!(encode(&key(), &header(1), &[conn(); 3], &mut out[..need]), Ok(need));
}

#[test]
fn every_prefix_of_a_message_is_truncated() {
    let bytes = message(&[conn(), template()]);
    for len in 0..bytes.len() {
        assert_eq!(decode_all(&bytes[..len]), Err(SyncError::Truncated), "{len} bytes");
    }
}

#[test]
fn a_resync_request_is_an_authenticated_message_without_records() {
    let header = Header { syncid: SYNCID, sender: 7, seq: 1 };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let mut w = MessageWriter::new(&header, &mut buf).unwrap();
    assert!(w.push(&conn()));
    let n = w.resync().finish(&key());
    assert_eq!(n, 28 + 16);
    let m = decode(&key(), SYNCID, &buf[..n]).unwrap();
    assert!(m.resync && m.is_empty());
    assert_eq!(m.header, header);
    assert_eq!(decode(&SyncKey::new(&[9; 16]).unwrap(), SYNCID, &buf[..n]).unwrap_err(), SyncError::BadTag);
    let plain = message(&[conn()]);
    assert!(!decode(&key(), SYNCID, &plain).unwrap().resync);
}

#[test]
fn header_fields_are_checked_in_order() {
    let bytes = message(&[conn()]);
    let with = |at: usize, v: u8| {
        let mut b = bytes.clone();
        b[at] = v;
        decode_all(&b)
    };
    assert_eq!(with(0, b'X'), Err(SyncError::BadMagic));
    assert_eq!(with(3, b'y'), Err(SyncError::BadMagic));
    assert_eq!(with(4, 2), Err(SyncError::Version(2)));
    assert_eq!(with(4, 0), Err(SyncError::Version(0)));
    assert_eq!(with(5, 3), Err(SyncError::Kind(3)));
    assert_eq!(with(5, 2), Err(SyncError::Length), "a resync request has no records");
    assert_eq!(with(6, 10), Err(SyncError::SyncId { got: 10, want: SYNCID }));
    assert_eq!(decode(&key(), 0, &bytes).unwrap_err(), SyncError::SyncId { got: SYNCID, want: 0 });
    assert_eq!(with(7, 1), Err(SyncError::Reserved));
    assert_eq!(with(26, 0x80), Err(SyncError::Reserved));
    assert_eq!(with(27, 1), Err(SyncError::Reserved));
    assert_eq!(KIND_CONNECTIONS, 1);
}

#[test]
fn a_count_that_does_not_match_the_length_is_refused() {
    let bytes = message(&[conn(), conn()]);
    let with_count = |count: u16| {
        let mut b = bytes.clone();
        b[24..26].copy_from_slice(&count.to_be_bytes());
        decode_all(&b)
    };
    assert_eq!(with_count(1), Err(SyncError::Length), "a record's worth of bytes after the tag");
    assert_eq!(with_count(0), Err(SyncError::Length));
    assert_eq!(with_count(3), Err(SyncError::Truncated));
    assert_eq!(with_count(36), Err(SyncError::Length), "over MAX_RECORDS");
    assert_eq!(with_count(u16::MAX), Err(SyncError::Length));
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(decode_all(&longer), Err(SyncError::Length));
    // The maximum is the maximum even with the bytes to match.
    let mut over = message(&[conn(); MAX_RECORDS]);
    over.splice(HEADER_LEN..HEADER_LEN, CONN_MESSAGE_BYTES[HEADER_LEN..].iter().copied());
    over[24..26].copy_from_slice(&36u16.to_be_bytes());
    assert_eq!(decode_all(&over), Err(SyncError::Length));
}

#[test]
fn the_tag_is_checked_under_the_receivers_key() {
    let bytes = message(&[conn()]);
    let other = SyncKey::new(&[0x43; 32]).unwrap();
    assert_eq!(decode(&other, SYNCID, &bytes).unwrap_err(), SyncError::BadTag);
    let short = SyncKey::new(&[0x42; 31]).unwrap();
    assert_eq!(decode(&short, SYNCID, &bytes).unwrap_err(), SyncError::BadTag);
    let mut forged = bytes.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(decode_all(&forged), Err(SyncError::BadTag));
}

#[test]
fn any_bit_flipped_anywhere_is_refused() {
    let bytes = message(&[conn(), template()]);
    for at in 0..bytes.len() {
        for bit in 0..8 {
            let mut b = bytes.clone();
            b[at] ^= 1 << bit;
            let err = decode_all(&b).unwrap_err();
            if at >= HEADER_LEN {
                assert_eq!(err, SyncError::BadTag, "byte {at} bit {bit}");
            } else {
                assert!(!matches!(err, SyncError::BadRecord { .. } | SyncError::Replay), "byte {at} bit {bit}");
            }
        }
    }
}

#[test]
fn the_sender_and_seq_are_authenticated() {
    let bytes = message(&[conn()]);
    for at in 8..24 {
        let mut b = bytes.clone();
        b[at] ^= 0x10;
        assert_eq!(decode_all(&b), Err(SyncError::BadTag), "byte {at}");
    }
}

#[test]
fn an_authenticated_record_with_an_invalid_field_is_refused_with_its_index() {
    let bytes = message(&[conn(), conn(), template()]);
    let bad = |index: usize, at: usize, v: &[u8]| {
        let mut b = bytes.clone();
        let start = HEADER_LEN + index * RECORD_LEN + at;
        b[start..start + v.len()].copy_from_slice(v);
        resign(&mut b);
        decode_all(&b)
    };
    let refused = |index, what| Err(SyncError::BadRecord { index, what });
    assert_eq!(bad(1, 0, &[0]), refused(1, "kind"));
    assert_eq!(bad(1, 0, &[3]), refused(1, "kind"));
    assert_eq!(bad(0, 1, &[1]), refused(0, "proto"));
    assert_eq!(bad(0, 1, &[132]), refused(0, "proto"));
    assert_eq!(bad(1, 2, &[4]), refused(1, "method"));
    assert_eq!(bad(1, 3, &[11]), refused(1, "state"));
    assert_eq!(bad(1, 3, &[255]), refused(1, "state"));
    assert_eq!(bad(0, 1, &[17]), refused(0, "state"), "a UDP connection with a TCP state");
    assert_eq!(bad(0, 4, &[0, 4]), refused(0, "flags"));
    assert_eq!(bad(0, 4, &[0x80, 0]), refused(0, "flags"));
    assert_eq!(bad(2, 6, &[0, 1]), refused(2, "template field"), "a template with a worker");
    assert_eq!(bad(2, 20, &[10, 0, 0, 1]), refused(2, "template field"), "a template with a lip");
    assert_eq!(bad(2, 2, &[1]), refused(2, "template field"), "a template with a method");
    assert_eq!(bad(2, 3, &[1]), refused(2, "template field"), "a template with a state");
    assert_eq!(bad(2, 4, &[0, 1]), refused(2, "template field"), "a template with flags");
    assert_eq!(bad(2, 28, &[0, 1]), refused(2, "template field"), "a template with a cport");
    assert_eq!(bad(2, 32, &[0, 1]), refused(2, "template field"), "a template with an lport");
    // The same bytes with the tag left as it was: refused as forged, before the record is read.
    let mut b = bytes.clone();
    b[HEADER_LEN + 2] = 4;
    assert_eq!(decode_all(&b), Err(SyncError::BadTag));
    // And a record the codec accepts, rewritten and signed: still accepted.
    assert_eq!(
        bad(0, 1, &[17, 0, 0]).unwrap().1[0],
        SyncRecord { proto: Protocol::Udp, state: TcpState::None, ..conn() }
    );
}

#[test]
fn labels_are_distinct_and_listed() {
    let all = [
        SyncError::Truncated,
        SyncError::BadMagic,
        SyncError::Version(2),
        SyncError::Kind(0),
        SyncError::SyncId { got: 1, want: 2 },
        SyncError::Reserved,
        SyncError::Length,
        SyncError::BadTag,
        SyncError::BadRecord { index: 0, what: "kind" },
        SyncError::Replay,
    ];
    let labels: Vec<&str> = all.iter().map(|e| e.label()).collect();
    assert_eq!(labels, SyncError::LABELS);
    assert_eq!(SyncError::BadTag.label(), "bad_tag");
    assert_eq!(SyncError::BadRecord { index: 3, what: "method" }.to_string(), "sync record 3 has an invalid method");
}

#[test]
fn keys_are_16_to_64_bytes_of_bytes_or_hex() {
    assert_eq!(SyncKey::new(&[1; 15]).unwrap_err(), KeyError::Length(15));
    assert_eq!(SyncKey::new(&[1; 65]).unwrap_err(), KeyError::Length(65));
    assert!(SyncKey::new(&[1; 16]).is_ok() && SyncKey::new(&[1; 64]).is_ok());
    let hex = "42".repeat(32);
    let from_hex = SyncKey::from_hex(&hex).unwrap();
    assert_eq!(codec::tag(&from_hex, b"x"), codec::tag(&key(), b"x"));
    let mixed = SyncKey::from_hex("000102030405060708090a0B0c0D0e0F").unwrap();
    let bytes: Vec<u8> = (0..16).collect();
    assert_eq!(codec::tag(&mixed, b"x"), codec::tag(&SyncKey::new(&bytes).unwrap(), b"x"));
    assert_eq!(SyncKey::from_hex("abc").unwrap_err(), KeyError::OddHexLength);
    assert_eq!(SyncKey::from_hex(&"ab".repeat(15)).unwrap_err(), KeyError::Length(15));
    assert_eq!(SyncKey::from_hex(&"ab".repeat(65)).unwrap_err(), KeyError::Length(65));
    assert_eq!(SyncKey::from_hex(&format!("{}g0", "00".repeat(16))).unwrap_err(), KeyError::NotHex(32));
    assert_eq!(SyncKey::from_hex(&format!("{}0 ", "00".repeat(16))).unwrap_err(), KeyError::NotHex(33));
    assert_eq!(SyncKey::from_hex(&format!("{}é", "00".repeat(16))).unwrap_err(), KeyError::NotHex(32));
    assert_eq!(format!("{from_hex:?}"), "SyncKey(..)", "the key is not printed");
    assert_eq!(KeyError::Length(3).to_string(), "a sync key is 16 to 64 bytes, this one is 3");
}

#[test]
fn replay_the_same_number_twice_is_refused() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.check_and_record(SENDER, 1), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 1), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(SENDER, 2), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 2), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(SENDER, 1), Err(SyncError::Replay));
    assert_eq!(w.highest(SENDER), Some(2));
}

#[test]
fn replay_zero_is_never_accepted() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.check_and_record(SENDER, 0), Err(SyncError::Replay));
    assert_eq!(w.senders(), 0, "a refused first message keeps no window");
    assert_eq!(w.check_and_record(SENDER, 5), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 0), Err(SyncError::Replay));
}

#[test]
fn replay_out_of_order_within_the_window_is_accepted_once() {
    let mut w = ReplayWindow::new();
    for seq in [10, 7, 9, 8, 3] {
        assert_eq!(w.check_and_record(SENDER, seq), Ok(()), "seq {seq}");
    }
    for seq in [10, 7, 9, 8, 3] {
        assert_eq!(w.check_and_record(SENDER, seq), Err(SyncError::Replay), "seq {seq} again");
    }
    assert_eq!(w.check_and_record(SENDER, 1), Ok(()));
    assert_eq!(w.highest(SENDER), Some(10));
}

#[test]
fn replay_older_than_the_window_is_refused() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.check_and_record(SENDER, 100), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 100 - WINDOW), Err(SyncError::Replay), "64 behind");
    assert_eq!(w.check_and_record(SENDER, 100 - WINDOW + 1), Ok(()), "63 behind");
    // A jump beyond the window forgets everything below it.
    assert_eq!(w.check_and_record(SENDER, 1000), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 999), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 100), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(SENDER, u64::MAX), Ok(()));
    assert_eq!(w.check_and_record(SENDER, u64::MAX - 63), Ok(()));
    assert_eq!(w.check_and_record(SENDER, u64::MAX - 64), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(SENDER, 1001), Err(SyncError::Replay));
}

#[test]
fn replay_a_window_slides_by_the_gap() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.check_and_record(SENDER, 1), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 3), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 3 + 62), Ok(()));
    assert_eq!(w.check_and_record(SENDER, 3), Err(SyncError::Replay), "62 behind, seen");
    assert_eq!(w.check_and_record(SENDER, 2), Ok(()), "63 behind, not seen");
    assert_eq!(w.check_and_record(SENDER, 1), Err(SyncError::Replay), "64 behind");
}

#[test]
fn replay_a_new_sender_starts_a_fresh_window() {
    let mut w = ReplayWindow::new();
    assert_eq!(w.check_and_record(SENDER, 500), Ok(()));
    let restarted = SENDER + 1;
    assert_eq!(w.check_and_record(restarted, 1), Ok(()), "a restarted master numbers from 1");
    assert_eq!(w.check_and_record(restarted, 1), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(SENDER, 500), Err(SyncError::Replay), "the old sender's window is kept");
    assert_eq!((w.highest(SENDER), w.highest(restarted), w.senders()), (Some(500), Some(1), 2));
}

#[test]
fn replay_the_least_recently_seen_sender_is_evicted() {
    let mut w = ReplayWindow::new();
    for s in 0..MAX_SENDERS as u64 {
        assert_eq!(w.check_and_record(s, 10), Ok(()));
    }
    // Sender 0 is seen again (even a refused replay counts), so sender 1 is the oldest.
    assert_eq!(w.check_and_record(0, 10), Err(SyncError::Replay));
    assert_eq!(w.check_and_record(100, 1), Ok(()));
    assert_eq!(w.senders(), MAX_SENDERS);
    assert_eq!(w.highest(1), None, "evicted");
    assert_eq!(w.highest(0), Some(10));
    // An evicted sender is new again: its old number is accepted once more.
    assert_eq!(w.check_and_record(1, 10), Ok(()));
    assert_eq!(w.highest(2), None, "then sender 2 went");
}

/// Any record.
fn any_record() -> impl Strategy<Value = SyncRecord> {
    let kind = prop_oneof![Just(RecordKind::Conn), Just(RecordKind::Template)];
    let proto = prop_oneof![Just(Protocol::Tcp), Just(Protocol::Udp)];
    let method = prop_oneof![Just(FwdMethod::FullNat), Just(FwdMethod::Nat), Just(FwdMethod::Dr), Just(FwdMethod::Tun)];
    let state = (0u8..11).prop_map(TcpState::from_u8);
    let flags = (0u16..4).prop_map(|b| SyncFlags::from_bits(b).unwrap());
    let addr = || any::<u32>().prop_map(Ipv4Addr::from);
    (
        (kind, proto, method, state, flags, any::<u32>()),
        (addr(), addr(), addr(), addr(), any::<u16>()),
        (any::<u16>(), any::<u16>(), any::<u16>(), any::<u16>(), any::<u32>()),
    )
        .prop_map(
            |(
                (kind, proto, method, state, flags, fwmark),
                (cip, vip, lip, rip, worker),
                (cport, vport, lport, rport, timeout_ms),
            )| {
                SyncRecord {
                    kind,
                    proto,
                    method,
                    state,
                    flags,
                    fwmark,
                    cip,
                    vip,
                    lip,
                    rip,
                    cport,
                    vport,
                    lport,
                    rport,
                    timeout_ms,
                    worker,
                }
            },
        )
}

proptest! {
    #[test]
    fn any_records_round_trip_normalized(
        records in proptest::collection::vec(any_record(), 0..=MAX_RECORDS),
        syncid in any::<u8>(),
        sender in any::<u64>(),
        seq in any::<u64>(),
    ) {
        let h = Header { syncid, sender, seq };
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let n = encode(&key(), &h, &records, &mut out).unwrap();
        prop_assert_eq!(n, HEADER_LEN + records.len() * RECORD_LEN + TAG_LEN);
        let m = decode(&key(), syncid, &out[..n]).unwrap();
        prop_assert_eq!(m.header, h);
        prop_assert_eq!(m.len(), records.len());
        let got: Vec<SyncRecord> = m.records().collect();
        let want: Vec<SyncRecord> = records.iter().map(|r| r.normalized()).collect();
        prop_assert_eq!(got, want);
    }

    #[test]
    fn any_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..1600)) {
        let _ = decode(&key(), SYNCID, &bytes);
        fuzz::run(&bytes);
    }

    #[test]
    fn a_signed_message_with_changed_record_bytes_is_refused_by_the_record_or_read_back_exactly(
        records in proptest::collection::vec(any_record(), 1..=MAX_RECORDS),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), 0..RECORD_LEN, any::<u8>()), 1..4),
    ) {
        let mut bytes = message(&records);
        let mut changed = Vec::new();
        for (index, at, value) in changes {
            let index = index.index(records.len());
            bytes[HEADER_LEN + index * RECORD_LEN + at] = value;
            changed.push(index);
        }
        resign(&mut bytes);
        match decode(&key(), SYNCID, &bytes) {
            Ok(m) => {
                let mut out = [0u8; MAX_MESSAGE_LEN];
                let got: Vec<SyncRecord> = m.records().collect();
                prop_assert_eq!(got.len(), records.len());
                let n = encode(&key(), &m.header, &got, &mut out).unwrap();
                prop_assert_eq!(&out[..n], &bytes[..]);
            }
            Err(SyncError::BadRecord { index, .. }) => prop_assert!(changed.contains(&index)),
            Err(e) => prop_assert!(false, "refused as {:?}", e),
        }
    }
}
