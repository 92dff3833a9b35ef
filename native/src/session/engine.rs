//! The sans-IO state machine a torrent task drives: a magnet link's metadata fetch first (BEP 9),
//! then the torrent, which inherits the fetch's connections.

use std::net::SocketAddr;

use bitfleet_core::engine::{Action, MetadataFetch, PeerInfo, PeerKey, Status, Torrent, WebSeedId};
use bitfleet_core::tracker::AnnounceResponse;
use bitfleet_core::wire::BlockRef;
use bitfleet_core::{InfoHash, Instant};
use bytes::Bytes;

pub(super) enum Engine {
    Fetching(Box<MetadataFetch>),
    Running(Box<Torrent>),
    /// Between a fetch and its torrent, or after the metadata could not be used.
    Idle {
        info_hash: InfoHash,
    },
}

/// Calls the method both machines share, on whichever is running.
macro_rules! either {
    ($engine:expr, $machine:ident => $call:expr, idle => $idle:expr) => {
        match $engine {
            Engine::Fetching($machine) => $call,
            Engine::Running($machine) => $call,
            Engine::Idle { .. } => $idle,
        }
    };
}

impl Engine {
    pub fn start(&mut self, now: Instant) {
        either!(self, m => m.start(now), idle => ())
    }
    pub fn stop(&mut self, now: Instant) {
        either!(self, m => m.stop(now), idle => ())
    }
    pub fn add_addresses(&mut self, addrs: &[SocketAddr], now: Instant) {
        either!(self, m => m.add_addresses(addrs, now), idle => ())
    }
    pub fn announce_result(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        either!(self, m => m.announce_result(result, now), idle => ())
    }
    pub fn network_changed(&mut self, now: Instant) {
        either!(self, m => m.network_changed(now), idle => ())
    }
    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        either!(self, m => m.connect_failed(addr, now), idle => ())
    }
    pub fn peer_connected(&mut self, key: PeerKey, info: PeerInfo, now: Instant) -> bool {
        either!(self, m => m.peer_connected(key, info, now), idle => false)
    }
    pub fn peer_data(&mut self, key: PeerKey, data: &[u8], now: Instant) {
        either!(self, m => m.peer_data(key, data, now), idle => ())
    }
    pub fn peer_written(&mut self, key: PeerKey, bytes: usize, now: Instant) {
        either!(self, m => m.peer_written(key, bytes, now), idle => ())
    }
    pub fn peer_closed(&mut self, key: PeerKey, now: Instant) {
        either!(self, m => m.peer_closed(key, now), idle => ())
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        either!(self, m => m.handle_timeout(now), idle => ())
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        either!(self, m => m.poll_timeout(), idle => None)
    }
    pub fn poll_action(&mut self) -> Option<Action> {
        either!(self, m => m.poll_action(), idle => None)
    }
    pub fn info_hash(&self) -> InfoHash {
        match self {
            Engine::Fetching(fetch) => fetch.info_hash(),
            Engine::Running(torrent) => torrent.info_hash(),
            Engine::Idle { info_hash } => *info_hash,
        }
    }

    /// Storage answers only ever concern a running torrent (a fetch asks for no storage).
    pub fn block_read(
        &mut self,
        peer: PeerKey,
        block: BlockRef,
        data: Option<Bytes>,
        now: Instant,
    ) {
        if let Engine::Running(torrent) = self {
            torrent.block_read(peer, block, data, now);
        }
    }
    pub fn piece_verified(&mut self, piece: u32, valid: bool, now: Instant) {
        if let Engine::Running(torrent) = self {
            torrent.piece_verified(piece, valid, now);
        }
    }
    /// The torrent's own caps; a magnet link's fetch moves no payload and keeps the caps it
    /// started with.
    pub fn set_limits(&mut self, upload: Option<u64>, download: Option<u64>, now: Instant) {
        if let Engine::Running(torrent) = self {
            torrent.set_limits(upload, download, now);
        }
    }
    pub fn piece_written(&mut self, piece: u32, ok: bool, now: Instant) {
        if let Engine::Running(torrent) = self {
            torrent.piece_written(piece, ok, now);
        }
    }

    pub fn web_seed_fetched(
        &mut self,
        seed: WebSeedId,
        piece: u32,
        result: Result<Bytes, String>,
        now: Instant,
    ) {
        if let Engine::Running(torrent) = self {
            torrent.web_seed_fetched(seed, piece, result, now);
        }
    }

    /// Progress so far; empty until the torrent runs.
    pub fn status(&self, now: Instant) -> Status {
        match self {
            Engine::Running(torrent) => torrent.status(now),
            Engine::Fetching(_) | Engine::Idle { .. } => Status::default(),
        }
    }

    /// Takes the fetch out, leaving the engine idle; `None` if it is not fetching.
    pub fn take_fetch(&mut self) -> Option<MetadataFetch> {
        let info_hash = self.info_hash();
        match std::mem::replace(self, Engine::Idle { info_hash }) {
            Engine::Fetching(fetch) => Some(*fetch),
            other => {
                *self = other;
                None
            }
        }
    }
}
