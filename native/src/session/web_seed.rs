//! Carries out the engine's BEP 19 web seed fetches: one HTTP Range request per file span of
//! the piece, bodies concatenated. The engine verifies the piece like any other.

use std::time::Duration;

use bitfleet_core::engine::WebSeedRange;
use bytes::{Bytes, BytesMut};
use reqwest::header::{CONTENT_RANGE, RANGE};
use reqwest::StatusCode;

/// A piece that takes longer than this counts as a failed fetch (the web seed backs off).
const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

/// The client web seed fetches share (connections are kept alive between pieces).
pub fn client() -> reqwest::Client {
    super::announce::client_with_timeout(FETCH_TIMEOUT)
}

/// Fetches `ranges` in order; a failure says why (it goes to the logs, not the user).
pub async fn fetch(client: &reqwest::Client, ranges: &[WebSeedRange]) -> Result<Bytes, String> {
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let mut body = BytesMut::with_capacity(usize::try_from(total).map_err(|e| e.to_string())?);
    for range in ranges {
        fetch_range(client, range, &mut body).await?;
    }
    Ok(body.freeze())
}

async fn fetch_range(
    client: &reqwest::Client,
    range: &WebSeedRange,
    body: &mut BytesMut,
) -> Result<(), String> {
    let url = &range.url;
    let mut response = client
        .get(url)
        .header(RANGE, range.header())
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    // A server that ignores Range answers 200 with the whole file: usable when the range
    // starts at 0, reading no further than the range.
    let partial = status == StatusCode::PARTIAL_CONTENT
        && response
            .headers()
            .get(CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| {
                v.starts_with(&format!(
                    "bytes {}-{}/",
                    range.start,
                    range.start + range.len - 1
                ))
            });
    let whole = status == StatusCode::OK && range.start == 0;
    if !partial && !whole {
        return Err(format!("GET {url} ({}): HTTP {status}", range.header()));
    }
    let mut left = range.len;
    while left > 0 {
        let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?
        else {
            return Err(format!("GET {url}: body ended {left} bytes short"));
        };
        let take = chunk.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        if partial && take < chunk.len() {
            return Err(format!("GET {url}: body longer than the range"));
        }
        body.extend_from_slice(&chunk[..take]);
        left -= take as u64;
    }
    Ok(())
}
