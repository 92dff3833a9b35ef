//! Local Service Discovery (BEP 14): peers on one LAN find each other without a tracker by
//! multicasting `BT-SEARCH` messages, HTTP-like datagrams naming the info-hashes they are in
//! and the TCP port they take peers on.
//!
//! ```text
//! BT-SEARCH * HTTP/1.1\r\n
//! Host: 239.192.152.143:6771\r\n
//! Port: 6881\r\n
//! Infohash: 0123456789abcdef0123456789abcdef01234567\r\n
//! cookie: 5f3a9c\r\n
//! \r\n
//! ```
//!
//! A sender recognises its own datagrams, looped back by multicast, by the cookie. This
//! module only writes and reads datagrams; sockets and timing belong to the client.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};

use crate::InfoHash;

/// The IPv4 group and port (BEP 14).
pub const GROUP_V4: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 192, 152, 143), 6771);
/// The IPv6 group (organisation-local scope) and port (BEP 14).
pub const GROUP_V6: SocketAddrV6 = SocketAddrV6::new(
    Ipv6Addr::new(0xff15, 0, 0, 0, 0, 0xefc0, 0x0152, 0x0143),
    6771,
    0,
    0,
);
/// Info-hashes one datagram carries at most, so it stays within one unfragmented packet.
pub const MAX_INFO_HASHES: usize = 16;

const REQUEST_LINE: &str = "BT-SEARCH * HTTP/1.1";

/// One `BT-SEARCH` announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The TCP port the sender takes peers on.
    pub port: u16,
    pub info_hashes: Vec<InfoHash>,
    pub cookie: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LsdError {
    #[error("not a BT-SEARCH message")]
    NotSearch,
    #[error("header line without a colon")]
    BadHeader,
    #[error("missing or invalid Port header")]
    BadPort,
    #[error("invalid Infohash header")]
    BadInfoHash,
    #[error("no Infohash header")]
    NoInfoHash,
}

impl Search {
    /// The datagram for `host` (the group address as text, e.g. `239.192.152.143:6771` or
    /// `[ff15::efc0:152:143]:6771`); at most [`MAX_INFO_HASHES`] hashes are listed.
    pub fn encode(&self, host: &str) -> Vec<u8> {
        let mut text = format!("{REQUEST_LINE}\r\nHost: {host}\r\nPort: {}\r\n", self.port);
        for info_hash in self.info_hashes.iter().take(MAX_INFO_HASHES) {
            text.push_str("Infohash: ");
            text.push_str(&info_hash.to_hex());
            text.push_str("\r\n");
        }
        if let Some(cookie) = &self.cookie {
            text.push_str("cookie: ");
            text.push_str(cookie);
            text.push_str("\r\n");
        }
        text.push_str("\r\n\r\n");
        text.into_bytes()
    }

    /// Reads a received datagram. Header names are case-insensitive; unknown headers are
    /// ignored; at most [`MAX_INFO_HASHES`] hashes are kept.
    pub fn parse(datagram: &[u8]) -> Result<Search, LsdError> {
        let text = std::str::from_utf8(datagram).map_err(|_| LsdError::NotSearch)?;
        let mut lines = text.split("\r\n").map(|line| line.trim_end_matches('\n'));
        if lines.next().map(str::trim) != Some(REQUEST_LINE) {
            return Err(LsdError::NotSearch);
        }
        let mut port = None;
        let mut info_hashes = Vec::new();
        let mut cookie = None;
        for line in lines.take_while(|line| !line.is_empty()) {
            let (name, value) = line.split_once(':').ok_or(LsdError::BadHeader)?;
            let value = value.trim();
            match name.trim().to_ascii_lowercase().as_str() {
                "port" => {
                    let parsed = value.parse::<u16>().map_err(|_| LsdError::BadPort)?;
                    port = Some(parsed).filter(|&p| p != 0);
                }
                "infohash" => {
                    let hash = InfoHash::from_hex(value).map_err(|_| LsdError::BadInfoHash)?;
                    if info_hashes.len() < MAX_INFO_HASHES && !info_hashes.contains(&hash) {
                        info_hashes.push(hash);
                    }
                }
                "cookie" => cookie = Some(value.to_owned()),
                _ => {}
            }
        }
        if info_hashes.is_empty() {
            return Err(LsdError::NoInfoHash);
        }
        Ok(Search {
            port: port.ok_or(LsdError::BadPort)?,
            info_hashes,
            cookie,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn search() -> Search {
        Search {
            port: 6881,
            info_hashes: vec![InfoHash([0xab; 20]), InfoHash([0x01; 20])],
            cookie: Some("c0ffee".into()),
        }
    }

    #[test]
    fn groups_are_bep_14s() {
        assert_eq!(GROUP_V4.to_string(), "239.192.152.143:6771");
        assert_eq!(GROUP_V6.to_string(), "[ff15::efc0:152:143]:6771");
    }

    #[test]
    fn what_is_written_reads_back() {
        let bytes = search().encode("239.192.152.143:6771");
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("BT-SEARCH * HTTP/1.1\r\nHost: 239.192.152.143:6771\r\n"));
        assert_eq!(Search::parse(&bytes), Ok(search()));
    }

    #[test]
    fn other_clients_spelling_is_read() {
        // libtorrent's style: lower-case headers, no cookie, upper-case hex.
        let datagram = "BT-SEARCH * HTTP/1.1\r\nhost: 239.192.152.143:6771\r\nport: 51413\r\n\
                        infohash: ABABABABABABABABABABABABABABABABABABABAB\r\n\r\n\r\n";
        let got = Search::parse(datagram.as_bytes()).unwrap();
        assert_eq!(got.port, 51413);
        assert_eq!(got.info_hashes, vec![InfoHash([0xab; 20])]);
        assert_eq!(got.cookie, None);
    }

    #[test]
    fn bad_datagrams_are_refused() {
        let parse = |s: &str| Search::parse(s.as_bytes());
        assert_eq!(parse("GET / HTTP/1.1\r\n\r\n"), Err(LsdError::NotSearch));
        let hash = "Infohash: abababababababababababababababababababab\r\n";
        assert_eq!(
            parse(&format!("BT-SEARCH * HTTP/1.1\r\nPort: 0\r\n{hash}\r\n")),
            Err(LsdError::BadPort)
        );
        assert_eq!(
            parse(&format!(
                "BT-SEARCH * HTTP/1.1\r\nPort: 99999\r\n{hash}\r\n"
            )),
            Err(LsdError::BadPort)
        );
        assert_eq!(
            parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\nInfohash: xyz\r\n\r\n"),
            Err(LsdError::BadInfoHash)
        );
        assert_eq!(
            parse("BT-SEARCH * HTTP/1.1\r\nPort: 1\r\n\r\n"),
            Err(LsdError::NoInfoHash)
        );
        assert_eq!(
            parse("BT-SEARCH * HTTP/1.1\r\nPort 1\r\n\r\n"),
            Err(LsdError::BadHeader)
        );
        assert_eq!(Search::parse(&[0xff, 0xfe]), Err(LsdError::NotSearch));
    }

    #[test]
    fn hashes_are_capped_and_deduplicated() {
        let mut many = Search {
            info_hashes: (0..40u8).map(|n| InfoHash([n; 20])).collect(),
            ..search()
        };
        let bytes = many.encode("h");
        assert_eq!(
            Search::parse(&bytes).unwrap().info_hashes.len(),
            MAX_INFO_HASHES
        );
        many.info_hashes = vec![InfoHash([7; 20]); 3];
        assert_eq!(
            Search::parse(&many.encode("h")).unwrap().info_hashes,
            vec![InfoHash([7; 20])]
        );
    }

    proptest! {
        #[test]
        fn any_datagram_parses_or_is_refused_without_panicking(
            bytes in proptest::collection::vec(any::<u8>(), 0..600)
        ) {
            let _ = Search::parse(&bytes);
        }

        #[test]
        fn mangled_searches_never_panic(
            cut in 0usize..200,
            junk in proptest::collection::vec(any::<u8>(), 0..40)
        ) {
            let mut bytes = search().encode("239.192.152.143:6771");
            let at = cut.min(bytes.len());
            bytes.splice(at..at, junk);
            let _ = Search::parse(&bytes);
        }
    }
}
