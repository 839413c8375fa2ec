//! `PING_CHECK`: one ICMP echo request, up when its echo reply comes back.
//!
//! The socket is a Linux ping socket (`SOCK_DGRAM`, `IPPROTO_ICMP`) where `net.ipv4.ping_group_range`
//! allows it, else a raw socket (which needs `CAP_NET_RAW`). A ping socket sees only the replies to
//! its own identifier, without the IPv4 header; a raw socket sees every ICMP message from the peer,
//! with the header, so a reply is matched by identifier, sequence and payload and anything else
//! (our own request on loopback, other pings) is skipped.
//!
//! The socket is handed to tokio as a `UdpSocket`: tokio's datagram calls are plain `send`/`recv`
//! on the descriptor, whatever its protocol, so the attempt is async and dropping it on timeout
//! closes the socket, all without `unsafe` (tokio's `AsyncFd` now takes its descriptor unsafely).

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::atomic::{AtomicU16, Ordering};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use tokio::net::UdpSocket;

use super::Verdict;

/// ICMP type of an echo request.
const ECHO_REQUEST: u8 = 8;
/// ICMP type of an echo reply.
const ECHO_REPLY: u8 = 0;
/// The ICMP header: type, code, checksum, identifier, sequence.
const HEADER_LEN: usize = 8;
/// The data carried by the request and echoed back.
const PAYLOAD: &[u8; 16] = b"fnat health ping";
/// The most of a received message read (an IPv4 header with options, ICMP header and payload fit).
const RECV_CAP: usize = 1500;

/// Sends one echo request to `ip` and waits for its reply (the caller bounds the wait).
pub(super) async fn probe(ip: Ipv4Addr) -> Verdict {
    let (socket, kind) = match open(ip) {
        Ok(opened) => opened,
        Err(err) => return Verdict::down(format!("cannot open ICMP socket: {err}")),
    };
    let echo = Echo { ident: ident(), seq: next_seq() };
    if let Err(err) = socket.send(&echo.request()).await {
        return Verdict::io_error(&err);
    }
    let mut buf = [0u8; RECV_CAP];
    loop {
        match socket.recv(&mut buf).await {
            Ok(len) if echo.is_reply(buf.get(..len).unwrap_or_default(), kind) => return Verdict::up("echo reply"),
            Ok(_) => {}
            Err(err) => return Verdict::io_error(&err),
        }
    }
}

/// Which socket carries the echo.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SocketKind {
    /// A ping socket: the kernel sets the identifier and filters replies; no IPv4 header on receive.
    Ping,
    /// A raw socket: every ICMP message from the peer, with its IPv4 header.
    Raw,
}

/// A non-blocking ICMP socket connected to `ip`, registered with tokio: a ping socket if allowed,
/// else a raw one.
fn open(ip: Ipv4Addr) -> io::Result<(UdpSocket, SocketKind)> {
    let (socket, kind) = match Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::ICMPV4)) {
        Ok(socket) => (socket, SocketKind::Ping),
        Err(_) => (Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::ICMPV4))?, SocketKind::Raw),
    };
    socket.set_nonblocking(true)?;
    socket.connect(&SockAddr::from(SocketAddrV4::new(ip, 0)))?;
    Ok((UdpSocket::from_std(socket.into())?, kind))
}

/// The identifier of this process's echoes (a ping socket replaces it with its own).
fn ident() -> u16 {
    let [a, b, c, d] = std::process::id().to_le_bytes();
    u16::from_le_bytes([a ^ c, b ^ d])
}

/// A sequence number that no other echo of this process has used lately.
fn next_seq() -> u16 {
    static SEQ: AtomicU16 = AtomicU16::new(1);
    SEQ.fetch_add(1, Ordering::Relaxed)
}

/// One echo: its identifier and sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Echo {
    /// The identifier.
    ident: u16,
    /// The sequence number.
    seq: u16,
}

impl Echo {
    /// The echo request: header, [`PAYLOAD`], checksum filled in.
    fn request(self) -> Vec<u8> {
        let mut packet = Vec::with_capacity(HEADER_LEN + PAYLOAD.len());
        packet.extend_from_slice(&[ECHO_REQUEST, 0, 0, 0]);
        packet.extend_from_slice(&self.ident.to_be_bytes());
        packet.extend_from_slice(&self.seq.to_be_bytes());
        packet.extend_from_slice(PAYLOAD);
        let sum = checksum(&packet).to_be_bytes();
        if let Some(field) = packet.get_mut(2..4) {
            field.copy_from_slice(&sum);
        }
        packet
    }

    /// Whether `message`, as received on a `kind` socket, is the reply to this echo.
    fn is_reply(self, message: &[u8], kind: SocketKind) -> bool {
        let icmp = match kind {
            SocketKind::Ping => Some(message),
            SocketKind::Raw => skip_ipv4_header(message),
        };
        let Some([kind_byte, code, _, _, id_hi, id_lo, seq_hi, seq_lo, payload @ ..]) = icmp else {
            return false;
        };
        let ident_matches = kind == SocketKind::Ping || u16::from_be_bytes([*id_hi, *id_lo]) == self.ident;
        *kind_byte == ECHO_REPLY
            && *code == 0
            && ident_matches
            && u16::from_be_bytes([*seq_hi, *seq_lo]) == self.seq
            && payload.starts_with(PAYLOAD)
    }
}

/// What follows the IPv4 header of `packet`, if it is a well-formed IPv4 header.
fn skip_ipv4_header(packet: &[u8]) -> Option<&[u8]> {
    let first = *packet.first()?;
    let header_len = usize::from(first & 0x0F) * 4;
    if first >> 4 != 4 || header_len < 20 {
        return None;
    }
    packet.get(header_len..)
}

/// The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of the
/// 16-bit big-endian words of `data`, an odd last byte padded with zero.
fn checksum(data: &[u8]) -> u16 {
    let mut words = data.chunks_exact(2);
    let mut sum: u64 = words.by_ref().map(|w| u64::from(u16::from_be_bytes([w[0], w[1]]))).sum();
    if let [last] = words.remainder() {
        sum += u64::from(*last) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    !u16::try_from(sum).unwrap_or(0xFFFF)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 section 3: the sum of these words is 0xddf2.
        assert_eq!(checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]), !0xddf2);
        assert_eq!(checksum(&[0x00, 0x01, 0xf2]), !0xf201);
        assert_eq!(checksum(&[]), 0xFFFF);
    }

    #[test]
    fn request_checksums_to_zero_and_carries_ident_and_seq() {
        let request = Echo { ident: 0x1234, seq: 0xbeef }.request();
        assert_eq!(request[..8], [8, 0, request[2], request[3], 0x12, 0x34, 0xbe, 0xef]);
        assert_eq!(&request[8..], PAYLOAD);
        assert_eq!(checksum(&request), 0);
    }

    /// The reply to `echo` as a raw socket receives it: a 20-byte IPv4 header, then ICMP.
    fn raw_reply(echo: Echo) -> Vec<u8> {
        let mut reply = vec![0x45, 0, 0, 44, 0, 0, 0x40, 0, 64, 1, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1];
        let mut icmp = echo.request();
        icmp[0] = ECHO_REPLY;
        reply.extend_from_slice(&icmp);
        reply
    }

    #[test]
    fn reply_is_matched_by_type_ident_seq_and_payload() {
        let echo = Echo { ident: 7, seq: 9 };
        let reply = raw_reply(echo);
        assert!(echo.is_reply(&reply, SocketKind::Raw));
        assert!(echo.is_reply(&reply[20..], SocketKind::Ping));
        assert!(!echo.is_reply(&reply[20..], SocketKind::Raw), "a raw message starts with IPv4");
        assert!(!Echo { ident: 8, seq: 9 }.is_reply(&reply, SocketKind::Raw));
        assert!(Echo { ident: 8, seq: 9 }.is_reply(&reply[20..], SocketKind::Ping), "the kernel set the ident");
        assert!(!Echo { ident: 7, seq: 10 }.is_reply(&reply, SocketKind::Raw));
        assert!(!echo.is_reply(&raw_reply(echo)[..30], SocketKind::Raw), "payload cut short");
        let mut request = reply.clone();
        request[20] = ECHO_REQUEST;
        assert!(!echo.is_reply(&request, SocketKind::Raw), "our own request seen on loopback");
        assert!(!echo.is_reply(&[], SocketKind::Raw));
        assert!(!echo.is_reply(&[0x46, 0, 0], SocketKind::Raw));
    }
}
