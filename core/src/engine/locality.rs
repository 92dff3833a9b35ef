//! What to fetch across the WAN link when colleagues on our LAN (see
//! `Config::local_networks`) download the same torrent: only pieces none of them holds, and
//! first our own share of those — so each piece enters the site about once instead of once
//! per colleague racing for the same rarest pieces.
//!
//! The shares come from rendezvous hashing over the peer ids of us and the local peers we are
//! connected to: every colleague computes the same owner for each piece without a word
//! exchanged, and a colleague joining or leaving moves only its own share. Once our share is
//! all here (or held by a colleague) and no colleague has gained a piece for a while, the
//! rest is open to us too: a stalled colleague must not hold the site back — but one still
//! making progress is left to finish its share, or the tail of every download would cross
//! the WAN twice.

use crate::{Bitfield, Instant, PeerId};

use super::peer::Holding;
use super::torrent::Torrent;
use super::PeerKey;

/// Our share of the pieces, remembered for the colleagues it was computed among: it changes
/// only when one comes or goes, and hashing every piece on every request would not scale.
#[derive(Debug, Default)]
pub(super) struct ShareCache {
    colleagues: Vec<PeerId>,
    ours: Option<Bitfield>,
    /// Colleagues were stalled at the last tick.
    stalled_seen: bool,
}

impl Torrent {
    /// The pieces worth asking remote peer `remote` for; `None` when we have no local peers
    /// (every piece is fair game from anyone).
    pub(super) fn wanted_from_remote(&mut self, remote: PeerKey, now: Instant) -> Option<Bitfield> {
        let pieces = self.info.piece_count();
        // Colleagues fetch their shares whether or not they unchoke us yet (they do so at
        // their next rechoke): from the first second on, ours is all we take.
        let mut colleagues = vec![self.config.peer_id];
        colleagues.extend(
            self.peers
                .values()
                .filter(|p| p.local)
                .map(|p| p.info.peer_id),
        );
        if colleagues.len() == 1 {
            return None;
        }
        // Held by a colleague, choking us or not: it comes over the LAN once that colleague
        // (or one it passed it to) unchokes us. Fetching it from outside while a colleague
        // chokes us took whole pieces over the WAN twice in the tail, when every piece was
        // in the office and colleagues' slots were full (company, 1/400: 1.27 copies).
        let Some(held_locally) = self.held_by_colleagues() else {
            return Some(Bitfield::new(pieces));
        };
        let theirs = match &self.peers.get(&remote)?.holding {
            Holding::All => Bitfield::full(pieces),
            Holding::Pieces(bits) => bits.clone(),
            Holding::Unknown => Bitfield::new(pieces),
        };
        let ours = self.our_share(colleagues);
        // Held by us or a colleague: nothing more to fetch for it.
        let mut held = held_locally.clone();
        or_into(&mut held, self.picker.have().as_bytes());
        let share_done = ours.iter().zip(&held).all(|(o, h)| o & !h == 0);
        let open_to_all = share_done && self.colleagues_stalled(now);
        let wanted: Vec<u8> = theirs
            .as_bytes()
            .iter()
            .zip(&held_locally)
            .zip(&ours)
            .map(|((t, l), o)| t & !l & if open_to_all { 0xff } else { *o })
            .collect();
        Bitfield::from_bytes(&wanted, pieces).ok()
    }

    /// The share of the pieces that neither we nor any colleague holds: what the site still
    /// needs from outside.
    pub(super) fn site_lacks(&self) -> f64 {
        let pieces = self.info.piece_count();
        let Some(mut held) = self.held_by_colleagues() else {
            return 0.0;
        };
        if pieces == 0 {
            return 0.0;
        }
        or_into(&mut held, self.picker.have().as_bytes());
        let held: u32 = held.iter().map(|b| b.count_ones()).sum();
        f64::from(pieces.saturating_sub(held)) / f64::from(pieces)
    }

    /// The pieces some colleague holds, as bitfield bytes; `None` when one holds them all.
    fn held_by_colleagues(&self) -> Option<Vec<u8>> {
        let mut held = vec![0u8; self.info.piece_count().div_ceil(8) as usize];
        for peer in self.peers.values().filter(|p| p.local) {
            match &peer.holding {
                Holding::All => return None,
                Holding::Pieces(bits) => or_into(&mut held, bits.as_bytes()),
                Holding::Unknown => {}
            }
        }
        Some(held)
    }

    /// No colleague has gained a piece for `Config::colleagues_stall_timeout`.
    fn colleagues_stalled(&self, now: Instant) -> bool {
        now.saturating_since(self.local_gain) >= self.config.colleagues_stall_timeout
    }

    /// Called every tick: when colleagues have just stalled, peers whose last pick found
    /// nothing (all they had was colleagues' shares) are worth asking again. Nothing else
    /// happens at that moment — no piece, no choke — so without this the request sweeps
    /// would skip them until some unrelated event.
    pub(super) fn notice_stalled_colleagues(&mut self, now: Instant) {
        let stalled = self.colleagues_stalled(now);
        if stalled && !self.shares.stalled_seen {
            self.picker.wake();
        }
        self.shares.stalled_seen = stalled;
    }

    /// The bytes of our share among `colleagues` (us included), from the cache when they are
    /// the same as last time.
    fn our_share(&mut self, mut colleagues: Vec<PeerId>) -> Vec<u8> {
        colleagues.sort_unstable_by_key(|id| id.0);
        let cache = &mut self.shares;
        if cache.colleagues != colleagues || cache.ours.is_none() {
            let pieces = self.info.piece_count();
            let mut ours = Bitfield::new(pieces);
            for piece in 0..pieces {
                if share_owner(&colleagues, piece) == Some(&self.config.peer_id) {
                    ours.set(piece);
                }
            }
            cache.ours = Some(ours);
            cache.colleagues = colleagues;
        }
        cache
            .ours
            .as_ref()
            .map(|ours| ours.as_bytes().to_vec())
            .unwrap_or_default()
    }
}

fn or_into(into: &mut [u8], bits: &[u8]) {
    into.iter_mut().zip(bits).for_each(|(a, b)| *a |= b);
}

/// Whose share `piece` is among `ids`: the highest score wins (rendezvous hashing).
fn share_owner(ids: &[PeerId], piece: u32) -> Option<&PeerId> {
    ids.iter().max_by_key(|id| (score(id, piece), id.0))
}

/// A well-mixed 64-bit number from a peer id and a piece index (FNV-1a, then the splitmix64
/// finaliser): the same on every machine, which is all the shares need.
fn score(id: &PeerId, piece: u32) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in id.0.iter().chain(&piece.to_le_bytes()) {
        h = (h ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
    }
    h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    h ^ (h >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_split_pieces_about_evenly_and_agree_whoever_computes_them() {
        let ids: Vec<PeerId> = (1..=3u8).map(|n| PeerId([n; 20])).collect();
        let mut reversed = ids.clone();
        reversed.reverse();
        let mut counts = [0u32; 3];
        for piece in 0..3000 {
            let owner = share_owner(&ids, piece).unwrap();
            assert_eq!(share_owner(&reversed, piece), Some(owner));
            counts[ids.iter().position(|id| id == owner).unwrap()] += 1;
        }
        assert!(
            counts.iter().all(|&n| (850..1150).contains(&n)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_colleague_leaving_moves_only_its_own_share() {
        let ids: Vec<PeerId> = (1..=4u8).map(|n| PeerId([n; 20])).collect();
        for piece in 0..500 {
            let before = *share_owner(&ids, piece).unwrap();
            let after = *share_owner(&ids[..3], piece).unwrap();
            if before != ids[3] {
                assert_eq!(before, after);
            }
        }
    }
}
