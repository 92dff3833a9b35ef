//! The 68-byte handshake.
use crate::{InfoHash, PeerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
}

impl Handshake {
    pub const LEN: usize = 68;

    /// Our handshake: advertises BEP 10 extensions and the BEP 6 fast extension.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        let _ = (info_hash, peer_id);
        todo!("formats helper")
    }
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let _ = buf;
        todo!("formats helper")
    }
    pub fn supports_extensions(&self) -> bool {
        todo!("formats helper")
    }
    pub fn supports_fast(&self) -> bool {
        todo!("formats helper")
    }
}
