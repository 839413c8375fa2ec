//! Health checks of real servers, keepalived's checkers run by fnatd itself.
//!
//! `probe`: one attempt of each kind of check (tcp, http/https, udp, dns, icmp, misc), bounded by
//! its timeout. `runner`: the checker thread (Tokio, off the worker cores), a task per real server
//! on its own schedule. `book`: sans-IO, what to check (the `[[check]]` rules over the control
//! state's real servers) and what the results mean (rise/fall). [`Health`] ties them to the main
//! lcore: each tick it follows the state's changes and turns verdicts into control changes
//! ([`ControlState::set_down`]), which fnatd publishes as any other change.

pub mod book;
pub mod probe;
pub mod runner;

use std::net::SocketAddrV4;

use ctrl::msg::HealthView;
use ctrl::vocab::CheckSpec;

pub use book::{HealthBook, Target, Transition};
pub use runner::Runner;

use crate::control::ControlState;
use crate::lb::ServiceKey;

/// A `[[check]]` rule: the check of a service's real servers, or of one of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckRule {
    /// The service.
    pub svc: ServiceKey,
    /// One real server of it (`real_server`), or all (`None`).
    pub dest: Option<SocketAddrV4>,
    /// The check.
    pub spec: CheckSpec,
    /// A real server found down keeps weight 0 instead of being removed (`inhibit_on_failure`).
    pub inhibit: bool,
}

/// Results taken per tick at most, so that a flood of them never stalls the main lcore.
const RESULTS_PER_TICK: usize = 4096;

/// The health checks of a running fnatd: the book and the checker thread.
#[derive(Debug)]
pub struct Health {
    book: HealthBook,
    runner: Runner,
    /// The state's generation the targets were last reconciled with.
    seen: Option<u64>,
}

impl Health {
    /// Starts the checker for `rules`; `None` without rules.
    pub fn start(rules: Vec<CheckRule>) -> std::io::Result<Option<Self>> {
        if rules.is_empty() {
            return Ok(None);
        }
        Ok(Some(Self { book: HealthBook::new(rules), runner: Runner::start()?, seen: None }))
    }

    /// Follows the changes of `state` (new or deleted real servers) and applies the verdicts of
    /// the checks that ended since the last tick, at `now`. Returns the transitions (`state`
    /// changed when there are some).
    pub fn tick(&mut self, state: &mut ControlState, now: u64) -> Vec<Transition> {
        if self.seen != Some(state.generation())
            && let Some(targets) = self.book.reconcile(state, now)
        {
            self.runner.set_targets(targets);
        }
        let mut out = Vec::new();
        let results: Vec<_> = self.runner.results().take(RESULTS_PER_TICK).collect();
        for (id, outcome) in results {
            if let Some(t) = self.book.record(id, outcome, now) {
                state.set_down(t.target.svc, t.target.id, t.down);
                out.push(t);
            }
        }
        self.seen = Some(state.generation());
        out
    }

    /// What the checks found, for `-L --health`.
    pub fn views(&self, now: u64) -> Vec<HealthView> {
        self.book.views(now)
    }
}
