//! The health book, sans-IO: which real servers are checked and how ([`HealthBook::reconcile`]
//! from the control state and the `[[check]]` rules), and what their results mean
//! ([`HealthBook::record`]: `rise` passes in a row bring a server up, `fall` failures in a row
//! take it down). Time is an argument (milliseconds); the checks themselves run elsewhere
//! (`runner`).
//!
//! A real server starts in `Unknown`, taking traffic as it did (keepalived's default), and its
//! first result decides: one pass brings it `Up`, `fall` failures in a row take it `Down`.

use std::collections::HashMap;
use std::net::SocketAddrV4;

use ctrl::msg::{HealthState, HealthView};
use ctrl::vocab::{CheckSpec, Outcome};

use super::CheckRule;
use crate::control::{ControlState, DownMode};
use crate::lb::{DestId, ServiceKey};

/// One real server to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The real server.
    pub id: DestId,
    /// Its service.
    pub svc: ServiceKey,
    /// The real server's own address and port.
    pub dest: SocketAddrV4,
    /// Where the check goes: its address, and the check's port or its own.
    pub addr: SocketAddrV4,
    /// The check.
    pub spec: CheckSpec,
    /// Weight 0 instead of removal while down.
    pub inhibit: bool,
}

/// A real server's verdict changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The real server.
    pub target: Target,
    /// Down (and how it is taken out), or up again.
    pub down: Option<DownMode>,
    /// The outcome that decided it.
    pub outcome: Outcome,
}

impl Transition {
    /// The log line of the transition.
    pub fn describe(&self) -> String {
        let t = &self.target;
        let verdict = match self.down {
            Some(DownMode::Removed) => "DOWN, removed",
            Some(DownMode::Inhibited) => "DOWN, weight 0",
            None => "UP",
        };
        format!(
            "health: {} -> {} {verdict} ({} check of {}: {})",
            service_name(&t.svc),
            t.dest,
            t.spec.kind.name(),
            t.addr,
            self.outcome.detail
        )
    }
}

/// A service as listings name it.
fn service_name(k: &ServiceKey) -> String {
    if k.is_mark() { format!("FWM {}", k.fwmark) } else { format!("{} {}:{}", k.protocol.name(), k.vip, k.vport) }
}

/// What is known of one checked real server.
#[derive(Clone, Debug)]
struct Tracked {
    target: Target,
    state: HealthState,
    since: u64,
    passes: u32,
    fails: u32,
    last: Option<Outcome>,
    checks: u64,
    failures: u64,
}

/// The checked real servers and their verdicts.
#[derive(Debug, Default)]
pub struct HealthBook {
    rules: Vec<CheckRule>,
    tracked: HashMap<DestId, Tracked>,
    /// The targets in the order they were found (services in creation order).
    order: Vec<DestId>,
}

impl HealthBook {
    /// A book of the `[[check]]` rules.
    pub fn new(rules: Vec<CheckRule>) -> Self {
        Self { rules, ..Self::default() }
    }

    /// The check of real server `dest` of service `svc`: the rule naming the server, else the
    /// service's (the last of each in the file).
    fn rule_for(&self, svc: ServiceKey, dest: SocketAddrV4) -> Option<&CheckRule> {
        let of = |exact: bool| {
            self.rules
                .iter()
                .rev()
                .find(|r| r.svc == svc && if exact { r.dest == Some(dest) } else { r.dest.is_none() })
        };
        of(true).or_else(|| of(false))
    }

    /// Brings the checked real servers in line with `state` at `now`: every configured real server
    /// of a service with a check (those its checks took out included); a real server that is no
    /// longer there is forgotten, one whose check changed starts afresh. Returns the targets when
    /// they changed.
    pub fn reconcile(&mut self, state: &ControlState, now: u64) -> Option<Vec<Target>> {
        let listing = state.configured().ok()?;
        let mut targets = Vec::new();
        for s in &listing.services {
            let svc = s.spec.key;
            for d in &s.dests {
                let dest = SocketAddrV4::new(d.spec.addr, d.spec.port);
                let Some(rule) = self.rule_for(svc, dest) else { continue };
                let port = rule.spec.port.unwrap_or(d.spec.port);
                targets.push(Target {
                    id: d.id,
                    svc,
                    dest,
                    addr: SocketAddrV4::new(d.spec.addr, port),
                    spec: rule.spec.clone(),
                    inhibit: rule.inhibit,
                });
            }
        }
        let order: Vec<DestId> = targets.iter().map(|t| t.id).collect();
        let same =
            order == self.order && targets.iter().all(|t| self.tracked.get(&t.id).is_some_and(|k| k.target == *t));
        if same {
            return None;
        }
        let mut tracked = HashMap::with_capacity(targets.len());
        for t in &targets {
            let k = match self.tracked.remove(&t.id) {
                Some(k) if k.target == *t => k,
                // A server its checks had taken out stays out until a check passes `rise` times.
                _ => Tracked {
                    target: t.clone(),
                    state: if state.down_mode(t.id).is_some() { HealthState::Down } else { HealthState::Unknown },
                    since: now,
                    passes: 0,
                    fails: 0,
                    last: None,
                    checks: 0,
                    failures: 0,
                },
            };
            tracked.insert(t.id, k);
        }
        self.tracked = tracked;
        self.order = order;
        Some(targets)
    }

    /// A check of real server `id` ended with `outcome` at `now`: the transition it causes, if any.
    pub fn record(&mut self, id: DestId, outcome: Outcome, now: u64) -> Option<Transition> {
        let k = self.tracked.get_mut(&id)?;
        k.checks += 1;
        let timing = k.target.spec.timing;
        let next = if outcome.up {
            k.passes = k.passes.saturating_add(1);
            k.fails = 0;
            let rises = k.state == HealthState::Unknown || k.passes >= timing.rise;
            (k.state != HealthState::Up && rises).then_some(HealthState::Up)
        } else {
            k.failures += 1;
            k.fails = k.fails.saturating_add(1);
            k.passes = 0;
            (k.state != HealthState::Down && k.fails >= timing.fall).then_some(HealthState::Down)
        };
        k.last = Some(outcome.clone());
        let next = next?;
        let was = std::mem::replace(&mut k.state, next);
        k.since = now;
        // From unknown to up changes nothing the workers see.
        if was == HealthState::Unknown && next == HealthState::Up {
            return None;
        }
        let mode = if k.target.inhibit { DownMode::Inhibited } else { DownMode::Removed };
        let down = (next == HealthState::Down).then_some(mode);
        Some(Transition { target: k.target.clone(), down, outcome })
    }

    /// The verdicts as `-L --health` lists them, at `now`.
    pub fn views(&self, now: u64) -> Vec<HealthView> {
        self.order
            .iter()
            .filter_map(|id| self.tracked.get(id))
            .map(|k| {
                let t = &k.target;
                let taken_out =
                    (k.state == HealthState::Down).then(|| if t.inhibit { "weight 0" } else { "removed" }.to_owned());
                HealthView {
                    svc: t.svc,
                    addr: *t.dest.ip(),
                    port: t.dest.port(),
                    check: format!("{}:{}", t.spec.kind.name(), t.addr.port()),
                    state: k.state,
                    since_ms: now.saturating_sub(k.since),
                    last: k.last.clone(),
                    checks: k.checks,
                    failures: k.failures,
                    taken_out,
                }
            })
            .collect()
    }

    /// Whether there are no checks at all.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
