//! `UDP_CHECK`: a datagram sent from a connected UDP socket.
//!
//! An ICMP port unreachable for a connected socket comes back as `ECONNREFUSED` on its next
//! receive, so the probe sends the payload and waits on `recv`: a datagram back is up, a refusal is
//! down. Silence is decided by the caller's timeout: down with `require_reply`, up without it (which
//! therefore always takes the whole timeout for a server that does not answer).

use std::net::{Ipv4Addr, SocketAddrV4};

use ctrl::vocab::health::UdpCheck;
use tokio::net::UdpSocket;

use super::Verdict;

/// The most a reply may be; longer ones are truncated, which does not matter here.
const REPLY_CAP: usize = 2048;

/// Sends `check.payload` to `addr` and waits for an answer or a refusal (the caller bounds the wait).
pub(super) async fn probe(check: &UdpCheck, addr: SocketAddrV4) -> Verdict {
    let socket = match connected(addr).await {
        Ok(socket) => socket,
        Err(err) => return Verdict::io_error(&err),
    };
    if let Err(err) = socket.send(&check.payload).await {
        return refused_or(&err);
    }
    let mut reply = [0u8; REPLY_CAP];
    match socket.recv(&mut reply).await {
        Ok(len) => Verdict::up(format!("answered ({len} bytes)")),
        Err(err) => refused_or(&err),
    }
}

/// A UDP socket on an ephemeral port, connected to `addr`.
pub(super) async fn connected(addr: SocketAddrV4) -> std::io::Result<UdpSocket> {
    let socket = UdpSocket::bind(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 0)).await?;
    socket.connect(addr).await?;
    Ok(socket)
}

/// Down: "ICMP port unreachable" for a refusal, else the socket error.
pub(super) fn refused_or(err: &std::io::Error) -> Verdict {
    if err.kind() == std::io::ErrorKind::ConnectionRefused {
        Verdict::down("ICMP port unreachable")
    } else {
        Verdict::io_error(err)
    }
}
