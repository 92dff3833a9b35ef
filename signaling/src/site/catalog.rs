//! What the server publishes: each torrent's .torrent file, its catalog entry, and (when the
//! server holds the data) where its files are for the web seed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use bitfleet_core::metainfo::{Metainfo, MetainfoError};
use bitfleet_core::tracker::encode_component;
use bitfleet_core::InfoHash;
use bytes::Bytes;
use serde::Serialize;

use crate::Tracker;

/// Why a catalog could not be built.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("{path}: {source}")]
    Torrent {
        path: PathBuf,
        source: MetainfoError,
    },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("two torrents are named {0:?}: published names must differ")]
    DuplicateName(String),
}

/// One published torrent.
#[derive(Debug, Clone)]
pub struct Published {
    pub metainfo: Metainfo,
    /// The .torrent file as served at `/t/NAME.torrent`.
    pub torrent: Bytes,
    /// The folder holding the torrent's data (`DATA/NAME` or `DATA/NAME/...`); `None` when
    /// this server only lists the torrent and has no web seed for it.
    pub data: Option<PathBuf>,
}

impl Published {
    /// Local paths of the torrent's files by their path below the name (`[]` for a
    /// single-file torrent), pad files left out: what the web seed serves, and nothing else.
    fn files(&self, data: &Path) -> HashMap<Vec<String>, PathBuf> {
        let top = data.join(&self.metainfo.info.name);
        self.metainfo
            .info
            .files
            .iter()
            .filter(|f| !f.pad)
            .map(|f| {
                (
                    f.path.clone(),
                    f.path.iter().fold(top.clone(), |p, c| p.join(c)),
                )
            })
            .collect()
    }
}

/// The catalog entry the page shows (see `web/README.md`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CatalogEntry {
    pub name: String,
    pub info_hash: String,
    pub size: u64,
    pub torrent_url: String,
    /// The tracker's current counts.
    pub seeds: u32,
    pub peers: u32,
}

struct Entry {
    published: Published,
    files: HashMap<Vec<String>, PathBuf>,
}

/// The published torrents, by name.
#[derive(Default)]
pub struct Catalog {
    /// In the order published.
    entries: Vec<Entry>,
    by_name: HashMap<String, usize>,
}

impl Catalog {
    pub fn new(published: Vec<Published>) -> Result<Self, CatalogError> {
        let mut catalog = Catalog::default();
        for published in published {
            let name = published.metainfo.info.name.clone();
            if catalog
                .by_name
                .insert(name.clone(), catalog.entries.len())
                .is_some()
            {
                return Err(CatalogError::DuplicateName(name));
            }
            let files = published
                .data
                .as_deref()
                .map(|data| published.files(data))
                .unwrap_or_default();
            catalog.entries.push(Entry { published, files });
        }
        Ok(catalog)
    }

    /// Every `*.torrent` file in `dir` (not below it), listed without data.
    pub fn from_torrent_dir(dir: &Path) -> Result<Self, CatalogError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| CatalogError::Io { path, source }
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "torrent") && p.is_file())
            .collect();
        paths.sort();
        let mut published = Vec::with_capacity(paths.len());
        for path in paths {
            let bytes = std::fs::read(&path).map_err(io(&path))?;
            let metainfo = Metainfo::from_bytes(&bytes)
                .map_err(|source| CatalogError::Torrent { path, source })?;
            published.push(Published {
                metainfo,
                torrent: Bytes::from(bytes),
                data: None,
            });
        }
        Self::new(published)
    }

    /// The .torrent served as `/t/{file_name}`.
    pub fn torrent_file(&self, file_name: &str) -> Option<&Bytes> {
        let name = file_name.strip_suffix(".torrent")?;
        let index = *self.by_name.get(name)?;
        Some(&self.entries[index].published.torrent)
    }

    /// The local file the web seed serves for `name` and the path below it, if published with
    /// its data.
    pub fn data_file(&self, name: &str, path: &[String]) -> Option<&Path> {
        let index = *self.by_name.get(name)?;
        self.entries[index].files.get(path).map(PathBuf::as_path)
    }

    /// The entries with the tracker's live counts.
    pub fn entries(&self, tracker: &Tracker) -> Vec<CatalogEntry> {
        let hashes: Vec<InfoHash> = self
            .entries
            .iter()
            .map(|e| e.published.metainfo.info_hash)
            .collect();
        let counts = tracker.swarm_counts(&hashes);
        self.entries
            .iter()
            .zip(counts)
            .map(|(entry, counts)| {
                let metainfo = &entry.published.metainfo;
                CatalogEntry {
                    name: metainfo.info.name.clone(),
                    info_hash: metainfo.info_hash.to_hex(),
                    size: metainfo.info.total_length(),
                    torrent_url: torrent_path(&metainfo.info.name),
                    seeds: counts.complete,
                    peers: counts.incomplete,
                }
            })
            .collect()
    }
}

/// Where a torrent's .torrent is served, percent-encoded.
pub fn torrent_path(name: &str) -> String {
    format!("/t/{}.torrent", encode_component(name.as_bytes()))
}
