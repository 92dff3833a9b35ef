//! Read-only views of a torrent's inner state for diagnostics: why a download is not moving
//! (the simulator's `--dump-stalled`, a client's debug output). Nothing here changes state.

use std::net::SocketAddr;
use std::time::Duration;

use crate::{Bitfield, Instant, PeerId};

use super::peer::Holding;
use super::torrent::Torrent;
use super::PeerKey;

/// One connection as the engine sees it.
#[derive(Debug, Clone)]
pub struct PeerSnapshot {
    pub key: PeerKey,
    pub addr: Option<SocketAddr>,
    pub peer_id: PeerId,
    /// On one of our local networks.
    pub local: bool,
    /// What it holds; `None` before its bitfield.
    pub holding: Option<Bitfield>,
    /// Pieces it has that we lack, as counted by the engine.
    pub interesting: u32,
    pub am_choking: bool,
    pub am_interested: bool,
    pub peer_choking: bool,
    pub peer_interested: bool,
    /// Our requests to it still unanswered.
    pub outstanding: usize,
    /// Since it last delivered a block we asked for (or we started asking).
    pub since_last_block: Duration,
    /// Its requests to us not yet read from storage.
    pub incoming: usize,
    /// Bytes handed to the driver for it and not yet reported written.
    pub unsent: usize,
    pub snubbed: bool,
    pub on_parole: bool,
    /// Request sweeps skip it: its last pick found nothing and nothing changed since.
    pub skipped: bool,
}

/// A piece being downloaded: how its blocks stand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartialSnapshot {
    pub piece: u32,
    pub free: u32,
    pub requested: u32,
    pub received: u32,
}

impl Torrent {
    /// Every connected peer, in key order.
    pub fn peer_snapshots(&self, now: Instant) -> Vec<PeerSnapshot> {
        let unchanged = Some((self.picker.epoch(), self.peers.len()));
        let pieces = self.info.piece_count();
        self.peers
            .iter()
            .map(|(key, p)| PeerSnapshot {
                key: *key,
                addr: p.info.addr,
                peer_id: p.info.peer_id,
                local: p.local,
                holding: match &p.holding {
                    Holding::Unknown => None,
                    Holding::Pieces(bits) => Some(bits.clone()),
                    Holding::All => Some(Bitfield::full(pieces)),
                },
                interesting: p.interesting,
                am_choking: p.am_choking,
                am_interested: p.am_interested,
                peer_choking: p.peer_choking,
                peer_interested: p.peer_interested,
                outstanding: p.outstanding.len(),
                since_last_block: now.saturating_since(p.last_block),
                incoming: p.incoming.len(),
                unsent: p.unsent,
                snubbed: p.snubbed,
                on_parole: p.on_parole,
                skipped: p.nothing_to_pick == unchanged,
            })
            .collect()
    }

    /// The pieces being downloaded.
    pub fn partial_snapshots(&self) -> Vec<PartialSnapshot> {
        self.picker.partial_snapshots()
    }

    /// Whether every missing piece is started (endgame: duplicate requests allowed).
    pub fn in_endgame(&self) -> bool {
        self.picker.all_started()
    }
}
