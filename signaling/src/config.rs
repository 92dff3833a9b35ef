//! What an operator can tune about the tracker.

use std::collections::HashSet;
use std::time::Duration;

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
}
