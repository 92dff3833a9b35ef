//! Finding peers: the announce schedule, the addresses learned, which to dial next, and the
//! addresses banned for lying. Shared by the torrent and the metadata fetch of a magnet link.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use crate::tracker::{AnnounceEvent, AnnounceResponse};
use crate::Instant;

use super::addresses::AddressBook;
use super::announce::AnnounceSchedule;
use super::Config;

/// Below this many peers the torrent re-announces early.
const FEW_PEERS: usize = 5;
/// Fellow seeds remembered at most; beyond, one is only forgotten (the tracker hands seeds
/// no seeds, so only LSD or a stock tracker would bring it back).
const MAX_FELLOW_SEEDS: usize = 2000;

#[derive(Debug, Default)]
pub(crate) struct Discovery {
    addresses: AddressBook,
    announce: AnnounceSchedule,
    banned: BTreeSet<SocketAddr>,
    /// Seeds we left once we were complete ourselves: neither has anything for the other, so
    /// they are not dialled again (trackers and LSD keep handing them out).
    fellow_seeds: BTreeSet<SocketAddr>,
}

impl Discovery {
    pub fn start(&mut self, now: Instant) {
        self.announce.start(now);
    }

    pub fn completed(&mut self, now: Instant) {
        self.announce.completed(now);
    }

    /// Our address changed (another network): re-announce and redial at once.
    pub fn network_changed(&mut self, now: Instant) {
        self.announce.due_now(now);
        self.addresses.retry_all_now(now);
    }

    pub fn add(&mut self, addrs: &[SocketAddr], now: Instant) {
        let usable = |a: &&SocketAddr| !self.banned.contains(a) && !self.fellow_seeds.contains(a);
        for addr in addrs.iter().filter(usable) {
            self.addresses.add(*addr, now);
        }
    }

    /// Takes in an announce's outcome; `peers` is how many connections we hold.
    pub fn announce_result(
        &mut self,
        result: Result<AnnounceResponse, String>,
        peers: usize,
        now: Instant,
    ) {
        let few = peers < FEW_PEERS;
        match result {
            Ok(response) => {
                let interval = Duration::from_secs(response.interval.into());
                let min = response.min_interval.map(|m| Duration::from_secs(m.into()));
                self.announce.finished(Some((interval, min)), few, now);
                self.add(&response.peers, now);
            }
            Err(_) => self.announce.finished(None, few, now),
        }
    }

    pub fn due_announce(&mut self, now: Instant) -> Option<Option<AnnounceEvent>> {
        self.announce.due(now)
    }

    pub fn next_announce(&self) -> Option<Instant> {
        self.announce.next_due()
    }

    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        self.addresses.failed(addr, now);
    }

    pub fn connected(&mut self, addr: SocketAddr) {
        self.addresses.connected(addr);
    }

    pub fn closed(&mut self, addr: SocketAddr, now: Instant) {
        self.addresses.closed(addr, now);
    }

    /// A dialed address turned out useless (ourselves, a duplicate): never dial it again.
    pub fn forget(&mut self, addr: SocketAddr) {
        self.addresses.forget(addr);
    }

    /// We are complete and so is the peer at `addr`: never dial it again.
    pub fn left_fellow_seed(&mut self, addr: SocketAddr) {
        if self.fellow_seeds.len() < MAX_FELLOW_SEEDS {
            self.fellow_seeds.insert(addr);
        }
        self.addresses.forget(addr);
    }

    pub fn ban(&mut self, addr: SocketAddr) {
        self.banned.insert(addr);
        self.addresses.forget(addr);
    }

    pub fn is_banned(&self, addr: &SocketAddr) -> bool {
        self.banned.contains(addr)
    }

    /// Addresses to dial now, given `peers` connections held.
    pub fn dials(&mut self, peers: usize, config: &Config, now: Instant) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        while peers + self.addresses.dialing() < config.max_peers
            && self.addresses.dialing() < config.max_pending_connects
        {
            let Some(addr) = self.addresses.next_to_dial(now) else {
                break;
            };
            out.push(addr);
        }
        out
    }
}
