//! BEP 48 scrape: the per-torrent counts a tracker keeps, asked for by info-hash.

use std::collections::BTreeMap;

use super::bdict::{bad_response, Dict, DictBuilder};
use super::query::{bad_query, encode_component, QueryParams};
use super::{check_failure, TrackerError};
use crate::InfoHash;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScrapeStats {
    pub complete: u32,
    pub downloaded: u32,
    pub incomplete: u32,
}

/// A scrape for some torrents; no info-hash at all asks for every torrent the tracker has.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeRequest {
    pub info_hashes: Vec<InfoHash>,
}

impl ScrapeRequest {
    /// The query string (without `?`): one `info_hash` parameter per torrent.
    pub fn to_query(&self) -> String {
        self.info_hashes
            .iter()
            .map(|hash| format!("info_hash={}", encode_component(hash.as_bytes())))
            .collect::<Vec<_>>()
            .join("&")
    }

    pub fn from_query(query: &str) -> Result<Self, TrackerError> {
        Self::from_params(&QueryParams::parse(query)?)
    }

    pub fn from_params(params: &QueryParams) -> Result<Self, TrackerError> {
        let info_hashes = params
            .all("info_hash")
            .map(|raw| {
                InfoHash::from_slice(raw).ok_or_else(|| bad_query("info_hash must be 20 bytes"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self { info_hashes })
    }
}

/// The scrape URL of an announce URL (BEP 48): the last path segment must start with
/// `announce`, which becomes `scrape`; otherwise the tracker does not support scraping.
pub fn scrape_url(announce_url: &str) -> Option<String> {
    let (path, query) = match announce_url.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (announce_url, None),
    };
    let (directory, last_segment) = path.rsplit_once('/')?;
    let rest = last_segment.strip_prefix("announce")?;
    let mut url = format!("{directory}/scrape{rest}");
    if let Some(query) = query {
        url.push('?');
        url.push_str(query);
    }
    Some(url)
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ScrapeResponse {
    /// Counts per torrent, keyed (on the wire too) by the raw 20-byte info-hash.
    pub files: BTreeMap<InfoHash, ScrapeStats>,
}

impl ScrapeResponse {
    pub fn encode(&self) -> Vec<u8> {
        let files = self
            .files
            .iter()
            .fold(DictBuilder::default(), |files, (hash, stats)| {
                let stats = DictBuilder::default()
                    .int("complete", stats.complete)
                    .int("downloaded", stats.downloaded)
                    .int("incomplete", stats.incomplete)
                    .into_value();
                files.value(hash.as_bytes(), stats)
            });
        DictBuilder::default()
            .value("files", files.into_value())
            .encode()
    }

    /// Parses a scrape reply; a `failure reason` becomes `TrackerError::Failure`, and a
    /// missing count reads as zero.
    pub fn decode(data: &[u8]) -> Result<Self, TrackerError> {
        let mut reply = Dict::decode(data)?;
        check_failure(&mut reply)?;
        let files = match reply.take("files") {
            None => return Ok(Self::default()),
            Some(files) => Dict::from_value(files, "`files`")?,
        };
        let files = files
            .into_entries()
            .map(|(key, stats)| {
                let hash = InfoHash::from_slice(&key)
                    .ok_or_else(|| bad_response("`files` key is not a 20-byte info-hash"))?;
                let mut stats = Dict::from_value(stats, "scrape entry")?;
                let stats = ScrapeStats {
                    complete: stats.int("complete")?.unwrap_or(0),
                    downloaded: stats.int("downloaded")?.unwrap_or(0),
                    incomplete: stats.int("incomplete")?.unwrap_or(0),
                };
                Ok((hash, stats))
            })
            .collect::<Result<_, TrackerError>>()?;
        Ok(Self { files })
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn request_round_trips_several_hashes() {
        let request = ScrapeRequest {
            info_hashes: vec![InfoHash([0; 20]), InfoHash([0xff; 20])],
        };
        let query = request.to_query();
        assert_eq!(query.matches("info_hash=").count(), 2);
        assert_eq!(ScrapeRequest::from_query(&query).unwrap(), request);
        assert_eq!(
            ScrapeRequest::from_query("").unwrap(),
            ScrapeRequest::default()
        );
        assert!(ScrapeRequest::from_query("info_hash=short").is_err());
    }

    #[test]
    fn scrape_url_follows_bep_48() {
        let cases = [
            ("http://h/announce", Some("http://h/scrape")),
            (
                "http://h/x/announce.php?token=T",
                Some("http://h/x/scrape.php?token=T"),
            ),
            ("http://h/a/announce?x=/", Some("http://h/a/scrape?x=/")),
            ("http://h/announce/x", None),
            ("http://h/a", None),
        ];
        for (announce, scrape) in cases {
            assert_eq!(scrape_url(announce).as_deref(), scrape, "{announce}");
        }
    }

    #[test]
    fn reply_keys_are_raw_hashes() {
        let mut reply = ScrapeResponse::default();
        let stats = ScrapeStats {
            complete: 1,
            downloaded: 2,
            incomplete: 3,
        };
        reply.files.insert(InfoHash([b'x'; 20]), stats);
        let encoded = reply.encode();
        assert_eq!(
            encoded,
            b"d5:filesd20:xxxxxxxxxxxxxxxxxxxxd8:completei1e10:downloadedi2e10:incompletei3eeee"
        );
        assert_eq!(ScrapeResponse::decode(&encoded).unwrap(), reply);
    }

    #[test]
    fn malformed_replies_are_errors() {
        assert!(ScrapeResponse::decode(b"d5:filesd3:abcdeee").is_err());
        assert!(ScrapeResponse::decode(b"d5:filesli1eee").is_err());
        assert_eq!(
            ScrapeResponse::decode(b"d14:failure reason2:noe"),
            Err(TrackerError::Failure("no".into()))
        );
    }

    proptest! {
        #[test]
        fn decode_never_panics(data: Vec<u8>) {
            let _ = ScrapeResponse::decode(&data);
        }

        #[test]
        fn replies_round_trip(files in proptest::collection::btree_map(
            any::<[u8; 20]>().prop_map(InfoHash),
            any::<(u32, u32, u32)>().prop_map(|(complete, downloaded, incomplete)| ScrapeStats {
                complete,
                downloaded,
                incomplete,
            }),
            0..8,
        )) {
            let reply = ScrapeResponse { files };
            prop_assert_eq!(ScrapeResponse::decode(&reply.encode()).unwrap(), reply);
        }
    }
}
