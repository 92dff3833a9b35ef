//! The engine a driver runs: a magnet link's metadata fetch, then the torrent. Both take the
//! same events, so the driver feeds whichever is current through one interface.

use std::net::SocketAddr;

use bitfleet_core::engine::{Action, MetadataFetch, PeerInfo, PeerKey, Status, Torrent};
use bitfleet_core::tracker::AnnounceResponse;
use bitfleet_core::Instant;

pub enum Engine {
    Fetch(Box<MetadataFetch>),
    Run(Box<Torrent>),
    /// Only for the instant the fetch turns into the torrent; ignores everything.
    Switching,
}

macro_rules! each {
    ($self:ident, $engine:ident => $body:expr) => {
        each!($self, $engine => $body, Default::default())
    };
    ($self:ident, $engine:ident => $body:expr, $switching:expr) => {
        match $self {
            Engine::Fetch($engine) => $body,
            Engine::Run($engine) => $body,
            Engine::Switching => $switching,
        }
    };
}

impl Engine {
    pub fn start(&mut self, now: Instant) {
        each!(self, e => e.start(now))
    }
    pub fn stop(&mut self, now: Instant) {
        each!(self, e => e.stop(now))
    }
    pub fn peer_connected(&mut self, key: PeerKey, info: PeerInfo, now: Instant) -> bool {
        each!(self, e => e.peer_connected(key, info, now))
    }
    pub fn peer_data(&mut self, key: PeerKey, data: &[u8], now: Instant) {
        each!(self, e => e.peer_data(key, data, now))
    }
    pub fn peer_written(&mut self, key: PeerKey, bytes: usize, now: Instant) {
        each!(self, e => e.peer_written(key, bytes, now))
    }
    pub fn peer_closed(&mut self, key: PeerKey, now: Instant) {
        each!(self, e => e.peer_closed(key, now))
    }
    pub fn connect_failed(&mut self, addr: SocketAddr, now: Instant) {
        each!(self, e => e.connect_failed(addr, now))
    }
    pub fn announce_result(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        each!(self, e => e.announce_result(result, now))
    }
    pub fn handle_timeout(&mut self, now: Instant) {
        each!(self, e => e.handle_timeout(now))
    }
    pub fn poll_timeout(&self) -> Option<Instant> {
        each!(self, e => e.poll_timeout())
    }
    pub fn poll_action(&mut self) -> Option<Action> {
        each!(self, e => e.poll_action())
    }

    pub fn torrent(&self) -> Option<&Torrent> {
        match self {
            Engine::Run(torrent) => Some(torrent),
            Engine::Fetch(_) | Engine::Switching => None,
        }
    }

    pub fn torrent_mut(&mut self) -> Option<&mut Torrent> {
        match self {
            Engine::Run(torrent) => Some(torrent),
            Engine::Fetch(_) | Engine::Switching => None,
        }
    }

    /// Progress; empty while the metadata is still being fetched.
    pub fn status(&self, now: Instant) -> Status {
        self.torrent()
            .map(|torrent| torrent.status(now))
            .unwrap_or_default()
    }
}
