//! A token bucket on the caller's clock: `rate` tokens a second, at most `burst` saved up. Sans-IO
//! (time is an argument, in milliseconds) and owned by one core: no atomics, no allocation.

/// Tokens refilled at `rate` per second up to `burst`; each allowed event takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TokenBucket {
    rate: u32,
    burst: u32,
    /// Thousandths of a token, so that a refill of less than one token a millisecond is kept.
    milli_tokens: u64,
    last_ms: u64,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate` a second.
    pub const fn new(rate: u32, burst: u32) -> Self {
        Self { rate, burst, milli_tokens: burst as u64 * 1000, last_ms: 0 }
    }

    /// Whether an event at `now` (milliseconds) may happen; takes a token when it may. A clock
    /// that goes back refills nothing.
    pub fn allow(&mut self, now: u64) -> bool {
        let elapsed = now.saturating_sub(self.last_ms);
        self.last_ms = self.last_ms.max(now);
        let cap = u64::from(self.burst) * 1000;
        self.milli_tokens = self.milli_tokens.saturating_add(elapsed.saturating_mul(u64::from(self.rate))).min(cap);
        if self.milli_tokens >= 1000 {
            self.milli_tokens -= 1000;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_the_rate() {
        let mut b = TokenBucket::new(1000, 50);
        assert_eq!((0..60).filter(|_| b.allow(0)).count(), 50, "the burst at once");
        assert!(!b.allow(0));
        assert!(b.allow(1), "one token a millisecond at 1000/s");
        assert!(!b.allow(1));
        assert_eq!((2..=101).filter(|&t| b.allow(t)).count(), 100, "the rate");
        // Idle for a long while: no more than the burst is saved up.
        assert_eq!((0..100).filter(|_| b.allow(1_000_000)).count(), 50);
    }

    #[test]
    fn slow_rates_keep_fractions_and_a_clock_going_back_refills_nothing() {
        let mut b = TokenBucket::new(10, 1);
        assert!(b.allow(0));
        assert!(!b.allow(99), "0.99 of a token");
        assert!(b.allow(100));
        assert!(!b.allow(50), "back in time");
        assert!(b.allow(200));
    }
}
