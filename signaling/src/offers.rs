//! Which offers a connection was handed, so its answers can be checked: the tracker relays
//! an answer only to the peer whose offer it forwarded to the answerer, and only while the
//! offerer still waits for it (WebTorrent drops unanswered offers after 50 s).

use std::collections::VecDeque;
use std::time::Duration;

use bitfleet_core::tracker::ws::OfferId;
use bitfleet_core::{InfoHash, Instant, PeerId};

/// One offer relayed from `from` to `to` in a swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForwardedOffer {
    pub info_hash: InfoHash,
    pub offer_id: OfferId,
    pub from: PeerId,
    pub to: PeerId,
}

/// The offers forwarded to one connection, oldest first, at most `capacity` of them and none
/// older than `ttl`.
#[derive(Debug)]
pub struct OfferLedger {
    entries: VecDeque<(ForwardedOffer, Instant)>,
    capacity: usize,
    ttl: Duration,
}

impl OfferLedger {
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            entries: VecDeque::new(),
            capacity,
            ttl,
        }
    }

    /// Remembers an offer forwarded at `now`, forgetting the oldest when full.
    pub fn record(&mut self, offer: ForwardedOffer, now: Instant) {
        self.forget_expired(now);
        if self.capacity == 0 {
            return;
        }
        if self.entries.len() >= self.capacity {
            self.entries.pop_front();
        }
        self.entries.push_back((offer, now));
    }

    /// Whether `offer` was forwarded and is still fresh; it is forgotten either way, so one
    /// offer gets at most one answer.
    pub fn take(&mut self, offer: &ForwardedOffer, now: Instant) -> bool {
        self.forget_expired(now);
        let found = self.entries.iter().position(|(known, _)| known == offer);
        found.and_then(|index| self.entries.remove(index)).is_some()
    }

    /// Entries are in the order recorded and the clock never goes back, so the expired ones
    /// are at the front.
    fn forget_expired(&mut self, now: Instant) {
        while let Some((_, at)) = self.entries.front() {
            if now.saturating_since(*at) <= self.ttl {
                break;
            }
            self.entries.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(secs))
    }

    fn offer(n: u8) -> ForwardedOffer {
        ForwardedOffer {
            info_hash: InfoHash([1; 20]),
            offer_id: OfferId([n; 20]),
            from: PeerId([2; 20]),
            to: PeerId([3; 20]),
        }
    }

    #[test]
    fn an_offer_is_answered_once() {
        let mut ledger = OfferLedger::new(4, Duration::from_secs(50));
        ledger.record(offer(1), at(0));
        assert!(!ledger.take(&offer(2), at(1)));
        let mut wrong_sender = offer(1);
        wrong_sender.from = PeerId([9; 20]);
        assert!(!ledger.take(&wrong_sender, at(1)));
        assert!(ledger.take(&offer(1), at(1)));
        assert!(!ledger.take(&offer(1), at(1)));
    }

    #[test]
    fn offers_expire_and_the_oldest_give_way() {
        let mut ledger = OfferLedger::new(2, Duration::from_secs(50));
        ledger.record(offer(1), at(0));
        ledger.record(offer(2), at(10));
        ledger.record(offer(3), at(20));
        assert!(!ledger.take(&offer(1), at(20)), "evicted by capacity");
        assert!(!ledger.take(&offer(2), at(61)), "expired");
        assert!(ledger.take(&offer(3), at(61)));
    }
}
