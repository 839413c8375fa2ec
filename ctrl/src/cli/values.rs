//! The values of fnatctl's options, checked as ipvsadm checks them: addresses and ports (numbers,
//! or names from the services file), timeouts, and persistence (`-p [timeout]`, `-M netmask`).

use std::net::Ipv4Addr;

use crate::limits::MAX_TIMEOUT_SECS;
use crate::vocab::{Persistence, Protocol, ServiceKey, mask_prefix};

use super::UsageError;
use super::portnames::PortNames;

fn invalid(msg: impl Into<String>) -> UsageError {
    UsageError::Invalid(msg.into())
}

/// `-p [timeout]` and `-M netmask`: the timeout in seconds, 1 to 31 days, 360 without a value (as
/// ipvsadm, whose man page says 300 but whose code sets 360); the netmask a contiguous dotted mask,
/// only with `-p`.
pub(crate) fn persistence(
    p: Option<&Option<String>>,
    netmask: Option<&str>,
) -> Result<Option<Persistence>, UsageError> {
    let Some(timeout) = p else {
        return match netmask {
            Some(_) => Err(invalid("the persistence netmask (-M) needs persistence (-p)")),
            None => Ok(None),
        };
    };
    let secs = match timeout.as_deref() {
        None => Persistence::DEFAULT_TIMEOUT_SECS,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|&n| (1..=MAX_TIMEOUT_SECS).contains(&n) && text.chars().all(|c| c.is_ascii_digit()))
            .ok_or_else(|| invalid(format!("invalid timeout value `{text}' specified")))?,
    };
    let mut p = Persistence::secs(secs);
    if let Some(text) = netmask {
        let mask: Ipv4Addr = text.parse().map_err(|_| invalid("illegal virtual server persistent mask specified"))?;
        let len = mask_prefix(mask)
            .ok_or_else(|| invalid(format!("persistent mask {mask} is not contiguous (like 255.255.255.0)")))?;
        p = p.with_netmask(len);
    }
    Ok(Some(p))
}

/// A `--set` value: seconds, 0 (keep the current value) to 31 days, as ipvsadm.
pub(crate) fn timeout(text: &str) -> Result<u32, UsageError> {
    text.parse::<u32>()
        .ok()
        .filter(|&n| n <= MAX_TIMEOUT_SECS && text.chars().all(|c| c.is_ascii_digit()))
        .ok_or_else(|| invalid(format!("invalid timeout value `{text}' specified")))
}

/// An IPv4 address in dotted-quad form; `whole` names the argument in the error.
pub(crate) fn address(text: &str, whole: &str) -> Result<Ipv4Addr, UsageError> {
    text.parse().map_err(|_| {
        if text.starts_with('[') || text.contains(':') {
            invalid(format!("invalid address '{whole}': IPv6 is not supported yet"))
        } else if text.chars().any(|c| c.is_ascii_alphabetic()) {
            invalid(format!("invalid address '{whole}' (host names are not resolved)"))
        } else {
            invalid(format!("invalid address '{whole}'"))
        }
    })
}

/// `addr[:port]` with a numeric port or a name from the services file; `None` without a port.
pub(crate) fn addr_port(text: &str, proto: Protocol, names: &PortNames) -> Result<(Ipv4Addr, Option<u16>), UsageError> {
    // A bare number is a firewall mark for ipvsadm, never an address.
    if text.is_empty() || text.chars().all(|c| c.is_ascii_digit()) {
        return Err(invalid(format!("invalid address '{text}'")));
    }
    if text.starts_with('[') || text.matches(':').count() > 1 {
        return Err(invalid(format!("invalid address '{text}': IPv6 is not supported yet")));
    }
    let (host, port) = match text.rsplit_once(':') {
        Some((h, p)) => (h, Some(p)),
        None => (text, None),
    };
    let addr = address(host, text)?;
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .ok()
                .filter(|_| p.chars().all(|c| c.is_ascii_digit()))
                .or_else(|| names.port(p, proto))
                .ok_or_else(|| invalid(format!("invalid port '{p}' in '{text}'")))
        })
        .transpose()?;
    Ok((addr, port))
}

/// `-t|-u addr[:port]`, or (`proto` `None`) `-f MARK`, a firewall mark from 1 to 4294967295.
pub(crate) fn service(proto: Option<Protocol>, text: &str, names: &PortNames) -> Result<ServiceKey, UsageError> {
    let Some(proto) = proto else {
        return match text.parse::<u32>() {
            Ok(m) if m > 0 && text.chars().all(|c| c.is_ascii_digit()) => Ok(ServiceKey::mark(m)),
            _ => Err(invalid(format!("invalid firewall mark '{text}' (1 to 4294967295)"))),
        };
    };
    let (vip, port) = addr_port(text, proto, names)?;
    Ok(ServiceKey { protocol: proto, vip, vport: port.unwrap_or(0), fwmark: 0 })
}

/// `-r addr[:port]`: the port defaults to the service's. Port 0 only in a port-0 service (where
/// each connection keeps its port; fnatd refuses any other port there).
pub(crate) fn real_server(text: &str, svc: ServiceKey, names: &PortNames) -> Result<(Ipv4Addr, u16), UsageError> {
    let (addr, port) = addr_port(text, svc.protocol, names)?;
    match port.unwrap_or(svc.vport) {
        0 if svc.vport != 0 => Err(invalid("real server port 0 is out of range (1 to 65535)")),
        p => Ok((addr, p)),
    }
}
