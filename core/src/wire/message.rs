//! Message types and their encoding; the per-id framing rules the decoder enforces.
use bytes::Bytes;

use super::{WireError, MAX_BLOCK_SIZE};

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
    Piece {
        piece: u32,
        begin: u32,
        data: Bytes,
    },
    Cancel(BlockRef),
    Port(u16),
    // BEP 6
    SuggestPiece(u32),
    HaveAll,
    HaveNone,
    RejectRequest(BlockRef),
    AllowedFast(u32),
    /// BEP 10: `id` 0 is the extension handshake.
    Extended {
        id: u8,
        payload: Bytes,
    },
}

mod id {
    pub const CHOKE: u8 = 0;
    pub const UNCHOKE: u8 = 1;
    pub const INTERESTED: u8 = 2;
    pub const NOT_INTERESTED: u8 = 3;
    pub const HAVE: u8 = 4;
    pub const BITFIELD: u8 = 5;
    pub const REQUEST: u8 = 6;
    pub const PIECE: u8 = 7;
    pub const CANCEL: u8 = 8;
    pub const PORT: u8 = 9;
    pub const SUGGEST_PIECE: u8 = 0x0D;
    pub const HAVE_ALL: u8 = 0x0E;
    pub const HAVE_NONE: u8 = 0x0F;
    pub const REJECT_REQUEST: u8 = 0x10;
    pub const ALLOWED_FAST: u8 = 0x11;
    pub const EXTENDED: u8 = 20;
}

/// Bytes after the id: piece index, begin offset.
const PIECE_HEADER_LEN: u32 = 8;

impl Message {
    /// Length of the encoding, prefix included.
    pub fn encoded_len(&self) -> usize {
        4 + self.body_len()
    }

    /// Appends the length-prefixed encoding to `buf`.
    pub fn encode(&self, buf: &mut Vec<u8>) {
        let body_len = self.body_len();
        buf.reserve(4 + body_len);
        // Bodies are bounded by what the variants can hold; a Piece or Bitfield beyond 4 GiB
        // cannot be framed at all and would be a caller bug.
        buf.extend_from_slice(&(body_len as u32).to_be_bytes());
        if let Some(id) = self.id() {
            buf.push(id);
        }
        let put_u32 = |buf: &mut Vec<u8>, v: u32| buf.extend_from_slice(&v.to_be_bytes());
        match self {
            Message::KeepAlive
            | Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => {}
            Message::Have(piece) | Message::SuggestPiece(piece) | Message::AllowedFast(piece) => {
                put_u32(buf, *piece)
            }
            Message::Request(block) | Message::Cancel(block) | Message::RejectRequest(block) => {
                put_u32(buf, block.piece);
                put_u32(buf, block.begin);
                put_u32(buf, block.len);
            }
            Message::Bitfield(bits) => buf.extend_from_slice(bits),
            Message::Piece { piece, begin, data } => {
                put_u32(buf, *piece);
                put_u32(buf, *begin);
                buf.extend_from_slice(data);
            }
            Message::Port(port) => buf.extend_from_slice(&port.to_be_bytes()),
            Message::Extended { id: ext, payload } => {
                buf.push(*ext);
                buf.extend_from_slice(payload);
            }
        }
    }

    /// The wire id; `None` for keep-alive, which has none.
    fn id(&self) -> Option<u8> {
        Some(match self {
            Message::KeepAlive => return None,
            Message::Choke => id::CHOKE,
            Message::Unchoke => id::UNCHOKE,
            Message::Interested => id::INTERESTED,
            Message::NotInterested => id::NOT_INTERESTED,
            Message::Have(_) => id::HAVE,
            Message::Bitfield(_) => id::BITFIELD,
            Message::Request(_) => id::REQUEST,
            Message::Piece { .. } => id::PIECE,
            Message::Cancel(_) => id::CANCEL,
            Message::Port(_) => id::PORT,
            Message::SuggestPiece(_) => id::SUGGEST_PIECE,
            Message::HaveAll => id::HAVE_ALL,
            Message::HaveNone => id::HAVE_NONE,
            Message::RejectRequest(_) => id::REJECT_REQUEST,
            Message::AllowedFast(_) => id::ALLOWED_FAST,
            Message::Extended { .. } => id::EXTENDED,
        })
    }

    /// Length after the prefix: the id byte and the payload.
    fn body_len(&self) -> usize {
        let payload = match self {
            Message::KeepAlive => return 0,
            Message::Choke
            | Message::Unchoke
            | Message::Interested
            | Message::NotInterested
            | Message::HaveAll
            | Message::HaveNone => 0,
            Message::Have(_) | Message::SuggestPiece(_) | Message::AllowedFast(_) => 4,
            Message::Request(_) | Message::Cancel(_) | Message::RejectRequest(_) => 12,
            Message::Bitfield(bits) => bits.len(),
            Message::Piece { data, .. } => PIECE_HEADER_LEN as usize + data.len(),
            Message::Port(_) => 2,
            Message::Extended { payload, .. } => 1 + payload.len(),
        };
        1 + payload
    }

    /// Checks a frame's length (id byte included) against what its id allows, so the decoder
    /// can refuse a bad frame from its first five bytes without buffering the rest.
    pub(super) fn check_frame(id: u8, len: u32) -> Result<(), WireError> {
        let payload = len.saturating_sub(1);
        let (min, max) = match id {
            id::CHOKE | id::UNCHOKE | id::INTERESTED | id::NOT_INTERESTED => (0, 0),
            id::HAVE_ALL | id::HAVE_NONE => (0, 0),
            id::HAVE | id::SUGGEST_PIECE | id::ALLOWED_FAST => (4, 4),
            id::REQUEST | id::CANCEL | id::REJECT_REQUEST => (12, 12),
            id::PORT => (2, 2),
            id::BITFIELD => (0, u32::MAX),
            id::PIECE => (PIECE_HEADER_LEN, PIECE_HEADER_LEN + MAX_BLOCK_SIZE),
            id::EXTENDED => (1, u32::MAX),
            unknown => return Err(WireError::UnknownId(unknown)),
        };
        if (min..=max).contains(&payload) {
            Ok(())
        } else {
            Err(WireError::BadLength { id, len })
        }
    }

    /// Decodes one frame's body (id byte first), already checked by [`Self::check_frame`].
    /// Bitfield, piece and extended payloads are slices of `body`, not copies.
    pub(super) fn decode_body(body: Bytes) -> Result<Message, WireError> {
        let mut rest: &[u8] = &body;
        let id = take_u8(&mut rest).ok_or(WireError::BadLength { id: 0, len: 0 })?;
        let bad = || WireError::BadLength {
            id,
            len: body.len() as u32,
        };
        let message = match id {
            id::CHOKE => Message::Choke,
            id::UNCHOKE => Message::Unchoke,
            id::INTERESTED => Message::Interested,
            id::NOT_INTERESTED => Message::NotInterested,
            id::HAVE_ALL => Message::HaveAll,
            id::HAVE_NONE => Message::HaveNone,
            id::HAVE => Message::Have(take_u32(&mut rest).ok_or_else(bad)?),
            id::SUGGEST_PIECE => Message::SuggestPiece(take_u32(&mut rest).ok_or_else(bad)?),
            id::ALLOWED_FAST => Message::AllowedFast(take_u32(&mut rest).ok_or_else(bad)?),
            id::REQUEST | id::CANCEL | id::REJECT_REQUEST => {
                let block = take_block(&mut rest).ok_or_else(bad)?;
                if block.len == 0 || block.len > MAX_BLOCK_SIZE {
                    return Err(WireError::BadLength { id, len: block.len });
                }
                match id {
                    id::REQUEST => Message::Request(block),
                    id::CANCEL => Message::Cancel(block),
                    _ => Message::RejectRequest(block),
                }
            }
            id::PORT => {
                let (port, tail) = rest.split_first_chunk::<2>().ok_or_else(bad)?;
                rest = tail;
                Message::Port(u16::from_be_bytes(*port))
            }
            id::BITFIELD => {
                rest = &[];
                Message::Bitfield(body.slice(1..))
            }
            id::PIECE => {
                let piece = take_u32(&mut rest).ok_or_else(bad)?;
                let begin = take_u32(&mut rest).ok_or_else(bad)?;
                rest = &[];
                Message::Piece {
                    piece,
                    begin,
                    data: body.slice(1 + PIECE_HEADER_LEN as usize..),
                }
            }
            id::EXTENDED => {
                let ext = take_u8(&mut rest).ok_or_else(bad)?;
                rest = &[];
                Message::Extended {
                    id: ext,
                    payload: body.slice(2..),
                }
            }
            unknown => return Err(WireError::UnknownId(unknown)),
        };
        if rest.is_empty() {
            Ok(message)
        } else {
            Err(bad())
        }
    }
}

fn take_u8(rest: &mut &[u8]) -> Option<u8> {
    let (&byte, tail) = rest.split_first()?;
    *rest = tail;
    Some(byte)
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (head, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_be_bytes(*head))
}

fn take_block(rest: &mut &[u8]) -> Option<BlockRef> {
    Some(BlockRef {
        piece: take_u32(rest)?,
        begin: take_u32(rest)?,
        len: take_u32(rest)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(message: &Message) -> Vec<u8> {
        let mut buf = Vec::new();
        message.encode(&mut buf);
        assert_eq!(buf.len(), message.encoded_len());
        buf
    }

    #[test]
    fn encodings_match_the_spec() {
        assert_eq!(encoded(&Message::KeepAlive), [0, 0, 0, 0]);
        assert_eq!(encoded(&Message::Interested), [0, 0, 0, 1, 2]);
        assert_eq!(encoded(&Message::HaveNone), [0, 0, 0, 1, 0x0F]);
        assert_eq!(
            encoded(&Message::Have(0x0102_0304)),
            [0, 0, 0, 5, 4, 1, 2, 3, 4]
        );
        assert_eq!(
            encoded(&Message::AllowedFast(7)),
            [0, 0, 0, 5, 0x11, 0, 0, 0, 7]
        );
        assert_eq!(encoded(&Message::Port(6881)), [0, 0, 0, 3, 9, 0x1A, 0xE1]);
        let block = BlockRef {
            piece: 1,
            begin: 0x4000,
            len: 0x4000,
        };
        assert_eq!(
            encoded(&Message::RejectRequest(block)),
            [0, 0, 0, 13, 0x10, 0, 0, 0, 1, 0, 0, 0x40, 0, 0, 0, 0x40, 0]
        );
        let piece = Message::Piece {
            piece: 2,
            begin: 3,
            data: Bytes::from_static(b"xy"),
        };
        assert_eq!(
            encoded(&piece),
            [0, 0, 0, 11, 7, 0, 0, 0, 2, 0, 0, 0, 3, b'x', b'y']
        );
        let ext = Message::Extended {
            id: 3,
            payload: Bytes::from_static(b"de"),
        };
        assert_eq!(encoded(&ext), [0, 0, 0, 4, 20, 3, b'd', b'e']);
    }

    #[test]
    fn frame_rules_per_id() {
        assert_eq!(Message::check_frame(0, 1), Ok(()));
        assert_eq!(
            Message::check_frame(0, 2),
            Err(WireError::BadLength { id: 0, len: 2 })
        );
        assert_eq!(
            Message::check_frame(4, 4),
            Err(WireError::BadLength { id: 4, len: 4 })
        );
        assert_eq!(Message::check_frame(6, 13), Ok(()));
        assert_eq!(Message::check_frame(7, 9 + MAX_BLOCK_SIZE), Ok(()));
        assert!(Message::check_frame(7, 10 + MAX_BLOCK_SIZE).is_err());
        assert!(Message::check_frame(7, 8).is_err());
        assert!(Message::check_frame(20, 1).is_err());
        assert_eq!(Message::check_frame(12, 1), Err(WireError::UnknownId(12)));
    }

    #[test]
    fn oversized_or_empty_requests_are_refused() {
        for len in [0, MAX_BLOCK_SIZE + 1] {
            let mut buf = Vec::new();
            Message::Request(BlockRef {
                piece: 0,
                begin: 0,
                len,
            })
            .encode(&mut buf);
            let body = Bytes::copy_from_slice(&buf[4..]);
            assert_eq!(
                Message::decode_body(body),
                Err(WireError::BadLength { id: 6, len })
            );
        }
    }
}
