//! One torrent in the browser: the sans-IO engine, and everything it asks for carried out with
//! browser APIs — peers over WebRTC data channels ([`conns`]), the WebSocket tracker
//! ([`signaling`]), timers, hashing in wasm, and storage ([`crate::storage`]).
//!
//! A driver lives in an `Rc<RefCell<_>>`. Browser callbacks and finished futures borrow it
//! briefly from the microtask queue (never across an `await`), feed the engine, and `pump` its
//! actions.

mod conns;
mod engine;
mod events;
mod rtc;
mod signaling;
mod web_seed;

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::engine::{Action, Config, MetadataFetch, PeerKey, Torrent};
use bitfleet_core::metainfo::{Info, Metainfo};
use bitfleet_core::span_reads::{Lookup, Span, SpanReads};
use bitfleet_core::tracker::ws::OfferId;
use bitfleet_core::wire::BlockRef;
use bitfleet_core::{Bitfield, InfoHash, Instant};
use bytes::Bytes;
use js_sys::{Array, Function, Object};
use wasm_bindgen::JsValue;

use crate::js::{self, Timeout};
use crate::page::Page;
use crate::storage::{Store, StoreError};

use conns::Conn;
use engine::Engine;
use events::Listeners;
use signaling::{Announcer, TrackerSocket};

pub type DriverRef = Rc<RefCell<Driver>>;

/// Longest stretch of the payload read at once for peers' requests: a `Blob` slice or an OPFS
/// read of this much is one round trip (a `Blob` slice alone costs the page's main thread
/// ~0.4 ms), and a peer asks for a piece's blocks, and for pieces, one after another.
const SPAN_LONGEST: u32 = 1 << 20;
/// Bytes of spans kept for serving: a few peers' current pieces.
const SPANS_KEPT: usize = 8 << 20;
/// How often progress is reported.
const HOUSEKEEPING: Duration = Duration::from_secs(1);

/// What is known once the metadata is in.
pub struct Payload {
    pub metainfo: Metainfo,
    pub info: Arc<Info>,
    pub store: Rc<Store>,
}

pub struct Driver {
    me: Weak<RefCell<Driver>>,
    page: Rc<Page>,
    info_hash: InfoHash,
    engine: Engine,
    payload: Option<Payload>,
    /// A magnet's trackers, for the torrent built from the fetched metadata.
    magnet_trackers: Vec<String>,
    conns: BTreeMap<PeerKey, Conn>,
    offers: BTreeMap<OfferId, PeerKey>,
    /// Storage reads for peers' requests, a span at a time.
    reads: SpanReads,
    tracker: Option<TrackerSocket>,
    timer: Option<(Instant, Timeout)>,
    /// Sends smaller than a message, waiting a moment to go out together (see `send`).
    small_sends: Option<Timeout>,
    next_housekeeping: Instant,
    listeners: Listeners,
    next_key: u64,
    /// The tracker's last counts: (seeds, leechers).
    swarm: (u32, u32),
    stopped: bool,
}

impl Driver {
    /// Runs a torrent whose payload is known (a .torrent, or a file being seeded).
    pub fn with_payload(page: Rc<Page>, payload: Payload, have: Bitfield) -> DriverRef {
        let now = js::now();
        let info_hash = payload.metainfo.info_hash;
        let mut torrent = Torrent::new(
            Arc::clone(&payload.info),
            info_hash,
            have,
            engine_config(&page, Some(&payload.metainfo)),
            page.random_u64(),
            now,
        );
        for url in &payload.metainfo.url_list {
            torrent.add_web_seed(url, now);
        }
        let tracker = tracker_url(&page, &payload.metainfo.trackers());
        Self::spawn(
            page,
            info_hash,
            Engine::Run(Box::new(torrent)),
            Some(payload),
            tracker,
            Vec::new(),
        )
    }

    /// Fetches a magnet link's metadata from peers, then runs its torrent.
    pub fn with_magnet(page: Rc<Page>, info_hash: InfoHash, trackers: Vec<String>) -> DriverRef {
        let fetch = MetadataFetch::new(info_hash, engine_config(&page, None), js::now());
        let tracker = tracker_url(&page, &trackers);
        Self::spawn(
            page,
            info_hash,
            Engine::Fetch(Box::new(fetch)),
            None,
            tracker,
            trackers,
        )
    }

    fn spawn(
        page: Rc<Page>,
        info_hash: InfoHash,
        engine: Engine,
        payload: Option<Payload>,
        tracker: Option<String>,
        magnet_trackers: Vec<String>,
    ) -> DriverRef {
        let now = js::now();
        let driver = Rc::new_cyclic(|me| {
            RefCell::new(Self {
                me: me.clone(),
                page,
                info_hash,
                engine,
                payload,
                magnet_trackers,
                conns: BTreeMap::new(),
                offers: BTreeMap::new(),
                reads: SpanReads::new(SPANS_KEPT),
                tracker: tracker.map(TrackerSocket::new),
                timer: None,
                small_sends: None,
                next_housekeeping: now,
                listeners: Listeners::default(),
                next_key: 0,
                swarm: (0, 0),
                stopped: false,
            })
        });
        {
            let mut this = driver.borrow_mut();
            this.engine.start(now);
            this.pump();
        }
        driver
    }

    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    pub fn payload(&self) -> Option<&Payload> {
        self.payload.as_ref()
    }

    pub fn on(&mut self, event: &str, listener: Function) {
        self.listeners.add(event, listener);
    }

    /// Stops: a `stopped` announce, every connection closed, no more timers.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.engine.stop(js::now());
        self.pump();
        self.stopped = true;
        self.conns.clear();
        self.offers.clear();
        self.timer = None;
        self.small_sends = None;
        // The `stopped` announce just queued on the socket still goes out before it closes.
        self.tracker = None;
    }

    /// Carries out everything the engine asked for, then rearms the timer.
    fn pump(&mut self) {
        let now = js::now();
        while let Some(action) = self.engine.poll_action() {
            self.carry_out(action, now);
        }
        if !self.stopped {
            self.rearm(now);
        }
    }

    fn carry_out(&mut self, action: Action, now: Instant) {
        match action {
            Action::Send { peer, data } => self.send(peer, data, now),
            Action::Disconnect { peer, .. } => self.close(peer, now),
            // Browsers cannot dial addresses (a magnet's `x.pe`); peers come through the tracker.
            Action::Connect { addr } => self.engine.connect_failed(addr, now),
            Action::ReadBlock { peer, block } => self.read_block(peer, block, now),
            Action::Verify { piece, data } => {
                if let Some(torrent) = self.engine.torrent_mut() {
                    let valid = torrent.info().verify_piece(piece, &data);
                    torrent.piece_verified(piece, valid, now);
                }
            }
            Action::Write { piece, data } => self.write_piece(piece, data),
            Action::Announce { event, stats } => self.announce(event, stats, Announcer::Engine),
            Action::Completed => {
                self.listeners.emit("done", self.status_object(now));
            }
            Action::FetchWebSeed {
                seed,
                piece,
                ranges,
            } => self.after(
                async move { web_seed::fetch(&ranges).await },
                move |this, fetched, now| {
                    if let Err(err) = &fetched {
                        web_sys::console::warn_1(&JsValue::from_str(err));
                    }
                    if let Some(torrent) = this.engine.torrent_mut() {
                        torrent.web_seed_fetched(seed, piece, fetched, now);
                    }
                },
            ),
            Action::MetadataReceived { info } => self.metadata_received(info),
        }
    }

    /// Answers a peer's request from its span, read from storage first unless kept.
    fn read_block(&mut self, peer: PeerKey, block: BlockRef, now: Instant) {
        let Some(payload) = &self.payload else {
            return;
        };
        let info = Arc::clone(&payload.info);
        let store = Rc::clone(&payload.store);
        let Some(torrent) = self.engine.torrent() else {
            return;
        };
        let Some(span) = Span::across(&info, &block, SPAN_LONGEST, torrent.have()) else {
            // Across two spans (or out of bounds, which storage refuses): read it alone.
            let offset =
                u64::from(block.piece) * u64::from(info.piece_length) + u64::from(block.begin);
            return self.after(
                async move { store.read(offset, block.len).await.ok() },
                move |this, data, now| this.block_read(peer, block, data, now),
            );
        };
        match self.reads.request(span, peer, block) {
            Lookup::Ready(data) => self.block_read(peer, block, Some(data), now),
            Lookup::Waiting => {}
            Lookup::Start => self.after(
                async move { store.read(span.offset(&info), span.len).await.ok() },
                move |this, data, now| {
                    for (peer, block, data) in this.reads.loaded(span, data) {
                        this.block_read(peer, block, data, now);
                    }
                },
            ),
        }
    }

    fn block_read(&mut self, peer: PeerKey, block: BlockRef, data: Option<Bytes>, now: Instant) {
        if let Some(torrent) = self.engine.torrent_mut() {
            torrent.block_read(peer, block, data, now);
        }
    }

    fn write_piece(&mut self, piece: u32, data: Bytes) {
        let Some(payload) = &self.payload else {
            return;
        };
        let offset = u64::from(piece) * u64::from(payload.info.piece_length);
        let store = Rc::clone(&payload.store);
        self.after(
            async move { store.write(offset, &data).await },
            move |this, written, now| {
                if let Err(err) = &written {
                    this.listeners
                        .emit("error", JsValue::from_str(&err.to_string()));
                }
                if let Some(torrent) = this.engine.torrent_mut() {
                    torrent.piece_written(piece, written.is_ok(), now);
                }
            },
        );
    }

    /// The fetch has the info dictionary: open storage for it, then hand over to a torrent.
    fn metadata_received(&mut self, info_bytes: Bytes) {
        let metainfo = match Metainfo::from_info_dict(&info_bytes, &self.magnet_trackers, &[]) {
            Ok(metainfo) => metainfo,
            Err(err) => {
                let message = format!("the swarm's metadata is unusable: {err}");
                self.listeners.emit("error", JsValue::from_str(&message));
                return;
            }
        };
        let name = self.info_hash.to_hex();
        let length = metainfo.info.total_length();
        let info = Arc::new(metainfo.info.clone());
        self.after(
            async move {
                let store = Store::for_download(&name, length).await?;
                let have = store.check(&info).await;
                Ok::<_, StoreError>((store, have))
            },
            move |this, opened, now| match opened {
                Ok((store, have)) => this.become_torrent(metainfo, info_bytes, store, have, now),
                Err(err) => this
                    .listeners
                    .emit("error", JsValue::from_str(&err.to_string())),
            },
        );
    }

    fn become_torrent(
        &mut self,
        metainfo: Metainfo,
        info_bytes: Bytes,
        store: Store,
        have: Bitfield,
        now: Instant,
    ) {
        // The fetch must have carried out all it asked for before it hands over.
        while let Some(action) = self.engine.poll_action() {
            self.carry_out(action, now);
        }
        let info = Arc::new(metainfo.info.clone());
        let engine = std::mem::replace(&mut self.engine, Engine::Switching);
        self.engine = match engine {
            Engine::Fetch(fetch) => {
                let seed = self.page.random_u64();
                Engine::Run(Box::new(fetch.into_torrent(
                    Arc::clone(&info),
                    info_bytes,
                    have,
                    seed,
                    now,
                )))
            }
            other => other,
        };
        self.payload = Some(Payload {
            metainfo,
            info,
            store: Rc::new(store),
        });
        self.listeners.emit("metadata", self.describe());
    }

    /// Runs `work`, then `then` with its output on the driver (if it still runs) and pumps.
    fn after<T: 'static>(
        &self,
        work: impl std::future::Future<Output = T> + 'static,
        then: impl FnOnce(&mut Driver, T, Instant) + 'static,
    ) {
        let me = self.me.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let output = work.await;
            if let Some(driver) = me.upgrade() {
                let mut this = driver.borrow_mut();
                if !this.stopped {
                    then(&mut this, output, js::now());
                    this.pump();
                }
            }
        });
    }

    fn rearm(&mut self, now: Instant) {
        let deadline = self
            .engine
            .poll_timeout()
            .map_or(self.next_housekeeping, |at| at.min(self.next_housekeeping));
        // A timer due no later stays: it fires early at worst, and `on_timer` rearms. Making a
        // new `setTimeout` on every event (every data-channel message) costs more than that.
        if self.timer.as_ref().is_some_and(|(at, _)| *at <= deadline) {
            return;
        }
        match self.timeout(deadline.saturating_since(now), Self::on_timer) {
            Ok(timeout) => self.timer = Some((deadline, timeout)),
            Err(err) => self.listeners.emit("error", err),
        }
    }

    /// A `setTimeout` that runs `on` on the driver after `delay`, unless it stopped meanwhile.
    fn timeout(&self, delay: Duration, on: fn(&mut Driver)) -> Result<Timeout, JsValue> {
        let me = self.me.clone();
        Timeout::new(delay, move || {
            if let Some(driver) = me.upgrade() {
                let mut this = driver.borrow_mut();
                if !this.stopped {
                    on(&mut this);
                }
            }
        })
    }

    fn on_timer(&mut self) {
        self.timer = None;
        let now = js::now();
        if self.engine.poll_timeout().is_some_and(|at| at <= now) {
            self.engine.handle_timeout(now);
        }
        if self.next_housekeeping <= now {
            self.next_housekeeping = now + HOUSEKEEPING;
            self.listeners.emit("progress", self.status_object(now));
        }
        self.pump();
    }

    /// A plain object for progress displays.
    pub fn status_object(&self, now: Instant) -> Object {
        let status = self.engine.status(now);
        let total = self
            .payload
            .as_ref()
            .map_or(0, |payload| payload.info.total_length());
        let num = |n: u64| JsValue::from_f64(n as f64);
        js::object(&[
            ("infoHash", self.info_hash.to_hex().into()),
            ("length", num(total)),
            ("have", status.pieces_have.into()),
            ("pieces", status.pieces_total.into()),
            ("downloaded", num(status.transfer.downloaded)),
            ("uploaded", num(status.transfer.uploaded)),
            ("left", num(status.transfer.left)),
            ("downRate", num(status.download_rate)),
            ("upRate", num(status.upload_rate)),
            ("peers", num(status.peers as u64)),
            ("hashFailures", status.hash_failures.into()),
            ("swarmSeeds", self.swarm.0.into()),
            ("swarmLeechers", self.swarm.1.into()),
            ("metadata", self.payload.is_some().into()),
            (
                "done",
                self.engine
                    .torrent()
                    .is_some_and(Torrent::is_complete)
                    .into(),
            ),
        ])
    }

    /// Name, size and files, once known.
    pub fn describe(&self) -> Object {
        let Some(payload) = &self.payload else {
            return js::object(&[("infoHash", self.info_hash.to_hex().into())]);
        };
        let files: Array = payload
            .info
            .files
            .iter()
            .filter(|file| !file.pad)
            .map(|file| {
                JsValue::from(js::object(&[
                    ("path", file.path.join("/").into()),
                    ("length", JsValue::from_f64(file.length as f64)),
                    ("offset", JsValue::from_f64(file.offset as f64)),
                ]))
            })
            .collect();
        js::object(&[
            ("infoHash", self.info_hash.to_hex().into()),
            ("name", payload.info.name.as_str().into()),
            (
                "length",
                JsValue::from_f64(payload.info.total_length() as f64),
            ),
            ("files", files.into()),
        ])
    }

    pub fn peers_array(&self) -> Array {
        self.conns
            .iter()
            .filter_map(|(key, conn)| conn.describe(*key))
            .map(JsValue::from)
            .collect()
    }

    fn new_key(&mut self) -> PeerKey {
        self.next_key += 1;
        PeerKey(self.next_key)
    }
}

fn engine_config(page: &Page, metainfo: Option<&Metainfo>) -> Config {
    let mut config = Config::new(page.peer_id, 0);
    config.max_peers = page.max_per_torrent;
    config.client_name = concat!("Bitfleet Web ", env!("CARGO_PKG_VERSION")).to_owned();
    config.metadata = metainfo.map(|m| Bytes::from(m.info_bytes.clone()));
    config
}

/// The WebSocket tracker a torrent uses: the page's override, else its own.
fn tracker_url(page: &Page, trackers: &[String]) -> Option<String> {
    page.trackers
        .first()
        .cloned()
        .or_else(|| {
            trackers
                .iter()
                .find_map(|url| crate::page::websocket_tracker(url))
        })
        .or_else(crate::page::default_tracker)
}
