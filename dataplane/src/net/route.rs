//! Static and connected IPv4 routes: longest prefix match over a short list.
//!
//! A gateway of this kind has a handful of routes (its connected subnets and a few static ones), so a
//! list kept sorted by descending prefix length is both the simplest and the fastest structure; the
//! first match is the longest.

use std::net::Ipv4Addr;

use super::{Interface, Ipv4Net, PortIdx};

/// One route: traffic to `prefix` leaves through `port`, to `via` or (connected) directly.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Route {
    /// Destination prefix.
    pub prefix: Ipv4Net,
    /// Egress port.
    pub port: PortIdx,
    /// Next hop; `None` for a connected prefix (the destination itself is the next hop).
    pub via: Option<Ipv4Addr>,
}

/// The routing table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<Route>,
}

impl RouteTable {
    /// The connected routes of `ifaces` plus the `statics`, longest prefix first (connected first on
    /// equal length).
    pub fn new(ifaces: &[Interface], statics: &[Route]) -> Self {
        let mut routes: Vec<Route> = ifaces
            .iter()
            .enumerate()
            .flat_map(|(i, iface)| {
                let port = PortIdx::try_from(i).unwrap_or(PortIdx::MAX);
                iface.addrs.iter().map(move |a| Route {
                    prefix: Ipv4Net::new(a.network(), a.prefix_len),
                    port,
                    via: None,
                })
            })
            .collect();
        routes.extend_from_slice(statics);
        routes.sort_by_key(|r| std::cmp::Reverse(r.prefix.prefix_len));
        Self { routes }
    }

    /// The egress port and next hop for `dst`.
    #[inline]
    pub fn lookup(&self, dst: Ipv4Addr) -> Option<(PortIdx, Ipv4Addr)> {
        self.routes.iter().find(|r| r.prefix.contains(dst)).map(|r| (r.port, r.via.unwrap_or(dst)))
    }

    /// All routes, longest prefix first.
    pub fn iter(&self) -> impl Iterator<Item = &Route> {
        self.routes.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::packet::MacAddr;

    fn iface(addr: &str) -> Interface {
        Interface {
            name: "p".into(),
            mac: MacAddr([2, 0, 0, 0, 0, 1]),
            addrs: vec![addr.parse().unwrap()],
            mtu: super::super::DEFAULT_MTU,
            kernel: None,
        }
    }

    #[test]
    fn longest_prefix_wins() {
        let default = Route { prefix: "0.0.0.0/0".parse().unwrap(), port: 0, via: Some(Ipv4Addr::new(10, 0, 0, 254)) };
        let t = RouteTable::new(&[iface("10.0.0.1/24"), iface("10.1.0.1/16")], &[default]);
        assert_eq!(t.lookup(Ipv4Addr::new(10, 1, 5, 5)), Some((1, Ipv4Addr::new(10, 1, 5, 5))));
        assert_eq!(t.lookup(Ipv4Addr::new(10, 0, 0, 9)), Some((0, Ipv4Addr::new(10, 0, 0, 9))));
        assert_eq!(t.lookup(Ipv4Addr::new(8, 8, 8, 8)), Some((0, Ipv4Addr::new(10, 0, 0, 254))));
        let no_default = RouteTable::new(&[iface("10.0.0.1/24")], &[]);
        assert_eq!(no_default.lookup(Ipv4Addr::new(8, 8, 8, 8)), None);
    }
}
