//! What the live-lab tests share (`lab.rs`, `lab_ha.rs`): the repository, the binaries, running
//! commands, and the lock that keeps one lab at a time (the namespaces have fixed names).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository's root.
pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// fnatctl, built beside fnatd by `cargo build --workspace`.
pub fn fnatctl_bin() -> PathBuf {
    let p = Path::new(env!("CARGO_BIN_EXE_fnatd")).with_file_name("fnatctl");
    assert!(p.exists(), "{} is missing: build the workspace (cargo build --workspace) first", p.display());
    p
}

/// Fails loudly unless run as root.
pub fn require_root() {
    let uid = std::fs::read_to_string("/proc/self/status").ok().and_then(|s| {
        s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1).map(str::to_owned))
    });
    assert_eq!(
        uid.as_deref(),
        Some("0"),
        "the live lab needs root (network namespaces, DPDK): run as root, as CI does"
    );
}

/// Runs `cmd` to its end.
pub fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"))
}

/// Bytes as text.
pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The value of Prometheus `sample` (its name and labels, as exposed) in `text`.
pub fn metric_sample(text: &str, sample: &str) -> Option<u64> {
    text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
}

/// Takes the lab lock (held while the returned file lives).
pub fn lab_lock() -> File {
    require_root();
    let lock = File::create("/run/fnat-lab.test.lock").expect("lab lock file");
    lock.lock().expect("lab lock");
    lock
}
