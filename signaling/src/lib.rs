//! Bitfleet's tracker: an in-memory HTTP BitTorrent tracker (BEP 3 announce with BEP 23
//! compact peers, BEP 48 scrape) plus a JSON `/stats` view, embeddable as an axum [`router`]
//! or run alone by the `bitfleet-server` binary.
//!
//! The same `/announce` path is also a WebTorrent-compatible WebSocket tracker
//! (`ws://host:port/announce`): browsers and natives speaking WebRTC announce there, and the
//! tracker relays their WebRTC offers and answers. One swarm per info-hash holds both kinds of
//! peer; `GET /ice` hands out the STUN/TURN servers WebRTC peers should use.
//!
//! Around the tracker, [`site`] serves the intranet page, the catalog of published torrents,
//! their .torrent files and a BEP 19 web seed for their data.
//!
//! With a token configured, clients use the announce URL
//! `http://host:port/announce?token=<token>` (or `ws://host:port/announce?token=<token>`);
//! scrape, stats and ice take the same parameter.

pub mod config;
pub mod config_file;
pub mod http;
mod offers;
mod relay;
pub mod site;
pub mod swarm;
pub mod tracker;
mod ws;

pub use config::{SiteConfig, TrackerConfig, WebSocketLimits};
pub use config_file::{ConfigFile, ConfigFileError};
pub use http::{router, serve};
pub use site::{Catalog, Published, Site};
pub use tracker::{Refusal, StatsReport, SwarmReport, Tracker};
