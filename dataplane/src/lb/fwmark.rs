//! fnat's own firewall-mark classifier: where IPVS relies on iptables to mark packets for its `-f`
//! services, fnat matches a new connection's first packet against ordered rules (destination
//! address or prefix, protocol, destination ports) and takes the mark of the first rule that
//! matches. Part of the immutable [`Services`](super::Services) snapshot; consulted only on the
//! new-connection path, before the address lookup (IPVS looks fwmark services up first).

use std::net::Ipv4Addr;

pub use ctrl::vocab::mark::{MarkRule, format_ports, parse_dst, parse_ports};
use serde::{Deserialize, Serialize};

use super::service::Protocol;

/// The ordered rules; the first that matches gives the mark.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Classifier {
    rules: Vec<MarkRule>,
}

impl Classifier {
    /// A classifier over these rules, in order.
    pub fn new(rules: Vec<MarkRule>) -> Self {
        Self { rules }
    }

    /// The rules in order.
    pub fn rules(&self) -> &[MarkRule] {
        &self.rules
    }

    /// The mark of a packet of `proto` to `dst:dport`: the first matching rule's, if any.
    #[inline]
    pub fn classify(&self, proto: Protocol, dst: Ipv4Addr, dport: u16) -> Option<u32> {
        self.rules.iter().find(|r| r.matches(proto, dst, dport)).map(|r| r.mark)
    }

    /// The addresses of the /32 rules.
    pub fn hosts(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.rules.iter().filter_map(MarkRule::host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(mark: u32, dst: &str, proto: Option<Protocol>, ports: &str) -> MarkRule {
        let (dst, prefix) = parse_dst(dst).unwrap();
        MarkRule { mark, dst, prefix, proto, ports: parse_ports(ports).unwrap() }
    }

    const VIP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 100);

    #[test]
    fn the_first_matching_rule_wins() {
        let c = Classifier::new(vec![
            rule(1, "10.0.0.100", Some(Protocol::Tcp), "80,443"),
            rule(2, "10.0.0.0/24", None, "any"),
        ]);
        assert_eq!(c.classify(Protocol::Tcp, VIP, 80), Some(1));
        assert_eq!(c.classify(Protocol::Tcp, VIP, 443), Some(1));
        assert_eq!(c.classify(Protocol::Udp, VIP, 80), Some(2));
        assert_eq!(c.classify(Protocol::Tcp, VIP, 8080), Some(2));
        assert_eq!(c.classify(Protocol::Tcp, Ipv4Addr::new(10, 0, 1, 1), 80), None);
        assert_eq!(c.hosts().collect::<Vec<_>>(), vec![VIP]);
    }

    #[test]
    fn ranges_and_any() {
        let c = Classifier::new(vec![rule(7, "0.0.0.0/0", Some(Protocol::Udp), "8000-8100,9000")]);
        assert_eq!(c.classify(Protocol::Udp, VIP, 7999), None);
        assert_eq!(c.classify(Protocol::Udp, VIP, 8000), Some(7));
        assert_eq!(c.classify(Protocol::Udp, VIP, 8100), Some(7));
        assert_eq!(c.classify(Protocol::Udp, VIP, 9000), Some(7));
        assert_eq!(c.classify(Protocol::Tcp, VIP, 8050), None);
        assert_eq!(c.hosts().count(), 0);
        assert!(Classifier::default().classify(Protocol::Tcp, VIP, 80).is_none());
    }
}
