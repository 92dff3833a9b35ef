//! Addresses we may dial: learned from trackers, LSD or the command line, in the order given
//! (trackers hand the best peers — same office — first), with back-off for ones that fail.

use std::net::SocketAddr;
use std::time::Duration;

use crate::Instant;

/// Addresses remembered at most; more are dropped (the tracker will hand out others later).
const MAX_ADDRESSES: usize = 2000;
/// Failed dials before an address is forgotten (about four minutes of retries).
const MAX_FAILURES: u32 = 8;
/// First retry after a failed dial, doubling after each further failure: a peer that is just
/// starting up (its listener not open yet) is reached again within a second or two.
const RETRY_BASE: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(300);
/// After a connection ended normally, wait this long before dialing the address again.
const REDIAL_AFTER_CLOSE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Dialing,
    Connected,
}

#[derive(Debug)]
struct Entry {
    addr: SocketAddr,
    state: State,
    failures: u32,
    ready_at: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct AddressBook {
    entries: Vec<Entry>,
}

impl AddressBook {
    pub fn add(&mut self, addr: SocketAddr, now: Instant) {
        if self.entries.len() < MAX_ADDRESSES && !self.entries.iter().any(|e| e.addr == addr) {
            self.entries.push(Entry {
                addr,
                state: State::Idle,
                failures: 0,
                ready_at: now,
            });
        }
    }

    fn entry(&mut self, addr: SocketAddr) -> Option<&mut Entry> {
        self.entries.iter_mut().find(|e| e.addr == addr)
    }

    pub fn dialing(&self) -> usize {
        self.entries
            .iter()
            .filter(|e| e.state == State::Dialing)
            .count()
    }

    /// The next address to dial, marked as being dialed.
    pub fn next_to_dial(&mut self, now: Instant) -> Option<SocketAddr> {
        let entry = self
            .entries
            .iter_mut()
            .find(|e| e.state == State::Idle && e.ready_at <= now)?;
        entry.state = State::Dialing;
        Some(entry.addr)
    }

    pub fn failed(&mut self, addr: SocketAddr, now: Instant) {
        let Some(entry) = self.entry(addr) else {
            return;
        };
        entry.failures += 1;
        entry.state = State::Idle;
        entry.ready_at =
            now + (RETRY_BASE * 2u32.saturating_pow(entry.failures - 1)).min(RETRY_MAX);
        if entry.failures >= MAX_FAILURES {
            self.entries.retain(|e| e.addr != addr);
        }
    }

    pub fn connected(&mut self, addr: SocketAddr) {
        if let Some(entry) = self.entry(addr) {
            entry.state = State::Connected;
            entry.failures = 0;
        }
    }

    pub fn closed(&mut self, addr: SocketAddr, now: Instant) {
        if let Some(entry) = self.entry(addr) {
            entry.state = State::Idle;
            entry.ready_at = now + REDIAL_AFTER_CLOSE;
        }
    }

    /// Makes every address not currently in use dialable now, failures forgiven: after our own
    /// network changed, past failures and closes say nothing about the new path.
    pub fn retry_all_now(&mut self, now: Instant) {
        for entry in self.entries.iter_mut().filter(|e| e.state == State::Idle) {
            entry.failures = 0;
            entry.ready_at = now;
        }
    }

    pub fn forget(&mut self, addr: SocketAddr) {
        self.entries.retain(|e| e.addr != addr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: u64) -> Instant {
        Instant::from_epoch(Duration::from_secs(s))
    }

    #[test]
    fn dials_in_order_and_backs_off() {
        let mut book = AddressBook::default();
        let a: SocketAddr = "10.0.0.1:1".parse().unwrap();
        let b: SocketAddr = "10.0.0.2:1".parse().unwrap();
        book.add(a, at(0));
        book.add(b, at(0));
        book.add(a, at(0));
        assert_eq!(book.next_to_dial(at(0)), Some(a));
        assert_eq!(book.next_to_dial(at(0)), Some(b));
        assert_eq!(book.next_to_dial(at(0)), None);
        assert_eq!(book.dialing(), 2);
        book.failed(a, at(1));
        assert_eq!(book.next_to_dial(at(1)), None);
        assert_eq!(book.next_to_dial(at(2)), Some(a));
        book.failed(a, at(2));
        assert_eq!(book.next_to_dial(at(3)), None, "backs off: two seconds now");
        assert_eq!(book.next_to_dial(at(4)), Some(a));
        for t in 0..MAX_FAILURES as u64 {
            book.failed(a, at(1000 * t));
        }
        book.connected(b);
        assert_eq!(
            book.next_to_dial(at(10_000)),
            None,
            "a was dropped, b is connected"
        );
    }

    #[test]
    fn network_change_forgives_failures_and_closes() {
        let mut book = AddressBook::default();
        let [a, b, c]: [SocketAddr; 3] =
            ["10.0.0.1:1", "10.0.0.2:1", "10.0.0.3:1"].map(|s| s.parse().unwrap());
        for x in [a, b, c] {
            book.add(x, at(0));
        }
        assert_eq!(book.next_to_dial(at(0)), Some(a));
        book.failed(a, at(0));
        assert_eq!(book.next_to_dial(at(0)), Some(b));
        book.connected(b);
        book.closed(b, at(0));
        assert_eq!(book.next_to_dial(at(0)), Some(c));
        book.connected(c);
        assert_eq!(book.next_to_dial(at(0)), None, "backing off");
        book.retry_all_now(at(0));
        assert_eq!(book.next_to_dial(at(0)), Some(a));
        assert_eq!(book.next_to_dial(at(0)), Some(b));
        assert_eq!(
            book.next_to_dial(at(0)),
            None,
            "a live connection is not redialed"
        );
    }
}
