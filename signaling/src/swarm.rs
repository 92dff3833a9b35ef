//! The tracker's memory: who is in which swarm. Pure logic with time and randomness passed in,
//! so every rule (selection, counting, expiry, caps) is testable without a server or a clock.
//!
//! A peer is reachable over TCP (it announced over HTTP with an address), over WebRTC (it
//! announced on a WebSocket the tracker relays offers through), or both: one peer id is one
//! peer whichever way it came, and counts cover everyone. HTTP announces are answered with
//! TCP-reachable peers only; offers go to WebRTC-reachable peers only. A peer leaves when it
//! has stopped on every transport it joined by (or falls silent).

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use bitfleet_core::sites::{rank, Candidate, SelectionPolicy, SiteId};
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
    pub site: Option<SiteId>,
}

/// The tracker's handle on one WebSocket connection, to relay offers and answers through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// An announce over a WebSocket connection, already validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcAnnounce {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub connection: ConnectionId,
    /// `None` when the peer does not know yet (a magnet link before metadata): a leecher.
    pub left: Option<u64>,
    pub event: Option<AnnounceEvent>,
    /// How many other WebRTC peers should get one of the announcer's offers.
    pub offers: usize,
    pub site: Option<SiteId>,
}

/// What a WebSocket announcer is told, and who gets its offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RtcOutcome {
    /// Distinct peers, each with the connection to relay one offer through.
    pub offer_to: Vec<(PeerId, ConnectionId)>,
    pub seeds: u32,
    pub leechers: u32,
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
    #[error("peer id is in use by another connection")]
    PeerIdTaken,
}

/// Counts of one swarm, for scrape and the stats page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmSummary {
    pub info_hash: InfoHash,
    pub stats: ScrapeStats,
}

#[derive(Debug, Clone)]
struct Peer {
    tcp: Option<SocketAddr>,
    rtc: Option<ConnectionId>,
    left: u64,
    last_seen: Instant,
    key: Option<String>,
    /// As of its latest announce, on either transport.
    site: Option<SiteId>,
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
    selection: SelectionPolicy,
    rng: fastrand::Rng,
}

impl Swarms {
    pub fn new(limits: SwarmLimits, rng_seed: u64) -> Self {
        Self {
            swarms: BTreeMap::new(),
            limits,
            selection: SelectionPolicy::DEFAULT,
            rng: fastrand::Rng::with_seed(rng_seed),
        }
    }

    /// Replies favour the announcer's site this way (site-aware by default).
    pub fn with_selection(mut self, selection: SelectionPolicy) -> Self {
        self.selection = selection;
        self
    }

    /// Records an HTTP announce and picks TCP-reachable peers for the announcer (see
    /// [`Swarms::pick`]). A stopping peer is no longer reachable over TCP and is told no
    /// peers.
    pub fn announce(
        &mut self,
        announce: PeerAnnounce,
        now: Instant,
    ) -> Result<AnnounceOutcome, SwarmError> {
        let wanted = announce
            .numwant
            .unwrap_or(self.limits.default_numwant)
            .min(self.limits.max_numwant);
        let wanted = usize::try_from(wanted).unwrap_or(usize::MAX);
        let joining = Joining {
            info_hash: announce.info_hash,
            peer_id: announce.peer_id,
            left: announce.left,
            event: announce.event,
            site: announce.site,
        };
        let (peers, stats) = if announce.event == Some(AnnounceEvent::Stopped) {
            let stats = self.leave(&announce.info_hash, &announce.peer_id, |peer| {
                check_key(peer, &announce)?;
                peer.tcp = None;
                Ok(())
            })?;
            (Vec::new(), stats)
        } else {
            let addr = announce.addr;
            self.join(&joining, now, |known| {
                if let Some(known) = known {
                    check_key(known, &announce)?;
                }
                Ok(|peer: &mut Peer| {
                    peer.tcp = Some(addr);
                    if announce.key.is_some() {
                        peer.key.clone_from(&announce.key);
                    }
                })
            })?;
            let (picked, stats) = self.pick(&joining, wanted, |peer| peer.tcp);
            (picked.into_iter().map(|(_, addr)| addr).collect(), stats)
        };
        Ok(AnnounceOutcome {
            peers,
            seeds: stats.complete,
            leechers: stats.incomplete,
        })
    }

    /// Records a WebSocket announce and picks WebRTC-reachable peers to receive the
    /// announcer's offers. A peer id reachable through another connection is refused: nobody
    /// can take over someone else's offers and answers. (The HTTP `key` does not apply:
    /// WebTorrent has none; the relay binds peer ids to connections instead.) A stopping peer
    /// is no longer reachable over WebRTC.
    pub fn announce_rtc(
        &mut self,
        announce: &RtcAnnounce,
        now: Instant,
    ) -> Result<RtcOutcome, SwarmError> {
        let joining = Joining {
            info_hash: announce.info_hash,
            peer_id: announce.peer_id,
            // Not knowing what is left means having something left.
            left: announce.left.unwrap_or(u64::MAX),
            event: announce.event,
            site: announce.site,
        };
        let (offer_to, stats) = if announce.event == Some(AnnounceEvent::Stopped) {
            let stats = self.leave_rtc(&announce.info_hash, &announce.peer_id, announce.connection);
            (Vec::new(), stats)
        } else {
            let connection = announce.connection;
            self.join(&joining, now, |known| {
                if known
                    .and_then(|peer| peer.rtc)
                    .is_some_and(|rtc| rtc != connection)
                {
                    return Err(SwarmError::PeerIdTaken);
                }
                Ok(|peer: &mut Peer| peer.rtc = Some(connection))
            })?;
            self.pick(&joining, announce.offers, |peer| peer.rtc)
        };
        Ok(RtcOutcome {
            offer_to,
            seeds: stats.complete,
            leechers: stats.incomplete,
        })
    }

    /// The peer is no longer reachable through `connection` in this swarm (its socket closed,
    /// or it announced `stopped`); a no-op when another connection holds the id.
    pub fn leave_rtc(
        &mut self,
        info_hash: &InfoHash,
        peer_id: &PeerId,
        connection: ConnectionId,
    ) -> ScrapeStats {
        self.leave(info_hash, peer_id, |peer| {
            if peer.rtc == Some(connection) {
                peer.rtc = None;
            }
            Ok(())
        })
        .unwrap_or_default()
    }

    /// The connection through which `peer_id` is reachable over WebRTC in this swarm.
    pub fn rtc_connection(&self, info_hash: &InfoHash, peer_id: &PeerId) -> Option<ConnectionId> {
        self.swarms.get(info_hash)?.peers.get(peer_id)?.rtc
    }

    /// Adds or refreshes a peer. `admit` sees the known peer, if any, and either refuses or
    /// says how to mark the transport it announced on.
    fn join<Mark: FnOnce(&mut Peer)>(
        &mut self,
        joining: &Joining,
        now: Instant,
        admit: impl FnOnce(Option<&Peer>) -> Result<Mark, SwarmError>,
    ) -> Result<(), SwarmError> {
        if !self.swarms.contains_key(&joining.info_hash)
            && self.swarms.len() >= self.limits.max_swarms
        {
            return Err(SwarmError::TooManySwarms);
        }
        let swarm = self.swarms.entry(joining.info_hash).or_default();
        let known = swarm.peers.get(&joining.peer_id);
        if known.is_none() && swarm.peers.len() >= self.limits.max_peers_per_swarm {
            return Err(SwarmError::SwarmFull);
        }
        let mark = admit(known)?;
        let was_seed = known.is_some_and(Peer::is_seed);
        let mut peer = known.cloned().unwrap_or(Peer {
            tcp: None,
            rtc: None,
            left: joining.left,
            last_seen: now,
            key: None,
            site: joining.site,
        });
        peer.left = joining.left;
        peer.last_seen = now;
        peer.site = joining.site;
        mark(&mut peer);
        swarm.upsert(joining.peer_id, peer);
        // A repeated `completed` from a peer already known as a seed is one download, not two.
        if joining.event == Some(AnnounceEvent::Completed) && !was_seed {
            swarm.downloaded = swarm.downloaded.saturating_add(1);
        }
        Ok(())
    }

    /// Up to `wanted` peers other than the announcer that `reach` can reach (no seeds for a
    /// seed), ranked by the selection policy — the announcer's own site first, seeds before
    /// leechers, random within a class — with the swarm's counts.
    fn pick<Reach>(
        &mut self,
        joining: &Joining,
        wanted: usize,
        reach: impl Fn(&Peer) -> Option<Reach>,
    ) -> (Vec<(PeerId, Reach)>, ScrapeStats)
    where
        Reach: Copy,
    {
        let Some(swarm) = self.swarms.get(&joining.info_hash) else {
            return (Vec::new(), ScrapeStats::default());
        };
        let is_seed = joining.left == 0;
        let candidates = swarm
            .peers
            .iter()
            .filter(|(id, peer)| **id != joining.peer_id && !(is_seed && peer.is_seed()))
            .filter_map(|(id, peer)| {
                Some(Candidate {
                    item: (*id, reach(peer)?),
                    site: peer.site,
                    seed: peer.is_seed(),
                })
            });
        let picked = rank(
            &self.selection,
            joining.site,
            candidates,
            wanted,
            &mut self.rng,
        );
        (picked, swarm.stats())
    }

    /// Applies `unmark` to the peer (which may refuse), then removes it if no transport
    /// reaches it any more, and the swarm if it is left empty.
    fn leave(
        &mut self,
        info_hash: &InfoHash,
        peer_id: &PeerId,
        unmark: impl FnOnce(&mut Peer) -> Result<(), SwarmError>,
    ) -> Result<ScrapeStats, SwarmError> {
        let Some(swarm) = self.swarms.get_mut(info_hash) else {
            return Ok(ScrapeStats::default());
        };
        if let Some(peer) = swarm.peers.get_mut(peer_id) {
            unmark(peer)?;
            if peer.tcp.is_none() && peer.rtc.is_none() {
                swarm.remove(peer_id);
            }
        }
        let stats = swarm.stats();
        if swarm.peers.is_empty() {
            self.swarms.remove(info_hash);
        }
        Ok(stats)
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

/// What `join` and `pick` need of either kind of announce.
struct Joining {
    info_hash: InfoHash,
    peer_id: PeerId,
    left: u64,
    event: Option<AnnounceEvent>,
    site: Option<SiteId>,
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
