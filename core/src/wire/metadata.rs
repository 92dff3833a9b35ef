//! BEP 9 `ut_metadata` messages: peers exchange a torrent's info dictionary in 16 KiB pieces, so
//! a magnet link (just the info-hash) is enough to join a swarm.

use serde::{Deserialize, Serialize};

use super::WireError;

/// Size of one metadata piece (the last one may be shorter).
pub const METADATA_PIECE_SIZE: usize = 16 * 1024;
/// Largest info dictionary we fetch or serve (libtorrent's default limit is 30 MiB too).
pub const MAX_METADATA_SIZE: usize = 30 << 20;
/// The name peers know the extension by in the BEP 10 handshake's `m`.
pub const UT_METADATA: &str = "ut_metadata";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataMessage {
    Request {
        piece: u32,
    },
    Data {
        piece: u32,
        total_size: u64,
        data: bytes::Bytes,
    },
    Reject {
        piece: u32,
    },
}

#[derive(Serialize, Deserialize)]
struct Header {
    msg_type: i64,
    piece: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    total_size: Option<i64>,
}

impl MetadataMessage {
    /// The extended message payload (without the BEP 10 id).
    pub fn encode(&self) -> Vec<u8> {
        let (msg_type, piece, total_size) = match self {
            Self::Request { piece } => (0, *piece, None),
            Self::Data {
                piece, total_size, ..
            } => (1, *piece, i64::try_from(*total_size).ok()),
            Self::Reject { piece } => (2, *piece, None),
        };
        let header = Header {
            msg_type,
            piece: piece.into(),
            total_size,
        };
        // Integers only: serialization cannot fail.
        let mut out = serde_bencode::to_bytes(&header).unwrap_or_default();
        if let Self::Data { data, .. } = self {
            out.extend_from_slice(data);
        }
        out
    }

    pub fn decode(payload: &bytes::Bytes) -> Result<Self, WireError> {
        let error = |what: &str| WireError::Extension(format!("ut_metadata: {what}"));
        let header_len =
            crate::bencode::leading_value_len(payload).map_err(|e| error(&e.to_string()))?;
        let header: Header =
            serde_bencode::from_bytes(&payload[..header_len]).map_err(|e| error(&e.to_string()))?;
        let piece = u32::try_from(header.piece).map_err(|_| error("piece out of range"))?;
        match header.msg_type {
            0 => Ok(Self::Request { piece }),
            1 => {
                let total_size = header
                    .total_size
                    .and_then(|t| u64::try_from(t).ok())
                    .ok_or_else(|| error("data without total_size"))?;
                Ok(Self::Data {
                    piece,
                    total_size,
                    data: payload.slice(header_len..),
                })
            }
            2 => Ok(Self::Reject { piece }),
            other => Err(error(&format!("unknown msg_type {other}"))),
        }
    }
}

/// How many metadata pieces an info dictionary of `size` bytes has.
pub fn metadata_piece_count(size: usize) -> u32 {
    size.div_ceil(METADATA_PIECE_SIZE) as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn round_trips() {
        for msg in [
            MetadataMessage::Request { piece: 3 },
            MetadataMessage::Reject { piece: 0 },
            MetadataMessage::Data {
                piece: 1,
                total_size: 20000,
                data: Bytes::from_static(b"d4:name1:ae"),
            },
        ] {
            assert_eq!(
                MetadataMessage::decode(&Bytes::from(msg.encode())).unwrap(),
                msg
            );
        }
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &b""[..],
            b"de",
            b"d8:msg_typei7e5:piecei0ee",
            b"d8:msg_typei0e5:piecei-1ee",
            b"d8:msg_typei1e5:piecei0ee",
            b"xx",
        ] {
            assert!(
                MetadataMessage::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
