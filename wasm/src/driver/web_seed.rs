//! Carries out the engine's BEP 19 web seed fetches with `fetch()`: one Range request per file
//! span of the piece, bodies concatenated. The engine verifies the piece like any other.

use bitfleet_core::engine::WebSeedRange;
use bytes::{Bytes, BytesMut};
use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Headers, RequestInit, Response};

use crate::js;

/// Fetches `ranges` in order; a failure says why (for the console, not the user).
pub async fn fetch(ranges: &[WebSeedRange]) -> Result<Bytes, String> {
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let mut body = BytesMut::with_capacity(usize::try_from(total).map_err(|e| e.to_string())?);
    for range in ranges {
        let part = fetch_range(range).await.map_err(|e| {
            format!(
                "GET {} ({}): {}",
                range.url,
                range.header(),
                js::describe(&e)
            )
        })?;
        body.extend_from_slice(&part);
    }
    Ok(body.freeze())
}

async fn fetch_range(range: &WebSeedRange) -> Result<Vec<u8>, JsValue> {
    let headers = Headers::new()?;
    headers.set("Range", &range.header())?;
    let init = RequestInit::new();
    init.set_method("GET");
    init.set_headers(&headers);
    let response: Response =
        JsFuture::from(js::window()?.fetch_with_str_and_init(&range.url, &init))
            .await?
            .dyn_into()?;
    // 206 with the range asked for; a server ignoring Range answers 200 with the whole file,
    // usable only when that file is the range (not buffered whole otherwise).
    let expected = format!("bytes {}-{}/", range.start, range.start + range.len - 1);
    let partial = response.status() == 206
        && response
            .headers()
            .get("Content-Range")?
            .is_some_and(|v| v.starts_with(&expected));
    let whole = response.status() == 200
        && range.start == 0
        && response
            .headers()
            .get("Content-Length")?
            .is_some_and(|v| v == range.len.to_string());
    if !partial && !whole {
        return Err(JsValue::from_str(&format!("HTTP {}", response.status())));
    }
    let buffer: ArrayBuffer = JsFuture::from(response.array_buffer()?).await?.dyn_into()?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    if bytes.len() as u64 != range.len {
        return Err(JsValue::from_str(&format!("{} bytes", bytes.len())));
    }
    Ok(bytes)
}
