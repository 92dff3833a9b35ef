//! Bitfleet's tracker: an in-memory HTTP BitTorrent tracker (BEP 3 announce with BEP 23
//! compact peers, BEP 48 scrape) plus a JSON `/stats` view, embeddable as an axum [`router`]
//! or run alone by the `bitfleet-server` binary.
//!
//! With a token configured, clients use the announce URL
//! `http://host:port/announce?token=<token>`; scrape and stats take the same parameter.

pub mod config;
pub mod http;
pub mod swarm;
pub mod tracker;

pub use config::TrackerConfig;
pub use http::{router, serve};
pub use tracker::{Refusal, StatsReport, SwarmReport, Tracker};
