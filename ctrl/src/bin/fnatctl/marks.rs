//! fnatctl's firewall-mark classifier commands (an fnat extension: IPVS leaves marking to
//! iptables): `--add-mark|--del-mark -f MARK --dst ADDR[/LEN] [--proto tcp|udp|any]
//! [--dports LIST]` and `--list-marks`.

use std::fmt::Write as _;

use ctrl::vocab::Protocol;
use ctrl::vocab::mark::{MarkRule, format_ports};

/// `--list-marks`: a title, then one rule a line in the order they are matched.
pub fn list(rules: &[MarkRule]) -> String {
    let mut out = String::from("Mark       Destination        Proto Ports\n");
    for r in rules {
        let proto = match r.proto {
            Some(Protocol::Tcp) => "tcp",
            Some(Protocol::Udp) => "udp",
            None => "any",
        };
        let dst = format!("{}/{}", r.dst, r.prefix);
        let _ = writeln!(out, "{:<10} {dst:<18} {proto:<5} {}", r.mark, format_ports(&r.ports));
    }
    out
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ctrl::cli::RuleWords;

    use super::*;

    #[test]
    fn rules_parse_and_list() {
        let w = RuleWords { dst: Some("10.0.0.100".into()), proto: Some("tcp".into()), dports: Some("80,443".into()) };
        let r = w.rule(1).unwrap();
        assert_eq!(r.dst, Ipv4Addr::new(10, 0, 0, 100));
        assert_eq!((r.prefix, r.proto, r.ports.clone()), (32, Some(Protocol::Tcp), vec![(80, 80), (443, 443)]));
        let any = RuleWords { dst: Some("10.0.1.0/24".into()), ..RuleWords::default() }.rule(2).unwrap();
        assert_eq!(
            list(&[r, any]),
            "Mark       Destination        Proto Ports\n\
             1          10.0.0.100/32      tcp   80,443\n\
             2          10.0.1.0/24        any   any\n"
        );
        let err = |w: RuleWords| w.rule(1).unwrap_err().to_string();
        assert_eq!(err(RuleWords::default()), "invalid --dst: '' is not an IPv4 address");
        let w = RuleWords { dst: Some("10.0.0.1/24".into()), ..RuleWords::default() };
        assert_eq!(err(w), "invalid --dst: '10.0.0.1/24' has host bits set");
        let w = RuleWords { dst: Some("10.0.0.1".into()), proto: Some("sctp".into()), ..RuleWords::default() };
        assert_eq!(err(w), "invalid --proto: 'sctp' is not tcp, udp or any");
        let w = RuleWords { dst: Some("10.0.0.1".into()), dports: Some("9-8".into()), ..RuleWords::default() };
        assert_eq!(err(w), "invalid --dports: range '9-8' ends before it starts");
    }
}
