//! The connection-sync message, version 1: a fixed header, fixed-size records, and a truncated
//! HMAC-SHA256 tag. All integers are big-endian.
//!
//! Header, [`HEADER_LEN`] = 28 bytes:
//!
//! | offset | size | field      | value                                                        |
//! |--------|------|------------|--------------------------------------------------------------|
//! | 0      | 4    | magic      | `b"FNSY"`                                                    |
//! | 4      | 1    | version    | 1                                                            |
//! | 5      | 1    | kind       | 1: connections (nothing else is defined)                     |
//! | 6      | 1    | syncid     | the sync group, IPVS's `--syncid` (0..=255)                  |
//! | 7      | 1    | flags      | 0                                                            |
//! | 8      | 8    | sender     | the sender's random per-process nonce                        |
//! | 16     | 8    | seq        | the message's number from this sender: 1, 2, 3, ...          |
//! | 24     | 2    | count      | the number of records, 0..=[`MAX_RECORDS`]                   |
//! | 26     | 2    | reserved   | 0                                                            |
//!
//! Then `count` records of [`RECORD_LEN`] = 40 bytes each:
//!
//! | offset | size | field      | connection (kind 1)             | template (kind 2)              |
//! |--------|------|------------|---------------------------------|--------------------------------|
//! | 0      | 1    | kind       | 1                               | 2                              |
//! | 1      | 1    | proto      | 6 (TCP) or 17 (UDP)             | 6 or 17                        |
//! | 2      | 1    | method     | 0 FULLNAT, 1 NAT, 2 DR, 3 TUN   | 0                              |
//! | 3      | 1    | state      | `TcpState as u8`; 0 for UDP     | 0                              |
//! | 4      | 2    | flags      | bit 0 replied, bit 1 no output  | 0                              |
//! | 6      | 2    | worker     | the master's worker holding it  | 0                              |
//! | 8      | 4    | fwmark     | the service's mark, 0 if none   | the service's mark, 0 if none  |
//! | 12     | 4    | cip        | client address                  | client address, masked         |
//! | 16     | 4    | vip        | virtual address                 | virtual address                |
//! | 20     | 4    | lip        | local address                   | 0                              |
//! | 24     | 4    | rip        | real server address             | real server address            |
//! | 28     | 2    | cport      | client port                     | 0                              |
//! | 30     | 2    | vport      | virtual port                    | virtual port, 0 for port 0     |
//! | 32     | 2    | lport      | local port                      | 0                              |
//! | 34     | 2    | rport      | real server port                | real server port               |
//! | 36     | 4    | timeout_ms | time left until it expires      | time left until it expires     |
//!
//! Then the tag, [`TAG_LEN`] = 16 bytes: HMAC-SHA256 under the [`SyncKey`] of every byte before
//! it, truncated to its first 16 bytes (as RFC 4868 does for IPsec). A message of
//! [`MAX_RECORDS`] records is [`MAX_MESSAGE_LEN`] bytes, which fits the 1472 bytes of UDP payload
//! of a 1500-byte Ethernet MTU.
//!
//! A field the table gives as 0 is written as 0 and refused by [`decode`] when it is not:
//! version 1 has no optional parts, and a later format changes the version.
//!
//! # Checks on receipt
//!
//! [`decode`] checks, in this order: the header and tag are there (`Truncated`), the magic,
//! version, kind, syncid, flags and reserved fields, that the count is at most [`MAX_RECORDS`] and
//! the length is exactly header + count records + tag (`Truncated` when shorter, `Length` when
//! longer or over the maximum), the tag (`BadTag`), then each record. Nothing of a record is
//! looked at before the tag is verified. The replay check is the caller's, after `decode`
//! ([`super::ReplayWindow`]).
//!
//! Neither side allocates or panics, whatever the bytes.

use std::fmt;
use std::net::Ipv4Addr;

use ring::hmac;

use crate::lb::tcp_state::TCP_STATES;
use crate::lb::{FwdMethod, Protocol, TcpState};

/// The first four bytes of every message.
pub const MAGIC: [u8; 4] = *b"FNSY";
/// The format version this codec speaks.
pub const VERSION: u8 = 1;
/// The header's kind of a message of connections and templates.
pub const KIND_CONNECTIONS: u8 = 1;
/// The header's kind of a backup's request for every connection (no records): a backup that
/// starts asks, and a master sends its whole table, so that a gateway joining late (a restarted
/// old master) has the connections before it takes over.
pub const KIND_RESYNC: u8 = 2;
/// Length of the header.
pub const HEADER_LEN: usize = 28;
/// Length of one record.
pub const RECORD_LEN: usize = 40;
/// Length of the tag (truncated HMAC-SHA256).
pub const TAG_LEN: usize = 16;
/// The UDP payload a message must fit: a 1500-byte Ethernet MTU less the IPv4 and UDP headers.
pub const MAX_UDP_PAYLOAD: usize = 1500 - 20 - 8;
/// The most records in one message.
pub const MAX_RECORDS: usize = (MAX_UDP_PAYLOAD - HEADER_LEN - TAG_LEN) / RECORD_LEN;
/// The length of a message of [`MAX_RECORDS`] records.
pub const MAX_MESSAGE_LEN: usize = HEADER_LEN + MAX_RECORDS * RECORD_LEN + TAG_LEN;
/// The shortest key [`SyncKey`] takes, in bytes.
pub const MIN_KEY_LEN: usize = 16;
/// The longest key [`SyncKey`] takes, in bytes (the HMAC-SHA256 block size).
pub const MAX_KEY_LEN: usize = 64;

/// Field offsets in the header.
mod header_field {
    use std::ops::Range;

    pub const MAGIC: Range<usize> = 0..4;
    pub const VERSION: usize = 4;
    pub const KIND: usize = 5;
    pub const SYNCID: usize = 6;
    pub const FLAGS: usize = 7;
    pub const SENDER: Range<usize> = 8..16;
    pub const SEQ: Range<usize> = 16..24;
    pub const COUNT: Range<usize> = 24..26;
    pub const RESERVED: Range<usize> = 26..28;
}

/// Field offsets in a record.
mod record_field {
    use std::ops::Range;

    pub const KIND: usize = 0;
    pub const PROTO: usize = 1;
    pub const METHOD: usize = 2;
    pub const STATE: usize = 3;
    pub const FLAGS: Range<usize> = 4..6;
    pub const WORKER: Range<usize> = 6..8;
    pub const FWMARK: Range<usize> = 8..12;
    pub const CIP: Range<usize> = 12..16;
    pub const VIP: Range<usize> = 16..20;
    pub const LIP: Range<usize> = 20..24;
    pub const RIP: Range<usize> = 24..28;
    pub const CPORT: Range<usize> = 28..30;
    pub const VPORT: Range<usize> = 30..32;
    pub const LPORT: Range<usize> = 32..34;
    pub const RPORT: Range<usize> = 34..36;
    pub const TIMEOUT_MS: Range<usize> = 36..40;
}

/// The key that authenticates messages: shared by every gateway of a sync group, from the
/// configuration. 16 to 64 bytes.
#[derive(Clone)]
pub struct SyncKey(hmac::Key);

/// Why a key was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The key is not 16 to 64 bytes long.
    #[error("a sync key is {MIN_KEY_LEN} to {MAX_KEY_LEN} bytes, this one is {0}")]
    Length(usize),
    /// The hex text has an odd number of digits.
    #[error("a hex sync key has an even number of digits")]
    OddHexLength,
    /// The hex text has something other than a hex digit at this character.
    #[error("a hex sync key has a character that is not a hex digit at byte {0}")]
    NotHex(usize),
}

impl SyncKey {
    /// The key of these bytes.
    pub fn new(bytes: &[u8]) -> Result<Self, KeyError> {
        if !(MIN_KEY_LEN..=MAX_KEY_LEN).contains(&bytes.len()) {
            return Err(KeyError::Length(bytes.len()));
        }
        Ok(Self(hmac::Key::new(hmac::HMAC_SHA256, bytes)))
    }

    /// The key written in hex (either case, no separators): 32 to 128 digits.
    pub fn from_hex(text: &str) -> Result<Self, KeyError> {
        let digits = text.as_bytes();
        if !digits.len().is_multiple_of(2) {
            return Err(KeyError::OddHexLength);
        }
        let mut bytes = [0u8; MAX_KEY_LEN];
        let len = digits.len() / 2;
        let bytes = bytes.get_mut(..len).ok_or(KeyError::Length(len))?;
        let digit = |at: usize| digits.get(at).copied().and_then(hex_digit).ok_or(KeyError::NotHex(at));
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = (digit(2 * i)? << 4) | digit(2 * i + 1)?;
        }
        Self::new(bytes)
    }
}

/// The value of one hex digit.
fn hex_digit(c: u8) -> Option<u8> {
    char::from(c).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

impl fmt::Debug for SyncKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SyncKey(..)")
    }
}

/// The tag of `data`: its HMAC-SHA256 under `key`, first [`TAG_LEN`] bytes.
pub(super) fn tag(key: &SyncKey, data: &[u8]) -> [u8; TAG_LEN] {
    let full = hmac::sign(&key.0, data);
    let mut tag = [0u8; TAG_LEN];
    tag.copy_from_slice(&full.as_ref()[..TAG_LEN]);
    tag
}

/// Whether two tags are equal, in a time that does not depend on where they differ.
fn tags_equal(a: &[u8; TAG_LEN], b: &[u8]) -> bool {
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | std::hint::black_box(x ^ y));
    b.len() == TAG_LEN && diff == 0
}

/// The header fields a sender sets.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The sync group (IPVS's `--syncid`): a receiver takes only its own.
    pub syncid: u8,
    /// The sender's nonce, drawn at random when its process starts: a restarted master is a new
    /// sender, whose numbers start again at 1.
    pub sender: u64,
    /// The message's number from this sender: 1 for the first, then one more for each message.
    pub seq: u64,
}

/// What a record describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A connection (wire value 1).
    Conn,
    /// A persistence template (wire value 2).
    Template,
}

impl RecordKind {
    /// The wire value.
    pub const fn code(self) -> u8 {
        match self {
            RecordKind::Conn => 1,
            RecordKind::Template => 2,
        }
    }

    /// The kind of a wire value.
    pub const fn from_code(code: u8) -> Option<Self> {
        match code {
            1 => Some(RecordKind::Conn),
            2 => Some(RecordKind::Template),
            _ => None,
        }
    }
}

/// The wire value of a forwarding method.
pub const fn method_code(method: FwdMethod) -> u8 {
    match method {
        FwdMethod::FullNat => 0,
        FwdMethod::Nat => 1,
        FwdMethod::Dr => 2,
        FwdMethod::Tun => 3,
    }
}

/// The forwarding method of a wire value.
pub const fn method_from_code(code: u8) -> Option<FwdMethod> {
    match code {
        0 => Some(FwdMethod::FullNat),
        1 => Some(FwdMethod::Nat),
        2 => Some(FwdMethod::Dr),
        3 => Some(FwdMethod::Tun),
        _ => None,
    }
}

/// A record's flags: the bits of [`SyncFlags::ALL`], no other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SyncFlags(u16);

impl SyncFlags {
    /// No flag.
    pub const NONE: SyncFlags = SyncFlags(0);
    /// A packet from the real server has been seen (the connection table's `CONN_F_REPLIED`).
    pub const REPLIED: SyncFlags = SyncFlags(1 << 0);
    /// No packet from the real server is expected, DR and TUN (IPVS's `IP_VS_CONN_F_NOOUTPUT`,
    /// the table's `CONN_F_NO_OUTPUT`).
    pub const NO_OUTPUT: SyncFlags = SyncFlags(1 << 1);
    /// Every defined flag.
    pub const ALL: SyncFlags = SyncFlags(Self::REPLIED.0 | Self::NO_OUTPUT.0);

    /// The flags of these bits; `None` if a bit is not a defined flag.
    pub const fn from_bits(bits: u16) -> Option<Self> {
        if bits & !Self::ALL.0 == 0 { Some(SyncFlags(bits)) } else { None }
    }

    /// The bits on the wire.
    pub const fn bits(self) -> u16 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: SyncFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// These flags and `other`'s.
    #[must_use]
    pub const fn with(self, other: SyncFlags) -> Self {
        SyncFlags(self.0 | other.0)
    }
}

/// One connection or persistence template, as it travels.
///
/// A template uses `proto`, `fwmark`, `cip` (the client masked by the service's netmask), `vip`,
/// `vport`, `rip`, `rport` and `timeout_ms`; a UDP connection has no `state`. The fields a record
/// does not use are written as 0 (FULLNAT for `method`, [`TcpState::None`] for `state`, whatever
/// they hold: see [`SyncRecord::normalized`]), so that they are 0 on the wire, as [`decode`]
/// requires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SyncRecord {
    /// Connection or template.
    pub kind: RecordKind,
    /// The service's protocol.
    pub proto: Protocol,
    /// The connection's forwarding method.
    pub method: FwdMethod,
    /// The connection's TCP state.
    pub state: TcpState,
    /// The connection's flags.
    pub flags: SyncFlags,
    /// The service's firewall mark, 0 for a service by address.
    pub fwmark: u32,
    /// Client address (a template's: masked).
    pub cip: Ipv4Addr,
    /// Virtual address.
    pub vip: Ipv4Addr,
    /// Local address, the source toward the real server.
    pub lip: Ipv4Addr,
    /// Real server address.
    pub rip: Ipv4Addr,
    /// Client port.
    pub cport: u16,
    /// Virtual port (a template's: 0 for a port-0 persistent service).
    pub vport: u16,
    /// Local port.
    pub lport: u16,
    /// Real server port.
    pub rport: u16,
    /// Milliseconds left until the entry expires, when it was sent.
    pub timeout_ms: u32,
    /// The master's worker that holds the connection: a backup with as many workers (and the
    /// same steering) receives its packets on the same one after a takeover.
    pub worker: u16,
}

impl SyncRecord {
    /// The record as it reads back from the wire: a template's `method`, `state`, `flags`,
    /// `lip`, `cport` and `lport` and a UDP connection's `state` set to 0.
    #[must_use]
    pub fn normalized(self) -> Self {
        let mut r = self;
        if r.kind == RecordKind::Template {
            r.method = FwdMethod::FullNat;
            r.state = TcpState::None;
            r.flags = SyncFlags::NONE;
            r.lip = Ipv4Addr::UNSPECIFIED;
            r.cport = 0;
            r.lport = 0;
            r.worker = 0;
        }
        if r.proto == Protocol::Udp {
            r.state = TcpState::None;
        }
        r
    }

    /// Writes the record, normalized, into `out` (exactly [`RECORD_LEN`] bytes).
    fn write(&self, out: &mut [u8; RECORD_LEN]) {
        let r = self.normalized();
        out[record_field::KIND] = r.kind.code();
        out[record_field::PROTO] = r.proto as u8;
        out[record_field::METHOD] = method_code(r.method);
        out[record_field::STATE] = r.state as u8;
        out[record_field::FLAGS].copy_from_slice(&r.flags.bits().to_be_bytes());
        out[record_field::WORKER].copy_from_slice(&r.worker.to_be_bytes());
        out[record_field::FWMARK].copy_from_slice(&r.fwmark.to_be_bytes());
        out[record_field::CIP].copy_from_slice(&r.cip.octets());
        out[record_field::VIP].copy_from_slice(&r.vip.octets());
        out[record_field::LIP].copy_from_slice(&r.lip.octets());
        out[record_field::RIP].copy_from_slice(&r.rip.octets());
        out[record_field::CPORT].copy_from_slice(&r.cport.to_be_bytes());
        out[record_field::VPORT].copy_from_slice(&r.vport.to_be_bytes());
        out[record_field::LPORT].copy_from_slice(&r.lport.to_be_bytes());
        out[record_field::RPORT].copy_from_slice(&r.rport.to_be_bytes());
        out[record_field::TIMEOUT_MS].copy_from_slice(&r.timeout_ms.to_be_bytes());
    }

    /// Reads a record; `Err` names the first field that is not valid.
    fn read(b: &[u8; RECORD_LEN]) -> Result<Self, &'static str> {
        let u16_at = |r: std::ops::Range<usize>| u16::from_be_bytes([b[r.start], b[r.start + 1]]);
        let u32_at = |r: std::ops::Range<usize>| {
            u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
        };
        let addr_at = |r: std::ops::Range<usize>| Ipv4Addr::from(u32_at(r));
        let kind = RecordKind::from_code(b[record_field::KIND]).ok_or("kind")?;
        let proto = Protocol::from_ip_proto(b[record_field::PROTO]).ok_or("proto")?;
        let method = method_from_code(b[record_field::METHOD]).ok_or("method")?;
        let state = b[record_field::STATE];
        if usize::from(state) >= TCP_STATES || (proto == Protocol::Udp && state != 0) {
            return Err("state");
        }
        let flags = SyncFlags::from_bits(u16_at(record_field::FLAGS)).ok_or("flags")?;
        let r = SyncRecord {
            kind,
            proto,
            method,
            state: TcpState::from_u8(state),
            flags,
            fwmark: u32_at(record_field::FWMARK),
            cip: addr_at(record_field::CIP),
            vip: addr_at(record_field::VIP),
            lip: addr_at(record_field::LIP),
            rip: addr_at(record_field::RIP),
            cport: u16_at(record_field::CPORT),
            vport: u16_at(record_field::VPORT),
            lport: u16_at(record_field::LPORT),
            rport: u16_at(record_field::RPORT),
            timeout_ms: u32_at(record_field::TIMEOUT_MS),
            worker: u16_at(record_field::WORKER),
        };
        // A template with a field only a connection has, or a UDP connection with a state
        // (refused above already).
        if r.normalized() != r {
            return Err("template field");
        }
        Ok(r)
    }
}

/// Why a received message was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SyncError {
    /// Shorter than the header and tag, or than the records its count announces.
    #[error("sync message truncated")]
    Truncated,
    /// The first four bytes are not `FNSY`.
    #[error("not a sync message (bad magic)")]
    BadMagic,
    /// A format version this codec does not speak.
    #[error("sync message version {0}, expected {VERSION}")]
    Version(u8),
    /// A message kind other than connections.
    #[error("sync message kind {0}, expected {KIND_CONNECTIONS} or {KIND_RESYNC}")]
    Kind(u8),
    /// The message is for another sync group.
    #[error("sync message for syncid {got}, this gateway's is {want}")]
    SyncId {
        /// The message's syncid.
        got: u8,
        /// The receiver's.
        want: u8,
    },
    /// The header's flags or reserved field is not 0.
    #[error("sync message header with a reserved bit set")]
    Reserved,
    /// More than [`MAX_RECORDS`] records, or bytes after the tag the count places.
    #[error("sync message length does not match its record count")]
    Length,
    /// The tag is not the key's HMAC of the message: corrupted, forged, or another key.
    #[error("sync message failed authentication")]
    BadTag,
    /// An authenticated message with a record this codec refuses.
    #[error("sync record {index} has an invalid {what}")]
    BadRecord {
        /// The record's position in the message, from 0.
        index: usize,
        /// The field: `kind`, `proto`, `method`, `state`, `flags`, `reserved`, or `template field`
        /// (a template with a connection-only field not 0).
        what: &'static str,
    },
    /// A sequence number this receiver has accepted from the sender already, or one older than
    /// its window ([`super::ReplayWindow`]).
    #[error("sync message replayed or too old")]
    Replay,
}

impl SyncError {
    /// Every label, in counter order.
    pub const LABELS: [&'static str; 10] = [
        "truncated",
        "bad_magic",
        "version",
        "kind",
        "syncid",
        "reserved",
        "length",
        "bad_tag",
        "bad_record",
        "replay",
    ];

    /// A short stable snake_case name for counters and logs.
    pub const fn label(self) -> &'static str {
        match self {
            SyncError::Truncated => "truncated",
            SyncError::BadMagic => "bad_magic",
            SyncError::Version(_) => "version",
            SyncError::Kind(_) => "kind",
            SyncError::SyncId { .. } => "syncid",
            SyncError::Reserved => "reserved",
            SyncError::Length => "length",
            SyncError::BadTag => "bad_tag",
            SyncError::BadRecord { .. } => "bad_record",
            SyncError::Replay => "replay",
        }
    }
}

/// Why a message could not be written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// More records than one message carries.
    #[error("{0} records, a sync message carries at most {MAX_RECORDS}")]
    TooManyRecords(usize),
    /// The output buffer cannot hold the message.
    #[error("a sync message of {need} bytes does not fit a buffer of {have}")]
    BufferTooSmall {
        /// The message's length.
        need: usize,
        /// The buffer's.
        have: usize,
    },
}

/// Writes a message into a buffer a record at a time, then signs it: the sender's batching.
///
/// ```
/// # use dataplane::ha::sync::{Header, MessageWriter, SyncKey, MAX_MESSAGE_LEN};
/// let key = SyncKey::new(&[7; 32]).unwrap();
/// let mut buf = [0u8; MAX_MESSAGE_LEN];
/// let writer = MessageWriter::new(&Header { syncid: 0, sender: 42, seq: 1 }, &mut buf).unwrap();
/// // Push records while `writer.push(&record)` says `true`; a `false` means full: finish, send,
/// // and start the next message with the next `seq`.
/// let len = writer.finish(&key);
/// assert_eq!(len, 28 + 16);
/// ```
#[derive(Debug)]
pub struct MessageWriter<'a> {
    out: &'a mut [u8],
    count: usize,
}

impl<'a> MessageWriter<'a> {
    /// Starts a message with this header at the start of `out`, which must hold at least the
    /// header and the tag (a buffer of [`MAX_MESSAGE_LEN`] holds a full message).
    pub fn new(header: &Header, out: &'a mut [u8]) -> Result<Self, EncodeError> {
        let have = out.len();
        let h = out
            .get_mut(..HEADER_LEN)
            .filter(|_| have >= HEADER_LEN + TAG_LEN)
            .ok_or(EncodeError::BufferTooSmall { need: HEADER_LEN + TAG_LEN, have })?;
        h[header_field::MAGIC].copy_from_slice(&MAGIC);
        h[header_field::VERSION] = VERSION;
        h[header_field::KIND] = KIND_CONNECTIONS;
        h[header_field::SYNCID] = header.syncid;
        h[header_field::FLAGS] = 0;
        h[header_field::SENDER].copy_from_slice(&header.sender.to_be_bytes());
        h[header_field::SEQ].copy_from_slice(&header.seq.to_be_bytes());
        h[header_field::COUNT].copy_from_slice(&[0, 0]);
        h[header_field::RESERVED].copy_from_slice(&[0, 0]);
        Ok(Self { out, count: 0 })
    }

    /// Appends `rec` (normalized, see [`SyncRecord::normalized`]). `false`, with nothing written,
    /// when the message has [`MAX_RECORDS`] records or the buffer has no room for one more.
    pub fn push(&mut self, rec: &SyncRecord) -> bool {
        if self.count >= MAX_RECORDS {
            return false;
        }
        let at = HEADER_LEN + self.count * RECORD_LEN;
        if self.out.len() < at + RECORD_LEN + TAG_LEN {
            return false;
        }
        let Some(slot) = self.out.get_mut(at..at + RECORD_LEN).and_then(|s| <&mut [u8; RECORD_LEN]>::try_from(s).ok())
        else {
            return false;
        };
        rec.write(slot);
        self.count += 1;
        true
    }

    /// The number of records pushed.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether no record has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Makes the message a backup's request for every connection ([`KIND_RESYNC`]): it has no
    /// record (any pushed are dropped).
    #[must_use]
    pub fn resync(mut self) -> Self {
        self.out[header_field::KIND] = KIND_RESYNC;
        self.count = 0;
        self
    }

    /// Writes the count and the tag; returns the message's length, from the start of the buffer.
    pub fn finish(self, key: &SyncKey) -> usize {
        let end = HEADER_LEN + self.count * RECORD_LEN;
        // At most MAX_RECORDS (35), so it fits.
        let count = u16::try_from(self.count).unwrap_or(u16::MAX);
        self.out[header_field::COUNT].copy_from_slice(&count.to_be_bytes());
        let tag = tag(key, &self.out[..end]);
        self.out[end..end + TAG_LEN].copy_from_slice(&tag);
        end + TAG_LEN
    }
}

/// Writes the message of `records` at the start of `out` and returns its length.
pub fn encode(key: &SyncKey, header: &Header, records: &[SyncRecord], out: &mut [u8]) -> Result<usize, EncodeError> {
    if records.len() > MAX_RECORDS {
        return Err(EncodeError::TooManyRecords(records.len()));
    }
    let need = HEADER_LEN + records.len() * RECORD_LEN + TAG_LEN;
    if out.len() < need {
        return Err(EncodeError::BufferTooSmall { need, have: out.len() });
    }
    let mut w = MessageWriter::new(header, out)?;
    for r in records {
        w.push(r);
    }
    Ok(w.finish(key))
}

/// An authenticated message whose records are all valid, borrowed from the received bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The header.
    pub header: Header,
    /// A backup's request for every connection ([`KIND_RESYNC`]; no records).
    pub resync: bool,
    /// The records' bytes: a whole number of valid records.
    records: &'a [u8],
}

impl<'a> Message<'a> {
    /// The number of records.
    pub fn len(&self) -> usize {
        self.records.len() / RECORD_LEN
    }

    /// Whether the message has no record.
    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// The records, in message order.
    pub fn records(&self) -> impl Iterator<Item = SyncRecord> + 'a {
        // `decode` read every record once, so `filter_map` skips none.
        self.records
            .chunks_exact(RECORD_LEN)
            .filter_map(|c| <&[u8; RECORD_LEN]>::try_from(c).ok().and_then(|b| SyncRecord::read(b).ok()))
    }
}

/// Checks `bytes` (the UDP payload) as a message for the sync group `syncid` under `key`, in the
/// order of the module's "Checks on receipt", and reads every record. Allocates nothing.
pub fn decode<'a>(key: &SyncKey, syncid: u8, bytes: &'a [u8]) -> Result<Message<'a>, SyncError> {
    if bytes.len() < HEADER_LEN + TAG_LEN {
        return Err(SyncError::Truncated);
    }
    let h = &bytes[..HEADER_LEN];
    if h[header_field::MAGIC] != MAGIC {
        return Err(SyncError::BadMagic);
    }
    if h[header_field::VERSION] != VERSION {
        return Err(SyncError::Version(h[header_field::VERSION]));
    }
    let kind = h[header_field::KIND];
    if kind != KIND_CONNECTIONS && kind != KIND_RESYNC {
        return Err(SyncError::Kind(kind));
    }
    if h[header_field::SYNCID] != syncid {
        return Err(SyncError::SyncId { got: h[header_field::SYNCID], want: syncid });
    }
    if h[header_field::FLAGS] != 0 || h[header_field::RESERVED] != [0, 0] {
        return Err(SyncError::Reserved);
    }
    let count = usize::from(u16::from_be_bytes([h[header_field::COUNT.start], h[header_field::COUNT.start + 1]]));
    if count > MAX_RECORDS || (kind == KIND_RESYNC && count != 0) {
        return Err(SyncError::Length);
    }
    let end = HEADER_LEN + count * RECORD_LEN;
    match bytes.len().cmp(&(end + TAG_LEN)) {
        std::cmp::Ordering::Less => return Err(SyncError::Truncated),
        std::cmp::Ordering::Greater => return Err(SyncError::Length),
        std::cmp::Ordering::Equal => {}
    }
    if !tags_equal(&tag(key, &bytes[..end]), &bytes[end..]) {
        return Err(SyncError::BadTag);
    }
    let records = &bytes[HEADER_LEN..end];
    for (index, chunk) in records.chunks_exact(RECORD_LEN).enumerate() {
        let b = <&[u8; RECORD_LEN]>::try_from(chunk).map_err(|_| SyncError::Truncated)?;
        SyncRecord::read(b).map_err(|what| SyncError::BadRecord { index, what })?;
    }
    let u64_at = |r: std::ops::Range<usize>| {
        let mut v = [0u8; 8];
        v.copy_from_slice(&h[r]);
        u64::from_be_bytes(v)
    };
    Ok(Message {
        header: Header { syncid, sender: u64_at(header_field::SENDER), seq: u64_at(header_field::SEQ) },
        resync: kind == KIND_RESYNC,
        records,
    })
}
