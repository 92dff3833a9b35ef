//! What every torrent of a page shares: our peer id, the ICE servers, the connection budget.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use bitfleet_core::PeerId;
use js_sys::{Array, Object};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

use crate::js::{self, get};

/// Peer-id prefix of Bitfleet's browser client ("Bitfleet Web"); natives use `-BF`.
const PEER_ID_PREFIX: &[u8; 8] = b"-BW0100-";

pub struct Page {
    pub peer_id: PeerId,
    /// `RTCConfiguration` for every connection (`iceServers` from the server's `/ice`).
    pub rtc_config: Object,
    /// WebSocket trackers that override the torrents' own.
    pub trackers: Vec<String>,
    pub max_per_torrent: usize,
    pub max_per_page: usize,
    open: Cell<usize>,
    rng: RefCell<fastrand::Rng>,
}

/// Holds one of the page's connection slots; gives it back when dropped.
pub struct Slot(Rc<Page>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.set(self.0.open.get().saturating_sub(1));
    }
}

impl Page {
    pub fn new(
        rtc_config: Object,
        trackers: Vec<String>,
        max_per_torrent: usize,
        max_per_page: usize,
    ) -> Self {
        let mut rng = fastrand::Rng::with_seed(random_seed());
        let mut peer_id = [0u8; 20];
        peer_id[..8].copy_from_slice(PEER_ID_PREFIX);
        for byte in &mut peer_id[8..] {
            *byte = rng.alphanumeric() as u8;
        }
        Self {
            peer_id: PeerId(peer_id),
            rtc_config,
            trackers,
            max_per_torrent,
            max_per_page,
            open: Cell::new(0),
            rng: RefCell::new(rng),
        }
    }

    /// A connection slot, unless the page is at its cap.
    pub fn take_slot(self: &Rc<Self>) -> Option<Slot> {
        let open = self.open.get();
        (open < self.max_per_page).then(|| {
            self.open.set(open + 1);
            Slot(Rc::clone(self))
        })
    }

    pub fn free_slots(&self) -> usize {
        self.max_per_page.saturating_sub(self.open.get())
    }

    pub fn random_id(&self) -> [u8; 20] {
        let mut rng = self.rng.borrow_mut();
        std::array::from_fn(|_| rng.u8(..))
    }

    pub fn random_u64(&self) -> u64 {
        self.rng.borrow_mut().u64(..)
    }
}

/// What kind of client a peer id names: Bitfleet's and WebTorrent's browser clients, or else a
/// native one.
pub fn peer_kind(peer_id: &PeerId) -> &'static str {
    if peer_id.is_browser() {
        "browser"
    } else {
        "native"
    }
}

fn random_seed() -> u64 {
    // Math.random gives 52 random bits per call; two calls make a full seed.
    let half = || (js_sys::Math::random() * f64::from(u32::MAX)) as u64;
    (half() << 32) ^ half()
}

/// The `RTCConfiguration` from the server's ICE document. The server may answer with
/// `{"iceServers": [...]}` or with the bare list `[{urls, username?, credential?}]`; without
/// it (no server, old server) connections still work on a LAN with host candidates alone.
pub async fn fetch_rtc_config(url: &str) -> Object {
    let servers = match fetch_json(url).await {
        Ok(doc) if Array::is_array(&doc) => doc,
        Ok(doc) if Array::is_array(&get(&doc, "iceServers")) => get(&doc, "iceServers"),
        _ => Array::new().into(),
    };
    js::object(&[("iceServers", servers)])
}

async fn fetch_json(url: &str) -> Result<JsValue, JsValue> {
    JsFuture::from(js::fetch(url).await?.json()?).await
}

/// `ws(s)://` for the page's own server: where the intranet server runs its tracker.
pub fn default_tracker() -> Option<String> {
    let location = web_sys::window()?.location();
    let scheme = match location.protocol().ok()?.as_str() {
        "https:" => "wss",
        "http:" => "ws",
        _ => return None,
    };
    Some(format!("{scheme}://{}/announce", location.host().ok()?))
}

/// A tracker URL a browser can use: WebSocket ones as they are, HTTP ones on the same host and
/// path (the Bitfleet server takes both on its announce route).
pub fn websocket_tracker(url: &str) -> Option<String> {
    if url.starts_with("ws://") || url.starts_with("wss://") {
        Some(url.to_owned())
    } else if let Some(rest) = url.strip_prefix("http://") {
        Some(format!("ws://{rest}"))
    } else {
        url.strip_prefix("https://")
            .map(|rest| format!("wss://{rest}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_trackers_map_to_websockets_on_the_same_route() {
        let map = |url: &str| websocket_tracker(url);
        assert_eq!(
            map("http://srv:8080/announce").as_deref(),
            Some("ws://srv:8080/announce")
        );
        assert_eq!(
            map("https://srv/announce?token=t").as_deref(),
            Some("wss://srv/announce?token=t")
        );
        assert_eq!(map("wss://t.example/").as_deref(), Some("wss://t.example/"));
        assert_eq!(map("udp://t.example:6969"), None);
    }

    #[test]
    fn browser_clients_are_told_from_native_ones_by_peer_id() {
        assert_eq!(peer_kind(&PeerId(*b"-BW0100-abcdefghijkl")), "browser");
        assert_eq!(peer_kind(&PeerId(*b"-WW0208-abcdefghijkl")), "browser");
        assert_eq!(peer_kind(&PeerId(*b"-BF0100-abcdefghijkl")), "native");
        assert_eq!(peer_kind(&PeerId(*b"-lt0D60-abcdefghijkl")), "native");
    }
}
