//! `[[check]]`: the health checks of real servers, keepalived's checkers and timing knobs, by
//! service (every real server of it, those fnatctl adds later included) or for one real server.
//!
//! ```toml
//! [[check]]
//! protocol = "tcp"          # the service: protocol, vip and port, or fwmark
//! vip = "10.0.0.100"
//! port = 80
//! type = "http"             # tcp, http, https, udp, dns, icmp, misc
//! path = "/health"          # http/https: path, host, status (list), digest (MD5 of the body)
//! interval = 2.0            # seconds between checks (delay_loop)
//! timeout = 1.0             # seconds an attempt may take (connect_timeout)
//! retries = 1               # attempts after a failed one (retry), each after retry_delay
//! fall = 2                  # failed checks in a row before a server is taken out
//! rise = 1                  # passed checks in a row before it comes back
//! inhibit_on_failure = true # weight 0 instead of removal
//! notify_down = "/usr/local/bin/alert down"   # run (no shell) when a server goes down / up
//! passive_failures = 3      # 3 clients' SYNs left unanswered (sent again) within
//! passive_window = 10.0     #   10 s take a server out at once; its check then confirms or clears
//! quorum = 2                # service-wide rules only: the live weight the service needs,
//! hysteresis = 0            #   the margin around it,
//! sorry_server = "10.1.0.99:8080"   # the server that takes the service meanwhile,
//! quorum_down = "/usr/local/bin/page"   # and the commands run when it is lost / back
//! ```

use std::net::SocketAddrV4;

use ctrl::vocab::health::{DnsCheck, HttpCheck, MiscCheck, UdpCheck};
use ctrl::vocab::{CheckKind, CheckSpec, CheckTiming, ServiceKey};

use super::{ConfigError, Validator, raw};
use crate::health::{CheckRule, Notify, Passive, ServicePolicy};

/// DNS query types by name.
const QUERY_TYPES: [(&str, u16); 7] =
    [("A", 1), ("NS", 2), ("CNAME", 5), ("SOA", 6), ("MX", 15), ("TXT", 16), ("AAAA", 28)];

impl Validator<'_> {
    /// The `[[check]]` tables, in order; a later rule for the same service (or real server)
    /// replaces an earlier one.
    pub(super) fn checks(&self, raw: Vec<raw::Check>) -> Result<Vec<CheckRule>, ConfigError> {
        raw.into_iter().enumerate().map(|(i, c)| self.check(&format!("check[{i}]"), c)).collect()
    }

    fn check(&self, f: &str, c: raw::Check) -> Result<CheckRule, ConfigError> {
        let svc = match (c.fwmark, c.protocol.as_deref(), c.vip.as_deref(), c.port) {
            (Some(0), ..) => return Err(self.err(format_args!("{f}.fwmark"), "must be from 1 to 4294967295")),
            (Some(m), None, None, None) => ServiceKey::mark(m),
            (None, Some(p), Some(v), Some(port)) => self.addr_key(f, p, v, port)?,
            _ => return Err(self.err(f, "names its service: protocol, vip and port, or fwmark")),
        };
        let dest = c
            .real_server
            .as_deref()
            .map(|r| {
                r.parse::<SocketAddrV4>().map_err(|_| {
                    self.err(format_args!("{f}.real_server"), format_args!("'{r}' is not an address:port"))
                })
            })
            .transpose()?;
        let timing = self.timing(f, &c)?;
        let port = match c.check_port {
            None => None,
            Some(p) => Some(
                u16::try_from(p)
                    .ok()
                    .filter(|&p| p != 0)
                    .ok_or_else(|| self.err(format_args!("{f}.check_port"), "must be from 1 to 65535"))?,
            ),
        };
        let kind = self.kind(f, &c)?;
        let notify = Notify {
            up: self.command(f, "notify_up", c.notify_up.as_deref())?,
            down: self.command(f, "notify_down", c.notify_down.as_deref())?,
        };
        let policy = self.policy(f, &c, dest.is_some())?;
        let passive = self.passive(f, &c)?;
        Ok(CheckRule {
            passive,
            svc,
            dest,
            spec: CheckSpec { kind, port, timing },
            inhibit: c.inhibit_on_failure.unwrap_or(false),
            notify,
            policy,
        })
    }

    /// `passive_failures` unanswered SYNs within `passive_window` seconds (default 10) take a
    /// server out; off without `passive_failures`.
    fn passive(&self, f: &str, c: &raw::Check) -> Result<Option<Passive>, ConfigError> {
        let Some(failures) = c.passive_failures else {
            if c.passive_window.is_some() {
                return Err(self.err(format_args!("{f}.passive_window"), "goes with passive_failures"));
            }
            return Ok(None);
        };
        if !(1..=1000).contains(&failures) {
            return Err(self.err(format_args!("{f}.passive_failures"), "must be from 1 to 1000"));
        }
        let window_ms = match c.passive_window {
            None => 10_000,
            Some(s) if (0.1..=3600.0).contains(&s) => secs_to_ms(s),
            Some(_) => return Err(self.err(format_args!("{f}.passive_window"), "must be from 0.1 to 3600 seconds")),
        };
        Ok(Some(Passive { failures, window_ms }))
    }

    /// A hook's command line, split on whitespace (run without a shell).
    pub(super) fn command(&self, f: &str, name: &str, cmd: Option<&str>) -> Result<Option<Vec<String>>, ConfigError> {
        let Some(cmd) = cmd else { return Ok(None) };
        let words: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if words.is_empty() {
            return Err(self.err(format_args!("{f}.{name}"), "is an empty command"));
        }
        Ok(Some(words))
    }

    /// The service-wide settings: quorum, hysteresis, sorry server and their commands; not for a
    /// rule of one real server.
    fn policy(&self, f: &str, c: &raw::Check, one_server: bool) -> Result<ServicePolicy, ConfigError> {
        let set = [
            ("sorry_server", c.sorry_server.is_some()),
            ("quorum", c.quorum.is_some()),
            ("hysteresis", c.hysteresis.is_some()),
            ("quorum_up", c.quorum_up.is_some()),
            ("quorum_down", c.quorum_down.is_some()),
        ];
        if let Some((name, _)) = set.iter().find(|(_, s)| *s).filter(|_| one_server) {
            return Err(self.err(format_args!("{f}.{name}"), "is for the whole service: not with real_server"));
        }
        let sorry = c
            .sorry_server
            .as_deref()
            .map(|r| {
                r.parse::<SocketAddrV4>().map_err(|_| {
                    self.err(format_args!("{f}.sorry_server"), format_args!("'{r}' is not an address:port"))
                })
            })
            .transpose()?;
        let d = ServicePolicy::default();
        let quorum = c.quorum.unwrap_or(d.quorum);
        if !(1..=10_000_000).contains(&quorum) {
            return Err(self.err(format_args!("{f}.quorum"), "must be from 1 to 10000000"));
        }
        let hysteresis = c.hysteresis.unwrap_or(d.hysteresis);
        if hysteresis >= quorum {
            return Err(self.err(format_args!("{f}.hysteresis"), "must be below the quorum"));
        }
        Ok(ServicePolicy {
            quorum,
            hysteresis,
            sorry,
            up: self.command(f, "quorum_up", c.quorum_up.as_deref())?,
            down: self.command(f, "quorum_down", c.quorum_down.as_deref())?,
        })
    }

    fn timing(&self, f: &str, c: &raw::Check) -> Result<CheckTiming, ConfigError> {
        let d = CheckTiming::default();
        let secs = |name: &str, v: Option<f64>, max: f64, default: u64| -> Result<u64, ConfigError> {
            match v {
                None => Ok(default),
                Some(s) if (0.1..=max).contains(&s) => Ok(secs_to_ms(s)),
                Some(_) => Err(self.err(format_args!("{f}.{name}"), format_args!("must be from 0.1 to {max} seconds"))),
            }
        };
        let count = |name: &str, v: Option<u32>, min: u32, default: u32| -> Result<u32, ConfigError> {
            match v {
                None => Ok(default),
                Some(n) if (min..=100).contains(&n) => Ok(n),
                Some(_) => Err(self.err(format_args!("{f}.{name}"), format_args!("must be from {min} to 100"))),
            }
        };
        Ok(CheckTiming {
            interval_ms: secs("interval", c.interval, 3600.0, d.interval_ms)?,
            timeout_ms: secs("timeout", c.timeout, 300.0, d.timeout_ms)?,
            retries: count("retries", c.retries, 0, d.retries)?,
            retry_delay_ms: secs("retry_delay", c.retry_delay, 3600.0, d.retry_delay_ms)?,
            rise: count("rise", c.rise, 1, d.rise)?,
            fall: count("fall", c.fall, 1, d.fall)?,
        })
    }

    fn kind(&self, f: &str, c: &raw::Check) -> Result<CheckKind, ConfigError> {
        let kind = c.kind.as_str();
        // A field of another kind of check is a mistake worth naming.
        let fields: [(&str, bool, &[&str]); 8] = [
            ("path", c.path.is_some(), &["http", "https"]),
            ("host", c.host.is_some(), &["http", "https"]),
            ("status", c.status.is_some(), &["http", "https"]),
            ("digest", c.digest.is_some(), &["http", "https"]),
            ("payload", c.payload.is_some(), &["udp"]),
            ("require_reply", c.require_reply.is_some(), &["udp"]),
            ("name", c.name.is_some() || c.query_type.is_some(), &["dns"]),
            ("command", c.command.is_some() || c.dynamic.is_some(), &["misc"]),
        ];
        for (name, set, kinds) in fields {
            if set && !kinds.contains(&kind) {
                return Err(self.err(format_args!("{f}.{name}"), format_args!("is for {} checks", kinds.join("/"))));
            }
        }
        Ok(match kind {
            "tcp" => CheckKind::Tcp,
            "icmp" => CheckKind::Icmp,
            "http" | "https" => CheckKind::Http(self.http(f, c, kind == "https")?),
            "udp" => {
                let payload = c.payload.clone().unwrap_or_default().into_bytes();
                if payload.len() > 1400 {
                    return Err(self.err(format_args!("{f}.payload"), "must be at most 1400 bytes"));
                }
                CheckKind::Udp(UdpCheck { payload, require_reply: c.require_reply.unwrap_or(false) })
            }
            "dns" => {
                let name = c.name.clone().unwrap_or_else(|| ".".to_owned());
                if name.len() > 253 || name.split('.').any(|l| l.len() > 63) {
                    return Err(self.err(format_args!("{f}.name"), format_args!("'{name}' is not a DNS name")));
                }
                let qt = c.query_type.as_deref().unwrap_or("A");
                let qtype =
                    QUERY_TYPES.iter().find(|(n, _)| n.eq_ignore_ascii_case(qt)).map(|&(_, t)| t).ok_or_else(|| {
                        self.err(
                            format_args!("{f}.query_type"),
                            format_args!("'{qt}' is not A, NS, CNAME, SOA, MX, TXT or AAAA"),
                        )
                    })?;
                CheckKind::Dns(DnsCheck { name, qtype })
            }
            "misc" => {
                let command: Vec<String> =
                    c.command.as_deref().unwrap_or_default().split_whitespace().map(str::to_owned).collect();
                if command.is_empty() {
                    return Err(self.err(format_args!("{f}.command"), "a misc check needs the command it runs"));
                }
                CheckKind::Misc(MiscCheck { command, dynamic: c.dynamic.unwrap_or(false) })
            }
            other => {
                return Err(self.err(
                    format_args!("{f}.type"),
                    format_args!("'{other}' is not tcp, http, https, udp, dns, icmp or misc"),
                ));
            }
        })
    }

    fn http(&self, f: &str, c: &raw::Check, tls: bool) -> Result<HttpCheck, ConfigError> {
        let path = c.path.clone().unwrap_or_else(|| "/".to_owned());
        if !path.starts_with('/') || path.chars().any(|ch| ch.is_whitespace() || ch.is_control()) {
            return Err(self.err(format_args!("{f}.path"), format_args!("'{path}' is not a path starting with '/'")));
        }
        if let Some(h) = &c.host
            && (h.is_empty() || h.chars().any(|ch| ch.is_whitespace() || ch.is_control()))
        {
            return Err(self.err(format_args!("{f}.host"), format_args!("'{h}' is not a host name")));
        }
        let status =
            c.status
                .clone()
                .unwrap_or_default()
                .into_iter()
                .map(|s| {
                    u16::try_from(s).ok().filter(|s| (100..=599).contains(s)).ok_or_else(|| {
                        self.err(format_args!("{f}.status"), format_args!("{s} is not an HTTP status code"))
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
        let digest = match &c.digest {
            None => None,
            Some(d) if d.len() == 32 && d.chars().all(|ch| ch.is_ascii_hexdigit()) => Some(d.to_ascii_lowercase()),
            Some(d) => {
                return Err(
                    self.err(format_args!("{f}.digest"), format_args!("'{d}' is not an MD5 digest (32 hex digits)"))
                );
            }
        };
        Ok(HttpCheck { path, host: c.host.clone(), status, digest, tls })
    }
}

/// Seconds (checked to be from 0.1 to an hour) in milliseconds.
fn secs_to_ms(s: f64) -> u64 {
    // In range by the caller's check: the cast neither truncates nor loses the sign.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let ms = (s * 1000.0).round() as u64;
    ms
}
