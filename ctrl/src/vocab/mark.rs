//! Firewall-mark classifier rules as both sides name them: destination prefix, protocol or any,
//! destination port ranges or any, and the mark; with the port-list and destination syntax of the
//! configuration file and fnatctl.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use super::service::{Protocol, prefix_mask};

/// One classifier rule: packets to `dst/prefix`, of `proto` (any when `None`), to one of `ports`
/// (any when empty) get `mark`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MarkRule {
    /// The mark, > 0.
    pub mark: u32,
    /// The destination address (its host bits are zero).
    pub dst: Ipv4Addr,
    /// The destination prefix length, 0..=32.
    pub prefix: u8,
    /// The protocol, or any.
    pub proto: Option<Protocol>,
    /// Destination port ranges (inclusive); empty means any port.
    pub ports: Vec<(u16, u16)>,
}

impl MarkRule {
    /// Whether a packet of `proto` to `dst:dport` matches.
    #[inline]
    pub fn matches(&self, proto: Protocol, dst: Ipv4Addr, dport: u16) -> bool {
        let mask = prefix_mask(self.prefix);
        (u32::from(dst) & mask) == (u32::from(self.dst) & mask)
            && self.proto.is_none_or(|p| p == proto)
            && (self.ports.is_empty() || self.ports.iter().any(|&(lo, hi)| (lo..=hi).contains(&dport)))
    }

    /// The rule's single address when it names one (a /32), which the gateway answers ARP for.
    pub fn host(&self) -> Option<Ipv4Addr> {
        (self.prefix == 32).then_some(self.dst)
    }
}

impl fmt::Display for MarkRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FWM {} {}/{} ", self.mark, self.dst, self.prefix)?;
        f.write_str(self.proto.map_or("any", |p| if p == Protocol::Tcp { "tcp" } else { "udp" }))?;
        f.write_str(" ")?;
        f.write_str(&format_ports(&self.ports))
    }
}

/// Port ranges as the config and fnatctl write them: `80,443,8000-8100`, or `any`.
pub fn format_ports(ports: &[(u16, u16)]) -> String {
    if ports.is_empty() {
        return "any".into();
    }
    let parts: Vec<String> =
        ports.iter().map(|&(lo, hi)| if lo == hi { lo.to_string() } else { format!("{lo}-{hi}") }).collect();
    parts.join(",")
}

/// Parses port ranges: `any`, or a comma-separated list of ports (1-65535) and ranges `lo-hi`.
pub fn parse_ports(s: &str) -> Result<Vec<(u16, u16)>, String> {
    if s.trim() == "any" {
        return Ok(Vec::new());
    }
    let port = |p: &str| match p.trim().parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(format!("'{}' is not a port from 1 to 65535", p.trim())),
    };
    s.split(',')
        .map(|part| match part.split_once('-') {
            Some((lo, hi)) => {
                let (lo, hi) = (port(lo)?, port(hi)?);
                if lo > hi { Err(format!("range '{}' ends before it starts", part.trim())) } else { Ok((lo, hi)) }
            }
            None => port(part).map(|p| (p, p)),
        })
        .collect()
}

/// Parses a destination: an address (`/32`) or a prefix `a.b.c.d/len` without host bits.
pub fn parse_dst(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, l.parse::<u8>().ok().filter(|l| *l <= 32).ok_or(format!("'{l}' is not a prefix length"))?),
        None => (s, 32),
    };
    let addr: Ipv4Addr = addr.parse().map_err(|_| format!("'{addr}' is not an IPv4 address"))?;
    if u32::from(addr) & !prefix_mask(len) != 0 {
        return Err(format!("'{s}' has host bits set"));
    }
    Ok((addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsing_refuses_nonsense() {
        assert_eq!(parse_ports("any").unwrap(), vec![]);
        assert_eq!(parse_ports("80, 443").unwrap(), vec![(80, 80), (443, 443)]);
        assert!(parse_ports("0").is_err());
        assert!(parse_ports("90-80").unwrap_err().contains("ends before"));
        assert!(parse_ports("http").is_err());
        assert_eq!(parse_dst("10.0.0.0/8").unwrap(), (Ipv4Addr::new(10, 0, 0, 0), 8));
        assert!(parse_dst("10.0.0.1/8").unwrap_err().contains("host bits"));
        assert!(parse_dst("10.0.0.0/33").is_err());
        assert_eq!(format_ports(&parse_ports("80,8000-8100").unwrap()), "80,8000-8100");
    }
}
