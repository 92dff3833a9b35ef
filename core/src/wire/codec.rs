//! Incremental decoding of a peer's byte stream.
use super::{Handshake, Message, WireError};

/// Buffers bytes from a peer and yields whole messages. Never holds more than one message
/// beyond what it has been given.
pub struct Decoder {}

impl Decoder {
    pub fn new(max_message_len: u32) -> Self {
        let _ = max_message_len;
        todo!("formats helper")
    }
    pub fn extend(&mut self, data: &[u8]) {
        let _ = data;
        todo!("formats helper")
    }
    /// The 68-byte handshake, once buffered.
    pub fn next_handshake(&mut self) -> Result<Option<Handshake>, WireError> {
        todo!("formats helper")
    }
    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        todo!("formats helper")
    }
    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        todo!("formats helper")
    }
}
