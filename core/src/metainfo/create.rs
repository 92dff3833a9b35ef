//! Making a new torrent: piece length choice, incremental piece hashing, serialization.

use sha1::{Digest, Sha1};

use super::{Metainfo, MetainfoError, OuterFields};
use crate::bencode::{write_bytes, write_int};

const MIN_PIECE_LENGTH: u32 = 16 << 10;
const MAX_CHOSEN_PIECE_LENGTH: u32 = 16 << 20;
/// Roughly how many pieces a new torrent should have: few enough to keep the .torrent (20
/// bytes a piece) and bitfields small, many enough that peers can trade early.
const TARGET_PIECES: u64 = 1500;

/// Piece length for a payload of `total` bytes, as libtorrent/mktorrent choose it: a power of
/// two between 16 KiB and 16 MiB aiming at roughly 1–2 thousand pieces.
///
/// The rule: the smallest power of two that yields at most 1500 pieces, clamped to
/// 16 KiB..=16 MiB. Unclamped, a torrent thus has between 751 and 1500 pieces; past ~24 GiB
/// the 16 MiB cap lets the count grow instead (16 MiB is the largest piece stock clients
/// handle comfortably).
pub fn piece_length_for(total: u64) -> u32 {
    let wanted = total.div_ceil(TARGET_PIECES).next_power_of_two();
    wanted.clamp(
        u64::from(MIN_PIECE_LENGTH),
        u64::from(MAX_CHOSEN_PIECE_LENGTH),
    ) as u32
}

/// Feeds the payload's bytes in torrent order, across file boundaries; yields piece hashes.
pub struct PieceHasher {
    piece_length: usize,
    hasher: Sha1,
    /// Bytes of the current piece hashed so far.
    filled: usize,
    hashes: Vec<[u8; 20]>,
}

impl PieceHasher {
    pub fn new(piece_length: u32) -> Self {
        Self {
            piece_length: piece_length.max(1) as usize,
            hasher: Sha1::new(),
            filled: 0,
            hashes: Vec::new(),
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            let take = data.len().min(self.piece_length - self.filled);
            let (head, rest) = data.split_at(take);
            self.hasher.update(head);
            self.filled += take;
            if self.filled == self.piece_length {
                self.hashes.push(self.hasher.finalize_reset().into());
                self.filled = 0;
            }
            data = rest;
        }
    }

    /// The hashes of all pieces, the last (short) one included.
    pub fn finish(mut self) -> Vec<[u8; 20]> {
        if self.filled > 0 {
            self.hashes.push(self.hasher.finalize().into());
        }
        self.hashes
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
    /// Serializes canonical bencode (sorted keys, only the fields set) and parses the result
    /// back, so a built torrent passes exactly the validation a downloaded one would.
    pub fn build(&self, pieces: Vec<[u8; 20]>) -> Result<Metainfo, MetainfoError> {
        let info = self.encode_info(&pieces)?;
        // One tier per tracker: clients try them in order, matching `announce` first.
        let announce_list: Vec<Vec<String>> = if self.trackers.len() > 1 {
            self.trackers.iter().map(|url| vec![url.clone()]).collect()
        } else {
            Vec::new()
        };
        let torrent = OuterFields {
            announce: self.trackers.first().map(String::as_str),
            announce_list: &announce_list,
            url_list: &self.web_seeds,
            comment: self.comment.as_deref(),
            created_by: self.created_by.as_deref(),
            creation_date: self.creation_date,
        }
        .encode_around(&info);
        Metainfo::from_bytes(&torrent)
    }

    fn encode_info(&self, pieces: &[[u8; 20]]) -> Result<Vec<u8>, MetainfoError> {
        let length = |len: u64| {
            i64::try_from(len).map_err(|_| MetainfoError::Invalid(format!("file length {len}")))
        };
        let single = match self.files.as_slice() {
            [(path, len)] if path.is_empty() => Some(*len),
            _ => None,
        };
        let mut info = Vec::with_capacity(pieces.len() * 20 + self.files.len() * 64 + 128);
        info.push(b'd');
        match single {
            Some(len) => {
                write_bytes(&mut info, b"length");
                write_int(&mut info, length(len)?);
            }
            None => {
                write_bytes(&mut info, b"files");
                info.push(b'l');
                for (path, len) in &self.files {
                    info.push(b'd');
                    write_bytes(&mut info, b"length");
                    write_int(&mut info, length(*len)?);
                    write_bytes(&mut info, b"path");
                    info.push(b'l');
                    for component in path {
                        write_bytes(&mut info, component.as_bytes());
                    }
                    info.extend_from_slice(b"ee");
                }
                info.push(b'e');
            }
        }
        write_bytes(&mut info, b"name");
        write_bytes(&mut info, self.name.as_bytes());
        write_bytes(&mut info, b"piece length");
        write_int(&mut info, i64::from(self.piece_length));
        write_bytes(&mut info, b"pieces");
        write_bytes(&mut info, pieces.as_flattened());
        if self.private {
            write_bytes(&mut info, b"private");
            write_int(&mut info, 1);
        }
        info.push(b'e');
        Ok(info)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_length_is_a_clamped_power_of_two_near_1500_pieces() {
        assert_eq!(piece_length_for(0), 16 << 10);
        assert_eq!(piece_length_for(1), 16 << 10);
        assert_eq!(piece_length_for(1500 * (16 << 10)), 16 << 10);
        assert_eq!(piece_length_for(1500 * (16 << 10) + 1), 32 << 10);
        assert_eq!(piece_length_for(1 << 30), 1 << 20); // 1024 pieces
        assert_eq!(piece_length_for(1 << 40), 16 << 20);
        assert_eq!(piece_length_for(u64::MAX), 16 << 20);
        for total in [50u64 << 20, 700 << 20, 3 << 30, 20 << 30] {
            let pieces = total.div_ceil(u64::from(piece_length_for(total)));
            assert!((751..=1500).contains(&pieces), "{total} -> {pieces} pieces");
        }
    }

    #[test]
    fn hashing_is_independent_of_how_the_data_is_split() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = {
            let mut hasher = PieceHasher::new(16 << 10);
            hasher.update(&data);
            hasher.finish()
        };
        assert_eq!(whole.len(), 7);
        assert_eq!(whole[0], crate::metainfo::sha1(&data[..16 << 10]));
        assert_eq!(whole[6], crate::metainfo::sha1(&data[6 * (16 << 10)..]));
        let mut pieces = PieceHasher::new(16 << 10);
        for chunk in data.chunks(1000) {
            pieces.update(chunk);
        }
        assert_eq!(pieces.finish(), whole);
    }

    #[test]
    fn exact_multiple_has_no_empty_trailing_piece() {
        let mut hasher = PieceHasher::new(4);
        hasher.update(b"abcdefgh");
        assert_eq!(hasher.finish().len(), 2);
    }
}
