//! The daemon's torrents: adding, pausing, resuming, removing and capping them, each change
//! saved to the state folder before it is acknowledged.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use bitfleet_core::budget::Limits;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::InfoHash;
use thiserror::Error;
use tokio::sync::Mutex;

use super::protocol::{LimitsSpec, ListResponse, TorrentState, TorrentView};
use super::state::{SavedTorrent, State, StateDir, StateError};
use crate::cli::get::open_and_restore;
use crate::session::{Session, TorrentHandle, TorrentOptions};

/// Why a request could not be carried out.
#[derive(Debug, Error)]
pub enum RequestError {
    #[error("no torrent with info-hash {0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("the torrent {0} is already added")]
    AlreadyAdded(String),
    #[error("saving the daemon state: {0}")]
    State(#[from] StateError),
}

/// The daemon's torrents, shared by the API handlers and the start jobs.
pub type Shared = Arc<Mutex<Torrents>>;

/// A torrent's settings, as added or saved.
pub struct Added {
    /// Download folder (absolute).
    pub out: PathBuf,
    pub limits: LimitsSpec,
    pub peers: Vec<SocketAddr>,
    pub paused: bool,
}

pub struct Torrents {
    session: Session,
    state_dir: StateDir,
    global: LimitsSpec,
    entries: BTreeMap<InfoHash, Entry>,
    /// Tells a finished start job whether its torrent was paused or removed meanwhile.
    next_start: u64,
}

struct Entry {
    metainfo: Arc<Metainfo>,
    out: PathBuf,
    limits: LimitsSpec,
    peers: Vec<SocketAddr>,
    run: Run,
}

enum Run {
    /// With the pieces it had when it was paused (0 when paused before this start).
    Paused {
        have: u32,
    },
    /// A start job is finding the pieces on disk.
    Checking {
        start: u64,
    },
    Running(TorrentHandle),
    Failed(String),
}

impl Torrents {
    pub fn new(session: Session, state_dir: StateDir) -> Self {
        Self {
            session,
            state_dir,
            global: LimitsSpec::default(),
            entries: BTreeMap::new(),
            next_start: 0,
        }
    }

    /// Takes the saved state up again: global caps, then every torrent, started unless paused.
    /// A torrent that cannot be loaded is kept, failed, so that it can be removed.
    pub async fn restore(shared: &Shared, state: State) {
        let mut torrents = shared.lock().await;
        torrents.apply_global(state.limits);
        for saved in state.torrents {
            let Ok(info_hash) = InfoHash::from_hex(&saved.info_hash) else {
                tracing::warn!(info_hash = saved.info_hash, "skipping a saved torrent");
                continue;
            };
            let loaded = torrents
                .state_dir
                .load_torrent(&info_hash)
                .map_err(|e| e.to_string())
                .and_then(|bytes| Metainfo::from_bytes(&bytes).map_err(|e| e.to_string()));
            let metainfo = match loaded {
                Ok(metainfo) => metainfo,
                Err(e) => {
                    tracing::error!(error = %e, %info_hash, "cannot load a saved torrent");
                    continue;
                }
            };
            let saved = Added {
                out: saved.out,
                limits: saved.limits,
                peers: saved.peers,
                paused: saved.paused,
            };
            torrents.insert(shared, metainfo, saved);
        }
    }

    pub fn add(
        &mut self,
        shared: &Shared,
        torrent: &[u8],
        mut added: Added,
    ) -> Result<TorrentView, RequestError> {
        let metainfo = Metainfo::from_bytes(torrent)
            .map_err(|e| RequestError::BadRequest(format!("not a valid .torrent: {e}")))?;
        if !added.out.is_absolute() {
            return Err(RequestError::BadRequest(format!(
                "the download folder must be an absolute path, not {}",
                added.out.display()
            )));
        }
        let info_hash = metainfo.info_hash;
        if self.entries.contains_key(&info_hash) {
            return Err(RequestError::AlreadyAdded(info_hash.to_hex()));
        }
        self.state_dir.save_torrent(&info_hash, torrent)?;
        added.limits = LimitsSpec::default().updated(added.limits);
        self.insert(shared, metainfo, added);
        self.save()?;
        self.view(&info_hash)
    }

    fn insert(&mut self, shared: &Shared, metainfo: Metainfo, added: Added) {
        let info_hash = metainfo.info_hash;
        let entry = Entry {
            metainfo: Arc::new(metainfo),
            out: added.out,
            limits: added.limits,
            peers: added.peers,
            run: Run::Paused { have: 0 },
        };
        self.entries.insert(info_hash, entry);
        if !added.paused {
            self.start(shared, info_hash);
        }
    }

    /// Finds the torrent's pieces on disk off the lock (resume data, else hashing), then runs it.
    fn start(&mut self, shared: &Shared, info_hash: InfoHash) {
        let Some(entry) = self.entries.get_mut(&info_hash) else {
            return;
        };
        let start = self.next_start;
        self.next_start += 1;
        entry.run = Run::Checking { start };
        let (out, metainfo) = (entry.out.clone(), entry.metainfo.clone());
        let shared = shared.clone();
        tokio::spawn(async move {
            let opened = tokio::task::spawn_blocking(move || {
                open_and_restore(&out, &metainfo, false, &|| {})
            })
            .await;
            let mut torrents = shared.lock().await;
            let torrents = &mut *torrents;
            let Some(entry) = torrents.entries.get_mut(&info_hash) else {
                return; // removed meanwhile
            };
            if !matches!(entry.run, Run::Checking { start: s } if s == start) {
                return; // paused (or restarted) meanwhile
            }
            entry.run = match opened {
                Ok(Ok((storage, restored))) => {
                    let options = TorrentOptions {
                        upload_limit: entry.limits.upload,
                        download_limit: entry.limits.download,
                        seed_when_complete: true,
                        peers: entry.peers.clone(),
                        keep_resume: true,
                        found_on_disk: Some(restored.found),
                        local_networks: crate::net::local_networks::detect(),
                        max_peers: None,
                    };
                    let handle = torrents.session.add_torrent(
                        &entry.metainfo,
                        storage,
                        restored.have,
                        options,
                    );
                    Run::Running(handle)
                }
                Ok(Err(e)) => Run::Failed(format!("{e:#}")),
                Err(e) => Run::Failed(format!("checking task failed: {e}")),
            };
            if let Run::Failed(why) = &entry.run {
                tracing::error!(%info_hash, error = why, "torrent cannot start");
            }
        });
    }

    fn entry(&mut self, info_hash: &str) -> Result<(InfoHash, &mut Entry), RequestError> {
        let not_found = || RequestError::NotFound(info_hash.to_owned());
        let key = InfoHash::from_hex(info_hash).map_err(|_| not_found())?;
        let entry = self.entries.get_mut(&key).ok_or_else(not_found)?;
        Ok((key, entry))
    }

    pub async fn pause(&mut self, info_hash: &str) -> Result<TorrentView, RequestError> {
        let (key, entry) = self.entry(info_hash)?;
        if let Run::Running(handle) = std::mem::replace(&mut entry.run, Run::Paused { have: 0 }) {
            // Under the lock: a resume right after must not race the old task's shutdown.
            let have = handle.stop().await.status.pieces_have;
            entry.run = Run::Paused { have };
        }
        self.save()?;
        self.view(&key)
    }

    pub fn resume(
        &mut self,
        shared: &Shared,
        info_hash: &str,
    ) -> Result<TorrentView, RequestError> {
        let (key, entry) = self.entry(info_hash)?;
        if matches!(entry.run, Run::Paused { .. } | Run::Failed(_)) {
            self.start(shared, key);
            self.save()?;
        }
        self.view(&key)
    }

    /// Stops and forgets a torrent; its downloaded files stay where they are.
    pub async fn remove(&mut self, info_hash: &str) -> Result<(), RequestError> {
        let (key, _) = self.entry(info_hash)?;
        if let Some(Entry {
            run: Run::Running(handle),
            ..
        }) = self.entries.remove(&key)
        {
            handle.stop().await;
        }
        self.save()?;
        self.state_dir.remove_torrent(&key)?;
        Ok(())
    }

    /// Changes one torrent's caps, or the global ones when `info_hash` is `None`.
    pub async fn set_limits(
        &mut self,
        info_hash: Option<&str>,
        change: LimitsSpec,
    ) -> Result<LimitsSpec, RequestError> {
        let limits = match info_hash {
            None => {
                let limits = self.global.updated(change);
                self.apply_global(limits);
                limits
            }
            Some(info_hash) => {
                let (_, entry) = self.entry(info_hash)?;
                entry.limits = entry.limits.updated(change);
                if let Run::Running(handle) = &entry.run {
                    handle
                        .set_limits(entry.limits.upload, entry.limits.download)
                        .await;
                }
                entry.limits
            }
        };
        self.save()?;
        Ok(limits)
    }

    fn apply_global(&mut self, limits: LimitsSpec) {
        self.global = limits;
        self.session.set_global_limits(Limits {
            upload: limits.upload,
            download: limits.download,
        });
    }

    pub fn list(&self) -> ListResponse {
        ListResponse {
            limits: self.global,
            torrents: self
                .entries
                .iter()
                .map(|(key, entry)| view_of(key, entry))
                .collect(),
        }
    }

    fn view(&self, info_hash: &InfoHash) -> Result<TorrentView, RequestError> {
        self.entries
            .get(info_hash)
            .map(|entry| view_of(info_hash, entry))
            .ok_or_else(|| RequestError::NotFound(info_hash.to_hex()))
    }

    /// Stops every torrent gracefully and at once (their resume data is saved). The saved
    /// state is left as it is, so the next start runs the same torrents.
    pub async fn shut_down(&mut self) {
        let mut stopping = tokio::task::JoinSet::new();
        for (_, entry) in std::mem::take(&mut self.entries) {
            if let Run::Running(handle) = entry.run {
                stopping.spawn(handle.stop());
            }
        }
        stopping.join_all().await;
    }

    fn save(&self) -> Result<(), StateError> {
        let torrents = self
            .entries
            .iter()
            .map(|(key, entry)| SavedTorrent {
                info_hash: key.to_hex(),
                out: entry.out.clone(),
                paused: matches!(entry.run, Run::Paused { .. }),
                limits: entry.limits,
                peers: entry.peers.clone(),
            })
            .collect();
        self.state_dir.save(&State {
            limits: self.global,
            torrents,
        })
    }
}

fn view_of(info_hash: &InfoHash, entry: &Entry) -> TorrentView {
    let info = &entry.metainfo.info;
    let mut view = TorrentView {
        info_hash: info_hash.to_hex(),
        name: info.name.clone(),
        out: entry.out.clone(),
        state: TorrentState::Paused,
        error: None,
        total: info.total_length(),
        pieces: info.piece_count(),
        have: 0,
        downloaded: 0,
        uploaded: 0,
        down_rate: 0,
        up_rate: 0,
        peers: 0,
        limits: entry.limits,
    };
    match &entry.run {
        Run::Paused { have } => view.have = *have,
        Run::Checking { .. } => view.state = TorrentState::Checking,
        Run::Failed(why) => {
            view.state = TorrentState::Failed;
            view.error = Some(why.clone());
        }
        Run::Running(handle) => {
            let report = handle.report();
            let status = &report.status;
            view.state = match (&report.error, report.complete) {
                (Some(_), _) => TorrentState::Failed,
                (None, true) => TorrentState::Seeding,
                (None, false) => TorrentState::Downloading,
            };
            view.error = report.error;
            view.have = status.pieces_have;
            view.downloaded = status.transfer.downloaded;
            view.uploaded = status.transfer.uploaded;
            view.down_rate = status.download_rate;
            view.up_rate = status.upload_rate;
            view.peers = status.peers;
        }
    }
    view
}
