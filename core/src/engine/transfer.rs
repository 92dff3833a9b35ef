//! Moving payload: our requests to peers (download), serving their requests (upload), interest
//! and choking.

use bytes::Bytes;

use crate::wire::{BlockRef, Message, BLOCK_SIZE};
use crate::{Bitfield, Instant};

use super::choker::{
    choose_unchoked, colleagues, pick_optimistic, regular_slots, slots_for_next_round, Candidate,
};
use super::peer::Holding;
use super::torrent::Torrent;
use super::{Action, PeerKey};

/// Bytes read or queued for one peer before we stop reading more for it: enough to keep a fast
/// link busy, little enough that a slow peer cannot pile up memory.
const UPLOAD_BUFFER: usize = 1 << 20;

impl Torrent {
    /// Sends interested / not interested when what the peer offers changes.
    pub(super) fn update_interest(&mut self, key: PeerKey, now: Instant) {
        let complete = self.is_complete();
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        let want = peer.interesting > 0 && !complete && !peer.held_back;
        if want != peer.am_interested {
            peer.am_interested = want;
            let msg = if want {
                Message::Interested
            } else {
                Message::NotInterested
            };
            self.send(key, &msg, now);
        }
    }

    /// Tops up requests to every peer, except those that had nothing for us when nothing has
    /// changed since (with 60 peers, most of them most of the time, a sweep is mostly those).
    pub(super) fn request_all(&mut self, now: Instant) {
        let unchanged = Some((self.picker.epoch(), self.peers.len()));
        let keys: Vec<PeerKey> = self
            .peers
            .iter()
            .filter(|(_, p)| p.nothing_to_pick != unchanged)
            .map(|(k, _)| *k)
            .collect();
        for key in keys {
            self.request_from(key, now);
        }
    }

    /// Tops up our requests to one peer to its queue depth, within the download cap.
    pub(super) fn request_from(&mut self, key: PeerKey, now: Instant) {
        if self.storage_busy() {
            return;
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        // A peer held back is looked at again whenever a pick could find something new.
        if !peer.held_back && (peer.peer_choking || !peer.am_interested) {
            return;
        }
        let budget = self.download_throttle.available(now) / BLOCK_SIZE as u64;
        let want = peer
            .queue_depth(now)
            .saturating_sub(peer.outstanding.len())
            .min(usize::try_from(budget).unwrap_or(usize::MAX));
        if want == 0 && !peer.held_back {
            return;
        }
        let from_remote = if peer.local {
            None
        } else {
            self.wanted_from_remote(key, now)
        };
        if self.hold_back_if_useless(key, from_remote.as_ref(), now) {
            return;
        }
        let Some(peer) = self.peers.get(&key) else {
            return;
        };
        if peer.peer_choking || !peer.am_interested || want == 0 {
            return;
        }
        let mut blocks = Vec::with_capacity(want);
        let has = match (&from_remote, &peer.holding) {
            (Some(bits), _) => Some(bits),
            (None, Holding::All) => None,
            (None, Holding::Pieces(bits)) => Some(bits),
            (None, Holding::Unknown) => return,
        };
        let outstanding = &peer.outstanding;
        let parole = peer.on_parole.then_some(key);
        let last = peer.last_asked;
        self.picker.pick(
            has,
            last,
            want,
            |b| outstanding.contains(b),
            parole,
            &mut blocks,
        );
        let was_idle = outstanding.is_empty();
        let unchanged = (self.picker.epoch(), self.peers.len());
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.nothing_to_pick = blocks.is_empty().then_some(unchanged);
        if let Some(block) = blocks.last() {
            peer.last_asked = Some(block.piece);
        }
        if was_idle && !blocks.is_empty() {
            peer.last_block = now;
        }
        peer.outstanding.extend(blocks.iter().copied());
        let mut buf = Vec::with_capacity(blocks.len() * 17);
        for block in &blocks {
            self.download_throttle.try_take(block.len as u64, now);
            Message::Request(*block).encode(&mut buf);
        }
        if !buf.is_empty() {
            self.send_bytes(key, Bytes::from(buf), now);
        }
    }

    /// Whether a remote peer is held back: `wanted` (what locality lets us take from it) holds
    /// nothing we lack. Tells it so when that changes; a held-back peer is skipped by request
    /// sweeps until the picker or the peer set changes, like a peer whose pick found nothing.
    fn hold_back_if_useless(
        &mut self,
        key: PeerKey,
        wanted: Option<&Bitfield>,
        now: Instant,
    ) -> bool {
        let useless = wanted.is_some_and(|bits| {
            let have = self.picker.have().as_bytes();
            !bits.as_bytes().iter().zip(have).any(|(w, h)| w & !h != 0)
        });
        let unchanged = (self.picker.epoch(), self.peers.len());
        let Some(peer) = self.peers.get_mut(&key) else {
            return true;
        };
        if useless {
            peer.nothing_to_pick = Some(unchanged);
        }
        if peer.held_back != useless {
            peer.held_back = useless;
            self.update_interest(key, now);
        }
        useless
    }

    /// Starts storage reads for peers' requests, round robin, within the upload cap, each
    /// peer's buffer and, while colleagues wait for our upload, remote peers' ration (see
    /// `exports`).
    pub(super) fn serve_uploads(&mut self, now: Instant) {
        // Called on every byte in and out: peers with nothing asked are skipped without
        // allocating, which keeps a swarm of 60-peer torrents cheap.
        if self.peers.values().all(|p| p.incoming.is_empty()) {
            return;
        }
        let keys: Vec<PeerKey> = {
            let after = self.upload_cursor;
            let (later, earlier): (Vec<PeerKey>, Vec<PeerKey>) = self
                .peers
                .iter()
                .filter(|(_, p)| !p.incoming.is_empty())
                .map(|(k, _)| *k)
                .partition(|k| after.is_none_or(|c| *k > c));
            later.into_iter().chain(earlier).collect()
        };
        let ration = self.export_ration();
        loop {
            let mut progressed = false;
            for &key in &keys {
                let remote_allowed =
                    ration.is_none_or(|r| r.allows(self.sent_to_colleagues, self.sent_to_remote));
                let Some(peer) = self.peers.get_mut(&key) else {
                    continue;
                };
                if !peer.local && !remote_allowed {
                    continue;
                }
                let Some(block) = peer.incoming.front().copied() else {
                    continue;
                };
                if peer.unsent + (peer.reading + 1) * BLOCK_SIZE as usize > UPLOAD_BUFFER {
                    continue;
                }
                if !self.upload_throttle.try_take(block.len as u64, now) {
                    return;
                }
                peer.incoming.pop_front();
                peer.reading += 1;
                if peer.local {
                    self.sent_to_colleagues += block.len as u64;
                } else {
                    self.sent_to_remote += block.len as u64;
                }
                self.upload_cursor = Some(key);
                self.actions
                    .push_back(Action::ReadBlock { peer: key, block });
                progressed = true;
            }
            if !progressed {
                return;
            }
        }
    }

    /// Storage answered a `ReadBlock`; `None` when it could not read.
    pub fn block_read(&mut self, key: PeerKey, block: BlockRef, data: Option<Bytes>, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.reading = peer.reading.saturating_sub(1);
        let fast = peer.info.supports_fast;
        match data.filter(|d| d.len() == block.len as usize) {
            Some(data) if !peer.am_choking => {
                peer.uploaded.record(block.len as u64, now);
                self.uploaded.record(block.len as u64, now);
                let header = crate::wire::piece_header(&block);
                self.send_bytes(key, Bytes::copy_from_slice(&header), now);
                self.send_bytes(key, data, now);
            }
            _ if fast => self.send(key, &Message::RejectRequest(block), now),
            _ => {}
        }
        self.serve_uploads(now);
    }

    /// The driver wrote `bytes` of what it was given for this peer to the connection.
    /// Drivers must report this: uploads to a peer pause while its unsent bytes are high.
    pub fn peer_written(&mut self, key: PeerKey, bytes: usize, now: Instant) {
        if let Some(peer) = self.peers.get_mut(&key) {
            self.written_since_rechoke += bytes as u64;
            peer.unsent = peer.unsent.saturating_sub(bytes);
            self.serve_uploads(now);
        }
    }

    /// Chokes or unchokes a peer; a choke drops its queued requests (rejecting them under the
    /// fast extension).
    pub(super) fn set_choking(&mut self, key: PeerKey, choke: bool, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        if peer.am_choking == choke {
            return;
        }
        peer.am_choking = choke;
        let dropped: Vec<BlockRef> = if choke {
            peer.incoming.drain(..).collect()
        } else {
            Vec::new()
        };
        let fast = peer.info.supports_fast;
        self.send(
            key,
            if choke {
                &Message::Choke
            } else {
                &Message::Unchoke
            },
            now,
        );
        if fast {
            for block in dropped {
                self.send(key, &Message::RejectRequest(block), now);
            }
        }
    }

    fn unchoked_count(&self) -> usize {
        self.peers.values().filter(|p| !p.am_choking).count()
    }

    /// Fills a free upload slot at once rather than at the next rechoke, so a newcomer starts
    /// receiving immediately. The slot goes to a waiting peer at random: the first in key order
    /// (the earliest connected) made every uploader with a free slot pick the same few peers.
    /// (Colleagues first was measured too: the company's offices then took up to 1.20 copies
    /// over their WAN links, against 1.06-1.16.)
    pub(super) fn unchoke_if_room(&mut self, now: Instant) {
        // The same count as `choker::colleagues`, over peers rather than candidates.
        let colleagues = self
            .peers
            .values()
            .filter(|p| p.local && p.peer_interested && !p.snubbed)
            .count();
        let slots = regular_slots(self.unchoke_slots, colleagues) + 1;
        while self.unchoked_count() < slots {
            let waiting: Vec<PeerKey> = self
                .peers
                .iter()
                .filter(|(_, p)| p.am_choking && p.peer_interested)
                .map(|(k, _)| *k)
                .collect();
            if waiting.is_empty() {
                return;
            }
            let key = waiting[self.rng.usize(0..waiting.len())];
            self.set_choking(key, false, now);
        }
    }

    /// Interested peers in random order, which `choose_unchoked` keeps among equal merits (see
    /// `unchoke_if_room`).
    fn choke_candidates(&mut self) -> Vec<Candidate> {
        let seeding = self.is_complete();
        let pieces = self.info.piece_count();
        let mut candidates: Vec<Candidate> = self
            .peers
            .iter()
            .filter(|(_, p)| p.peer_interested)
            .map(|(k, p)| Candidate {
                peer: *k,
                merit: if seeding {
                    u64::from(p.lacks(pieces))
                } else {
                    p.received_since_rechoke()
                },
                snubbed: p.snubbed,
                local: p.local,
            })
            .collect();
        self.rng.shuffle(&mut candidates);
        candidates
    }

    /// Tit-for-tat: the best peers by merit keep or get the regular slots, plus the optimistic
    /// one, which `rotate` moves to another peer.
    pub(super) fn rechoke(&mut self, rotate: bool, now: Instant) {
        let candidates = self.choke_candidates();
        let slots_this_round = regular_slots(self.unchoke_slots, colleagues(&candidates));
        let choked_waiting = candidates.len() > slots_this_round + 1;
        let round = now.saturating_since(self.last_rechoke).as_secs_f64();
        let sent = std::mem::take(&mut self.written_since_rechoke) as f64;
        let sent_per_second = if round > 0.0 { sent / round } else { 0.0 };
        self.last_rechoke = now;
        // Only a cap (a server's `--up-limit`, a session's global cap) says what the uplink
        // may carry; without one the slots stay as configured.
        if let Some(cap) = self.upload_throttle.cap(now) {
            self.unchoke_slots = slots_for_next_round(
                self.unchoke_slots,
                self.config.max_peers,
                cap as f64,
                sent_per_second,
                choked_waiting,
            );
        }
        if rotate {
            let regular = choose_unchoked(&candidates, self.unchoke_slots, None);
            self.optimistic = pick_optimistic(&candidates, &regular, &mut self.rng);
        }
        let chosen = choose_unchoked(&candidates, self.unchoke_slots, self.optimistic);
        let keys: Vec<PeerKey> = self.peers.keys().copied().collect();
        for key in keys {
            self.set_choking(key, !chosen.contains(&key), now);
        }
        self.sent_to_colleagues = 0;
        self.sent_to_remote = 0;
        self.site_lacks = self.site_lacks();
        for peer in self.peers.values_mut() {
            peer.received_at_rechoke = peer.downloaded.total();
        }
        self.unchoke_if_room(now);
    }

    /// When a transfer held back by a cap can go on, if one is waiting for tokens.
    pub(super) fn throttle_wake(&self) -> Option<Instant> {
        let upload_waiting = self.peers.values().any(|p| !p.incoming.is_empty());
        let download_waiting = self
            .peers
            .values()
            .any(|p| p.am_interested && !p.peer_choking);
        let block = BLOCK_SIZE as u64;
        // Only a transfer the caps hold back needs a wake-up: one that has its tokens goes on
        // with the next event, and waking it for nothing would spin.
        let upload = upload_waiting
            .then(|| self.upload_throttle.wake_at(block))
            .flatten();
        let download = download_waiting
            .then(|| self.download_throttle.wake_at(block))
            .flatten();
        upload.into_iter().chain(download).min()
    }
}
