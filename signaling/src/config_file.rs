//! The tracker's TOML configuration file (`--config FILE`): every option of
//! [`TrackerConfig`] an operator sets, sites (offices) included. Anything left out keeps its
//! default; command-line flags override the file.
//!
//! ```toml
//! interval = 300                # seconds between announces
//! min_interval = 60
//! token = "s3cret"              # announce URLs then carry ?token=s3cret
//! allow_info_hashes = ["0123456789abcdef0123456789abcdef01234567"]
//! accept_ip_param = false
//! max_swarms = 10000
//! max_peers_per_swarm = 5000
//! default_numwant = 50
//! max_numwant = 200
//! max_websockets = 10000
//!
//! [[ice_servers]]
//! urls = "turn:turn.example.org:3478"
//! username = "bitfleet"
//! credential = "pw"
//!
//! [selection]                   # how announce replies favour sites
//! by_site = true                # false: a plain random subset, as a stock tracker
//! max_off_site = 4              # most peers from outside the announcer's site
//! trust_reported_site = false   # honour `site=NAME` from addresses in no range
//!
//! [[site]]
//! name = "paris"
//! ranges = ["10.1.0.0/16", "fd00:1::/48"]
//! ```

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bitfleet_core::sites::SiteError;
use bitfleet_core::tracker::ws::IceServer;
use bitfleet_core::InfoHash;
use serde::Deserialize;

use crate::config::TrackerConfig;

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Syntax {
        path: PathBuf,
        source: Box<toml::de::Error>,
    },
    #[error("bad info-hash {0:?} in allow_info_hashes (expected 40 hex digits)")]
    InfoHash(String),
    #[error("site {name:?}: {source}")]
    Site { name: String, source: SiteError },
    #[error("{0} must be at least 1")]
    Zero(&'static str),
}

/// The file as written; `None` is "not set, keep the default".
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    interval: Option<u64>,
    min_interval: Option<u64>,
    token: Option<String>,
    allow_info_hashes: Option<Vec<String>>,
    accept_ip_param: Option<bool>,
    max_swarms: Option<usize>,
    max_peers_per_swarm: Option<usize>,
    default_numwant: Option<u32>,
    max_numwant: Option<u32>,
    max_websockets: Option<usize>,
    #[serde(default)]
    ice_servers: Vec<IceServerEntry>,
    #[serde(default)]
    selection: SelectionEntry,
    #[serde(default)]
    site: Vec<SiteEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct IceServerEntry {
    urls: String,
    username: Option<String>,
    credential: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SelectionEntry {
    by_site: Option<bool>,
    max_off_site: Option<usize>,
    trust_reported_site: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SiteEntry {
    name: String,
    ranges: Vec<String>,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<Self, ConfigFileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigFileError::Read {
            path: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|source| ConfigFileError::Syntax {
            path: path.to_owned(),
            source: Box::new(source),
        })
    }

    /// The file's settings on top of `base`.
    pub fn apply(self, base: TrackerConfig) -> Result<TrackerConfig, ConfigFileError> {
        let mut config = base;
        if let Some(secs) = self.interval {
            config.interval = Duration::from_secs(nonzero(secs, "interval")?);
        }
        if let Some(secs) = self.min_interval {
            config.min_interval = Duration::from_secs(secs);
        }
        if self.token.is_some() {
            config.require_token = self.token;
        }
        if let Some(hashes) = self.allow_info_hashes {
            let parsed = hashes
                .into_iter()
                .map(|hex| InfoHash::from_hex(&hex).map_err(|_| ConfigFileError::InfoHash(hex)))
                .collect::<Result<HashSet<_>, _>>()?;
            config.allowed_info_hashes = Some(parsed);
        }
        set(&mut config.accept_ip_param, self.accept_ip_param);
        set(&mut config.max_swarms, self.max_swarms);
        set(&mut config.max_peers_per_swarm, self.max_peers_per_swarm);
        set(&mut config.default_numwant, self.default_numwant);
        set(&mut config.max_numwant, self.max_numwant);
        set(&mut config.websocket.max_connections, self.max_websockets);
        config
            .ice_servers
            .extend(self.ice_servers.into_iter().map(|entry| IceServer {
                urls: entry.urls,
                username: entry.username,
                credential: entry.credential,
            }));
        let sites = &mut config.sites;
        set(&mut sites.selection.by_site, self.selection.by_site);
        if let Some(cap) = self.selection.max_off_site {
            sites.selection.max_off_site = Some(cap);
        }
        set(
            &mut sites.trust_reported,
            self.selection.trust_reported_site,
        );
        for site in self.site {
            sites
                .map
                .add(&site.name, &site.ranges)
                .map_err(|source| ConfigFileError::Site {
                    name: site.name.clone(),
                    source,
                })?;
        }
        Ok(config)
    }
}

fn set<T>(field: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *field = value;
    }
}

fn nonzero(value: u64, what: &'static str) -> Result<u64, ConfigFileError> {
    if value == 0 {
        Err(ConfigFileError::Zero(what))
    } else {
        Ok(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrackerConfig, ConfigFileError> {
        let file: ConfigFile = toml::from_str(text).map_err(|source| ConfigFileError::Syntax {
            path: PathBuf::from("test.toml"),
            source: Box::new(source),
        })?;
        file.apply(TrackerConfig::default())
    }

    #[test]
    fn every_documented_option_is_read() {
        // The module docs' example, verbatim.
        let example: String = include_str!("config_file.rs")
            .lines()
            .skip_while(|line| !line.starts_with("//! ```toml"))
            .skip(1)
            .take_while(|line| !line.starts_with("//! ```"))
            .map(|line| line.trim_start_matches("//!").trim_start())
            .collect::<Vec<_>>()
            .join("\n");
        let config = parse(&example).unwrap();
        assert_eq!(config.interval, Duration::from_secs(300));
        assert_eq!(config.require_token.as_deref(), Some("s3cret"));
        assert_eq!(config.allowed_info_hashes.map(|set| set.len()), Some(1));
        assert_eq!(config.ice_servers.len(), 1);
        assert_eq!(config.ice_servers[0].username.as_deref(), Some("bitfleet"));
        assert_eq!(config.websocket.max_connections, 10_000);
        assert!(config.sites.selection.by_site);
        assert_eq!(config.sites.selection.max_off_site, Some(4));
        let paris = config.sites.map.id("paris").unwrap();
        assert_eq!(
            config.sites.site_of("10.1.2.3".parse().unwrap(), None),
            Some(paris)
        );
    }

    #[test]
    fn unset_options_keep_their_defaults() {
        let config = parse("").unwrap();
        assert_eq!(config, TrackerConfig::default());
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text| parse(text).unwrap_err().to_string();
        assert!(err("intervall = 5").contains("unknown field"));
        assert!(err("interval = 0").contains("interval must be at least 1"));
        assert!(err("interval = -3").contains("test.toml"));
        assert!(err("allow_info_hashes = [\"abc\"]").contains("\"abc\""));
        let bad_range = "[[site]]\nname = \"paris\"\nranges = [\"10.1.0.0/33\"]";
        assert!(err(bad_range).contains("site \"paris\""));
        let twice = "[[site]]\nname = \"a\"\nranges = []\n[[site]]\nname = \"a\"\nranges = []";
        assert!(err(twice).contains("defined twice"));
    }
}
