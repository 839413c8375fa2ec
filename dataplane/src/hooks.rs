//! The commands fnatd runs on a change, as keepalived's notify scripts: the health checks'
//! (`notify_up`/`notify_down` per real server, `quorum_up`/`quorum_down` per service) and VRRP's
//! (`notify_master`/`notify_backup`/`notify_fault`). Started without a shell, their output
//! discarded, reaped each tick so that none is left a zombie, and killed after a minute.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a hook may run.
const HOOK_LIMIT: Duration = Duration::from_secs(60);

/// The hooks running.
#[derive(Debug)]
pub struct Hooks {
    /// Who runs them, for the log ("health", "vrrp").
    who: &'static str,
    running: Vec<(Child, Instant, String)>,
}

impl Hooks {
    /// No hook running yet; `who` names the owner in the log.
    pub fn new(who: &'static str) -> Self {
        Self { who, running: Vec::new() }
    }

    /// Starts `command` (program and arguments) for `what` (a log's words); a command that cannot
    /// start is reported.
    pub fn run(&mut self, command: &[String], what: &str) {
        let Some((program, args)) = command.split_first() else { return };
        let started =
            Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        match started {
            Ok(child) => self.running.push((child, Instant::now(), format!("{what}: {}", command.join(" ")))),
            Err(e) => eprintln!("fnatd: {}: {what}: cannot run {}: {e}", self.who, command.join(" ")),
        }
    }

    /// Reaps the hooks that ended; kills those running too long.
    pub fn reap(&mut self) {
        let who = self.who;
        self.running.retain_mut(|(child, since, what)| match child.try_wait() {
            Ok(Some(status)) => {
                if !status.success() {
                    eprintln!("fnatd: {who}: {what}: {status}");
                }
                false
            }
            Ok(None) if since.elapsed() > HOOK_LIMIT => {
                eprintln!("fnatd: {who}: {what}: still running after {HOOK_LIMIT:?}, killed");
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
