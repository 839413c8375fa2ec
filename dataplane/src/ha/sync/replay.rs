//! Anti-replay: each sender's sequence numbers are accepted once, within a sliding window.
//!
//! The idea is IPsec's (RFC 4303 section 3.4.3): per sender, the highest number accepted so far
//! and a bitmap of the [`WINDOW`] numbers up to it. A number above the highest is accepted and
//! slides the window up; one inside the window is accepted if its bit is clear (messages that
//! arrive out of order), then its bit is set; a number already accepted, or older than the window,
//! is refused with [`SyncError::Replay`]. Number 0 is never accepted (senders start at 1).
//!
//! A sender is its nonce ([`super::Header::sender`]): a master that restarts draws a new one and
//! numbers from 1 again, which starts a fresh window. At most [`MAX_SENDERS`] windows are kept;
//! a new sender beyond that takes the place of the one seen least recently. That bound holds the
//! memory fixed, nothing more: the caller checks a message's tag ([`super::decode`]) before its
//! number, so only holders of the key create senders. The cost of the bound: a sender that was
//! evicted is new again if it comes back, so its old messages would be accepted once more; that
//! takes more than [`MAX_SENDERS`] senders between the original and the replay.
//!
//! No allocation, no clock, no panic.

use super::codec::SyncError;

/// How many sequence numbers, up to the highest accepted, the window remembers.
pub const WINDOW: u64 = 64;
/// How many senders' windows are kept.
pub const MAX_SENDERS: usize = 8;

/// One sender's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    /// The sender's nonce.
    sender: u64,
    /// The highest sequence number accepted.
    top: u64,
    /// Bit `i` set: number `top - i` was accepted (bit 0 is `top`).
    seen: u64,
    /// When the sender was last checked, in calls to `check_and_record`.
    last_checked: u64,
}

impl Window {
    /// A sender's window before its first message: only 0, never valid, counts as seen.
    fn fresh(sender: u64) -> Self {
        Window { sender, top: 0, seen: 1, last_checked: 0 }
    }

    /// Accepts `seq` (and records it) or refuses it.
    fn accept(&mut self, seq: u64) -> Result<(), SyncError> {
        if seq > self.top {
            let shift = seq - self.top;
            self.seen = u32::try_from(shift).ok().and_then(|s| self.seen.checked_shl(s)).unwrap_or(0) | 1;
            self.top = seq;
            return Ok(());
        }
        let age = self.top - seq;
        let bit = u32::try_from(age).ok().filter(|&a| u64::from(a) < WINDOW).ok_or(SyncError::Replay)?;
        if self.seen & (1 << bit) != 0 {
            return Err(SyncError::Replay);
        }
        self.seen |= 1 << bit;
        Ok(())
    }
}

/// The replay windows of the last [`MAX_SENDERS`] senders, on the receiving gateway.
#[derive(Clone, Debug, Default)]
pub struct ReplayWindow {
    windows: [Option<Window>; MAX_SENDERS],
    /// The number of calls to `check_and_record`: the clock of "least recently seen".
    calls: u64,
}

impl ReplayWindow {
    /// No sender seen yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Accepts the message `seq` of `sender` if it is new, and records it; [`SyncError::Replay`]
    /// if it was accepted already or is older than the sender's window. Call it only for a message
    /// [`super::decode`] accepted.
    pub fn check_and_record(&mut self, sender: u64, seq: u64) -> Result<(), SyncError> {
        self.calls = self.calls.wrapping_add(1);
        let now = self.calls;
        if let Some(w) = self.windows.iter_mut().flatten().find(|w| w.sender == sender) {
            w.last_checked = now;
            return w.accept(seq);
        }
        let mut w = Window::fresh(sender);
        w.accept(seq)?;
        w.last_checked = now;
        let slot = match self.windows.iter().position(Option::is_none) {
            Some(free) => free,
            None => (0..MAX_SENDERS).min_by_key(|&i| self.windows[i].map_or(0, |w| w.last_checked)).unwrap_or(0),
        };
        self.windows[slot] = Some(w);
        Ok(())
    }

    /// The highest number accepted from `sender`, if its window is kept.
    pub fn highest(&self, sender: u64) -> Option<u64> {
        self.windows.iter().flatten().find(|w| w.sender == sender).map(|w| w.top)
    }

    /// The number of senders whose windows are kept.
    pub fn senders(&self) -> usize {
        self.windows.iter().flatten().count()
    }
}
