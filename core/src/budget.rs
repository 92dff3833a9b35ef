//! Rate caps shared by many torrents (a session's global limits), split fairly between them.
//!
//! A [`SessionBudget`] is the session's: one token bucket per direction, changeable at run
//! time. Each torrent holds a [`Share`] of it per direction and draws from that. Tokens earned
//! are dealt out equally among the shares that asked for tokens lately (the *active* ones), so
//! a torrent with fast peers cannot starve one with slow peers; what a share cannot hold (it
//! is full, or nobody is active) goes to a common pool anyone may draw from, so an idle
//! torrent's part is not lost. The whole never passes the rate plus one burst.
//!
//! Sans-IO like the engine: time is injected, and the shares of one budget are tied together
//! by a mutex only so that drivers running each torrent on its own thread can share it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::Instant;

/// A share that asked for tokens this recently takes part in the deal.
const ACTIVE_WINDOW: Duration = Duration::from_secs(1);
/// Tokens are kept in micro-bytes (bytes × 10⁶) so slow refills never round to zero.
const MICRO: u128 = 1_000_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Upload,
    Download,
}

/// Global caps in bytes/s; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Limits {
    pub upload: Option<u64>,
    pub download: Option<u64>,
}

/// A session's global caps; clones are handles to the same budget.
#[derive(Debug, Clone)]
pub struct SessionBudget {
    inner: Arc<Mutex<Budgets>>,
}

#[derive(Debug)]
struct Budgets {
    upload: FairBucket,
    download: FairBucket,
    next_id: u64,
}

impl Budgets {
    fn bucket(&mut self, direction: Direction) -> &mut FairBucket {
        match direction {
            Direction::Upload => &mut self.upload,
            Direction::Download => &mut self.download,
        }
    }
}

impl SessionBudget {
    /// `min_burst`: the least a bucket holds whatever its rate, so whole blocks pass.
    pub fn new(limits: Limits, min_burst: u64, now: Instant) -> Self {
        let budgets = Budgets {
            upload: FairBucket::new(limits.upload, min_burst, now),
            download: FairBucket::new(limits.download, min_burst, now),
            next_id: 0,
        };
        Self {
            inner: Arc::new(Mutex::new(budgets)),
        }
    }

    pub fn limits(&self) -> Limits {
        let budgets = lock(&self.inner);
        Limits {
            upload: budgets.upload.rate,
            download: budgets.download.rate,
        }
    }

    /// Changes the caps; tokens already earned are kept up to the new burst. Torrents waiting
    /// for tokens should be woken (their wake-up times were computed at the old rate).
    pub fn set_limits(&self, limits: Limits, now: Instant) {
        let mut budgets = lock(&self.inner);
        budgets.upload.set_rate(limits.upload, now);
        budgets.download.set_rate(limits.download, now);
    }

    /// A new claim on one direction, for one torrent.
    pub fn share(&self, direction: Direction) -> Share {
        let mut budgets = lock(&self.inner);
        let id = budgets.next_id;
        budgets.next_id += 1;
        budgets
            .bucket(direction)
            .consumers
            .insert(id, Consumer::default());
        Share {
            inner: self.inner.clone(),
            direction,
            id,
        }
    }
}

/// One torrent's claim on one direction of a [`SessionBudget`]; dropping it leaves the deal.
#[derive(Debug)]
pub struct Share {
    inner: Arc<Mutex<Budgets>>,
    direction: Direction,
    id: u64,
}

impl Share {
    fn with<T>(&self, f: impl FnOnce(&mut FairBucket, u64) -> T) -> T {
        f(lock(&self.inner).bucket(self.direction), self.id)
    }

    /// Whole tokens this share may take now (`u64::MAX` when unlimited). Asking counts as
    /// wanting tokens: the share takes part in the deal for a while.
    pub fn available(&self, now: Instant) -> u64 {
        self.with(|bucket, id| bucket.available(id, now))
    }

    /// This share's part of the session's cap: the rate over the shares that asked for
    /// tokens lately, this one counted whether it asked or not; `None` is unlimited. A
    /// torrent sizes its uploads by this, not by the whole cap, which is not its alone to fill.
    pub fn fair_rate(&self, now: Instant) -> Option<u64> {
        self.with(|bucket, id| bucket.fair_rate(id, now))
    }

    /// Takes `bytes` tokens if they are all there (counts as wanting, like `available`).
    pub fn try_take(&self, bytes: u64, now: Instant) -> bool {
        self.with(|bucket, id| bucket.try_take(id, bytes, now))
    }

    /// When a transfer of `bytes` waiting for this share's tokens can go on, at its part of
    /// the rate: `None` when it need not wait (unlimited, or the tokens were there at the last
    /// refill) or never can (zero rate).
    pub fn wake_at(&self, bytes: u64) -> Option<Instant> {
        self.with(|bucket, id| bucket.wake_at(id, bytes))
    }
}

impl Drop for Share {
    fn drop(&mut self) {
        let id = self.id;
        let mut budgets = lock(&self.inner);
        let bucket = budgets.bucket(self.direction);
        if let Some(left) = bucket.consumers.remove(&id) {
            bucket.pool = bucket
                .pool
                .saturating_add(left.credit)
                .min(bucket.capacity());
        }
    }
}

#[derive(Debug, Default)]
struct Consumer {
    /// Micro-bytes dealt to this share and not yet taken.
    credit: u128,
    last_demand: Option<Instant>,
}

impl Consumer {
    fn is_active(&self, now: Instant) -> bool {
        self.last_demand
            .is_some_and(|t| now.saturating_since(t) < ACTIVE_WINDOW)
    }
}

/// A token bucket whose refills are dealt out among consumers.
#[derive(Debug)]
struct FairBucket {
    rate: Option<u64>,
    min_burst: u64,
    /// Micro-bytes anyone may take.
    pool: u128,
    consumers: BTreeMap<u64, Consumer>,
    last: Instant,
}

impl FairBucket {
    fn new(rate: Option<u64>, min_burst: u64, now: Instant) -> Self {
        let mut bucket = Self {
            rate,
            min_burst,
            pool: 0,
            consumers: BTreeMap::new(),
            last: now,
        };
        bucket.pool = bucket.capacity();
        bucket
    }

    /// One second's worth of tokens, at least `min_burst`.
    fn capacity(&self) -> u128 {
        self.rate
            .map_or(u128::MAX, |r| r.max(self.min_burst) as u128 * MICRO)
    }

    fn active_count(&self, now: Instant) -> u128 {
        self.consumers.values().filter(|c| c.is_active(now)).count() as u128
    }

    fn fair_rate(&self, id: u64, now: Instant) -> Option<u64> {
        let asked = self.consumers.get(&id).is_some_and(|c| c.is_active(now));
        let sharing = self.active_count(now) + u128::from(!asked);
        self.rate.map(|rate| (u128::from(rate) / sharing) as u64)
    }

    fn set_rate(&mut self, rate: Option<u64>, now: Instant) {
        self.refill(now);
        self.rate = rate;
        let capacity = self.capacity();
        self.pool = self.pool.min(capacity);
        for consumer in self.consumers.values_mut() {
            consumer.credit = consumer.credit.min(capacity);
        }
    }

    fn refill(&mut self, now: Instant) {
        let Some(rate) = self.rate else {
            self.last = self.last.max(now);
            return;
        };
        let earned = now.saturating_since(self.last).as_micros() * rate as u128;
        self.last = self.last.max(now);
        let capacity = self.capacity();
        let active = self.active_count(now);
        // Each active share holds at most its part of the burst (but whole blocks).
        let share_cap = (capacity / active.max(1)).max(self.min_burst as u128 * MICRO);
        let each = earned / active.max(1);
        let mut overflow = if active == 0 { earned } else { 0 };
        for consumer in self.consumers.values_mut() {
            if consumer.is_active(now) {
                let credit = consumer.credit.saturating_add(each);
                consumer.credit = credit.min(share_cap);
                overflow = overflow.saturating_add(credit - consumer.credit);
            } else {
                // Tokens stay with those who want them.
                overflow = overflow.saturating_add(std::mem::take(&mut consumer.credit));
            }
        }
        self.pool = self.pool.saturating_add(overflow).min(capacity);
    }

    /// Marks the share as wanting tokens. What was earned before is dealt first, among
    /// those who wanted it then.
    fn demand(&mut self, id: u64, now: Instant) {
        self.refill(now);
        if let Some(consumer) = self.consumers.get_mut(&id) {
            consumer.last_demand = Some(now);
        }
    }

    fn held(&self, id: u64) -> u128 {
        let credit = self.consumers.get(&id).map_or(0, |c| c.credit);
        credit.saturating_add(self.pool)
    }

    fn available(&mut self, id: u64, now: Instant) -> u64 {
        if self.rate.is_none() {
            return u64::MAX;
        }
        self.demand(id, now);
        (self.held(id) / MICRO).min(u64::MAX as u128) as u64
    }

    fn try_take(&mut self, id: u64, bytes: u64, now: Instant) -> bool {
        if self.rate.is_none() {
            return true;
        }
        self.demand(id, now);
        let need = bytes as u128 * MICRO;
        if self.held(id) < need {
            return false;
        }
        let from_credit = match self.consumers.get_mut(&id) {
            Some(consumer) => {
                let taken = consumer.credit.min(need);
                consumer.credit -= taken;
                taken
            }
            None => 0,
        };
        self.pool -= need - from_credit;
        true
    }

    fn wake_at(&self, id: u64, bytes: u64) -> Option<Instant> {
        let rate = self.rate.filter(|r| *r > 0)?;
        let need = (bytes as u128 * MICRO).checked_sub(self.held(id))?;
        // This share earns its part of the rate: the rate over the active shares, itself
        // included.
        let sharing = self.active_count(self.last).max(1);
        let micros = need.saturating_mul(sharing).div_ceil(rate as u128);
        let micros = micros.min(u64::MAX as u128) as u64;
        (micros > 0).then(|| self.last + Duration::from_micros(micros))
    }
}

fn lock(inner: &Mutex<Budgets>) -> MutexGuard<'_, Budgets> {
    inner.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_epoch(Duration::from_millis(ms))
    }

    const BLOCK: u64 = 1000;

    fn budget(download: u64) -> SessionBudget {
        let limits = Limits {
            upload: None,
            download: Some(download),
        };
        SessionBudget::new(limits, BLOCK, at(0))
    }

    /// Each share takes blocks greedily every millisecond for `ms`; returns bytes per share.
    fn run(shares: &[&Share], from: u64, ms: u64) -> Vec<u64> {
        let mut taken = vec![0; shares.len()];
        for t in from..from + ms {
            for (share, total) in shares.iter().zip(&mut taken) {
                while share.try_take(BLOCK, at(t)) {
                    *total += BLOCK;
                }
            }
        }
        taken
    }

    #[test]
    fn shares_together_stay_within_the_rate() {
        let budget = budget(100_000);
        let (a, b) = (
            budget.share(Direction::Download),
            budget.share(Direction::Download),
        );
        let taken = run(&[&a, &b], 0, 10_000);
        let total: u64 = taken.iter().sum();
        // Ten seconds of rate plus at most one burst.
        assert!((1_000_000..=1_100_000).contains(&total), "{taken:?}");
    }

    #[test]
    fn a_greedy_share_does_not_starve_another() {
        let budget = budget(100_000);
        let (a, b) = (
            budget.share(Direction::Download),
            budget.share(Direction::Download),
        );
        // `a` always asks first: without the deal it would take every token. (It does take
        // the first burst, so the measure starts after it.)
        run(&[&a, &b], 0, 1_000);
        let taken = run(&[&a, &b], 1_000, 10_000);
        let ratio = taken[0] as f64 / taken[1] as f64;
        assert!((0.8..1.25).contains(&ratio), "{taken:?}");
    }

    #[test]
    fn an_idle_share_leaves_its_part_to_others() {
        let budget = budget(100_000);
        let (a, _idle) = (
            budget.share(Direction::Download),
            budget.share(Direction::Download),
        );
        let taken = run(&[&a], 0, 10_000);
        assert!((1_000_000..=1_100_000).contains(&taken[0]), "{taken:?}");
    }

    #[test]
    fn rate_changes_take_effect_and_unlimited_is_unlimited() {
        let budget = budget(100_000);
        let a = budget.share(Direction::Download);
        run(&[&a], 0, 2_000);
        budget.set_limits(
            Limits {
                upload: None,
                download: Some(10_000),
            },
            at(2_000),
        );
        let taken = run(&[&a], 2_000, 10_000);
        assert!((100_000..=120_000).contains(&taken[0]), "{taken:?}");
        let up = budget.share(Direction::Upload);
        assert_eq!(up.wake_at(u64::MAX / 2), None);
        assert!(up.try_take(u64::MAX / 2, at(0)));
    }

    #[test]
    fn wake_at_counts_the_sharers() {
        let budget = budget(100_000);
        let (a, b) = (
            budget.share(Direction::Download),
            budget.share(Direction::Download),
        );
        run(&[&a, &b], 0, 1_000);
        // Both emptied at 999 ms; each earns 50 000 bytes/s, a block in 20 ms.
        let wake = a.wake_at(BLOCK).expect("a is out of tokens");
        assert!(wake > at(999) && wake <= at(1_020), "{wake:?}");
        // With tokens there, nothing to wait for.
        assert!(a.available(at(1_200)) >= BLOCK);
        assert_eq!(a.wake_at(BLOCK), None);
    }

    #[test]
    fn a_share_sizes_itself_by_its_part_of_the_rate() {
        let budget = budget(90_000);
        let (a, b, c) = (
            budget.share(Direction::Download),
            budget.share(Direction::Download),
            budget.share(Direction::Download),
        );
        // Alone (the others never asked): the whole rate.
        assert_eq!(a.fair_rate(at(0)), Some(90_000));
        run(&[&a, &b, &c], 0, 500);
        assert_eq!(a.fair_rate(at(500)), Some(30_000));
        // `a` counts itself even when idle; `c` stops asking.
        run(&[&b], 500, 1_500);
        assert_eq!(a.fair_rate(at(2_000)), Some(45_000));
        assert_eq!(b.fair_rate(at(2_000)), Some(90_000));
        budget.set_limits(Limits::default(), at(2_000));
        assert_eq!(a.fair_rate(at(2_000)), None);
    }
}
