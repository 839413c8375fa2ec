//! The health book, sans-IO: which real servers are checked and how ([`HealthBook::reconcile`]
//! from the control state and the `[[check]]` rules), and what their results mean
//! ([`HealthBook::record`]: `rise` passes in a row bring a server up, `fall` failures in a row
//! take it down). Time is an argument (milliseconds); the checks themselves run elsewhere
//! (`runner`).
//!
//! A real server starts in `Unknown`, taking traffic as it did (keepalived's default), and its
//! first result decides: one pass brings it `Up`, `fall` failures in a row take it `Down`.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddrV4;

use ctrl::msg::{HealthState, HealthView};
use ctrl::vocab::{CheckSpec, Outcome};

use super::{CheckRule, Notify, Passive};
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
    /// Its configured weight.
    pub weight: u32,
    /// The commands run when it goes up (`notify_up`) and down (`notify_down`).
    pub notify: Notify,
    /// Its passive check, if any.
    pub passive: Option<Passive>,
}

/// What a check's result changed for its real server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    /// Its checks failed `fall` times in a row: taken out.
    Down(DownMode),
    /// Its checks passed `rise` times in a row after it was down: back.
    Up,
    /// Only its weight (`misc_dynamic`).
    Weight,
}

impl Target {
    /// Whether `other` is checked the same way (its weight and hooks may differ): its schedule
    /// and its verdict carry over.
    pub fn same_check(&self, other: &Target) -> bool {
        (self.id, self.svc, self.dest, self.addr, &self.spec, self.inhibit, self.passive)
            == (other.id, other.svc, other.dest, other.addr, &other.spec, other.inhibit, other.passive)
    }
}

/// A real server's verdict changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    /// The real server.
    pub target: Target,
    /// What changed.
    pub change: Change,
    /// The weight a `misc_dynamic` check now asks for, when that changed too.
    pub weight: Option<u32>,
    /// The outcome that decided it.
    pub outcome: Outcome,
}

impl Transition {
    /// The log line of the transition.
    pub fn describe(&self) -> String {
        let t = &self.target;
        let mut verdict = match self.change {
            Change::Down(DownMode::Removed) => "DOWN, removed",
            Change::Down(DownMode::Inhibited) => "DOWN, weight 0",
            Change::Up => "UP",
            Change::Weight => "",
        }
        .to_owned();
        if let Some(w) = self.weight {
            let sep = if verdict.is_empty() { "" } else { ", " };
            verdict = format!("{verdict}{sep}weight {w}");
        }
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

/// A service's live weight crossed its quorum.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumChange {
    /// The service.
    pub svc: ServiceKey,
    /// Whether it has its quorum again (or lost it).
    pub up: bool,
    /// The weight of its live real servers.
    pub alive: u64,
    /// Its quorum.
    pub quorum: u32,
    /// Its sorry server, which takes the service while the quorum is lost.
    pub sorry: Option<SocketAddrV4>,
    /// The command to run (`quorum_up` or `quorum_down`).
    pub hook: Option<Vec<String>>,
}

impl QuorumChange {
    /// The log line of the change.
    pub fn describe(&self) -> String {
        let (what, sorry) = match (self.up, self.sorry) {
            (true, Some(s)) => ("back", format!(", sorry server {s} out")),
            (false, Some(s)) => ("lost", format!(", sorry server {s} in")),
            (true, None) => ("back", String::new()),
            (false, None) => ("lost", String::new()),
        };
        format!(
            "health: {} quorum {what} (live weight {} of quorum {}){sorry}",
            service_name(&self.svc),
            self.alive,
            self.quorum
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
    transitions: u64,
    /// The weight its `misc_dynamic` check set, if any.
    weight: Option<u32>,
    /// When the workers last saw it leave a client unanswered (the latest `failures`).
    unanswered: VecDeque<u64>,
    /// Taken out by its passive check: one pass of its active check brings it back.
    passive_down: bool,
}

/// The checked real servers and their verdicts.
#[derive(Debug, Default)]
pub struct HealthBook {
    rules: Vec<CheckRule>,
    /// Where the rule of each (service, one real server or all) is in `rules`: the last of each,
    /// as the file says.
    by_key: HashMap<(ServiceKey, Option<SocketAddrV4>), usize>,
    tracked: HashMap<DestId, Tracked>,
    /// The targets in the order they were found (services in creation order).
    order: Vec<DestId>,
    /// Each service's checked real servers.
    by_service: HashMap<ServiceKey, Vec<DestId>>,
    /// The weight of each service's real servers that have no check.
    unchecked: HashMap<ServiceKey, u64>,
    /// The services whose quorum is lost.
    lost: HashSet<ServiceKey>,
}

impl HealthBook {
    /// A book of the `[[check]]` rules.
    pub fn new(rules: Vec<CheckRule>) -> Self {
        let mut book = Self::default();
        book.set_rules(rules);
        book
    }

    /// Checks by `rules` from now on: the next [`HealthBook::reconcile`] gives the targets they
    /// make (a real server checked as before keeps its schedule and verdict); the services'
    /// quorums are decided again ([`HealthBook::requorum`]).
    pub fn set_rules(&mut self, rules: Vec<CheckRule>) {
        self.by_key = rules.iter().enumerate().map(|(i, r)| ((r.svc, r.dest), i)).collect();
        self.rules = rules;
        self.order.clear();
    }

    /// Decides every service's quorum afresh (after new rules): the services whose quorum is lost
    /// now, each with its sorry server. No hook runs.
    pub fn requorum(&mut self) -> Vec<(ServiceKey, Option<SocketAddrV4>)> {
        self.lost.clear();
        let services: Vec<ServiceKey> = self.by_service.keys().copied().collect();
        services.into_iter().filter_map(|svc| self.quorum(svc).filter(|q| !q.up).map(|q| (svc, q.sorry))).collect()
    }

    /// The real servers checked now.
    pub fn checked(&self) -> impl Iterator<Item = DestId> + '_ {
        self.order.iter().copied()
    }

    /// The rule of `svc` for `dest` (`None`: the service-wide one), the last in the file.
    fn rule(&self, svc: ServiceKey, dest: Option<SocketAddrV4>) -> Option<&CheckRule> {
        self.by_key.get(&(svc, dest)).and_then(|&i| self.rules.get(i))
    }

    /// The check of real server `dest` of service `svc`: the rule naming the server, else the
    /// service's.
    fn rule_for(&self, svc: ServiceKey, dest: SocketAddrV4) -> Option<&CheckRule> {
        self.rule(svc, Some(dest)).or_else(|| self.rule(svc, None))
    }

    /// Brings the checked real servers in line with `state` at `now`: every configured real server
    /// of a service with a check (those its checks took out included); a real server that is no
    /// longer there is forgotten, one whose check changed starts afresh. Returns the targets when
    /// they changed.
    pub fn reconcile(&mut self, state: &ControlState, now: u64) -> Option<Vec<Target>> {
        let listing = state.configured().ok()?;
        let mut targets = Vec::new();
        self.unchecked.clear();
        for s in &listing.services {
            let svc = s.spec.key;
            for d in &s.dests {
                let dest = SocketAddrV4::new(d.spec.addr, d.spec.port);
                let Some(rule) = self.rule_for(svc, dest) else {
                    *self.unchecked.entry(svc).or_default() += u64::from(d.spec.weight);
                    continue;
                };
                let port = rule.spec.port.unwrap_or(d.spec.port);
                targets.push(Target {
                    id: d.id,
                    svc,
                    dest,
                    addr: SocketAddrV4::new(d.spec.addr, port),
                    spec: rule.spec.clone(),
                    inhibit: rule.inhibit,
                    weight: d.spec.weight,
                    notify: rule.notify.clone(),
                    passive: rule.passive,
                });
            }
        }
        let services: HashSet<ServiceKey> = listing.services.iter().map(|s| s.spec.key).collect();
        self.lost.retain(|k| services.contains(k));
        let order: Vec<DestId> = targets.iter().map(|t| t.id).collect();
        let same =
            order == self.order && targets.iter().all(|t| self.tracked.get(&t.id).is_some_and(|k| k.target == *t));
        if same {
            return None;
        }
        let mut tracked = HashMap::with_capacity(targets.len());
        for t in &targets {
            let k = match self.tracked.remove(&t.id) {
                Some(k) if k.target.same_check(t) => Tracked { target: t.clone(), ..k },
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
                    transitions: 0,
                    weight: None,
                    unanswered: VecDeque::new(),
                    passive_down: false,
                },
            };
            tracked.insert(t.id, k);
        }
        self.tracked = tracked;
        self.order = order;
        self.by_service.clear();
        for t in &targets {
            self.by_service.entry(t.svc).or_default().push(t.id);
        }
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
            let rises = k.state == HealthState::Unknown || k.passes >= timing.rise || k.passive_down;
            (k.state != HealthState::Up && rises).then_some(HealthState::Up)
        } else {
            k.failures += 1;
            k.fails = k.fails.saturating_add(1);
            k.passes = 0;
            // Confirmed: out as any other, back after `rise` passes.
            k.passive_down = false;
            (k.state != HealthState::Down && k.fails >= timing.fall).then_some(HealthState::Down)
        };
        k.last = Some(outcome.clone());
        // A misc_dynamic weight counts once the server is (or comes) up.
        let up = next.unwrap_or(k.state) == HealthState::Up;
        let weight = outcome.weight.filter(|&w| up && k.weight != Some(w));
        if weight.is_some() {
            k.weight = weight;
        }
        let was = k.state;
        if let Some(n) = next {
            k.state = n;
            k.since = now;
            k.passive_down = false;
            k.transitions += u64::from(was != HealthState::Unknown || n == HealthState::Down);
        }
        let change = match (was, next) {
            (_, Some(HealthState::Down)) => {
                Change::Down(if k.target.inhibit { DownMode::Inhibited } else { DownMode::Removed })
            }
            (HealthState::Down, Some(HealthState::Up)) => Change::Up,
            // From unknown to up changes nothing the workers see, but for a weight.
            _ if weight.is_some() => Change::Weight,
            _ => return None,
        };
        Some(Transition { target: k.target.clone(), change, weight, outcome })
    }

    /// The workers saw real server `id` leave a client's SYN unanswered at `now`: with a passive
    /// check, `failures` of those within its window take the server out at once (the caller
    /// then runs its active check to confirm or clear it).
    pub fn suspect(&mut self, id: DestId, now: u64) -> Option<Transition> {
        let k = self.tracked.get_mut(&id)?;
        let p = k.target.passive?;
        let window_start = now.saturating_sub(p.window_ms);
        k.unanswered.retain(|&t| t >= window_start);
        k.unanswered.push_back(now);
        while k.unanswered.len() > usize::try_from(p.failures).unwrap_or(usize::MAX) {
            k.unanswered.pop_front();
        }
        if k.state == HealthState::Down || k.unanswered.len() < usize::try_from(p.failures).unwrap_or(usize::MAX) {
            return None;
        }
        k.unanswered.clear();
        k.transitions += 1;
        k.state = HealthState::Down;
        k.since = now;
        k.passive_down = true;
        let outcome = Outcome {
            up: false,
            detail: format!("passive: {} SYNs unanswered within {} ms", p.failures, p.window_ms),
            latency_us: 0,
            weight: None,
        };
        k.last = Some(outcome.clone());
        let mode = if k.target.inhibit { DownMode::Inhibited } else { DownMode::Removed };
        Some(Transition { target: k.target.clone(), change: Change::Down(mode), weight: None, outcome })
    }

    /// Whether service `svc` lost its quorum (the weight of its live real servers fell below
    /// `quorum - hysteresis`) or has it back (`quorum + hysteresis` reached), as keepalived
    /// decides it; a service without a service-wide check has a quorum of 1.
    pub fn quorum(&mut self, svc: ServiceKey) -> Option<QuorumChange> {
        let policy = self.rule(svc, None).map(|r| r.policy.clone()).unwrap_or_default();
        let alive = self.unchecked.get(&svc).copied().unwrap_or(0)
            + self
                .by_service
                .get(&svc)
                .into_iter()
                .flatten()
                .filter_map(|id| self.tracked.get(id))
                .filter(|k| k.state != HealthState::Down)
                .map(|k| u64::from(k.weight.unwrap_or(k.target.weight)))
                .sum::<u64>();
        let (q, h) = (u64::from(policy.quorum), u64::from(policy.hysteresis));
        let lost = self.lost.contains(&svc);
        let up = if lost && alive >= q + h {
            self.lost.remove(&svc);
            true
        } else if !lost && alive + h < q {
            self.lost.insert(svc);
            false
        } else {
            return None;
        };
        let hook = if up { policy.up } else { policy.down };
        Some(QuorumChange { svc, up, alive, quorum: policy.quorum, sorry: policy.sorry, hook })
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
                    transitions: k.transitions,
                    taken_out,
                }
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "book_tests.rs"]
mod tests;
