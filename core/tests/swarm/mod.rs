//! The harness of the engine's swarm tests: whole swarms of real `Torrent` engines wired
//! together in memory on a virtual clock. Every byte goes through the peer wire codec, storage
//! is a buffer per node, time only moves when the swarm is idle. Deterministic: same seed,
//! same run. Each test crate uses part of it.

#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::budget::SessionBudget;
use bitfleet_core::engine::{Action, Config, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{Info, PieceHasher, TorrentBuilder};
use bitfleet_core::tracker::{AnnounceEvent, AnnounceResponse};
use bitfleet_core::{Bitfield, Instant, PeerId};
use bytes::Bytes;

pub struct Node {
    pub peer_id: PeerId,
    pub torrent: Torrent,
    pub storage: Vec<u8>,
    pub completed_at: Option<Instant>,
    pub announced: Vec<Option<AnnounceEvent>>,
}

/// One direction of a connection: where bytes sent on (node, key) arrive.
#[derive(Clone, Copy)]
pub struct Link {
    node: usize,
    key: PeerKey,
}

enum Event {
    Data { to: Link, data: Bytes },
    Closed { to: Link },
}

pub struct Swarm {
    pub info: Arc<Info>,
    pub nodes: Vec<Node>,
    links: BTreeMap<(usize, PeerKey), Link>,
    events: VecDeque<Event>,
    next_key: u64,
    pub now: Instant,
    /// A node that serves every block corrupted.
    pub liar: Option<usize>,
    /// Applied to the config of nodes added from now on.
    pub configure: fn(&mut Config),
    /// Pairs of nodes that cannot reach each other.
    pub unreachable: Vec<(usize, usize)>,
    /// Connections dialled so far, by every node.
    pub dials: usize,
}

/// One address per node (10.0.0.1 for node 0, …); the port says which node it is.
pub fn addr_of(node: usize) -> SocketAddr {
    let host = u8::try_from(node + 1).expect("fewer than 255 nodes");
    SocketAddr::from(([10, 0, 0, host], 1000 + node as u16))
}

pub fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

pub fn make_info(data: &[u8], piece_length: u32) -> Arc<Info> {
    let mut hasher = PieceHasher::new(piece_length);
    hasher.update(data);
    let builder = TorrentBuilder {
        name: "payload.bin".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length,
        ..Default::default()
    };
    Arc::new(builder.build(hasher.finish()).expect("valid torrent").info)
}

impl Swarm {
    pub fn new(data: &[u8], piece_length: u32, seeds: &[Option<u64>], leechers: usize) -> Self {
        let info = make_info(data, piece_length);
        let mut swarm = Swarm {
            info: info.clone(),
            nodes: Vec::new(),
            links: BTreeMap::new(),
            events: VecDeque::new(),
            next_key: 1,
            now: Instant::ZERO,
            liar: None,
            configure: |_| {},
            unreachable: Vec::new(),
            dials: 0,
        };
        for (i, up_limit) in seeds.iter().enumerate() {
            swarm.add_seed(data, *up_limit, i as u64);
        }
        for i in 0..leechers {
            let seed = (seeds.len() + i) as u64;
            swarm.add_leecher(seed, None);
        }
        swarm
    }

    /// Adds a node holding all of `data`, uploading at most `up_limit` bytes/s.
    pub fn add_seed(&mut self, data: &[u8], up_limit: Option<u64>, seed: u64) {
        let pieces = self.info.piece_count();
        self.add_node(data.to_vec(), Bitfield::full(pieces), up_limit, seed, None);
    }

    /// Makes no two of `nodes` able to reach each other.
    pub fn cut_off_from_each_other(&mut self, nodes: std::ops::RangeInclusive<usize>) {
        let (first, last) = nodes.into_inner();
        self.unreachable
            .extend((first..=last).flat_map(|a| (a + 1..=last).map(move |b| (a, b))));
    }

    pub fn add_leecher(&mut self, seed: u64, budget: Option<SessionBudget>) {
        let (len, pieces) = (self.info.total_length(), self.info.piece_count());
        let storage = vec![0; usize::try_from(len).expect("payload fits in memory")];
        self.add_node(storage, Bitfield::new(pieces), None, seed, budget);
    }

    pub fn add_node(
        &mut self,
        storage: Vec<u8>,
        have: Bitfield,
        up_limit: Option<u64>,
        seed: u64,
        budget: Option<SessionBudget>,
    ) {
        let index = self.nodes.len();
        let peer_id = PeerId::generate(seed);
        let mut config = Config::new(peer_id, addr_of(index).port());
        config.upload_limit = up_limit;
        config.budget = budget;
        (self.configure)(&mut config);
        let info_hash = bitfleet_core::InfoHash([7; 20]);
        let mut torrent = Torrent::new(self.info.clone(), info_hash, have, config, seed, self.now);
        torrent.start(self.now);
        self.nodes.push(Node {
            peer_id,
            torrent,
            storage,
            completed_at: None,
            announced: Vec::new(),
        });
    }

    pub fn peer_id(&self, node: usize) -> PeerId {
        self.nodes[node].peer_id
    }

    pub fn connect(&mut self, from: usize, to: usize) {
        let (ka, kb) = (PeerKey(self.next_key), PeerKey(self.next_key + 1));
        self.next_key += 2;
        let now = self.now;
        let info = |node: usize, outgoing: bool, swarm: &Swarm| PeerInfo {
            addr: Some(addr_of(node)),
            peer_id: swarm.peer_id(node),
            supports_fast: true,
            supports_extensions: true,
            outgoing,
        };
        let cut = |(a, b): &(usize, usize)| (*a, *b) == (from, to) || (*b, *a) == (from, to);
        if self.unreachable.iter().any(cut) {
            self.nodes[from].torrent.connect_failed(addr_of(to), now);
            return;
        }
        let (ia, ib) = (info(to, true, self), info(from, false, self));
        let a_ok = self.nodes[from].torrent.peer_connected(ka, ia, now);
        let b_ok = a_ok && self.nodes[to].torrent.peer_connected(kb, ib, now);
        if !b_ok {
            // As the native driver: a connection refused after the handshake was made, so it
            // is not a failed dial; refused by them, it is one they closed.
            if a_ok {
                self.nodes[from].torrent.peer_closed(ka, now);
            }
            return;
        }
        self.links.insert((from, ka), Link { node: to, key: kb });
        self.links.insert(
            (to, kb),
            Link {
                node: from,
                key: ka,
            },
        );
    }

    /// Carries out every node's actions until nothing is left to do at this instant.
    pub fn settle(&mut self) {
        loop {
            let mut busy = false;
            for n in 0..self.nodes.len() {
                while let Some(action) = self.nodes[n].torrent.poll_action() {
                    busy = true;
                    self.perform(n, action);
                }
            }
            while let Some(event) = self.events.pop_front() {
                busy = true;
                match event {
                    Event::Data { to, data } => self.nodes[to.node]
                        .torrent
                        .peer_data(to.key, &data, self.now),
                    Event::Closed { to } => {
                        self.nodes[to.node].torrent.peer_closed(to.key, self.now)
                    }
                }
            }
            if !busy {
                return;
            }
        }
    }

    pub fn perform(&mut self, n: usize, action: Action) {
        let now = self.now;
        match action {
            Action::Send { peer, data } => {
                let len = data.len();
                if let Some(&to) = self.links.get(&(n, peer)) {
                    self.events.push_back(Event::Data { to, data });
                }
                self.nodes[n].torrent.peer_written(peer, len, now);
            }
            Action::Disconnect { peer, .. } => {
                if let Some(to) = self.links.remove(&(n, peer)) {
                    self.links.remove(&(to.node, to.key));
                    self.events.push_back(Event::Closed { to });
                }
            }
            Action::Connect { addr } => {
                self.dials += 1;
                let to = (addr.port() - 1000) as usize;
                self.connect(n, to);
            }
            Action::ReadBlock { peer, block } => {
                let start =
                    block.piece as usize * self.info.piece_length as usize + block.begin as usize;
                let mut data = self.nodes[n].storage[start..start + block.len as usize].to_vec();
                if self.liar == Some(n) {
                    data.iter_mut().for_each(|b| *b = !*b);
                }
                self.nodes[n]
                    .torrent
                    .block_read(peer, block, Some(Bytes::from(data)), now);
            }
            Action::Verify { piece, data } => {
                let ok = self.info.verify_piece(piece, &data);
                self.nodes[n].torrent.piece_verified(piece, ok, now);
            }
            Action::Write { piece, data } => {
                let start = piece as usize * self.info.piece_length as usize;
                self.nodes[n].storage[start..start + data.len()].copy_from_slice(&data);
                self.nodes[n].torrent.piece_written(piece, true, now);
            }
            Action::Announce { event, .. } => {
                self.nodes[n].announced.push(event);
                // A tracker that knows everybody.
                let peers = (0..self.nodes.len())
                    .filter(|&i| i != n)
                    .map(addr_of)
                    .collect();
                let response = AnnounceResponse {
                    interval: 60,
                    min_interval: None,
                    complete: 0,
                    incomplete: 0,
                    peers,
                    warning: None,
                    tracker_id: None,
                };
                self.nodes[n].torrent.announce_result(Ok(response), now);
            }
            Action::Completed => {
                self.nodes[n].completed_at.get_or_insert(now);
            }
            Action::MetadataReceived { .. } => unreachable!("no magnet links here"),
            Action::FetchWebSeed { .. } => unreachable!("no web seeds here"),
        }
    }

    /// Runs until every node is complete or `limit` of virtual time passed.
    pub fn run(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |swarm| {
            swarm.nodes.iter().all(|n| n.torrent.is_complete())
        })
    }

    /// Runs until `done` or `limit` of virtual time passed.
    pub fn run_until(&mut self, limit: Duration, done: fn(&Swarm) -> bool) -> bool {
        while self.now.since_epoch() < limit {
            self.settle();
            if done(self) {
                return true;
            }
            let next = self
                .nodes
                .iter()
                .filter_map(|n| n.torrent.poll_timeout())
                .min();
            let Some(next) = next else { return false };
            // Step at least a millisecond so a timer that is already due cannot stall the clock.
            self.now = next.max(self.now + Duration::from_millis(1));
            for node in &mut self.nodes {
                node.torrent.handle_timeout(self.now);
            }
        }
        false
    }
}

/// Nodes 1 and 2 (10.0.0.2-3).
pub fn office() -> ipnet::IpNet {
    "10.0.0.2/31".parse().expect("a network")
}
