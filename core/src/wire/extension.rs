//! BEP 10 extension handshake (extended message id 0).
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

use super::WireError;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtensionHandshake {
    /// Extension name → the id the sender wants to receive it under.
    pub m: BTreeMap<String, u8>,
    /// Client name and version.
    pub v: Option<String>,
    /// The sender's listen port.
    pub p: Option<u16>,
    /// How many outstanding requests the sender accepts.
    pub reqq: Option<u32>,
    pub metadata_size: Option<u64>,
    /// Our address as the sender sees it (4 or 16 bytes).
    pub yourip: Option<Vec<u8>>,
}

/// The dictionary as it travels. Integers are read as `i64` and range-checked afterwards so
/// a wrong value gets a clear error; strings are raw bytes because real clients send `v` in
/// arbitrary encodings and `yourip` as binary.
#[derive(Serialize, Deserialize, Default)]
struct WireDict {
    #[serde(default)]
    m: BTreeMap<ByteBuf, i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    v: Option<ByteBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reqq: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata_size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    yourip: Option<ByteBuf>,
}

impl ExtensionHandshake {
    pub fn encode(&self) -> Vec<u8> {
        let dict = WireDict {
            m: self
                .m
                .iter()
                .map(|(name, &id)| (ByteBuf::from(name.as_bytes()), i64::from(id)))
                .collect(),
            v: self.v.as_ref().map(|v| ByteBuf::from(v.as_bytes())),
            p: self.p.map(i64::from),
            reqq: self.reqq.map(i64::from),
            // Sizes past i64::MAX cannot be bencoded; no real metadata comes near.
            metadata_size: self.metadata_size.and_then(|size| i64::try_from(size).ok()),
            yourip: self.yourip.clone().map(ByteBuf::from),
        };
        // Serializing plain integers, byte strings and maps cannot fail.
        serde_bencode::to_bytes(&dict).unwrap_or_default()
    }

    /// Unknown keys are ignored; wrong types for known keys are errors. Extension names that
    /// are not UTF-8 are skipped (no extension we speak has one); id 0 ("disabled") is kept.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let error = |what: String| WireError::Extension(what);
        crate::bencode::validate_dict(payload).map_err(|e| error(e.to_string()))?;
        let dict: WireDict =
            serde_bencode::from_bytes(payload).map_err(|e| error(e.to_string()))?;
        let mut m = BTreeMap::new();
        for (name, id) in dict.m {
            let id = u8::try_from(id).map_err(|_| error(format!("extension id {id}")))?;
            if let Ok(name) = String::from_utf8(name.into_vec()) {
                m.insert(name, id);
            }
        }
        Ok(Self {
            m,
            v: dict.v.map(|v| String::from_utf8_lossy(&v).into_owned()),
            p: in_range(dict.p, "p")?,
            reqq: in_range(dict.reqq, "reqq")?,
            metadata_size: in_range(dict.metadata_size, "metadata_size")?,
            yourip: dict.yourip.map(ByteBuf::into_vec),
        })
    }
}

/// Converts an optional integer field, refusing values its type cannot hold.
fn in_range<T: TryFrom<i64>>(value: Option<i64>, key: &str) -> Result<Option<T>, WireError> {
    value
        .map(|v| {
            T::try_from(v).map_err(|_| WireError::Extension(format!("`{key}` out of range: {v}")))
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_field() {
        let ours = ExtensionHandshake {
            m: [("ut_metadata".to_string(), 2), ("ut_pex".to_string(), 0)].into(),
            v: Some("Bitfleet 0.1".into()),
            p: Some(6881),
            reqq: Some(500),
            metadata_size: Some(31_337),
            yourip: Some(vec![10, 0, 0, 7]),
        };
        let bytes = ours.encode();
        let expected: &[u8] = b"d1:md11:ut_metadatai2e6:ut_pexi0ee13:metadata_sizei31337e\
            1:pi6881e4:reqqi500e1:v12:Bitfleet 0.16:yourip4:\x0a\x00\x00\x07e";
        assert_eq!(
            bytes, expected,
            "canonical: sorted keys, absent fields omitted"
        );
        assert_eq!(ExtensionHandshake::decode(&bytes), Ok(ours));
        assert_eq!(ExtensionHandshake::default().encode(), b"d1:mdee");
    }

    #[test]
    fn decodes_real_world_quirks_leniently() {
        // libtorrent-style: binary yourip, a non-UTF-8 client name, unknown keys.
        let payload = b"d12:complete_agoi-1e1:md11:lt_donthavei7e11:ut_metadatai3ee\
            13:metadata_sizei5000e1:pi51413e4:reqqi512e1:v4:\xff\xfeab6:yourip4:\x7f\x00\x00\x01e";
        let decoded = ExtensionHandshake::decode(payload).unwrap();
        assert_eq!(decoded.m.get("ut_metadata"), Some(&3));
        assert_eq!(decoded.v.as_deref(), Some("\u{fffd}\u{fffd}ab"));
        assert_eq!(decoded.p, Some(51413));
        assert_eq!(decoded.yourip, Some(vec![127, 0, 0, 1]));
    }

    #[test]
    fn refuses_wrong_types_and_ranges() {
        for bad in [
            &b"d1:pi70000ee"[..],
            b"d1:md1:ai300eee",
            b"d1:p3:abce",
            b"d1:mi1ee",
            b"le",
            b"d1:p",
        ] {
            assert!(
                matches!(
                    ExtensionHandshake::decode(bad),
                    Err(WireError::Extension(_))
                ),
                "{bad:?}"
            );
        }
        let mut deep = b"d1:x".to_vec();
        deep.extend(std::iter::repeat_n(b'l', 100_000));
        assert!(ExtensionHandshake::decode(&deep).is_err());
    }
}
