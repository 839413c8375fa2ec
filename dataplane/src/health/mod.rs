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

use crate::lb::DestId;
pub use book::{Change, HealthBook, QuorumChange, Target, Transition};
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
    /// The commands run when a real server goes up or down.
    pub notify: Notify,
    /// The service's quorum and sorry server (a service-wide rule's; the default otherwise).
    pub policy: ServicePolicy,
    /// Taking a real server out on what the workers see, before its checks fail.
    pub passive: Option<Passive>,
}

/// Passive checks: a real server is taken out when the workers saw it leave `failures` clients'
/// SYNs unanswered (a client sending its SYN again) within `window_ms`, and its active check runs
/// at once to confirm it (one failure keeps it out as any other) or clear it (one pass brings it
/// back).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Passive {
    /// Unanswered SYNs that take a server out.
    pub failures: u32,
    /// Within this many milliseconds.
    pub window_ms: u64,
}

/// The commands run when a real server goes up (`notify_up`) or down (`notify_down`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Notify {
    /// Run when it comes back.
    pub up: Option<Vec<String>>,
    /// Run when it is taken out.
    pub down: Option<Vec<String>>,
}

/// A service's quorum, as keepalived's: the weight of its live real servers that it needs; below
/// `quorum - hysteresis` it is lost (`quorum_down` runs, the sorry server takes the service), from
/// `quorum + hysteresis` it is back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServicePolicy {
    /// The live weight needed (keepalived's default 1: at least one server up).
    pub quorum: u32,
    /// The margin around it.
    pub hysteresis: u32,
    /// The real server that takes the service while its quorum is lost.
    pub sorry: Option<SocketAddrV4>,
    /// Run when the quorum is back.
    pub up: Option<Vec<String>>,
    /// Run when it is lost.
    pub down: Option<Vec<String>>,
}

impl Default for ServicePolicy {
    fn default() -> Self {
        Self { quorum: 1, hysteresis: 0, sorry: None, up: None, down: None }
    }
}

/// What a tick of the checks changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A real server's verdict.
    Server(Box<Transition>),
    /// A service's quorum.
    Quorum(QuorumChange),
}

impl Event {
    /// Its log line.
    pub fn describe(&self) -> String {
        match self {
            Event::Server(t) => t.describe(),
            Event::Quorum(q) => q.describe(),
        }
    }
}

/// Results taken per tick at most, so that a flood of them never stalls the main lcore.
const RESULTS_PER_TICK: usize = 4096;

/// The health checks of a running fnatd: the book and the checker thread.
#[derive(Debug)]
pub struct Health {
    book: HealthBook,
    runner: Runner,
    hooks: crate::hooks::Hooks,
    /// The state's generation the targets were last reconciled with.
    seen: Option<u64>,
    /// Rules read again (`--reload-checks`), for the next tick.
    reloaded: std::sync::Mutex<Option<Vec<CheckRule>>>,
}

impl Health {
    /// Starts the checker for `rules` (none at all is fine: it waits for some).
    pub fn start(rules: Vec<CheckRule>) -> std::io::Result<Self> {
        Ok(Self {
            book: HealthBook::new(rules),
            runner: Runner::start()?,
            hooks: crate::hooks::Hooks::new("health"),
            seen: None,
            reloaded: std::sync::Mutex::new(None),
        })
    }

    /// Checks by `rules` from the next tick on (`--reload-checks`).
    pub fn reload(&self, rules: Vec<CheckRule>) {
        *self.reloaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rules);
    }

    /// Takes rules read again: the new targets; a real server no rule checks any more gets its
    /// configured weight back, and each service's quorum (and sorry server) is decided afresh.
    fn apply_reload(&mut self, state: &mut ControlState, now: u64) {
        let Some(rules) = self.reloaded.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
            return;
        };
        self.book.set_rules(rules);
        if let Some(targets) = self.book.reconcile(state, now) {
            self.runner.set_targets(targets);
        }
        let checked: std::collections::HashSet<DestId> = self.book.checked().collect();
        for (svc, id) in state.overlaid() {
            if !checked.contains(&id) {
                state.set_down(svc, id, None);
                state.set_weight(svc, id, None);
            }
        }
        let lost = self.book.requorum();
        for svc in state.with_sorry() {
            if !lost.iter().any(|(k, _)| *k == svc) {
                state.set_sorry(svc, None);
            }
        }
        for (svc, sorry) in lost {
            state.set_sorry(svc, sorry);
        }
    }

    /// Follows the changes of `state` (new or deleted real servers) and applies the verdicts of
    /// the checks that ended since the last tick, at `now`: real servers taken out or back,
    /// `misc_dynamic` weights, quorums lost or back (with their sorry servers), and the hooks they
    /// run. Returns what changed (`state` changed when there is something).
    pub fn tick(&mut self, state: &mut ControlState, unanswered: &[DestId], now: u64) -> Vec<Event> {
        self.hooks.reap();
        self.apply_reload(state, now);
        if self.seen != Some(state.generation())
            && let Some(targets) = self.book.reconcile(state, now)
        {
            self.runner.set_targets(targets);
        }
        let mut transitions = Vec::new();
        for &id in unanswered {
            if let Some(t) = self.book.suspect(id, now) {
                // Confirmed or cleared by the server's own check, at once.
                self.runner.check_now(id);
                transitions.push(t);
            }
        }
        let results: Vec<_> = self.runner.results().take(RESULTS_PER_TICK).collect();
        transitions.extend(results.into_iter().filter_map(|(id, outcome)| self.book.record(id, outcome, now)));
        let mut out = Vec::new();
        for t in transitions {
            let (svc, target) = (t.target.svc, &t.target);
            match t.change {
                Change::Down(mode) => {
                    state.set_down(svc, target.id, Some(mode));
                    self.notify(target.notify.down.as_deref(), &t);
                }
                Change::Up => {
                    state.set_down(svc, target.id, None);
                    self.notify(target.notify.up.as_deref(), &t);
                }
                Change::Weight => {}
            }
            if let Some(w) = t.weight {
                state.set_weight(svc, target.id, Some(w));
            }
            out.push(Event::Server(Box::new(t)));
            if let Some(q) = self.book.quorum(svc) {
                state.set_sorry(svc, if q.up { None } else { q.sorry });
                if let Some(hook) = &q.hook {
                    self.hooks.run(hook, &q.describe());
                }
                out.push(Event::Quorum(q));
            }
        }
        self.seen = Some(state.generation());
        out
    }

    fn notify(&mut self, hook: Option<&[String]>, t: &Transition) {
        if let Some(h) = hook {
            self.hooks.run(h, &t.describe());
        }
    }

    /// What the checks found, for `-L --health`.
    pub fn views(&self, now: u64) -> Vec<HealthView> {
        self.book.views(now)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use ctrl::msg::{Command, DestSpec, Request, ServiceSpec};
    use ctrl::vocab::health::MiscCheck;
    use ctrl::vocab::{CheckKind, CheckTiming, Protocol, SchedFlags, SchedKind};

    use super::*;
    use crate::control::{DownMode, NoConnections};
    use crate::lb::{FwdMethod, Services};

    fn key() -> ServiceKey {
        ServiceKey { protocol: Protocol::Tcp, vip: Ipv4Addr::new(10, 0, 0, 100), vport: 80, fwmark: 0 }
    }

    /// A service with two real servers.
    fn state() -> ControlState {
        let mut st = ControlState::new(&Services::default(), vec![Ipv4Addr::new(10, 1, 0, 10)], 1024);
        let svc = ServiceSpec { key: key(), scheduler: SchedKind::Rr, flags: SchedFlags::default(), persistence: None };
        let rs = |last| Command::AddDest {
            svc: key(),
            dest: DestSpec {
                addr: Ipv4Addr::new(10, 1, 0, last),
                port: 8080,
                weight: 1,
                method: FwdMethod::FullNat,
                upper: 0,
                lower: 0,
            },
        };
        st.apply(&Request { id: 1, commands: vec![Command::AddService(svc), rs(12), rs(11)] }, &NoConnections).unwrap();
        st
    }

    /// A check that passes (a command), at an interval that keeps it out of the way.
    fn rule(policy: ServicePolicy) -> CheckRule {
        let kind = CheckKind::Misc(MiscCheck { command: vec!["true".into()], dynamic: false });
        let timing = CheckTiming { interval_ms: 3_600_000, fall: 1, ..CheckTiming::default() };
        CheckRule {
            svc: key(),
            dest: None,
            spec: CheckSpec { kind, port: None, timing },
            inhibit: false,
            notify: Notify::default(),
            policy,
            passive: None,
        }
    }

    fn weights(st: &ControlState) -> Vec<(Ipv4Addr, u32)> {
        st.services().unwrap().iter().next().unwrap().dests.iter().map(|d| (d.addr, d.weight)).collect()
    }

    #[test]
    fn reloaded_rules_take_over_and_servers_no_rule_checks_come_back() {
        let mut st = state();
        let mut h = Health::start(vec![rule(ServicePolicy::default())]).unwrap();
        h.tick(&mut st, &[], 0);
        assert_eq!(h.views(0).len(), 2, "both real servers checked");
        let ids: Vec<DestId> = st.configured().unwrap().services[0].dests.iter().map(|d| d.id).collect();
        // Both taken out by their checks.
        for &id in &ids {
            let failed = ctrl::vocab::Outcome { up: false, detail: "refused".into(), latency_us: 1, weight: None };
            let t = h.book.record(id, failed, 5).expect("down");
            assert!(st.set_down(key(), id, Some(DownMode::Removed)) && t.change == Change::Down(DownMode::Removed));
        }
        assert!(st.services().unwrap().iter().next().unwrap().dests.is_empty());
        // A sorry server for the service: reloaded, its quorum is decided again at once.
        let sorry = "10.1.0.99:8080".parse().unwrap();
        h.reload(vec![rule(ServicePolicy { sorry: Some(sorry), ..ServicePolicy::default() })]);
        h.tick(&mut st, &[], 10);
        assert_eq!(weights(&st), vec![(Ipv4Addr::new(10, 1, 0, 99), 1)], "the sorry server in");
        assert_eq!(h.views(10).len(), 2);
        // No rules any more: every server back as configured, the sorry server out.
        h.reload(Vec::new());
        h.tick(&mut st, &[], 20);
        assert_eq!(weights(&st), vec![(Ipv4Addr::new(10, 1, 0, 11), 1), (Ipv4Addr::new(10, 1, 0, 12), 1)]);
        assert!(h.views(20).is_empty());
    }
}
