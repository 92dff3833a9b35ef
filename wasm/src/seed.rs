//! Making a torrent of a file the user picked: piece hashes computed in wasm as the file is
//! read in chunks, so memory stays flat whatever the file's size.

use bitfleet_core::metainfo::{piece_length_for, Metainfo, PieceHasher, TorrentBuilder};
use web_sys::File;

use crate::storage::{read_range, StoreError};

/// Bytes read from the file at a time.
const CHUNK: u64 = 4 << 20;
/// Shortest piece of a torrent a page makes. Every piece costs a page a storage round trip on
/// each side (a `Blob` read of ~1 ms CPU for the seeding page and the browser, a message to the
/// OPFS worker for a downloading one), whatever its size: at the 64 KiB the usual rule picks
/// for a 64 MiB file, those, not the data channel, were the limit between two pages.
const SHORTEST_PIECE: u32 = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    #[error("reading the file: {0}")]
    Read(#[from] StoreError),
    #[error("the file changed while it was read")]
    Changed,
    #[error(transparent)]
    Torrent(#[from] bitfleet_core::metainfo::MetainfoError),
}

pub async fn make_torrent(file: &File, trackers: Vec<String>) -> Result<Metainfo, SeedError> {
    // File sizes are exact integers in JavaScript numbers.
    let length = file.size() as u64;
    let piece_length = piece_length_for(length).max(SHORTEST_PIECE);
    let mut hasher = PieceHasher::new(piece_length);
    let mut offset = 0;
    while offset < length {
        let chunk = read_range(file, offset, CHUNK.min(length - offset)).await?;
        if chunk.is_empty() {
            return Err(SeedError::Changed);
        }
        hasher.update(&chunk);
        offset += chunk.len() as u64;
    }
    let builder = TorrentBuilder {
        name: file.name(),
        files: vec![(Vec::new(), length)],
        piece_length,
        trackers,
        created_by: Some(concat!("Bitfleet Web ", env!("CARGO_PKG_VERSION")).to_owned()),
        ..TorrentBuilder::default()
    };
    Ok(builder.build(hasher.finish())?)
}
