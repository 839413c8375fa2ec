//! The VRRPv3 advertisement (RFC 5798 section 5.1), IPv4 only: a zero-allocation writer and a
//! validating parser.
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Type  | Virtual Rtr ID|   Priority    |Count IPvX Addr|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |(rsvd) |     Max Adver Int     |          Checksum             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       IPv4 Address(es)                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The checksum covers the IPv4 pseudo-header (source, destination, protocol 112, VRRP length) and
//! the VRRP message (RFC 5798 section 5.2.8). [`parse`] takes the IPv4 payload, cut to the IPv4
//! total length (no Ethernet padding), and the IPv4 source and destination addresses.
//!
//! The IPv4 layer's checks are the caller's: a received advertisement whose TTL is not [`TTL`] must
//! be discarded (RFC 5798 section 7.1), and its protocol is [`PROTOCOL`]. Neither function panics,
//! whatever the bytes; [`write`] does not allocate.

use std::fmt;
use std::net::Ipv4Addr;

use crate::packet::MacAddr;
use crate::packet::checksum;

/// The IPv4 protocol number of VRRP.
pub const PROTOCOL: u8 = 112;
/// The IPv4 multicast group advertisements are sent to, `224.0.0.18`.
pub const MULTICAST_GROUP: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);
/// The IPv4 TTL of an advertisement. A sender sets it; a receiver (the caller of [`parse`], which
/// sees no IPv4 header) must discard an advertisement whose TTL is anything else.
pub const TTL: u8 = 255;
/// The VRRP version this codec speaks.
pub const VERSION: u8 = 3;
/// The only VRRP packet type, ADVERTISEMENT.
pub const TYPE_ADVERTISEMENT: u8 = 1;
/// Length of the fixed header, before the addresses.
pub const HEADER_LEN: usize = 8;
/// The largest Max Adver Int, in centiseconds (12 bits).
pub const MAX_ADVER_INT_CS: u16 = 0x0fff;

/// Field offsets in the VRRP message.
mod field {
    use std::ops::Range;

    pub const VERSION_TYPE: usize = 0;
    pub const VRID: usize = 1;
    pub const PRIORITY: usize = 2;
    pub const COUNT: usize = 3;
    pub const MAX_ADVER_INT: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// The virtual router MAC address of `vrid` for IPv4, `00-00-5E-00-01-{VRID}` (section 7.3).
pub const fn virtual_mac(vrid: u8) -> MacAddr {
    MacAddr([0x00, 0x00, 0x5e, 0x00, 0x01, vrid])
}

/// An IPv4 VRRPv3 advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Advert {
    /// The Virtual Router Identifier, 1..=255.
    pub vrid: u8,
    /// The sender's priority for this virtual router; 0 means the master is giving up.
    pub priority: u8,
    /// The advertisement interval of the sender, in centiseconds, 1..=4095.
    pub max_adver_int_cs: u16,
    /// The virtual router's IPv4 addresses (1..=255 of them).
    pub addresses: Vec<Ipv4Addr>,
}

impl Advert {
    /// The length of this advertisement on the wire.
    pub fn len(&self) -> usize {
        HEADER_LEN + 4 * self.addresses.len()
    }

    /// Whether the advertisement carries no address (and is then not valid to send).
    pub fn is_empty(&self) -> bool {
        self.addresses.is_empty()
    }
}

/// Why a received advertisement was discarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VrrpParseError {
    /// Shorter than the fixed header, or than the addresses its count announces.
    Truncated,
    /// The version field is not 3.
    WrongVersion,
    /// The type field is not 1 (ADVERTISEMENT).
    WrongType,
    /// The checksum over the pseudo-header and the message is wrong.
    BadChecksum,
    /// The address count is 0, or bytes follow the addresses it announces.
    AddressCountMismatch,
    /// The Max Adver Int is 0.
    ZeroInterval,
}

impl VrrpParseError {
    /// Every error, in counter order.
    pub const ALL: [VrrpParseError; 6] = [
        VrrpParseError::Truncated,
        VrrpParseError::WrongVersion,
        VrrpParseError::WrongType,
        VrrpParseError::BadChecksum,
        VrrpParseError::AddressCountMismatch,
        VrrpParseError::ZeroInterval,
    ];

    /// A short stable snake_case name for counters and logs.
    pub const fn label(self) -> &'static str {
        match self {
            VrrpParseError::Truncated => "vrrp_truncated",
            VrrpParseError::WrongVersion => "vrrp_wrong_version",
            VrrpParseError::WrongType => "vrrp_wrong_type",
            VrrpParseError::BadChecksum => "vrrp_bad_checksum",
            VrrpParseError::AddressCountMismatch => "vrrp_address_count_mismatch",
            VrrpParseError::ZeroInterval => "vrrp_zero_interval",
        }
    }
}

impl fmt::Display for VrrpParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

impl std::error::Error for VrrpParseError {}

/// The one's-complement sum of the pseudo-header and `message` (checksum field included).
fn message_sum(message: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> u64 {
    let pseudo = checksum::pseudo_header_v4_len(src, dst, PROTOCOL, message.len());
    checksum::sum(message, pseudo)
}

/// Parses and validates the advertisement `payload` (the IPv4 payload) sent from `src` to `dst`.
///
/// Checks, in order: the fixed header is there, version 3, type 1, the announced addresses are
/// there, the checksum, nothing follows the addresses, and the interval is not 0. The VRID, the
/// TTL and the addresses' agreement with the configuration are the caller's to check.
pub fn parse(payload: &[u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<Advert, VrrpParseError> {
    let header = payload.get(..HEADER_LEN).ok_or(VrrpParseError::Truncated)?;
    if header[field::VERSION_TYPE] >> 4 != VERSION {
        return Err(VrrpParseError::WrongVersion);
    }
    if header[field::VERSION_TYPE] & 0x0f != TYPE_ADVERTISEMENT {
        return Err(VrrpParseError::WrongType);
    }
    let count = usize::from(header[field::COUNT]);
    let end = HEADER_LEN + 4 * count;
    let addresses = payload.get(HEADER_LEN..end).ok_or(VrrpParseError::Truncated)?;
    if checksum::fold(message_sum(payload, src, dst)) != 0xffff {
        return Err(VrrpParseError::BadChecksum);
    }
    if count == 0 || payload.len() != end {
        return Err(VrrpParseError::AddressCountMismatch);
    }
    let interval = u16::from_be_bytes([header[4], header[5]]) & MAX_ADVER_INT_CS;
    if interval == 0 {
        return Err(VrrpParseError::ZeroInterval);
    }
    Ok(Advert {
        vrid: header[field::VRID],
        priority: header[field::PRIORITY],
        max_adver_int_cs: interval,
        addresses: addresses.chunks_exact(4).map(|a| Ipv4Addr::new(a[0], a[1], a[2], a[3])).collect(),
    })
}

/// Writes `adv`, sent from `src` to `dst` (for the checksum), at the start of `out`; returns its
/// length. `None`, with `out` untouched, when `out` is too short, the advertisement has no address
/// or more than 255, or its interval is not in 1..=4095.
pub fn write(adv: &Advert, src: Ipv4Addr, dst: Ipv4Addr, out: &mut [u8]) -> Option<usize> {
    let count = u8::try_from(adv.addresses.len()).ok().filter(|&c| c > 0)?;
    if adv.max_adver_int_cs == 0 || adv.max_adver_int_cs > MAX_ADVER_INT_CS {
        return None;
    }
    let message = out.get_mut(..adv.len())?;
    message[field::VERSION_TYPE] = (VERSION << 4) | TYPE_ADVERTISEMENT;
    message[field::VRID] = adv.vrid;
    message[field::PRIORITY] = adv.priority;
    message[field::COUNT] = count;
    message[field::MAX_ADVER_INT].copy_from_slice(&adv.max_adver_int_cs.to_be_bytes());
    message[field::CHECKSUM].copy_from_slice(&[0, 0]);
    for (slot, addr) in message[HEADER_LEN..].chunks_exact_mut(4).zip(&adv.addresses) {
        slot.copy_from_slice(&addr.octets());
    }
    let csum = !checksum::fold(message_sum(message, src, dst));
    message[field::CHECKSUM].copy_from_slice(&csum.to_be_bytes());
    Some(message.len())
}
