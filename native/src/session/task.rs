//! One torrent's task: owns the engine, feeds it events, carries its actions out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bitfleet_core::engine::{Action, PeerInfo, PeerKey, Torrent};
use bitfleet_core::tracker::AnnounceResponse;
use bitfleet_core::wire::BlockRef;
use bitfleet_core::PeerId;
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::announce::Announcer;
use super::clock::{now, to_tokio};
use super::Report;
use crate::net::{self, NetError, PeerConnection, PeerEvent, ShakenPeer};
use crate::storage::Storage;

/// How often progress is published.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// How long a stopping torrent waits for its `stopped` announce and in-flight writes.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// Everything that wakes a torrent's task.
#[derive(Debug)]
pub(super) enum Event {
    Shaken(ShakenPeer),
    DialFailed(SocketAddr, NetError),
    Peer(PeerEvent),
    BlockRead {
        peer: PeerKey,
        block: BlockRef,
        data: Option<Bytes>,
    },
    Verified {
        piece: u32,
        valid: bool,
    },
    Written {
        piece: u32,
        ok: bool,
    },
    Announced(Result<AnnounceResponse, String>),
}

impl From<PeerEvent> for Event {
    fn from(event: PeerEvent) -> Self {
        Event::Peer(event)
    }
}

pub(super) struct TorrentTask {
    pub torrent: Torrent,
    pub storage: Arc<Mutex<Storage>>,
    pub announcer: Announcer,
    pub peer_id: PeerId,
    /// Given to peer readers and the listener.
    pub events_tx: mpsc::Sender<Event>,
    pub events_rx: mpsc::Receiver<Event>,
    pub report: watch::Sender<Report>,
    pub peers: HashMap<PeerKey, PeerConnection>,
    pub next_key: u64,
    /// Dials, storage jobs and announces in flight; each ends in an event.
    pub work: JoinSet<Event>,
}

impl TorrentTask {
    pub async fn run(mut self, initial_peers: Vec<SocketAddr>, mut stop: oneshot::Receiver<()>) {
        self.torrent.start(now());
        self.torrent.add_addresses(&initial_peers, now());
        self.carry_out_actions();
        let mut report_tick = tokio::time::interval(REPORT_INTERVAL);
        loop {
            let deadline = self.torrent.poll_timeout().map(to_tokio);
            tokio::select! {
                Some(event) = self.events_rx.recv() => self.handle(event),
                Some(joined) = self.work.join_next() => match joined {
                    Ok(event) => self.handle(event),
                    Err(e) => tracing::error!(error = %e, "torrent job failed"),
                },
                () = sleep_until(deadline) => self.torrent.handle_timeout(now()),
                _ = report_tick.tick() => self.publish(),
                // A dropped handle stops the torrent too.
                _ = &mut stop => break,
            }
            self.carry_out_actions();
        }
        self.shut_down().await;
    }

    /// Stops the engine, lets the `stopped` announce and pending writes finish (bounded).
    async fn shut_down(&mut self) {
        self.torrent.stop(now());
        self.carry_out_actions();
        let drain = async {
            while let Some(joined) = self.work.join_next().await {
                if let Ok(Event::Announced(result)) = joined {
                    self.torrent.announce_result(result, now());
                }
            }
        };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            tracing::debug!("gave up waiting for the stopped announce");
        }
        self.peers.clear();
        self.publish();
    }

    fn handle(&mut self, event: Event) {
        let at = now();
        match event {
            Event::Shaken(peer) => self.admit(peer),
            Event::DialFailed(addr, e) => {
                tracing::debug!(%addr, error = %e, "dial failed");
                self.torrent.connect_failed(addr, at);
            }
            Event::Peer(PeerEvent::Data(key, data)) => {
                if self.peers.contains_key(&key) {
                    self.torrent.peer_data(key, &data, at);
                }
            }
            Event::Peer(PeerEvent::Written(key, bytes)) => {
                if self.peers.contains_key(&key) {
                    self.torrent.peer_written(key, bytes, at);
                }
            }
            Event::Peer(PeerEvent::Closed(key)) => {
                if self.peers.remove(&key).is_some() {
                    self.torrent.peer_closed(key, at);
                }
            }
            Event::BlockRead { peer, block, data } => {
                self.torrent.block_read(peer, block, data, at)
            }
            Event::Verified { piece, valid } => self.torrent.piece_verified(piece, valid, at),
            Event::Written { piece, ok } => self.torrent.piece_written(piece, ok, at),
            Event::Announced(result) => {
                if let (Err(e), true) = (&result, self.announcer.has_trackers()) {
                    tracing::warn!(error = %e, "announce failed");
                }
                self.torrent.announce_result(result, at);
            }
        }
    }

    /// Hands a shaken connection to the engine, which may refuse it.
    fn admit(&mut self, peer: ShakenPeer) {
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let info = PeerInfo {
            addr: Some(peer.addr),
            peer_id: peer.handshake.peer_id,
            supports_fast: peer.handshake.supports_fast(),
            supports_extensions: peer.handshake.supports_extensions(),
            outgoing: peer.outgoing,
        };
        if !self.torrent.peer_connected(key, info, now()) {
            tracing::debug!(addr = %peer.addr, "engine refused peer");
            return;
        }
        let connection = PeerConnection::spawn(key, peer.stream, self.events_tx.clone());
        self.peers.insert(key, connection);
    }

    fn carry_out_actions(&mut self) {
        while let Some(action) = self.torrent.poll_action() {
            self.carry_out(action);
        }
    }

    fn carry_out(&mut self, action: Action) {
        match action {
            Action::Send { peer, data } => {
                if let Some(connection) = self.peers.get(&peer) {
                    connection.send(data);
                }
            }
            Action::Disconnect { peer, reason } => {
                if self.peers.remove(&peer).is_some() {
                    tracing::debug!(?peer, ?reason, "disconnecting");
                    self.torrent.peer_closed(peer, now());
                }
            }
            Action::Connect { addr } => {
                let info_hash = self.torrent.info_hash();
                let peer_id = self.peer_id;
                self.work.spawn(async move {
                    match net::dial(addr, info_hash, peer_id).await {
                        Ok(peer) => Event::Shaken(peer),
                        Err(e) => Event::DialFailed(addr, e),
                    }
                });
            }
            Action::ReadBlock { peer, block } => {
                let storage = self.storage.clone();
                self.work.spawn_blocking(move || {
                    let read = lock(&storage).read_block(block.piece, block.begin, block.len);
                    let data = read
                        .inspect_err(|e| tracing::warn!(error = %e, "read failed"))
                        .ok();
                    Event::BlockRead { peer, block, data }
                });
            }
            Action::Verify { piece, data } => {
                let info = self.torrent.info().clone();
                self.work.spawn_blocking(move || Event::Verified {
                    piece,
                    valid: info.verify_piece(piece, &data),
                });
            }
            Action::Write { piece, data } => {
                let storage = self.storage.clone();
                self.work.spawn_blocking(move || {
                    let written = lock(&storage).write_piece(piece, &data);
                    let ok = written
                        .inspect_err(|e| tracing::error!(error = %e, "write failed"))
                        .is_ok();
                    Event::Written { piece, ok }
                });
            }
            Action::Announce { event, stats } => {
                let announcer = self.announcer.clone();
                self.work
                    .spawn(async move { Event::Announced(announcer.announce(event, stats).await) });
            }
            Action::MetadataReceived { .. } => {
                // Only a magnet link's metadata fetch emits it, never a torrent.
                tracing::debug!("ignoring metadata for a torrent that has it");
            }
            Action::Completed => {
                let status = self.torrent.status(now());
                self.report.send_modify(|report| {
                    report.status = status;
                    report.complete = true;
                });
            }
        }
    }

    fn publish(&self) {
        let status = self.torrent.status(now());
        self.report.send_modify(|report| report.status = status);
    }
}

fn lock(storage: &Mutex<Storage>) -> std::sync::MutexGuard<'_, Storage> {
    storage.lock().unwrap_or_else(PoisonError::into_inner)
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
