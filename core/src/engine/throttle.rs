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

    pub fn is_limited(&self) -> bool {
        self.own.rate().is_some() || self.global.as_ref().is_some_and(Share::is_limited)
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

    /// When both caps should allow `bytes` (see [`TokenBucket::ready_at`]).
    pub fn ready_at(&self, bytes: u64) -> Instant {
        let own = self.own.ready_at(bytes);
        match self.global.as_ref().filter(|g| g.is_limited()) {
            Some(global) => own.max(global.ready_at(bytes)),
            None => own,
        }
    }
}
