//! The values of a statement, read and range-checked, every error naming the statement's line:
//! one word, a flag, seconds, whole numbers, ports, IPv4 addresses; and the refusals every block
//! shares (`include`, conditional lines, parameter substitution).

use std::net::Ipv4Addr;

use super::KeepalivedError as E;
use super::lexer::Stmt;

/// keepalived's `<BOOL>` words.
const TRUE: [&str; 3] = ["on", "true", "yes"];
const FALSE: [&str; 3] = ["off", "false", "no"];

impl Stmt {
    /// The one value of the statement.
    pub(super) fn one(&self) -> Result<&str, E> {
        self.no_block()?;
        match self.args.as_slice() {
            [v] => Ok(v),
            [] => Err(E::invalid(self.line, format!("{} needs a value", self.keyword))),
            more => Err(E::invalid(self.line, format!("{} takes one value, not {}", self.keyword, more.len()))),
        }
    }

    /// The value of a statement whose value may be left out.
    pub(super) fn maybe_one(&self) -> Result<Option<&str>, E> {
        if self.args.is_empty() {
            self.no_block()?;
            return Ok(None);
        }
        self.one().map(Some)
    }

    /// A flag, on when written alone or with `on`, `true` or `yes` (keepalived's `[<BOOL>]`).
    pub(super) fn flag(&self) -> Result<bool, E> {
        match self.maybe_one()? {
            None => Ok(true),
            Some(v) if TRUE.contains(&v.to_ascii_lowercase().as_str()) => Ok(true),
            Some(v) if FALSE.contains(&v.to_ascii_lowercase().as_str()) => Ok(false),
            Some(v) => Err(E::invalid(
                self.line,
                format!("{} takes no value or one of on, off, true, false, yes, no, not '{v}'", self.keyword),
            )),
        }
    }

    /// A statement without a block.
    pub(super) fn no_block(&self) -> Result<(), E> {
        match self.block {
            Some(_) => Err(E::invalid(self.line, format!("{} takes no block", self.keyword))),
            None => Ok(()),
        }
    }

    /// The statements of the block (none when there is no block).
    pub(super) fn body(&self) -> &[Stmt] {
        self.block.as_deref().unwrap_or_default()
    }

    /// Seconds (keepalived's `<TIMER>`, fractions allowed) in fnatd's range `min..=max`.
    pub(super) fn secs(&self, min: f64, max: f64) -> Result<f64, E> {
        let v = self.one()?;
        let decimal = !v.is_empty()
            && v.chars().all(|c| c.is_ascii_digit() || c == '.')
            && v.chars().filter(|&c| c == '.').count() <= 1
            && v.chars().any(|c| c.is_ascii_digit());
        let secs = v
            .parse::<f64>()
            .ok()
            .filter(|_| decimal)
            .ok_or_else(|| E::invalid(self.line, format!("{} '{v}' is not a number of seconds", self.keyword)))?;
        if !(min..=max).contains(&secs) {
            return Err(E::invalid(
                self.line,
                format!("{} {v} is out of range (fnatd takes {min} to {max} seconds)", self.keyword),
            ));
        }
        Ok(secs)
    }

    /// A whole number in `lo..=hi`.
    pub(super) fn uint(&self, lo: u64, hi: u64) -> Result<u64, E> {
        let v = self.one()?;
        number(self.line, &self.keyword, v, lo, hi)
    }

    /// A `virtualhost`: a host name, without whitespace.
    pub(super) fn host(&self) -> Result<String, E> {
        let v = self.one()?;
        if v.is_empty() || v.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(E::invalid(self.line, format!("{} '{v}' is not a host name", self.keyword)));
        }
        Ok(v.to_owned())
    }

    /// A command (`misc_path`, `notify_up`, `quorum_up`, ...): one word, quoted when it has
    /// arguments, since fnatd splits it at whitespace and runs it without a shell; so keepalived's
    /// quoting of arguments inside it cannot be kept, and more words after it (`extra`: what they
    /// would be) are not supported.
    pub(super) fn command(&self, extra: &str) -> Result<String, E> {
        self.no_block()?;
        let v = match self.args.as_slice() {
            [v] => v,
            [] => return Err(E::invalid(self.line, format!("{} needs a command", self.keyword))),
            [_, _, ..] => return Err(E::unsupported(self.line, format!("{} with {extra}", self.keyword))),
        };
        if v.split_whitespace().next().is_none() {
            return Err(E::invalid(self.line, format!("{} needs a command", self.keyword)));
        }
        if v.contains(['\'', '"', '\\']) {
            return Err(E::unsupported(
                self.line,
                format!("{} with quotes or backslashes in the command (fnatd splits it at whitespace)", self.keyword),
            ));
        }
        Ok(v.split_whitespace().collect::<Vec<_>>().join(" "))
    }

    /// A `u32` in `lo..=hi`.
    pub(super) fn u32_in(&self, lo: u32, hi: u32) -> Result<u32, E> {
        let n = self.uint(u64::from(lo), u64::from(hi))?;
        u32::try_from(n).map_err(|_| E::invalid(self.line, format!("{} {n} is out of range", self.keyword)))
    }
}

/// `v`, a value of `what` on `line`, as a whole number in `lo..=hi`.
pub(super) fn number(line: usize, what: &str, v: &str, lo: u64, hi: u64) -> Result<u64, E> {
    if v.is_empty() || !v.chars().all(|c| c.is_ascii_digit()) {
        return Err(E::invalid(line, format!("{what} '{v}' is not a whole number")));
    }
    match v.parse::<u64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(n),
        _ => Err(E::invalid(line, format!("{what} {v} is out of range ({lo} to {hi})"))),
    }
}

/// `v`, a port of `what` on `line`, from `lo` (0 or 1) to 65535.
pub(super) fn port(line: usize, what: &str, v: &str, lo: u16) -> Result<u16, E> {
    let n = number(line, what, v, u64::from(lo), 65535)?;
    u16::try_from(n).map_err(|_| E::invalid(line, format!("{what} {v} is out of range ({lo} to 65535)")))
}

/// `v`, an IPv4 address of `what` on `line` (an IPv6 one is refused as not supported yet).
pub(super) fn ipv4(line: usize, what: &str, v: &str) -> Result<Ipv4Addr, E> {
    if let Ok(a) = v.parse::<Ipv4Addr>() {
        return Ok(a);
    }
    if v.parse::<std::net::Ipv6Addr>().is_ok() {
        return Err(E::unsupported(line, format!("IPv6 ({what} {v})")));
    }
    Err(E::invalid(line, format!("{what} '{v}' is not an IPv4 address")))
}

/// The refusals every block shares: `include` and its variants, conditional lines (`@id ...`),
/// parameter definitions (`$NAME=...`) and substitutions (`$NAME`, `${NAME}`).
pub(super) fn shared_refusals(s: &Stmt) -> Result<(), E> {
    let k = s.keyword.as_str();
    if matches!(k, "include" | "includer" | "includem" | "includew" | "includeb" | "includea") {
        return Err(E::unsupported(s.line, k));
    }
    if k.starts_with('@') {
        return Err(E::unsupported(s.line, format!("the conditional line '{k}'")));
    }
    if k.starts_with('$') {
        return Err(E::unsupported(s.line, "parameter definition ($NAME=VALUE)"));
    }
    if let Some(v) = s.args.iter().find(|a| a.starts_with('$') || a.contains("${")) {
        return Err(E::unsupported(s.line, format!("parameter substitution ('{v}')")));
    }
    Ok(())
}
