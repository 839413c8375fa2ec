//! Health verdicts in the control state: a real server its checks found down is taken out of what
//! the workers and `-L` see, as keepalived does it to IPVS: removed (the default), or kept with
//! weight 0 (`inhibit_on_failure`), so it gets no new connections while its open ones follow
//! `expire_nodest_conn`. The configured real server stays as it was: the rules file and fnatd's
//! own save keep it, and it comes back as configured when its checks pass again.
//!
//! A `misc_dynamic` check's weight replaces the configured one the same way, and a service that
//! lost its quorum gets its sorry server (keepalived adds it to IPVS: here it is one more real
//! server of what the workers see, at the head of the list, until the quorum is back).
//!
//! A verdict is a change like fnatctl's: it bumps the generation, records the scheduler hooks
//! IPVS would run (`del_dest` when a server is removed, `upd_dest`/`add_dest` otherwise), and
//! fnatd publishes the next snapshot with it.

use std::borrow::Cow;
use std::net::SocketAddrV4;

use ctrl::msg::DestSpec;

use super::{ControlState, check_dest};
use crate::lb::{DestId, FwdMethod, RealServer, Service, ServiceKey};

/// How a real server found down is taken out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DownMode {
    /// Removed from the service (keepalived's default).
    Removed,
    /// Kept with weight 0 (`inhibit_on_failure`).
    Inhibited,
}

impl ControlState {
    /// Records the verdict of real server `id` of service `svc`: down (taken out by `mode`) or
    /// up (`None`). Returns whether what the workers see changed (then the generation moved on).
    pub fn set_down(&mut self, svc: ServiceKey, id: DestId, mode: Option<DownMode>) -> bool {
        if !self.has_dest(svc, id) || self.down.get(&id).copied() == mode {
            return false;
        }
        self.overlay_change(svc, |st| {
            match mode {
                Some(m) => st.down.insert(id, m),
                None => st.down.remove(&id),
            };
        })
    }

    /// Sets the weight a `misc_dynamic` check asked for real server `id` of `svc` (`None`: the
    /// configured one). Returns whether what the workers see changed.
    pub fn set_weight(&mut self, svc: ServiceKey, id: DestId, weight: Option<u32>) -> bool {
        let weight = weight.map(|w| w.min(ctrl::limits::MAX_WEIGHT));
        if !self.has_dest(svc, id) || self.weights.get(&id).copied() == weight {
            return false;
        }
        self.overlay_change(svc, |st| {
            match weight {
                Some(w) => st.weights.insert(id, w),
                None => st.weights.remove(&id),
            };
        })
    }

    /// Puts `svc`'s sorry server in (`Some`) or takes it out: a real server of the service's
    /// first real server's method (FULLNAT without one), weight 1. Returns whether what the
    /// workers see changed; a sorry server the service cannot have (a DR or TUN one on another
    /// port) is refused, reported, and changes nothing.
    pub fn set_sorry(&mut self, svc: ServiceKey, sorry: Option<SocketAddrV4>) -> bool {
        let Some(entry) = self.services.get(&svc) else { return false };
        let now = self.sorry.get(&svc).map(|d| SocketAddrV4::new(d.addr, d.port));
        if now == sorry {
            return false;
        }
        let Some(a) = sorry else {
            return self.overlay_change(svc, |st| {
                st.sorry.remove(&svc);
            });
        };
        let method = entry.svc.dests.first().map_or(FwdMethod::FullNat, |d| d.method);
        let spec = DestSpec { addr: *a.ip(), port: a.port(), weight: 1, method, upper: 0, lower: 0 };
        if let Err(e) = check_dest(svc, &spec) {
            eprintln!("fnatd: health: sorry server {a}: {e}");
            return false;
        }
        let id = DestId(self.next_dest_id);
        self.next_dest_id = self.next_dest_id.saturating_add(1);
        let d = RealServer { id, addr: spec.addr, port: spec.port, weight: 1, method, upper: 0, lower: 0 };
        self.overlay_change(svc, |st| {
            st.sorry.insert(svc, d);
        })
    }

    fn has_dest(&self, svc: ServiceKey, id: DestId) -> bool {
        self.services.get(&svc).is_some_and(|e| e.svc.dests.iter().any(|d| d.id == id))
    }

    /// Changes an overlay of a real server of `svc` with `f`, as one change.
    fn overlay_change(&mut self, svc: ServiceKey, f: impl FnOnce(&mut Self)) -> bool {
        let Some(entry) = self.services.get(&svc) else { return false };
        let before = self.effective(&entry.svc).into_owned();
        f(self);
        let Some(entry) = self.services.get(&svc) else { return false };
        let after = self.effective(&entry.svc).into_owned();
        self.record_hooks(svc, &before, &after);
        self.generation += 1;
        true
    }

    /// The scheduler hooks IPVS runs for a change from `before` to `after`: `del_dest` for each
    /// server removed, then `add_dest`/`upd_dest`.
    fn record_hooks(&mut self, svc: ServiceKey, before: &Service, after: &Service) {
        for (i, d) in before.dests.iter().enumerate() {
            if !after.dests.iter().any(|a| a.id == d.id) {
                let prev = i.checked_sub(1).and_then(|j| before.dests.get(j)).map(|p| p.id);
                self.history.deleted(svc, d.id, prev, &after.dests);
            }
        }
        if after.dests.iter().any(|a| !before.dests.iter().any(|b| b == a)) {
            self.history.changed(svc, &after.dests);
        }
    }

    /// The real servers with a verdict or a weight of their checks', with their services.
    pub fn overlaid(&self) -> Vec<(ServiceKey, DestId)> {
        let mut out = Vec::new();
        for (key, e) in &self.services {
            for d in e.svc.dests.iter().filter(|d| self.down.contains_key(&d.id) || self.weights.contains_key(&d.id)) {
                out.push((*key, d.id));
            }
        }
        out
    }

    /// The services whose sorry server is in.
    pub fn with_sorry(&self) -> Vec<ServiceKey> {
        self.sorry.keys().copied().collect()
    }

    /// How real server `id` is taken out, if its checks found it down.
    pub fn down_mode(&self, id: DestId) -> Option<DownMode> {
        self.down.get(&id).copied()
    }

    /// The service as the workers and `-L` see it: its real servers found down removed or at
    /// weight 0, `misc_dynamic` weights, and its sorry server while its quorum is lost.
    pub(super) fn effective<'a>(&self, s: &'a Service) -> Cow<'a, Service> {
        let overlaid = |d: &RealServer| self.down.contains_key(&d.id) || self.weights.contains_key(&d.id);
        let sorry = self.sorry.get(&s.key);
        if sorry.is_none() && !s.dests.iter().any(overlaid) {
            return Cow::Borrowed(s);
        }
        let mut s = s.clone();
        s.dests.retain(|d| self.down.get(&d.id) != Some(&DownMode::Removed));
        for d in &mut s.dests {
            if self.down.contains_key(&d.id) {
                d.weight = 0;
            } else if let Some(&w) = self.weights.get(&d.id) {
                d.weight = w;
            }
        }
        if let Some(sorry) = sorry
            && !s.dests.iter().any(|d| d.addr == sorry.addr && d.port == sorry.port)
        {
            s.dests.insert(0, *sorry);
        }
        Cow::Owned(s)
    }

    /// Forgets the verdicts of real servers (and the sorry servers of services) that are no
    /// more.
    pub(super) fn prune_down(&mut self) {
        if self.down.is_empty() && self.weights.is_empty() && self.sorry.is_empty() {
            return;
        }
        let services = &self.services;
        let present = |id: &DestId| services.values().any(|e| e.svc.dests.iter().any(|d| d.id == *id));
        self.down.retain(|id, _| present(id));
        self.weights.retain(|id, _| present(id));
        self.sorry.retain(|k, _| services.contains_key(k));
    }
}
