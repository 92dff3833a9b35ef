//! The torrent state machine: one `Torrent` per torrent, driven by events, emitting actions.
//!
//! A driver (tokio in `native`, the browser in `wasm`, the simulator) owns the connections and
//! the storage. It tells the torrent what happened (`peer_connected`, `peer_data`,
//! `piece_verified`, `handle_timeout`, …) and then drains `poll_action` until `None`, carrying
//! each action out. `poll_timeout` says when to call `handle_timeout` next.
//!
//! Peers are driver-assigned [`PeerKey`]s. The handshake is done by the driver (it must read the
//! info-hash to route an incoming connection to its torrent), so a peer arrives already shaken.
// OWNER: lead. API fixed by the scaffold; implementation to follow.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use crate::metainfo::Info;
use crate::tracker::{AnnounceEvent, AnnounceResponse};
use crate::wire::BlockRef;
use crate::{Bitfield, InfoHash, Instant, PeerId};

/// A driver's handle for one connection; unique for the torrent's lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerKey(pub u64);

/// What the driver knows of a freshly shaken peer.
#[derive(Debug, Clone)]
pub struct PeerInfo {
    /// Remote address when the transport has one (TCP); WebRTC peers may have none.
    pub addr: Option<SocketAddr>,
    pub peer_id: PeerId,
    pub supports_fast: bool,
    pub supports_extensions: bool,
    /// We dialed them.
    pub outgoing: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub peer_id: PeerId,
    /// Port we accept peers on, announced to trackers and in the extension handshake.
    pub listen_port: u16,
    /// Connections the torrent keeps at most (dials stop there).
    pub max_peers: usize,
    /// Dials in flight at once.
    pub max_pending_connects: usize,
    /// Regular unchoke slots (tit-for-tat by rate); one more is the optimistic unchoke.
    pub unchoke_slots: usize,
    pub rechoke_interval: Duration,
    pub optimistic_interval: Duration,
    /// A peer that sent nothing we asked for this long is snubbed.
    pub snub_timeout: Duration,
    /// Upload cap in bytes/s; `None` is unlimited.
    pub upload_limit: Option<u64>,
    /// Download cap in bytes/s; `None` is unlimited.
    pub download_limit: Option<u64>,
    /// Keep serving others once complete.
    pub seed_when_complete: bool,
    /// Client name sent in the extension handshake.
    pub client_name: String,
}

impl Config {
    pub fn new(peer_id: PeerId, listen_port: u16) -> Self {
        Self {
            peer_id,
            listen_port,
            max_peers: 60,
            max_pending_connects: 10,
            unchoke_slots: 4,
            rechoke_interval: Duration::from_secs(10),
            optimistic_interval: Duration::from_secs(30),
            snub_timeout: Duration::from_secs(30),
            upload_limit: None,
            download_limit: None,
            seed_when_complete: true,
            client_name: concat!("Bitfleet ", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectReason {
    Protocol,
    NotUseful,
    Timeout,
    TooManyPeers,
    TooManyHashFailures,
    Shutdown,
}

/// Work the driver must carry out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Write these bytes to the peer's connection, in order.
    Send { peer: PeerKey, data: Bytes },
    /// Close the connection; the driver then calls `peer_closed`.
    Disconnect { peer: PeerKey, reason: DisconnectReason },
    /// Dial this address, handshake, then `peer_connected` (or `connect_failed`).
    Connect { addr: SocketAddr },
    /// Read a block from storage for this peer, then `block_read`.
    ReadBlock { peer: PeerKey, block: BlockRef },
    /// Hash a complete piece, then `piece_verified`. Nothing of it has touched storage yet.
    Verify { piece: u32, data: Bytes },
    /// Store a verified piece, then `piece_written`.
    Write { piece: u32, data: Bytes },
    /// Announce to the trackers, then `announce_result`.
    Announce { event: Option<AnnounceEvent>, stats: TransferStats },
    /// Every piece is verified and stored.
    Completed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TransferStats {
    /// Payload bytes sent to peers.
    pub uploaded: u64,
    /// Payload bytes received from peers (including discarded ones).
    pub downloaded: u64,
    /// Bytes still missing.
    pub left: u64,
}

/// A snapshot for progress displays.
#[derive(Debug, Clone, Default)]
pub struct Status {
    pub transfer: TransferStats,
    pub pieces_have: u32,
    pub pieces_total: u32,
    pub peers: usize,
    /// Bytes/s over the last few seconds.
    pub upload_rate: u64,
    pub download_rate: u64,
    pub hash_failures: u32,
    /// Bytes received that were thrown away (duplicates in endgame, failed pieces).
    pub wasted: u64,
}

pub struct Torrent {}

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
        let _ = (info, info_hash, have, config, rng_seed, now);
        todo!("lead")
    }

    /// Starts the torrent: the first announce, and dials of any known addresses.
    pub fn start(&mut self, now: Instant) {
        let _ = now;
        todo!("lead")
    }
    /// Stops gracefully: a `stopped` announce, all peers closed.
    pub fn stop(&mut self, now: Instant) {
        let _ = now;
        todo!("lead")
    }

    /// Candidate addresses (tracker, LSD, `--peer`); the torrent dials as it sees fit.
    pub fn add_addresses(&mut self, addrs: &[SocketAddr], now: Instant) {
        let _ = (addrs, now);
        todo!("lead")
    }
    pub fn announce_result(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        let _ = (result, now);
        todo!("lead")
    }
    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        let _ = (addr, now);
        todo!("lead")
    }
    /// A handshaken peer. Returns false (and the driver should close it) when refused.
    pub fn peer_connected(&mut self, peer: PeerKey, info: PeerInfo, now: Instant) -> bool {
        let _ = (peer, info, now);
        todo!("lead")
    }
    /// Bytes the peer sent after its handshake.
    pub fn peer_data(&mut self, peer: PeerKey, data: &[u8], now: Instant) {
        let _ = (peer, data, now);
        todo!("lead")
    }
    pub fn peer_closed(&mut self, peer: PeerKey, now: Instant) {
        let _ = (peer, now);
        todo!("lead")
    }
    /// Storage answered a `ReadBlock`; `None` when it could not read.
    pub fn block_read(&mut self, peer: PeerKey, block: BlockRef, data: Option<Bytes>, now: Instant) {
        let _ = (peer, block, data, now);
        todo!("lead")
    }
    pub fn piece_verified(&mut self, piece: u32, valid: bool, now: Instant) {
        let _ = (piece, valid, now);
        todo!("lead")
    }
    /// Storage answered a `Write`; `false` when it failed (the piece is fetched again).
    pub fn piece_written(&mut self, piece: u32, ok: bool, now: Instant) {
        let _ = (piece, ok, now);
        todo!("lead")
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = now;
        todo!("lead")
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        todo!("lead")
    }
    pub fn poll_action(&mut self) -> Option<Action> {
        todo!("lead")
    }

    pub fn status(&self, now: Instant) -> Status {
        let _ = now;
        todo!("lead")
    }
    pub fn have(&self) -> &Bitfield {
        todo!("lead")
    }
    pub fn is_complete(&self) -> bool {
        todo!("lead")
    }
    pub fn info(&self) -> &Arc<Info> {
        todo!("lead")
    }
    pub fn info_hash(&self) -> InfoHash {
        todo!("lead")
    }
    /// Changes the caps at run time.
    pub fn set_limits(&mut self, upload: Option<u64>, download: Option<u64>, now: Instant) {
        let _ = (upload, download, now);
        todo!("lead")
    }
}
