//! What the daemon keeps across restarts, in its state folder:
//! `daemon.json` (the torrents, their folders, paused state and caps; the global caps) and
//! `torrents/<info-hash>.torrent`. Both are replaced atomically. Each torrent's pieces are
//! remembered by its own resume data, in its download folder.

use std::fs;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use bitfleet_core::InfoHash;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::protocol::LimitsSpec;
use crate::atomic_file;

const STATE_FILE: &str = "daemon.json";
const TORRENTS_DIR: &str = "torrents";
/// Only the owner reads the state: it names every download folder.
const PRIVATE_FILE: u32 = 0o600;

#[derive(Debug, Error)]
pub enum StateError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: not a daemon state file: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub torrents: Vec<SavedTorrent>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SavedTorrent {
    /// Hex.
    pub info_hash: String,
    pub out: PathBuf,
    pub paused: bool,
    #[serde(default)]
    pub limits: LimitsSpec,
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
}

/// The daemon's state folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Creates the folder if needed, owner-only on unix. An existing folder keeps its mode
    /// (it may be shared, like /tmp): the files in it are owner-only anyway.
    pub fn open(root: &Path) -> Result<Self, StateError> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder
            .create(root.join(TORRENTS_DIR))
            .map_err(|source| StateError::Io {
                path: root.to_owned(),
                source,
            })?;
        Ok(Self {
            root: root.to_owned(),
        })
    }

    /// The saved state; empty when there is none yet.
    pub fn load(&self) -> Result<State, StateError> {
        let path = self.root.join(STATE_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|source| StateError::Corrupt { path, source }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    pub fn save(&self, state: &State) -> Result<(), StateError> {
        let path = self.root.join(STATE_FILE);
        let bytes = serde_json::to_vec_pretty(state).map_err(|source| StateError::Corrupt {
            path: path.clone(),
            source,
        })?;
        self.write(&path, &bytes)
    }

    pub fn torrent_path(&self, info_hash: &InfoHash) -> PathBuf {
        self.root
            .join(TORRENTS_DIR)
            .join(format!("{}.torrent", info_hash.to_hex()))
    }

    pub fn save_torrent(&self, info_hash: &InfoHash, bytes: &[u8]) -> Result<(), StateError> {
        self.write(&self.torrent_path(info_hash), bytes)
    }

    pub fn load_torrent(&self, info_hash: &InfoHash) -> Result<Vec<u8>, StateError> {
        let path = self.torrent_path(info_hash);
        fs::read(&path).map_err(|source| StateError::Io { path, source })
    }

    /// Forgets a removed torrent's .torrent file (absent is fine).
    pub fn remove_torrent(&self, info_hash: &InfoHash) -> Result<(), StateError> {
        let path = self.torrent_path(info_hash);
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Writes a private file atomically (the API endpoint and its token, the state).
    pub fn write(&self, path: &Path, bytes: &[u8]) -> Result<(), StateError> {
        atomic_file::write(path, bytes, PRIVATE_FILE).map_err(|source| StateError::Io {
            path: path.to_owned(),
            source,
        })
    }
}

/// `$XDG_STATE_HOME/bitfleet`, else `~/.local/state/bitfleet`.
pub fn default_state_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("bitfleet"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".local/state/bitfleet"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_starts_empty() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(&tmp.path().join("state")).unwrap();
        assert!(dir.load().unwrap().torrents.is_empty());
        let state = State {
            limits: LimitsSpec {
                upload: Some(5),
                download: None,
            },
            torrents: vec![SavedTorrent {
                info_hash: "ab".repeat(20),
                out: "/data".into(),
                paused: true,
                limits: LimitsSpec::default(),
                peers: vec!["127.0.0.1:1".parse().unwrap()],
            }],
        };
        dir.save(&state).unwrap();
        let loaded = dir.load().unwrap();
        assert_eq!(loaded.limits, state.limits);
        assert_eq!(loaded.torrents[0].out, state.torrents[0].out);
        assert!(loaded.torrents[0].paused);
    }

    #[test]
    fn a_corrupt_state_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(tmp.path()).unwrap();
        fs::write(tmp.path().join(STATE_FILE), b"{not json").unwrap();
        assert!(matches!(dir.load(), Err(StateError::Corrupt { .. })));
    }
}
