//! ipvsadm's names for the scheduler and its flags: the default scheduler, and `-b sched-flags`
//! parsed and printed exactly as ipvsadm 1.31 does, shared by fnatctl and the configuration file.
//!
//! IPVS has three scheduler flags (`IP_VS_SVC_F_SCHED1..3`, [`SchedFlags`]'s `fallback`, `port` and
//! `flag3`). ipvsadm names them `flag-1`, `flag-2` and `flag-3` for any scheduler, and also
//! `sh-fallback`/`sh-port` (flags 1 and 2, only with `-s sh`) and `mh-fallback`/`mh-port` (the same
//! flags, only with `-s mh`). The kernel accepts any flags with any scheduler; only sh and mh give
//! them a meaning. ipvsadm prints them after the scheduler by the scheduler's names: `sh-fallback`,
//! `sh-port` for sh (flag 3 is then not named, so `sh` with only flag 3 prints `sh ()`),
//! `mh-fallback`, `mh-port` for mh, and `flag-1`, `flag-2`, `flag-3` for the others.

use super::sched::{SchedFlags, SchedKind};

/// ipvsadm's default scheduler (`DEF_SCHED`), used when `-A`/`-E` have no `-s` and a configured
/// service has no `scheduler`.
pub const DEFAULT_SCHEDULER: &str = "wlc";

/// Every name `-b` accepts.
pub const FLAG_NAMES: [&str; 7] = ["flag-1", "flag-2", "flag-3", "sh-fallback", "sh-port", "mh-fallback", "mh-port"];

/// Why a scheduler flag was refused; the messages are ipvsadm's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SchedFlagError {
    /// Not a flag name at all.
    #[error("invalid scheduler flag `{0}'")]
    Invalid(String),
    /// A flag of another scheduler (`sh-port` with `-s rr`).
    #[error("incompatible scheduler flag `{0}'")]
    Incompatible(String),
}

impl SchedFlagError {
    /// The flag's name as given.
    pub fn flag(&self) -> &str {
        match self {
            Self::Invalid(f) | Self::Incompatible(f) => f,
        }
    }
}

/// The scheduler a scheduler-specific flag belongs to (`sh` for `sh-port`), if it is one.
pub fn flag_owner(flag: &str) -> Option<&'static str> {
    match flag {
        "sh-fallback" | "sh-port" => Some("sh"),
        "mh-fallback" | "mh-port" => Some("mh"),
        _ => None,
    }
}

/// One flag name added to `flags`, checked against the scheduler as ipvsadm's `parse_sched_flags`.
pub fn add_sched_flag(flags: &mut SchedFlags, sched: SchedKind, flag: &str) -> Result<(), SchedFlagError> {
    let (slot, owner) = match flag {
        "flag-1" => (&mut flags.fallback, None),
        "flag-2" => (&mut flags.port, None),
        "flag-3" => (&mut flags.flag3, None),
        "sh-fallback" | "mh-fallback" => (&mut flags.fallback, flag_owner(flag)),
        "sh-port" | "mh-port" => (&mut flags.port, flag_owner(flag)),
        _ => return Err(SchedFlagError::Invalid(flag.to_owned())),
    };
    if owner.is_some_and(|o| o != sched.name()) {
        return Err(SchedFlagError::Incompatible(flag.to_owned()));
    }
    *slot = true;
    Ok(())
}

/// ipvsadm's `-b` argument for scheduler `sched`: flag names separated by commas (empty items are
/// skipped, as `strtok` does; an argument with no name at all is refused). Repeated names are fine.
pub fn parse_sched_flags(sched: SchedKind, arg: &str) -> Result<SchedFlags, SchedFlagError> {
    let mut flags = SchedFlags::default();
    let mut any = false;
    for flag in arg.split(',').filter(|f| !f.is_empty()) {
        add_sched_flag(&mut flags, sched, flag)?;
        any = true;
    }
    if !any {
        return Err(SchedFlagError::Invalid(arg.to_owned()));
    }
    Ok(flags)
}

/// Whether any of the three flags is set.
pub fn any_sched_flag(flags: SchedFlags) -> bool {
    flags.fallback || flags.port || flags.flag3
}

/// The names ipvsadm prints for `flags` with scheduler `sched`, in its order (see the module docs:
/// sh and mh name only their two flags).
pub fn sched_flag_names(sched: SchedKind, flags: SchedFlags) -> Vec<&'static str> {
    let named: [(bool, &'static str); 3] = match sched.name() {
        "sh" => [(flags.fallback, "sh-fallback"), (flags.port, "sh-port"), (false, "")],
        "mh" => [(flags.fallback, "mh-fallback"), (flags.port, "mh-port"), (false, "")],
        _ => [(flags.fallback, "flag-1"), (flags.port, "flag-2"), (flags.flag3, "flag-3")],
    };
    named.into_iter().filter(|&(set, _)| set).map(|(_, name)| name).collect()
}

/// What ipvsadm's `-L` prints after the scheduler's name: nothing without flags, otherwise
/// ` (name,name)` (` ()` when the scheduler names none of the flags set).
pub fn sched_flags_suffix(sched: SchedKind, flags: SchedFlags) -> String {
    if any_sched_flag(flags) { format!(" ({})", sched_flag_names(sched, flags).join(",")) } else { String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(fallback: bool, port: bool, flag3: bool) -> SchedFlags {
        SchedFlags { fallback, port, flag3 }
    }

    #[test]
    fn generic_flags_go_with_any_scheduler() {
        for s in SchedKind::ALL {
            assert_eq!(parse_sched_flags(s, "flag-1"), Ok(flags(true, false, false)));
            assert_eq!(parse_sched_flags(s, "flag-2,flag-3"), Ok(flags(false, true, true)));
            assert_eq!(parse_sched_flags(s, "flag-3,,flag-3,"), Ok(flags(false, false, true)));
        }
    }

    #[test]
    fn scheduler_specific_flags_need_their_scheduler() {
        for f in ["sh-fallback", "sh-port", "mh-fallback", "mh-port"] {
            for s in SchedKind::ALL.into_iter().filter(|s| Some(s.name()) != flag_owner(f)) {
                assert_eq!(parse_sched_flags(s, f), Err(SchedFlagError::Incompatible(f.into())), "{s} {f}");
            }
            assert_eq!(
                parse_sched_flags(SchedKind::Wrr, &format!("flag-1,{f}")).unwrap_err().to_string(),
                format!("incompatible scheduler flag `{f}'")
            );
        }
        for bad in ["sh_port", "flag-4", "SH-PORT", " sh-port"] {
            assert_eq!(parse_sched_flags(SchedKind::Rr, bad), Err(SchedFlagError::Invalid(bad.into())));
        }
        assert_eq!(parse_sched_flags(SchedKind::Rr, ","), Err(SchedFlagError::Invalid(",".into())));
        assert_eq!(parse_sched_flags(SchedKind::Rr, "x").unwrap_err().to_string(), "invalid scheduler flag `x'");
        assert_eq!(flag_owner("mh-port"), Some("mh"));
        assert_eq!(flag_owner("flag-2"), None);
    }

    #[test]
    fn names_and_suffix_follow_ipvsadm() {
        let rr = SchedKind::Rr;
        assert_eq!(sched_flags_suffix(rr, SchedFlags::default()), "");
        assert_eq!(sched_flags_suffix(rr, flags(true, true, true)), " (flag-1,flag-2,flag-3)");
        assert_eq!(sched_flags_suffix(rr, flags(false, false, true)), " (flag-3)");
        assert_eq!(sched_flag_names(rr, flags(false, true, false)), vec!["flag-2"]);
        assert!(!any_sched_flag(SchedFlags::default()));
        assert_eq!(FLAG_NAMES.len(), 7);
    }

    #[test]
    fn sh_and_mh_name_their_own_flags() {
        let (sh, mh) = (SchedKind::Sh, SchedKind::Mh);
        assert_eq!(parse_sched_flags(sh, "sh-fallback,sh-port"), Ok(flags(true, true, false)));
        assert_eq!(parse_sched_flags(mh, "mh-port"), Ok(flags(false, true, false)));
        assert_eq!(parse_sched_flags(sh, "flag-1,flag-3"), Ok(flags(true, false, true)));
        assert_eq!(parse_sched_flags(sh, "mh-port"), Err(SchedFlagError::Incompatible("mh-port".into())));
        assert_eq!(parse_sched_flags(mh, "sh-port"), Err(SchedFlagError::Incompatible("sh-port".into())));
        assert_eq!(sched_flags_suffix(sh, flags(true, true, true)), " (sh-fallback,sh-port)");
        assert_eq!(sched_flags_suffix(mh, flags(false, true, false)), " (mh-port)");
        assert_eq!(sched_flags_suffix(mh, flags(true, false, true)), " (mh-fallback)");
        // Flag 3 has no sh name: ipvsadm prints empty parentheses.
        assert_eq!(sched_flags_suffix(sh, flags(false, false, true)), " ()");
    }
}
