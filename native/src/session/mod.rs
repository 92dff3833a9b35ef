//! The tokio driver of the sans-IO engine. A `Session` is one process's peer listener, shared
//! by all its torrents; each torrent runs in its own task that owns the engine's `Torrent`.

mod announce;
mod browsers;
pub(crate) mod clock;
mod engine;
mod listener;
mod lsd;
mod resume;
mod roaming;
mod task;
mod web_seed;

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, PoisonError, RwLock};

use bitfleet_core::budget::{Limits, SessionBudget};
use bitfleet_core::engine::{Config, MetadataFetch, Status, Torrent};
use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::span_reads::SpanReads;
use bitfleet_core::wire::BLOCK_SIZE;
use bitfleet_core::{Bitfield, InfoHash, PeerId};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use announce::http_client;
use announce::Announcer;
pub use browsers::BrowserBytes;
use engine::Engine;
use resume::ResumeWriter;
use roaming::NetworkWatch;
use task::{Data, Event, MagnetPlan, TorrentTask};

use crate::rtc::{self, Rtc, RtcAnnouncer};
use crate::storage::Storage;

/// Events queued per torrent before peer readers wait (backpressure on fast peers).
const EVENT_QUEUE: usize = 1024;

/// Torrent-specific settings; the session supplies peer id, port and global caps.
#[derive(Debug, Clone, Default)]
pub struct TorrentOptions {
    /// This torrent's own caps, on top of the session's global ones.
    pub upload_limit: Option<u64>,
    pub download_limit: Option<u64>,
    /// Keep serving others once complete.
    pub seed_when_complete: bool,
    /// Addresses to try at once (`--peer`).
    pub peers: Vec<SocketAddr>,
    /// Keep resume data next to the download (see `storage::resume`) as pieces are written.
    pub keep_resume: bool,
    /// The pieces of `have` a check found on disk rather than resume data listing them (they
    /// may not be flushed yet); `None`: all of them.
    pub found_on_disk: Option<Bitfield>,
    /// Our LAN's networks: peers there are preferred (see `Config::local_networks`).
    pub local_networks: Vec<ipnet::IpNet>,
    /// Connections the torrent keeps at most; `None`: the engine's default.
    pub max_peers: Option<usize>,
}

/// What progress displays see of a running torrent.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Known from the start, or once a magnet link's metadata arrived.
    pub metainfo: Option<Arc<Metainfo>>,
    pub status: Status,
    /// Every piece is verified and stored.
    pub complete: bool,
    /// Why the torrent gave up (a magnet link whose torrent could not be stored).
    pub error: Option<String>,
    /// The part of the traffic exchanged with browser peers.
    pub browsers: BrowserBytes,
}

/// Turns a magnet link's torrent, once known, into its storage and the pieces already there.
/// Runs on a blocking thread.
pub type Prepare = Box<dyn FnOnce(&Metainfo) -> Result<(Storage, Bitfield), String> + Send>;

/// Routes incoming connections (and peers found on the LAN) to their torrent by info-hash.
#[derive(Default)]
struct Router {
    torrents: RwLock<HashMap<InfoHash, Route>>,
}

struct Route {
    events: mpsc::Sender<Event>,
    /// Not private (BEP 27): may be announced and joined through Local Service Discovery.
    discoverable: bool,
}

impl Router {
    fn get(&self, info_hash: &InfoHash) -> Option<mpsc::Sender<Event>> {
        self.torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(info_hash)
            .map(|route| route.events.clone())
    }
    fn insert(&self, info_hash: InfoHash, route: Route) {
        self.torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(info_hash, route);
    }
    /// The torrents Local Service Discovery may announce, and hand LAN peers to.
    fn discoverable(&self) -> Vec<InfoHash> {
        self.torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, route)| route.discoverable)
            .map(|(info_hash, _)| *info_hash)
            .collect()
    }
    fn all(&self) -> Vec<mpsc::Sender<Event>> {
        self.torrents
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .values()
            .map(|route| route.events.clone())
            .collect()
    }
    fn remove(&self, info_hash: &InfoHash) {
        self.torrents
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(info_hash);
    }
}

pub struct Session {
    peer_id: PeerId,
    port: u16,
    bind: IpAddr,
    /// WebRTC peers too, through each torrent's WebSocket tracker (see `enable_webrtc`).
    rtc: Option<Arc<Rtc>>,
    router: Arc<Router>,
    accept: JoinHandle<()>,
    /// Global caps all torrents draw from.
    budget: SessionBudget,
    discovery: Option<JoinHandle<()>>,
}

impl Session {
    /// Binds the peer listener (port 0 picks a free one) and starts accepting.
    pub async fn bind(addr: SocketAddr) -> io::Result<Session> {
        let listener = TcpListener::bind(addr).await?;
        let port = listener.local_addr()?.port();
        let peer_id = PeerId::generate(random_seed());
        let router = Arc::new(Router::default());
        let accept = tokio::spawn(listener::accept_loop(listener, router.clone(), peer_id));
        // Buckets hold a few blocks at least so a low cap still lets whole blocks through.
        let budget = SessionBudget::new(Limits::default(), 4 * BLOCK_SIZE as u64, clock::now());
        Ok(Session {
            peer_id,
            port,
            bind: addr.ip(),
            rtc: None,
            router,
            accept,
            budget,
            discovery: None,
        })
    }

    /// The caps shared by all torrents (`None`: unlimited).
    pub fn global_limits(&self) -> Limits {
        self.budget.limits()
    }

    /// Changes the global caps; running torrents follow at once.
    pub fn set_global_limits(&self, limits: Limits) {
        self.budget.set_limits(limits, clock::now());
        for torrent in self.router.all() {
            // A full queue means the task is busy and will look at its caps soon anyway.
            let _ = torrent.try_send(Event::BudgetChanged);
        }
    }

    /// Torrents added from now on also announce to the WebSocket tracker beside their first
    /// http tracker (`ws://HOST/announce`, same peer id: the tracker sees one peer) and take
    /// WebRTC peers, browsers among them.
    pub fn enable_webrtc(&mut self) {
        self.rtc = Some(Arc::new(Rtc::new(self.bind)));
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Starts Local Service Discovery (BEP 14): the session's torrents are announced on the
    /// LAN, and peers announcing them there are dialed. Without it only trackers and
    /// `--peer` find peers.
    pub fn discover_locally(&mut self) {
        if self.discovery.is_none() {
            self.discovery = Some(tokio::spawn(lsd::run(self.router.clone(), self.port)));
        }
    }

    /// Starts a torrent whose pieces in `have` are already on `storage`.
    pub fn add_torrent(
        &self,
        metainfo: &Metainfo,
        storage: Storage,
        have: Bitfield,
        options: TorrentOptions,
    ) -> TorrentHandle {
        let info = storage.info().clone();
        let mut config = self.config(&options);
        // Served to magnet-link peers (BEP 9).
        config.metadata = Some(Bytes::from(metainfo.info_bytes.clone()));
        let complete = have.is_full();
        let resume = options.keep_resume.then(|| {
            ResumeWriter::new(
                info.clone(),
                storage.layout().clone(),
                metainfo.info_hash,
                have.clone(),
                options.found_on_disk.as_ref().unwrap_or(&have),
            )
        });
        let mut torrent = Torrent::new(
            info.clone(),
            metainfo.info_hash,
            have,
            config,
            random_seed(),
            clock::now(),
        );
        add_web_seeds(&mut torrent, &metainfo.url_list);
        let report = Report {
            metainfo: Some(Arc::new(metainfo.clone())),
            complete,
            ..Report::default()
        };
        let data = Data {
            info,
            storage: Arc::new(Mutex::new(storage)),
            resume,
        };
        self.spawn(
            Engine::Running(Box::new(torrent)),
            Some(data),
            None,
            metainfo.trackers(),
            report,
            options,
        )
    }

    /// Starts a magnet link: its metadata is fetched from peers (BEP 9), then `prepare` opens
    /// the storage and the torrent continues with the same connections.
    pub fn add_magnet(
        &self,
        magnet: &Magnet,
        options: TorrentOptions,
        prepare: Prepare,
    ) -> TorrentHandle {
        let fetch = MetadataFetch::new(magnet.info_hash, self.config(&options), clock::now());
        let plan = MagnetPlan {
            trackers: magnet.trackers.clone(),
            web_seeds: magnet.web_seeds.clone(),
            prepare,
        };
        self.spawn(
            Engine::Fetching(Box::new(fetch)),
            None,
            Some(plan),
            magnet.trackers.clone(),
            Report::default(),
            options,
        )
    }

    fn config(&self, options: &TorrentOptions) -> Config {
        let mut config = Config::new(self.peer_id, self.port);
        config.upload_limit = options.upload_limit;
        config.download_limit = options.download_limit;
        config.budget = Some(self.budget.clone());
        config.seed_when_complete = options.seed_when_complete;
        config.local_networks.clone_from(&options.local_networks);
        if let Some(max) = options.max_peers {
            config.max_peers = max;
        }
        config
    }

    fn spawn(
        &self,
        engine: Engine,
        data: Option<Data>,
        magnet: Option<MagnetPlan>,
        trackers: Vec<String>,
        report: Report,
        options: TorrentOptions,
    ) -> TorrentHandle {
        let info_hash = engine.info_hash();
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let (report_tx, report_rx) = watch::channel(report);
        let (stop_tx, stop_rx) = oneshot::channel();
        // A magnet link's torrent is not known to be private until its metadata arrives;
        // private torrents come as .torrent files in practice.
        let discoverable = match &engine {
            Engine::Running(torrent) => !torrent.info().private,
            Engine::Fetching(_) | Engine::Idle { .. } => true,
        };
        let route = Route {
            events: events_tx.clone(),
            discoverable,
        };
        self.router.insert(info_hash, route);
        let control = events_tx.clone();
        let rtc = self.rtc.as_ref().and_then(|rtc| {
            let urls = trackers.iter().find_map(|url| rtc::ws_tracker_url(url))?;
            let peers = events_tx.clone();
            Some(RtcAnnouncer::start(
                rtc.clone(),
                urls,
                info_hash,
                self.peer_id,
                peers,
            ))
        });
        let task = TorrentTask {
            engine,
            data,
            magnet,
            keep_resume: options.keep_resume,
            network: NetworkWatch::default(),
            announcer: Announcer::new(trackers, info_hash, self.peer_id, self.port),
            rtc,
            peer_id: self.peer_id,
            events_tx,
            events_rx,
            report: report_tx,
            peers: HashMap::new(),
            next_key: 0,
            work: tokio::task::JoinSet::new(),
            reads: SpanReads::new(task::SPANS_KEPT),
            browsers: Default::default(),
            http: web_seed::client(),
        };
        let router = self.router.clone();
        let join = tokio::spawn(async move {
            task.run(options.peers, stop_rx).await;
            router.remove(&info_hash);
        });
        TorrentHandle {
            info_hash,
            control,
            report: report_rx,
            stop: Some(stop_tx),
            join,
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.accept.abort();
        if let Some(discovery) = &self.discovery {
            discovery.abort();
        }
    }
}

/// Control of a running torrent.
pub struct TorrentHandle {
    info_hash: InfoHash,
    control: mpsc::Sender<Event>,
    report: watch::Receiver<Report>,
    stop: Option<oneshot::Sender<()>>,
    join: JoinHandle<()>,
}

impl TorrentHandle {
    pub fn info_hash(&self) -> InfoHash {
        self.info_hash
    }

    pub fn report(&self) -> Report {
        self.report.borrow().clone()
    }

    /// Changes this torrent's own caps (`None`: unlimited); the global ones still apply.
    pub async fn set_limits(&self, upload: Option<u64>, download: Option<u64>) {
        // Fails only once the task ended, when there is nothing left to limit.
        let _ = self
            .control
            .send(Event::SetLimits { upload, download })
            .await;
    }

    /// Updates with every published report (about once a second, and on completion).
    pub fn subscribe(&self) -> watch::Receiver<Report> {
        self.report.clone()
    }

    /// Stops gracefully (peers closed, `stopped` announced within 2 s) and returns the last
    /// report.
    pub async fn stop(mut self) -> Report {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.join).await {
            tracing::error!(error = %e, "torrent task failed");
        }
        self.report()
    }
}

/// Gives the torrent its BEP 19 web seeds; natives speak plain HTTP only (no TLS yet).
fn add_web_seeds(torrent: &mut Torrent, urls: &[String]) {
    for url in urls {
        if url.starts_with("http://") {
            torrent.add_web_seed(url, clock::now());
        } else {
            tracing::info!(%url, "web seed skipped: only http:// is supported");
        }
    }
}

/// A seed for peer ids and the engine's randomness; std's hasher keys are random per process.
pub(crate) fn random_seed() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now())
}
