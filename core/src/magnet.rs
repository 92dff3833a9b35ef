//! Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<hex|base32>&dn=…&tr=…&ws=…`, both ways.
// OWNER: formats helper. Interface fixed by the scaffold; bodies to be written.

use crate::InfoHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    pub display_name: Option<String>,
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    /// `x.pe` direct peers (`host:port`).
    pub peers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("not a magnet URI")]
    NotMagnet,
    #[error("no BitTorrent v1 info-hash (xt=urn:btih:…)")]
    NoInfoHash,
    #[error("malformed info-hash {0:?}")]
    BadInfoHash(String),
}

impl Magnet {
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let _ = uri;
        todo!("formats helper")
    }
    pub fn to_uri(&self) -> String {
        todo!("formats helper")
    }
}
