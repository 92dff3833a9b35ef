//! Rate measurement and limiting on injected time.

use std::time::Duration;

use crate::Instant;

const WINDOW_SECS: u64 = 5;

/// Bytes per second over the last few seconds, from one-second buckets.
#[derive(Debug, Clone, Default)]
pub struct RateMeter {
    /// `(second, bytes)`, indexed by `second % WINDOW_SECS`.
    buckets: [(u64, u64); WINDOW_SECS as usize],
    total: u64,
    first: Option<Instant>,
}

impl RateMeter {
    pub fn record(&mut self, bytes: u64, now: Instant) {
        let sec = now.since_epoch().as_secs();
        let slot = &mut self.buckets[(sec % WINDOW_SECS) as usize];
        if slot.0 != sec {
            *slot = (sec, 0);
        }
        slot.1 += bytes;
        self.total += bytes;
        self.first.get_or_insert(now);
    }

    pub fn total(&self) -> u64 {
        self.total
    }

    /// Average over the window, or over the time since the first byte when that is shorter, so
    /// a new transfer's rate shows at once instead of ramping up over the window.
    pub fn rate(&self, now: Instant) -> u64 {
        let Some(first) = self.first else { return 0 };
        let sec = now.since_epoch().as_secs();
        let recent: u64 = self
            .buckets
            .iter()
            .filter(|(s, _)| *s <= sec && sec - *s < WINDOW_SECS)
            .map(|(_, b)| b)
            .sum();
        let window = Duration::from_secs(WINDOW_SECS);
        let span = now
            .saturating_since(first)
            .clamp(Duration::from_millis(500), window);
        (recent as u128 * 1000 / span.as_millis()) as u64
    }
}

/// A token bucket: `rate` bytes per second with a burst of one second's worth (at least
/// `min_burst`). `None` means unlimited.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: Option<u64>,
    min_burst: u64,
    /// In micro-bytes (bytes × 10⁶) so slow refills never round to zero.
    tokens: u128,
    last: Instant,
}

impl TokenBucket {
    pub fn new(rate: Option<u64>, min_burst: u64, now: Instant) -> Self {
        let mut bucket = Self {
            rate,
            min_burst,
            tokens: 0,
            last: now,
        };
        bucket.tokens = bucket.capacity();
        bucket
    }

    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// Changes the rate; tokens already earned are kept up to the new capacity.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        self.rate = rate;
        self.tokens = self.tokens.min(self.capacity());
    }

    fn capacity(&self) -> u128 {
        self.rate
            .map_or(u128::MAX, |r| r.max(self.min_burst) as u128 * 1_000_000)
    }

    fn refill(&mut self, now: Instant) {
        if let Some(rate) = self.rate {
            let earned = now.saturating_since(self.last).as_micros() * rate as u128;
            self.tokens = self.tokens.saturating_add(earned).min(self.capacity());
        }
        self.last = self.last.max(now);
    }

    /// Takes `bytes` tokens if they are all there.
    pub fn try_take(&mut self, bytes: u64, now: Instant) -> bool {
        if self.rate.is_none() {
            return true;
        }
        self.refill(now);
        let need = bytes as u128 * 1_000_000;
        if self.tokens >= need {
            self.tokens -= need;
            true
        } else {
            false
        }
    }

    /// Whole tokens available now (`u64::MAX` when unlimited).
    pub fn available(&mut self, now: Instant) -> u64 {
        if self.rate.is_none() {
            return u64::MAX;
        }
        self.refill(now);
        (self.tokens / 1_000_000).min(u64::MAX as u128) as u64
    }

    /// When a transfer of `bytes` waiting for tokens can go on: `None` when it need not wait
    /// (unlimited, or the tokens were there at the last refill) or never can (zero rate).
    pub fn wake_at(&self, bytes: u64) -> Option<Instant> {
        let rate = self.rate.filter(|r| *r > 0)?;
        let need = (bytes as u128 * 1_000_000).checked_sub(self.tokens)?;
        let micros = need.div_ceil(rate as u128).min(u64::MAX as u128) as u64;
        (micros > 0).then(|| self.last + Duration::from_micros(micros))
    }

    /// When `bytes` tokens will be there, judged from the last refill (a time in the past
    /// when they already are). Unlimited or zero-rate buckets answer with the last refill.
    pub fn ready_at(&self, bytes: u64) -> Instant {
        let Some(rate) = self.rate.filter(|r| *r > 0) else {
            return self.last;
        };
        let need = (bytes as u128 * 1_000_000).saturating_sub(self.tokens);
        self.last + Duration::from_micros(need.div_ceil(rate as u128).min(u64::MAX as u128) as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    #[test]
    fn meter_averages_over_the_window() {
        let mut m = RateMeter::default();
        for s in 0..10 {
            m.record(1000, at(s * 1000));
        }
        assert_eq!(m.rate(at(9_999)), 1000);
        assert_eq!(m.rate(at(30_000)), 0);
        assert_eq!(m.total(), 10_000);
    }

    #[test]
    fn bucket_holds_to_its_rate() {
        let mut b = TokenBucket::new(Some(1000), 0, at(0));
        assert!(b.try_take(1000, at(0)));
        assert!(!b.try_take(1, at(0)));
        assert_eq!(b.ready_at(500), at(500));
        assert_eq!(b.wake_at(500), Some(at(500)));
        assert!(b.try_take(1, at(1)));
        assert_eq!(b.wake_at(0), None, "nothing to wait for");
        assert!(b.try_take(499, at(500)));
        // Over 10 s at most one burst plus 10 s of rate can pass.
        let mut b = TokenBucket::new(Some(1000), 0, at(0));
        let mut taken = 0;
        for ms in 0..10_000 {
            while b.try_take(100, at(ms)) {
                taken += 100;
            }
        }
        assert!((10_000..=11_000).contains(&taken), "{taken}");
    }

    #[test]
    fn unlimited_and_rate_changes() {
        let mut b = TokenBucket::new(None, 0, at(0));
        assert!(b.try_take(u64::MAX / 2, at(0)));
        b.set_rate(Some(10), at(0));
        assert!(b.try_take(10, at(0)));
        assert!(!b.try_take(10, at(0)));
        assert!(b.try_take(10, at(1000)));
    }
}
