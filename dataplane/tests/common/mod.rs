//! What the DPDK test binaries share.

/// The live lab's helpers.
#[allow(dead_code)]
pub mod lab;

use std::fs;
use std::path::{Path, PathBuf};

/// Removes a test's files even when a step fails (or the EAL fails to start).
pub struct Cleanup {
    /// The test's temporary directory.
    pub tmp: PathBuf,
    /// EAL runtime directories this run may have created: the one the EAL reports, plus the
    /// places DPDK uses for the prefix (root, XDG, /tmp) in case it never got that far.
    pub runtime_dirs: Vec<PathBuf>,
}

impl Cleanup {
    /// The cleanup of a test named `name` in process `pid` whose EAL uses `file_prefix`, with its
    /// temporary directory created.
    pub fn new(name: &str, pid: u32, file_prefix: &str) -> Self {
        let mut runtime_dirs =
            vec![Path::new("/var/run/dpdk").join(file_prefix), Path::new("/tmp/dpdk").join(file_prefix)];
        if let Some(xdg) = std::env::var_os("XDG_RUNTIME_DIR") {
            runtime_dirs.push(Path::new(&xdg).join("dpdk").join(file_prefix));
        }
        let tmp = std::env::temp_dir().join(format!("{name}-{pid}"));
        fs::create_dir_all(&tmp).expect("create temp dir");
        Cleanup { tmp, runtime_dirs }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.tmp);
        for dir in &self.runtime_dirs {
            let _ = fs::remove_dir_all(dir);
            // The `dpdk` parent goes too if this run left it empty (remove_dir refuses otherwise).
            if let Some(parent) = dir.parent() {
                let _ = fs::remove_dir(parent);
            }
        }
    }
}
