//! VRRPv3 (RFC 5798) for IPv4: one virtual router instance's state machine, sans-IO.
//!
//! [`Instance`] is the state machine of RFC 5798 section 6.4 (Initialize, Backup, Master). It owns
//! no socket and no clock: the caller passes `now_ms` (milliseconds on any monotonic clock) to every
//! call, feeds it the advertisements that [`packet::parse`] accepted for this VRID (and whose IPv4
//! TTL was [`packet::TTL`]), calls [`Instance::on_timer`] once `now_ms >= next_deadline()`, and
//! carries out the returned [`Action`]s in order. It allocates only the returned `Vec`s (and
//! [`Instance::advert`]'s address list), never panics and never blocks.
//!
//! # Times
//!
//! The RFC's intervals are in centiseconds; they are computed there, with its integer division,
//! and turned into milliseconds (`* 10`) only when a timer is set:
//!
//! - `Skew_Time = ((256 - Priority) * Master_Adver_Interval) / 256`
//! - `Master_Down_Interval = 3 * Master_Adver_Interval + Skew_Time`
//!
//! A Backup's `Master_Adver_Interval` is its own interval until it accepts an advertisement, then
//! the interval that advertisement carries. One deadline is pending at a time: the
//! Master_Down_Timer in Backup, the Adver_Timer in Master, none in Initialize.
//!
//! # Two Masters
//!
//! A Master that hears a Master of lower priority (the two could not hear each other: a split
//! brain, now healed) answers at once with its own advertisement and announces its addresses
//! again, as keepalived does; RFC 5798 would discard the advertisement and leave the clients
//! with whichever router announced last. So that the winner hears the loser whichever
//! advertisement crosses first, a Master that steps back to Backup sends one last advertisement
//! at its own priority (to a Backup it is an advertisement like any other).
//!
//! # Preemption delay
//!
//! RFC 5798 has none; we follow keepalived's `preempt_delay`. A Backup with `preempt` that hears a
//! master of lower priority than its own would ignore those advertisements and take over when its
//! Master_Down_Timer runs out. With a delay, the first such advertisement starts a
//! `preempt_delay_ms` clock, and until it runs out the Backup accepts lower-priority advertisements
//! like any other (each resets the Master_Down_Timer); from then on it ignores them, and takes over
//! one Master_Down_Interval after the last one it accepted. An advertisement of equal or higher
//! priority stops the clock (the next lower-priority master starts it afresh), and so does leaving
//! the Backup state. A delay of 0 is the RFC's behaviour. The delay does not start at `start`.

use std::net::Ipv4Addr;

#[cfg(any(test, feature = "testing"))]
pub mod fuzz;
pub mod packet;
pub mod runner;

pub use packet::{Advert, VrrpParseError};

/// The priority of the router that owns the virtual addresses: it starts as Master.
pub const OWNER_PRIORITY: u8 = 255;

/// Skew_Time in centiseconds: `((256 - priority) * master_adver_interval_cs) / 256`.
pub fn skew_time_cs(priority: u8, master_adver_interval_cs: u16) -> u32 {
    ((256 - u32::from(priority)) * u32::from(master_adver_interval_cs)) / 256
}

/// Master_Down_Interval in centiseconds: `3 * master_adver_interval_cs + Skew_Time`.
pub fn master_down_interval_cs(priority: u8, master_adver_interval_cs: u16) -> u32 {
    3 * u32::from(master_adver_interval_cs) + skew_time_cs(priority, master_adver_interval_cs)
}

/// Centiseconds to milliseconds.
fn cs_to_ms(cs: u32) -> u64 {
    u64::from(cs) * 10
}

/// The configuration of one virtual router on this router.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstanceConfig {
    /// The Virtual Router Identifier, 1..=255.
    pub vrid: u8,
    /// This router's priority, 1..=255; 255 only on the owner of the addresses.
    pub priority: u8,
    /// Advertisement_Interval, in centiseconds, 1..=4095.
    pub advert_interval_cs: u16,
    /// Preempt_Mode: whether a Backup takes over from a master of lower priority.
    pub preempt: bool,
    /// How long a Backup waits before preempting a lower-priority master (see the module docs).
    pub preempt_delay_ms: u64,
    /// The virtual router's IPv4 addresses, 1..=255 of them.
    pub addresses: Vec<Ipv4Addr>,
    /// The primary IPv4 address of the interface the advertisements are sent from.
    pub local_addr: Ipv4Addr,
}

/// Why an [`InstanceConfig`] was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum VrrpConfigError {
    /// The VRID is 0.
    #[error("vrid 0 is not valid: a virtual router id is 1..=255")]
    VridZero,
    /// The priority is 0, which only a stopping master sends.
    #[error("priority 0 is reserved for a master that stops: use 1..=255 (255 = address owner)")]
    PriorityZero,
    /// The advertisement interval is 0 or over 4095 centiseconds.
    #[error("advertisement interval {0} cs is out of range: use 1..=4095 cs (10 ms to 40.95 s)")]
    IntervalOutOfRange(u16),
    /// No virtual address.
    #[error("a virtual router needs at least one IPv4 address")]
    NoAddresses,
    /// More virtual addresses than an advertisement carries.
    #[error("{0} addresses: an advertisement carries at most 255")]
    TooManyAddresses(usize),
}

/// The states of RFC 5798 section 6.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Not started, or shut down.
    Initialize,
    /// Watching the master, ready to take over.
    Backup,
    /// Forwarding for the virtual addresses and advertising.
    Master,
}

/// What the caller must do, in the order returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Send an advertisement with this priority (see [`Instance::advert`]) from the local address
    /// to [`packet::MULTICAST_GROUP`], TTL [`packet::TTL`].
    SendAdvert {
        /// The priority to advertise: the configured one, or 0 when the master stops.
        priority: u8,
    },
    /// Broadcast a gratuitous ARP request for every virtual address, with the virtual MAC.
    GratuitousArp,
    /// The instance became Master: start answering for the virtual addresses.
    BecameMaster,
    /// The instance became Backup: stop answering for the virtual addresses.
    BecameBackup,
}

/// One virtual router on this router: the state machine of RFC 5798 section 6.4.
#[derive(Clone, Debug)]
pub struct Instance {
    /// The validated configuration.
    cfg: InstanceConfig,
    /// The current state.
    state: State,
    /// Master_Adver_Interval, in centiseconds (meaningful in Backup).
    master_adver_interval_cs: u16,
    /// The Master_Down_Timer (Backup) or the Adver_Timer (Master), in ms; `None` in Initialize.
    deadline: Option<u64>,
    /// When a pending preemption delay runs out (Backup with `preempt` only).
    preempt_at: Option<u64>,
    /// The current master, as far as this instance knows.
    master_addr: Option<Ipv4Addr>,
    /// State changes so far.
    transitions: u64,
}

impl Instance {
    /// Validates `cfg` and makes an instance in the Initialize state.
    pub fn new(cfg: InstanceConfig) -> Result<Self, VrrpConfigError> {
        validate(&cfg)?;
        Ok(Instance {
            master_adver_interval_cs: cfg.advert_interval_cs,
            cfg,
            state: State::Initialize,
            deadline: None,
            preempt_at: None,
            master_addr: None,
            transitions: 0,
        })
    }

    /// The Startup event: Master at once if this router owns the addresses (priority 255), else
    /// Backup with the Master_Down_Timer set. Does nothing unless in Initialize.
    pub fn start(&mut self, now_ms: u64) -> Vec<Action> {
        match self.state {
            State::Initialize if self.cfg.priority == OWNER_PRIORITY => self.become_master(now_ms),
            State::Initialize => self.become_backup(now_ms, self.cfg.advert_interval_cs),
            State::Backup | State::Master => Vec::new(),
        }
    }

    /// An advertisement from `src` (the sender's primary address), already validated by
    /// [`packet::parse`]. One for another VRID, or received in Initialize, is ignored.
    pub fn on_advert(&mut self, adv: &Advert, src: Ipv4Addr, now_ms: u64) -> Vec<Action> {
        if adv.vrid != self.cfg.vrid {
            return Vec::new();
        }
        match self.state {
            State::Initialize => Vec::new(),
            State::Backup => self.backup_on_advert(adv, src, now_ms),
            State::Master => self.master_on_advert(adv, src, now_ms),
        }
    }

    /// The pending timer, if it is due at `now_ms`: a Backup's Master_Down_Timer makes it Master,
    /// a Master's Adver_Timer sends an advertisement. Nothing when no timer is due.
    pub fn on_timer(&mut self, now_ms: u64) -> Vec<Action> {
        if self.deadline.is_none_or(|d| now_ms < d) {
            return Vec::new();
        }
        match self.state {
            State::Backup => self.become_master(now_ms),
            State::Master => {
                self.deadline = Some(now_ms.saturating_add(self.advert_interval_ms()));
                vec![self.own_advert()]
            }
            State::Initialize => Vec::new(),
        }
    }

    /// When [`Instance::on_timer`] must next be called; `None` in Initialize.
    pub fn next_deadline(&self) -> Option<u64> {
        self.deadline
    }

    /// The Shutdown event: back to Initialize; a Master first sends an advertisement with
    /// priority 0 so that a Backup takes over after its Skew_Time. No timer is involved, so
    /// `_now_ms` is unused; it is there like on every other event.
    pub fn shutdown(&mut self, _now_ms: u64) -> Vec<Action> {
        let actions = match self.state {
            State::Master => vec![Action::SendAdvert { priority: 0 }],
            State::Backup | State::Initialize => Vec::new(),
        };
        self.set_state(State::Initialize);
        self.deadline = None;
        self.master_addr = None;
        actions
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The master's primary address: the local address in Master; in Backup, the sender of the last
    /// advertisement with a nonzero priority (`None` before one, and after a priority-0 one).
    pub fn master_addr(&self) -> Option<Ipv4Addr> {
        self.master_addr
    }

    /// How many times the state changed (to Initialize included).
    pub fn transitions(&self) -> u64 {
        self.transitions
    }

    /// The configuration.
    pub fn config(&self) -> &InstanceConfig {
        &self.cfg
    }

    /// Master_Adver_Interval, in centiseconds.
    pub fn master_adver_interval_cs(&self) -> u16 {
        self.master_adver_interval_cs
    }

    /// Skew_Time for this router's priority and the current Master_Adver_Interval, in ms.
    pub fn skew_time_ms(&self) -> u64 {
        cs_to_ms(skew_time_cs(self.cfg.priority, self.master_adver_interval_cs))
    }

    /// Master_Down_Interval for this router's priority and Master_Adver_Interval, in ms.
    pub fn master_down_interval_ms(&self) -> u64 {
        cs_to_ms(master_down_interval_cs(self.cfg.priority, self.master_adver_interval_cs))
    }

    /// The advertisement to send for [`Action::SendAdvert`] with `priority`.
    pub fn advert(&self, priority: u8) -> Advert {
        Advert {
            vrid: self.cfg.vrid,
            priority,
            max_adver_int_cs: self.cfg.advert_interval_cs,
            addresses: self.cfg.addresses.clone(),
        }
    }

    /// Advertisement_Interval in ms.
    fn advert_interval_ms(&self) -> u64 {
        cs_to_ms(u32::from(self.cfg.advert_interval_cs))
    }

    /// An advertisement at the configured priority.
    fn own_advert(&self) -> Action {
        Action::SendAdvert { priority: self.cfg.priority }
    }

    /// Sets the state, counting a change.
    fn set_state(&mut self, state: State) {
        if self.state != state {
            self.state = state;
            self.transitions += 1;
        }
    }

    /// Advertises, announces the addresses, arms the Adver_Timer and becomes Master.
    fn become_master(&mut self, now_ms: u64) -> Vec<Action> {
        self.set_state(State::Master);
        self.deadline = Some(now_ms.saturating_add(self.advert_interval_ms()));
        self.preempt_at = None;
        self.master_addr = Some(self.cfg.local_addr);
        vec![self.own_advert(), Action::GratuitousArp, Action::BecameMaster]
    }

    /// Adopts `interval_cs` as Master_Adver_Interval, arms the Master_Down_Timer, becomes Backup.
    fn become_backup(&mut self, now_ms: u64, interval_cs: u16) -> Vec<Action> {
        self.set_state(State::Backup);
        self.master_adver_interval_cs = interval_cs;
        self.deadline = Some(now_ms.saturating_add(self.master_down_interval_ms()));
        vec![Action::BecameBackup]
    }

    /// RFC 5798 section 6.4.2, an ADVERTISEMENT received in Backup.
    fn backup_on_advert(&mut self, adv: &Advert, src: Ipv4Addr, now_ms: u64) -> Vec<Action> {
        if adv.priority == 0 {
            self.master_addr = None;
            self.deadline = Some(now_ms.saturating_add(self.skew_time_ms()));
            return Vec::new();
        }
        self.master_addr = Some(src);
        if !self.should_preempt(adv.priority, now_ms) {
            self.master_adver_interval_cs = advert_interval(adv);
            self.deadline = Some(now_ms.saturating_add(self.master_down_interval_ms()));
        }
        Vec::new()
    }

    /// Whether a Backup ignores an advertisement of `priority` (so as to take over), running the
    /// preemption delay clock (see the module docs).
    fn should_preempt(&mut self, priority: u8, now_ms: u64) -> bool {
        if !self.cfg.preempt || priority >= self.cfg.priority {
            self.preempt_at = None;
            return false;
        }
        let delay = self.cfg.preempt_delay_ms;
        let at = *self.preempt_at.get_or_insert(now_ms.saturating_add(delay));
        now_ms >= at
    }

    /// RFC 5798 section 6.4.3, an ADVERTISEMENT received in Master.
    fn master_on_advert(&mut self, adv: &Advert, src: Ipv4Addr, now_ms: u64) -> Vec<Action> {
        if adv.priority == 0 {
            self.deadline = Some(now_ms.saturating_add(self.advert_interval_ms()));
            return vec![self.own_advert()];
        }
        let wins = adv.priority > self.cfg.priority
            || (adv.priority == self.cfg.priority && src.to_bits() > self.cfg.local_addr.to_bits());
        if !wins {
            // Another Master of lower priority: a split brain healing. The RFC discards the
            // advertisement; like keepalived (`lower_prio_no_advert` off, `garp_lower_prio_repeat`)
            // we answer at once with our own, so the other steps back now rather than never, and
            // announce the addresses again, which the other took while it could not hear us.
            self.deadline = Some(now_ms.saturating_add(self.advert_interval_ms()));
            return vec![self.own_advert(), Action::GratuitousArp];
        }
        // Stepping back, a last advertisement at our priority: the winner, which may never have
        // heard us (its advertisement reached us first), learns there were two Masters and
        // announces its addresses again (see "Two Masters").
        let mut actions = vec![self.own_advert()];
        actions.extend(self.become_backup(now_ms, advert_interval(adv)));
        self.master_addr = Some(src);
        actions
    }
}

/// The interval an advertisement carries, kept in 1..=4095 should the caller build one by hand.
fn advert_interval(adv: &Advert) -> u16 {
    adv.max_adver_int_cs.clamp(1, packet::MAX_ADVER_INT_CS)
}

/// Checks the ranges of RFC 5798 section 5.2.
fn validate(cfg: &InstanceConfig) -> Result<(), VrrpConfigError> {
    if cfg.vrid == 0 {
        return Err(VrrpConfigError::VridZero);
    }
    if cfg.priority == 0 {
        return Err(VrrpConfigError::PriorityZero);
    }
    if cfg.advert_interval_cs == 0 || cfg.advert_interval_cs > packet::MAX_ADVER_INT_CS {
        return Err(VrrpConfigError::IntervalOutOfRange(cfg.advert_interval_cs));
    }
    if cfg.addresses.is_empty() {
        return Err(VrrpConfigError::NoAddresses);
    }
    if cfg.addresses.len() > 255 {
        return Err(VrrpConfigError::TooManyAddresses(cfg.addresses.len()));
    }
    Ok(())
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
