//! The two 20-byte identifiers of BitTorrent: a torrent's info-hash and a peer's id.

use std::fmt;

/// SHA-1 of a torrent's bencoded `info` dictionary, exactly as the bytes stood in the file.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct InfoHash(pub [u8; 20]);

/// The 20-byte id a peer announces in its handshake and to trackers.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PeerId(pub [u8; 20]);

/// A hex string that is not 40 hex digits.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("expected 40 hex digits, got {0:?}")]
pub struct BadHex(pub String);

macro_rules! id20 {
    ($t:ident) => {
        impl $t {
            pub fn from_hex(s: &str) -> Result<Self, BadHex> {
                let mut out = [0u8; 20];
                hex::decode_to_slice(s, &mut out).map_err(|_| BadHex(s.to_owned()))?;
                Ok(Self(out))
            }
            pub fn to_hex(&self) -> String {
                hex::encode(self.0)
            }
            pub fn from_slice(bytes: &[u8]) -> Option<Self> {
                bytes.try_into().ok().map(Self)
            }
            pub fn as_bytes(&self) -> &[u8; 20] {
                &self.0
            }
        }
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($t), self.to_hex())
            }
        }
        impl fmt::Display for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }
    };
}
id20!(InfoHash);
id20!(PeerId);

impl PeerId {
    /// An Azureus-style id (`-BF0100-` + 12 random bytes); the prefix lets other clients and
    /// our own tracker recognise Bitfleet peers.
    pub fn generate(rng_seed: u64) -> Self {
        let mut id = *b"-BF0100-000000000000";
        let mut rng = fastrand::Rng::with_seed(rng_seed);
        for b in &mut id[8..] {
            *b = rng.alphanumeric() as u8;
        }
        Self(id)
    }

    /// Whether the id is a browser's: Bitfleet Web (`-BW`) or WebTorrent (`-WW`).
    pub fn is_browser(&self) -> bool {
        matches!(self.0.get(..3), Some(b"-BW" | b"-WW"))
    }

    /// Of two connections between us and `remote`, one started by each side (dialed, or
    /// offered over WebRTC), whether we keep the one we started. The one started by the smaller
    /// id stays: both ends apply this alike, so they drop the same connection, never both.
    pub fn keeps_own_connection_to(&self, remote: &PeerId) -> bool {
        self < remote
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trip() {
        let h = InfoHash([0xab; 20]);
        assert_eq!(InfoHash::from_hex(&h.to_hex()).unwrap(), h);
        assert!(InfoHash::from_hex("zz").is_err());
    }

    #[test]
    fn generated_peer_ids_carry_the_client_prefix() {
        let a = PeerId::generate(1);
        assert_eq!(&a.0[..8], b"-BF0100-");
        assert_ne!(a, PeerId::generate(2));
        assert!(!a.is_browser());
    }

    #[test]
    fn both_ends_keep_the_same_one_of_two_connections() {
        let (a, b) = (PeerId::generate(1), PeerId::generate(2));
        // Exactly one side keeps its own: the other keeps the incoming one, the same connection.
        assert_ne!(a.keeps_own_connection_to(&b), b.keeps_own_connection_to(&a));
        // A native (`-BF`) keeps the one it started with a browser (`-BW`, `-WW`).
        let page = PeerId(*b"-BW0100-abcdefghijkl");
        assert!(a.keeps_own_connection_to(&page));
        assert!(!page.keeps_own_connection_to(&a));
        assert!(a.keeps_own_connection_to(&PeerId(*b"-WW0208-abcdefghijkl")));
    }

    #[test]
    fn browsers_are_told_by_their_client_prefix() {
        assert!(PeerId(*b"-BW0100-abcdefghijkl").is_browser());
        assert!(PeerId(*b"-WW0208-abcdefghijkl").is_browser());
        assert!(!PeerId(*b"-lt0D60-abcdefghijkl").is_browser());
    }
}
