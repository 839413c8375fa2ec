//! Port names from `/etc/services`, as ipvsadm gets them through `getservbyname`/`getservbyport`:
//! `-t 10.0.0.1:http` and, without `-n`, `TCP  10.0.0.1:http rr`. Read from the file directly (no NSS,
//! no network); a missing file simply means no names.

use crate::vocab::Protocol;

/// The entries of a services file.
#[derive(Debug, Default)]
pub struct PortNames {
    /// (official name, aliases, port, protocol) in file order.
    entries: Vec<(String, Vec<String>, u16, Protocol)>,
}

impl PortNames {
    /// `/etc/services`, or no names if it cannot be read.
    pub fn system() -> Self {
        std::fs::read_to_string("/etc/services").map(|t| Self::parse(&t)).unwrap_or_default()
    }

    /// Entries from services-file text: `name port/proto [aliases...] [# comment]`; other lines are
    /// skipped.
    pub fn parse(text: &str) -> Self {
        let entries = text
            .lines()
            .filter_map(|line| {
                let line = line.split('#').next().unwrap_or("");
                let mut words = line.split_whitespace();
                let name = words.next()?;
                let (port, proto) = words.next()?.split_once('/')?;
                let proto = match proto {
                    "tcp" => Protocol::Tcp,
                    "udp" => Protocol::Udp,
                    _ => return None,
                };
                Some((name.to_owned(), words.map(str::to_owned).collect(), port.parse().ok()?, proto))
            })
            .collect();
        Self { entries }
    }

    /// The first name given to `port` for `proto`.
    pub fn name(&self, port: u16, proto: Protocol) -> Option<&str> {
        self.entries.iter().find(|e| e.2 == port && e.3 == proto).map(|e| e.0.as_str())
    }

    /// The port named `name` (or one of its aliases) for `proto`.
    pub fn port(&self, name: &str, proto: Protocol) -> Option<u16> {
        self.entries.iter().find(|e| e.3 == proto && (e.0 == name || e.1.iter().any(|a| a == name))).map(|e| e.2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
# comment line
domain\t\t53/tcp\t\t\t\t# Domain Name Server
domain\t\t53/udp
http\t\t80/tcp\t\twww\t\t# WorldWideWeb HTTP
www-alt\t\t80/tcp
http-alt\t8080/tcp\twebcache
bogus\t\tnot-a-port/tcp
sctp-thing\t9/sctp
";

    #[test]
    fn names_and_ports_come_from_the_services_file() {
        let n = PortNames::parse(SAMPLE);
        assert_eq!(n.name(80, Protocol::Tcp), Some("http"), "the first entry wins");
        assert_eq!(n.name(80, Protocol::Udp), None);
        assert_eq!(n.name(53, Protocol::Udp), Some("domain"));
        assert_eq!(n.name(8080, Protocol::Tcp), Some("http-alt"));
        assert_eq!(n.name(9, Protocol::Tcp), None);
        assert_eq!(n.port("www", Protocol::Tcp), Some(80), "aliases count");
        assert_eq!(n.port("webcache", Protocol::Tcp), Some(8080));
        assert_eq!(n.port("http", Protocol::Udp), None);
        assert_eq!(n.port("bogus", Protocol::Tcp), None);
    }
}
