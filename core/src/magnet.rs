//! Magnet URIs (BEP 9): `magnet:?xt=urn:btih:<hex|base32>&dn=…&tr=…&ws=…`, both ways.

use percent_encoding::{percent_decode_str, utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};

use crate::InfoHash;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Magnet {
    pub info_hash: InfoHash,
    pub display_name: Option<String>,
    pub trackers: Vec<String>,
    pub web_seeds: Vec<String>,
    /// `x.pe` direct peers (`host:port`).
    pub peers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MagnetError {
    #[error("not a magnet URI")]
    NotMagnet,
    #[error("no BitTorrent v1 info-hash (xt=urn:btih:…)")]
    NoInfoHash,
    #[error("malformed info-hash {0:?}")]
    BadInfoHash(String),
}

/// Everything but RFC 3986 unreserved characters is escaped in values, so URLs nested in
/// `tr`/`ws` (with their own `&`, `=`, `?`) survive intact.
const VALUE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

const BTIH: &str = "urn:btih:";

impl Magnet {
    /// Parses a magnet link. Unknown parameters are ignored, as are `xt`s of other kinds
    /// (v2 `btmh`); the first `btih` wins. `tr.1`-style numbered trackers are accepted.
    pub fn parse(uri: &str) -> Result<Magnet, MagnetError> {
        let query =
            strip_prefix_ignore_case(uri.trim(), "magnet:?").ok_or(MagnetError::NotMagnet)?;
        let mut info_hash = None;
        let mut display_name = None;
        let (mut trackers, mut web_seeds, mut peers) = (Vec::new(), Vec::new(), Vec::new());
        for pair in query.split('&') {
            let (key, raw) = pair.split_once('=').unwrap_or((pair, ""));
            let value = || percent_decode_str(raw).decode_utf8_lossy().into_owned();
            match key {
                "xt" if info_hash.is_none() => {
                    if let Some(hash) = strip_prefix_ignore_case(&value(), BTIH) {
                        info_hash = Some(parse_btih(hash)?);
                    }
                }
                // Many links encode spaces in names as `+` (form encoding).
                "dn" => display_name = Some(value().replace('+', " ")),
                "tr" => trackers.push(value()),
                numbered if numbered.strip_prefix("tr.").is_some_and(is_digits) => {
                    trackers.push(value())
                }
                "ws" => web_seeds.push(value()),
                "x.pe" => peers.push(value()),
                _ => {}
            }
        }
        Ok(Magnet {
            info_hash: info_hash.ok_or(MagnetError::NoInfoHash)?,
            display_name,
            trackers,
            web_seeds,
            peers,
        })
    }

    /// The link with a hex info-hash, every value percent-encoded.
    pub fn to_uri(&self) -> String {
        let mut uri = format!("magnet:?xt={BTIH}{}", self.info_hash.to_hex());
        let params = self
            .display_name
            .iter()
            .map(|name| ("dn", name))
            .chain(self.trackers.iter().map(|url| ("tr", url)))
            .chain(self.web_seeds.iter().map(|url| ("ws", url)))
            .chain(self.peers.iter().map(|peer| ("x.pe", peer)));
        for (key, value) in params {
            uri.push('&');
            uri.push_str(key);
            uri.push('=');
            uri.extend(utf8_percent_encode(value, VALUE));
        }
        uri
    }
}

/// 40 hex digits or 32 base32 characters (both case-insensitive).
fn parse_btih(text: &str) -> Result<InfoHash, MagnetError> {
    let bad = || MagnetError::BadInfoHash(text.to_owned());
    match text.len() {
        40 => InfoHash::from_hex(text).map_err(|_| bad()),
        32 => base32_decode(text).map(InfoHash).ok_or_else(bad),
        _ => Err(bad()),
    }
}

/// RFC 4648 base32 without padding: 32 characters carry exactly 20 bytes.
fn base32_decode(text: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut acc: u64 = 0;
    let mut bits = 0;
    let mut filled = 0;
    for c in text.bytes() {
        let value = match c.to_ascii_uppercase() {
            upper @ b'A'..=b'Z' => upper - b'A',
            digit @ b'2'..=b'7' => digit - b'2' + 26,
            _ => return None,
        };
        acc = (acc << 5) | u64::from(value);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            *out.get_mut(filled)? = (acc >> bits) as u8;
            filled += 1;
        }
    }
    (filled == out.len()).then_some(out)
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix).then_some(())?;
    text.get(prefix.len()..)
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "c12fe1c06bba254a9dc9f519b335aa7c1367a88a";
    // The same 20 bytes in base32.
    const BASE32: &str = "YEX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK";

    #[test]
    fn parses_hex_and_base32_hashes() {
        let hex = Magnet::parse(&format!("magnet:?xt=urn:btih:{HEX}")).unwrap();
        let upper = Magnet::parse(&format!("MAGNET:?xt=URN:BTIH:{}", HEX.to_uppercase())).unwrap();
        let b32 = Magnet::parse(&format!("magnet:?xt=urn:btih:{BASE32}")).unwrap();
        let b32_lower = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", BASE32.to_lowercase()));
        assert_eq!(hex.info_hash.to_hex(), HEX);
        assert_eq!(upper, hex);
        assert_eq!(b32, hex);
        assert_eq!(b32_lower.unwrap(), hex);
    }

    #[test]
    fn parses_every_parameter_with_percent_decoding() {
        let uri = format!(
            "magnet:?xt=urn:btmh:1220abcd&xt=urn:btih:{HEX}&dn=Big+Files%20%C3%A9t%C3%A9\
             &tr=http%3A%2F%2Ft.example%2Fannounce%3Fa%3D1%26b%3D2&tr.1=udp%3A%2F%2Fu%3A80\
             &ws=https%3A%2F%2Fseed%2Ff&x.pe=10.0.0.1%3A6881&x.pe=[::1]:6881&unknown=1"
        );
        let magnet = Magnet::parse(&uri).unwrap();
        assert_eq!(magnet.display_name.as_deref(), Some("Big Files été"));
        assert_eq!(
            magnet.trackers,
            ["http://t.example/announce?a=1&b=2", "udp://u:80"]
        );
        assert_eq!(magnet.web_seeds, ["https://seed/f"]);
        assert_eq!(magnet.peers, ["10.0.0.1:6881", "[::1]:6881"]);
        assert_eq!(Magnet::parse(&magnet.to_uri()).unwrap(), magnet);
    }

    #[test]
    fn to_uri_escapes_nested_urls() {
        let magnet = Magnet {
            info_hash: InfoHash::from_hex(HEX).unwrap(),
            display_name: Some("a b&c".into()),
            trackers: vec!["http://t/ann?x=1&y=2".into()],
            web_seeds: vec![],
            peers: vec!["1.2.3.4:5".into()],
        };
        assert_eq!(
            magnet.to_uri(),
            format!(
                "magnet:?xt=urn:btih:{HEX}&dn=a%20b%26c&tr=http%3A%2F%2Ft%2Fann%3Fx%3D1%26y%3D2\
                 &x.pe=1.2.3.4%3A5"
            )
        );
    }

    #[test]
    fn refuses_bad_links() {
        assert_eq!(Magnet::parse("http://x"), Err(MagnetError::NotMagnet));
        assert_eq!(Magnet::parse("magnet:?dn=x"), Err(MagnetError::NoInfoHash));
        assert_eq!(
            Magnet::parse("magnet:?xt=urn:btmh:1220ab"),
            Err(MagnetError::NoInfoHash)
        );
        for bad in [
            "abc",
            &HEX[1..],
            "zz2fe1c06bba254a9dc9f519b335aa7c1367a88a",
            "1EX6DQDLXISUVHOJ6UM3GNNKPQJWPKEK",
        ] {
            let uri = format!("magnet:?xt=urn:btih:{bad}");
            assert!(
                matches!(Magnet::parse(&uri), Err(MagnetError::BadInfoHash(_))),
                "{bad}"
            );
        }
        // Multi-byte text must not split a character when matching the prefix.
        assert_eq!(Magnet::parse("mé"), Err(MagnetError::NotMagnet));
    }
}
