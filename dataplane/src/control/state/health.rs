//! Health verdicts in the control state: a real server its checks found down is taken out of what
//! the workers and `-L` see, as keepalived does it to IPVS: removed (the default), or kept with
//! weight 0 (`inhibit_on_failure`), so it gets no new connections while its open ones follow
//! `expire_nodest_conn`. The configured real server stays as it was: the rules file and fnatd's
//! own save keep it, and it comes back as configured when its checks pass again.
//!
//! A verdict is a change like fnatctl's: it bumps the generation, records the scheduler hooks
//! IPVS would run (`del_dest` when a server is removed, `upd_dest`/`add_dest` otherwise), and
//! fnatd publishes the next snapshot with it.

use std::borrow::Cow;

use super::ControlState;
use crate::lb::{DestId, Service, ServiceKey};

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
        let Some(entry) = self.services.get(&svc) else { return false };
        if !entry.svc.dests.iter().any(|d| d.id == id) || self.down.get(&id).copied() == mode {
            return false;
        }
        let before = self.effective(&entry.svc).into_owned();
        match mode {
            Some(m) => self.down.insert(id, m),
            None => self.down.remove(&id),
        };
        let after = self.effective(&entry.svc).into_owned();
        match before.dests.iter().position(|d| d.id == id) {
            Some(i) if !after.dests.iter().any(|d| d.id == id) => {
                let prev = i.checked_sub(1).and_then(|j| before.dests.get(j)).map(|d| d.id);
                self.history.deleted(svc, id, prev, &after.dests);
            }
            _ => self.history.changed(svc, &after.dests),
        }
        self.generation += 1;
        true
    }

    /// How real server `id` is taken out, if its checks found it down.
    pub fn down_mode(&self, id: DestId) -> Option<DownMode> {
        self.down.get(&id).copied()
    }

    /// The service as the workers and `-L` see it: its real servers found down removed or at
    /// weight 0.
    pub(super) fn effective<'a>(&self, s: &'a Service) -> Cow<'a, Service> {
        if self.down.is_empty() || !s.dests.iter().any(|d| self.down.contains_key(&d.id)) {
            return Cow::Borrowed(s);
        }
        let mut s = s.clone();
        s.dests.retain(|d| self.down.get(&d.id) != Some(&DownMode::Removed));
        for d in &mut s.dests {
            if self.down.contains_key(&d.id) {
                d.weight = 0;
            }
        }
        Cow::Owned(s)
    }

    /// Forgets the verdicts of real servers no service has any more.
    pub(super) fn prune_down(&mut self) {
        if self.down.is_empty() {
            return;
        }
        let services = &self.services;
        self.down.retain(|id, _| services.values().any(|e| e.svc.dests.iter().any(|d| d.id == *id)));
    }
}
