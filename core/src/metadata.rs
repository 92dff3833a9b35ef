//! Assembling a torrent's info dictionary from the pieces peers send (BEP 9), checked against
//! the info-hash a magnet link gave us.

use bytes::{Bytes, BytesMut};
use sha1::{Digest, Sha1};

use crate::wire::{metadata_piece_count, MAX_METADATA_SIZE, METADATA_PIECE_SIZE};
use crate::InfoHash;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("metadata size {0} is out of range")]
    BadSize(u64),
    #[error("metadata piece {0} is out of range or has the wrong length")]
    BadPiece(u32),
    #[error("assembled metadata does not match the info-hash")]
    HashMismatch,
}

pub struct MetadataAssembler {
    info_hash: InfoHash,
    size: usize,
    pieces: Vec<Option<Bytes>>,
}

impl MetadataAssembler {
    /// For the `metadata_size` a peer announced in its extension handshake.
    pub fn new(info_hash: InfoHash, size: u64) -> Result<Self, MetadataError> {
        let size = usize::try_from(size)
            .ok()
            .filter(|s| (1..=MAX_METADATA_SIZE).contains(s))
            .ok_or(MetadataError::BadSize(size))?;
        Ok(Self {
            info_hash,
            size,
            pieces: vec![None; metadata_piece_count(size) as usize],
        })
    }

    pub fn size(&self) -> usize {
        self.size
    }

    /// Missing pieces, lowest first.
    pub fn missing(&self) -> impl Iterator<Item = u32> + '_ {
        self.pieces
            .iter()
            .enumerate()
            .filter(|(_, p)| p.is_none())
            .map(|(i, _)| i as u32)
    }

    /// Stores a piece. When the last one arrives the whole is hashed: a match yields the info
    /// dictionary; a mismatch discards everything (one of the senders lied).
    pub fn add(&mut self, piece: u32, data: Bytes) -> Result<Option<Bytes>, MetadataError> {
        let expected = self
            .size
            .checked_sub(piece as usize * METADATA_PIECE_SIZE)
            .map(|rest| rest.min(METADATA_PIECE_SIZE));
        let slot = self.pieces.get_mut(piece as usize);
        let (Some(slot), Some(expected)) = (slot, expected) else {
            return Err(MetadataError::BadPiece(piece));
        };
        if data.len() != expected {
            return Err(MetadataError::BadPiece(piece));
        }
        *slot = Some(data);
        if self.pieces.iter().any(Option::is_none) {
            return Ok(None);
        }
        let mut whole = BytesMut::with_capacity(self.size);
        for piece in self.pieces.iter_mut() {
            whole.extend_from_slice(&piece.take().unwrap_or_default());
        }
        if Sha1::digest(&whole).as_slice() != self.info_hash.as_bytes() {
            return Err(MetadataError::HashMismatch);
        }
        Ok(Some(whole.freeze()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash_of(data: &[u8]) -> InfoHash {
        InfoHash(Sha1::digest(data).into())
    }

    #[test]
    fn assembles_and_verifies() {
        let info: Vec<u8> = (0..40_000u32).map(|i| i as u8).collect();
        let mut asm = MetadataAssembler::new(hash_of(&info), info.len() as u64).unwrap();
        assert_eq!(asm.missing().collect::<Vec<_>>(), vec![0, 1, 2]);
        assert!(asm
            .add(2, Bytes::from(info[32768..].to_vec()))
            .unwrap()
            .is_none());
        assert!(asm
            .add(0, Bytes::from(info[..16384].to_vec()))
            .unwrap()
            .is_none());
        assert_eq!(
            asm.add(1, Bytes::from(info[16384..32768].to_vec())),
            Ok(Some(Bytes::from(info)))
        );
    }

    #[test]
    fn refuses_lies() {
        assert!(MetadataAssembler::new(InfoHash([0; 20]), 0).is_err());
        assert!(MetadataAssembler::new(InfoHash([0; 20]), u64::MAX).is_err());
        let mut asm = MetadataAssembler::new(InfoHash([0; 20]), 100).unwrap();
        assert_eq!(
            asm.add(1, Bytes::from_static(b"x")),
            Err(MetadataError::BadPiece(1))
        );
        assert_eq!(
            asm.add(0, Bytes::from_static(b"short")),
            Err(MetadataError::BadPiece(0))
        );
        assert_eq!(
            asm.add(0, Bytes::from(vec![0; 100])),
            Err(MetadataError::HashMismatch)
        );
        assert_eq!(asm.missing().count(), 1, "a mismatch starts over");
    }
}
