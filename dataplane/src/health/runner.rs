//! The checker: one thread off the worker cores with a Tokio runtime, one task per checked real
//! server. A task waits its warm-up (the targets' first checks are spread over an interval, so
//! that 10,000 checks do not fire at once), then checks every `interval` from the start of the
//! previous check (a slow check delays the next one, never makes checks pile up), retrying a
//! failed attempt `retries` times after `retry_delay`, and reports each check's outcome through a
//! channel the main lcore drains. Every attempt is bounded by its timeout (`probe`), so no server
//! can hold up another's schedule.
//!
//! The main lcore hands the runner the whole target list whenever it changes; tasks whose target
//! is unchanged keep their schedule. It may also ask for a target's next check at once
//! ([`Runner::check_now`]: passive evidence to confirm or clear).

use std::collections::HashMap;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use ctrl::vocab::Outcome;
use std::sync::Arc;

use tokio::sync::{Notify, mpsc as tmpsc, watch};
use tokio::task::AbortHandle;
use tokio::time::{Instant, sleep, sleep_until};

use super::book::Target;
use super::probe::probe;
use crate::lb::DestId;

/// The checker thread and its channels.
#[derive(Debug)]
pub struct Runner {
    targets: Option<watch::Sender<Vec<Target>>>,
    now: tmpsc::UnboundedSender<DestId>,
    results: mpsc::Receiver<(DestId, Outcome)>,
    thread: Option<JoinHandle<()>>,
}

impl Runner {
    /// Starts the checker thread with no targets.
    pub fn start() -> std::io::Result<Self> {
        let (targets, rx) = watch::channel(Vec::new());
        let (tx, results) = mpsc::channel();
        let (now, now_rx) = tmpsc::unbounded_channel();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        let thread = std::thread::Builder::new().name("fnat-health".into()).spawn(move || {
            rt.block_on(supervise(rx, now_rx, tx));
            // Commands of misc checks are killed with their tasks; a probe stuck in a blocking
            // call is given a moment.
            rt.shutdown_timeout(Duration::from_millis(500));
        })?;
        Ok(Self { targets: Some(targets), now, results, thread: Some(thread) })
    }

    /// Checks these targets from now on.
    pub fn set_targets(&self, targets: Vec<Target>) {
        if let Some(t) = &self.targets {
            t.send_replace(targets);
        }
    }

    /// Runs the next check of target `id` at once (its schedule goes on from there).
    pub fn check_now(&self, id: DestId) {
        let _ = self.now.send(id);
    }

    /// The outcomes reported since the last call.
    pub fn results(&self) -> impl Iterator<Item = (DestId, Outcome)> + '_ {
        self.results.try_iter()
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        // The supervisor ends when the list's sender goes.
        self.targets.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A running check: its target, its task, and the bell that starts its next check at once.
type Running = (Target, AbortHandle, Arc<Notify>);

/// Keeps one task per target, until the target list's sender goes away; rings a target's bell
/// when asked.
async fn supervise(
    mut targets: watch::Receiver<Vec<Target>>,
    mut now: tmpsc::UnboundedReceiver<DestId>,
    results: mpsc::Sender<(DestId, Outcome)>,
) {
    let mut running: HashMap<DestId, Running> = HashMap::new();
    loop {
        tokio::select! {
            changed = targets.changed() => {
                if changed.is_err() {
                    break;
                }
                let list = targets.borrow_and_update().clone();
                running = reconcile(running, list, &results);
            }
            Some(id) = now.recv() => {
                if let Some((_, _, bell)) = running.get(&id) {
                    bell.notify_one();
                }
            }
        }
    }
    for (_, task, _) in running.into_values() {
        task.abort();
    }
}

/// One task per target of `list`: the running ones whose check is unchanged are kept.
fn reconcile(
    mut running: HashMap<DestId, Running>,
    list: Vec<Target>,
    results: &mpsc::Sender<(DestId, Outcome)>,
) -> HashMap<DestId, Running> {
    let mut next = HashMap::with_capacity(list.len());
    for t in list {
        let kept = match running.remove(&t.id) {
            Some((old, task, bell)) if old.same_check(&t) => Some((task, bell)),
            Some((_, task, _)) => {
                task.abort();
                None
            }
            None => None,
        };
        let (task, bell) = kept.unwrap_or_else(|| {
            let bell = Arc::new(Notify::new());
            let warmup = warmup(t.id, t.spec.timing.interval_ms);
            let task = tokio::spawn(check_loop(t.clone(), results.clone(), warmup, Arc::clone(&bell)));
            (task.abort_handle(), bell)
        });
        next.insert(t.id, (t, task, bell));
    }
    for (_, task, _) in running.into_values() {
        task.abort();
    }
    next
}

/// The delay before a target's first check: spread over the interval by its id (a
/// multiplicative hash, so that consecutive ids land far apart).
fn warmup(id: DestId, interval_ms: u64) -> Duration {
    let spread = u64::from(id.0).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 32;
    Duration::from_millis(spread % interval_ms.max(1))
}

/// Checks `t` for ever (until aborted), reporting each check's outcome; `bell` starts the next
/// check at once.
async fn check_loop(t: Target, results: mpsc::Sender<(DestId, Outcome)>, warmup: Duration, bell: Arc<Notify>) {
    tokio::select! {
        () = sleep(warmup) => {}
        () = bell.notified() => {}
    }
    let timing = t.spec.timing;
    let (interval, timeout) = (Duration::from_millis(timing.interval_ms), Duration::from_millis(timing.timeout_ms));
    let mut next = Instant::now();
    loop {
        let mut outcome = probe(&t.spec.kind, t.addr, timeout).await;
        for _ in 0..timing.retries {
            if outcome.up {
                break;
            }
            sleep(Duration::from_millis(timing.retry_delay_ms)).await;
            outcome = probe(&t.spec.kind, t.addr, timeout).await;
        }
        if results.send((t.id, outcome)).is_err() {
            return;
        }
        next += interval;
        let now = Instant::now();
        if next < now {
            // Behind (a slow check): the next one starts now, not a burst to catch up.
            next = now;
        }
        tokio::select! {
            () = sleep_until(next) => {}
            () = bell.notified() => next = Instant::now(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_checks_spread_over_the_interval() {
        let mut slots = [0u32; 10];
        for id in 0..10_000 {
            let w = warmup(DestId(id), 1000);
            assert!(w < Duration::from_millis(1000));
            slots[usize::try_from(w.as_millis() / 100).unwrap()] += 1;
        }
        // Each tenth of the interval gets about a tenth of the checks.
        assert!(slots.iter().all(|&n| (800..=1200).contains(&n)), "{slots:?}");
    }
}
