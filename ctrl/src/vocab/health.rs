//! Health checks of real servers: what is checked (a [`CheckKind`], keepalived's checkers), how
//! often and how patiently ([`CheckTiming`], keepalived's knobs), and what one check found
//! ([`Outcome`]).

use serde::{Deserialize, Serialize};

/// One health check of a real server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckSpec {
    /// What is checked.
    pub kind: CheckKind,
    /// The port checked (keepalived's `connect_port`); `None`: the real server's own port.
    pub port: Option<u16>,
    /// How often and how patiently.
    pub timing: CheckTiming,
}

/// keepalived's checkers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckKind {
    /// A TCP connection is accepted (`TCP_CHECK`).
    Tcp,
    /// An HTTP GET answers as expected (`HTTP_GET`, or `SSL_GET` with `tls`).
    Http(HttpCheck),
    /// A UDP datagram is not refused, or is answered (`UDP_CHECK`).
    Udp(UdpCheck),
    /// A DNS query is answered without error (`DNS_CHECK`).
    Dns(DnsCheck),
    /// An ICMP echo is answered (`PING_CHECK`).
    Icmp,
    /// A command exits 0 (`MISC_CHECK`).
    Misc(MiscCheck),
}

impl CheckKind {
    /// Its name in listings and the configuration.
    pub fn name(&self) -> &'static str {
        match self {
            CheckKind::Tcp => "tcp",
            CheckKind::Http(h) if h.tls => "https",
            CheckKind::Http(_) => "http",
            CheckKind::Udp(_) => "udp",
            CheckKind::Dns(_) => "dns",
            CheckKind::Icmp => "icmp",
            CheckKind::Misc(_) => "misc",
        }
    }
}

/// An HTTP(S) GET.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpCheck {
    /// The path requested (`url path`), starting with '/'.
    pub path: String,
    /// The `Host` header (`virtualhost`); `None`: the address checked.
    pub host: Option<String>,
    /// The status codes that mean up (`status_code`); empty: any 2xx.
    pub status: Vec<u16>,
    /// The MD5 digest of the body that means up (`digest`), 32 lowercase hex digits.
    pub digest: Option<String>,
    /// Over TLS (`SSL_GET`); the certificate is not verified.
    pub tls: bool,
}

/// A UDP probe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UdpCheck {
    /// The datagram sent (`payload`).
    pub payload: Vec<u8>,
    /// Whether an answer is required (`require_reply`); without it, up unless an ICMP port
    /// unreachable comes back within the timeout.
    pub require_reply: bool,
}

/// A DNS query.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DnsCheck {
    /// The name asked for (`name`).
    pub name: String,
    /// The query type (`type`: A = 1, NS = 2, CNAME = 5, SOA = 6, MX = 15, TXT = 16, AAAA = 28).
    pub qtype: u16,
}

/// A command run by the checker.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MiscCheck {
    /// The program and its arguments (`misc_path`), split on whitespace; run without a shell.
    pub command: Vec<String>,
    /// keepalived's `misc_dynamic`: an exit status of 2 to 255 means up with weight status - 2.
    pub dynamic: bool,
}

/// How often a real server is checked and how a verdict is reached (milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckTiming {
    /// From the start of one check to the start of the next (`delay_loop`).
    pub interval_ms: u64,
    /// How long one attempt may take (`connect_timeout`).
    pub timeout_ms: u64,
    /// Attempts after a failed one before the check counts as failed (`retry`).
    pub retries: u32,
    /// The wait before each of those attempts (`delay_before_retry`).
    pub retry_delay_ms: u64,
    /// Successful checks in a row that bring a down server up.
    pub rise: u32,
    /// Failed checks in a row that take an up server down.
    pub fall: u32,
}

impl Default for CheckTiming {
    /// A dead server is out within about 2 s x 2 + 2 s (keepalived's defaults take about 71 s).
    fn default() -> Self {
        Self { interval_ms: 2000, timeout_ms: 2000, retries: 0, retry_delay_ms: 1000, rise: 1, fall: 2 }
    }
}

/// What one check (with its retries) found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// Whether the server passed.
    pub up: bool,
    /// Why, in a few words ("connected", "HTTP 503", "timed out after 2000 ms", "refused").
    pub detail: String,
    /// How long the last attempt took, in microseconds.
    pub latency_us: u64,
    /// The weight a `misc_dynamic` check asked for.
    pub weight: Option<u32>,
}
