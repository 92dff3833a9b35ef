//! Whole swarms of real `Torrent` engines wired together in memory on a virtual clock: every
//! byte goes through the peer wire codec, storage is a buffer per node, time only moves when the
//! swarm is idle. Deterministic: same seed, same run.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::budget::{Limits, SessionBudget};
use bitfleet_core::engine::{Action, Config, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{Info, PieceHasher, TorrentBuilder};
use bitfleet_core::tracker::{AnnounceEvent, AnnounceResponse};
use bitfleet_core::{Bitfield, Instant, PeerId};
use bytes::Bytes;

struct Node {
    peer_id: PeerId,
    torrent: Torrent,
    storage: Vec<u8>,
    completed_at: Option<Instant>,
    announced: Vec<Option<AnnounceEvent>>,
}

/// One direction of a connection: where bytes sent on (node, key) arrive.
#[derive(Clone, Copy)]
struct Link {
    node: usize,
    key: PeerKey,
}

enum Event {
    Data { to: Link, data: Bytes },
    Closed { to: Link },
}

struct Swarm {
    info: Arc<Info>,
    nodes: Vec<Node>,
    links: BTreeMap<(usize, PeerKey), Link>,
    events: VecDeque<Event>,
    next_key: u64,
    now: Instant,
    /// A node that serves every block corrupted.
    liar: Option<usize>,
    /// Applied to the config of nodes added from now on.
    configure: fn(&mut Config),
    /// Pairs of nodes that cannot reach each other.
    unreachable: Vec<(usize, usize)>,
    /// Connections dialled so far, by every node.
    dials: usize,
}

/// One address per node (10.0.0.1 for node 0, …); the port says which node it is.
fn addr_of(node: usize) -> SocketAddr {
    let host = u8::try_from(node + 1).expect("fewer than 255 nodes");
    SocketAddr::from(([10, 0, 0, host], 1000 + node as u16))
}

fn payload(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn make_info(data: &[u8], piece_length: u32) -> Arc<Info> {
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
    fn new(data: &[u8], piece_length: u32, seeds: &[Option<u64>], leechers: usize) -> Self {
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
            swarm.add_node(
                data.to_vec(),
                Bitfield::full(info.piece_count()),
                *up_limit,
                i as u64,
                None,
            );
        }
        for i in 0..leechers {
            let seed = (seeds.len() + i) as u64;
            swarm.add_leecher(seed, None);
        }
        swarm
    }

    fn add_leecher(&mut self, seed: u64, budget: Option<SessionBudget>) {
        let (len, pieces) = (self.info.total_length(), self.info.piece_count());
        let storage = vec![0; usize::try_from(len).expect("payload fits in memory")];
        self.add_node(storage, Bitfield::new(pieces), None, seed, budget);
    }

    fn add_node(
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

    fn peer_id(&self, node: usize) -> PeerId {
        self.nodes[node].peer_id
    }

    fn connect(&mut self, from: usize, to: usize) {
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
    fn settle(&mut self) {
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

    fn perform(&mut self, n: usize, action: Action) {
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
    fn run(&mut self, limit: Duration) -> bool {
        self.run_until(limit, |swarm| {
            swarm.nodes.iter().all(|n| n.torrent.is_complete())
        })
    }

    /// Runs until `done` or `limit` of virtual time passed.
    fn run_until(&mut self, limit: Duration, done: fn(&Swarm) -> bool) -> bool {
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

#[test]
fn seed_and_five_leechers_finish_and_trade_among_themselves() {
    let data = payload(3 << 20, 1);
    // A seed capped at 256 KiB/s: leechers that only waited for it would need 12 s each.
    let mut swarm = Swarm::new(&data, 64 << 10, &[Some(256 << 10)], 5);
    assert!(swarm.run(Duration::from_secs(120)), "swarm did not finish");
    for node in &swarm.nodes {
        assert!(node.storage == data, "a node's bytes differ");
    }
    let seed_up = swarm.nodes[0].torrent.status(swarm.now).transfer.uploaded;
    let leechers_up: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.uploaded)
        .sum();
    let received: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.downloaded)
        .sum();
    assert!(received >= 5 * data.len() as u64);
    assert!(
        leechers_up * 2 > received,
        "leechers uploaded {leechers_up} of {received} (seed {seed_up})"
    );
    // Swarming beats the seed serving everybody: 5 copies at 256 KiB/s would take 60 s.
    let last = swarm
        .nodes
        .iter()
        .filter_map(|n| n.completed_at)
        .max()
        .unwrap();
    assert!(
        last.since_epoch() < Duration::from_secs(30),
        "took {last:?}"
    );
}

#[test]
fn finished_peers_do_not_keep_dialling_each_other() {
    // The test tracker hands every node every address, seeds included, once a minute.
    let data = payload(1 << 20, 5);
    let mut swarm = Swarm::new(&data, 64 << 10, &[None], 3);
    assert!(swarm.run(Duration::from_secs(120)), "swarm did not finish");
    let (done_at, dials_then) = (swarm.now.since_epoch(), swarm.dials);
    swarm.run_until(done_at + Duration::from_secs(600), |_| false);
    // Four seeds: each may dial each other one once more (an address learned before it was
    // known to be a seed), never again every minute.
    let dials_after = swarm.dials - dials_then;
    assert!(
        dials_after <= 12,
        "{dials_after} dials among four seeds in ten minutes"
    );
    // Nor do they stay connected with nothing to trade: each learnt the other is complete.
    let connected: Vec<usize> = swarm
        .nodes
        .iter()
        .map(|n| n.torrent.status(swarm.now).peers)
        .collect();
    assert!(
        connected.iter().all(|&peers| peers == 0),
        "connections each seed holds: {connected:?}"
    );
}

#[test]
fn a_lying_peer_is_caught_and_the_download_still_completes() {
    let data = payload(1 << 20, 2);
    let mut swarm = Swarm::new(&data, 32 << 10, &[None, None], 1);
    swarm.liar = Some(1);
    assert!(swarm.run(Duration::from_secs(60)));
    assert!(swarm.nodes[2].storage == data);
    let status = swarm.nodes[2].torrent.status(swarm.now);
    assert!(status.hash_failures >= 1, "the liar was never asked");
    assert_eq!(
        status.peers, 0,
        "both seeds are gone: the liar banned, the honest one not useful"
    );
    // Banned: the liar is not served again even if it announces again.
    swarm.connect(1, 2);
    assert_eq!(swarm.nodes[2].torrent.status(swarm.now).peers, 0);
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let data = payload(1 << 20, 3);
        let mut swarm = Swarm::new(&data, 32 << 10, &[Some(128 << 10)], 4);
        assert!(swarm.run(Duration::from_secs(120)));
        swarm
            .nodes
            .iter()
            .map(|n| (n.completed_at, n.torrent.status(swarm.now).transfer))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_liar_mixed_into_pieces_with_an_honest_seed_gets_only_itself_banned() {
    // Both seeds serve at the same pace, so pieces hold blocks of both: blame is uncertain,
    // both go on parole, and from then on the liar alone is caught.
    let data = payload(2 << 20, 4);
    let mut swarm = Swarm::new(&data, 256 << 10, &[Some(256 << 10), Some(256 << 10)], 1);
    swarm.liar = Some(1);
    assert!(
        swarm.run(Duration::from_secs(120)),
        "the honest seed was lost too"
    );
    assert!(swarm.nodes[2].storage == data);
    assert!(swarm.nodes[2].torrent.status(swarm.now).hash_failures >= 1);
}

#[test]
fn torrents_sharing_a_global_download_cap_stay_within_it_and_split_it_fairly() {
    let data = payload(2 << 20, 5);
    // An uncapped seed: on the virtual network only the cap takes time.
    let mut swarm = Swarm::new(&data, 64 << 10, &[None], 0);
    let rate = 256 << 10;
    let limits = Limits {
        upload: None,
        download: Some(rate),
    };
    let budget = SessionBudget::new(limits, 64 << 10, swarm.now);
    swarm.add_leecher(10, Some(budget.clone()));
    swarm.add_leecher(11, Some(budget));
    assert!(swarm.run(Duration::from_secs(120)));
    let done: Vec<Duration> = swarm.nodes[1..]
        .iter()
        .map(|n| n.completed_at.expect("complete").since_epoch())
        .collect();
    let received: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.downloaded)
        .sum();
    // Everything received passed the shared cap: at most one burst (a second) early.
    let last = done.iter().max().expect("two leechers");
    let least = Duration::from_secs_f64(received as f64 / rate as f64 - 1.0);
    assert!(*last >= least, "{received} bytes by {done:?}");
    // Neither starved: they finish close together.
    let first = done.iter().min().expect("two leechers");
    assert!(
        first.as_secs_f64() > 0.7 * last.as_secs_f64(),
        "finished at {done:?}"
    );
}

/// Nodes 1 and 2 (10.0.0.2-3).
fn office() -> ipnet::IpNet {
    "10.0.0.2/31".parse().expect("a network")
}

#[test]
fn a_colleague_that_cannot_fetch_its_share_does_not_stall_the_site() {
    // Nodes 1 and 2 share a LAN (10.0.0.2-3) and split the pieces only the seed outside
    // (node 0) has; node 2 cannot reach the seed, so its share must come in through node 1
    // once node 2 stops gaining pieces. Nothing else happens then — no piece, no choke —
    // so node 1 must notice the stall by the clock alone.
    let data = payload(1 << 20, 6);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.add_node(
        data.clone(),
        Bitfield::full(swarm.info.piece_count()),
        None,
        0,
        None,
    );
    swarm.configure = |config| config.local_networks = vec![office()];
    swarm.unreachable = vec![(0, 2)];
    swarm.add_leecher(1, None);
    swarm.add_leecher(2, None);
    assert!(
        swarm.run(Duration::from_secs(120)),
        "stalled with {} and {} of {} pieces",
        swarm.nodes[1].torrent.have().count_ones(),
        swarm.nodes[2].torrent.have().count_ones(),
        swarm.info.piece_count()
    );
    assert!(swarm.nodes[1].storage == data && swarm.nodes[2].storage == data);
    // Node 1 waited for its colleague's share only about as long as the stall rule says.
    let done = swarm.nodes[2].completed_at.expect("complete").since_epoch();
    assert!(done < Duration::from_secs(30), "took {done:?}");
}

#[test]
fn a_site_member_with_nothing_to_fetch_outside_frees_the_seeds_upload_slot() {
    // A seed outside (node 0) with a single upload slot; colleagues 1 and 2 share what only
    // it has, but node 2 cannot reach it, so node 1 fetches its own share and then waits a
    // minute for node 2 to stall before taking node 2's. Node 3, in the field, can reach only
    // the seed. While node 1 waits it must not hold the seed's slot: before the fix it stayed
    // interested with nothing to ask, and node 3 waited for an optimistic unchoke (5 min).
    let data = payload(1 << 20, 7);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = |config| {
        config.unchoke_slots = 0;
        config.optimistic_interval = Duration::from_secs(300);
    };
    let pieces = swarm.info.piece_count();
    swarm.add_node(
        data.clone(),
        Bitfield::full(pieces),
        Some(256 << 10),
        0,
        None,
    );
    swarm.configure = |config| {
        config.local_networks = vec![office()];
        config.colleagues_stall_timeout = Duration::from_secs(60);
    };
    swarm.unreachable = vec![(0, 2), (1, 3), (2, 3)];
    for seed in 1..=3 {
        swarm.add_leecher(seed, None);
    }
    assert!(swarm.run(Duration::from_secs(200)));
    assert!(swarm.nodes[1..].iter().all(|n| n.storage == data));
    // The seed sends about 1.5 copies before the colleagues stall: 6 s at its cap.
    let field = swarm.nodes[3].completed_at.expect("complete").since_epoch();
    let office = swarm.nodes[2].completed_at.expect("complete").since_epoch();
    assert!(
        field < Duration::from_secs(15),
        "the field peer took {field:?}, the office {office:?}"
    );
}

/// Twelve leechers that each take at most 64 KiB/s and cannot reach each other, from one seed
/// (node 0) with four regular slots and upload cap `seed_cap`: when the last one finished.
fn twelve_slow_leechers_from_one_seed(seed_cap: Option<u64>) -> Duration {
    let data = payload(1 << 20, 11);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = |config| {
        config.rechoke_interval = Duration::from_secs(1);
        config.unchoke_slots = 4;
    };
    let pieces = swarm.info.piece_count();
    swarm.add_node(data.clone(), Bitfield::full(pieces), seed_cap, 0, None);
    swarm.configure = |config| {
        config.rechoke_interval = Duration::from_secs(1);
        config.download_limit = Some(64 << 10);
    };
    for seed in 1..=12 {
        swarm.add_leecher(seed, None);
    }
    swarm.unreachable = (1..=12)
        .flat_map(|a| (a + 1..=12).map(move |b| (a, b)))
        .collect();
    assert!(swarm.run(Duration::from_secs(300)), "swarm did not finish");
    assert!(swarm.nodes.iter().all(|n| n.storage == data));
    let last = swarm.nodes.iter().filter_map(|n| n.completed_at).max();
    last.expect("complete").since_epoch()
}

#[test]
fn a_capped_seed_opens_slots_until_its_cap_is_used() {
    // Five slots reach 5 × 64 KiB/s, so 12 MiB take 38 s; a 1 MiB/s cap has room for all
    // twelve at once (12 MiB in 16 s at the leechers' own pace, plus a few rounds of ramp).
    let capped = twelve_slow_leechers_from_one_seed(Some(1 << 20));
    let fixed = twelve_slow_leechers_from_one_seed(None);
    assert!(
        capped < Duration::from_secs(28),
        "capped seed took {capped:?}"
    );
    assert!(
        fixed > Duration::from_secs(33),
        "uncapped seed took {fixed:?}"
    );
}

/// Node 0 may hold two connections (`limit_node_0` sets that and its disinterest timeout);
/// nodes 1 and 2, which it dials first, have nothing and cannot reach the seed (node 3),
/// which dials nobody.
/// When node 0 finished, if it did within 200 s.
fn stuck_with_useless_peers(limit_node_0: fn(&mut Config)) -> Option<Duration> {
    let data = payload(256 << 10, 12);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = limit_node_0;
    swarm.add_leecher(0, None);
    swarm.configure = |_| {};
    swarm.add_leecher(1, None);
    swarm.add_leecher(2, None);
    // The seed dials nobody: node 0 must find it.
    swarm.configure = |config| config.max_peers = 0;
    let pieces = swarm.info.piece_count();
    swarm.add_node(data.clone(), Bitfield::full(pieces), None, 3, None);
    swarm.unreachable = vec![(1, 3), (2, 3)];
    swarm.run(Duration::from_secs(200));
    swarm.nodes[0].completed_at.map(|t| t.since_epoch())
}

#[test]
fn at_the_connection_limit_peers_neither_side_wants_make_room() {
    let turnover = stuck_with_useless_peers(|config| {
        config.max_peers = 2;
        config.disinterest_timeout = Duration::from_secs(20);
    });
    let done = turnover.expect("node 0 dropped its useless peers and reached the seed");
    assert!(done < Duration::from_secs(40), "took {done:?}");
    let never = stuck_with_useless_peers(|config| {
        config.max_peers = 2;
        config.disinterest_timeout = Duration::from_secs(1 << 20);
    });
    assert_eq!(
        never, None,
        "without turnover node 0 keeps its two useless peers"
    );
}
