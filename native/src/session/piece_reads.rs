//! Serving peers' block requests: whole pieces are read once on a blocking thread and kept in a
//! small cache, so the 64 blocks of a 1 MiB piece cost one read and one thread hand-off instead
//! of 64 (hand-offs and the storage lock dominated a seed's profile).

use std::collections::{HashMap, VecDeque};

use bitfleet_core::engine::PeerKey;
use bitfleet_core::wire::BlockRef;
use bytes::Bytes;

/// Bytes of whole pieces kept for serving; at least two pieces are kept whatever their size.
const CACHE_BYTES: usize = 16 << 20;

#[derive(Default)]
pub(super) struct PieceReads {
    /// Most recently read last.
    cache: VecDeque<(u32, Bytes)>,
    /// Blocks waiting for a piece read already under way.
    waiting: HashMap<u32, Vec<(PeerKey, BlockRef)>>,
}

/// What to do about a block request.
pub(super) enum Lookup {
    /// The piece is cached: here is the block.
    Ready(Bytes),
    /// Queued behind a read of its piece; `start_read` says whether that read must be started.
    Queued { start_read: bool },
}

impl PieceReads {
    pub fn request(&mut self, peer: PeerKey, block: BlockRef) -> Lookup {
        if let Some(data) = self.cached(block) {
            return Lookup::Ready(data);
        }
        let waiters = self.waiting.entry(block.piece).or_default();
        waiters.push((peer, block));
        Lookup::Queued {
            start_read: waiters.len() == 1,
        }
    }

    fn cached(&self, block: BlockRef) -> Option<Bytes> {
        let (_, data) = self.cache.iter().find(|(piece, _)| *piece == block.piece)?;
        let (begin, end) = (
            block.begin as usize,
            block.begin as usize + block.len as usize,
        );
        (end <= data.len()).then(|| data.slice(begin..end))
    }

    /// A piece read finished: caches it and answers every block that waited for it (`None`
    /// for each when the read failed).
    pub fn piece_read(
        &mut self,
        piece: u32,
        data: Option<Bytes>,
    ) -> Vec<(PeerKey, BlockRef, Option<Bytes>)> {
        let waiters = self.waiting.remove(&piece).unwrap_or_default();
        let Some(data) = data else {
            return waiters
                .into_iter()
                .map(|(peer, block)| (peer, block, None))
                .collect();
        };
        self.cache.push_back((piece, data));
        let piece_len = self.cache.back().map_or(0, |(_, d)| d.len()).max(1);
        let keep = (CACHE_BYTES / piece_len).max(2);
        while self.cache.len() > keep {
            self.cache.pop_front();
        }
        waiters
            .into_iter()
            .map(|(peer, block)| {
                let data = self.cached(block);
                (peer, block, data)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(piece: u32, begin: u32) -> BlockRef {
        BlockRef {
            piece,
            begin,
            len: 4,
        }
    }

    #[test]
    fn one_read_serves_every_block_of_a_piece() {
        let mut reads = PieceReads::default();
        assert!(matches!(
            reads.request(PeerKey(1), block(3, 0)),
            Lookup::Queued { start_read: true }
        ));
        assert!(matches!(
            reads.request(PeerKey(2), block(3, 4)),
            Lookup::Queued { start_read: false }
        ));
        let answers = reads.piece_read(3, Some(Bytes::from_static(b"abcdefgh")));
        let got: Vec<_> = answers.iter().map(|(p, _, d)| (*p, d.clone())).collect();
        assert_eq!(
            got,
            vec![
                (PeerKey(1), Some(Bytes::from_static(b"abcd"))),
                (PeerKey(2), Some(Bytes::from_static(b"efgh")))
            ]
        );
        assert!(matches!(reads.request(PeerKey(1), block(3, 4)), Lookup::Ready(d) if d == "efgh"));
    }

    #[test]
    fn a_failed_read_fails_its_waiters_and_is_not_cached() {
        let mut reads = PieceReads::default();
        reads.request(PeerKey(1), block(0, 0));
        assert_eq!(reads.piece_read(0, None)[0].2, None);
        assert!(matches!(
            reads.request(PeerKey(1), block(0, 0)),
            Lookup::Queued { start_read: true }
        ));
    }

    #[test]
    fn the_cache_is_bounded() {
        let mut reads = PieceReads::default();
        let big = Bytes::from(vec![0u8; 8 << 20]);
        for piece in 0..5 {
            reads.request(PeerKey(1), block(piece, 0));
            reads.piece_read(piece, Some(big.clone()));
        }
        assert_eq!(reads.cache.len(), 2);
        assert!(matches!(
            reads.request(PeerKey(1), block(4, 0)),
            Lookup::Ready(_)
        ));
        assert!(matches!(
            reads.request(PeerKey(1), block(0, 0)),
            Lookup::Queued { .. }
        ));
    }
}
