//! The BitTorrent peer wire protocol: handshake, BEP 3 messages, BEP 6 fast extension, BEP 10
//! extension protocol. Encoding appends to a buffer; decoding is incremental over a byte stream
//! (TCP or a WebRTC data channel) with hard size limits.

mod codec;
mod extension;
mod handshake;
mod message;
mod metadata;

pub use codec::Decoder;
pub use extension::ExtensionHandshake;
pub use handshake::Handshake;
pub use message::{BlockRef, Message};
pub use metadata::{
    metadata_piece_count, MetadataMessage, MAX_METADATA_SIZE, METADATA_PIECE_SIZE, UT_METADATA,
};

/// Standard request size: 16 KiB. Peers may refuse larger requests.
pub const BLOCK_SIZE: u32 = 16 * 1024;
/// Largest block we serve or accept in a request/piece message.
pub const MAX_BLOCK_SIZE: u32 = 128 * 1024;
/// Largest message length prefix we accept (a bitfield of 4 Mi pieces is 512 KiB).
pub const DEFAULT_MAX_MESSAGE_LEN: u32 = 1 << 20;

/// A peer broke the protocol; the connection should be dropped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("handshake: {0}")]
    Handshake(&'static str),
    #[error("message of {0} bytes exceeds the limit")]
    TooLong(u32),
    #[error("unknown message id {0}")]
    UnknownId(u8),
    #[error("message id {id} with wrong length {len}")]
    BadLength { id: u8, len: u32 },
    #[error("malformed extension message: {0}")]
    Extension(String),
}

/// The 13 bytes that precede a block's data in a `piece` message, so the data itself can be
/// sent as is (no copy into a message buffer).
pub fn piece_header(block: &BlockRef) -> [u8; 13] {
    let mut header = [0u8; 13];
    header[..4].copy_from_slice(&(9 + block.len).to_be_bytes());
    header[4] = 7;
    header[5..9].copy_from_slice(&block.piece.to_be_bytes());
    header[9..13].copy_from_slice(&block.begin.to_be_bytes());
    header
}
