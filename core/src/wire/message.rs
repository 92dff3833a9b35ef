//! Message types and their encoding.
use bytes::Bytes;

/// A block of a piece: `len` bytes at `begin`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlockRef {
    pub piece: u32,
    pub begin: u32,
    pub len: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    KeepAlive,
    Choke,
    Unchoke,
    Interested,
    NotInterested,
    Have(u32),
    /// Raw bitfield bytes; checked against the piece count by the receiver (see `Bitfield`).
    Bitfield(Bytes),
    Request(BlockRef),
    Piece { piece: u32, begin: u32, data: Bytes },
    Cancel(BlockRef),
    Port(u16),
    // BEP 6
    SuggestPiece(u32),
    HaveAll,
    HaveNone,
    RejectRequest(BlockRef),
    AllowedFast(u32),
    /// BEP 10: `id` 0 is the extension handshake.
    Extended { id: u8, payload: Bytes },
}

impl Message {
    /// Appends the length-prefixed encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let _ = buf;
        todo!("formats helper")
    }
}
