//! `fnatctl --from-keepalived`: an operator's keepalived.conf as fnatd's configuration.
//!
//! [`to_fnat_toml`] reads the `vrrp_instance` and `virtual_server` blocks of a keepalived.conf and
//! writes the `[[vrrp]]` tables, then the `[[service]]`, `[[service.real_server]]` and `[[check]]`
//! tables fnatd's TOML file takes for them; of the rest of the file, `global_defs` (its
//! `vrrp_version`, `vrrp_garp_master_repeat`, `vrrp_garp_master_delay`, `vrrp_garp_interval`,
//! `vrrp_garp_master_refresh` and `vrrp_mcast_group4`) and `garp_group` are read when there are
//! instances, and the other blocks (`vrrp_script`, `static_ipaddress`, ...) are keepalived's own
//! business and are skipped. What fnat cannot do as keepalived does is refused,
//! never approximated: the first such thing (by line) is a [`KeepalivedError`] naming its line,
//! and nothing is written; where fnatd does something near enough but not the same, the output
//! says so in a comment above the table. The TOML is only written when fnatd's own checks would
//! accept it (addresses, ranges of weights, thresholds, persistence and check timings, DR and TUN
//! keeping the port, VRRP's ranges and unique names and VRIDs), but for the names of fnatd's
//! ports, which only its own file knows.
//!
//! The steps, one file each: `lexer` turns the text into statements with their lines; `convert`
//! reads `virtual_server` and `real_server` blocks, with `checker` for the checkers in them, and
//! resolves keepalived's defaults (a virtual server's setting is its real servers' default, a real
//! server's its checker's); `vrrp` reads the `vrrp_instance` blocks; `emit` writes the TOML. Pure
//! functions of the text: no file, no network, no panic whatever the input.
//!
//! How a `vrrp_instance` becomes a `[[vrrp]]` table (keepalived's default in brackets):
//!
//! | keepalived | fnatd |
//! |---|---|
//! | `vrrp_instance NAME` | `name`: NAME, characters but letters, digits, `_-.` made `_`, at most 32 |
//! | `interface IF` | `port = "IF"`: an interface is written as fnatd's port of its name |
//! | `virtual_router_id` | `vrid` |
//! | `priority` \[100\] | `priority` |
//! | `advert_int` \[1\], 0.01 to 40.95 s | `advert_interval_cs`, rounded to the centisecond |
//! | `state` | nothing: fnatd elects by priority, as keepalived after startup (a comment) |
//! | `nopreempt`, `preempt` | `preempt` |
//! | `preempt_delay` \[0\], 0 to 1000 s | `preempt_delay_ms` |
//! | `virtual_ipaddress`, `virtual_ipaddress_excluded` | `addresses` (prefix, `dev`, `label`, ... dropped) |
//! | `unicast_peer` | `unicast_peers` |
//! | `unicast_src_ip`, `mcast_src_ip` | nothing: fnatd advertises from the port's first address (a comment) |
//! | `interface` unless `dont_track_primary`, `track_interface` | `track_ports` (a weight: FAULT instead) |
//! | `notify_master`, `notify_backup`, `notify_fault` | the same |
//! | `garp_master_repeat` (`vrrp_garp_master_repeat`) \[5\] | `garp_repeat` |
//! | `vrrp_garp_interval`, a `garp_group`'s `garp_interval` | `garp_interval_ms` |
//! | `garp_master_delay` (`vrrp_garp_master_delay`) | nothing: fnatd sends no second set (a comment) |
//! | `version`, `vrrp_version` \[2\] | nothing: fnatd speaks VRRPv3 only (a comment unless 3) |
//! | `authentication` | nothing: VRRPv3 has none (a comment) |
//!
//! Refused with their line: `vrrp_sync_group` (fnatd's instances fail over each on its own),
//! `notify` (one script with keepalived's arguments), `track_script`, `track_file`,
//! `track_process`, `track_bfd`, `use_vmac`, `vmac_xmit_base`, `virtual_routes`, `virtual_rules`,
//! `smtp_alert`, `notify_stop`, the `garp_lower_prio_*` and `garp_master_refresh*` settings and the
//! other keywords fnatd has no counterpart for; IPv6 addresses; `unicast_peer`'s TTLs; a weighted
//! `track_interface` with `reverse`; an instance without `interface`, `virtual_router_id` or an
//! address; a `vrrp_mcast_group4` other than 224.0.0.18. Skipped: `accept` (keepalived's
//! default), and what is about keepalived's own workings (`debug`, `skip_check_adv_addr`,
//! `promote_secondaries`, `linkbeat_use_polling`, `kernel_rx_buf_size`).
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
mod vrrp;
#[cfg(test)]
mod vrrp_tests;

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

/// fnatd's configuration (TOML) for the VRRP instances and virtual servers of keepalived.conf
/// `text`: a header comment, then per VRRP instance its `[[vrrp]]`, then per virtual server its
/// `[[service]]` with its `[[service.real_server]]`s and its `[[check]]`s. A file without either
/// gives the header alone. It is the part of fnatd's file that keepalived.conf describes: the
/// gateway's own sections (`[eal]`, `[workers]`, `[[port]]`, `[local]`, ...) are left to the
/// operator. Of several things refused, the error is about the first in the file.
pub fn to_fnat_toml(text: &str) -> Result<String, KeepalivedError> {
    let stmts = lexer::statements(text)?;
    match (vrrp::instances(&stmts), convert::services(&stmts)) {
        (Ok(instances), Ok(services)) => Ok(emit::toml(&instances, &services)),
        (Err(e), Ok(_)) | (Ok(_), Err(e)) => Err(e),
        (Err(a), Err(b)) => Err(earliest(a, b)),
    }
}

/// Of two refusals, the one about the earlier line (`a` on the same line).
fn earliest(a: KeepalivedError, b: KeepalivedError) -> KeepalivedError {
    if b.line() < a.line() { b } else { a }
}
