//! `fnatctl --from-keepalived`: an operator's keepalived.conf as fnatd's configuration.
//!
//! [`to_fnat_toml`] reads the `virtual_server` blocks of a keepalived.conf and writes the
//! `[[service]]`, `[[service.real_server]]` and `[[check]]` tables fnatd's TOML file takes for them;
//! the rest of the file (`global_defs`, `vrrp_instance`, `vrrp_script`, `static_ipaddress`, ...)
//! is keepalived's own business and is skipped. What fnat cannot do as keepalived does is refused,
//! never approximated: the first such thing is a [`KeepalivedError`] naming its line, and nothing
//! is written. The TOML is only written when fnatd's own checks would accept it (addresses,
//! ranges of weights, thresholds, persistence and check timings, DR and TUN keeping the port).
//!
//! The steps, one file each: `lexer` turns the text into statements with their lines; `convert`
//! reads `virtual_server` and `real_server` blocks, with `checker` for the checkers in them, and
//! resolves keepalived's defaults (a virtual server's setting is its real servers' default, a real
//! server's its checker's); `emit` writes the TOML. Pure functions of the text: no file, no
//! network, no panic whatever the input.
//!
//! How keepalived's checks become `[[check]]` tables: a virtual server whose real servers all have
//! the same checker gets one table for the service (which also covers real servers added later
//! with fnatctl, something keepalived has no notion of); otherwise each real server with a checker
//! gets its own table (`real_server = "IP:PORT"`), and one without a checker is not checked. keepalived takes a server down at the first failed check, once its retries failed, and
//! back up at the first good one: `rise = 1`, `fall = 1`. Its defaults are written out, since
//! fnatd's differ: `delay_loop` 60 s, `connect_timeout` 5 s, `retry` 1 (3 for `DNS_CHECK`, 0 for
//! `MISC_CHECK`), `delay_before_retry` 1 s (3 s for `HTTP_GET` and `SSL_GET`, `delay_loop` for
//! `DNS_CHECK`), `misc_timeout` `delay_loop`, DNS `type` SOA. A `UDP_CHECK` `payload` is hex in
//! keepalived: its bytes become fnatd's `payload` string (so they must be UTF-8 text). A fwmark
//! service's traffic was marked by iptables; fnatd's `[[fwmark]]` rules must mark it now (the
//! output says so in a comment).

mod checker;
mod convert;
mod emit;
mod lexer;
#[cfg(test)]
mod tests;
mod values;

/// Why a keepalived.conf was not converted. Every variant displays as `line N: <problem>`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeepalivedError {
    /// Not keepalived's grammar: a quote or a `{` left open, a `}` with nothing to close.
    #[error("line {line}: {problem}")]
    Syntax {
        /// The line (1-based).
        line: usize,
        /// What is wrong.
        problem: String,
    },
    /// Something keepalived does that fnat does not do (yet).
    #[error("line {line}: {what} is not supported yet")]
    Unsupported {
        /// The line (1-based).
        line: usize,
        /// The keyword, or the form of it, in keepalived's words.
        what: String,
    },
    /// A keyword keepalived does not have where it stands.
    #[error("line {line}: unknown keyword '{keyword}' in {block}")]
    UnknownKeyword {
        /// The line (1-based).
        line: usize,
        /// The keyword.
        keyword: String,
        /// The block it is in (`virtual_server`, `real_server`, `HTTP_GET`, ...).
        block: String,
    },
    /// A value that is not what the keyword takes, or that fnatd would refuse.
    #[error("line {line}: {problem}")]
    Invalid {
        /// The line (1-based).
        line: usize,
        /// What is wrong with it.
        problem: String,
    },
}

impl KeepalivedError {
    /// The line of keepalived.conf the error is about (1-based).
    pub fn line(&self) -> usize {
        match self {
            Self::Syntax { line, .. }
            | Self::Unsupported { line, .. }
            | Self::UnknownKeyword { line, .. }
            | Self::Invalid { line, .. } => *line,
        }
    }

    fn syntax(line: usize, problem: impl Into<String>) -> Self {
        Self::Syntax { line, problem: problem.into() }
    }

    fn unsupported(line: usize, what: impl Into<String>) -> Self {
        Self::Unsupported { line, what: what.into() }
    }

    fn invalid(line: usize, problem: impl Into<String>) -> Self {
        Self::Invalid { line, problem: problem.into() }
    }
}

/// fnatd's configuration (TOML) for the virtual servers of keepalived.conf `text`: a header
/// comment, then per virtual server its `[[service]]` with its `[[service.real_server]]`s and its
/// `[[check]]`s. A file without virtual servers gives the header alone. It is the part of fnatd's
/// file that keepalived.conf describes: the gateway's own sections (`[eal]`, `[workers]`,
/// `[[port]]`, `[local]`, ...) are left to the operator.
pub fn to_fnat_toml(text: &str) -> Result<String, KeepalivedError> {
    let stmts = lexer::statements(text)?;
    let services = convert::services(&stmts)?;
    Ok(emit::toml(&services))
}
