//! BEP 3 announce: the request's query string and the bencoded reply, with peers either as
//! dictionaries (BEP 3) or packed into `peers` / `peers6` strings (BEP 23, BEP 7).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use serde_bencode::value::Value;

use super::bdict::{bad_response, Dict, DictBuilder};
use super::query::{append_query, bad_query, encode_component, QueryParams};
use super::{check_failure, TrackerError};
use crate::{InfoHash, PeerId};

/// Bytes of one compact IPv4 peer: address then big-endian port.
const COMPACT_V4_LEN: usize = 6;
/// Bytes of one compact IPv6 peer.
const COMPACT_V6_LEN: usize = 18;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AnnounceEvent {
    Started,
    Stopped,
    Completed,
}

impl AnnounceEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Started => "started",
            Self::Stopped => "stopped",
            Self::Completed => "completed",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceRequest {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    pub port: u16,
    pub uploaded: u64,
    pub downloaded: u64,
    pub left: u64,
    pub event: Option<AnnounceEvent>,
    pub compact: bool,
    pub numwant: Option<u32>,
    pub key: Option<String>,
    /// Address the client asks to be listed under (BEP 3 `ip`); trackers may ignore it.
    pub ip: Option<String>,
    pub tracker_id: Option<String>,
}

impl AnnounceRequest {
    /// The query string (without `?`), binary fields percent-encoded byte by byte.
    pub fn to_query(&self) -> String {
        let mut pairs = vec![
            ("info_hash", encode_component(self.info_hash.as_bytes())),
            ("peer_id", encode_component(self.peer_id.as_bytes())),
            ("port", self.port.to_string()),
            ("uploaded", self.uploaded.to_string()),
            ("downloaded", self.downloaded.to_string()),
            ("left", self.left.to_string()),
            ("compact", u8::from(self.compact).to_string()),
        ];
        if let Some(event) = self.event {
            pairs.push(("event", event.as_str().to_owned()));
        }
        if let Some(numwant) = self.numwant {
            pairs.push(("numwant", numwant.to_string()));
        }
        let texts = [
            ("key", &self.key),
            ("ip", &self.ip),
            ("trackerid", &self.tracker_id),
        ];
        for (name, value) in texts {
            if let Some(value) = value {
                pairs.push((name, encode_component(value.as_bytes())));
            }
        }
        pairs
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("&")
    }

    /// The full announce URL: `announce_url` (which may already carry a query, such as a
    /// tracker token) followed by this request's parameters.
    pub fn url(&self, announce_url: &str) -> String {
        append_query(announce_url, &self.to_query())
    }

    /// Parses a raw (still percent-encoded) query string.
    pub fn from_query(query: &str) -> Result<Self, TrackerError> {
        Self::from_params(&QueryParams::parse(query)?)
    }

    /// Reads an announce from an already parsed query; parameters it does not know (a tracker
    /// token, BEP 7's `ipv6`) are left for the caller.
    pub fn from_params(params: &QueryParams) -> Result<Self, TrackerError> {
        let info_hash = InfoHash::from_slice(params.require("info_hash")?)
            .ok_or_else(|| bad_query("info_hash must be 20 bytes"))?;
        let peer_id = PeerId::from_slice(params.require("peer_id")?)
            .ok_or_else(|| bad_query("peer_id must be 20 bytes"))?;
        let port = params.require_number("port")?;
        if port == 0 {
            return Err(bad_query("port 0 cannot be connected to"));
        }
        let event = match params.get("event")? {
            // BEP 3 spells a regular announce `empty`; BEP 21's `paused` is one too.
            None | Some(b"" | b"empty" | b"paused") => None,
            Some(b"started") => Some(AnnounceEvent::Started),
            Some(b"stopped") => Some(AnnounceEvent::Stopped),
            Some(b"completed") => Some(AnnounceEvent::Completed),
            Some(_) => return Err(bad_query("unknown event")),
        };
        let compact = match params.get("compact")? {
            None | Some(b"0") => false,
            Some(b"1") => true,
            Some(_) => return Err(bad_query("compact must be 0 or 1")),
        };
        Ok(Self {
            info_hash,
            peer_id,
            port,
            uploaded: params.require_number("uploaded")?,
            downloaded: params.require_number("downloaded")?,
            left: params.require_number("left")?,
            event,
            compact,
            numwant: params.number("numwant")?,
            key: params.text("key")?,
            ip: params.text("ip")?,
            tracker_id: params.text("trackerid")?,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnnounceResponse {
    pub interval: u32,
    pub min_interval: Option<u32>,
    pub complete: u32,
    pub incomplete: u32,
    pub peers: Vec<SocketAddr>,
    pub warning: Option<String>,
    pub tracker_id: Option<String>,
}

impl AnnounceResponse {
    /// Bencodes the reply; `compact` selects BEP 23 peer strings (`peers` and `peers6`).
    /// Non-compact peers are dictionaries of `ip` and `port` (no `peer id`: the reply does not
    /// carry one, and clients must not rely on it).
    pub fn encode(&self, compact: bool) -> Vec<u8> {
        let mut reply = DictBuilder::default()
            .int("interval", self.interval)
            .int("complete", self.complete)
            .int("incomplete", self.incomplete);
        if let Some(min_interval) = self.min_interval {
            reply = reply.int("min interval", min_interval);
        }
        if let Some(warning) = &self.warning {
            reply = reply.bytes("warning message", warning.as_str());
        }
        if let Some(tracker_id) = &self.tracker_id {
            reply = reply.bytes("tracker id", tracker_id.as_str());
        }
        if compact {
            let (peers, peers6) = compact_peers(&self.peers);
            reply = reply.bytes("peers", peers);
            if !peers6.is_empty() {
                reply = reply.bytes("peers6", peers6);
            }
        } else {
            let peers = self
                .peers
                .iter()
                .map(|peer| {
                    DictBuilder::default()
                        .bytes("ip", peer.ip().to_canonical().to_string())
                        .int("port", peer.port())
                        .into_value()
                })
                .collect();
            reply = reply.value("peers", Value::List(peers));
        }
        reply.encode()
    }

    /// Parses a reply in either peer format; a `failure reason` becomes `TrackerError::Failure`.
    /// Missing counts read as zero and missing peers as none, as lenient clients do; a wrong
    /// type or an out-of-range number is an error.
    pub fn decode(data: &[u8]) -> Result<Self, TrackerError> {
        let mut reply = Dict::decode(data)?;
        check_failure(&mut reply)?;
        let interval = reply
            .int("interval")?
            .ok_or_else(|| bad_response("missing `interval`"))?;
        let mut peers = match reply.take("peers") {
            None => Vec::new(),
            Some(Value::Bytes(packed)) => unpack_peers(&packed, COMPACT_V4_LEN, peer_v4)?,
            Some(Value::List(entries)) => dictionary_peers(entries)?,
            Some(_) => return Err(bad_response("`peers` is neither a string nor a list")),
        };
        if let Some(packed) = reply.bytes("peers6")? {
            peers.extend(unpack_peers(&packed, COMPACT_V6_LEN, peer_v6)?);
        }
        Ok(Self {
            interval,
            min_interval: reply.int("min interval")?,
            complete: reply.int("complete")?.unwrap_or(0),
            incomplete: reply.int("incomplete")?.unwrap_or(0),
            peers,
            warning: reply.text("warning message")?,
            tracker_id: reply.text("tracker id")?,
        })
    }
}

/// Packs peers into BEP 23 `peers` (IPv4) and BEP 7 `peers6` (IPv6) strings. IPv4-mapped IPv6
/// addresses are listed as the IPv4 peers they are.
fn compact_peers(peers: &[SocketAddr]) -> (Vec<u8>, Vec<u8>) {
    let mut v4 = Vec::new();
    let mut v6 = Vec::new();
    for peer in peers {
        match peer.ip().to_canonical() {
            IpAddr::V4(ip) => {
                v4.extend_from_slice(&ip.octets());
                v4.extend_from_slice(&peer.port().to_be_bytes());
            }
            IpAddr::V6(ip) => {
                v6.extend_from_slice(&ip.octets());
                v6.extend_from_slice(&peer.port().to_be_bytes());
            }
        }
    }
    (v4, v6)
}

fn unpack_peers(
    packed: &[u8],
    entry_len: usize,
    parse: fn(&[u8]) -> Option<SocketAddr>,
) -> Result<Vec<SocketAddr>, TrackerError> {
    if packed.len() % entry_len != 0 {
        return Err(bad_response(format!(
            "compact peer string of {} bytes is not a multiple of {entry_len}",
            packed.len()
        )));
    }
    packed
        .chunks_exact(entry_len)
        .map(|entry| parse(entry).ok_or_else(|| bad_response("malformed compact peer")))
        .collect()
}

fn peer_v4(entry: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = entry.split_first_chunk::<4>()?;
    let port = u16::from_be_bytes(port.try_into().ok()?);
    Some(SocketAddrV4::new(Ipv4Addr::from(*ip), port).into())
}

fn peer_v6(entry: &[u8]) -> Option<SocketAddr> {
    let (ip, port) = entry.split_first_chunk::<16>()?;
    let port = u16::from_be_bytes(port.try_into().ok()?);
    Some(SocketAddrV6::new(Ipv6Addr::from(*ip), port, 0, 0).into())
}

/// BEP 3 peer dictionaries. An `ip` that is a DNS name rather than an address literal is
/// skipped: resolving names is not this sans-IO layer's business, and one such entry should
/// not cost the client every other peer.
fn dictionary_peers(entries: Vec<Value>) -> Result<Vec<SocketAddr>, TrackerError> {
    let mut peers = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut entry = Dict::from_value(entry, "peer entry")?;
        let ip = entry
            .text("ip")?
            .ok_or_else(|| bad_response("peer entry without `ip`"))?;
        let port = entry
            .int::<u16>("port")?
            .ok_or_else(|| bad_response("peer entry without `port`"))?;
        if let Ok(ip) = ip.parse::<IpAddr>() {
            peers.push(SocketAddr::new(ip, port));
        }
    }
    Ok(peers)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn request() -> AnnounceRequest {
        AnnounceRequest {
            info_hash: InfoHash(*b"\x00\xff %+&=?#\x7f\x80abcdefghi"),
            peer_id: PeerId(*b"-BF0100-0123456789ab"),
            port: 6881,
            uploaded: 1,
            downloaded: 2,
            left: u64::MAX,
            event: Some(AnnounceEvent::Started),
            compact: true,
            numwant: Some(80),
            key: Some("k y".into()),
            ip: Some("10.0.0.1".into()),
            tracker_id: Some("t&id".into()),
        }
    }

    #[test]
    fn query_round_trips_binary_fields() {
        let request = request();
        let query = request.to_query();
        assert!(query.starts_with("info_hash=%00%FF%20%25%2B%26%3D%3F%23%7F%80abcdefghi&"));
        assert_eq!(AnnounceRequest::from_query(&query).unwrap(), request);
    }

    #[test]
    fn minimal_query_uses_defaults() {
        let query = "info_hash=aaaaaaaaaaaaaaaaaaaa&peer_id=bbbbbbbbbbbbbbbbbbbb&port=1\
                     &uploaded=0&downloaded=0&left=0&event=empty&unknown=x";
        let request = AnnounceRequest::from_query(query).unwrap();
        assert_eq!(request.event, None);
        assert!(!request.compact);
        assert_eq!(request.numwant, None);
        assert_eq!(request.info_hash, InfoHash([b'a'; 20]));
    }

    #[test]
    fn url_appends_to_a_tokened_announce_url() {
        let url = request().url("http://h:1/announce?token=T");
        assert!(url.starts_with("http://h:1/announce?token=T&info_hash="));
    }

    #[test]
    fn invalid_queries_are_bad_queries() {
        let valid = request().to_query();
        let broken = [
            valid.replace("port=6881", "port=0"),
            valid.replace("port=6881", "port=65536"),
            valid.replace("uploaded=1", "uploaded=18446744073709551616"),
            valid.replace("uploaded=1", "uploaded=-1"),
            valid.replace("event=started", "event=bogus"),
            valid.replace("compact=1", "compact=yes"),
            valid.replace("info_hash=%00", "info_hash="),
            valid.replace("&left=18446744073709551615", ""),
            format!("{valid}&port=6882"),
            "garbage".to_owned(),
            String::new(),
        ];
        for query in broken {
            assert!(
                matches!(
                    AnnounceRequest::from_query(&query),
                    Err(TrackerError::BadQuery(_))
                ),
                "{query}"
            );
        }
    }

    fn response(peers: Vec<SocketAddr>) -> AnnounceResponse {
        AnnounceResponse {
            interval: 1800,
            min_interval: Some(60),
            complete: 3,
            incomplete: 4,
            peers,
            warning: Some("careful".into()),
            tracker_id: Some("tid".into()),
        }
    }

    #[test]
    fn compact_reply_packs_v4_and_v6_apart() {
        let peers: Vec<SocketAddr> = vec![
            "1.2.3.4:258".parse().unwrap(),
            "[2001:db8::1]:80".parse().unwrap(),
        ];
        let encoded = response(peers.clone()).encode(true);
        let text = String::from_utf8_lossy(&encoded);
        assert!(text.contains("5:peers6:\x01\x02\x03\x04\x01\x02"), "{text}");
        assert!(text.contains("6:peers618:"), "{text}");
        assert_eq!(AnnounceResponse::decode(&encoded).unwrap(), response(peers));
    }

    #[test]
    fn mapped_v4_peers_are_listed_as_v4() {
        let mapped: SocketAddr = "[::ffff:1.2.3.4]:5".parse().unwrap();
        let decoded = AnnounceResponse::decode(&response(vec![mapped]).encode(true)).unwrap();
        assert_eq!(decoded.peers, vec!["1.2.3.4:5".parse().unwrap()]);
    }

    #[test]
    fn dictionary_reply_skips_host_names() {
        let data = b"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti9eed2:ip9:host.name4:porti1eed2:ip3:::17:peer id20:aaaaaaaaaaaaaaaaaaaa4:porti2eeee";
        let decoded = AnnounceResponse::decode(data).unwrap();
        assert_eq!(
            decoded.peers,
            vec!["1.2.3.4:9".parse().unwrap(), "[::1]:2".parse().unwrap()]
        );
        assert_eq!((decoded.complete, decoded.min_interval), (0, None));
    }

    #[test]
    fn malformed_replies_are_bad_responses() {
        let cases: [&[u8]; 7] = [
            b"",
            b"le",
            b"d5:peers0:e",
            b"d8:intervali-1e5:peers0:e",
            b"d8:intervali60e5:peers5:abcdee",
            b"d8:intervali60e5:peersld2:ip7:1.2.3.44:porti70000eeee",
            b"d8:intervali60e5:peersi1ee",
        ];
        for data in cases {
            assert!(
                matches!(
                    AnnounceResponse::decode(data),
                    Err(TrackerError::BadResponse(_))
                ),
                "{:?}",
                String::from_utf8_lossy(data)
            );
        }
    }

    fn socket_addr() -> impl Strategy<Value = SocketAddr> {
        prop_oneof![
            any::<([u8; 4], u16)>().prop_map(|(ip, port)| (Ipv4Addr::from(ip), port).into()),
            any::<([u8; 16], u16)>().prop_map(|(ip, port)| (
                Ipv6Addr::from(ip).to_canonical(),
                port
            )
                .into()),
        ]
    }

    fn announce_request() -> impl Strategy<Value = AnnounceRequest> {
        let event = proptest::option::of(prop_oneof![
            Just(AnnounceEvent::Started),
            Just(AnnounceEvent::Stopped),
            Just(AnnounceEvent::Completed),
        ]);
        let text = || proptest::option::of(any::<String>());
        (
            (any::<[u8; 20]>(), any::<[u8; 20]>(), 1..=u16::MAX),
            any::<(u64, u64, u64)>(),
            (event, any::<bool>(), any::<Option<u32>>()),
            (text(), text(), text()),
        )
            .prop_map(
                |(
                    (info_hash, peer_id, port),
                    (uploaded, downloaded, left),
                    (event, compact, numwant),
                    (key, ip, tracker_id),
                )| AnnounceRequest {
                    info_hash: InfoHash(info_hash),
                    peer_id: PeerId(peer_id),
                    port,
                    uploaded,
                    downloaded,
                    left,
                    event,
                    compact,
                    numwant,
                    key,
                    ip,
                    tracker_id,
                },
            )
    }

    proptest! {
        #[test]
        fn any_request_round_trips(request in announce_request()) {
            prop_assert_eq!(AnnounceRequest::from_query(&request.to_query()).unwrap(), request);
        }

        #[test]
        fn from_query_never_panics(query: String) {
            let _ = AnnounceRequest::from_query(&query);
        }

        #[test]
        fn decode_never_panics(data: Vec<u8>) {
            let _ = AnnounceResponse::decode(&data);
        }

        #[test]
        fn decode_never_panics_on_near_valid_replies(
            mut data in Just(response(vec!["1.2.3.4:5".parse().unwrap()]).encode(false)),
            flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            for (index, byte) in flips {
                let at = index.index(data.len());
                data[at] = byte;
            }
            let _ = AnnounceResponse::decode(&data);
        }

        #[test]
        fn both_formats_round_trip(
            peers in proptest::collection::vec(socket_addr(), 0..20),
            compact: bool,
        ) {
            let original = response(peers);
            let decoded = AnnounceResponse::decode(&original.encode(compact)).unwrap();
            let mut expected = original;
            if compact {
                // Compact replies list IPv4 peers before IPv6 ones.
                expected.peers.sort_by_key(SocketAddr::is_ipv6);
            }
            prop_assert_eq!(decoded, expected);
        }
    }
}
