//! `fnat-gen --churn`: fnatctl changes on a thread of their own while traffic flows. They add a
//! real server to the measured service and delete it, move the weight of one of its servers, and
//! add and delete a second service: none takes a flow's real server away.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use super::target::{TCP_RPORT, TCP_VPORT};
use super::topo::VIP;

/// The changes and the thread that makes them.
#[derive(Debug)]
pub struct Churn {
    /// The fnatctl binary.
    pub fnatctl: PathBuf,
    /// fnatd's control file.
    pub ctl: PathBuf,
    /// Changes per second.
    pub rate: u32,
    /// The measured service's first real server, whose weight the changes move.
    pub first_server: Ipv4Addr,
    /// Set to end the changes.
    pub stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The thread making them.
    pub thread: Option<std::thread::JoinHandle<(u64, u64, Option<String>)>>,
}

impl Churn {
    /// Starts making changes at `rate` a second.
    pub fn start(&mut self) {
        let (fnatctl, ctl, rate, stop) = (self.fnatctl.clone(), self.ctl.clone(), self.rate, self.stop.clone());
        let rs = format!("{}:{TCP_RPORT}", self.first_server);
        self.thread = Some(std::thread::spawn(move || {
            let vip = format!("{VIP}:{TCP_VPORT}");
            let cycle: Vec<Vec<String>> = [
                vec!["-a", "-t", &vip, "-r", "10.1.1.250:8080", "-b", "-w", "1"],
                vec!["-e", "-t", &vip, "-r", &rs, "-b", "-w", "5"],
                vec!["-A", "-t", "10.0.0.101:80", "-s", "wlc"],
                vec!["-a", "-t", "10.0.0.101:80", "-r", "10.1.1.251:8080", "-b"],
                vec!["-d", "-t", &vip, "-r", "10.1.1.250:8080"],
                vec!["-e", "-t", &vip, "-r", &rs, "-b", "-w", "1"],
                vec!["-D", "-t", "10.0.0.101:80"],
            ]
            .iter()
            .map(|c| c.iter().map(|w| (*w).to_owned()).collect())
            .collect();
            let (mut applied, mut failed, mut first) = (0u64, 0u64, None);
            let period = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
            let mut next = Instant::now();
            let mut i = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let out = Command::new(&fnatctl).arg("--ctl").arg(&ctl).args(&cycle[i % cycle.len()]).output();
                match out {
                    Ok(o) if o.status.success() => applied += 1,
                    Ok(o) => {
                        failed += 1;
                        first.get_or_insert_with(|| String::from_utf8_lossy(&o.stderr).trim().to_owned());
                    }
                    Err(e) => {
                        failed += 1;
                        first.get_or_insert_with(|| e.to_string());
                    }
                }
                i += 1;
                next += period;
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
            (applied, failed, first)
        }));
    }

    /// Stops, and returns the changes applied, the ones that failed and the first failure's message.
    pub fn finish(&mut self) -> Option<(u64, u64, Option<String>)> {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.take().and_then(|t| t.join().ok())
    }
}
