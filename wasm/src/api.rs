//! The JavaScript API (see wasm/README.md): a `Client` per page, a `Torrent` handle per torrent.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::{Bitfield, InfoHash};
use js_sys::{ArrayBuffer, Function, Promise, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{future_to_promise, JsFuture};
use web_sys::File;

use crate::driver::{Driver, DriverRef, Payload};
use crate::js::{self, get};
use crate::page::{self, Page};
use crate::seed;
use crate::storage::{FileStore, Store};

const DEFAULT_ICE_URL: &str = "/ice";
const DEFAULT_MAX_PER_TORRENT: usize = 20;
const DEFAULT_MAX_PER_PAGE: usize = 40;

struct ClientState {
    options: JsValue,
    page: Option<Rc<Page>>,
    torrents: BTreeMap<InfoHash, DriverRef>,
}

/// A page's BitTorrent client. `new Client({iceUrl, trackers, maxPeersPerTorrent, maxPeers})`,
/// every option optional.
#[wasm_bindgen]
pub struct Client {
    state: Rc<RefCell<ClientState>>,
}

#[wasm_bindgen]
impl Client {
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Client {
        Client {
            state: Rc::new(RefCell::new(ClientState {
                options,
                page: None,
                torrents: BTreeMap::new(),
            })),
        }
    }

    /// Downloads (and then seeds) a torrent: `source` is a .torrent URL or a magnet link.
    /// Resolves to a `Torrent`.
    #[wasm_bindgen(js_name = addTorrent)]
    pub fn add_torrent(&self, source: String) -> Promise {
        let state = Rc::clone(&self.state);
        future_to_promise(async move {
            let page = page_of(&state).await;
            let driver = if source.starts_with("magnet:") {
                let magnet = Magnet::parse(&source).map_err(|e| JsError::new(&e.to_string()))?;
                if let Some(existing) = existing(&state, magnet.info_hash) {
                    return Ok(existing.into());
                }
                Driver::with_magnet(page, magnet.info_hash, magnet.trackers)
            } else {
                let metainfo = fetch_torrent(&source).await?;
                if let Some(existing) = existing(&state, metainfo.info_hash) {
                    return Ok(existing.into());
                }
                let name = metainfo.info_hash.to_hex();
                let store = Store::for_download(&name, metainfo.info.total_length())
                    .await
                    .map_err(|e| JsError::new(&e.to_string()))?;
                let have = store.check(&metainfo.info).await;
                Driver::with_payload(page, payload(metainfo, store), have)
            };
            Ok(register(&state, driver).into())
        })
    }

    /// Seeds a file the user picked, from the file itself (nothing is copied). Resolves to a
    /// `Torrent` whose `torrentFile()` and `magnet` let others join.
    #[wasm_bindgen(js_name = seedFile)]
    pub fn seed_file(&self, file: File) -> Promise {
        let state = Rc::clone(&self.state);
        future_to_promise(async move {
            let page = page_of(&state).await;
            let trackers = page
                .trackers
                .first()
                .cloned()
                .or_else(page::default_tracker)
                .into_iter()
                .collect();
            let metainfo = seed::make_torrent(&file, trackers)
                .await
                .map_err(|e| JsError::new(&e.to_string()))?;
            if let Some(existing) = existing(&state, metainfo.info_hash) {
                return Ok(existing.into());
            }
            let have = Bitfield::full(metainfo.info.piece_count());
            let store = Store::File(FileStore::new(file));
            let driver = Driver::with_payload(page, payload(metainfo, store), have);
            Ok(register(&state, driver).into())
        })
    }

    /// Our peer id (hex), as other peers see it.
    #[wasm_bindgen(getter, js_name = peerId)]
    pub fn peer_id(&self) -> Option<String> {
        let state = self.state.borrow();
        state.page.as_ref().map(|page| page.peer_id.to_hex())
    }

    /// Every torrent of this client.
    pub fn torrents(&self) -> Vec<Torrent> {
        let state = self.state.borrow();
        state
            .torrents
            .values()
            .map(|driver| Torrent {
                driver: Rc::clone(driver),
                client: Rc::clone(&self.state),
            })
            .collect()
    }
}

/// One torrent: progress, peers, and the payload once complete.
#[wasm_bindgen]
pub struct Torrent {
    driver: DriverRef,
    client: Rc<RefCell<ClientState>>,
}

#[wasm_bindgen]
impl Torrent {
    #[wasm_bindgen(getter, js_name = infoHash)]
    pub fn info_hash(&self) -> String {
        self.driver.borrow().info_hash().to_hex()
    }

    /// `{infoHash, name, length, files: [{path, length, offset}]}`; name and files once the
    /// metadata is known.
    pub fn info(&self) -> JsValue {
        self.driver.borrow().describe().into()
    }

    /// A magnet link for this torrent, once the metadata is known.
    #[wasm_bindgen(getter)]
    pub fn magnet(&self) -> Option<String> {
        let driver = self.driver.borrow();
        let metainfo = &driver.payload()?.metainfo;
        let magnet = Magnet {
            info_hash: metainfo.info_hash,
            display_name: Some(metainfo.info.name.clone()),
            trackers: metainfo.trackers(),
            web_seeds: Vec::new(),
            peers: Vec::new(),
        };
        Some(magnet.to_uri())
    }

    /// The .torrent file's bytes, once the metadata is known.
    #[wasm_bindgen(js_name = torrentFile)]
    pub fn torrent_file(&self) -> Option<Uint8Array> {
        let driver = self.driver.borrow();
        let bytes = driver.payload()?.metainfo.to_bytes();
        Some(Uint8Array::from(bytes.as_slice()))
    }

    /// Listens to `progress` (about once a second), `peer` (`event`: connected, updated,
    /// closed), `metadata`, `done`, `warning` and `error`.
    pub fn on(&self, event: &str, listener: Function) {
        self.driver.borrow_mut().on(event, listener);
    }

    /// The latest progress, as the `progress` event carries it.
    pub fn status(&self) -> JsValue {
        self.driver.borrow().status_object(js::now()).into()
    }

    /// Connected peers: `[{key, peerId, client, kind, address, outgoing}]`.
    pub fn peers(&self) -> js_sys::Array {
        self.driver.borrow().peers_array()
    }

    /// The payload as a `File` (for a multi-file torrent, file `index` of `info().files`).
    /// Complete once `done` fired; before, missing pieces read as zeros.
    #[wasm_bindgen(js_name = getFile)]
    pub fn get_file(&self, index: Option<usize>) -> Promise {
        let driver = Rc::clone(&self.driver);
        future_to_promise(async move {
            let (store, name, whole, range) = {
                let driver = driver.borrow();
                let payload = driver
                    .payload()
                    .ok_or_else(|| JsError::new("the metadata is not known yet"))?;
                let info = &payload.info;
                let files: Vec<_> = info.files.iter().filter(|file| !file.pad).collect();
                let file = files
                    .get(index.unwrap_or(0))
                    .ok_or_else(|| JsError::new("no such file"))?;
                let name = file
                    .path
                    .last()
                    .cloned()
                    .unwrap_or_else(|| info.name.clone());
                let whole = !info.multi_file;
                (
                    Rc::clone(&payload.store),
                    name,
                    whole,
                    (file.offset, file.length),
                )
            };
            let stored = store
                .file(&name)
                .await
                .map_err(|e| JsError::new(&e.to_string()))?;
            if whole {
                return Ok(stored.into());
            }
            let (offset, length) = range;
            let slice = stored.slice_with_f64_and_f64(offset as f64, (offset + length) as f64)?;
            let parts = js_sys::Array::of1(&slice);
            Ok(File::new_with_blob_sequence(&parts, &name)?.into())
        })
    }

    /// Stops: leaves the swarm and forgets the torrent (the stored payload stays).
    pub fn remove(&self) {
        let info_hash = {
            let mut driver = self.driver.borrow_mut();
            driver.stop();
            driver.info_hash()
        };
        self.client.borrow_mut().torrents.remove(&info_hash);
    }
}

/// The page-wide state, made on first use: ICE servers come from the server then.
async fn page_of(state: &Rc<RefCell<ClientState>>) -> Rc<Page> {
    if let Some(page) = state.borrow().page.clone() {
        return page;
    }
    let options = state.borrow().options.clone();
    let ice_url = get(&options, "iceUrl")
        .as_string()
        .unwrap_or_else(|| DEFAULT_ICE_URL.to_owned());
    let trackers = get(&options, "trackers")
        .dyn_into::<js_sys::Array>()
        .map(|urls| urls.iter().filter_map(|url| url.as_string()).collect())
        .unwrap_or_default();
    let count = |name: &str, default: usize| {
        get(&options, name)
            .as_f64()
            .filter(|n| *n >= 1.0)
            .map_or(default, |n| n as usize)
    };
    let rtc_config = page::fetch_rtc_config(&ice_url).await;
    // Another call may have made it while we waited for the ICE servers.
    if let Some(page) = state.borrow().page.clone() {
        return page;
    }
    let page = Rc::new(Page::new(
        rtc_config,
        trackers,
        count("maxPeersPerTorrent", DEFAULT_MAX_PER_TORRENT),
        count("maxPeers", DEFAULT_MAX_PER_PAGE),
    ));
    state.borrow_mut().page = Some(Rc::clone(&page));
    page
}

async fn fetch_torrent(url: &str) -> Result<Metainfo, JsValue> {
    let response = js::fetch(url).await?;
    let buffer: ArrayBuffer = JsFuture::from(response.array_buffer()?).await?.dyn_into()?;
    let bytes = Uint8Array::new(&buffer).to_vec();
    Metainfo::from_bytes(&bytes).map_err(|e| JsError::new(&format!("{url}: {e}")).into())
}

fn payload(metainfo: Metainfo, store: Store) -> Payload {
    Payload {
        info: Arc::new(metainfo.info.clone()),
        metainfo,
        store: Rc::new(store),
    }
}

fn existing(state: &Rc<RefCell<ClientState>>, info_hash: InfoHash) -> Option<Torrent> {
    let driver = state.borrow().torrents.get(&info_hash).cloned()?;
    Some(Torrent {
        driver,
        client: Rc::clone(state),
    })
}

fn register(state: &Rc<RefCell<ClientState>>, driver: DriverRef) -> Torrent {
    let info_hash = driver.borrow().info_hash();
    state
        .borrow_mut()
        .torrents
        .insert(info_hash, Rc::clone(&driver));
    Torrent {
        driver,
        client: Rc::clone(state),
    }
}
