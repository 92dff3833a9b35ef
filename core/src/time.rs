//! Injected time. The engine never reads a clock: callers pass `now` with every event.

use std::ops::{Add, Sub};
use std::time::Duration;

/// A point in time, as an offset from an epoch the caller chooses (process start, simulation
/// start). Only differences between two instants of the same caller mean anything.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(Duration);

impl Instant {
    pub const ZERO: Instant = Instant(Duration::ZERO);

    pub fn from_epoch(since_epoch: Duration) -> Self {
        Self(since_epoch)
    }
    pub fn since_epoch(self) -> Duration {
        self.0
    }
    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn saturating_since(self, earlier: Instant) -> Duration {
        self.0.saturating_sub(earlier.0)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_since(earlier)
    }
}
