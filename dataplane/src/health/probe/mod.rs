//! One attempt of a health check against a real server: keepalived's checkers as async probes.
//!
//! [`probe`] is the only entry point. It runs one attempt of a [`CheckKind`] and always returns an
//! [`Outcome`] within the timeout it is given: every attempt runs under one `tokio::time::timeout`,
//! and dropping an attempt closes its sockets and kills its child process. Nothing here panics on
//! what a server sends; a server's answer only ever becomes a verdict with a short reason.
//!
//! Retries, rise/fall and scheduling belong to the caller: a probe knows nothing of earlier attempts.
//! The probes need a tokio runtime with IO and time enabled (`Builder::enable_all`).

use std::io;
use std::net::SocketAddrV4;
use std::time::{Duration, Instant};

use ctrl::vocab::{CheckKind, Outcome};

mod dns;
mod http;
mod icmp;
mod misc;
mod tcp;
mod udp;

#[cfg(test)]
mod tests;

/// One attempt of `kind` against `addr` (the real server's address and the port to check), within
/// `timeout`.
///
/// Never takes (much) longer than `timeout` and never panics. `Outcome::latency_us` is how long the
/// attempt took; `Outcome::weight` is set only by a `misc_dynamic` check. A UDP check without
/// `require_reply` waits the whole timeout for an ICMP port unreachable before it says up.
pub async fn probe(kind: &CheckKind, addr: SocketAddrV4, timeout: Duration) -> Outcome {
    let start = Instant::now();
    let verdict = match tokio::time::timeout(timeout, attempt(kind, addr)).await {
        Ok(verdict) => verdict,
        Err(_elapsed) => on_timeout(kind, timeout),
    };
    let latency_us = u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX);
    Outcome { up: verdict.up, detail: verdict.detail, latency_us, weight: verdict.weight }
}

/// Runs the probe of `kind`; the caller bounds it in time.
async fn attempt(kind: &CheckKind, addr: SocketAddrV4) -> Verdict {
    match kind {
        CheckKind::Tcp => tcp::probe(addr).await,
        CheckKind::Http(check) => http::probe(check, addr).await,
        CheckKind::Udp(check) => udp::probe(check, addr).await,
        CheckKind::Dns(check) => dns::probe(check, addr).await,
        CheckKind::Icmp => icmp::probe(*addr.ip()).await,
        CheckKind::Misc(check) => misc::probe(check).await,
    }
}

/// The verdict when the attempt ran out of time: silence is up only for a UDP check that does not
/// require a reply.
fn on_timeout(kind: &CheckKind, timeout: Duration) -> Verdict {
    let ms = timeout.as_millis();
    match kind {
        CheckKind::Udp(check) if !check.require_reply => Verdict::up(format!("no ICMP error within {ms} ms")),
        CheckKind::Udp(_) | CheckKind::Dns(_) | CheckKind::Icmp => Verdict::down(format!("no answer within {ms} ms")),
        CheckKind::Tcp | CheckKind::Http(_) | CheckKind::Misc(_) => Verdict::down(format!("timed out after {ms} ms")),
    }
}

/// What one probe found, before its latency is measured.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Verdict {
    /// Whether the server passed.
    up: bool,
    /// Why, in a few words.
    detail: String,
    /// The weight a `misc_dynamic` check asked for.
    weight: Option<u32>,
}

impl Verdict {
    /// The server passed.
    fn up(detail: impl Into<String>) -> Self {
        Self { up: true, detail: detail.into(), weight: None }
    }

    /// The server failed.
    fn down(detail: impl Into<String>) -> Self {
        Self { up: false, detail: detail.into(), weight: None }
    }

    /// The server failed because of a socket error.
    fn io_error(err: &io::Error) -> Self {
        Self::down(io_reason(err))
    }
}

/// A socket error in a few words ("refused", "reset", "host unreachable").
fn io_reason(err: &io::Error) -> String {
    use io::ErrorKind as K;
    match err.kind() {
        K::ConnectionRefused => "refused".to_owned(),
        K::ConnectionReset | K::BrokenPipe => "reset".to_owned(),
        K::ConnectionAborted => "aborted".to_owned(),
        K::TimedOut => "timed out".to_owned(),
        K::HostUnreachable => "host unreachable".to_owned(),
        K::NetworkUnreachable => "network unreachable".to_owned(),
        K::AddrNotAvailable => "address not available".to_owned(),
        _ => err.to_string(),
    }
}
