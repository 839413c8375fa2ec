//! A real server's checker block (`TCP_CHECK`, `HTTP_GET`, `SSL_GET`, `UDP_CHECK`, `DNS_CHECK`,
//! `PING_CHECK`, `MISC_CHECK`) as written ([`Checker`]), then resolved against the defaults of its
//! real server and virtual server into what fnatd's `[[check]]` says ([`Check`]).
//!
//! keepalived's defaults, for what neither the checker, its real server nor its virtual server
//! sets: `delay_loop` 60 s; `connect_timeout` 5 s; `retry` 1, 3 for `DNS_CHECK`, 0 for
//! `MISC_CHECK`; `delay_before_retry` 1 s, 3 s for `HTTP_GET`/`SSL_GET`, `delay_loop` for
//! `DNS_CHECK`; `misc_timeout` `delay_loop`; DNS `type` SOA and `name` "."; HTTP status 2xx.

use super::KeepalivedError as E;
use super::lexer::Stmt;
use super::values::{port, shared_refusals};

/// fnatd's DNS query types (by keepalived's names).
const QUERY_TYPES: [&str; 7] = ["A", "NS", "CNAME", "SOA", "MX", "TXT", "AAAA"];

/// The longest UDP payload fnatd sends.
const MAX_PAYLOAD: usize = 1400;

/// keepalived's timing knobs as one level sets them (virtual server, real server or checker); an
/// unset one comes from the level above, then from the checker's default.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(super) struct Timing {
    /// `delay_loop`: seconds between checks.
    pub delay_loop: Option<f64>,
    /// `connect_timeout`: seconds one attempt may take.
    pub connect_timeout: Option<f64>,
    /// `retry` (`nb_get_retry`): attempts after a failed one.
    pub retry: Option<u32>,
    /// `delay_before_retry`: seconds before each of those.
    pub delay_before_retry: Option<f64>,
}

impl Timing {
    /// Reads `s` when it is one of the knobs (in fnatd's ranges); `Ok(false)` when it is not one.
    pub(super) fn read(&mut self, s: &Stmt) -> Result<bool, E> {
        match s.keyword.as_str() {
            "delay_loop" => self.delay_loop = Some(s.secs(0.1, 3600.0)?),
            "connect_timeout" => self.connect_timeout = Some(s.secs(0.1, 300.0)?),
            "retry" | "nb_get_retry" => self.retry = Some(s.u32_in(0, 100)?),
            "delay_before_retry" => self.delay_before_retry = Some(s.secs(0.1, 3600.0)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// These settings, with `outer`'s where these have none.
    pub(super) fn or(self, outer: Timing) -> Timing {
        Timing {
            delay_loop: self.delay_loop.or(outer.delay_loop),
            connect_timeout: self.connect_timeout.or(outer.connect_timeout),
            retry: self.retry.or(outer.retry),
            delay_before_retry: self.delay_before_retry.or(outer.delay_before_retry),
        }
    }
}

/// What a check does, with the fields fnatd's `[[check]]` has for it.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Probe {
    /// `TCP_CHECK`: `type = "tcp"`.
    Tcp,
    /// `HTTP_GET` (`type = "http"`) or `SSL_GET` (`"https"`).
    Http {
        /// `SSL_GET`.
        tls: bool,
        /// The url's `path`.
        path: String,
        /// `virtualhost`, the url's, the checker's, the real server's or the virtual server's.
        host: Option<String>,
        /// The url's `status_code`s, sorted, each once; empty: 2xx.
        status: Vec<u16>,
        /// The url's `digest`, lowercase.
        digest: Option<String>,
    },
    /// `UDP_CHECK`.
    Udp {
        /// The `payload`'s bytes (keepalived writes them in hex) as text.
        payload: Option<String>,
        /// `require_reply`.
        require_reply: bool,
    },
    /// `DNS_CHECK`.
    Dns {
        /// `name`, when set.
        name: Option<String>,
        /// `type` (SOA when not set, keepalived's default).
        query_type: &'static str,
    },
    /// `PING_CHECK`: `type = "icmp"`.
    Icmp,
    /// `MISC_CHECK`.
    Misc {
        /// `misc_path`.
        command: String,
        /// `misc_dynamic`.
        dynamic: bool,
    },
}

impl Probe {
    /// fnatd's `type`.
    pub(super) fn kind(&self) -> &'static str {
        match self {
            Probe::Tcp => "tcp",
            Probe::Http { tls: false, .. } => "http",
            Probe::Http { tls: true, .. } => "https",
            Probe::Udp { .. } => "udp",
            Probe::Dns { .. } => "dns",
            Probe::Icmp => "icmp",
            Probe::Misc { .. } => "misc",
        }
    }
}

/// One real server's check, resolved: fnatd's `[[check]]` but for the service it belongs to.
#[derive(Clone, Debug, PartialEq)]
pub(super) struct Check {
    /// What it does.
    pub probe: Probe,
    /// `connect_port`, when it is not the real server's port.
    pub check_port: Option<u16>,
    /// Seconds between checks.
    pub interval: f64,
    /// Seconds an attempt may take.
    pub timeout: f64,
    /// Attempts after a failed one.
    pub retries: u32,
    /// Seconds before each of those.
    pub retry_delay: f64,
    /// `inhibit_on_failure`.
    pub inhibit: bool,
}

/// An HTTP checker's `url` block.
#[derive(Debug, Default)]
struct Url {
    path: Option<String>,
    status: Vec<u16>,
    digest: Option<String>,
    virtualhost: Option<String>,
}

/// A checker's own settings, as written.
#[derive(Debug)]
enum Kind {
    Tcp,
    Http { tls: bool, url: Option<(usize, Url)> },
    Udp { payload: Option<String>, require_reply: bool },
    Dns { query_type: Option<&'static str>, name: Option<String> },
    Icmp,
    Misc { command: Option<String>, timeout: Option<f64>, dynamic: bool },
}

/// A checker block as written.
#[derive(Debug)]
pub(super) struct Checker {
    /// The line of its keyword.
    pub line: usize,
    /// Its keyword (`HTTP_GET`, ...).
    pub name: String,
    kind: Kind,
    connect_port: Option<u16>,
    timing: Timing,
    virtualhost: Option<String>,
}

/// The checker `s` is, or `None` when `s` is not a checker keyword.
pub(super) fn read(s: &Stmt) -> Result<Option<Checker>, E> {
    let kind = match s.keyword.as_str() {
        "TCP_CHECK" => Kind::Tcp,
        "HTTP_GET" => Kind::Http { tls: false, url: None },
        "SSL_GET" => Kind::Http { tls: true, url: None },
        "UDP_CHECK" => Kind::Udp { payload: None, require_reply: false },
        "DNS_CHECK" => Kind::Dns { query_type: None, name: None },
        "PING_CHECK" => Kind::Icmp,
        "MISC_CHECK" => Kind::Misc { command: None, timeout: None, dynamic: false },
        k @ ("SMTP_CHECK" | "BFD_CHECK" | "FILE_CHECK") => return Err(E::unsupported(s.line, k)),
        _ => return Ok(None),
    };
    if !s.args.is_empty() {
        return Err(E::invalid(s.line, format!("{} takes no value", s.keyword)));
    }
    let mut c = Checker {
        line: s.line,
        name: s.keyword.clone(),
        kind,
        connect_port: None,
        timing: Timing::default(),
        virtualhost: None,
    };
    for st in s.body() {
        c.setting(st)?;
    }
    match &c.kind {
        Kind::Http { url: None, .. } => {
            return Err(E::invalid(c.line, format!("{} needs a url block with a path", c.name)));
        }
        Kind::Http { url: Some((line, Url { path: None, .. })), .. } => {
            return Err(E::invalid(*line, "url needs a path"));
        }
        Kind::Misc { command: None, .. } => return Err(E::invalid(c.line, "MISC_CHECK needs misc_path")),
        _ => {}
    }
    Ok(Some(c))
}

impl Checker {
    /// One statement of the checker's block.
    fn setting(&mut self, s: &Stmt) -> Result<(), E> {
        shared_refusals(s)?;
        let k = s.keyword.as_str();
        let unsupported = || Err(E::unsupported(s.line, k));
        match (k, &mut self.kind) {
            ("connect_ip" | "bindto" | "bind_if" | "bind_port" | "fwmark" | "alpha" | "warmup", _) => unsupported(),
            ("log_all_failures", _) => unsupported(),
            ("connect_port", Kind::Icmp) => Err(E::unsupported(s.line, "connect_port in PING_CHECK")),
            ("connect_port", Kind::Misc { .. }) => self.unknown(s),
            ("connect_port", _) => {
                self.connect_port = Some(port(s.line, k, s.one()?, 1)?);
                Ok(())
            }
            ("connect_timeout", Kind::Misc { .. }) => {
                Err(E::unsupported(s.line, "connect_timeout in MISC_CHECK (its timeout is misc_timeout)"))
            }
            ("delay_loop" | "connect_timeout" | "retry" | "nb_get_retry" | "delay_before_retry", _) => {
                self.timing.read(s).map(drop)
            }
            ("virtualhost", Kind::Http { .. }) => {
                self.virtualhost = Some(s.host()?);
                Ok(())
            }
            ("url", Kind::Http { url: Some(_), .. }) => {
                Err(E::unsupported(s.line, format!("a second url in {}", self.name)))
            }
            ("url", Kind::Http { url, .. }) => {
                if !s.args.is_empty() {
                    return Err(E::invalid(s.line, "url takes no value"));
                }
                *url = Some((s.line, read_url(s)?));
                Ok(())
            }
            ("http_protocol" | "fast_recovery" | "enable_sni" | "sni_name" | "tls_compliant", Kind::Http { .. }) => {
                unsupported()
            }
            ("payload", Kind::Udp { payload, .. }) => {
                *payload = Some(udp_payload(s)?);
                Ok(())
            }
            ("require_reply", Kind::Udp { require_reply, .. }) => {
                s.no_block()?;
                if !s.args.is_empty() {
                    return Err(E::unsupported(s.line, "require_reply with the reply's bytes"));
                }
                *require_reply = true;
                Ok(())
            }
            ("min_reply_length" | "max_reply_length", Kind::Udp { .. }) => unsupported(),
            ("type", Kind::Dns { query_type, .. }) => {
                let v = s.one()?;
                let t = QUERY_TYPES.iter().find(|t| t.eq_ignore_ascii_case(v)).ok_or_else(|| {
                    E::invalid(s.line, format!("type '{v}' is not A, NS, CNAME, SOA, MX, TXT or AAAA"))
                })?;
                *query_type = Some(t);
                Ok(())
            }
            ("name", Kind::Dns { name, .. }) => {
                let v = s.one()?;
                if v.is_empty()
                    || v.len() > 253
                    || v.split('.').any(|l| l.len() > 63)
                    || v.contains(char::is_whitespace)
                {
                    return Err(E::invalid(s.line, format!("name '{v}' is not a DNS name")));
                }
                *name = Some(v.to_owned());
                Ok(())
            }
            ("misc_path", Kind::Misc { command, .. }) => {
                *command = Some(s.command("a user, or a command with arguments not in quotes")?);
                Ok(())
            }
            ("misc_timeout", Kind::Misc { timeout, .. }) => {
                *timeout = Some(s.secs(0.1, 300.0)?);
                Ok(())
            }
            ("misc_dynamic", Kind::Misc { dynamic, .. }) => {
                *dynamic = s.flag()?;
                Ok(())
            }
            ("user", Kind::Misc { .. }) => Err(E::unsupported(s.line, "user in MISC_CHECK")),
            _ => self.unknown(s),
        }
    }

    fn unknown(&self, s: &Stmt) -> Result<(), E> {
        Err(E::UnknownKeyword { line: s.line, keyword: s.keyword.clone(), block: self.name.clone() })
    }

    /// The check, with `outer` the timing of the real server over the virtual server's, `host`
    /// their `virtualhost`, `inhibit` their `inhibit_on_failure`; `base_port` is the port keepalived
    /// checks without `connect_port` (the real server's as written, else the service's), and
    /// `rs_port` the real server's port in fnatd.
    pub(super) fn resolve(
        &self,
        outer: Timing,
        host: Option<&str>,
        inhibit: bool,
        base_port: Option<u16>,
        rs_port: u16,
    ) -> Result<Check, E> {
        let t = self.timing.or(outer);
        let interval = t.delay_loop.unwrap_or(60.0);
        let host = self.virtualhost.as_deref().or(host);
        let (probe, timeout, retries, retry_delay) = match &self.kind {
            Kind::Tcp => (Probe::Tcp, None, 1, 1.0),
            Kind::Http { tls, url } => {
                let url = url.as_ref().map(|(_, u)| u);
                let probe = Probe::Http {
                    tls: *tls,
                    path: url.and_then(|u| u.path.clone()).unwrap_or_else(|| "/".to_owned()),
                    host: url.and_then(|u| u.virtualhost.as_deref()).or(host).map(str::to_owned),
                    status: url.map(|u| u.status.clone()).unwrap_or_default(),
                    digest: url.and_then(|u| u.digest.clone()),
                };
                (probe, None, 1, 3.0)
            }
            Kind::Udp { payload, require_reply } => {
                (Probe::Udp { payload: payload.clone(), require_reply: *require_reply }, None, 1, 1.0)
            }
            Kind::Dns { query_type, name } => {
                let probe = Probe::Dns { name: name.clone(), query_type: query_type.unwrap_or("SOA") };
                (probe, None, 3, interval)
            }
            Kind::Icmp => (Probe::Icmp, None, 1, 1.0),
            Kind::Misc { command, timeout, dynamic } => {
                let timeout = timeout.unwrap_or(interval);
                if timeout > 300.0 {
                    return Err(E::invalid(
                        self.line,
                        format!(
                            "MISC_CHECK without misc_timeout times out after delay_loop ({interval} s), \
                             above fnatd's 300 seconds: set misc_timeout"
                        ),
                    ));
                }
                let probe = Probe::Misc { command: command.clone().unwrap_or_default(), dynamic: *dynamic };
                (probe, Some(timeout), 0, 1.0)
            }
        };
        let check_port = match probe {
            Probe::Icmp | Probe::Misc { .. } => None,
            _ => match self.connect_port.or(base_port) {
                None | Some(0) => {
                    return Err(E::invalid(
                        self.line,
                        format!("{} of a real server without a port needs connect_port", self.name),
                    ));
                }
                Some(p) => (p != rs_port).then_some(p),
            },
        };
        Ok(Check {
            probe,
            check_port,
            interval,
            timeout: timeout.or(t.connect_timeout).unwrap_or(5.0),
            retries: t.retry.unwrap_or(retries),
            retry_delay: t.delay_before_retry.unwrap_or(retry_delay),
            inhibit,
        })
    }
}

/// An HTTP checker's `url` block.
fn read_url(s: &Stmt) -> Result<Url, E> {
    let mut url = Url::default();
    for st in s.body() {
        shared_refusals(st)?;
        match st.keyword.as_str() {
            "path" => {
                let v = st.one()?;
                if !v.starts_with('/') || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
                    return Err(E::invalid(st.line, format!("path '{v}' is not a path starting with '/'")));
                }
                url.path = Some(v.to_owned());
            }
            "digest" => {
                let v = st.one()?;
                if v.len() != 32 || !v.chars().all(|c| c.is_ascii_hexdigit()) {
                    return Err(E::invalid(st.line, format!("digest '{v}' is not an MD5 digest (32 hex digits)")));
                }
                url.digest = Some(v.to_ascii_lowercase());
            }
            "status_code" => {
                st.no_block()?;
                if st.args.is_empty() {
                    return Err(E::invalid(st.line, "status_code needs a value"));
                }
                for v in &st.args {
                    let (lo, hi) = status_range(v).ok_or_else(|| {
                        E::invalid(
                            st.line,
                            format!(
                                "status_code '{v}' is not a status from 100 to 599 or a range of them like 200-299"
                            ),
                        )
                    })?;
                    url.status.extend(lo..=hi);
                }
                url.status.sort_unstable();
                url.status.dedup();
            }
            "virtualhost" => url.virtualhost = Some(st.host()?),
            k @ ("regex" | "regex_no_match" | "regex_options" | "regex_stack" | "regex_min_offset"
            | "regex_max_offset" | "tls_compliant") => return Err(E::unsupported(st.line, k)),
            _ => {
                return Err(E::UnknownKeyword { line: st.line, keyword: st.keyword.clone(), block: "url".into() });
            }
        }
    }
    Ok(url)
}

/// `200` or `200-299`, each from 100 to 599, low to high.
fn status_range(v: &str) -> Option<(u16, u16)> {
    let code = |s: &str| {
        (s.len() == 3 && s.chars().all(|c| c.is_ascii_digit()))
            .then(|| s.parse::<u16>().ok())
            .flatten()
            .filter(|c| (100..=599).contains(c))
    };
    let (lo, hi) = match v.split_once('-') {
        Some((lo, hi)) => (code(lo)?, code(hi)?),
        None => (code(v)?, code(v)?),
    };
    (lo <= hi).then_some((lo, hi))
}

/// `payload`: keepalived's hex (`Ab12f 3 456`: each word in pairs of digits from its start, an odd
/// last digit a byte of its own), the bytes taken as text since fnatd's payload is a string.
fn udp_payload(s: &Stmt) -> Result<String, E> {
    s.no_block()?;
    if s.args.is_empty() {
        return Err(E::invalid(s.line, "payload needs a value"));
    }
    let mut bytes = Vec::new();
    for word in &s.args {
        let digits: Option<Vec<u8>> = word.chars().map(|c| c.to_digit(16).and_then(|d| u8::try_from(d).ok())).collect();
        let digits = digits.ok_or_else(|| {
            E::invalid(s.line, format!("payload '{word}' is not hex digits (keepalived's payload is hex)"))
        })?;
        bytes.extend(digits.chunks(2).map(|p| p.iter().fold(0u8, |b, &d| (b << 4) | d)));
    }
    if bytes.len() > MAX_PAYLOAD {
        return Err(E::invalid(
            s.line,
            format!("payload of {} bytes is longer than fnatd's {MAX_PAYLOAD}", bytes.len()),
        ));
    }
    String::from_utf8(bytes).map_err(|_| E::unsupported(s.line, "a payload whose bytes are not UTF-8 text"))
}
