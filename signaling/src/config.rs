//! What an operator can tune about the tracker.

use std::collections::HashSet;
use std::time::Duration;

use std::net::IpAddr;

use bitfleet_core::sites::{SelectionPolicy, SiteId, SiteMap};
use bitfleet_core::tracker::ws::IceServer;
use bitfleet_core::InfoHash;

use crate::swarm::SwarmLimits;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackerConfig {
    /// How often clients should re-announce. A peer silent for twice this long is forgotten,
    /// and the sweep that forgets runs every half interval.
    pub interval: Duration,
    /// The shortest re-announce interval clients are asked to respect.
    pub min_interval: Duration,
    /// When set, announce, scrape and stats URLs must carry `token=<this>`; clients are given
    /// the announce URL `http://host:port/announce?token=<this>`.
    pub require_token: Option<String>,
    /// When set, only these torrents are tracked.
    pub allowed_info_hashes: Option<HashSet<InfoHash>>,
    /// Honour the BEP 3 `ip` parameter (a valid IP literal) instead of the connection's source
    /// address. Off by default: it lets anyone list any address.
    pub accept_ip_param: bool,
    pub max_swarms: usize,
    pub max_peers_per_swarm: usize,
    /// Peers returned when the client does not send `numwant`, and the most it can get.
    pub default_numwant: u32,
    pub max_numwant: u32,
    /// The most torrents one scrape reply lists.
    pub max_scrape: usize,
    pub websocket: WebSocketLimits,
    /// STUN and TURN servers handed to pages and natives at `GET /ice`, so WebRTC peers behind
    /// NATs can reach each other. Empty by default: the operator chooses the servers.
    pub ice_servers: Vec<IceServer>,
    /// Offices and how announce replies favour them.
    pub sites: SiteConfig,
}

/// Sites (offices) and the peer-selection policy over them; see `bitfleet_core::sites` for
/// the policy itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SiteConfig {
    pub map: SiteMap,
    pub selection: SelectionPolicy,
    /// Honour the site name a client reports (`site=` on the announce or WebSocket URL) when
    /// its address is in no site's range — a laptop behind a NAT whose public address the
    /// operator cannot list. Off by default: a client could otherwise claim any office and be
    /// handed out to its members first. An address inside a range always decides: nobody can
    /// report their way out of the office they are in.
    pub trust_reported: bool,
}

impl Default for SiteConfig {
    fn default() -> Self {
        Self {
            map: SiteMap::new(),
            selection: SelectionPolicy::DEFAULT,
            trust_reported: false,
        }
    }
}

impl SiteConfig {
    /// The site of a client at `ip` that reported `reported` (see `trust_reported`).
    pub fn site_of(&self, ip: IpAddr, reported: Option<&str>) -> Option<SiteId> {
        self.map.site_of(ip).or_else(|| {
            reported
                .filter(|_| self.trust_reported)
                .and_then(|name| self.map.id(name))
        })
    }
}

/// Bounds on the WebSocket (WebTorrent) side, per connection unless said otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebSocketLimits {
    /// Open WebSocket connections across the server; more are refused with 503.
    pub max_connections: usize,
    /// A bigger message closes the connection. Ten offers with full SDP fit easily.
    pub max_message_size: usize,
    /// Offers relayed from one announce; extra ones are ignored (WebTorrent sends 5).
    pub max_offers_per_announce: usize,
    /// A connection silent for this long is closed (its peers then stop). WebTorrent clients
    /// re-announce every `interval`, so this must be longer than that.
    pub idle_timeout: Duration,
    /// Messages waiting to be written to one connection; a client that lets more pile up is
    /// disconnected rather than buffered without bound.
    pub outbox_capacity: usize,
    /// How long an offer forwarded to a connection may be answered (WebTorrent's offer
    /// timeout is 50 s).
    pub offer_ttl: Duration,
    /// Offers awaiting an answer remembered for one connection; the oldest give way.
    pub max_pending_offers: usize,
    /// Peer ids one connection may announce with (WebTorrent shares a socket between the
    /// clients of a page).
    pub max_peer_ids: usize,
    /// Torrents one connection may be in at once.
    pub max_swarms: usize,
}

impl Default for WebSocketLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_message_size: 64 * 1024,
            max_offers_per_announce: 10,
            idle_timeout: Duration::from_secs(660),
            outbox_capacity: 64,
            offer_ttl: Duration::from_secs(50),
            max_pending_offers: 256,
            max_peer_ids: 4,
            max_swarms: 256,
        }
    }
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            min_interval: Duration::from_secs(60),
            require_token: None,
            allowed_info_hashes: None,
            accept_ip_param: false,
            max_swarms: 10_000,
            max_peers_per_swarm: 5_000,
            default_numwant: 50,
            max_numwant: 200,
            max_scrape: 1_000,
            websocket: WebSocketLimits::default(),
            ice_servers: Vec::new(),
            sites: SiteConfig::default(),
        }
    }
}

impl TrackerConfig {
    pub fn peer_timeout(&self) -> Duration {
        self.interval.saturating_mul(2)
    }

    pub fn sweep_every(&self) -> Duration {
        self.interval / 2
    }

    pub(crate) fn swarm_limits(&self) -> SwarmLimits {
        SwarmLimits {
            max_swarms: self.max_swarms,
            max_peers_per_swarm: self.max_peers_per_swarm,
            default_numwant: self.default_numwant,
            max_numwant: self.max_numwant,
        }
    }

    pub(crate) fn is_allowed(&self, info_hash: &InfoHash) -> bool {
        self.allowed_info_hashes
            .as_ref()
            .is_none_or(|allowed| allowed.contains(info_hash))
    }
}

/// Whole seconds as told to clients: rounded up, at least one (a sub-second interval, as tests
/// use, must not read as "announce continuously").
pub(crate) fn whole_seconds(duration: Duration) -> u32 {
    let rounded_up = duration
        .as_secs()
        .saturating_add(u64::from(duration.subsec_nanos() > 0));
    u32::try_from(rounded_up.max(1)).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1500)), 2);
        assert_eq!(whole_seconds(Duration::from_secs(300)), 300);
        assert_eq!(whole_seconds(Duration::MAX), u32::MAX);
    }

    #[test]
    fn a_reported_site_counts_only_when_trusted_and_the_address_is_in_no_site() {
        let mut sites = SiteConfig::default();
        let paris = sites.map.add("paris", &["10.1.0.0/16"]).unwrap();
        let lyon = sites.map.add("lyon", &["10.2.0.0/16"]).unwrap();
        let home: IpAddr = "203.0.113.9".parse().unwrap();
        let office: IpAddr = "10.1.4.4".parse().unwrap();
        assert_eq!(sites.site_of(home, Some("lyon")), None, "not trusted");
        sites.trust_reported = true;
        assert_eq!(sites.site_of(home, Some("lyon")), Some(lyon));
        assert_eq!(sites.site_of(home, Some("nowhere")), None);
        assert_eq!(sites.site_of(office, Some("lyon")), Some(paris));
        assert_eq!(sites.site_of(office, None), Some(paris));
    }
}
