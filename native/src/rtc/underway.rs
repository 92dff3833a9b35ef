//! WebRTC connections still being set up, by the peer at the other end, so that two peers who
//! offer each other at the same moment keep one connection between them — and the same one.
//!
//! Offers go out to whoever the tracker picks, so a peer learns who took its offer only from
//! the answer. Meanwhile that peer's own offer may have reached us and been answered: two
//! connections, one started by each side. Both ends keep the one started by the smaller peer id
//! (`PeerId::keeps_own_connection_to`), so neither is left with none until the next announce.

use std::collections::HashMap;

use bitfleet_core::PeerId;
use tokio::task::{AbortHandle, Id};

/// One connection being set up, and the task doing it (aborting it drops the connection).
#[derive(Debug)]
struct Setup {
    /// Whether we offered it.
    ours: bool,
    task: AbortHandle,
}

/// What to do with an offer or an answer from a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Go on with it (a rival connection, if any, was given up).
    Proceed,
    /// Drop it: the connection already under way with that peer stays.
    Drop,
}

#[derive(Debug)]
pub struct Underway {
    our_id: PeerId,
    by_peer: HashMap<PeerId, Setup>,
}

impl Underway {
    pub fn new(our_id: PeerId) -> Self {
        Self {
            our_id,
            by_peer: HashMap::new(),
        }
    }

    /// `from` offers us a connection; when the verdict is to proceed, `answering` is the task
    /// that answers it.
    pub fn offer(&mut self, from: PeerId, answering: impl FnOnce() -> AbortHandle) -> Verdict {
        self.started(from, false, answering)
    }

    /// `from` answered one of our offers; when the verdict is to proceed, `task` brings that
    /// connection up (otherwise the caller aborts it).
    pub fn answer(&mut self, from: PeerId, task: AbortHandle) -> Verdict {
        self.started(from, true, || task)
    }

    /// The task setting up a connection with `from` handed it over to a new one.
    pub fn handed_over(&mut self, from: PeerId, task: AbortHandle) {
        if let Some(setup) = self.by_peer.get_mut(&from) {
            setup.task = task;
        }
    }

    /// A set-up task ended (the connection is up, or failed): its peer is free again.
    pub fn ended(&mut self, task: Id) {
        self.by_peer.retain(|_, setup| setup.task.id() != task);
    }

    fn started(&mut self, from: PeerId, ours: bool, task: impl FnOnce() -> AbortHandle) -> Verdict {
        if let Some(rival) = self.by_peer.get(&from) {
            // Two of the same kind: the first one stays (the peer took two of our offers, or
            // offered twice before our answer reached it).
            if rival.ours == ours {
                return Verdict::Drop;
            }
            let new_stays = ours == self.our_id.keeps_own_connection_to(&from);
            if !new_stays {
                return Verdict::Drop;
            }
            rival.task.abort();
        }
        let task = task();
        self.by_peer.insert(from, Setup { ours, task });
        Verdict::Proceed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task() -> tokio::task::JoinHandle<()> {
        tokio::spawn(std::future::pending())
    }

    const LOW: PeerId = PeerId(*b"-BF0100-aaaaaaaaaaaa");
    const HIGH: PeerId = PeerId(*b"-BW0100-zzzzzzzzzzzz");

    /// One end's verdicts on the offer of the connection its peer started and on the answer to
    /// the one it started, seen in the given order; each connection's task is aborted when given up.
    fn verdicts(
        end: &mut Underway,
        peer: PeerId,
        offer_first: bool,
        theirs: &tokio::task::JoinHandle<()>,
        ours: &tokio::task::JoinHandle<()>,
    ) -> (Verdict, Verdict) {
        if offer_first {
            let offer = end.offer(peer, || theirs.abort_handle());
            (offer, end.answer(peer, ours.abort_handle()))
        } else {
            let answer = end.answer(peer, ours.abort_handle());
            (end.offer(peer, || theirs.abort_handle()), answer)
        }
    }

    /// Both ends see both connections, each in either order: they must keep the same one.
    #[tokio::test]
    async fn both_ends_keep_the_connection_the_smaller_id_started() {
        for low_offer_first in [true, false] {
            for high_offer_first in [true, false] {
                let (mut low, mut high) = (Underway::new(LOW), Underway::new(HIGH));
                // Connection L was started by LOW, H by HIGH; each has a task at both ends.
                let (l_at_low, h_at_low, l_at_high, h_at_high) = (task(), task(), task(), task());
                let (h_by_low, l_by_low) =
                    verdicts(&mut low, HIGH, low_offer_first, &h_at_low, &l_at_low);
                let (l_by_high, h_by_high) =
                    verdicts(&mut high, LOW, high_offer_first, &l_at_high, &h_at_high);
                tokio::task::yield_now().await;
                let lives = |verdict, task: &tokio::task::JoinHandle<()>| {
                    verdict == Verdict::Proceed && !task.is_finished()
                };
                let case = (low_offer_first, high_offer_first);
                assert!(lives(l_by_low, &l_at_low), "{case:?}: LOW kept L");
                assert!(lives(l_by_high, &l_at_high), "{case:?}: HIGH kept L");
                assert!(!lives(h_by_low, &h_at_low), "{case:?}: LOW dropped H");
                assert!(!lives(h_by_high, &h_at_high), "{case:?}: HIGH dropped H");
            }
        }
    }

    #[test]
    fn a_second_connection_of_the_same_kind_is_dropped() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let _entered = runtime.enter();
        let mut low = Underway::new(LOW);
        let (first, second) = (task(), task());
        assert_eq!(low.answer(HIGH, first.abort_handle()), Verdict::Proceed);
        assert_eq!(low.answer(HIGH, second.abort_handle()), Verdict::Drop);
        // Once the first is up (its task ended), the peer is free for a new one.
        low.ended(first.id());
        assert_eq!(low.answer(HIGH, second.abort_handle()), Verdict::Proceed);
    }
}
