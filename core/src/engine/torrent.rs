//! The `Torrent` state machine: its state, its public events, and the periodic tick.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::budget::Direction;
use crate::metainfo::Info;
use crate::rate::RateMeter;
use crate::tracker::{AnnounceEvent, AnnounceResponse};
use crate::wire::{BlockRef, Message, BLOCK_SIZE};
use crate::{Bitfield, InfoHash, Instant, PeerId};

use super::discovery::Discovery;
use super::locality::ShareCache;
use super::messages::extension_handshake;
use super::peer::{Holding, Peer};
use super::picker::Picker;
use super::throttle::Throttle;
use super::web_seed::WebSeeds;
use super::{Action, Config, DisconnectReason, PeerInfo, PeerKey, Status, TransferStats};

const TICK: Duration = Duration::from_secs(1);
/// A peer that sent nothing at all for this long is dropped.
const IDLE_TIMEOUT: Duration = Duration::from_secs(150);
const KEEPALIVE_AFTER: Duration = Duration::from_secs(60);
/// Memory for pieces being assembled (they stay in memory until verified).
const PARTIAL_PIECES_BUDGET: u64 = 24 << 20;
/// Memory for complete pieces waiting for their hash check or write: past it, no new requests
/// go out until storage catches up (a fast network must not outrun a slow disk into RAM).
const STORAGE_BACKLOG_BUDGET: u64 = 24 << 20;
/// Incoming connections accepted beyond `max_peers`, so a full torrent still hears newcomers.
const INCOMING_SLACK: usize = 5;

/// A piece complete in memory, waiting for its hash check or its write.
struct Pending {
    data: Bytes,
    contributors: Vec<PeerKey>,
}

pub struct Torrent {
    pub(super) info: Arc<Info>,
    info_hash: InfoHash,
    pub(super) config: Config,
    pub(super) picker: Picker,
    pub(super) peers: BTreeMap<PeerKey, Peer>,
    pub(super) actions: VecDeque<Action>,
    pub(super) rng: fastrand::Rng,
    discovery: Discovery,
    pending: BTreeMap<u32, Pending>,
    /// Bytes of complete pieces handed out for verify or write and not yet stored.
    storage_backlog: u64,
    banned_ids: BTreeSet<PeerId>,
    pub(super) web_seeds: WebSeeds,

    pub(super) upload_throttle: Throttle,
    pub(super) download_throttle: Throttle,
    pub(super) uploaded: RateMeter,
    pub(super) downloaded: RateMeter,
    pub(super) hash_failures: u32,
    pub(super) wasted: u64,

    pub(super) optimistic: Option<PeerKey>,
    /// Regular unchoke slots this round: `Config::unchoke_slots`, more while an upload cap
    /// leaves room (see `choker::slots_for_next_round`).
    pub(super) unchoke_slots: usize,
    pub(super) last_rechoke: Instant,
    /// Bytes the driver reported written to peers since `last_rechoke`: what the last round
    /// really sent.
    pub(super) written_since_rechoke: u64,
    next_rechoke: Instant,
    next_optimistic: Instant,
    next_tick: Instant,
    /// Peer after which the next upload round starts (round robin).
    pub(super) upload_cursor: Option<PeerKey>,
    /// Bytes read for colleagues and for remote peers since the last rechoke (see `exports`).
    pub(super) sent_to_colleagues: u64,
    pub(super) sent_to_remote: u64,
    /// Share of the pieces no one on our site held at the last rechoke (see `exports`).
    pub(super) site_lacks: f64,
    /// When a local peer last announced a new piece (see `locality`).
    pub(super) local_gain: Instant,
    pub(super) shares: ShareCache,
    running: bool,
}

impl Torrent {
    /// `have` holds the pieces already verified on storage (resume data or a check).
    pub fn new(
        info: Arc<Info>,
        info_hash: InfoHash,
        have: Bitfield,
        config: Config,
        rng_seed: u64,
        now: Instant,
    ) -> Self {
        let unchoke_slots = config.unchoke_slots;
        let max_partials =
            (PARTIAL_PIECES_BUDGET / info.piece_length.max(1) as u64).max(8) as usize;
        let picker = Picker::new(
            info.piece_length,
            info.total_length(),
            have,
            max_partials,
            config.piece_order,
            rng_seed,
        );
        // Buckets hold at least a few blocks so a low cap still lets whole blocks through.
        let burst = 4 * BLOCK_SIZE as u64;
        let global = |direction| config.budget.as_ref().map(|b| b.share(direction));
        Self {
            upload_throttle: Throttle::new(
                config.upload_limit,
                burst,
                global(Direction::Upload),
                now,
            ),
            download_throttle: Throttle::new(
                config.download_limit,
                burst,
                global(Direction::Download),
                now,
            ),
            info,
            info_hash,
            config,
            picker,
            peers: BTreeMap::new(),
            actions: VecDeque::new(),
            rng: fastrand::Rng::with_seed(rng_seed ^ 0x9e37_79b9_7f4a_7c15),
            discovery: Discovery::default(),
            pending: BTreeMap::new(),
            storage_backlog: 0,
            banned_ids: BTreeSet::new(),
            web_seeds: WebSeeds::new(now),
            uploaded: RateMeter::default(),
            downloaded: RateMeter::default(),
            hash_failures: 0,
            wasted: 0,
            optimistic: None,
            unchoke_slots,
            last_rechoke: now,
            written_since_rechoke: 0,
            next_rechoke: now,
            next_optimistic: now,
            next_tick: now,
            upload_cursor: None,
            sent_to_colleagues: 0,
            sent_to_remote: 0,
            site_lacks: 1.0,
            local_gain: now,
            shares: ShareCache::default(),
            running: false,
        }
    }

    /// Continues with what a metadata fetch learned (addresses, announce state).
    pub(super) fn take_discovery(&mut self, discovery: Discovery) {
        self.discovery = discovery;
    }

    /// Starts the torrent: the first announce, and dials of any known addresses.
    pub fn start(&mut self, now: Instant) {
        if self.running {
            return;
        }
        self.running = true;
        self.discovery.start(now);
        if self.is_complete() {
            self.actions.push_back(Action::Completed);
        }
        self.handle_timeout(now);
    }

    /// Stops gracefully: a `stopped` announce, all peers closed. Later events are ignored.
    pub fn stop(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        self.running = false;
        let stats = self.transfer_stats();
        self.actions.push_back(Action::Announce {
            event: Some(AnnounceEvent::Stopped),
            stats,
        });
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.disconnect(key, DisconnectReason::Shutdown, now);
        }
    }

    /// Candidate addresses (tracker, LSD, `--peer`); the torrent dials as it sees fit.
    pub fn add_addresses(&mut self, addrs: &[SocketAddr], now: Instant) {
        self.discovery.add(addrs, now);
        self.dial_more(now);
    }

    /// The machine's address changed (the driver noticed; connections on the old address are
    /// closed by it): announce the new address now and redial known peers without back-off.
    pub fn network_changed(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        self.discovery.network_changed(now);
        self.announce_if_due(now);
        self.dial_more(now);
    }

    pub fn announce_result(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        self.discovery
            .announce_result(result, self.peers.len(), now);
        self.dial_more(now);
    }

    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        self.discovery.connect_failed(addr, now);
        self.dial_more(now);
    }

    /// A handshaken peer. Returns false (and the driver should close it) when refused.
    pub fn peer_connected(&mut self, key: PeerKey, info: PeerInfo, now: Instant) -> bool {
        if let Some(addr) = info.addr.filter(|_| info.outgoing) {
            self.discovery.connected(addr);
        }
        let limit = self.config.max_peers + if info.outgoing { 0 } else { INCOMING_SLACK };
        let refused = !self.running
            || self.peers.contains_key(&key)
            || info.peer_id == self.config.peer_id
            || self.banned_ids.contains(&info.peer_id)
            || info.addr.is_some_and(|a| self.discovery.is_banned(&a))
            || self.peers.len() >= limit
            || !self.resolve_duplicate(&info, now);
        if refused {
            let dialled = info.addr.filter(|_| info.outgoing);
            if let Some(addr) = dialled.filter(|a| !self.is_listening_at(*a)) {
                self.discovery.forget(addr);
            }
            return false;
        }
        self.insert_peer(key, info, false, now);
        true
    }

    /// Takes over a connection from the metadata fetch of a magnet link: that side already
    /// sent `have none` (or nothing) and an extension handshake; `replay` holds what the peer
    /// sent meanwhile (its bitfield, haves, extension handshake), fed through as if just read.
    pub(super) fn adopt_peer(&mut self, key: PeerKey, info: PeerInfo, replay: &[u8], now: Instant) {
        self.insert_peer(key, info, true, now);
        self.peer_data(key, replay, now);
    }

    /// Registers a peer and greets it: what we have, then our extension handshake.
    fn insert_peer(&mut self, key: PeerKey, info: PeerInfo, adopted: bool, now: Instant) {
        let local = info.addr.is_some_and(|a| {
            self.config
                .local_networks
                .iter()
                .any(|net| net.contains(&a.ip()))
        });
        let peer = Peer::new(info, local, self.info.piece_count(), now);
        let fast = peer.info.supports_fast;
        let extensions = peer.info.supports_extensions;
        self.peers.insert(key, peer);

        let have = self.picker.have();
        if adopted {
            // The bitfield slot is gone; pieces found on disk are announced one by one.
            let haves: Vec<u32> = have.iter_ones().collect();
            for piece in haves {
                self.send(key, &Message::Have(piece), now);
            }
        } else {
            let first = if fast && have.is_full() {
                Some(Message::HaveAll)
            } else if fast && have.count_ones() == 0 {
                Some(Message::HaveNone)
            } else if have.count_ones() > 0 {
                Some(Message::Bitfield(Bytes::copy_from_slice(have.as_bytes())))
            } else {
                None
            };
            if let Some(msg) = first {
                self.send(key, &msg, now);
            }
        }
        if extensions {
            let greeting =
                extension_handshake(&self.config, self.config.metadata.as_ref().map(|m| m.len()));
            self.send(key, &greeting, now);
        }
    }

    /// Two connections to the same peer. Both dialed each other: keep the one dialed by the
    /// side with the smaller peer id, a rule both ends apply alike. Dialed the same way twice:
    /// the dialer gave the old one up (typically its address changed and the old connection
    /// is dead without our knowing), so the new one stays. Returns whether the new one stays.
    fn resolve_duplicate(&mut self, info: &PeerInfo, now: Instant) -> bool {
        let Some((&old, old_peer)) = self
            .peers
            .iter()
            .find(|(_, p)| p.info.peer_id == info.peer_id)
        else {
            return true;
        };
        if old_peer.info.outgoing == info.outgoing {
            self.disconnect(old, DisconnectReason::NotUseful, now);
            return true;
        }
        let dialer_of_new = if info.outgoing {
            self.config.peer_id
        } else {
            info.peer_id
        };
        let keep_new = dialer_of_new == self.config.peer_id.min(info.peer_id);
        if keep_new {
            self.disconnect(old, DisconnectReason::NotUseful, now);
        } else if let Some(peer) = self.peers.get_mut(&old) {
            // We dialled a peer that had dialled us: now we know where it listens, and that
            // address needs no dialling while this connection lasts.
            if info.outgoing {
                peer.listen_addr = peer.listen_addr.or(info.addr);
            }
        }
        keep_new
    }

    fn is_listening_at(&self, addr: SocketAddr) -> bool {
        self.peers.values().any(|p| p.listen_addr == Some(addr))
    }

    pub fn peer_closed(&mut self, key: PeerKey, now: Instant) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        for block in &peer.outstanding {
            self.picker.release(block);
        }
        self.picker.disown(key);
        match &peer.holding {
            Holding::All => self.picker.remove_seed(),
            Holding::Pieces(bits) => self.picker.remove_bitfield(bits),
            Holding::Unknown => {}
        }
        if let Some(addr) = peer.listen_addr {
            self.discovery.closed(addr, now);
        }
        if self.optimistic == Some(key) {
            self.optimistic = None;
        }
        if !peer.am_choking {
            self.unchoke_if_room(now);
        }
        self.dial_more(now);
        self.request_all(now);
    }

    /// Closes a connection from our side.
    pub(super) fn disconnect(&mut self, key: PeerKey, reason: DisconnectReason, now: Instant) {
        if self.peers.contains_key(&key) {
            self.actions
                .push_back(Action::Disconnect { peer: key, reason });
            self.peer_closed(key, now);
        }
    }

    /// We are complete and so is this peer: the connection carries nothing either way. Its
    /// address is not dialled again, or every close would be followed by a redial a minute
    /// later, a handshake and bitfields, and the same parting (the company simulation saw
    /// offices' WAN links carry this among finished laptops).
    pub(super) fn leave_fellow_seed(&mut self, key: PeerKey, now: Instant) {
        if let Some(addr) = self.peers.get(&key).and_then(|p| p.listen_addr) {
            self.discovery.left_fellow_seed(addr);
        }
        self.disconnect(key, DisconnectReason::NotUseful, now);
    }

    pub(super) fn ban(&mut self, key: PeerKey, now: Instant) {
        if let Some(peer) = self.peers.get(&key) {
            self.banned_ids.insert(peer.info.peer_id);
            if let Some(addr) = peer.listen_addr {
                self.discovery.ban(addr);
            }
        }
        self.disconnect(key, DisconnectReason::TooManyHashFailures, now);
    }

    pub fn piece_verified(&mut self, piece: u32, valid: bool, now: Instant) {
        let Some(pending) = self.pending.remove(&piece) else {
            return;
        };
        if valid {
            self.actions.push_back(Action::Write {
                piece,
                data: pending.data,
            });
            return;
        }
        self.hash_failures += 1;
        self.wasted += pending.data.len() as u64;
        self.storage_backlog = self
            .storage_backlog
            .saturating_sub(pending.data.len() as u64);
        self.picker.piece_failed(piece);
        let contributors = self.blame_web_seeds(pending.contributors, now);
        // Blame is certain only for a piece one peer sent alone: that peer is banned. When
        // several sent it, each goes on parole, where it downloads pieces alone from now on.
        if let [liar] = contributors[..] {
            self.ban(liar, now);
        } else {
            for key in &contributors {
                if let Some(peer) = self.peers.get_mut(key) {
                    peer.on_parole = true;
                }
            }
        }
        self.request_all(now);
        self.request_from_web_seeds(now);
    }

    /// Storage answered a `Write`; `false` when it failed (the piece is fetched again).
    pub fn piece_written(&mut self, piece: u32, ok: bool, now: Instant) {
        if !self.picker.is_pending(piece) {
            return;
        }
        self.storage_backlog = self
            .storage_backlog
            .saturating_sub(self.picker.piece_size(piece) as u64);
        if !ok {
            self.picker.piece_failed(piece);
            self.request_all(now);
            return;
        }
        self.picker.piece_stored(piece);
        // Every peer hears of it, as BEP 3 has it and libtorrent does by default
        // (`send_redundant_have`): one that has the piece counts it for rarity, and a seed
        // learns that we are complete too (they part instead of idling connected, each
        // thinking the other lacks the pieces it got from elsewhere).
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            if peer.has(piece) {
                peer.interesting = peer.interesting.saturating_sub(1);
                self.update_interest(key, now);
            }
            self.send(key, &Message::Have(piece), now);
        }
        if self.is_complete() {
            self.on_complete(now);
        } else {
            self.request_all(now);
            self.request_from_web_seeds(now);
        }
    }

    fn on_complete(&mut self, now: Instant) {
        self.actions.push_back(Action::Completed);
        self.discovery.completed(now);
        // Tell the trackers at once: a one-shot download stops right after this.
        self.announce_if_due(now);
        let seeds: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.is_seed())
            .map(|(k, _)| *k)
            .collect();
        for key in seeds {
            self.leave_fellow_seed(key, now);
        }
        if self.config.seed_when_complete {
            self.handle_timeout(now);
        } else {
            self.stop(now);
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.tick(now);
        }
        self.serve_uploads(now);
        self.request_all(now);
    }

    fn announce_if_due(&mut self, now: Instant) {
        if let Some(event) = self.discovery.due_announce(now) {
            let stats = self.transfer_stats();
            self.actions.push_back(Action::Announce { event, stats });
        }
    }

    fn tick(&mut self, now: Instant) {
        self.announce_if_due(now);
        let at_limit = self.peers.len() >= self.config.max_peers;
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            let Some(peer) = self.peers.get_mut(&key) else {
                continue;
            };
            if peer.am_interested || peer.peer_interested {
                peer.last_interest = now;
            }
            let disinterested = at_limit
                && now.saturating_since(peer.last_interest) > self.config.disinterest_timeout;
            if disinterested {
                self.disconnect(key, DisconnectReason::NotUseful, now);
                continue;
            }
            let idle = now.saturating_since(peer.last_received) > IDLE_TIMEOUT;
            let stalled = !peer.outstanding.is_empty()
                && !peer.snubbed
                && now.saturating_since(peer.last_block) > self.config.snub_timeout;
            let quiet = now.saturating_since(peer.last_sent) > KEEPALIVE_AFTER;
            if idle {
                self.disconnect(key, DisconnectReason::Timeout, now);
                continue;
            }
            if stalled {
                self.snub(key, now);
            }
            if quiet {
                self.send(key, &Message::KeepAlive, now);
            }
        }
        self.notice_stalled_colleagues(now);
        if now >= self.next_rechoke {
            self.next_rechoke = now + self.config.rechoke_interval;
            let rotate = now >= self.next_optimistic;
            if rotate {
                self.next_optimistic = now + self.config.optimistic_interval;
            }
            self.rechoke(rotate, now);
        }
        self.dial_more(now);
        self.request_from_web_seeds(now);
    }

    /// A peer that stopped delivering: its requests go to others, it gets one at a time.
    fn snub(&mut self, key: PeerKey, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.snubbed = true;
        let blocks: Vec<BlockRef> = peer.outstanding.drain(..).collect();
        self.picker.disown(key);
        for block in &blocks {
            self.picker.release(block);
            self.send(key, &Message::Cancel(*block), now);
        }
    }

    pub(super) fn dial_more(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        for addr in self.discovery.dials(self.peers.len(), &self.config, now) {
            self.actions.push_back(Action::Connect { addr });
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.running {
            return None;
        }
        let mut next = self.next_tick;
        if let Some(t) = self.discovery.next_announce() {
            next = next.min(t);
        }
        if let Some(t) = self.throttle_wake() {
            next = next.min(t);
        }
        Some(next)
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// Hands a piece complete in memory to the driver for verification.
    pub(super) fn verify(&mut self, piece: u32, data: Bytes, contributors: Vec<PeerKey>) {
        self.storage_backlog += data.len() as u64;
        self.actions.push_back(Action::Verify {
            piece,
            data: data.clone(),
        });
        self.pending.insert(piece, Pending { data, contributors });
    }

    /// Queues a message for a peer.
    pub(super) fn send(&mut self, key: PeerKey, msg: &Message, now: Instant) {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        self.send_bytes(key, Bytes::from(buf), now);
    }

    pub(super) fn send_bytes(&mut self, key: PeerKey, data: Bytes, now: Instant) {
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.unsent += data.len();
            peer.last_sent = now;
            self.actions.push_back(Action::Send { peer: key, data });
        }
    }

    /// Whether storage is far enough behind that no more should be requested for now.
    pub(super) fn storage_busy(&self) -> bool {
        self.storage_backlog >= STORAGE_BACKLOG_BUDGET
    }

    pub(super) fn transfer_stats(&self) -> TransferStats {
        TransferStats {
            uploaded: self.uploaded.total(),
            downloaded: self.downloaded.total(),
            left: self.picker.left(),
        }
    }

    pub fn status(&self, now: Instant) -> Status {
        Status {
            transfer: self.transfer_stats(),
            pieces_have: self.picker.have().count_ones(),
            pieces_total: self.info.piece_count(),
            peers: self.peers.len(),
            upload_rate: self.uploaded.rate(now),
            download_rate: self.downloaded.rate(now),
            hash_failures: self.hash_failures,
            wasted: self.wasted,
        }
    }

    pub fn have(&self) -> &Bitfield {
        self.picker.have()
    }
    /// When the next announce is due; `None` while one is under way or once stopped.
    pub fn next_announce(&self) -> Option<Instant> {
        self.running
            .then(|| self.discovery.next_announce())
            .flatten()
    }
    pub(super) fn is_running(&self) -> bool {
        self.running
    }
    pub fn is_complete(&self) -> bool {
        self.picker.have().is_full()
    }
    pub fn info(&self) -> &Arc<Info> {
        &self.info
    }
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    /// Changes the torrent's own caps at run time.
    pub fn set_limits(&mut self, upload: Option<u64>, download: Option<u64>, now: Instant) {
        self.config.upload_limit = upload;
        self.config.download_limit = download;
        self.upload_throttle.set_rate(upload, now);
        self.download_throttle.set_rate(download, now);
        self.handle_timeout(now);
    }

    /// The torrent's own caps (the session's global budget comes on top).
    pub fn limits(&self) -> (Option<u64>, Option<u64>) {
        (self.config.upload_limit, self.config.download_limit)
    }
}
