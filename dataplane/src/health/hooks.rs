//! The commands health checks run on a change (keepalived's `notify_up`/`notify_down` per real
//! server, `quorum_up`/`quorum_down` per service): started without a shell, their output
//! discarded, reaped each tick so that none is left a zombie, and killed after a minute.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a hook may run.
const HOOK_LIMIT: Duration = Duration::from_secs(60);

/// The hooks running.
#[derive(Debug, Default)]
pub struct Hooks {
    running: Vec<(Child, Instant, String)>,
}

impl Hooks {
    /// Starts `command` (program and arguments) for `what` (a log's words); a command that cannot
    /// start is reported.
    pub fn run(&mut self, command: &[String], what: &str) {
        let Some((program, args)) = command.split_first() else { return };
        let started =
            Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        match started {
            Ok(child) => self.running.push((child, Instant::now(), format!("{what}: {}", command.join(" ")))),
            Err(e) => eprintln!("fnatd: health: {what}: cannot run {}: {e}", command.join(" ")),
        }
    }

    /// Reaps the hooks that ended; kills those running too long.
    pub fn reap(&mut self) {
        self.running.retain_mut(|(child, since, what)| match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    eprintln!("fnatd: health: {what}: {status}");
                }
                false
            }
            Ok(None) if since.elapsed() > HOOK_LIMIT => {
                eprintln!("fnatd: health: {what}: still running after {HOOK_LIMIT:?}, killed");
                let _ = child.kill();
                let _ = child.wait();
                false
            }
            Ok(None) => true,
            Err(_) => false,
        });
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        for (child, _, _) in &mut self.running {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
