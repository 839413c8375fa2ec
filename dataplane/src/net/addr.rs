//! IPv4 prefixes.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An IPv4 address with a prefix length, as in `10.0.0.1/24`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Net {
    /// The address as written (host bits may be set).
    pub addr: Ipv4Addr,
    /// Prefix length, 0..=32.
    pub prefix_len: u8,
}

/// Why a prefix did not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum NetParseError {
    /// The address part is not a dotted-quad IPv4 address.
    #[error("'{0}' is not an IPv4 address")]
    BadAddr(String),
    /// The prefix length is not a number from 0 to 32.
    #[error("'{0}' is not a prefix length from 0 to 32")]
    BadPrefix(String),
}

impl Ipv4Net {
    /// A prefix; `prefix_len` above 32 is clamped to 32.
    pub fn new(addr: Ipv4Addr, prefix_len: u8) -> Self {
        Self { addr, prefix_len: prefix_len.min(32) }
    }

    /// The netmask as a number.
    #[inline]
    pub fn mask(&self) -> u32 {
        if self.prefix_len == 0 { 0 } else { u32::MAX << (32 - u32::from(self.prefix_len)) }
    }

    /// The network address (host bits cleared).
    pub fn network(&self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) & self.mask())
    }

    /// Whether `ip` lies in this prefix.
    #[inline]
    pub fn contains(&self, ip: Ipv4Addr) -> bool {
        (u32::from(ip) ^ u32::from(self.addr)) & self.mask() == 0
    }
}

impl FromStr for Ipv4Net {
    type Err = NetParseError;

    /// `a.b.c.d/len`, or a bare address meaning `/32`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, p) = s.split_once('/').unwrap_or((s, "32"));
        let addr = a.parse().map_err(|_| NetParseError::BadAddr(a.to_owned()))?;
        let prefix_len =
            p.parse::<u8>().ok().filter(|&l| l <= 32).ok_or_else(|| NetParseError::BadPrefix(p.to_owned()))?;
        Ok(Self { addr, prefix_len })
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_parse_and_match() {
        let n: Ipv4Net = "10.1.2.3/24".parse().unwrap();
        assert_eq!(n.network(), Ipv4Addr::new(10, 1, 2, 0));
        assert!(n.contains(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!n.contains(Ipv4Addr::new(10, 1, 3, 1)));
        let all: Ipv4Net = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(Ipv4Addr::new(1, 2, 3, 4)));
        let host: Ipv4Net = "1.2.3.4".parse().unwrap();
        assert_eq!(host.prefix_len, 32);
        assert!(host.contains(Ipv4Addr::new(1, 2, 3, 4)) && !host.contains(Ipv4Addr::new(1, 2, 3, 5)));
        assert_eq!(host.to_string(), "1.2.3.4/32");
    }

    #[test]
    fn bad_prefixes_are_refused() {
        assert_eq!("10.0.0.1/33".parse::<Ipv4Net>(), Err(NetParseError::BadPrefix("33".into())));
        assert_eq!("10.0.0/8".parse::<Ipv4Net>(), Err(NetParseError::BadAddr("10.0.0".into())));
        assert!("10.0.0.1/".parse::<Ipv4Net>().is_err());
        assert!("10.0.0.1/-1".parse::<Ipv4Net>().is_err());
    }
}
