//! Incremental decoding of a peer's byte stream.
use bytes::{Buf, BytesMut};

use super::{Handshake, Message, WireError};

/// Buffers bytes from a peer and yields whole messages. Never holds more than one message
/// beyond what it has been given.
///
/// Bitfield, piece and extended payloads come out as `Bytes` slices of the receive buffer
/// (no copy); the buffer's memory is reused once those slices are dropped. After an error
/// the stream is out of sync: drop the connection and the decoder with it.
pub struct Decoder {
    buf: BytesMut,
    max_message_len: u32,
}

/// Bytes of the length prefix.
const PREFIX_LEN: usize = 4;

impl Decoder {
    pub fn new(max_message_len: u32) -> Self {
        Self {
            buf: BytesMut::new(),
            max_message_len,
        }
    }

    pub fn extend(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The 68-byte handshake, once buffered.
    pub fn next_handshake(&mut self) -> Result<Option<Handshake>, WireError> {
        Handshake::check_prefix(&self.buf[..self.buf.len().min(Handshake::LEN)])?;
        let Some(bytes) = self.buf.first_chunk::<{ Handshake::LEN }>() else {
            return Ok(None);
        };
        let handshake = Handshake::decode(bytes);
        self.buf.advance(Handshake::LEN);
        Ok(Some(handshake))
    }

    pub fn next_message(&mut self) -> Result<Option<Message>, WireError> {
        let Some(prefix) = self.buf.first_chunk::<PREFIX_LEN>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix);
        // Refuse from the prefix alone, so a hostile length never makes us buffer for it.
        if len > self.max_message_len {
            return Err(WireError::TooLong(len));
        }
        if len == 0 {
            self.buf.advance(PREFIX_LEN);
            return Ok(Some(Message::KeepAlive));
        }
        if let Some(&id) = self.buf.get(PREFIX_LEN) {
            Message::check_frame(id, len)?;
        }
        let frame_len = PREFIX_LEN + len as usize;
        if self.buf.len() < frame_len {
            // Make room for the rest once, rather than growing per read.
            self.buf.reserve(frame_len - self.buf.len());
            return Ok(None);
        }
        self.buf.advance(PREFIX_LEN);
        let body = self.buf.split_to(len as usize).freeze();
        Message::decode_body(body).map(Some)
    }

    /// Bytes buffered but not yet decoded.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BlockRef, DEFAULT_MAX_MESSAGE_LEN};
    use crate::{InfoHash, PeerId};

    #[test]
    fn handshake_then_messages() {
        let mut wire = Vec::new();
        let ours = Handshake::new(InfoHash([3; 20]), PeerId([4; 20]));
        ours.encode(&mut wire);
        Message::Unchoke.encode(&mut wire);
        Message::KeepAlive.encode(&mut wire);
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(&wire[..67]);
        assert_eq!(decoder.next_handshake(), Ok(None));
        decoder.extend(&wire[67..]);
        assert_eq!(decoder.next_handshake(), Ok(Some(ours)));
        assert_eq!(decoder.next_message(), Ok(Some(Message::Unchoke)));
        assert_eq!(decoder.next_message(), Ok(Some(Message::KeepAlive)));
        assert_eq!(decoder.next_message(), Ok(None));
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn bad_handshakes_are_refused_early() {
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(b"\x13BitTorrent protocoX");
        assert!(matches!(
            decoder.next_handshake(),
            Err(WireError::Handshake(_))
        ));
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(b"GET / HTTP/1.1\r\n");
        assert!(matches!(
            decoder.next_handshake(),
            Err(WireError::Handshake(_))
        ));
    }

    #[test]
    fn too_long_is_refused_from_the_prefix() {
        let mut decoder = Decoder::new(1000);
        decoder.extend(&1001u32.to_be_bytes());
        assert_eq!(decoder.next_message(), Err(WireError::TooLong(1001)));
        let mut decoder = Decoder::new(1000);
        decoder.extend(&[0, 0, 3, 0xE8, 5]);
        assert_eq!(
            decoder.next_message(),
            Ok(None),
            "1000 bytes is within the limit"
        );
    }

    #[test]
    fn bad_frames_are_refused_before_their_body_arrives() {
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(&[0, 0, 0, 50, 4]);
        assert_eq!(
            decoder.next_message(),
            Err(WireError::BadLength { id: 4, len: 50 })
        );
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(&[0, 0, 0, 5, 99]);
        assert_eq!(decoder.next_message(), Err(WireError::UnknownId(99)));
    }

    #[test]
    fn piece_data_is_a_slice_of_the_receive_buffer() {
        let data = vec![0x5a; 16384];
        let mut wire = Vec::new();
        let piece = Message::Piece {
            piece: 9,
            begin: 16384,
            data: data.clone().into(),
        };
        piece.encode(&mut wire);
        Message::Request(BlockRef {
            piece: 1,
            begin: 2,
            len: 3,
        })
        .encode(&mut wire);
        let mut decoder = Decoder::new(DEFAULT_MAX_MESSAGE_LEN);
        decoder.extend(&wire);
        let buffer_start = decoder.buf.as_ptr() as usize;
        let Some(Message::Piece { data: got, .. }) = decoder.next_message().unwrap() else {
            panic!("expected a piece");
        };
        assert_eq!(got, data);
        assert_eq!(got.as_ptr() as usize, buffer_start + 13, "no copy was made");
        let request = decoder.next_message().unwrap();
        assert_eq!(
            request,
            Some(Message::Request(BlockRef {
                piece: 1,
                begin: 2,
                len: 3
            }))
        );
    }
}
