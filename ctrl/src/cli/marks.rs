//! The words of fnat's firewall-mark classifier commands (`--add-mark|--del-mark -f MARK
//! --dst ADDR[/LEN] [--proto tcp|udp|any] [--dports LIST]`), checked into a rule.

use crate::vocab::Protocol;
use crate::vocab::mark::{MarkRule, parse_dst, parse_ports};

use super::UsageError;

/// The words of a mark rule, before they are checked.
#[derive(Debug, Default)]
pub struct RuleWords {
    /// `--dst`: an address or a prefix.
    pub dst: Option<String>,
    /// `--proto`: tcp, udp or any (default any).
    pub proto: Option<String>,
    /// `--dports`: ports and ranges, or any (default any).
    pub dports: Option<String>,
}

impl RuleWords {
    /// The rule of mark `mark` these words describe.
    pub fn rule(&self, mark: u32) -> Result<MarkRule, UsageError> {
        let bad = |what: &str, why: String| UsageError::Invalid(format!("invalid {what}: {why}"));
        let (dst, prefix) = parse_dst(self.dst.as_deref().unwrap_or_default()).map_err(|e| bad("--dst", e))?;
        let proto = match self.proto.as_deref().unwrap_or("any") {
            "tcp" => Some(Protocol::Tcp),
            "udp" => Some(Protocol::Udp),
            "any" => None,
            other => return Err(bad("--proto", format!("'{other}' is not tcp, udp or any"))),
        };
        let ports = parse_ports(self.dports.as_deref().unwrap_or("any")).map_err(|e| bad("--dports", e))?;
        Ok(MarkRule { mark, dst, prefix, proto, ports })
    }
}
