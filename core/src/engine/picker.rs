//! Which blocks to request from whom: random first pieces, then rarest-first, partial pieces
//! finished before new ones are started unless the peer has a new piece rarer than they are,
//! and a strict endgame that allows duplicate requests only once every missing block is already
//! requested.
//!
//! Rarity ranks started pieces too (libtorrent does the same): a seed asked first for the rest
//! of pieces that other peers already hold spends its upload on copies the swarm could make
//! itself, and the swarm then waits for pieces only the seed has (20 laptops, sites off: the
//! origin sent 2.5 copies and every laptop finished at once, 1.29 × the bound; with rarity
//! first, 1.45 copies and a median of 1.1 ×, `docs/simulation.md`).
//!
//! Among equally rare pieces, a peer is asked for the rest of the extent (an aligned stretch
//! of [`EXTENT_BYTES`]) of the piece it was asked for last (piece extent affinity, as
//! libtorrent has it):
//! its storage reads whole extents at once, so pieces asked in order cost it one read per
//! extent instead of one each. Only within an extent: peers taking every piece in order would
//! fall in step behind each other and ask the same uploaders for the same pieces.
//!
//! The picker also holds the bytes of pieces being downloaded until they are verified, so nothing
//! unverified ever reaches storage.

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::wire::{BlockRef, BLOCK_SIZE};
use crate::Bitfield;

use super::{PartialSnapshot, PeerKey, PieceOrder};

/// Pieces fetched in random order before switching to rarest-first: a newcomer needs complete
/// pieces quickly to have something to trade.
const RANDOM_FIRST_PIECES: u32 = 4;
/// A peer is asked for the pieces of a stretch this long in order, among equally rare ones
/// (see the module's doc); drivers read spans of the same length, aligned the same way.
pub const EXTENT_BYTES: u32 = 1 << 20;
/// Most peers that may be asked for the same block in endgame.
const MAX_ENDGAME_DUPLICATES: u8 = 3;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PieceState {
    Missing,
    Partial,
    /// Complete in memory, being verified or written.
    Pending,
    Have,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlockState {
    Free,
    /// Outstanding at this many peers.
    Requested(u8),
    Received,
}

struct Partial {
    blocks: Vec<BlockState>,
    /// Blocks in state `Free`: a piece with none is skipped without walking its blocks.
    free: u32,
    received: u32,
    data: Vec<u8>,
    /// Peers that supplied blocks, to blame when the piece fails its hash.
    contributors: Vec<PeerKey>,
    /// A peer on parole downloads pieces alone, so a bad one can be pinned on it.
    owner: Option<PeerKey>,
}

/// What became of a received block.
#[derive(Debug)]
pub(crate) enum Received {
    /// Stored; the piece still misses blocks.
    Stored,
    /// Stored and the piece is complete: verify `data`.
    PieceComplete {
        piece: u32,
        data: Bytes,
        contributors: Vec<PeerKey>,
    },
    /// Not needed (already received from another peer, or the piece is no longer wanted).
    Unwanted,
}

pub(crate) struct Picker {
    piece_length: u32,
    total_length: u64,
    state: Vec<PieceState>,
    have: Bitfield,
    /// Peers holding each piece, not counting `seeds`.
    availability: Vec<u32>,
    /// Peers holding every piece.
    seeds: u32,
    partials: BTreeMap<u32, Partial>,
    max_partials: usize,
    /// Pieces in state `Missing`: endgame starts when none are left.
    missing: u32,
    /// The same pieces as a wire-order bit set, so a new piece is found a byte at a time.
    missing_bits: Bitfield,
    order: PieceOrder,
    rng: fastrand::Rng,
    /// Bumped whenever a pick that found nothing could now find something (a block freed, a
    /// piece failed, finished or stored): lets callers skip peers that had nothing for us.
    epoch: u64,
}

impl Picker {
    pub fn new(
        piece_length: u32,
        total_length: u64,
        have: Bitfield,
        max_partials: usize,
        order: PieceOrder,
        rng_seed: u64,
    ) -> Self {
        let count = have.len();
        let state: Vec<_> = (0..count)
            .map(|p| {
                if have.get(p) {
                    PieceState::Have
                } else {
                    PieceState::Missing
                }
            })
            .collect();
        let mut missing_bits = Bitfield::new(count);
        (0..count).filter(|&p| !have.get(p)).for_each(|p| {
            missing_bits.set(p);
        });
        Self {
            piece_length,
            total_length,
            missing: count - have.count_ones(),
            missing_bits,
            state,
            have,
            availability: vec![0; count as usize],
            seeds: 0,
            partials: BTreeMap::new(),
            max_partials: max_partials.max(1),
            order,
            rng: fastrand::Rng::with_seed(rng_seed),
            epoch: 0,
        }
    }

    pub fn have(&self) -> &Bitfield {
        &self.have
    }

    /// Changes when picks that came back empty may no longer do so (see `epoch`).
    pub fn epoch(&self) -> u64 {
        self.epoch
    }

    pub fn piece_size(&self, piece: u32) -> u32 {
        let start = piece as u64 * self.piece_length as u64;
        (self.total_length.saturating_sub(start)).min(self.piece_length as u64) as u32
    }

    fn blocks_in(&self, piece: u32) -> u32 {
        self.piece_size(piece).div_ceil(BLOCK_SIZE)
    }

    fn block(&self, piece: u32, index: u32) -> BlockRef {
        let begin = index * BLOCK_SIZE;
        BlockRef {
            piece,
            begin,
            len: (self.piece_size(piece) - begin).min(BLOCK_SIZE),
        }
    }

    /// Bytes not yet verified and stored.
    pub fn left(&self) -> u64 {
        (0..self.have.len())
            .filter(|&p| !self.have.get(p))
            .map(|p| self.piece_size(p) as u64)
            .sum()
    }

    // --- availability -------------------------------------------------------------------------

    pub fn add_seed(&mut self) {
        self.seeds += 1;
    }
    pub fn remove_seed(&mut self) {
        self.seeds = self.seeds.saturating_sub(1);
    }
    pub fn add_piece(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a += 1;
        }
    }
    pub fn remove_piece(&mut self, piece: u32) {
        if let Some(a) = self.availability.get_mut(piece as usize) {
            *a = a.saturating_sub(1);
        }
    }
    pub fn add_bitfield(&mut self, bits: &Bitfield) {
        bits.iter_ones().for_each(|p| self.add_piece(p));
    }
    pub fn remove_bitfield(&mut self, bits: &Bitfield) {
        bits.iter_ones().for_each(|p| self.remove_piece(p));
    }

    // --- picking -------------------------------------------------------------------------------

    /// Every missing piece is started: blocks may now be outstanding at several peers.
    pub fn all_started(&self) -> bool {
        self.missing == 0 && !self.partials.is_empty()
    }

    /// Picks up to `want` blocks to request from a peer holding `peer_has` (`None`: every piece).
    /// `outstanding` tells which blocks this peer has been asked for already; `last` is the
    /// piece it was asked for last, whose extent it gets first among equally rare pieces.
    pub fn pick(
        &mut self,
        peer_has: Option<&Bitfield>,
        last: Option<u32>,
        want: usize,
        outstanding: impl Fn(&BlockRef) -> bool,
        parole: Option<PeerKey>,
        out: &mut Vec<BlockRef>,
    ) {
        let has = |p: u32| peer_has.is_none_or(|b| b.get(p));
        // Pieces a peer on parole starts are its own: nobody else adds blocks to them, so if
        // one fails, the parolee alone sent it. Unowned pieces stay open to everybody.
        let usable = |partial: &Partial| partial.owner.is_none() || partial.owner == parole;
        let start = out.len();
        let taken = |picker: &mut Self, piece: u32, out: &mut Vec<BlockRef>| {
            let blocks = picker.blocks_in(piece);
            for index in 0..blocks {
                if out.len() - start >= want {
                    return;
                }
                let block = picker.block(piece, index);
                let Some(partial) = picker.partials.get_mut(&piece) else {
                    return;
                };
                if partial.free == 0 {
                    return;
                }
                if partial.blocks[index as usize] == BlockState::Free {
                    partial.blocks[index as usize] = BlockState::Requested(1);
                    partial.free -= 1;
                    out.push(block);
                }
            }
        };
        let started = |picker: &Self, free_only: bool| -> Vec<u32> {
            let pieces = picker.partials.iter().filter(|(p, partial)| {
                (!free_only || partial.free > 0) && has(**p) && usable(partial)
            });
            pieces.map(|(p, _)| *p).collect()
        };

        // 1. Finish what is started, rarest first, unless this peer has a new piece rarer still:
        //    then that one first (see the module's doc). Equally rare, the started piece wins.
        let mut by_rarity: Vec<(u32, u32)> = started(self, true)
            .into_iter()
            .map(|p| (self.availability(p), p))
            .collect();
        by_rarity.sort_unstable();
        let mut by_rarity = by_rarity.into_iter().peekable();
        let mut last = last;
        let mut new: Option<(u32, u32)> = None;
        while out.len() - start < want {
            if new.is_none() && self.partials.len() < self.max_partials {
                new = self.choose_new_piece(peer_has, last);
            }
            match (by_rarity.peek().copied(), new) {
                (Some((rarity, piece)), new_piece)
                    if new_piece.is_none_or(|(_, n)| rarity <= n) =>
                {
                    by_rarity.next();
                    taken(self, piece, out);
                }
                // 2. Start a new piece.
                (_, Some((piece, _))) => {
                    new = None;
                    last = Some(piece);
                    self.start_piece(piece, parole);
                    taken(self, piece, out);
                }
                (_, None) => break,
            }
        }
        // 3. Endgame: ask this peer too for blocks others have not delivered yet.
        if out.len() - start < want && self.missing == 0 {
            'outer: for piece in started(self, false) {
                for index in 0..self.blocks_in(piece) {
                    if out.len() - start >= want {
                        break 'outer;
                    }
                    let block = self.block(piece, index);
                    if outstanding(&block) {
                        continue;
                    }
                    let Some(partial) = self.partials.get_mut(&piece) else {
                        continue;
                    };
                    if let BlockState::Requested(n) = &mut partial.blocks[index as usize] {
                        if *n < MAX_ENDGAME_DUPLICATES {
                            *n += 1;
                            out.push(block);
                        }
                    }
                }
            }
        }
    }

    /// How the blocks of each piece being downloaded stand (diagnostics).
    pub fn partial_snapshots(&self) -> Vec<PartialSnapshot> {
        let count = |partial: &Partial, f: fn(&BlockState) -> bool| {
            partial.blocks.iter().filter(|b| f(b)).count() as u32
        };
        self.partials
            .iter()
            .map(|(piece, partial)| PartialSnapshot {
                piece: *piece,
                free: partial.free,
                requested: count(partial, |b| matches!(b, BlockState::Requested(_))),
                received: partial.received,
            })
            .collect()
    }

    /// Something outside the picker changed what peers may be asked for: picks that found
    /// nothing are worth trying again.
    pub fn wake(&mut self) {
        self.epoch += 1;
    }

    /// A peer on parole is gone or stalled: the pieces it owned are open to everybody again.
    pub fn disown(&mut self, peer: PeerKey) {
        self.epoch += 1;
        for partial in self.partials.values_mut().filter(|p| p.owner == Some(peer)) {
            partial.owner = None;
        }
    }

    /// The next piece to start among those missing that the peer has (`None`: all of them):
    /// one of the rarest, from the rest of `last`'s extent if it has one. Works a byte (eight pieces) at a time,
    /// skipping bytes with no candidate, so a peer that has nothing new costs a pass over
    /// `pieces / 8` bytes rather than a test per piece.
    fn choose_new_piece(
        &mut self,
        peer_has: Option<&Bitfield>,
        last: Option<u32>,
    ) -> Option<(u32, u32)> {
        let bytes = self.missing_bits.as_bytes().len();
        if bytes == 0 || self.missing == 0 {
            return None;
        }
        let candidates = |i: usize| {
            let missing = self.missing_bits.as_bytes()[i];
            peer_has.map_or(missing, |b| {
                missing & b.as_bytes().get(i).copied().unwrap_or(0)
            })
        };
        let ones = |i: usize, byte: u8| {
            (0..8u32)
                .filter(move |bit| byte & (0x80 >> bit) != 0)
                .map(move |bit| i as u32 * 8 + bit)
        };
        if self.order == PieceOrder::Sequential {
            return (0..bytes)
                .find_map(|i| Some(candidates(i)).filter(|c| *c != 0).map(|c| (i, c)))
                .and_then(|(i, c)| ones(i, c).next())
                .map(|piece| (piece, self.availability(piece)));
        }
        let random_first =
            self.have.count_ones() + (self.partials.len() as u32) < RANDOM_FIRST_PIECES;
        // One of the rarest of the rest of `last`'s extent, which wins a tie: at random, as
        // peers taking the same extent in order would ask for the same pieces.
        let extent = (EXTENT_BYTES / self.piece_length.max(1)).max(1);
        let mut rest: Vec<(u32, u32)> = Vec::new();
        if let Some(last) = last.filter(|_| !random_first && extent > 1) {
            let start = last / extent * extent;
            rest.extend(
                (start..(start + extent).min(self.have.len()))
                    .filter(|&p| self.missing_bits.get(p) && peer_has.is_none_or(|b| b.get(p)))
                    .map(|p| (p, self.availability(p))),
            );
        }
        let rarest = rest.iter().map(|&(_, a)| a).min();
        rest.retain(|&(_, a)| Some(a) == rarest);
        let local = (!rest.is_empty()).then(|| rest[self.rng.usize(0..rest.len())]);
        if let Some((_, 0..=1)) = local {
            return local;
        }
        // Scanning from a random byte breaks ties between equally rare pieces at random: peers
        // that took the same pieces in order would stay in step, asking for the same ones.
        let offset = self.rng.usize(0..bytes);
        let mut best: Option<(u32, u32)> = None;
        'scan: for i in (offset..bytes).chain(0..offset) {
            let byte = candidates(i);
            if byte == 0 {
                continue;
            }
            for piece in ones(i, byte) {
                let avail = self.availability(piece);
                if random_first {
                    return Some((piece, avail));
                }
                if best.is_none_or(|(_, a)| avail < a) {
                    best = Some((piece, avail));
                    if avail <= 1 {
                        break 'scan;
                    }
                }
            }
        }
        match (local, best) {
            (Some((piece, a)), Some((_, b))) if a <= b => Some((piece, a)),
            (_, best) => best,
        }
    }

    /// Peers known to hold a piece, seeds included.
    fn availability(&self, piece: u32) -> u32 {
        self.availability[piece as usize] + self.seeds
    }

    fn start_piece(&mut self, piece: u32, owner: Option<PeerKey>) {
        let blocks = self.blocks_in(piece) as usize;
        self.state[piece as usize] = PieceState::Partial;
        self.missing -= 1;
        self.missing_bits.clear(piece);
        self.partials.insert(
            piece,
            Partial {
                blocks: vec![BlockState::Free; blocks],
                free: blocks as u32,
                received: 0,
                data: vec![0; self.piece_size(piece) as usize],
                contributors: Vec::new(),
                owner,
            },
        );
    }

    /// A request was cancelled, rejected or lost with its peer: the block may be asked again.
    pub fn release(&mut self, block: &BlockRef) {
        self.epoch += 1;
        let index = (block.begin / BLOCK_SIZE) as usize;
        let Some(partial) = self.partials.get_mut(&block.piece) else {
            return;
        };
        if let Some(BlockState::Requested(n)) = partial.blocks.get_mut(index) {
            if *n > 1 {
                *n -= 1;
            } else {
                partial.blocks[index] = BlockState::Free;
                partial.free += 1;
            }
        }
    }

    /// Stores a block's data. The caller has checked that `begin`/`len` are a valid block.
    pub fn receive(&mut self, from: PeerKey, block: &BlockRef, data: &[u8]) -> Received {
        let index = (block.begin / BLOCK_SIZE) as usize;
        let expected = self.block(block.piece, index as u32);
        let Some(partial) = self.partials.get_mut(&block.piece) else {
            return Received::Unwanted;
        };
        if expected != *block || data.len() != block.len as usize {
            return Received::Unwanted;
        }
        match partial.blocks[index] {
            BlockState::Received => return Received::Unwanted,
            BlockState::Free => partial.free -= 1,
            BlockState::Requested(_) => {}
        }
        partial.blocks[index] = BlockState::Received;
        partial.received += 1;
        let begin = block.begin as usize;
        partial.data[begin..begin + data.len()].copy_from_slice(data);
        if !partial.contributors.contains(&from) {
            partial.contributors.push(from);
        }
        if partial.received < partial.blocks.len() as u32 {
            return Received::Stored;
        }
        let Some(done) = self.partials.remove(&block.piece) else {
            return Received::Unwanted;
        };
        self.state[block.piece as usize] = PieceState::Pending;
        self.epoch += 1;
        Received::PieceComplete {
            piece: block.piece,
            data: Bytes::from(done.data),
            contributors: done.contributors,
        }
    }

    /// Complete in memory, waiting for its hash check or its write.
    pub fn is_pending(&self, piece: u32) -> bool {
        self.state.get(piece as usize) == Some(&PieceState::Pending)
    }

    /// A pending piece failed its hash or its write: fetch it again.
    pub fn piece_failed(&mut self, piece: u32) {
        if self.state.get(piece as usize) == Some(&PieceState::Pending) {
            self.state[piece as usize] = PieceState::Missing;
            self.epoch += 1;
            self.missing += 1;
            self.missing_bits.set(piece);
        }
    }

    /// A pending piece is verified and stored. Returns false if it was not pending.
    pub fn piece_stored(&mut self, piece: u32) -> bool {
        if self.state.get(piece as usize) != Some(&PieceState::Pending) {
            return false;
        }
        self.state[piece as usize] = PieceState::Have;
        self.epoch += 1;
        self.have.set(piece);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PIECE: u32 = 4 * BLOCK_SIZE;

    fn picker(pieces: u32) -> Picker {
        Picker::new(
            PIECE,
            pieces as u64 * PIECE as u64 - 100,
            Bitfield::new(pieces),
            64,
            PieceOrder::RarestFirst,
            7,
        )
    }

    /// Random-first is over.
    fn have_the_first_four(p: &mut Picker) {
        for piece in 0..4 {
            p.start_piece(piece, None);
            p.state[piece as usize] = PieceState::Pending;
            p.partials.remove(&piece);
            p.piece_stored(piece);
        }
    }

    fn complete(p: &mut Picker, peer: PeerKey, blocks: &[BlockRef]) -> Vec<u32> {
        let mut done = Vec::new();
        for b in blocks {
            if let Received::PieceComplete { piece, .. } =
                p.receive(peer, b, &vec![1; b.len as usize])
            {
                assert!(p.piece_stored(piece));
                done.push(piece);
            }
        }
        done
    }

    #[test]
    fn finishes_started_pieces_before_new_ones() {
        let mut p = picker(10);
        let mut out = Vec::new();
        p.pick(None, None, 2, |_| false, None, &mut out);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].piece, out[1].piece);
        let mut more = Vec::new();
        p.pick(None, None, 2, |_| false, None, &mut more);
        assert!(more.iter().all(|b| b.piece == out[0].piece));
    }

    #[test]
    fn a_rarer_new_piece_comes_before_a_commoner_started_one() {
        let mut p = picker(8);
        have_the_first_four(&mut p);
        p.add_seed();
        // Piece 4 is started from a peer that holds it; 5-7 only the seed has.
        p.add_piece(4);
        let mut has4 = Bitfield::new(8);
        has4.set(4);
        let mut first = Vec::new();
        p.pick(Some(&has4), None, 1, |_| false, None, &mut first);
        assert_eq!(first[0].piece, 4);
        // Asking the seed: its rarest pieces first, so its upload brings in what nobody else
        // can; the started piece's other blocks come after them.
        let mut from_seed = Vec::new();
        p.pick(None, None, 4, |_| false, None, &mut from_seed);
        assert!(from_seed.iter().all(|b| b.piece != 4), "{from_seed:?}");
        let mut rest = Vec::new();
        p.pick(None, None, 11, |_| false, None, &mut rest);
        let pieces: Vec<u32> = rest.iter().map(|b| b.piece).collect();
        assert!(pieces[..8].iter().all(|&p| p == 6 || p == 7), "{pieces:?}");
        assert_eq!(pieces[8..], [4, 4, 4]);
        // Equally rare, the started piece wins: piece 4 is now as rare as the seed's others.
        let mut q = picker(8);
        have_the_first_four(&mut q);
        q.add_seed();
        let mut started = Vec::new();
        q.pick(None, None, 1, |_| false, None, &mut started);
        let mut next = Vec::new();
        q.pick(None, None, 3, |_| false, None, &mut next);
        assert!(next.iter().all(|b| b.piece == started[0].piece));
    }

    #[test]
    fn rarest_first_after_the_random_start() {
        let mut p = picker(20);
        have_the_first_four(&mut p);
        for piece in 4..20 {
            for _ in 0..(1 + piece % 5) {
                p.add_piece(piece);
            }
        }
        p.availability[13] = 1; // 13 is the rarest; 4, 9, 14, 19 also have 1
        let mut out = Vec::new();
        p.pick(None, None, 1, |_| false, None, &mut out);
        assert_eq!(p.availability[out[0].piece as usize], 1);
    }

    #[test]
    fn last_piece_is_short_and_blocks_cover_it() {
        let mut p = picker(3);
        let mut out = Vec::new();
        p.pick(None, None, 12, |_| false, None, &mut out);
        assert_eq!(out.len(), 12);
        assert_eq!(
            out.iter().collect::<std::collections::BTreeSet<_>>().len(),
            12
        );
        let total: u64 = out.iter().map(|b| b.len as u64).sum();
        assert_eq!(total, 3 * PIECE as u64 - 100);
        assert_eq!(complete(&mut p, PeerKey(1), &out).len(), 3);
        assert!(p.have().is_full());
        assert_eq!(p.left(), 0);
    }

    #[test]
    fn endgame_duplicates_only_when_nothing_is_unrequested() {
        let mut p = picker(2);
        let mut a = Vec::new();
        p.pick(None, None, 7, |_| false, None, &mut a);
        // The one block nobody was asked for comes first...
        let mut b = Vec::new();
        p.pick(None, None, 1, |_| false, None, &mut b);
        assert!(!a.contains(&b[0]));
        assert!(p.all_started());
        // ...then duplicates of `a`'s blocks, never of one this peer already has outstanding.
        let first = b.clone();
        p.pick(None, None, 100, |blk| first.contains(blk), None, &mut b);
        assert!(b[1..].iter().all(|blk| a.contains(blk)));
        assert_eq!(b.len(), 8);
        // A peer never gets the same block twice.
        let mut c = Vec::new();
        p.pick(
            None,
            None,
            100,
            |blk| a.contains(blk) || b.contains(blk),
            None,
            &mut c,
        );
        assert!(c.is_empty());
    }

    #[test]
    fn failed_piece_is_fetched_again_and_duplicates_are_unwanted() {
        let mut p = picker(1);
        let mut out = Vec::new();
        p.pick(None, None, 10, |_| false, None, &mut out);
        for b in &out[..3] {
            assert!(matches!(
                p.receive(PeerKey(1), b, &vec![0; b.len as usize]),
                Received::Stored
            ));
        }
        assert!(matches!(
            p.receive(PeerKey(2), &out[0], &vec![0; BLOCK_SIZE as usize]),
            Received::Unwanted
        ));
        let Received::PieceComplete {
            piece,
            contributors,
            ..
        } = p.receive(PeerKey(2), &out[3], &vec![0; out[3].len as usize])
        else {
            panic!("piece should be complete")
        };
        assert_eq!(contributors, vec![PeerKey(1), PeerKey(2)]);
        p.piece_failed(piece);
        let mut again = Vec::new();
        p.pick(None, None, 10, |_| false, None, &mut again);
        assert_eq!(again, out);
    }

    #[test]
    fn a_peer_on_parole_downloads_pieces_alone() {
        let mut p = picker(4);
        let suspect = PeerKey(9);
        let mut mine = Vec::new();
        p.pick(None, None, 2, |_| false, Some(suspect), &mut mine);
        // Nobody else gets blocks of the suspect's piece, not even in endgame.
        let mut others = Vec::new();
        p.pick(None, None, 100, |_| false, None, &mut others);
        assert!(others.iter().all(|b| b.piece != mine[0].piece));
        // The suspect can still finish its own piece.
        let mut more = Vec::new();
        p.pick(
            None,
            None,
            2,
            |b| mine.contains(b),
            Some(suspect),
            &mut more,
        );
        assert!(more.len() == 2 && more.iter().all(|b| b.piece == mine[0].piece));
        // Once it is gone, its piece is everybody's.
        p.disown(suspect);
        let mut rest = Vec::new();
        p.pick(None, None, 100, |b| others.contains(b), None, &mut rest);
        assert!(rest.iter().any(|b| b.piece == mine[0].piece));
    }

    #[test]
    fn sequential_order_starts_the_lowest_missing_piece_the_peer_has() {
        let mut p = Picker::new(
            PIECE,
            10 * PIECE as u64,
            Bitfield::new(10),
            64,
            PieceOrder::Sequential,
            7,
        );
        let mut has = Bitfield::full(10);
        has.clear(0);
        let mut out = Vec::new();
        p.pick(Some(&has), None, 8, |_| false, None, &mut out);
        let pieces: Vec<u32> = out.iter().map(|b| b.piece).collect();
        assert_eq!(pieces, [1, 1, 1, 1, 2, 2, 2, 2]);
    }

    #[test]
    fn equally_rare_pieces_come_from_the_extent_of_the_last() {
        // Pieces of 64 KiB: extents of 16.
        let mut p = picker(40);
        // Every piece held by one seed: all equally rare.
        have_the_first_four(&mut p);
        p.add_seed();
        let mut out = Vec::new();
        p.pick(None, Some(13), 12, |_| false, None, &mut out);
        let mut pieces: Vec<u32> = out.iter().map(|b| b.piece).collect();
        pieces.dedup();
        assert_eq!(pieces.len(), 3);
        assert!(pieces.iter().all(|p| (4..16).contains(p)), "{pieces:?}");

        // Rarer pieces still come first.
        p.remove_seed();
        for piece in (4..40).filter(|&piece| piece != 30) {
            p.add_piece(piece);
            p.add_piece(piece);
        }
        p.add_piece(30);
        let mut rarest = Vec::new();
        p.pick(None, Some(6), 1, |_| false, None, &mut rarest);
        assert_eq!(rarest[0].piece, 30);
        // Among equals, a piece of the extent that the peer has.
        let mut has = Bitfield::full(40);
        has.clear(30);
        for piece in 4..15 {
            has.clear(piece);
        }
        let mut next = Vec::new();
        p.pick(Some(&has), Some(6), 1, |_| false, None, &mut next);
        assert_eq!(next[0].piece, 15);
    }

    #[test]
    fn respects_what_the_peer_has() {
        let mut p = picker(8);
        let mut has = Bitfield::new(8);
        has.set(5);
        let mut out = Vec::new();
        p.pick(Some(&has), None, 100, |_| false, None, &mut out);
        assert!(out.iter().all(|b| b.piece == 5));
        assert_eq!(out.len(), 4);
    }
}
