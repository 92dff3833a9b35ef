//! The 68-byte handshake.
use super::WireError;
use crate::{InfoHash, PeerId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    pub reserved: [u8; 8],
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
}

/// The protocol string, sent after its length byte.
pub(super) const PSTR: &[u8; 19] = b"BitTorrent protocol";
/// BEP 10 extension protocol: reserved byte 5, bit 0x10.
const EXTENSIONS: (usize, u8) = (5, 0x10);
/// BEP 6 fast extension: reserved byte 7, bit 0x04.
const FAST: (usize, u8) = (7, 0x04);

impl Handshake {
    pub const LEN: usize = 68;

    /// Our handshake: advertises BEP 10 extensions and the BEP 6 fast extension.
    pub fn new(info_hash: InfoHash, peer_id: PeerId) -> Self {
        let mut reserved = [0u8; 8];
        for (byte, bit) in [EXTENSIONS, FAST] {
            reserved[byte] |= bit;
        }
        Self {
            reserved,
            info_hash,
            peer_id,
        }
    }

    pub fn encode(&self, buf: &mut Vec<u8>) {
        buf.reserve(Self::LEN);
        buf.push(PSTR.len() as u8);
        buf.extend_from_slice(PSTR);
        buf.extend_from_slice(&self.reserved);
        buf.extend_from_slice(&self.info_hash.0);
        buf.extend_from_slice(&self.peer_id.0);
    }

    pub fn supports_extensions(&self) -> bool {
        self.has(EXTENSIONS)
    }

    pub fn supports_fast(&self) -> bool {
        self.has(FAST)
    }

    fn has(&self, (byte, bit): (usize, u8)) -> bool {
        self.reserved.get(byte).is_some_and(|b| b & bit != 0)
    }

    /// Checks what is buffered of a handshake so far: a wrong protocol string is refused as
    /// soon as its bytes arrive.
    pub(super) fn check_prefix(prefix: &[u8]) -> Result<(), WireError> {
        if prefix
            .first()
            .is_some_and(|&len| usize::from(len) != PSTR.len())
        {
            return Err(WireError::Handshake("protocol string length is not 19"));
        }
        let pstr = prefix.get(1..).unwrap_or_default();
        let seen = pstr.len().min(PSTR.len());
        if pstr.get(..seen) != PSTR.get(..seen) {
            return Err(WireError::Handshake("not the BitTorrent protocol"));
        }
        Ok(())
    }

    /// Decodes a whole handshake whose prefix passed [`Self::check_prefix`].
    pub(super) fn decode(bytes: &[u8; Self::LEN]) -> Self {
        let (_, rest) = bytes.split_at(1 + PSTR.len());
        let (reserved, rest) = rest.split_at(8);
        let (info_hash, peer_id) = rest.split_at(20);
        let array = |slice: &[u8]| slice.try_into().unwrap_or_default();
        Self {
            reserved: reserved.try_into().unwrap_or_default(),
            info_hash: InfoHash(array(info_hash)),
            peer_id: PeerId(array(peer_id)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_advertises_extensions_and_fast() {
        let ours = Handshake::new(InfoHash([1; 20]), PeerId([2; 20]));
        assert_eq!(ours.reserved, [0, 0, 0, 0, 0, 0x10, 0, 0x04]);
        assert!(ours.supports_extensions() && ours.supports_fast());
        let plain = Handshake {
            reserved: [0; 8],
            ..ours
        };
        assert!(!plain.supports_extensions() && !plain.supports_fast());
    }

    #[test]
    fn encodes_the_68_byte_layout() {
        let mut buf = Vec::new();
        Handshake::new(InfoHash([1; 20]), PeerId([2; 20])).encode(&mut buf);
        assert_eq!(buf.len(), Handshake::LEN);
        assert_eq!(&buf[..20], b"\x13BitTorrent protocol");
        assert_eq!(&buf[28..48], &[1; 20]);
        assert_eq!(&buf[48..], &[2; 20]);
        let decoded = Handshake::decode(buf.as_slice().try_into().unwrap());
        assert_eq!(decoded, Handshake::new(InfoHash([1; 20]), PeerId([2; 20])));
    }

    #[test]
    fn prefix_check_fails_early() {
        assert!(Handshake::check_prefix(b"").is_ok());
        assert!(Handshake::check_prefix(b"\x13BitTor").is_ok());
        assert!(Handshake::check_prefix(b"\x12").is_err());
        assert!(Handshake::check_prefix(b"\x13BitTox").is_err());
    }
}
