//! One torrent's task: owns the engine, feeds it events, carries its actions out.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bitfleet_core::engine::{Action, PeerInfo, PeerKey, WebSeedId};
use bitfleet_core::metainfo::{Info, Metainfo};
use bitfleet_core::span_reads::{Lookup, Span, SpanReads};
use bitfleet_core::tracker::AnnounceResponse;
use bitfleet_core::wire::BlockRef;
use bitfleet_core::{Bitfield, PeerId};
use bytes::Bytes;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinSet;

use super::announce::Announcer;
use super::browsers::BrowserTraffic;
use super::clock::{now, sleep_until, to_tokio};
use super::engine::Engine;
use super::resume::ResumeWriter;
use super::roaming::{self, NetworkWatch};
use super::web_seed;
use super::{random_seed, Prepare, Report};
use crate::net::{self, NetError, PeerConnection, PeerEvent, ShakenPeer};
use crate::rtc::{RtcAnnouncer, RtcPeer};
use crate::storage::Storage;

/// Longest stretch of a piece read at once for peers' requests: whole pieces (a piece is
/// hashed whole anyway, so it fits in memory).
const SPAN_LONGEST: u32 = u32::MAX;
/// Bytes of spans kept for serving (at least two spans whatever their size).
pub(super) const SPANS_KEPT: usize = 16 << 20;
/// How often progress is published.
const REPORT_INTERVAL: Duration = Duration::from_secs(1);
/// How long a stopping torrent waits for its `stopped` announce and in-flight writes.
const STOP_GRACE: Duration = Duration::from_secs(2);
/// How often resume data is saved while pieces arrive (and at the stop).
const RESUME_INTERVAL: Duration = Duration::from_secs(1);
/// How often the machine's addresses and routes are looked at (roaming).
const NETWORK_POLL: Duration = Duration::from_secs(2);

/// Everything that wakes a torrent's task.
pub(super) enum Event {
    Shaken(ShakenPeer),
    /// A WebRTC peer, handshakes exchanged over its data channel.
    RtcShaken(RtcPeer),
    DialFailed(SocketAddr, NetError),
    Peer(PeerEvent),
    /// A span read for serving peers' requests (`None`: the read failed).
    SpanRead {
        span: Span,
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
    /// A piece fetched from a web seed (BEP 19), or why not.
    WebSeedFetched {
        seed: WebSeedId,
        piece: u32,
        result: Result<Bytes, String>,
    },
    /// Peers found by Local Service Discovery.
    Discovered(Vec<SocketAddr>),
    ResumeSaved(Result<(), String>),
    /// Every piece is stored: the files were flushed and the resume data removed.
    CompletionSaved(Result<(), String>),
    /// A magnet link's torrent, parsed and with its storage checked.
    Prepared(Result<Box<Prepared>, String>),
    /// New caps of this torrent's own (bytes/s, `None`: unlimited).
    SetLimits {
        upload: Option<u64>,
        download: Option<u64>,
    },
    /// The session's global caps changed: transfers waiting for tokens look again.
    BudgetChanged,
}

pub(super) struct Prepared {
    metainfo: Metainfo,
    storage: Storage,
    have: Bitfield,
}

/// A torrent's data on disk, once its metadata is known.
pub(super) struct Data {
    pub info: Arc<Info>,
    pub storage: Arc<Mutex<Storage>>,
    /// Keeps the resume data current (`get` only).
    pub resume: Option<ResumeWriter>,
}

/// What a magnet link's fetch needs to become a torrent.
pub(super) struct MagnetPlan {
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    pub prepare: Prepare,
}

impl From<RtcPeer> for Event {
    fn from(peer: RtcPeer) -> Self {
        Event::RtcShaken(peer)
    }
}

impl From<PeerEvent> for Event {
    fn from(event: PeerEvent) -> Self {
        Event::Peer(event)
    }
}

pub(super) struct TorrentTask {
    pub engine: Engine,
    /// `None` while a magnet link's metadata is being fetched.
    pub data: Option<Data>,
    /// `Some` until a magnet link's metadata arrives.
    pub magnet: Option<MagnetPlan>,
    /// Keeps resume data in the download folder (`get`), once the data is known.
    pub keep_resume: bool,
    pub network: NetworkWatch,
    pub announcer: Announcer,
    /// Announces over the WebSocket tracker too, for WebRTC peers (`None`: TCP only).
    pub rtc: Option<RtcAnnouncer>,
    pub peer_id: PeerId,
    /// Given to peer readers and the listener.
    pub events_tx: mpsc::Sender<Event>,
    pub events_rx: mpsc::Receiver<Event>,
    pub report: watch::Sender<Report>,
    pub peers: HashMap<PeerKey, PeerConnection>,
    pub next_key: u64,
    /// Dials, storage jobs and announces in flight; each ends in an event.
    pub work: JoinSet<Event>,
    /// Pieces read for uploading, and requests waiting for them.
    pub reads: SpanReads,
    pub browsers: BrowserTraffic,
    /// Fetches pieces from web seeds.
    pub http: reqwest::Client,
}

impl TorrentTask {
    pub async fn run(mut self, initial_peers: Vec<SocketAddr>, mut stop: oneshot::Receiver<()>) {
        self.engine.start(now());
        self.engine.add_addresses(&initial_peers, now());
        for &peer in &initial_peers {
            self.network.remember(peer);
        }
        self.carry_out_actions();
        let mut report_tick = ticker(REPORT_INTERVAL);
        let mut resume_tick = ticker(RESUME_INTERVAL);
        let mut network_tick = ticker(NETWORK_POLL);
        loop {
            let deadline = self.engine.poll_timeout().map(to_tokio);
            tokio::select! {
                Some(event) = self.events_rx.recv() => self.handle(event),
                Some(joined) = self.work.join_next() => match joined {
                    Ok(event) => self.handle(event),
                    Err(e) => tracing::error!(error = %e, "torrent job failed"),
                },
                () = sleep_until(deadline) => self.engine.handle_timeout(now()),
                _ = report_tick.tick() => self.publish(),
                _ = resume_tick.tick() => self.save_resume(),
                _ = network_tick.tick() => self.check_network(),
                // A dropped handle stops the torrent too.
                _ = &mut stop => break,
            }
            if matches!(self.engine, Engine::Idle { .. }) {
                break; // the magnet link's metadata was unusable
            }
            self.carry_out_actions();
        }
        self.shut_down().await;
    }

    /// Stops the engine, lets the `stopped` announce and pending writes finish (bounded).
    async fn shut_down(&mut self) {
        self.engine.stop(now());
        self.carry_out_actions();
        let drain = async {
            while let Some(joined) = self.work.join_next().await {
                match joined {
                    Ok(Event::Announced(result)) => self.engine.announce_result(result, now()),
                    Ok(Event::Written { piece, ok }) => {
                        if let Some(resume) = self.resume() {
                            resume.write_finished(piece, ok);
                        }
                    }
                    Ok(Event::CompletionSaved(result)) => self.completion_saved(result),
                    _ => {}
                }
            }
        };
        if tokio::time::timeout(STOP_GRACE, drain).await.is_err() {
            tracing::debug!("gave up waiting for the stopped announce");
        }
        self.peers.clear();
        if let Some(resume) = self.resume() {
            let snapshot = resume.final_snapshot();
            match tokio::task::spawn_blocking(move || snapshot.save()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::warn!(error = %e, "saving resume data failed"),
                Err(e) => tracing::error!(error = %e, "resume save task failed"),
            }
        }
        self.publish();
    }

    fn resume(&mut self) -> Option<&mut ResumeWriter> {
        self.data.as_mut()?.resume.as_mut()
    }

    /// Starts a periodic save of the resume data if pieces were written since the last one.
    fn save_resume(&mut self) {
        if let Some(snapshot) = self.resume().and_then(ResumeWriter::snapshot_if_due) {
            self.work
                .spawn_blocking(move || Event::ResumeSaved(snapshot.save()));
        }
    }

    /// Drops connections whose local address the machine lost, and when it moved to another
    /// network, has the engine re-announce and redial at once.
    fn check_network(&mut self) {
        let at = now();
        // Many connections share a few local addresses: probe each address once.
        let mut lost = HashMap::new();
        let dead: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, c)| {
                c.local_addr().is_some_and(|local| {
                    *lost
                        .entry(local.ip())
                        .or_insert_with(|| !roaming::is_local(local))
                })
            })
            .map(|(key, _)| *key)
            .collect();
        for key in &dead {
            self.peers.remove(key);
            self.browsers.closed(*key);
            self.engine.peer_closed(*key, at);
        }
        if self.network.routes_changed() || !dead.is_empty() {
            tracing::info!(
                dropped = dead.len(),
                "network changed: re-announcing and redialing"
            );
            self.engine.network_changed(at);
        }
    }

    fn handle(&mut self, event: Event) {
        let at = now();
        match event {
            Event::Shaken(peer) => self.admit(peer),
            Event::RtcShaken(peer) => self.admit_rtc(peer),
            Event::DialFailed(addr, e) => {
                tracing::debug!(%addr, error = %e, "dial failed");
                self.engine.connect_failed(addr, at);
            }
            Event::Peer(PeerEvent::Data(key, data)) => {
                if self.peers.contains_key(&key) {
                    self.browsers.received(key, data.len());
                    self.engine.peer_data(key, &data, at);
                }
            }
            Event::Peer(PeerEvent::Written(key, bytes)) => {
                if self.peers.contains_key(&key) {
                    self.browsers.sent(key, bytes);
                    self.engine.peer_written(key, bytes, at);
                }
            }
            Event::Peer(PeerEvent::Closed(key)) => {
                if self.peers.remove(&key).is_some() {
                    self.browsers.closed(key);
                    self.engine.peer_closed(key, at);
                }
            }
            Event::SpanRead { span, data } => {
                for (peer, block, data) in self.reads.loaded(span, data) {
                    self.engine.block_read(peer, block, data, at);
                }
            }
            Event::Verified { piece, valid } => self.engine.piece_verified(piece, valid, at),
            Event::Written { piece, ok } => {
                if let Some(resume) = self.resume() {
                    resume.write_finished(piece, ok);
                }
                self.engine.piece_written(piece, ok, at);
            }
            Event::CompletionSaved(result) => self.completion_saved(result),
            Event::ResumeSaved(result) => {
                if let Some(resume) = self.resume() {
                    resume.saved(result);
                }
            }
            Event::Prepared(Ok(prepared)) => self.become_torrent(prepared),
            Event::Prepared(Err(e)) => {
                tracing::debug!(error = %e, "cannot start the magnet link's torrent");
                self.report.send_modify(|report| report.error = Some(e));
                self.engine.take_fetch();
            }
            Event::SetLimits { upload, download } => {
                self.engine.set_limits(upload, download, at);
            }
            Event::BudgetChanged => self.engine.handle_timeout(at),
            Event::Announced(result) => {
                if let (Err(e), true) = (&result, self.announcer.has_trackers()) {
                    tracing::warn!(error = %e, "announce failed");
                }
                self.engine.announce_result(result, at);
            }
            Event::WebSeedFetched {
                seed,
                piece,
                result,
            } => {
                if let Err(e) = &result {
                    tracing::info!(error = %e, piece, "web seed fetch failed");
                }
                self.engine.web_seed_fetched(seed, piece, result, at);
            }
            Event::Discovered(addrs) => self.engine.add_addresses(&addrs, at),
        }
    }

    /// Hands a shaken connection to the engine, which may refuse it.
    fn admit(&mut self, peer: ShakenPeer) {
        self.network.remember(peer.addr);
        let info = PeerInfo {
            addr: Some(peer.addr),
            peer_id: peer.handshake.peer_id,
            supports_fast: peer.handshake.supports_fast(),
            supports_extensions: peer.handshake.supports_extensions(),
            outgoing: peer.outgoing,
        };
        self.connect(info, |key, events| {
            PeerConnection::spawn(key, peer.stream, events)
        });
    }

    /// The same for a WebRTC peer: it has no address the engine could dial.
    fn admit_rtc(&mut self, peer: RtcPeer) {
        let info = PeerInfo {
            addr: None,
            peer_id: peer.handshake.peer_id,
            supports_fast: peer.handshake.supports_fast(),
            supports_extensions: peer.handshake.supports_extensions(),
            outgoing: peer.outgoing,
        };
        self.connect(info, |key, events| {
            PeerConnection::spawn_halves(key, peer.reader, peer.writer, None, events)
        });
    }

    fn connect(
        &mut self,
        info: PeerInfo,
        spawn: impl FnOnce(PeerKey, mpsc::Sender<Event>) -> PeerConnection,
    ) {
        let key = PeerKey(self.next_key);
        self.next_key += 1;
        let (addr, peer_id) = (info.addr, info.peer_id);
        if !self.engine.peer_connected(key, info, now()) {
            tracing::debug!(?addr, "engine refused peer");
            return;
        }
        self.browsers.connected(key, &peer_id);
        let connection = spawn(key, self.events_tx.clone());
        self.peers.insert(key, connection);
    }

    fn carry_out_actions(&mut self) {
        while let Some(action) = self.engine.poll_action() {
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
                    self.browsers.closed(peer);
                    tracing::debug!(?peer, ?reason, "disconnecting");
                    self.engine.peer_closed(peer, now());
                }
            }
            Action::Connect { addr } => {
                let info_hash = self.engine.info_hash();
                let peer_id = self.peer_id;
                self.work.spawn(async move {
                    match net::dial(addr, info_hash, peer_id).await {
                        Ok(peer) => Event::Shaken(peer),
                        Err(e) => Event::DialFailed(addr, e),
                    }
                });
            }
            // Storage actions come from a running torrent only, which always has its data.
            Action::ReadBlock { peer, block } => self.read_block(peer, block),
            Action::Verify { piece, data } => {
                let Some(info) = self.data.as_ref().map(|d| d.info.clone()) else {
                    return;
                };
                self.work.spawn_blocking(move || Event::Verified {
                    piece,
                    valid: info.verify_piece(piece, &data),
                });
            }
            Action::Write { piece, data } => {
                let Some(storage) = self.data.as_ref().map(|d| d.storage.clone()) else {
                    return;
                };
                if let Some(resume) = self.resume() {
                    resume.write_started();
                }
                self.work.spawn_blocking(move || {
                    let written = lock(&storage).write_piece(piece, &data);
                    let ok = written
                        .inspect_err(|e| tracing::error!(error = %e, "write failed"))
                        .is_ok();
                    Event::Written { piece, ok }
                });
            }
            Action::Announce { event, stats } => {
                if let Some(rtc) = &self.rtc {
                    rtc.announce(event, stats.left);
                }
                let call = self.announcer.announce_in_order(event, stats);
                self.work.spawn(async move { Event::Announced(call.await) });
            }
            Action::FetchWebSeed {
                seed,
                piece,
                ranges,
            } => {
                let client = self.http.clone();
                self.work.spawn(async move {
                    let result = web_seed::fetch(&client, &ranges).await;
                    Event::WebSeedFetched {
                        seed,
                        piece,
                        result,
                    }
                });
            }
            Action::MetadataReceived { info } => self.prepare(info),
            // Complete means stored: with resume data kept, once the files are flushed.
            Action::Completed => match self.resume().map(ResumeWriter::completion_snapshot) {
                Some(snapshot) => {
                    self.work
                        .spawn_blocking(move || Event::CompletionSaved(snapshot.save()));
                }
                None => self.report_complete(),
            },
        }
    }

    /// Answers a peer's request from its span, read on a blocking thread first unless kept.
    fn read_block(&mut self, peer: PeerKey, block: BlockRef) {
        // Storage actions come from a running torrent only, which always has its data.
        let Some(data) = self.data.as_ref() else {
            return;
        };
        let Some(span) = Span::of(&data.info, &block, SPAN_LONGEST) else {
            // Outside the payload: a request the engine would not have let through.
            return self.engine.block_read(peer, block, None, now());
        };
        match self.reads.request(span, peer, block) {
            Lookup::Ready(bytes) => self.engine.block_read(peer, block, Some(bytes), now()),
            Lookup::Waiting => {}
            Lookup::Start => {
                let storage = data.storage.clone();
                self.work.spawn_blocking(move || {
                    let read = lock(&storage).read_block(span.piece, span.begin, span.len);
                    let data = read
                        .inspect_err(|e| tracing::warn!(error = %e, "read failed"))
                        .ok();
                    Event::SpanRead { span, data }
                });
            }
        }
    }

    fn completion_saved(&mut self, result: Result<(), String>) {
        if let Err(e) = result {
            tracing::warn!(error = %e, "flushing the finished download failed");
        }
        self.report_complete();
    }

    fn report_complete(&self) {
        let status = self.engine.status(now());
        self.report.send_modify(|report| {
            report.status = status;
            report.complete = true;
        });
    }

    /// Parses fetched metadata and opens the torrent's storage, off the task.
    fn prepare(&mut self, metadata: Bytes) {
        let Some(plan) = self.magnet.take() else {
            return; // a second copy; the first is being prepared
        };
        self.work.spawn_blocking(move || {
            let prepared = Metainfo::from_info_dict(&metadata, &plan.trackers, &plan.web_seeds)
                .map_err(|e| format!("the peers' metadata is not a valid torrent: {e}"))
                .and_then(|metainfo| {
                    let (storage, have) = (plan.prepare)(&metainfo)?;
                    Ok(Box::new(Prepared {
                        metainfo,
                        storage,
                        have,
                    }))
                });
            Event::Prepared(prepared)
        });
    }

    /// The fetch hands its connections to the magnet link's torrent.
    fn become_torrent(&mut self, prepared: Box<Prepared>) {
        let Some(fetch) = self.engine.take_fetch() else {
            return;
        };
        let Prepared {
            metainfo,
            storage,
            have,
        } = *prepared;
        let info = storage.info().clone();
        let metadata = Bytes::from(metainfo.info_bytes.clone());
        let resume = self.keep_resume.then(|| {
            ResumeWriter::new(
                info.clone(),
                storage.layout().clone(),
                metainfo.info_hash,
                have.clone(),
                &have,
            )
        });
        let mut torrent = fetch.into_torrent(info.clone(), metadata, have, random_seed(), now());
        super::add_web_seeds(&mut torrent, &metainfo.url_list);
        self.engine = Engine::Running(Box::new(torrent));
        self.data = Some(Data {
            info,
            storage: Arc::new(Mutex::new(storage)),
            resume,
        });
        self.report
            .send_modify(|report| report.metainfo = Some(Arc::new(metainfo)));
    }

    fn publish(&self) {
        let status = self.engine.status(now());
        let browsers = self.browsers.bytes;
        self.report.send_modify(|report| {
            report.status = status;
            report.browsers = browsers;
        });
    }
}

fn lock(storage: &Mutex<Storage>) -> std::sync::MutexGuard<'_, Storage> {
    storage.lock().unwrap_or_else(PoisonError::into_inner)
}

fn ticker(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}
