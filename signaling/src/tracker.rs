//! The tracker service: checks requests against the configuration, keeps the swarms (and the
//! WebSocket connections relaying into them) behind one lock and turns outcomes into replies:
//! bencoded for HTTP announces, JSON for WebSocket messages. It knows nothing of HTTP or
//! sockets; `http` and `ws` only move queries and messages in and out.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use bitfleet_core::sites::SiteId;
use bitfleet_core::tracker::ws::{ClientMessage, IceConfig, TrackerMessage};
use bitfleet_core::tracker::{
    encode_failure, AnnounceRequest, AnnounceResponse, QueryParams, ScrapeRequest, ScrapeResponse,
    ScrapeStats, TrackerError,
};
use bitfleet_core::{InfoHash, Instant};
use serde::{Deserialize, Serialize};

use crate::config::{whole_seconds, TrackerConfig};
use crate::relay::{Delivery, Relay};
use crate::swarm::{ConnectionId, PeerAnnounce, SwarmError, Swarms};

/// Why a request gets a `failure reason` instead of an answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error(transparent)]
    Query(#[from] TrackerError),
    #[error("missing or wrong tracker token")]
    Token,
    #[error("torrent is not tracked here")]
    NotAllowed,
    #[error(transparent)]
    Swarm(#[from] SwarmError),
}

/// The `/stats` document: every swarm with its counts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsReport {
    pub swarms: Vec<SwarmReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SwarmReport {
    /// Hex, as in magnet links.
    pub info_hash: String,
    pub seeds: u32,
    pub leechers: u32,
    pub downloaded: u32,
}

pub struct Tracker {
    config: TrackerConfig,
    state: Mutex<State>,
    /// The epoch of the tracker's [`Instant`]s.
    started: std::time::Instant,
}

/// Swarms and WebSocket connections change together (a closing socket leaves its swarms),
/// so they share one lock.
struct State {
    swarms: Swarms,
    relay: Relay,
}

impl Tracker {
    pub fn new(config: TrackerConfig) -> Self {
        let state = State {
            swarms: Swarms::new(config.swarm_limits(), fastrand::u64(..))
                .with_selection(config.sites.selection),
            relay: Relay::default(),
        };
        Self {
            config,
            state: Mutex::new(state),
            started: std::time::Instant::now(),
        }
    }

    pub fn config(&self) -> &TrackerConfig {
        &self.config
    }

    /// The tracker's clock, as the swarm logic reads it.
    pub fn now(&self) -> Instant {
        Instant::from_epoch(self.started.elapsed())
    }

    /// Answers an announce from `remote` with a bencoded reply, a `failure reason` if refused.
    pub fn announce(&self, query: &str, remote: SocketAddr) -> Vec<u8> {
        match self.try_announce(query, remote) {
            Ok((reply, compact)) => reply.encode(compact),
            Err(refusal) => {
                tracing::debug!(%remote, %refusal, "announce refused");
                encode_failure(&refusal.to_string())
            }
        }
    }

    fn try_announce(
        &self,
        query: &str,
        remote: SocketAddr,
    ) -> Result<(AnnounceResponse, bool), Refusal> {
        let params = self.authorized_params(query)?;
        let request = AnnounceRequest::from_params(&params)?;
        if !self.config.is_allowed(&request.info_hash) {
            return Err(Refusal::NotAllowed);
        }
        let addr = SocketAddr::new(self.listed_ip(&request, remote), request.port);
        let site = self.site_of(addr.ip(), &params)?;
        tracing::debug!(info_hash = %request.info_hash, %addr, ?site, event = ?request.event, "announce");
        let outcome = self.lock_state().swarms.announce(
            PeerAnnounce {
                info_hash: request.info_hash,
                peer_id: request.peer_id,
                addr,
                left: request.left,
                event: request.event,
                numwant: request.numwant,
                key: request.key,
                site,
            },
            self.now(),
        )?;
        let reply = AnnounceResponse {
            interval: whole_seconds(self.config.interval),
            min_interval: Some(whole_seconds(self.config.min_interval)),
            complete: outcome.seeds,
            incomplete: outcome.leechers,
            peers: outcome.peers,
            warning: None,
            tracker_id: None,
        };
        Ok((reply, request.compact))
    }

    /// Answers a scrape with a bencoded reply; torrents outside the allow-list are left out.
    pub fn scrape(&self, query: &str) -> Vec<u8> {
        match self.try_scrape(query) {
            Ok(reply) => reply.encode(),
            Err(refusal) => {
                tracing::debug!(%refusal, "scrape refused");
                encode_failure(&refusal.to_string())
            }
        }
    }

    fn try_scrape(&self, query: &str) -> Result<ScrapeResponse, Refusal> {
        let params = self.authorized_params(query)?;
        let mut requested = ScrapeRequest::from_params(&params)?.info_hashes;
        requested.retain(|hash| self.config.is_allowed(hash));
        let files = self
            .lock_state()
            .swarms
            .scrape(&requested, self.config.max_scrape)
            .into_iter()
            .map(|summary| (summary.info_hash, summary.stats))
            .collect();
        Ok(ScrapeResponse { files })
    }

    /// Every swarm's counts; the token, if configured, is required as for announces.
    pub fn stats(&self, query: &str) -> Result<StatsReport, Refusal> {
        self.authorized_params(query)?;
        let swarms = self
            .lock_state()
            .swarms
            .summaries()
            .map(|summary| SwarmReport {
                info_hash: summary.info_hash.to_hex(),
                seeds: summary.stats.complete,
                leechers: summary.stats.incomplete,
                downloaded: summary.stats.downloaded,
            })
            .collect();
        Ok(StatsReport { swarms })
    }

    /// Current counts of these torrents, in order (zeros for one without peers).
    pub fn swarm_counts(&self, info_hashes: &[InfoHash]) -> Vec<ScrapeStats> {
        self.lock_state()
            .swarms
            .scrape(info_hashes, info_hashes.len())
            .into_iter()
            .map(|summary| summary.stats)
            .collect()
    }

    /// Forgets peers silent for longer than the peer timeout as of `now`; returns how many.
    pub fn sweep(&self, now: Instant) -> usize {
        self.lock_state()
            .swarms
            .expire(now, self.config.peer_timeout())
    }

    /// Registers a new WebSocket connection from a client in `site`.
    pub(crate) fn open_connection(&self, site: Option<SiteId>) -> ConnectionId {
        self.lock_state().relay.open(&self.config, site)
    }

    /// Forgets a closed WebSocket connection: it stops in every swarm it joined.
    pub(crate) fn close_connection(&self, id: ConnectionId) {
        let state = &mut *self.lock_state();
        state.relay.close(id, &mut state.swarms);
    }

    pub fn websocket_connections(&self) -> usize {
        self.lock_state().relay.connection_count()
    }

    /// Acts on one text message from WebSocket connection `from`: the replies, relayed
    /// offers and answers to send, or a `failure reason` for a malformed message.
    pub(crate) fn websocket_message(&self, from: ConnectionId, text: &str) -> Vec<Delivery> {
        match ClientMessage::parse(text) {
            Ok(message) => {
                let now = self.now();
                let state = &mut *self.lock_state();
                state
                    .relay
                    .handle(from, message, &mut state.swarms, &self.config, now)
            }
            Err(failure) => {
                tracing::debug!(connection = from.0, error = %failure.error, "bad websocket message");
                vec![Delivery {
                    to: from,
                    message: TrackerMessage::Failure {
                        action: failure.action,
                        info_hash: failure.info_hash,
                        reason: failure.error.to_string(),
                    },
                }]
            }
        }
    }

    /// Checks a query that needs only the token, when one is configured.
    pub fn authorize(&self, query: &str) -> Result<(), Refusal> {
        self.authorized_params(query).map(drop)
    }

    /// Checks a token given outside a query (a web seed's URL carries it in its path), when
    /// one is configured.
    pub fn authorize_token(&self, given: &[u8]) -> Result<(), Refusal> {
        match &self.config.require_token {
            Some(expected) if !constant_time_eq(given, expected.as_bytes()) => Err(Refusal::Token),
            _ => Ok(()),
        }
    }

    /// Whether clients must show a token.
    pub fn requires_token(&self) -> bool {
        self.config.require_token.is_some()
    }

    /// Checks a WebSocket upgrade's query (the token, when one is configured) and places the
    /// client at `remote` in its site: the connection's peers are ranked by it.
    pub(crate) fn authorize_websocket(
        &self,
        query: &str,
        remote: Option<SocketAddr>,
    ) -> Result<Option<SiteId>, Refusal> {
        let params = self.authorized_params(query)?;
        match remote {
            Some(remote) => self.site_of(remote.ip().to_canonical(), &params),
            None => Ok(None),
        }
    }

    /// The site of a client at `ip`, given the `site` it may report (see
    /// [`crate::config::SiteConfig::trust_reported`]).
    fn site_of(&self, ip: IpAddr, params: &QueryParams) -> Result<Option<SiteId>, Refusal> {
        let reported = params.text("site")?;
        Ok(self.config.sites.site_of(ip, reported.as_deref()))
    }

    /// The STUN/TURN servers WebRTC peers should use.
    pub fn ice_config(&self) -> IceConfig {
        IceConfig {
            ice_servers: self.config.ice_servers.clone(),
        }
    }

    /// Sweeps every half interval until the tracker is dropped (or the task aborted).
    pub fn spawn_sweeper(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let tracker = Arc::downgrade(self);
        // `tokio::time::interval` refuses a zero period.
        let every = self.config.sweep_every().max(Duration::from_millis(1));
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                ticks.tick().await;
                let Some(tracker) = tracker.upgrade() else {
                    break;
                };
                let dropped = tracker.sweep(tracker.now());
                if dropped > 0 {
                    tracing::info!(dropped, "forgot silent peers");
                }
            }
        })
    }

    fn authorized_params(&self, query: &str) -> Result<QueryParams, Refusal> {
        let params = QueryParams::parse(query)?;
        if self.requires_token() {
            self.authorize_token(params.get("token")?.unwrap_or_default())?;
        }
        Ok(params)
    }

    /// The connection's source address, or the `ip` parameter when the configuration trusts
    /// clients with it and it is an IP literal. IPv4-mapped addresses (from a dual-stack
    /// listener) are listed as IPv4.
    fn listed_ip(&self, request: &AnnounceRequest, remote: SocketAddr) -> IpAddr {
        let claimed = request
            .ip
            .as_deref()
            .filter(|_| self.config.accept_ip_param)
            .and_then(|ip| ip.parse::<IpAddr>().ok());
        claimed.unwrap_or(remote.ip()).to_canonical()
    }

    fn lock_state(&self) -> MutexGuard<'_, State> {
        // Swarm and relay updates leave the maps consistent at every step, so a panic
        // elsewhere while holding the lock does not make the data unusable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Compares without stopping at the first difference, so response timing does not reveal how
/// much of a guessed token was right.
fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |diff, (a, b)| diff | (a ^ b))
            == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secreT", b"secret"));
        assert!(!constant_time_eq(b"secret!", b"secret"));
        assert!(!constant_time_eq(b"", b"secret"));
    }
}
