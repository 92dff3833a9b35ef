//! The simulated tracker: the swarm as announced (who, where, seed or not), answered with the
//! real site-aware selection policy of `bitfleet_core::sites`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use bitfleet_core::sites::{select_peers, SelectionPolicy, SiteMap, SwarmPeer};
use bitfleet_core::tracker::{AnnounceEvent, AnnounceResponse};
use bitfleet_core::Instant;

struct Entry {
    peer: SwarmPeer,
    last_seen: Instant,
}

pub struct Tracker {
    sites: SiteMap,
    policy: SelectionPolicy,
    interval: Duration,
    numwant: usize,
    swarm: BTreeMap<SocketAddr, Entry>,
    rng: fastrand::Rng,
}

impl Tracker {
    pub fn new(
        sites: SiteMap,
        policy: SelectionPolicy,
        interval: Duration,
        numwant: usize,
        seed: u64,
    ) -> Self {
        Self {
            sites,
            policy,
            interval,
            numwant,
            swarm: BTreeMap::new(),
            rng: fastrand::Rng::with_seed(seed),
        }
    }

    /// When `addr` last announced, if the tracker still lists it.
    pub fn last_seen(&self, addr: SocketAddr) -> Option<Instant> {
        self.swarm.get(&addr).map(|e| e.last_seen)
    }

    pub fn announce(
        &mut self,
        addr: SocketAddr,
        left: u64,
        event: Option<AnnounceEvent>,
        now: Instant,
    ) -> AnnounceResponse {
        // Peers that vanished without a `stopped` drop out after two missed announces.
        let expiry = self.interval * 2 + Duration::from_secs(60);
        self.swarm
            .retain(|_, e| now.saturating_since(e.last_seen) <= expiry);
        let me = SwarmPeer {
            addr,
            site: self.sites.site_of(addr.ip()),
            seed: left == 0,
        };
        if event == Some(AnnounceEvent::Stopped) {
            self.swarm.remove(&addr);
        } else {
            self.swarm.insert(
                addr,
                Entry {
                    peer: me,
                    last_seen: now,
                },
            );
        }
        let swarm: Vec<SwarmPeer> = self.swarm.values().map(|e| e.peer).collect();
        let peers = if event == Some(AnnounceEvent::Stopped) {
            Vec::new()
        } else {
            select_peers(&self.policy, &me, &swarm, self.numwant, &mut self.rng)
        };
        let complete = swarm.iter().filter(|p| p.seed).count() as u32;
        AnnounceResponse {
            interval: self.interval.as_secs() as u32,
            min_interval: Some(30),
            complete,
            incomplete: swarm.len() as u32 - complete,
            peers,
            warning: None,
            tracker_id: None,
        }
    }
}
