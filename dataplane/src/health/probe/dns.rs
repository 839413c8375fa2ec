//! `DNS_CHECK`: one query over UDP, up when it is answered with RCODE 0 (NOERROR).
//!
//! The message code is sans-IO: [`query`] builds the question (RFC 1035 section 4.1, RD set, class
//! IN) and [`judge`] reads an answer, checking its length before every field it reads. An answer
//! with another ID, without QR, or with another question is down at once, not waited past.

use std::fmt;
use std::net::SocketAddrV4;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use ctrl::vocab::health::DnsCheck;

use super::Verdict;
use super::udp::{connected, refused_or};

/// The fixed header: ID, flags, and the four section counts.
const HEADER_LEN: usize = 12;
/// The longest name in its dotted form, without the final dot (RFC 1035 2.3.4, as written).
const MAX_NAME: usize = 253;
/// The longest label.
const MAX_LABEL: usize = 63;
/// Flags of the query: RD (recursion desired).
const FLAG_RD: u16 = 0x0100;
/// Flags of an answer: QR (this is a response).
const FLAG_QR: u16 = 0x8000;
/// Class IN.
const CLASS_IN: u16 = 1;
/// The most of an answer read (plain DNS over UDP is at most 512 bytes without EDNS).
const REPLY_CAP: usize = 4096;

/// Sends one query for `check.name` to `addr` and judges the first answer (the caller bounds the wait).
pub(super) async fn probe(check: &DnsCheck, addr: SocketAddrV4) -> Verdict {
    let query = match query(next_id(), &check.name, check.qtype) {
        Ok(query) => query,
        Err(err) => return Verdict::down(format!("bad name: {err}")),
    };
    let socket = match connected(addr).await {
        Ok(socket) => socket,
        Err(err) => return Verdict::io_error(&err),
    };
    if let Err(err) = socket.send(&query).await {
        return refused_or(&err);
    }
    let mut reply = [0u8; REPLY_CAP];
    match socket.recv(&mut reply).await {
        Ok(len) => judge(&query, reply.get(..len).unwrap_or_default()),
        Err(err) => refused_or(&err),
    }
}

/// Why a name cannot be asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum NameError {
    /// Two dots in a row, or a leading dot.
    EmptyLabel,
    /// A label longer than 63 bytes (its length).
    LabelTooLong(usize),
    /// A name longer than 253 bytes (its length).
    NameTooLong(usize),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::EmptyLabel => write!(f, "empty label"),
            NameError::LabelTooLong(len) => write!(f, "label of {len} bytes (max {MAX_LABEL})"),
            NameError::NameTooLong(len) => write!(f, "{len} bytes (max {MAX_NAME})"),
        }
    }
}

/// A query message: header with `id` and RD, one question for `name`, `qtype`, class IN.
pub(super) fn query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, NameError> {
    let mut msg = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    for field in [id, FLAG_RD, 1, 0, 0, 0] {
        msg.extend_from_slice(&field.to_be_bytes());
    }
    encode_name(name, &mut msg)?;
    msg.extend_from_slice(&qtype.to_be_bytes());
    msg.extend_from_slice(&CLASS_IN.to_be_bytes());
    Ok(msg)
}

/// Appends `name` ("example.com" or "example.com.") as length-prefixed labels and the root label.
pub(super) fn encode_name(name: &str, out: &mut Vec<u8>) -> Result<(), NameError> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.len() > MAX_NAME {
        return Err(NameError::NameTooLong(name.len()));
    }
    if !name.is_empty() {
        for label in name.split('.') {
            if label.is_empty() {
                return Err(NameError::EmptyLabel);
            }
            let too_long = NameError::LabelTooLong(label.len());
            let len = u8::try_from(label.len()).ok().filter(|&len| usize::from(len) <= MAX_LABEL).ok_or(too_long)?;
            out.push(len);
            out.extend_from_slice(label.as_bytes());
        }
    }
    out.push(0);
    Ok(())
}

/// The verdict on `reply` to `query` (as built by [`query`]).
pub(super) fn judge(query: &[u8], reply: &[u8]) -> Verdict {
    let (Some(want_id), Some(id), Some(flags)) = (be16(query, 0), be16(reply, 0), be16(reply, 2)) else {
        return Verdict::down(format!("garbage: {} bytes", reply.len()));
    };
    if reply.len() < HEADER_LEN {
        return Verdict::down(format!("garbage: {} bytes", reply.len()));
    }
    if id != want_id {
        return Verdict::down(format!("wrong ID {id:#06x} (want {want_id:#06x})"));
    }
    if flags & FLAG_QR == 0 {
        return Verdict::down("garbage: not a response");
    }
    let rcode = flags & 0x000F;
    if rcode != 0 {
        return Verdict::down(format!("rcode {rcode} ({})", rcode_name(rcode)));
    }
    if let Some(bad) = question_mismatch(query, reply) {
        return Verdict::down(bad);
    }
    let answers = be16(reply, 6).unwrap_or(0);
    Verdict::up(format!("NOERROR ({answers} answers)"))
}

/// Why the question in `reply` is not the one of `query`, if it is not; an answer may omit it.
fn question_mismatch(query: &[u8], reply: &[u8]) -> Option<String> {
    match be16(reply, 4) {
        Some(0) => return None,
        Some(1) => {}
        Some(n) => return Some(format!("garbage: {n} questions")),
        None => return Some("garbage: short header".to_owned()),
    }
    let asked = query.get(HEADER_LEN..)?;
    let Some(echoed) = reply.get(HEADER_LEN..HEADER_LEN + asked.len()) else {
        return Some("garbage: question cut short".to_owned());
    };
    // The name may come back in another case; the type and class may not.
    let name_len = asked.len().saturating_sub(4);
    let same = asked.get(..name_len)?.eq_ignore_ascii_case(echoed.get(..name_len)?)
        && asked.get(name_len..) == echoed.get(name_len..);
    (!same).then(|| "garbage: another question".to_owned())
}

/// The big-endian `u16` at `offset`, if `buf` holds it.
fn be16(buf: &[u8], offset: usize) -> Option<u16> {
    let bytes = buf.get(offset..offset.checked_add(2)?)?;
    Some(u16::from_be_bytes([*bytes.first()?, *bytes.get(1)?]))
}

/// The mnemonic of an RCODE (RFC 1035, RFC 2136).
fn rcode_name(rcode: u16) -> &'static str {
    match rcode {
        0 => "NOERROR",
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        6 => "YXDOMAIN",
        7 => "YXRRSET",
        8 => "NXRRSET",
        9 => "NOTAUTH",
        10 => "NOTZONE",
        _ => "unknown",
    }
}

/// A query ID that differs from one query to the next and between runs: the clock's nanoseconds
/// mixed with a counter (not a defence against spoofing; a checker on the LAN needs none).
fn next_id() -> u16 {
    static COUNTER: AtomicU16 = AtomicU16::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    let [a, b, c, d] = nanos.to_le_bytes();
    let clock = u16::from_le_bytes([a ^ c, b ^ d]);
    clock ^ COUNTER.fetch_add(1, Ordering::Relaxed).wrapping_mul(0x9E37)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A query for "example.com" A with ID 0xabcd, as dig writes it (without EDNS).
    static QUERY_EXAMPLE_COM_A: [u8; 29] = [
        0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // header
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 3, b'c', b'o', b'm', 0, // name
        0x00, 0x01, 0x00, 0x01, // A, IN
    ];

    #[test]
    fn query_is_rfc1035_with_rd() {
        assert_eq!(query(0xabcd, "example.com", 1).as_deref(), Ok(&QUERY_EXAMPLE_COM_A[..]));
        assert_eq!(query(0xabcd, "example.com.", 1).as_deref(), Ok(&QUERY_EXAMPLE_COM_A[..]));
    }

    #[test]
    fn root_name_is_one_zero_byte() {
        let mut out = Vec::new();
        assert_eq!(encode_name(".", &mut out), Ok(()));
        assert_eq!(out, [0]);
    }

    #[test]
    fn name_encoder_refuses_long_labels_long_names_and_empty_labels() {
        let mut out = Vec::new();
        let label63 = "a".repeat(63);
        assert_eq!(encode_name(&format!("{label63}.com"), &mut out), Ok(()));
        assert_eq!(encode_name(&format!("{}.com", "a".repeat(64)), &mut out), Err(NameError::LabelTooLong(64)));
        let name253 = format!("{label63}.{label63}.{label63}.{}", "b".repeat(61));
        assert_eq!(name253.len(), 253);
        assert_eq!(encode_name(&name253, &mut out), Ok(()));
        assert_eq!(encode_name(&format!("{name253}c"), &mut out), Err(NameError::NameTooLong(254)));
        assert_eq!(encode_name("a..b", &mut out), Err(NameError::EmptyLabel));
        assert_eq!(encode_name(".a", &mut out), Err(NameError::EmptyLabel));
    }

    /// The answer to [`QUERY_EXAMPLE_COM_A`] with `flags` and the question echoed.
    fn reply(flags: u16) -> Vec<u8> {
        let mut reply = QUERY_EXAMPLE_COM_A.to_vec();
        reply[2..4].copy_from_slice(&flags.to_be_bytes());
        reply
    }

    #[test]
    fn judge_reads_rcode_qr_and_id() {
        let q = &QUERY_EXAMPLE_COM_A;
        assert_eq!(judge(q, &reply(0x8180)), Verdict::up("NOERROR (0 answers)"));
        assert_eq!(judge(q, &reply(0x8183)), Verdict::down("rcode 3 (NXDOMAIN)"));
        assert_eq!(judge(q, &reply(0x8182)), Verdict::down("rcode 2 (SERVFAIL)"));
        assert_eq!(judge(q, &reply(0x0100)), Verdict::down("garbage: not a response"));
        let mut other_id = reply(0x8180);
        other_id[1] = 0xce;
        assert_eq!(judge(q, &other_id), Verdict::down("wrong ID 0xabce (want 0xabcd)"));
    }

    #[test]
    fn judge_checks_lengths_and_the_question() {
        let q = &QUERY_EXAMPLE_COM_A;
        assert_eq!(judge(q, &[]), Verdict::down("garbage: 0 bytes"));
        assert_eq!(judge(q, &reply(0x8180)[..11]), Verdict::down("garbage: 11 bytes"));
        assert_eq!(judge(q, &reply(0x8180)[..20]), Verdict::down("garbage: question cut short"));
        let mut upper = reply(0x8180);
        upper[13] = b'E';
        assert!(judge(q, &upper).up, "the name may change case");
        let mut aaaa = reply(0x8180);
        aaaa[26] = 28;
        assert_eq!(judge(q, &aaaa), Verdict::down("garbage: another question"));
        let mut no_question = reply(0x8180);
        no_question.truncate(HEADER_LEN);
        no_question[5] = 0;
        assert!(judge(q, &no_question).up);
    }

    #[test]
    fn ids_differ_between_queries() {
        let ids: std::collections::HashSet<u16> = (0..64).map(|_| next_id()).collect();
        assert!(ids.len() > 60, "{} distinct ids of 64", ids.len());
    }
}
