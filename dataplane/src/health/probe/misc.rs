//! `MISC_CHECK`: a command run without a shell; its exit status is the verdict.
//!
//! Exit 0 is up, exit 1 is down. With `misc_dynamic`, exit 2 to 255 is up with weight status - 2;
//! without it, any non-zero status is down. The child has no stdin, stdout or stderr, and is
//! killed when the attempt is dropped (on timeout), so it never outlives its check.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};

use ctrl::vocab::health::MiscCheck;
use tokio::process::Command;

use super::Verdict;

/// Runs `check.command` and waits for it; the caller bounds the wait (dropping it kills the child).
pub(super) async fn probe(check: &MiscCheck) -> Verdict {
    let Some((program, args)) = check.command.split_first() else {
        return Verdict::down("empty command");
    };
    let spawned = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn();
    let mut child = match spawned {
        Ok(child) => child,
        Err(err) => return Verdict::down(spawn_reason(program, &err)),
    };
    match child.wait().await {
        Ok(status) => judge(status, check.dynamic),
        Err(err) => Verdict::down(format!("wait failed: {err}")),
    }
}

/// Why `program` could not be started.
fn spawn_reason(program: &str, err: &io::Error) -> String {
    match err.kind() {
        io::ErrorKind::NotFound => format!("{program}: not found"),
        io::ErrorKind::PermissionDenied => format!("{program}: permission denied"),
        _ => format!("{program}: {err}"),
    }
}

/// The verdict of an exit status.
fn judge(status: ExitStatus, dynamic: bool) -> Verdict {
    match status.code() {
        Some(0) => Verdict::up("exit 0"),
        Some(code) if dynamic && (2..=255).contains(&code) => {
            let weight = u32::try_from(code - 2).ok();
            Verdict { weight, ..Verdict::up(format!("exit {code}")) }
        }
        Some(code) => Verdict::down(format!("exit {code}")),
        None => match status.signal() {
            Some(signal) => Verdict::down(format!("killed by signal {signal}")),
            None => Verdict::down(format!("ended without status: {status}")),
        },
    }
}
