//! HTTP tracker messages (BEP 3 announce, BEP 23 compact peers, BEP 48 scrape): the query string
//! a client sends and the bencoded replies, shared by the native client and the tracker server.
// OWNER: tracker helper. Types fixed by the scaffold; bodies to be written (may become a folder).

use std::net::SocketAddr;

use crate::{InfoHash, PeerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnounceEvent {
    Started,
    Stopped,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub compact: bool,
    pub numwant: Option<u32>,
    pub key: Option<String>,
    /// Address the client asks to be listed under (BEP 3 `ip`); trackers may ignore it.
    pub ip: Option<String>,
    pub tracker_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("bad announce query: {0}")]
    BadQuery(String),
    #[error("bad tracker response: {0}")]
    BadResponse(String),
    #[error("tracker refused: {0}")]
    Failure(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    pub interval: u32,
    pub min_interval: Option<u32>,
    pub complete: u32,
    pub incomplete: u32,
    pub peers: Vec<SocketAddr>,
    pub warning: Option<String>,
    pub tracker_id: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    pub complete: u32,
    pub downloaded: u32,
    pub incomplete: u32,
}

impl AnnounceRequest {
    /// The query string (without `?`), binary fields percent-encoded byte by byte.
    pub fn to_query(&self) -> String {
        todo!("tracker helper")
    }
    /// Parses a raw (still percent-encoded) query string.
    pub fn from_query(query: &str) -> Result<Self, TrackerError> {
        let _ = query;
        todo!("tracker helper")
    }
}

impl AnnounceResponse {
    /// Bencodes the reply; `compact` selects BEP 23 peer strings (`peers` and `peers6`).
    pub fn encode(&self, compact: bool) -> Vec<u8> {
        let _ = compact;
        todo!("tracker helper")
    }
    /// Parses a reply in either peer format; a `failure reason` becomes `TrackerError::Failure`.
    pub fn decode(data: &[u8]) -> Result<Self, TrackerError> {
        let _ = data;
        todo!("tracker helper")
    }
}

/// A bencoded `failure reason` reply.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    let _ = reason;
    todo!("tracker helper")
}
