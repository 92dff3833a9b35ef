//! When to announce to the trackers, and with which event.

use std::time::Duration;

use crate::tracker::AnnounceEvent;
use crate::Instant;

const MIN_RETRY: Duration = Duration::from_secs(5);
const MAX_RETRY: Duration = Duration::from_secs(300);
/// Floor for re-announcing early when we know too few peers.
const EARLY_FLOOR: Duration = Duration::from_secs(30);

#[derive(Debug, Default)]
pub(crate) struct AnnounceSchedule {
    next: Option<Instant>,
    /// The event of the announce under way, if one is.
    in_flight: Option<Option<AnnounceEvent>>,
    /// `started` got through to the tracker.
    started: bool,
    /// The download completed and no `completed` got through yet.
    completed_owed: bool,
    interval: Option<Duration>,
    min_interval: Option<Duration>,
    failures: u32,
}

impl AnnounceSchedule {
    pub fn start(&mut self, now: Instant) {
        self.next = Some(now);
    }

    pub fn completed(&mut self, now: Instant) {
        self.completed_owed = true;
        self.next = Some(now);
    }

    /// The event to announce now, if an announce is due. A `completed` waits for `started`.
    pub fn due(&mut self, now: Instant) -> Option<Option<AnnounceEvent>> {
        if self.in_flight.is_some() || self.next.is_none_or(|t| t > now) {
            return None;
        }
        let event = if !self.started {
            Some(AnnounceEvent::Started)
        } else if self.completed_owed {
            Some(AnnounceEvent::Completed)
        } else {
            None
        };
        self.in_flight = Some(event);
        Some(event)
    }

    /// An announce returned (`ok`: the tracker's interval and min interval). `few_peers` asks
    /// for an earlier re-announce, still no earlier than the tracker's minimum interval.
    pub fn finished(
        &mut self,
        ok: Option<(Duration, Option<Duration>)>,
        few_peers: bool,
        now: Instant,
    ) {
        let sent = self.in_flight.take().flatten();
        let wait = match ok {
            Some((interval, min_interval)) => {
                self.failures = 0;
                match sent {
                    Some(AnnounceEvent::Started) => self.started = true,
                    Some(AnnounceEvent::Completed) => self.completed_owed = false,
                    _ => {}
                }
                self.interval = Some(interval.max(Duration::from_secs(1)));
                self.min_interval = min_interval;
                if self.completed_owed {
                    Duration::ZERO
                } else if few_peers {
                    interval.min(self.min_interval.unwrap_or(EARLY_FLOOR).max(EARLY_FLOOR))
                } else {
                    interval
                }
            }
            None => {
                self.failures += 1;
                (MIN_RETRY * 2u32.saturating_pow(self.failures - 1)).min(MAX_RETRY)
            }
        };
        self.next = Some(now + wait);
    }

    /// Announce as soon as the one under way (if any) is done: our address changed, so the
    /// trackers must learn the new one.
    pub fn due_now(&mut self, now: Instant) {
        self.next = Some(now);
    }

    pub fn next_due(&self) -> Option<Instant> {
        if self.in_flight.is_some() {
            None
        } else {
            self.next
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(s))
    }

    #[test]
    fn started_is_retried_until_it_gets_through() {
        let mut a = AnnounceSchedule::default();
        a.start(at(0));
        assert_eq!(a.due(at(0)), Some(Some(AnnounceEvent::Started)));
        assert_eq!(a.due(at(0)), None, "one at a time");
        a.finished(None, false, at(1));
        assert_eq!(a.next_due(), Some(at(6)));
        assert_eq!(a.due(at(6)), Some(Some(AnnounceEvent::Started)));
        a.finished(Some((Duration::from_secs(600), None)), false, at(7));
        assert_eq!(a.due(at(606)), None);
        assert_eq!(a.due(at(607)), Some(None));
    }

    #[test]
    fn completed_goes_out_once_after_started_and_early_reannounce_respects_min_interval() {
        let mut a = AnnounceSchedule::default();
        let intervals = Some((Duration::from_secs(600), Some(Duration::from_secs(60))));
        a.start(at(0));
        a.due(at(0));
        a.completed(at(1));
        a.finished(intervals, true, at(2));
        assert_eq!(a.due(at(2)), Some(Some(AnnounceEvent::Completed)));
        a.finished(intervals, true, at(3));
        assert_eq!(a.next_due(), Some(at(63)));
        assert_eq!(a.due(at(63)), Some(None));
        a.finished(intervals, false, at(64));
        assert_eq!(a.next_due(), Some(at(664)));
    }
}
