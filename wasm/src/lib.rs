//! Bitfleet in the browser: the same sans-IO engine as the native client, driven with browser
//! APIs — WebRTC data channels for peers (WebTorrent's wire), a WebSocket tracker for
//! signaling, the Origin Private File System for storage. The JavaScript API is in [`api`].

mod api;
mod driver;
mod js;
mod page;
mod seed;
mod storage;

pub use api::{Client, Torrent};
