//! BEP 19 web seeds: plain HTTP servers holding the torrent's files, used for pieces the peers
//! cannot give us.
//!
//! The engine decides which piece to fetch from which web seed and emits
//! [`Action::FetchWebSeed`] with the HTTP Range requests that make up the piece (the piece
//! mapped onto the torrent's files, BEP 19 URLs built). The driver performs them in order and
//! hands the concatenated bodies back through [`Torrent::web_seed_fetched`]; the piece then takes
//! the normal path (verify, write), so a web seed can never put unverified bytes on disk.
//!
//! Policy: peers come first. A web seed gets pieces no connected peer holds, or any missing piece
//! while the peers together deliver less than [`SLOW_PEERS_RATE`] (after a grace period in which
//! peers can be found). Each web seed has at most [`MAX_PIECES_IN_FLIGHT`] pieces in flight. A
//! failed fetch backs the web seed off exponentially, and [`MAX_FAILURES`] failures in a row drop
//! it; a piece it sent alone that fails its hash drops it at once.

use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::metainfo::Info;
use crate::tracker::encode_component;
use crate::wire::{BlockRef, BLOCK_SIZE};
use crate::{Bitfield, Instant};

use super::peer::Holding;
use super::picker::Received;
use super::torrent::Torrent;
use super::{Action, PeerKey};

/// Pieces one web seed fetches at once: enough to hide a round trip, few enough that one
/// server is not hammered by every laptop.
pub const MAX_PIECES_IN_FLIGHT: usize = 4;
/// Below this rate (bytes/s) from all peers together, the web seed also takes pieces peers hold.
pub const SLOW_PEERS_RATE: u64 = 256 << 10;
/// Time after the start for peers to be found before they are judged slow.
const PEER_GRACE: Duration = Duration::from_secs(5);
/// Failures in a row after which a web seed is given up.
pub const MAX_FAILURES: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_secs(2);
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A web seed of one torrent, numbered in the order it was added.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct WebSeedId(pub u32);

impl WebSeedId {
    /// The picker records who supplied a piece's blocks by [`PeerKey`]; web seeds use the top
    /// of the key space, which drivers (counting up from zero) never reach.
    fn key(self) -> PeerKey {
        PeerKey(u64::MAX - u64::from(self.0))
    }

    fn from_key(key: PeerKey) -> Option<Self> {
        let index = u64::MAX - key.0;
        u32::try_from(index).ok().map(WebSeedId)
    }
}

/// One HTTP request of a web seed fetch: `len` bytes of `url` from byte `start`
/// (`Range: bytes=start-(start+len-1)`). `len` is never zero.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSeedRange {
    pub url: String,
    pub start: u64,
    pub len: u64,
}

impl WebSeedRange {
    /// The value of the `Range` header.
    pub fn header(&self) -> String {
        format!("bytes={}-{}", self.start, self.start + self.len - 1)
    }
}

struct InFlight {
    piece: u32,
    /// The blocks the picker handed to this fetch; released again if it fails.
    blocks: Vec<BlockRef>,
}

struct WebSeed {
    url: String,
    in_flight: Vec<InFlight>,
    failures: u32,
    retry_at: Instant,
    dropped: bool,
}

/// The web seeds of a torrent.
pub(super) struct WebSeeds {
    seeds: Vec<WebSeed>,
    started: Instant,
}

impl WebSeeds {
    pub fn new(now: Instant) -> Self {
        Self {
            seeds: Vec::new(),
            started: now,
        }
    }

    fn busy(&self, piece: u32) -> bool {
        self.seeds
            .iter()
            .any(|s| s.in_flight.iter().any(|f| f.piece == piece))
    }

    /// Whether any web seed may still be used (not dropped).
    fn any_alive(&self) -> bool {
        self.seeds.iter().any(|s| !s.dropped)
    }

    /// A failed fetch: back off, or give up after too many in a row.
    fn failed(&mut self, id: WebSeedId, now: Instant) {
        let Some(seed) = self.seeds.get_mut(id.0 as usize) else {
            return;
        };
        if seed.retry_at > now {
            return; // the rest of a batch that failed already
        }
        seed.failures = seed.failures.saturating_add(1);
        if seed.failures >= MAX_FAILURES {
            seed.dropped = true;
        }
        let shift = seed.failures.saturating_sub(1).min(8);
        let backoff = (FIRST_BACKOFF * (1 << shift)).min(MAX_BACKOFF);
        seed.retry_at = now + backoff;
    }
}

/// The HTTP requests that fetch `piece` from the web seed at `base` (BEP 19): a single-file
/// torrent's file is `base` itself, or `base` + name when `base` ends in `/`; a multi-file
/// torrent's files are `base/name/path...`. Pad files (BEP 47) are not fetched: they are zeros.
pub fn piece_ranges(info: &Info, base: &str, piece: u32) -> Vec<WebSeedRange> {
    let spans = info.file_spans(piece, 0, info.piece_size(piece));
    spans
        .into_iter()
        .filter_map(|span| {
            let file = info.files.get(span.file)?;
            (!file.pad).then(|| WebSeedRange {
                url: file_url(info, base, &file.path),
                start: span.file_offset,
                len: span.len,
            })
        })
        .collect()
}

fn file_url(info: &Info, base: &str, path: &[String]) -> String {
    let mut url = base.to_owned();
    if !info.multi_file && !base.ends_with('/') {
        return url;
    }
    if !url.ends_with('/') {
        url.push('/');
    }
    url.push_str(&encode_component(info.name.as_bytes()));
    for component in path {
        url.push('/');
        url.push_str(&encode_component(component.as_bytes()));
    }
    url
}

/// Rebuilds a whole piece from the bodies of its [`piece_ranges`] (pad files back as zeros);
/// `None` when the bodies do not add up to the piece.
fn assemble_piece(info: &Info, piece: u32, body: &[u8]) -> Option<Bytes> {
    let size = info.piece_size(piece) as usize;
    let mut data = BytesMut::with_capacity(size);
    let mut rest = body;
    for span in info.file_spans(piece, 0, info.piece_size(piece)) {
        let len = usize::try_from(span.len).ok()?;
        if info.files.get(span.file)?.pad {
            data.resize(data.len() + len, 0);
        } else {
            let (part, tail) = rest.split_at_checked(len)?;
            data.extend_from_slice(part);
            rest = tail;
        }
    }
    (rest.is_empty() && data.len() == size).then(|| data.freeze())
}

impl Torrent {
    /// Adds a BEP 19 web seed (a torrent's `url-list` entry, or a magnet's `ws=`). Only
    /// `http://` and `https://` URLs are taken; duplicates are ignored.
    pub fn add_web_seed(&mut self, url: &str, now: Instant) {
        let usable = url.starts_with("http://") || url.starts_with("https://");
        if !usable || self.web_seeds.seeds.iter().any(|s| s.url == url) {
            return;
        }
        self.web_seeds.seeds.push(WebSeed {
            url: url.to_owned(),
            in_flight: Vec::new(),
            failures: 0,
            retry_at: now,
            dropped: false,
        });
        self.request_from_web_seeds(now);
    }

    /// The driver's answer to an [`Action::FetchWebSeed`]: the concatenated bodies of its
    /// ranges, or why the fetch failed.
    pub fn web_seed_fetched(
        &mut self,
        id: WebSeedId,
        piece: u32,
        result: Result<Bytes, String>,
        now: Instant,
    ) {
        if !self.is_running() {
            return;
        }
        let Some(seed) = self.web_seeds.seeds.get_mut(id.0 as usize) else {
            return;
        };
        let Some(at) = seed.in_flight.iter().position(|f| f.piece == piece) else {
            return;
        };
        let fetch = seed.in_flight.swap_remove(at);
        let data = result.and_then(|body| {
            assemble_piece(&self.info, piece, &body)
                .ok_or_else(|| format!("{} bytes do not make piece {piece}", body.len()))
        });
        match data {
            Ok(data) => {
                seed.failures = 0;
                self.deliver_web_seed_piece(id, piece, &data, now);
            }
            Err(_) => {
                for block in &fetch.blocks {
                    self.picker.release(block);
                }
                self.web_seeds.failed(id, now);
            }
        }
        self.request_all(now);
        self.request_from_web_seeds(now);
    }

    fn deliver_web_seed_piece(&mut self, id: WebSeedId, piece: u32, data: &Bytes, now: Instant) {
        self.downloaded.record(data.len() as u64, now);
        let mut begin = 0u32;
        while (begin as usize) < data.len() {
            let len = (data.len() as u32 - begin).min(BLOCK_SIZE);
            let block = BlockRef { piece, begin, len };
            let bytes = &data[begin as usize..(begin + len) as usize];
            match self.picker.receive(id.key(), &block, bytes) {
                Received::Stored => {}
                Received::Unwanted => self.wasted += u64::from(len),
                Received::PieceComplete {
                    piece,
                    data,
                    contributors,
                } => self.verify(piece, data, contributors),
            }
            begin += len;
        }
    }

    /// Takes the web seeds out of a failed piece's contributors and returns the peers among
    /// them. A web seed that sent the piece alone is dropped; one that shared it with peers is
    /// backed off like after a failed fetch.
    pub(super) fn blame_web_seeds(
        &mut self,
        contributors: Vec<PeerKey>,
        now: Instant,
    ) -> Vec<PeerKey> {
        let alone = contributors.len() == 1;
        let mut peers = Vec::with_capacity(contributors.len());
        for key in contributors {
            let seed =
                WebSeedId::from_key(key).filter(|id| (id.0 as usize) < self.web_seeds.seeds.len());
            match seed {
                Some(id) if alone => {
                    if let Some(seed) = self.web_seeds.seeds.get_mut(id.0 as usize) {
                        seed.dropped = true;
                    }
                }
                Some(id) => self.web_seeds.failed(id, now),
                None => peers.push(key),
            }
        }
        peers
    }

    /// Gives idle web seeds pieces the peers cannot provide, within their in-flight bound.
    pub(super) fn request_from_web_seeds(&mut self, now: Instant) {
        if !self.is_running()
            || !self.web_seeds.any_alive()
            || self.is_complete()
            || self.storage_busy()
        {
            return;
        }
        let Some(wanted) = self.web_seed_candidates(now) else {
            return;
        };
        // From a random start, so laptops hitting one web seed at once fetch different
        // pieces and can trade them afterwards.
        let mut candidates: Vec<u32> = wanted.iter_ones().collect();
        let turn = self.rng.usize(0..candidates.len());
        candidates.rotate_left(turn);
        let mut candidates = candidates.into_iter();
        let mut single = Bitfield::new(self.info.piece_count());
        for index in 0..self.web_seeds.seeds.len() {
            let seed = &self.web_seeds.seeds[index];
            if seed.dropped || seed.retry_at > now {
                continue;
            }
            while self.web_seeds.seeds[index].in_flight.len() < MAX_PIECES_IN_FLIGHT {
                // Roughly within the download cap: a fetch is a whole piece, more than a
                // small bucket ever holds, so it takes what is there.
                let available = self.download_throttle.available(now);
                if available < u64::from(BLOCK_SIZE) {
                    return;
                }
                let Some(piece) = candidates
                    .by_ref()
                    .find(|&p| !self.picker.is_pending(p) && !self.web_seeds.busy(p))
                else {
                    return;
                };
                let size = self.info.piece_size(piece);
                single.set(piece);
                let mut blocks = Vec::new();
                let want = size.div_ceil(BLOCK_SIZE) as usize;
                self.picker
                    .pick(Some(&single), None, want, |_| false, None, &mut blocks);
                single.clear(piece);
                if blocks.is_empty() {
                    continue; // started by peers, every block already asked for
                }
                self.download_throttle
                    .try_take(u64::from(size).min(available), now);
                let seed = &mut self.web_seeds.seeds[index];
                let ranges = piece_ranges(&self.info, &seed.url, piece);
                seed.in_flight.push(InFlight { piece, blocks });
                self.actions.push_back(Action::FetchWebSeed {
                    seed: WebSeedId(index as u32),
                    piece,
                    ranges,
                });
            }
        }
    }

    /// The pieces web seeds should fetch now: every missing one while peers are slow, else
    /// those no connected peer holds. `None` when there are none.
    fn web_seed_candidates(&self, now: Instant) -> Option<Bitfield> {
        let count = self.info.piece_count();
        let peer_rate: u64 = self.peers.values().map(|p| p.downloaded.rate(now)).sum();
        let slow = now.saturating_since(self.web_seeds.started) >= PEER_GRACE
            && peer_rate < SLOW_PEERS_RATE;
        let mut held = vec![0u8; count.div_ceil(8) as usize];
        if !slow {
            for peer in self.peers.values() {
                match &peer.holding {
                    Holding::All => return None,
                    Holding::Pieces(bits) => held
                        .iter_mut()
                        .zip(bits.as_bytes())
                        .for_each(|(h, b)| *h |= b),
                    Holding::Unknown => {}
                }
            }
        }
        let have = self.picker.have().as_bytes();
        let wanted: Vec<u8> = held.iter().zip(have).map(|(h, o)| !(h | o)).collect();
        let wanted = Bitfield::from_bytes(&mask_tail(wanted, count), count).ok()?;
        (wanted.count_ones() > 0).then_some(wanted)
    }
}

/// Clears the spare bits past `count` in the last byte (a bitfield must keep them zero).
fn mask_tail(mut bytes: Vec<u8>, count: u32) -> Vec<u8> {
    let spare = bytes.len() as u32 * 8 - count;
    if let Some(last) = bytes.last_mut() {
        *last &= 0xffu8.checked_shl(spare).unwrap_or(0);
    }
    bytes
}
