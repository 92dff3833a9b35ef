//! What the torrent knows about one connected peer.

use std::collections::VecDeque;
use std::net::SocketAddr;

use crate::rate::RateMeter;
use crate::wire::{BlockRef, Decoder, DEFAULT_MAX_MESSAGE_LEN};
use crate::{Bitfield, Instant};

use super::PeerInfo;

/// Requests kept in flight to any peer that is not snubbed, before its rate is known.
pub(crate) const MIN_QUEUE_DEPTH: usize = 4;
/// Requests we queue from one peer at most, whatever it advertises.
pub(crate) const MAX_QUEUE_DEPTH: usize = 500;
/// Requests from a peer we hold at most (advertised as our `reqq`).
pub(crate) const OUR_REQQ: usize = 250;

/// What the peer holds.
#[derive(Debug, Clone)]
pub(crate) enum Holding {
    /// Nothing heard yet (BEP 3 allows skipping the bitfield when one has nothing).
    Unknown,
    Pieces(Bitfield),
    /// `have all` (fast extension) or a full bitfield.
    All,
}

pub(crate) struct Peer {
    pub info: PeerInfo,
    /// Where the peer accepts connections, when we know: the address we dialled, or, for a
    /// connection it dialled, an address of ours that turned out to reach it too (a dial we
    /// refused as a duplicate). Its entry in the address book lives as long as this connection.
    pub listen_addr: Option<SocketAddr>,
    /// On one of our local networks (see `Config::local_networks`).
    pub local: bool,
    pub decoder: Decoder,
    pub holding: Holding,
    /// Pieces they have that we lack; we are interested while this is non-zero.
    pub interesting: u32,

    pub am_choking: bool,
    pub am_interested: bool,
    /// A remote peer all of whose pieces we lack are held by colleagues or are theirs to bring
    /// in (see `locality`): we say we are not interested, so it gives its upload slot to
    /// someone who will use it, until it offers something we would take from it.
    pub held_back: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,

    /// Our requests to them, oldest first.
    pub outstanding: VecDeque<BlockRef>,
    /// Their requests to us, not yet read from storage.
    pub incoming: VecDeque<BlockRef>,
    /// Blocks being read from storage for them.
    pub reading: usize,
    /// Bytes handed to the driver for them and not yet reported written.
    pub unsent: usize,
    /// How many requests they accept (their `reqq`).
    pub their_reqq: usize,
    /// The id they receive `ut_metadata` messages under, if they speak it.
    pub their_ut_metadata: Option<u8>,

    pub downloaded: RateMeter,
    pub uploaded: RateMeter,
    /// `downloaded` total at the last rechoke: a leeching choker ranks peers by what they
    /// sent since, over its own interval rather than the rate meter's few seconds, so its
    /// choice follows `Config::rechoke_interval` (and scales with it in the simulator).
    pub received_at_rechoke: u64,
    pub last_received: Instant,
    pub last_sent: Instant,
    /// Last time they delivered a block we asked for (or when we started asking).
    pub last_block: Instant,
    /// Last tick at which either side was interested (see `Config::disinterest_timeout`).
    pub last_interest: Instant,
    pub snubbed: bool,
    /// Took part in a piece that failed its hash check along with others: from now on it gets
    /// whole pieces to itself, so if it lies again it alone is to blame.
    pub on_parole: bool,
    /// The picker's epoch and our peer count when a pick for them last found nothing: until
    /// either changes (or they send something), sweeps over all peers skip them.
    pub nothing_to_pick: Option<(u64, usize)>,
    /// The piece we asked them for last: among equally rare pieces, the rest of its extent
    /// comes first, so their storage reads stretches rather than scattered pieces.
    pub last_asked: Option<u32>,
    /// Whether the first message may still be a bitfield.
    pub expecting_bitfield: bool,
}

impl Peer {
    pub fn new(info: PeerInfo, local: bool, pieces: u32, now: Instant) -> Self {
        // The largest legal message is a bitfield or a block, whichever is bigger.
        let max_len = DEFAULT_MAX_MESSAGE_LEN.max(pieces.div_ceil(8) + 16);
        Self {
            listen_addr: info.addr.filter(|_| info.outgoing),
            info,
            local,
            decoder: Decoder::new(max_len),
            holding: Holding::Unknown,
            interesting: 0,
            am_choking: true,
            am_interested: false,
            held_back: false,
            peer_choking: true,
            peer_interested: false,
            outstanding: VecDeque::new(),
            incoming: VecDeque::new(),
            reading: 0,
            unsent: 0,
            their_reqq: OUR_REQQ,
            their_ut_metadata: None,
            downloaded: RateMeter::default(),
            uploaded: RateMeter::default(),
            received_at_rechoke: 0,
            last_received: now,
            last_sent: now,
            last_block: now,
            last_interest: now,
            snubbed: false,
            on_parole: false,
            nothing_to_pick: None,
            last_asked: None,
            expecting_bitfield: true,
        }
    }

    pub fn has(&self, piece: u32) -> bool {
        match &self.holding {
            Holding::Unknown => false,
            Holding::Pieces(b) => b.get(piece),
            Holding::All => true,
        }
    }

    pub fn is_seed(&self) -> bool {
        match &self.holding {
            Holding::All => true,
            Holding::Pieces(b) => b.is_full(),
            Holding::Unknown => false,
        }
    }

    /// Requests to keep in flight: about two seconds of this peer's rate (so a fast peer is
    /// never idle waiting for our next request), at least a few, at most what it accepts.
    pub fn queue_depth(&self, now: Instant) -> usize {
        if self.snubbed {
            return 1;
        }
        let by_rate = (self.downloaded.rate(now) * 2 / crate::wire::BLOCK_SIZE as u64) as usize;
        by_rate
            .max(MIN_QUEUE_DEPTH)
            .min(MAX_QUEUE_DEPTH.min(self.their_reqq.max(1)))
    }

    /// Bytes they sent us since the last rechoke.
    pub fn received_since_rechoke(&self) -> u64 {
        self.downloaded.total() - self.received_at_rechoke
    }

    /// How many of the torrent's `pieces` they lack (all of them until they say).
    pub fn lacks(&self, pieces: u32) -> u32 {
        match &self.holding {
            Holding::Unknown => pieces,
            Holding::Pieces(b) => pieces.saturating_sub(b.count_ones()),
            Holding::All => 0,
        }
    }

    /// Removes a block from our outstanding requests; whether it was there.
    pub fn take_outstanding(&mut self, block: &BlockRef) -> bool {
        // Blocks mostly arrive in request order, so the front is the usual hit.
        match self.outstanding.iter().position(|b| b == block) {
            Some(i) => {
                self.outstanding.remove(i);
                true
            }
            None => false,
        }
    }
}
