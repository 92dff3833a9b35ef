//! Bitfleet's transport-agnostic BitTorrent engine.
//!
//! Everything here is sans-IO: no sockets, no clock, no filesystem, no threads. Callers feed
//! events (bytes from a peer, a timer firing at `now`, a piece verified) and drain actions
//! (send bytes, write a piece, connect to an address). Time ([`time::Instant`]) and randomness
//! (a seed) are injected, so the same inputs always give the same outputs — whole swarms can
//! run in a simulator on a virtual clock, and the crate builds for `wasm32-unknown-unknown`.

pub mod bencode;
pub mod bitfield;
pub mod budget;
pub mod engine;
pub mod ids;
pub mod lsd;
pub mod magnet;
pub mod metadata;
pub mod metainfo;
pub mod rate;
pub mod sites;
pub mod span_reads;
pub mod time;
pub mod tracker;
pub mod wire;

pub use bitfield::Bitfield;
pub use ids::{InfoHash, PeerId};
pub use time::Instant;
