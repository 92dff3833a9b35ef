//! HTTP tracker messages (BEP 3 announce, BEP 23 compact peers, BEP 48 scrape): the query string
//! a client sends and the bencoded replies, shared by the native client and the tracker server.

mod announce;
mod bdict;
mod query;
mod scrape;
pub mod ws;

pub use announce::{AnnounceEvent, AnnounceRequest, AnnounceResponse};
pub use query::{append_query, encode_component, QueryParams};
pub use scrape::{scrape_url, ScrapeRequest, ScrapeResponse, ScrapeStats};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrackerError {
    #[error("bad announce query: {0}")]
    BadQuery(String),
    #[error("bad tracker response: {0}")]
    BadResponse(String),
    #[error("tracker refused: {0}")]
    Failure(String),
}

/// A bencoded `failure reason` reply.
pub fn encode_failure(reason: &str) -> Vec<u8> {
    bdict::DictBuilder::default()
        .bytes("failure reason", reason)
        .encode()
}

/// Reads the `failure reason` of a decoded reply, if the tracker refused.
fn check_failure(dict: &mut bdict::Dict) -> Result<(), TrackerError> {
    match dict.text("failure reason")? {
        Some(reason) => Err(TrackerError::Failure(reason)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_reply_is_a_one_key_dictionary() {
        assert_eq!(encode_failure("no"), b"d14:failure reason2:noe");
        assert_eq!(
            AnnounceResponse::decode(&encode_failure("no")),
            Err(TrackerError::Failure("no".into()))
        );
    }
}
