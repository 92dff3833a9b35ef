//! The daemon's JSON API, shared by the daemon and the `bitfleet` commands that talk to it.
//! Reference in native/README.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Where the API is and the token it takes: `STATE_DIR/api.json`, readable by its owner only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Endpoint {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    /// Sent as `Authorization: Bearer TOKEN`; new at every daemon start.
    pub token: String,
}

/// `POST /v1/torrents`
#[derive(Debug, Serialize, Deserialize)]
pub struct AddRequest {
    /// The .torrent file's bytes, hex-encoded.
    pub torrent: String,
    /// Download folder (absolute): data lands in OUT/NAME.
    pub out: PathBuf,
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub limits: LimitsSpec,
    /// Peers to connect to at every start, besides those the trackers give.
    #[serde(default)]
    pub peers: Vec<SocketAddr>,
}

/// Caps in bytes/s. In a request a field left out keeps its current value and `0` removes the
/// cap; in an answer `null` is unlimited.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimitsSpec {
    #[serde(default)]
    pub upload: Option<u64>,
    #[serde(default)]
    pub download: Option<u64>,
}

impl LimitsSpec {
    /// These caps with `change` applied (see the type's rules).
    pub fn updated(self, change: LimitsSpec) -> LimitsSpec {
        let apply = |old: Option<u64>, new: Option<u64>| match new {
            Some(0) => None,
            Some(rate) => Some(rate),
            None => old,
        };
        LimitsSpec {
            upload: apply(self.upload, change.upload),
            download: apply(self.download, change.download),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TorrentState {
    /// Finding the pieces already on disk (resume data, or hashing).
    Checking,
    Downloading,
    Seeding,
    Paused,
    /// Could not start; see `error`.
    Failed,
}

impl TorrentState {
    /// As in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            TorrentState::Checking => "checking",
            TorrentState::Downloading => "downloading",
            TorrentState::Seeding => "seeding",
            TorrentState::Paused => "paused",
            TorrentState::Failed => "failed",
        }
    }
}

/// One torrent in `GET /v1/torrents`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TorrentView {
    pub info_hash: String,
    pub name: String,
    pub out: PathBuf,
    pub state: TorrentState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub total: u64,
    pub pieces: u32,
    pub have: u32,
    /// Payload bytes received and sent since the torrent (re)started.
    pub downloaded: u64,
    pub uploaded: u64,
    /// Bytes/s over the last few seconds.
    pub down_rate: u64,
    pub up_rate: u64,
    pub peers: usize,
    pub limits: LimitsSpec,
}

/// `GET /v1/torrents`
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ListResponse {
    /// The global caps, shared by all torrents.
    pub limits: LimitsSpec,
    pub torrents: Vec<TorrentView>,
}

/// The body of every error answer.
#[derive(Debug, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_keeps_what_it_leaves_out_and_zero_removes() {
        let caps = LimitsSpec {
            upload: Some(10),
            download: Some(20),
        };
        let change = LimitsSpec {
            upload: Some(0),
            download: None,
        };
        let changed = caps.updated(change);
        assert_eq!(changed.upload, None);
        assert_eq!(changed.download, Some(20));
        let parsed: LimitsSpec = serde_json::from_str(r#"{"download":5}"#).unwrap();
        assert_eq!(caps.updated(parsed).download, Some(5));
    }

    #[test]
    fn state_names_are_those_of_the_json() {
        use TorrentState::*;
        for state in [Checking, Downloading, Seeding, Paused, Failed] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }
}
