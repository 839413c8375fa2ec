//! Arbitrary bytes as a connection-sync message and as replay-window events: the body of the
//! `sync_message` fuzz target (`dataplane/fuzz`), also run by the tests on its seeds.
//!
//! Each input is used three ways. Asserted, beyond not panicking:
//! - as received, under [`KEY`] for syncid [`SYNCID`]: a message [`decode`] accepts is written
//!   back by [`encode`] byte for byte;
//! - signed: the input with its last 16 bytes replaced by the right tag, for the syncid it
//!   carries, so that the fuzzer reaches the records: never refused as `BadTag`, and written back
//!   byte for byte when accepted;
//! - as events for a [`ReplayWindow`], 3 bytes each (the sender, 0..12, is `b[0] % 12`; the number
//!   is `b[1..3]` big-endian): each answer, the highest number and the number of senders kept are
//!   those of a plain model (every number accepted per sender, senders evicted least recently
//!   checked first).

use std::collections::BTreeSet;

use super::codec::{self, HEADER_LEN, MAX_MESSAGE_LEN, TAG_LEN};
use super::replay::{MAX_SENDERS, WINDOW};
use super::{
    Header, Message, MessageWriter, RecordKind, ReplayWindow, SyncError, SyncFlags, SyncKey, SyncRecord, decode, encode,
};
use crate::lb::{FwdMethod, Protocol, TcpState};

/// The key of the fuzz target and its seeds (32 bytes).
pub const KEY: &[u8; 32] = b"fnat sync fuzz key, thirty-two b";
/// The syncid the inputs are decoded for as received.
pub const SYNCID: u8 = 7;

fn key() -> SyncKey {
    SyncKey::new(KEY).expect("a 32-byte key")
}

/// Runs one input.
pub fn run(data: &[u8]) {
    let key = key();
    if let Ok(m) = decode(&key, SYNCID, data) {
        written_back(&key, &m, data);
    }
    if let Some(end) = data.len().checked_sub(TAG_LEN).filter(|&e| e >= HEADER_LEN) {
        let mut signed = data.to_vec();
        let tag = codec::tag(&key, &signed[..end]);
        signed[end..].copy_from_slice(&tag);
        match decode(&key, data[6], &signed) {
            Ok(m) => written_back(&key, &m, &signed),
            Err(e) => assert_ne!(e, SyncError::BadTag, "a message with the right tag fails on something else"),
        }
    }
    replay(data);
}

/// Asserts that the accepted message `m` (a resync request, or records) encodes to `bytes`.
fn written_back(key: &SyncKey, m: &Message<'_>, bytes: &[u8]) {
    let mut out = [0u8; MAX_MESSAGE_LEN];
    let n = if m.resync {
        assert!(m.is_empty(), "a resync request has no records");
        MessageWriter::new(&m.header, &mut out).expect("room for a header").resync().finish(key)
    } else {
        let records: Vec<SyncRecord> = m.records().collect();
        encode(key, &m.header, &records, &mut out).expect("an accepted message can be written")
    };
    assert_eq!(&out[..n], bytes, "written back byte for byte");
}

/// One sender in the model: its nonce, when it was last checked, every number accepted.
struct ModelSender {
    sender: u64,
    last_checked: u64,
    accepted: BTreeSet<u64>,
}

/// The replay window fed `events`, against the model.
fn replay(events: &[u8]) {
    let mut w = ReplayWindow::new();
    let mut model: Vec<ModelSender> = Vec::new();
    for (calls, e) in (1u64..).zip(events.chunks_exact(3)) {
        let sender = u64::from(e[0] % 12);
        let seq = u64::from(u16::from_be_bytes([e[1], e[2]]));
        let want = match model.iter_mut().find(|s| s.sender == sender) {
            Some(s) => {
                s.last_checked = calls;
                let top = s.accepted.last().copied().unwrap_or(0);
                let ok = seq > 0 && !s.accepted.contains(&seq) && (seq > top || top - seq < WINDOW);
                ok && s.accepted.insert(seq)
            }
            None if seq > 0 => {
                if model.len() == MAX_SENDERS {
                    let lru = (0..model.len()).min_by_key(|&i| model[i].last_checked).unwrap_or(0);
                    model.swap_remove(lru);
                }
                model.push(ModelSender { sender, last_checked: calls, accepted: BTreeSet::from([seq]) });
                true
            }
            None => false,
        };
        let got = w.check_and_record(sender, seq);
        assert_eq!(got, if want { Ok(()) } else { Err(SyncError::Replay) }, "sender {sender} seq {seq}");
        let top = model.iter().find(|s| s.sender == sender).and_then(|s| s.accepted.last().copied());
        assert_eq!(w.highest(sender), top);
        assert_eq!(w.senders(), model.len());
    }
}

/// A record of each kind, protocol and method.
fn sample_records() -> Vec<SyncRecord> {
    let conn = |proto, method, state: TcpState, flags, n: u8| SyncRecord {
        kind: RecordKind::Conn,
        proto,
        method,
        state,
        flags,
        fwmark: 0,
        cip: [203, 0, 113, n].into(),
        vip: [192, 0, 2, 10].into(),
        lip: [10, 0, 0, 100].into(),
        rip: [10, 0, 1, n].into(),
        cport: 40000 + u16::from(n),
        vport: 80,
        lport: 5000 + u16::from(n),
        rport: 8080,
        timeout_ms: 900_000,
        worker: 0,
    };
    let template = SyncRecord {
        kind: RecordKind::Template,
        state: TcpState::None,
        lip: [0, 0, 0, 0].into(),
        cport: 0,
        lport: 0,
        flags: SyncFlags::NONE,
        cip: [203, 0, 113, 0].into(),
        vport: 0,
        timeout_ms: 300_000,
        worker: 0,
        ..conn(Protocol::Tcp, FwdMethod::FullNat, TcpState::None, SyncFlags::NONE, 1)
    };
    vec![
        conn(Protocol::Tcp, FwdMethod::FullNat, TcpState::Established, SyncFlags::REPLIED, 1),
        conn(Protocol::Tcp, FwdMethod::Nat, TcpState::SynRecv, SyncFlags::NONE, 2),
        conn(Protocol::Tcp, FwdMethod::Dr, TcpState::FinWait, SyncFlags::NO_OUTPUT, 3),
        conn(Protocol::Tcp, FwdMethod::Tun, TcpState::TimeWait, SyncFlags::ALL, 4),
        conn(Protocol::Udp, FwdMethod::FullNat, TcpState::None, SyncFlags::REPLIED, 5),
        SyncRecord { fwmark: 7, vip: [0, 0, 0, 0].into(), vport: 0, ..template },
        template,
    ]
}

/// Seeds: messages of each kind of record, an empty one and a full one, then garbage, a message
/// of another version and replay events.
pub fn seeds() -> Vec<Vec<u8>> {
    let key = key();
    let records = sample_records();
    let message = |seq: u64, records: &[SyncRecord]| {
        let mut out = [0u8; MAX_MESSAGE_LEN];
        let h = Header { syncid: SYNCID, sender: 0x5eed_0000_0000_0001, seq };
        let n = encode(&key, &h, records, &mut out).expect("the seeds fit");
        out[..n].to_vec()
    };
    let full: Vec<SyncRecord> = records.iter().cycle().take(super::MAX_RECORDS).copied().collect();
    let mut version_2 = message(1, &records[..1]);
    version_2[4] = 2;
    vec![
        message(1, &records),
        message(2, &records[..1]),
        message(3, &[]),
        message(4, &full),
        version_2,
        b"FNSY".to_vec(),
        (0u8..=255).collect(),
        vec![0, 0, 5, 1, 0, 7, 1, 0, 6, 2, 0, 1, 1, 0, 70, 1, 0, 6, 1, 0, 6],
    ]
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_seeds_run_and_the_messages_among_them_are_accepted() {
        let seeds = super::seeds();
        let key = super::key();
        for s in &seeds[..4] {
            assert!(super::decode(&key, super::SYNCID, s).is_ok());
        }
        for s in &seeds {
            super::run(s);
        }
    }
}
