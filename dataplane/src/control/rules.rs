//! fnatd's rules file (`[control] rules`): the `-S` text of the whole configuration
//! ([`ctrl::save`], real servers oldest first so that the restored lists keep their order), applied at start by [`initial_state`] (instead of the configuration's services
//! once the file exists) and rewritten atomically by [`write_rules`] after every change.

use std::fs;
use std::io::{self, Write as _};
use std::path::Path;

use ctrl::msg::{CtrlError, Request};
use ctrl::save::{Order, parse_rules, save};

use super::state::{ControlState, NoConnections};
use crate::config::Config;
use crate::lb::Services;

/// The configuration `state` holds, as `-S` prints it, each service's real servers in the order
/// whose restore recreates its list ([`Order::Replay`]).
pub fn save_state(state: &ControlState) -> Result<String, CtrlError> {
    Ok(save(&state.configured()?, state.mark_rules(), Order::Replay))
}

/// Applies the rules file at `path` to `state` as one transaction; a file that does not exist (yet)
/// is nothing to apply. The error names the file, and the line when one does not parse.
pub fn load_rules(path: &Path, state: &mut ControlState) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("rules file {}: {e}", path.display());
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(at(&e)),
    };
    let commands = parse_rules(&text).map_err(|e| at(&e))?;
    if commands.is_empty() {
        return Ok(());
    }
    state.apply(&Request::new(commands), &NoConnections).map(drop).map_err(|e| at(&e))
}

/// The control state fnatd starts with: the configuration's services and mark rules; or, once a
/// rules file exists (fnatd writes the whole configuration there after every change, the
/// configuration's own services included), an empty table (the configuration's local addresses,
/// sizes and timeouts) with the rules file applied to it, so the saved services are not added twice.
pub fn initial_state(cfg: &Config) -> Result<ControlState, String> {
    let Some(rules) = cfg.rules_path.as_deref().filter(|p| p.exists()) else {
        return Ok(cfg.state.clone());
    };
    let mut state = ControlState::new(&Services::default(), cfg.local_addrs.clone(), cfg.conn_table_size)
        .with_timeouts(cfg.timeouts.clone());
    load_rules(rules, &mut state)?;
    Ok(state)
}

/// Replaces the file at `path` with `text` atomically: a temporary file in the same directory,
/// written and synced, renamed over it, and the directory synced, so a crash leaves the old file or
/// the new one, never a part.
pub fn write_rules(path: &Path, text: &str) -> io::Result<()> {
    let name = path.file_name().ok_or_else(|| io::Error::other("the rules path names no file"))?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let tmp = dir.join(format!(".{}.tmp", name.to_string_lossy()));
    let written = (|| {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(text.as_bytes())?;
        f.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    written?;
    fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
#[path = "rules_tests.rs"]
mod tests;
