//! The tracker's memory: who is in which swarm. Pure logic with time and randomness passed in,
//! so every rule (selection, counting, expiry, caps) is testable without a server or a clock.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use bitfleet_core::tracker::{AnnounceEvent, ScrapeStats};
use bitfleet_core::{InfoHash, Instant, PeerId};

/// Bounds that keep the tracker's memory finite whatever clients send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmLimits {
    pub max_swarms: usize,
    pub max_peers_per_swarm: usize,
    /// Peers listed when the client does not say how many it wants.
    pub default_numwant: u32,
    pub max_numwant: u32,
}

/// One announce, already validated and with the address the peer is to be listed under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAnnounce {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub addr: SocketAddr,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub numwant: Option<u32>,
    /// BEP 3 `key`: once a peer has given one, later announces for its id must repeat it, so
    /// nobody else can move or stop that peer by reusing its id.
    pub key: Option<String>,
}

/// What the announcing peer is told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceOutcome {
    pub peers: Vec<SocketAddr>,
    pub seeds: u32,
    pub leechers: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SwarmError {
    #[error("tracker is full: no new torrents accepted")]
    TooManySwarms,
    #[error("swarm is full: no new peers accepted")]
    SwarmFull,
    #[error("peer id is registered with another key")]
    KeyMismatch,
}

/// Counts of one swarm, for scrape and the stats page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmSummary {
    pub info_hash: InfoHash,
    pub stats: ScrapeStats,
}

#[derive(Debug, Clone)]
struct Peer {
    addr: SocketAddr,
    left: u64,
    last_seen: Instant,
    key: Option<String>,
}

impl Peer {
    fn is_seed(&self) -> bool {
        self.left == 0
    }
}

/// One torrent's peers. `seeds` is kept in step with `peers` by `upsert` and `remove`, the
/// only places that change them.
#[derive(Debug, Default)]
struct Swarm {
    peers: HashMap<PeerId, Peer>,
    seeds: usize,
    /// Completed downloads seen while the swarm existed.
    downloaded: u32,
}

impl Swarm {
    fn upsert(&mut self, id: PeerId, peer: Peer) -> Option<Peer> {
        let new_seed = peer.is_seed();
        let previous = self.peers.insert(id, peer);
        self.forget_seed(previous.as_ref());
        if new_seed {
            self.seeds += 1;
        }
        previous
    }

    fn remove(&mut self, id: &PeerId) {
        let removed = self.peers.remove(id);
        self.forget_seed(removed.as_ref());
    }

    fn forget_seed(&mut self, peer: Option<&Peer>) {
        if peer.is_some_and(Peer::is_seed) {
            self.seeds = self.seeds.saturating_sub(1);
        }
    }

    fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let before = self.peers.len();
        self.peers
            .retain(|_, peer| now.saturating_since(peer.last_seen) <= timeout);
        self.seeds = self.peers.values().filter(|peer| peer.is_seed()).count();
        before - self.peers.len()
    }

    fn stats(&self) -> ScrapeStats {
        ScrapeStats {
            complete: saturating_u32(self.seeds),
            downloaded: self.downloaded,
            incomplete: saturating_u32(self.peers.len().saturating_sub(self.seeds)),
        }
    }
}

/// Every swarm the tracker knows, ordered by info-hash so listings are stable.
#[derive(Debug)]
pub struct Swarms {
    swarms: BTreeMap<InfoHash, Swarm>,
    limits: SwarmLimits,
    rng: fastrand::Rng,
}

impl Swarms {
    pub fn new(limits: SwarmLimits, rng_seed: u64) -> Self {
        Self {
            swarms: BTreeMap::new(),
            limits,
            rng: fastrand::Rng::with_seed(rng_seed),
        }
    }

    /// Records an announce and picks peers for the announcer: a random subset of the others,
    /// without seeds when the announcer is a seed itself. A stopping peer is removed and told
    /// no peers.
    pub fn announce(
        &mut self,
        announce: PeerAnnounce,
        now: Instant,
    ) -> Result<AnnounceOutcome, SwarmError> {
        if announce.event == Some(AnnounceEvent::Stopped) {
            return self.stop(&announce);
        }
        if !self.swarms.contains_key(&announce.info_hash)
            && self.swarms.len() >= self.limits.max_swarms
        {
            return Err(SwarmError::TooManySwarms);
        }
        let swarm = self.swarms.entry(announce.info_hash).or_default();
        let known = swarm.peers.get(&announce.peer_id);
        if let Some(known) = known {
            check_key(known, &announce)?;
        } else if swarm.peers.len() >= self.limits.max_peers_per_swarm {
            return Err(SwarmError::SwarmFull);
        }
        let was_seed = known.is_some_and(Peer::is_seed);
        let key = announce
            .key
            .clone()
            .or_else(|| known.and_then(|peer| peer.key.clone()));
        let peer = Peer {
            addr: announce.addr,
            left: announce.left,
            last_seen: now,
            key,
        };
        let is_seed = peer.is_seed();
        swarm.upsert(announce.peer_id, peer);
        // A repeated `completed` from a peer already known as a seed is one download, not two.
        if announce.event == Some(AnnounceEvent::Completed) && !was_seed {
            swarm.downloaded = swarm.downloaded.saturating_add(1);
        }

        let wanted = announce
            .numwant
            .unwrap_or(self.limits.default_numwant)
            .min(self.limits.max_numwant);
        let candidates = swarm
            .peers
            .iter()
            .filter(|(id, peer)| **id != announce.peer_id && !(is_seed && peer.is_seed()))
            .map(|(_, peer)| peer.addr);
        let peers = self
            .rng
            .choose_multiple(candidates, usize::try_from(wanted).unwrap_or(usize::MAX));
        let stats = swarm.stats();
        Ok(AnnounceOutcome {
            peers,
            seeds: stats.complete,
            leechers: stats.incomplete,
        })
    }

    fn stop(&mut self, announce: &PeerAnnounce) -> Result<AnnounceOutcome, SwarmError> {
        let Some(swarm) = self.swarms.get_mut(&announce.info_hash) else {
            return Ok(AnnounceOutcome {
                peers: Vec::new(),
                seeds: 0,
                leechers: 0,
            });
        };
        if let Some(known) = swarm.peers.get(&announce.peer_id) {
            check_key(known, announce)?;
            swarm.remove(&announce.peer_id);
        }
        let stats = swarm.stats();
        if swarm.peers.is_empty() {
            self.swarms.remove(&announce.info_hash);
        }
        Ok(AnnounceOutcome {
            peers: Vec::new(),
            seeds: stats.complete,
            leechers: stats.incomplete,
        })
    }

    /// Forgets peers not heard from for longer than `timeout`, then swarms left empty (their
    /// download counts go with them: memory stays bounded by live swarms). Returns how many
    /// peers were dropped.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> usize {
        let mut dropped = 0;
        self.swarms.retain(|_, swarm| {
            dropped += swarm.expire(now, timeout);
            !swarm.peers.is_empty()
        });
        dropped
    }

    /// Counts for the requested torrents (zeros for one without peers), or for every swarm
    /// when none is requested; at most `limit` entries either way.
    pub fn scrape(&self, requested: &[InfoHash], limit: usize) -> Vec<SwarmSummary> {
        if requested.is_empty() {
            return self.summaries().take(limit).collect();
        }
        requested
            .iter()
            .take(limit)
            .map(|&info_hash| SwarmSummary {
                info_hash,
                stats: self
                    .swarms
                    .get(&info_hash)
                    .map(Swarm::stats)
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// Counts of every swarm, in info-hash order.
    pub fn summaries(&self) -> impl Iterator<Item = SwarmSummary> + '_ {
        self.swarms.iter().map(|(&info_hash, swarm)| SwarmSummary {
            info_hash,
            stats: swarm.stats(),
        })
    }

    pub fn swarm_count(&self) -> usize {
        self.swarms.len()
    }
}

fn check_key(known: &Peer, announce: &PeerAnnounce) -> Result<(), SwarmError> {
    match &known.key {
        Some(key) if announce.key.as_ref() != Some(key) => Err(SwarmError::KeyMismatch),
        _ => Ok(()),
    }
}

fn saturating_u32(count: usize) -> u32 {
    u32::try_from(count).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[path = "swarm_tests.rs"]
mod tests;
