//! The schedulers by name (ipvsadm's `-s`) and the scheduler flags (`-b`).

use std::fmt;
use std::str::FromStr;

/// A scheduling algorithm, as named by ipvsadm's `-s`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum SchedKind {
    /// Round robin.
    Rr,
    /// Weighted round robin (IPVS interleaving).
    Wrr,
    /// Source hashing.
    Sh,
    /// Destination hashing.
    Dh,
    /// Least connections.
    Lc,
    /// Weighted least connections (IPVS's default).
    Wlc,
    /// Shortest expected delay.
    Sed,
    /// Never queue.
    Nq,
    /// Locality-based least connections.
    Lblc,
    /// Locality-based least connections with replication.
    Lblcr,
    /// Weighted failover.
    Fo,
    /// Weighted overflow.
    Ovf,
    /// Maglev hashing.
    Mh,
}

impl SchedKind {
    /// Every scheduler, in the order ipvsadm's man page lists them.
    pub const ALL: [Self; 13] = [
        Self::Rr,
        Self::Wrr,
        Self::Lc,
        Self::Wlc,
        Self::Lblc,
        Self::Lblcr,
        Self::Dh,
        Self::Sh,
        Self::Sed,
        Self::Nq,
        Self::Fo,
        Self::Ovf,
        Self::Mh,
    ];

    /// The ipvsadm name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Rr => "rr",
            Self::Wrr => "wrr",
            Self::Sh => "sh",
            Self::Dh => "dh",
            Self::Lc => "lc",
            Self::Wlc => "wlc",
            Self::Sed => "sed",
            Self::Nq => "nq",
            Self::Lblc => "lblc",
            Self::Lblcr => "lblcr",
            Self::Fo => "fo",
            Self::Ovf => "ovf",
            Self::Mh => "mh",
        }
    }
}

impl fmt::Display for SchedKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Scheduler flags, ipvsadm's `-b` (IPVS's `IP_VS_SVC_F_SCHED1..3`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct SchedFlags {
    /// `flag-1`: `sh-fallback` / `mh-fallback`: look past an unavailable server.
    pub fallback: bool,
    /// `flag-2`: `sh-port` / `mh-port`: hash the source port too.
    pub port: bool,
    /// `flag-3`: no meaning to any scheduler yet; kept as given.
    pub flag3: bool,
}

/// Why a scheduler name was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SchedParseError {
    /// Not an IPVS scheduler name.
    #[error("unknown scheduler '{0}' (supported: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)")]
    Unknown(String),
}

impl FromStr for SchedKind {
    type Err = SchedParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| SchedParseError::Unknown(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_ipvsadm_name_parses_and_prints_back() {
        let names = ["rr", "wrr", "lc", "wlc", "lblc", "lblcr", "dh", "sh", "sed", "nq", "fo", "ovf", "mh"];
        for (name, kind) in names.iter().zip(SchedKind::ALL) {
            assert_eq!(name.parse::<SchedKind>(), Ok(kind));
            assert_eq!(kind.to_string(), *name);
        }
        let err = "fastest".parse::<SchedKind>().unwrap_err();
        assert_eq!(err, SchedParseError::Unknown("fastest".into()));
        assert_eq!(
            err.to_string(),
            "unknown scheduler 'fastest' (supported: rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh)"
        );
        assert!("WLC".parse::<SchedKind>().is_err());
    }

    #[test]
    fn kinds_keep_their_serde_names() {
        assert_eq!(serde_json::to_string(&SchedKind::Wrr).unwrap(), "\"Wrr\"");
        for kind in SchedKind::ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(serde_json::from_str::<SchedKind>(&json).unwrap(), kind);
        }
    }
}
