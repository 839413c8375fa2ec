//! The names of services and real servers both sides speak: protocol, service key, forwarding
//! method, real-server identity, persistence and netmask prefixes.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// The transport protocol of a virtual service.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[repr(u8)]
pub enum Protocol {
    /// TCP, IP protocol 6.
    Tcp = 6,
    /// UDP, IP protocol 17.
    Udp = 17,
}

impl Protocol {
    /// The protocol for an IPv4 protocol number, if it is one fnat balances.
    #[inline]
    pub fn from_ip_proto(proto: u8) -> Option<Self> {
        match proto {
            6 => Some(Self::Tcp),
            17 => Some(Self::Udp),
            _ => None,
        }
    }

    /// ipvsadm's name for it: `TCP` or `UDP`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Tcp => "TCP",
            Self::Udp => "UDP",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How packets of a connection reach the real server (ipvsadm's `-b`, `-m`, `-g`, `-i`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(u8)]
pub enum FwdMethod {
    /// Full NAT: source and destination rewritten (`-b`, fnat's default).
    FullNat,
    /// Masquerade: destination rewritten, replies return through the gateway (`-m`).
    Nat,
    /// Direct routing: only the destination MAC changes (`-g`).
    Dr,
    /// IPv4-in-IPv4 tunnelling (`-i`).
    Tun,
}

impl FwdMethod {
    /// The name ipvsadm prints in the Forward column.
    pub fn ipvs_name(self) -> &'static str {
        match self {
            Self::FullNat => "FullNat",
            Self::Nat => "Masq",
            Self::Dr => "Route",
            Self::Tun => "Tunnel",
        }
    }
}

/// A stable identity for a real server, kept across configuration snapshots so that connections
/// and per-destination counters survive a change that keeps the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct DestId(pub u32);

/// The key of a virtual service: protocol, virtual address and virtual port; or, for a fwmark
/// service (ipvsadm's `-f MARK`), the mark with protocol TCP, address 0.0.0.0 and port 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ServiceKey {
    /// The transport protocol.
    pub protocol: Protocol,
    /// The virtual IP address (VIP).
    pub vip: Ipv4Addr,
    /// The virtual port.
    pub vport: u16,
    /// The firewall mark of a fwmark service; 0 for a service of an address and port (then left
    /// out of the JSON).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fwmark: u32,
}

/// Whether a mark is 0, none.
fn is_zero(v: &u32) -> bool {
    *v == 0
}

impl ServiceKey {
    /// The key of the fwmark service of `mark` (> 0).
    pub fn mark(mark: u32) -> Self {
        Self { protocol: Protocol::Tcp, vip: Ipv4Addr::UNSPECIFIED, vport: 0, fwmark: mark }
    }

    /// Whether this is a fwmark service's key.
    #[inline]
    pub fn is_mark(&self) -> bool {
        self.fwmark != 0
    }
}

impl fmt::Display for ServiceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_mark() {
            return write!(f, "FWM {}", self.fwmark);
        }
        write!(f, "{} {}:{}", self.protocol, self.vip, self.vport)
    }
}

/// IPVS persistence (`-p [timeout] [-M netmask]`): new connections from a client (its address
/// masked by `netmask`) go to the real server its earlier ones went to, for as long as a template
/// of them lives (see [`super::persist`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Persistence {
    /// How long a template outlives the last connection that uses it, in milliseconds (whole
    /// seconds, 1 s to 31 days, as ipvsadm's `-p`).
    pub timeout_ms: u64,
    /// The prefix length of the client mask (`-M`), 0..=32; 32 (255.255.255.255) by default.
    pub netmask: u8,
}

impl Persistence {
    /// ipvsadm's timeout when `-p` has no value: 360 seconds (`IPVS_SVC_PERSISTENT_TIMEOUT`).
    pub const DEFAULT_TIMEOUT_SECS: u32 = 360;

    /// Persistence for `secs` seconds with the default mask (/32).
    pub fn secs(secs: u32) -> Self {
        Self { timeout_ms: u64::from(secs) * 1000, netmask: 32 }
    }

    /// The same with the client mask of prefix length `netmask`.
    pub fn with_netmask(self, netmask: u8) -> Self {
        Self { netmask, ..self }
    }

    /// The timeout in whole seconds, as ipvsadm prints it.
    pub fn timeout_secs(&self) -> u64 {
        self.timeout_ms / 1000
    }

    /// The client mask as an address (`255.255.255.0` for /24).
    pub fn mask(&self) -> Ipv4Addr {
        Ipv4Addr::from(prefix_mask(self.netmask))
    }

    /// A client address masked to the granularity of the templates.
    #[inline]
    pub fn client_net(&self, client: Ipv4Addr) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(client) & prefix_mask(self.netmask))
    }
}

/// The 32-bit mask of a prefix length (lengths above 32 count as 32).
#[inline]
pub fn prefix_mask(len: u8) -> u32 {
    match len {
        0 => 0,
        l => u32::MAX << (32 - u32::from(l.min(32))),
    }
}

/// The prefix length of a contiguous netmask (`255.255.255.0` -> 24); `None` when the mask's ones
/// are not contiguous from the top.
pub fn mask_prefix(mask: Ipv4Addr) -> Option<u8> {
    let m = u32::from(mask);
    let len = m.leading_ones();
    (prefix_mask(u8::try_from(len).unwrap_or(32)) == m).then(|| u8::try_from(len).unwrap_or(32))
}
