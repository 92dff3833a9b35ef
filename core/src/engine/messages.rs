//! Bytes from a peer: decoding and the reaction to each message.

use bytes::Bytes;

use crate::wire::{
    BlockRef, ExtensionHandshake, Message, MetadataMessage, MAX_BLOCK_SIZE, METADATA_PIECE_SIZE,
    UT_METADATA,
};
use crate::{Bitfield, Instant};

use super::peer::{Holding, MAX_QUEUE_DEPTH, OUR_REQQ};
use super::picker::Received;
use super::torrent::Torrent;
use super::{Config, DisconnectReason, PeerKey};

/// The extended message id we receive `ut_metadata` under.
pub(super) const OUR_UT_METADATA_ID: u8 = 1;

/// Our BEP 10 handshake: `ut_metadata` always (a magnet fetch asks with it, a torrent answers
/// with it), `metadata_size` once we have the info dictionary.
pub(super) fn extension_handshake(config: &Config, metadata_size: Option<usize>) -> Message {
    let handshake = ExtensionHandshake {
        m: [(UT_METADATA.to_owned(), OUR_UT_METADATA_ID)].into(),
        v: Some(config.client_name.clone()),
        p: Some(config.listen_port).filter(|p| *p != 0),
        reqq: Some(OUR_REQQ as u32),
        metadata_size: metadata_size.map(|m| m as u64),
        ..Default::default()
    };
    Message::Extended {
        id: 0,
        payload: handshake.encode().into(),
    }
}

/// A peer broke the protocol in a way that ends the connection.
#[derive(Debug)]
struct Violation;

impl Torrent {
    /// Bytes the peer sent after its handshake.
    pub fn peer_data(&mut self, key: PeerKey, data: &[u8], now: crate::Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.last_received = now;
        peer.decoder.extend(data);
        loop {
            let Some(peer) = self.peers.get_mut(&key) else {
                return;
            };
            match peer.decoder.next_message() {
                Ok(Some(msg)) => {
                    if self.on_message(key, msg, now).is_err() {
                        self.disconnect(key, DisconnectReason::Protocol, now);
                        return;
                    }
                }
                Ok(None) => break,
                Err(_) => {
                    self.disconnect(key, DisconnectReason::Protocol, now);
                    return;
                }
            }
        }
        self.request_from(key, now);
        self.serve_uploads(now);
    }

    fn on_message(&mut self, key: PeerKey, msg: Message, now: Instant) -> Result<(), Violation> {
        let pieces = self.info.piece_count();
        let peer = self.peers.get_mut(&key).ok_or(Violation)?;
        let fast = peer.info.supports_fast;
        if !matches!(
            msg,
            Message::Bitfield(_)
                | Message::HaveAll
                | Message::HaveNone
                | Message::Extended { .. }
                | Message::KeepAlive
        ) {
            peer.expecting_bitfield = false;
        }
        match msg {
            Message::KeepAlive
            | Message::Port(_)
            | Message::SuggestPiece(_)
            | Message::AllowedFast(_) => {}
            Message::Choke => {
                peer.peer_choking = true;
                // Without the fast extension a choke silently drops every request; with it the
                // peer rejects them one by one, but releasing now is harmless either way.
                let blocks: Vec<BlockRef> = peer.outstanding.drain(..).collect();
                blocks.iter().for_each(|b| self.picker.release(b));
                self.picker.disown(key);
            }
            Message::Unchoke => {
                peer.peer_choking = false;
                peer.last_block = now;
            }
            Message::Interested => {
                peer.peer_interested = true;
                self.unchoke_if_room(now);
            }
            Message::NotInterested => {
                peer.peer_interested = false;
                if !peer.am_choking {
                    self.set_choking(key, true, now);
                    self.unchoke_if_room(now);
                }
            }
            Message::Have(piece) => {
                if piece >= pieces {
                    return Err(Violation);
                }
                let local = peer.local;
                let newly = match &mut peer.holding {
                    Holding::All => false,
                    Holding::Pieces(bits) => bits.set(piece),
                    Holding::Unknown => {
                        let mut bits = Bitfield::new(pieces);
                        bits.set(piece);
                        peer.holding = Holding::Pieces(bits);
                        true
                    }
                };
                if newly {
                    if local {
                        self.local_gain = now;
                    }
                    self.picker.add_piece(piece);
                    if !self.picker.have().get(piece) {
                        self.adjust_interesting(key, 1, now);
                    }
                    // Both finished at about the same time: each completed before hearing
                    // that the other had.
                    let now_seed = self.peers.get(&key).is_some_and(|p| p.is_seed());
                    if now_seed && self.is_complete() {
                        self.leave_fellow_seed(key, now);
                    }
                }
            }
            Message::Bitfield(bytes) => {
                if !peer.expecting_bitfield {
                    return Err(Violation);
                }
                let bits = Bitfield::from_bytes(&bytes, pieces).map_err(|_| Violation)?;
                self.set_holding(
                    key,
                    if bits.is_full() {
                        Holding::All
                    } else {
                        Holding::Pieces(bits)
                    },
                    now,
                );
            }
            Message::HaveAll | Message::HaveNone => {
                if !fast || !peer.expecting_bitfield {
                    return Err(Violation);
                }
                let holding = if msg == Message::HaveAll {
                    Holding::All
                } else {
                    Holding::Pieces(Bitfield::new(pieces))
                };
                self.set_holding(key, holding, now);
            }
            Message::Request(block) => self.on_request(key, block, now)?,
            Message::Cancel(block) => {
                peer.incoming.retain(|b| *b != block);
            }
            Message::RejectRequest(block) => {
                if !fast {
                    return Err(Violation);
                }
                if peer.take_outstanding(&block) {
                    self.picker.release(&block);
                }
            }
            Message::Piece { piece, begin, data } => self.on_piece(key, piece, begin, data, now)?,
            Message::Extended { id: 0, payload } => {
                // A malformed handshake only costs the peer its extensions.
                if let Ok(hs) = ExtensionHandshake::decode(&payload) {
                    if let Some(reqq) = hs.reqq {
                        peer.their_reqq = (reqq as usize).clamp(1, MAX_QUEUE_DEPTH);
                    }
                    peer.their_ut_metadata = hs.m.get(UT_METADATA).copied().filter(|id| *id != 0);
                }
            }
            Message::Extended {
                id: OUR_UT_METADATA_ID,
                payload,
            } => {
                if let Ok(MetadataMessage::Request { piece }) = MetadataMessage::decode(&payload) {
                    self.serve_metadata(key, piece, now);
                }
            }
            Message::Extended { .. } => {}
        }
        Ok(())
    }

    /// Records what a peer holds (its first bitfield / have all / have none).
    fn set_holding(&mut self, key: PeerKey, holding: Holding, now: Instant) {
        let Some(peer) = self.peers.get_mut(&key) else {
            return;
        };
        peer.expecting_bitfield = false;
        let have = self.picker.have();
        let interesting = match &holding {
            Holding::All => self.info.piece_count() - have.count_ones(),
            Holding::Pieces(bits) => bits.iter_ones().filter(|&p| !have.get(p)).count() as u32,
            Holding::Unknown => 0,
        };
        match &holding {
            Holding::All => self.picker.add_seed(),
            Holding::Pieces(bits) => self.picker.add_bitfield(bits),
            Holding::Unknown => {}
        }
        peer.holding = holding;
        peer.interesting = interesting;
        if self.is_complete() && self.peers.get(&key).is_some_and(|p| p.is_seed()) {
            self.leave_fellow_seed(key, now);
            return;
        }
        self.update_interest(key, now);
    }

    fn adjust_interesting(&mut self, key: PeerKey, delta: i32, now: Instant) {
        if let Some(peer) = self.peers.get_mut(&key) {
            peer.interesting = peer.interesting.saturating_add_signed(delta);
            self.update_interest(key, now);
        }
    }

    fn on_request(&mut self, key: PeerKey, block: BlockRef, now: Instant) -> Result<(), Violation> {
        if !self.valid_block(&block) {
            return Err(Violation);
        }
        let have = self.picker.have().get(block.piece);
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        if have && !peer.am_choking && peer.incoming.len() < OUR_REQQ {
            peer.incoming.push_back(block);
        } else if peer.info.supports_fast {
            self.send(key, &Message::RejectRequest(block), now);
        }
        Ok(())
    }

    fn on_piece(
        &mut self,
        key: PeerKey,
        piece: u32,
        begin: u32,
        data: Bytes,
        now: Instant,
    ) -> Result<(), Violation> {
        let block = BlockRef {
            piece,
            begin,
            len: u32::try_from(data.len()).map_err(|_| Violation)?,
        };
        if !self.valid_block(&block) {
            return Err(Violation);
        }
        let len = block.len as u64;
        self.downloaded.record(len, now);
        let Some(peer) = self.peers.get_mut(&key) else {
            return Ok(());
        };
        peer.downloaded.record(len, now);
        if peer.take_outstanding(&block) {
            peer.last_block = now;
            peer.snubbed = false;
        }
        match self.picker.receive(key, &block, &data) {
            Received::Stored => {}
            Received::Unwanted => self.wasted += len,
            Received::PieceComplete {
                piece,
                data,
                contributors,
            } => self.verify(piece, data, contributors),
        }
        if self.picker.all_started() {
            self.cancel_elsewhere(key, &block, now);
        }
        Ok(())
    }

    /// In endgame a block may be outstanding at several peers; the others need not send it.
    fn cancel_elsewhere(&mut self, except: PeerKey, block: &BlockRef, now: Instant) {
        let holders: Vec<PeerKey> = self
            .peers
            .iter_mut()
            .filter(|(k, _)| **k != except)
            .filter_map(|(k, p)| p.take_outstanding(block).then_some(*k))
            .collect();
        for key in holders {
            self.send(key, &Message::Cancel(*block), now);
        }
    }

    /// Answers a BEP 9 request with a piece of the info dictionary, or a reject.
    fn serve_metadata(&mut self, key: PeerKey, piece: u32, now: Instant) {
        let Some(id) = self.peers.get(&key).and_then(|p| p.their_ut_metadata) else {
            return;
        };
        let start = piece as usize * METADATA_PIECE_SIZE;
        let reply = match &self.config.metadata {
            Some(metadata) if start < metadata.len() => MetadataMessage::Data {
                piece,
                total_size: metadata.len() as u64,
                data: metadata.slice(start..(start + METADATA_PIECE_SIZE).min(metadata.len())),
            },
            _ => MetadataMessage::Reject { piece },
        };
        self.send(
            key,
            &Message::Extended {
                id,
                payload: reply.encode().into(),
            },
            now,
        );
    }

    /// A block lies inside its piece, is not empty and is not larger than we accept.
    fn valid_block(&self, block: &BlockRef) -> bool {
        block.piece < self.info.piece_count()
            && block.len > 0
            && block.len <= MAX_BLOCK_SIZE
            && block
                .begin
                .checked_add(block.len)
                .is_some_and(|end| end <= self.picker.piece_size(block.piece))
    }
}
