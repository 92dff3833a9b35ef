//! Serving peers' block requests a span at a time, for drivers: storage is read a span (a
//! piece, a stretch of a long one, or a run of short ones) at once and the span kept, since a
//! peer asks for a piece's blocks one after another, and for pieces in order.
//!
//! Every storage read costs a round trip — a thread hand-off and the storage lock for a native,
//! a `Blob` slice or a message to the OPFS worker for a page — and one per 16 KiB block made
//! those, not bandwidth, the limit of a seed. A span is read once, and its blocks are views into
//! it.

use std::collections::{BTreeMap, VecDeque};

use bytes::Bytes;

use crate::engine::PeerKey;
use crate::metainfo::Info;
use crate::wire::BlockRef;
use crate::Bitfield;

/// A stretch of the payload read at once: part of one piece ([`Span::of`]), or whole pieces
/// that are all ours ([`Span::across`]). Never a piece we are still downloading next to one we
/// have: a kept span must not go stale when a piece is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Span {
    /// The piece it starts in.
    pub piece: u32,
    /// Offset in that piece.
    pub begin: u32,
    pub len: u32,
    /// The torrent's piece length, to place blocks of the pieces after `piece`.
    piece_length: u32,
}

impl Span {
    /// The span that holds `block` when spans are at most `longest` bytes (a whole piece if it
    /// is no longer), or `None` for a block across two spans (read it alone) or outside the
    /// payload.
    pub fn of(info: &Info, block: &BlockRef, longest: u32) -> Option<Self> {
        let stride = info.piece_length.min(longest);
        if stride == 0 {
            return None;
        }
        let begin = block.begin / stride * stride;
        let len = stride.min(info.piece_size(block.piece).checked_sub(begin)?);
        let end = block.begin.checked_add(block.len)?;
        (end <= begin + len).then_some(Self {
            piece: block.piece,
            begin,
            len,
            piece_length: info.piece_length,
        })
    }

    /// Like [`Span::of`], but where `longest` holds several pieces and `have` holds every one
    /// of the aligned run of them that `block` is in, the span is that whole run: peers ask
    /// for pieces in order (the picker's extent affinity), so one read serves several.
    pub fn across(info: &Info, block: &BlockRef, longest: u32, have: &Bitfield) -> Option<Self> {
        let per_span = longest / info.piece_length.max(1);
        let fits = block
            .begin
            .checked_add(block.len)
            .is_some_and(|end| end <= info.piece_size(block.piece));
        if per_span >= 2 && fits {
            let first = block.piece / per_span * per_span;
            let pieces = first..(first + per_span).min(info.piece_count());
            if pieces.clone().all(|piece| have.get(piece)) {
                return Some(Self {
                    piece: first,
                    begin: 0,
                    len: pieces.map(|piece| info.piece_size(piece)).sum(),
                    piece_length: info.piece_length,
                });
            }
        }
        Self::of(info, block, longest)
    }

    /// Its byte offset in the payload.
    pub fn offset(&self, info: &Info) -> u64 {
        u64::from(self.piece) * u64::from(info.piece_length) + u64::from(self.begin)
    }

    /// `block`'s bytes out of this span's, without copying.
    fn cut(&self, data: &Bytes, block: &BlockRef) -> Option<Bytes> {
        let pieces_in = u64::from(block.piece.checked_sub(self.piece)?);
        let from = (pieces_in * u64::from(self.piece_length) + u64::from(block.begin))
            .checked_sub(u64::from(self.begin))?;
        let from = usize::try_from(from).ok()?;
        let to = from.checked_add(usize::try_from(block.len).ok()?)?;
        (to <= data.len()).then(|| data.slice(from..to))
    }
}

/// What became of a block request.
pub enum Lookup {
    /// Its span is kept: here are the bytes.
    Ready(Bytes),
    /// Its span is being read; the request waits for it.
    Waiting,
    /// Nobody reads its span yet: the caller starts that read (the request waits for it).
    Start,
}

/// Spans read or being read, with the requests waiting for them.
pub struct SpanReads {
    /// Most recently read last.
    kept: VecDeque<(Span, Bytes)>,
    /// Bytes of spans kept; at least two spans are kept whatever their size.
    keep_bytes: usize,
    loading: BTreeMap<Span, Vec<(PeerKey, BlockRef)>>,
}

impl SpanReads {
    pub fn new(keep_bytes: usize) -> Self {
        Self {
            kept: VecDeque::new(),
            keep_bytes,
            loading: BTreeMap::new(),
        }
    }

    pub fn request(&mut self, span: Span, peer: PeerKey, block: BlockRef) -> Lookup {
        if let Some((_, data)) = self.kept.iter().find(|(kept, _)| *kept == span) {
            if let Some(bytes) = span.cut(data, &block) {
                return Lookup::Ready(bytes);
            }
        }
        match self.loading.get_mut(&span) {
            Some(waiting) => {
                waiting.push((peer, block));
                Lookup::Waiting
            }
            None => {
                self.loading.insert(span, vec![(peer, block)]);
                Lookup::Start
            }
        }
    }

    /// The span's read finished (`None`: it failed). Returns each waiting request with its
    /// bytes, or `None` where there are none to give.
    pub fn loaded(
        &mut self,
        span: Span,
        data: Option<Bytes>,
    ) -> Vec<(PeerKey, BlockRef, Option<Bytes>)> {
        let waiting = self.loading.remove(&span).unwrap_or_default();
        let data = data.filter(|data| data.len() == span.len as usize);
        let answers = waiting
            .into_iter()
            .map(|(peer, block)| {
                let bytes = data.as_ref().and_then(|data| span.cut(data, &block));
                (peer, block, bytes)
            })
            .collect();
        if let Some(data) = data {
            self.kept.push_back((span, data));
            let mut bytes: usize = self.kept.iter().map(|(_, data)| data.len()).sum();
            while self.kept.len() > 2 && bytes > self.keep_bytes {
                bytes -= self.kept.pop_front().map_or(0, |(_, data)| data.len());
            }
        }
        answers
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metainfo::{Metainfo, TorrentBuilder};

    const MIB: u32 = 1 << 20;

    fn info(length: u64, piece_length: u32) -> Info {
        let pieces = length.div_ceil(u64::from(piece_length)) as usize;
        let builder = TorrentBuilder {
            name: "t".into(),
            files: vec![(Vec::new(), length)],
            piece_length,
            ..TorrentBuilder::default()
        };
        let metainfo: Metainfo = builder.build(vec![[0; 20]; pieces]).expect("a torrent");
        metainfo.info
    }

    fn block(piece: u32, begin: u32, len: u32) -> BlockRef {
        BlockRef { piece, begin, len }
    }

    #[test]
    fn a_span_is_a_whole_short_piece_or_a_stretch_of_a_long_one() {
        let short = info(100_000, 32_768);
        let last = Span::of(&short, &block(3, 0, 1_696), MIB).expect("in the last piece");
        assert_eq!((last.piece, last.begin, last.len), (3, 0, 1_696));
        assert_eq!(last.offset(&short), 98_304);

        let long = info(8 << 20, 4 << 20);
        let span = Span::of(&long, &block(1, (1 << 20) + 16_384, 16_384), MIB).expect("inside");
        assert_eq!((span.piece, span.begin, span.len), (1, 1 << 20, 1 << 20));
        assert_eq!(span.offset(&long), (5 << 20) as u64);
    }

    #[test]
    fn at_least_two_spans_are_kept_whatever_their_size() {
        let info = info(1 << 20, 65_536);
        let mut reads = SpanReads::new(0);
        for piece in 0..3 {
            let block = block(piece, 0, 16_384);
            let span = Span::of(&info, &block, MIB).expect("a span");
            reads.request(span, PeerKey(1), block);
            reads.loaded(span, Some(Bytes::from(vec![0; 65_536])));
        }
        // Newest first: asking for an evicted span starts its read again, which keeps nothing.
        let kept: Vec<bool> = (0..3)
            .rev()
            .map(|piece| {
                let block = block(piece, 0, 16_384);
                let span = Span::of(&info, &block, MIB).expect("a span");
                matches!(reads.request(span, PeerKey(1), block), Lookup::Ready(_))
            })
            .collect();
        assert_eq!(kept, vec![true, true, false]);
    }

    #[test]
    fn blocks_across_spans_or_past_the_piece_have_none() {
        let long = info(8 << 20, 4 << 20);
        assert!(Span::of(&long, &block(0, (1 << 20) - 8, 16), MIB).is_none());
        assert!(Span::of(&long, &block(1, (4 << 20) - 8, 16), MIB).is_none());
        assert!(Span::of(&long, &block(7, 0, 16), MIB).is_none());
        assert!(Span::of(&long, &block(0, u32::MAX, 16), MIB).is_none());
    }

    #[test]
    fn one_read_serves_every_block_of_its_span_then_stays_kept() {
        let info = info(1 << 20, 65_536);
        let mut reads = SpanReads::new(8 * MIB as usize);
        let first = block(2, 0, 16_384);
        let second = block(2, 16_384, 16_384);
        let span = Span::of(&info, &first, MIB).expect("a span");
        assert!(matches!(
            reads.request(span, PeerKey(1), first),
            Lookup::Start
        ));
        assert!(matches!(
            reads.request(span, PeerKey(2), second),
            Lookup::Waiting
        ));

        let data = Bytes::from((0..65_536u32).map(|i| i as u8).collect::<Vec<_>>());
        let answers = reads.loaded(span, Some(data.clone()));
        assert_eq!(answers.len(), 2);
        assert_eq!(answers[1].2.as_deref(), Some(&data[16_384..32_768]));

        let third = block(2, 49_152, 16_384);
        match reads.request(span, PeerKey(1), third) {
            Lookup::Ready(bytes) => assert_eq!(&bytes[..], &data[49_152..]),
            _ => panic!("the span is kept"),
        }
    }

    #[test]
    fn a_failed_or_short_read_answers_nothing_and_is_not_kept() {
        let info = info(1 << 20, 65_536);
        let mut reads = SpanReads::new(8 * MIB as usize);
        let first = block(0, 0, 16_384);
        let span = Span::of(&info, &first, MIB).expect("a span");
        reads.request(span, PeerKey(1), first);
        let answers = reads.loaded(span, Some(Bytes::from_static(&[0; 100])));
        assert!(answers[0].2.is_none());
        assert!(matches!(
            reads.request(span, PeerKey(1), first),
            Lookup::Start
        ));
        assert!(reads.loaded(span, None)[0].2.is_none());
    }

    #[test]
    fn a_whole_piece_is_one_span_when_spans_may_be_that_long() {
        let long = info(8 << 20, 4 << 20);
        let span = Span::of(&long, &block(1, (3 << 20) + 16_384, 16_384), u32::MAX).expect("in");
        assert_eq!((span.piece, span.begin, span.len), (1, 0, 4 << 20));
    }

    #[test]
    fn a_run_of_short_pieces_we_all_have_is_one_span() {
        // Ten pieces of 256 KiB, the last short: runs of four under a 1 MiB limit.
        let info = info(9 * (256 << 10) + 1_000, 256 << 10);
        let mut have = Bitfield::full(10);
        let run = Span::across(&info, &block(6, 16_384, 16_384), MIB, &have).expect("in");
        assert_eq!((run.piece, run.begin, run.len), (4, 0, MIB));
        assert_eq!(run.offset(&info), 4 * (256 << 10));
        let tail = Span::across(&info, &block(9, 0, 1_000), MIB, &have).expect("in");
        assert_eq!((tail.piece, tail.len), (8, (256 << 10) + 1_000));

        // One read serves blocks of every piece of the run, each from its own place.
        let data = Bytes::from((0..MIB).map(|i| (i / 16_384) as u8).collect::<Vec<_>>());
        let mut reads = SpanReads::new(8 * MIB as usize);
        let first = block(4, 0, 16_384);
        assert!(matches!(
            reads.request(run, PeerKey(1), first),
            Lookup::Start
        ));
        reads.loaded(run, Some(data));
        let later = block(6, 32_768, 16_384);
        match reads.request(run, PeerKey(1), later) {
            // Block 2 of the run's third piece: the run's 16 KiB block 2 · 16 + 2.
            Lookup::Ready(bytes) => assert!(bytes.iter().all(|&b| b == 34)),
            _ => panic!("the run is kept"),
        }

        // A piece of the run missing: only the piece, which is never stale once written.
        have.clear(5);
        let alone = Span::across(&info, &block(6, 0, 16_384), MIB, &have).expect("in");
        assert_eq!((alone.piece, alone.begin, alone.len), (6, 0, 256 << 10));
        // A block past its piece's end is never cut out of the next piece's bytes.
        assert!(Span::across(&info, &block(4, 250 << 10, 16_384), MIB, &have).is_none());
    }

    #[test]
    fn only_the_latest_spans_are_kept() {
        let info = info(1 << 20, 16_384);
        let mut reads = SpanReads::new(8 * 16_384);
        for piece in 0..=8 {
            let block = block(piece, 0, 16_384);
            let span = Span::of(&info, &block, MIB).expect("a span");
            reads.request(span, PeerKey(1), block);
            reads.loaded(span, Some(Bytes::from(vec![0; 16_384])));
        }
        let oldest = block(0, 0, 16_384);
        let span = Span::of(&info, &oldest, MIB).expect("a span");
        assert!(matches!(
            reads.request(span, PeerKey(1), oldest),
            Lookup::Start
        ));
    }
}
