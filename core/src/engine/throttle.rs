//! One direction's cap of a torrent: its own token bucket, and its share of the session's
//! global budget when there is one. A transfer goes ahead only when both have the tokens.

use crate::budget::Share;
use crate::rate::TokenBucket;
use crate::Instant;

#[derive(Debug)]
pub(super) struct Throttle {
    own: TokenBucket,
    global: Option<Share>,
}

impl Throttle {
    pub fn new(rate: Option<u64>, min_burst: u64, global: Option<Share>, now: Instant) -> Self {
        Self {
            own: TokenBucket::new(rate, min_burst, now),
            global,
        }
    }

    /// Changes the torrent's own cap.
    pub fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.own.set_rate(rate, now);
    }

    /// Whole tokens both caps allow now (`u64::MAX` when unlimited).
    pub fn available(&mut self, now: Instant) -> u64 {
        let own = self.own.available(now);
        match &self.global {
            Some(global) if own > 0 => own.min(global.available(now)),
            _ => own,
        }
    }

    /// Takes `bytes` from both caps if both have them.
    pub fn try_take(&mut self, bytes: u64, now: Instant) -> bool {
        if self.own.available(now) < bytes {
            return false;
        }
        if let Some(global) = &self.global {
            if !global.try_take(bytes, now) {
                return false;
            }
        }
        self.own.try_take(bytes, now)
    }

    /// What this torrent may send per second: the lower of its own cap and its fair part
    /// of the global one; `None` when neither is set.
    pub fn cap(&self, now: Instant) -> Option<u64> {
        let global = self.global.as_ref().and_then(|g| g.fair_rate(now));
        match (self.own.rate(), global) {
            (Some(own), Some(global)) => Some(own.min(global)),
            (own, global) => own.or(global),
        }
    }

    /// When a transfer of `bytes` held back by either cap can go on; `None` when neither
    /// holds it back (see [`TokenBucket::wake_at`]).
    pub fn wake_at(&self, bytes: u64) -> Option<Instant> {
        let global = self.global.as_ref().and_then(|g| g.wake_at(bytes));
        self.own.wake_at(bytes).max(global)
    }
}
