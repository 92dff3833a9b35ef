//! Making a new torrent: piece length choice, incremental piece hashing, serialization.
// OWNER: formats helper. Interface fixed by the scaffold; bodies to be written.

use super::Metainfo;

/// Piece length for a payload of `total` bytes, as libtorrent/mktorrent choose it: a power of
/// two between 16 KiB and 16 MiB aiming at roughly 1–2 thousand pieces.
pub fn piece_length_for(total: u64) -> u32 {
    let _ = total;
    todo!("formats helper")
}

/// Feeds the payload's bytes in torrent order, across file boundaries; yields piece hashes.
pub struct PieceHasher {}

impl PieceHasher {
    pub fn new(piece_length: u32) -> Self {
        let _ = piece_length;
        todo!("formats helper")
    }
    pub fn update(&mut self, data: &[u8]) {
        let _ = data;
        todo!("formats helper")
    }
    pub fn finish(self) -> Vec<[u8; 20]> {
        todo!("formats helper")
    }
}

/// Describes a torrent to create; `build` takes the piece hashes the caller computed.
#[derive(Debug, Clone, Default)]
pub struct TorrentBuilder {
    pub name: String,
    /// `(path components below name, length)`; a single empty path means a single-file torrent.
    pub files: Vec<(Vec<String>, u64)>,
    pub piece_length: u32,
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    pub comment: Option<String>,
    pub created_by: Option<String>,
    pub creation_date: Option<i64>,
    pub private: bool,
}

impl TorrentBuilder {
    pub fn build(&self, pieces: Vec<[u8; 20]>) -> Result<Metainfo, super::MetainfoError> {
        let _ = pieces;
        todo!("formats helper")
    }
}
