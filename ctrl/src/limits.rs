//! The ranges and checks of every value a change may set, written once.
//!
//! fnatd's control state runs these checks on every change it applies, whether the change came
//! from fnatctl, a restore, the rules file or the configuration file's services (which fnatd turns
//! into the same commands). A refused value is a [`Violation`]: fnatctl prints it as one line
//! (its `Display`), the configuration file names the field it concerns ([`Violation::field`]) with
//! the problem in the file's words ([`Violation::config_problem`]).
//!
//! Semantics follow IPVS and ipvsadm: weights 0 to 65535; connection thresholds 0 to `INT_MAX`,
//! the lower one not above the upper one; persistence 1 s to 31 days in whole seconds with a
//! netmask prefix of at most 32, and required by a port-0 service (every port of its VIP), whose
//! real servers have port 0; direct routing and tunnelling cannot map ports. fnat adds: virtual,
//! real-server and local addresses are unicast, and an address is never both a VIP and a local
//! address.

use std::fmt;
use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

use crate::vocab::{FwdMethod, MarkRule, ServiceKey, prefix_mask};

/// The longest timeout (`--set`, `-p`) in seconds: 31 days, as ipvsadm.
pub const MAX_TIMEOUT_SECS: u32 = 31 * 24 * 3600;
/// The largest connection threshold ipvsadm's `-x`/`-y` accept (`INT_MAX`).
pub const MAX_THRESHOLD: u32 = 2_147_483_647;
/// The largest weight (`-w`).
pub const MAX_WEIGHT: u32 = 65535;

/// Which connection threshold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Bound {
    /// `-x`, `upper_threshold`.
    Upper,
    /// `-y`, `lower_threshold`.
    Lower,
}

/// What an address is for, in a check that it is unicast.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AddrRole {
    /// A service's virtual address.
    Virtual,
    /// A real server's address.
    RealServer,
    /// A FULLNAT local address.
    Local,
}

impl fmt::Display for AddrRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Virtual => "virtual address",
            Self::RealServer => "real server address",
            Self::Local => "local address",
        })
    }
}

/// A value fnat does not accept. `Display` is the one-line reason fnatctl prints.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum Violation {
    /// A weight above [`MAX_WEIGHT`].
    #[error("weight {0} is out of range (0 to 65535)")]
    Weight(u32),
    /// A threshold above [`MAX_THRESHOLD`].
    #[error("{} threshold {value} is out of range (0 to {MAX_THRESHOLD})", if *.bound == Bound::Upper { "upper" } else { "lower" })]
    Threshold {
        /// Which one.
        bound: Bound,
        /// The value given.
        value: u32,
    },
    /// A lower threshold above the upper one (IPVS's `ERANGE`).
    #[error("lower threshold {lower} is higher than upper threshold {upper}")]
    LowerAboveUpper {
        /// The upper threshold (0: none).
        upper: u32,
        /// The lower threshold.
        lower: u32,
    },
    /// A real server port other than 0 in a port-0 service.
    #[error("real server port {0} in a port-0 service: it must be 0 (each connection keeps its port)")]
    PortInPortZeroService(u16),
    /// A real server port 0 in a service of one port.
    #[error("real server port 0 is out of range (1 to 65535)")]
    PortZero,
    /// DR or TUN with a real server port other than the service's.
    #[error("{} cannot map ports: the real server port must be {vport}", method_words(*.method))]
    CannotMapPorts {
        /// The forwarding method.
        method: FwdMethod,
        /// The service's port.
        vport: u16,
    },
    /// 0.0.0.0, broadcast, multicast, loopback or class E.
    #[error("{role} {addr} is not a unicast address")]
    NotUnicast {
        /// What the address was to be.
        role: AddrRole,
        /// The address.
        addr: Ipv4Addr,
    },
    /// A virtual address that is also a local address.
    #[error("virtual address {0} is a local address")]
    VipIsLocal(Ipv4Addr),
    /// A local address that is also a virtual address.
    #[error("local address {0} is a virtual service address")]
    LocalIsVip(Ipv4Addr),
    /// A persistence timeout outside 1 s to 31 days in whole seconds.
    #[error("persistence timeout of {0} ms is out of range (1 to {MAX_TIMEOUT_SECS} whole seconds)")]
    PersistenceTimeout(u64),
    /// A persistence netmask prefix above 32.
    #[error("persistence netmask /{0} is out of range (0 to 32)")]
    PersistenceNetmask(u8),
    /// A port-0 service without persistence (ipvsadm's words).
    #[error("Zero port specified for non-persistent service")]
    ZeroPortNotPersistent,
    /// A fwmark service's key with a protocol, address or port.
    #[error("a fwmark service has no protocol, address or port")]
    MarkServiceKey,
    /// A service whose FULLNAT real servers have no local address to use.
    #[error("service {0} has FULLNAT real servers but no local address")]
    FullNatWithoutLocal(ServiceKey),
    /// A classifier rule of mark 0.
    #[error("mark 0 is out of range (1 to 4294967295)")]
    MarkZero,
    /// A classifier rule's destination with host bits or a prefix above 32.
    #[error("destination {addr}/{prefix} is not a prefix")]
    MarkPrefix {
        /// The address.
        addr: Ipv4Addr,
        /// The prefix length.
        prefix: u8,
    },
    /// A classifier rule's port range with port 0 or ending before it starts.
    #[error("port range {lo}-{hi} is out of range (1 to 65535, low to high)")]
    MarkPorts {
        /// The first port.
        lo: u16,
        /// The last port.
        hi: u16,
    },
    /// A `--set` timeout above [`MAX_TIMEOUT_SECS`].
    #[error("{name} timeout {secs} is out of range (0 to {MAX_TIMEOUT_SECS} seconds, 31 days; 0 keeps it)")]
    Timeout {
        /// `tcp`, `tcpfin` or `udp`.
        name: String,
        /// The value given.
        secs: u32,
    },
}

fn method_words(m: FwdMethod) -> &'static str {
    match m {
        FwdMethod::Dr => "route (DR)",
        FwdMethod::Tun => "tunnel (TUN)",
        FwdMethod::FullNat => "fullnat",
        FwdMethod::Nat => "masquerading (NAT)",
    }
}

impl Violation {
    /// The field of a configured service (`vip`, `port`, `persistent`), real server (`weight`,
    /// `port`, `address`, `upper_threshold`, `lower_threshold`, `forward`) or mark rule (`mark`,
    /// `destination`, `ports`) that the violation is about; empty for the item as a whole.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Weight(_) => "weight",
            Self::Threshold { bound: Bound::Upper, .. } => "upper_threshold",
            Self::Threshold { bound: Bound::Lower, .. } | Self::LowerAboveUpper { .. } => "lower_threshold",
            Self::PortInPortZeroService(_) | Self::PortZero | Self::CannotMapPorts { .. } => "port",
            Self::NotUnicast { role: AddrRole::Virtual, .. } | Self::VipIsLocal(_) => "vip",
            Self::NotUnicast { role: AddrRole::RealServer, .. } => "address",
            Self::NotUnicast { role: AddrRole::Local, .. } | Self::LocalIsVip(_) => "",
            Self::PersistenceTimeout(_) => "persistent",
            Self::PersistenceNetmask(_) => "netmask",
            Self::ZeroPortNotPersistent => "port",
            Self::MarkServiceKey => "fwmark",
            Self::FullNatWithoutLocal(_) => "forward",
            Self::MarkZero => "mark",
            Self::MarkPrefix { .. } => "destination",
            Self::MarkPorts { .. } => "ports",
            Self::Timeout { .. } => "",
        }
    }

    /// The problem as the configuration file states it, after the name of [`Violation::field`].
    pub fn config_problem(&self) -> String {
        match self {
            Self::Weight(_) => "must be from 0 to 65535".into(),
            Self::Threshold { .. } => format!("must be from 0 to {MAX_THRESHOLD}"),
            Self::LowerAboveUpper { upper, .. } => {
                let none = if *upper == 0 { ", none" } else { "" };
                format!("must not be above upper_threshold ({upper}{none}), as in IPVS")
            }
            Self::PortInPortZeroService(_) => {
                "must be 0 or left out in a port-0 service: each connection keeps its own port".into()
            }
            Self::PortZero => "must be from 1 to 65535".into(),
            Self::NotUnicast { addr, .. } => format!("{addr} is not a unicast address"),
            Self::VipIsLocal(a) => format!("{a} is also a local address"),
            Self::LocalIsVip(a) => format!("{a} is also a virtual address"),
            Self::PersistenceTimeout(_) => {
                format!("must be from 1 to {MAX_TIMEOUT_SECS} seconds (31 days), or true for 360")
            }
            Self::ZeroPortNotPersistent => "port 0 (every port of the VIP) needs persistence: set `persistent`".into(),
            Self::FullNatWithoutLocal(_) => {
                "FULLNAT needs local addresses: set [local] addresses (or the service's local_addrs)".into()
            }
            Self::MarkZero => "must be from 1 to 4294967295".into(),
            other => other.to_string(),
        }
    }
}

/// A service's key and persistence: a fwmark key names only its mark; persistence has a timeout
/// of whole seconds from 1 s to 31 days (ipvsadm's `-p` range) and a netmask prefix of at most
/// 32; a port-0 service must have it.
pub fn check_service(key: &ServiceKey, persistence: Option<crate::vocab::Persistence>) -> Result<(), Violation> {
    if key.is_mark() && *key != ServiceKey::mark(key.fwmark) {
        return Err(Violation::MarkServiceKey);
    }
    if !key.is_mark() {
        check_unicast(AddrRole::Virtual, key.vip)?;
    }
    let Some(p) = persistence else {
        return if key.vport == 0 && !key.is_mark() { Err(Violation::ZeroPortNotPersistent) } else { Ok(()) };
    };
    let max = u64::from(MAX_TIMEOUT_SECS) * 1000;
    if p.timeout_ms == 0 || p.timeout_ms > max || p.timeout_ms % 1000 != 0 {
        return Err(Violation::PersistenceTimeout(p.timeout_ms));
    }
    if p.netmask > 32 {
        return Err(Violation::PersistenceNetmask(p.netmask));
    }
    Ok(())
}

/// A real server of service `svc`: weight 0..=65535, port 1..=65535 (0, and only 0, in a port-0
/// service: each connection keeps its port; a fwmark service's real server has port 0, the
/// packet's own, or maps to a fixed port), thresholds (see [`check_thresholds`]), a unicast
/// address, and what its forwarding method allows (see [`check_method`]).
pub fn check_dest(
    svc: &ServiceKey,
    addr: Ipv4Addr,
    port: u16,
    weight: u32,
    method: FwdMethod,
) -> Result<(), Violation> {
    if weight > MAX_WEIGHT {
        return Err(Violation::Weight(weight));
    }
    if svc.vport == 0 && port != 0 && !svc.is_mark() {
        return Err(Violation::PortInPortZeroService(port));
    }
    if port == 0 && svc.vport != 0 {
        return Err(Violation::PortZero);
    }
    check_unicast(AddrRole::RealServer, addr)?;
    check_method(method, port, svc.vport)
}

/// Connection thresholds as IPVS takes them: each 0 to [`MAX_THRESHOLD`], and the lower one not
/// above the upper one (IPVS refuses that with `ERANGE`; so without an upper threshold, 0, the
/// lower one is 0 too).
pub fn check_thresholds(upper: u32, lower: u32) -> Result<(), Violation> {
    for (bound, value) in [(Bound::Upper, upper), (Bound::Lower, lower)] {
        if value > MAX_THRESHOLD {
            return Err(Violation::Threshold { bound, value });
        }
    }
    if lower > upper {
        return Err(Violation::LowerAboveUpper { upper, lower });
    }
    Ok(())
}

/// What a forwarding method allows: direct routing and tunnelling leave the packet's destination
/// port alone, so the real server's port must be the service's. (FULLNAT's local addresses are
/// checked per service, after a whole transaction; NAT works on any number of workers.)
pub fn check_method(method: FwdMethod, port: u16, vport: u16) -> Result<(), Violation> {
    match method {
        FwdMethod::FullNat | FwdMethod::Nat => Ok(()),
        FwdMethod::Dr | FwdMethod::Tun if port != vport => Err(Violation::CannotMapPorts { method, vport }),
        FwdMethod::Dr | FwdMethod::Tun => Ok(()),
    }
}

/// Refuses 0.0.0.0, the broadcast address, multicast, loopback and class E addresses.
pub fn check_unicast(role: AddrRole, addr: Ipv4Addr) -> Result<(), Violation> {
    let reserved = addr.octets()[0] >= 240;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_loopback() || reserved {
        return Err(Violation::NotUnicast { role, addr });
    }
    Ok(())
}

/// A classifier rule: mark > 0, a destination without host bits, port ranges from 1 that do not
/// end before they start.
pub fn check_mark_rule(rule: &MarkRule) -> Result<(), Violation> {
    if rule.mark == 0 {
        return Err(Violation::MarkZero);
    }
    if rule.prefix > 32 || u32::from(rule.dst) & !prefix_mask(rule.prefix) != 0 {
        return Err(Violation::MarkPrefix { addr: rule.dst, prefix: rule.prefix });
    }
    if let Some(&(lo, hi)) = rule.ports.iter().find(|&&(lo, hi)| lo == 0 || lo > hi) {
        return Err(Violation::MarkPorts { lo, hi });
    }
    Ok(())
}

/// `--set` timeouts in seconds, each at most [`MAX_TIMEOUT_SECS`] (0 keeps a value).
pub fn check_timeouts(tcp: u32, tcpfin: u32, udp: u32) -> Result<(), Violation> {
    for (name, secs) in [("tcp", tcp), ("tcpfin", tcpfin), ("udp", udp)] {
        if secs > MAX_TIMEOUT_SECS {
            return Err(Violation::Timeout { name: name.into(), secs });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vocab::{Persistence, Protocol};

    fn key(vport: u16) -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport, fwmark: 0 }
    }

    #[test]
    fn every_address_a_change_names_must_be_unicast() {
        for bad in ["0.0.0.0", "224.0.0.1", "239.255.255.250", "127.0.0.1", "255.255.255.255", "240.0.0.1"] {
            let a: Ipv4Addr = bad.parse().unwrap();
            let vip = ServiceKey { vip: a, ..key(80) };
            assert_eq!(check_service(&vip, None), Err(Violation::NotUnicast { role: AddrRole::Virtual, addr: a }));
            assert_eq!(
                check_dest(&key(80), a, 80, 1, FwdMethod::Nat),
                Err(Violation::NotUnicast { role: AddrRole::RealServer, addr: a })
            );
            assert!(check_unicast(AddrRole::Local, a).is_err());
        }
        assert_eq!(check_service(&key(80), None), Ok(()));
        assert_eq!(
            Violation::NotUnicast { role: AddrRole::Virtual, addr: Ipv4Addr::new(224, 0, 0, 1) }.to_string(),
            "virtual address 224.0.0.1 is not a unicast address"
        );
    }

    #[test]
    fn ranges_are_ipvsadms() {
        assert_eq!(
            check_dest(&key(80), Ipv4Addr::new(10, 1, 0, 2), 80, 65536, FwdMethod::Nat),
            Err(Violation::Weight(65536))
        );
        assert_eq!(check_thresholds(MAX_THRESHOLD, 0), Ok(()));
        assert_eq!(check_thresholds(10, 11), Err(Violation::LowerAboveUpper { upper: 10, lower: 11 }));
        assert_eq!(check_service(&key(0), None), Err(Violation::ZeroPortNotPersistent));
        assert_eq!(check_service(&key(0), Some(Persistence::secs(360))), Ok(()));
        assert_eq!(
            check_service(&key(80), Some(Persistence::secs(MAX_TIMEOUT_SECS + 1))).unwrap_err().field(),
            "persistent"
        );
        assert_eq!(
            check_method(FwdMethod::Dr, 8080, 80).unwrap_err().to_string(),
            "route (DR) cannot map ports: the real server port must be 80"
        );
        assert_eq!(check_timeouts(0, MAX_TIMEOUT_SECS, 0), Ok(()));
        assert!(check_timeouts(0, 0, MAX_TIMEOUT_SECS + 1).is_err());
    }
}
