//! The metadata fetch of a magnet link (BEP 9): find peers, ask them for the info dictionary in
//! pieces, check it against the info-hash, then hand every connection over to a `Torrent`.
//!
//! Driven exactly like a [`Torrent`] (same events, same [`Action`]s); it ends with
//! [`Action::MetadataReceived`], after which the driver parses the dictionary, opens storage and
//! calls [`MetadataFetch::into_torrent`].

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::metadata::{MetadataAssembler, MetadataError};
use crate::metainfo::Info;
use crate::tracker::{AnnounceEvent, AnnounceResponse};
use crate::wire::{
    Decoder, ExtensionHandshake, Message, MetadataMessage, DEFAULT_MAX_MESSAGE_LEN, UT_METADATA,
};
use crate::{Bitfield, InfoHash, Instant};

use super::discovery::Discovery;
use super::messages::{extension_handshake, OUR_UT_METADATA_ID};
use super::{Action, Config, DisconnectReason, PeerInfo, PeerKey, Torrent, TransferStats};

const TICK: Duration = Duration::from_secs(1);
/// A metadata piece not delivered in this time is asked of someone else.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// What a peer may send us besides metadata before we know what to do with it (its bitfield,
/// haves): kept for the torrent; more than this and the connection is dropped.
const MAX_REPLAY: usize = 1 << 20;

struct FetchPeer {
    info: PeerInfo,
    decoder: Decoder,
    /// The peer's messages other than metadata, re-encoded, for the torrent to read.
    replay: Vec<u8>,
    /// The id they take `ut_metadata` under; `None` if they lack it or refused us.
    ut_metadata: Option<u8>,
}

pub struct MetadataFetch {
    info_hash: InfoHash,
    config: Config,
    peers: BTreeMap<PeerKey, FetchPeer>,
    actions: VecDeque<Action>,
    discovery: Discovery,
    assembler: Option<MetadataAssembler>,
    /// Metadata pieces asked for: of whom, and when.
    asked: BTreeMap<u32, (PeerKey, Instant)>,
    next_tick: Instant,
    running: bool,
    received: bool,
}

impl MetadataFetch {
    pub fn new(info_hash: InfoHash, config: Config, now: Instant) -> Self {
        Self {
            info_hash,
            config,
            peers: BTreeMap::new(),
            actions: VecDeque::new(),
            discovery: Discovery::default(),
            assembler: None,
            asked: BTreeMap::new(),
            next_tick: now,
            running: false,
            received: false,
        }
    }

    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    pub fn start(&mut self, now: Instant) {
        if !self.running {
            self.running = true;
            self.discovery.start(now);
            self.handle_timeout(now);
        }
    }

    pub fn stop(&mut self, now: Instant) {
        if !self.running {
            return;
        }
        self.running = false;
        let stats = self.stats();
        self.actions.push_back(Action::Announce {
            event: Some(AnnounceEvent::Stopped),
            stats,
        });
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.disconnect(key, DisconnectReason::Shutdown, now);
        }
    }

    /// Trackers learn we still need everything; the size is unknown until the metadata is in.
    fn stats(&self) -> TransferStats {
        TransferStats {
            uploaded: 0,
            downloaded: 0,
            left: self.assembler.as_ref().map_or(1, |a| a.size() as u64),
        }
    }

    pub fn add_addresses(&mut self, addrs: &[SocketAddr], now: Instant) {
        self.discovery.add(addrs, now);
        self.dial_more(now);
    }

    pub fn announce_result(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        self.discovery
            .announce_result(result, self.peers.len(), now);
        self.dial_more(now);
    }

    /// The machine's address changed: announce at the next tick, redial without back-off.
    pub fn network_changed(&mut self, now: Instant) {
        self.discovery.network_changed(now);
        self.dial_more(now);
    }

    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        self.discovery.connect_failed(addr, now);
        self.dial_more(now);
    }

    fn dial_more(&mut self, now: Instant) {
        if self.running && !self.received {
            for addr in self.discovery.dials(self.peers.len(), &self.config, now) {
                self.actions.push_back(Action::Connect { addr });
            }
        }
    }

    /// A handshaken peer. Returns false (and the driver should close it) when refused.
    pub fn peer_connected(&mut self, key: PeerKey, info: PeerInfo, _now: Instant) -> bool {
        if let Some(addr) = info.addr.filter(|_| info.outgoing) {
            self.discovery.connected(addr);
        }
        let refused = !self.running
            || self.peers.contains_key(&key)
            || info.peer_id == self.config.peer_id
            || self.peers.values().any(|p| p.info.peer_id == info.peer_id)
            || self.peers.len() >= self.config.max_peers;
        if refused {
            if let Some(addr) = info.addr.filter(|_| info.outgoing) {
                self.discovery.forget(addr);
            }
            return false;
        }
        let (fast, extensions) = (info.supports_fast, info.supports_extensions);
        let max_len = DEFAULT_MAX_MESSAGE_LEN;
        self.peers.insert(
            key,
            FetchPeer {
                info,
                decoder: Decoder::new(max_len),
                replay: Vec::new(),
                ut_metadata: None,
            },
        );
        // What a torrent with no pieces would say first, so the torrent can take over later.
        if fast {
            self.send(key, &Message::HaveNone);
        }
        if extensions {
            self.send(key, &extension_handshake(&self.config, None));
        }
        true
    }

    fn send(&mut self, key: PeerKey, msg: &Message) {
        let mut buf = Vec::new();
        msg.encode(&mut buf);
        self.actions.push_back(Action::Send {
            peer: key,
            data: buf.into(),
        });
    }

    fn disconnect(&mut self, key: PeerKey, reason: DisconnectReason, now: Instant) {
        if self.peers.contains_key(&key) {
            self.actions
                .push_back(Action::Disconnect { peer: key, reason });
            self.peer_closed(key, now);
        }
    }

    pub fn peer_closed(&mut self, key: PeerKey, now: Instant) {
        let Some(peer) = self.peers.remove(&key) else {
            return;
        };
        self.asked.retain(|_, (asked_of, _)| *asked_of != key);
        if let Some(addr) = peer.info.addr.filter(|_| peer.info.outgoing) {
            self.discovery.closed(addr, now);
        }
        self.dial_more(now);
        self.request_pieces(now);
    }

    /// Drivers report written bytes to a torrent; the fetch sends too little to care.
    pub fn peer_written(&mut self, _key: PeerKey, _bytes: usize, _now: Instant) {}

    pub fn peer_data(&mut self, key: PeerKey, data: &[u8], now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.decoder.extend(data);
        loop {
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            let msg = match peer.decoder.next_message() {
                Ok(Some(msg)) => msg,
                Ok(None) => break,
                Err(_) => return self.disconnect(key, DisconnectReason::Protocol, now),
            };
            if let Err(reason) = self.on_message(key, msg) {
                return self.disconnect(key, reason, now);
            }
        }
        self.request_pieces(now);
    }

    fn on_message(&mut self, key: PeerKey, msg: Message) -> Result<(), DisconnectReason> {
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        match &msg {
            Message::Extended {
                id: OUR_UT_METADATA_ID,
                payload,
            } => {
                let metadata =
                    MetadataMessage::decode(payload).map_err(|_| DisconnectReason::Protocol)?;
                return self.on_metadata(key, metadata);
            }
            Message::Extended { id: 0, payload } => {
                if let Ok(hs) = ExtensionHandshake::decode(payload) {
                    peer.ut_metadata = hs.m.get(UT_METADATA).copied().filter(|id| *id != 0);
                    if self.assembler.is_none() {
                        self.assembler = hs
                            .metadata_size
                            .and_then(|size| MetadataAssembler::new(self.info_hash, size).ok());
                    }
                }
            }
            _ => {}
        }
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if peer.replay.len() + msg.encoded_len() > MAX_REPLAY {
            return Err(DisconnectReason::Protocol);
        }
        msg.encode(&mut peer.replay);
        Ok(())
    }

    fn on_metadata(&mut self, key: PeerKey, msg: MetadataMessage) -> Result<(), DisconnectReason> {
        match msg {
            MetadataMessage::Request { piece } => {
                // We have nothing to give yet.
                if let Some(id) = self.peers.get(&key).and_then(|p| p.ut_metadata) {
                    let reply = MetadataMessage::Reject { piece }.encode();
                    self.send(
                        key,
                        &Message::Extended {
                            id,
                            payload: reply.into(),
                        },
                    );
                }
            }
            MetadataMessage::Reject { piece } => {
                self.asked.remove(&piece);
                if let Some(peer) = self.peers.get_mut(&key) {
                    peer.ut_metadata = None;
                }
            }
            MetadataMessage::Data { piece, data, .. } => {
                if self
                    .asked
                    .get(&piece)
                    .is_none_or(|(asked_of, _)| *asked_of != key)
                {
                    return Ok(()); // late or unasked: ignore
                }
                self.asked.remove(&piece);
                let Some(assembler) = self.assembler.as_mut() else {
                    return Ok(());
                };
                match assembler.add(piece, data) {
                    Ok(Some(info)) => {
                        self.received = true;
                        self.actions.push_back(Action::MetadataReceived { info });
                    }
                    Ok(None) => {}
                    Err(MetadataError::HashMismatch) => {
                        // Someone lied and we cannot tell who: start over with fresh pieces.
                        self.asked.clear();
                    }
                    Err(_) => return Err(DisconnectReason::Protocol),
                }
            }
        }
        Ok(())
    }

    /// Asks each missing metadata piece of one peer that has the extension, spreading the
    /// pieces over peers.
    fn request_pieces(&mut self, now: Instant) {
        if self.received {
            return;
        }
        let Some(assembler) = &self.assembler else {
            return;
        };
        let missing: Vec<u32> = assembler
            .missing()
            .filter(|p| !self.asked.contains_key(p))
            .collect();
        let able: Vec<(PeerKey, u8)> = self
            .peers
            .iter()
            .filter_map(|(k, p)| p.ut_metadata.map(|id| (*k, id)))
            .collect();
        if able.is_empty() {
            return;
        }
        for (i, piece) in missing.into_iter().enumerate() {
            let (key, id) = able[i % able.len()];
            let request = MetadataMessage::Request { piece }.encode();
            self.send(
                key,
                &Message::Extended {
                    id,
                    payload: request.into(),
                },
            );
            self.asked.insert(piece, (key, now));
        }
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if !self.running || now < self.next_tick {
            return;
        }
        self.next_tick = now + TICK;
        if let Some(event) = self.discovery.due_announce(now) {
            let stats = self.stats();
            self.actions.push_back(Action::Announce { event, stats });
        }
        self.asked
            .retain(|_, (_, when)| now.saturating_since(*when) < REQUEST_TIMEOUT);
        self.request_pieces(now);
        self.dial_more(now);
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.running {
            return None;
        }
        Some(
            self.discovery
                .next_announce()
                .map_or(self.next_tick, |t| t.min(self.next_tick)),
        )
    }

    pub fn poll_action(&mut self) -> Option<Action> {
        self.actions.pop_front()
    }

    /// The torrent that continues with every connection of the fetch. `metadata` is the info
    /// dictionary `MetadataReceived` gave, `info` its parse, `have` the pieces already on disk.
    /// The driver must have carried out every action of the fetch first.
    pub fn into_torrent(
        self,
        info: Arc<Info>,
        metadata: Bytes,
        have: Bitfield,
        rng_seed: u64,
        now: Instant,
    ) -> Torrent {
        let mut config = self.config;
        config.metadata = Some(metadata);
        let mut torrent = Torrent::new(info, self.info_hash, have, config, rng_seed, now);
        torrent.take_discovery(self.discovery);
        torrent.start(now);
        for (key, peer) in self.peers {
            torrent.adopt_peer(key, peer.info, &peer.replay, now);
        }
        torrent
    }
}
