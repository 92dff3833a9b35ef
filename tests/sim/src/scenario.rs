//! Scenario files (TOML) and their expansion into a concrete layout: which hosts exist, in
//! which site, with which capacities, joining and leaving when.
//!
//! ```toml
//! name = "office"
//! payload = "2 GB"
//! [sim]            # step = "200ms", time_limit = "100h", piece_order = "rarest-first"
//! [tracker]        # interval = "300s", numwant = 50, sites = true, max_off_site = 4
//! [field]          # latency = "20ms": one-way latency of hosts in no site
//! [[sites]]        # name, count (office-01…), wan, lan, wan_latency, lan_latency
//! [[peers]]        # name, count, site, per_site = [5, 10], up, down, seed, join_after,
//!                  # join_when_site_seeds, leave_at, away, counted
//! ```
//! See `tests/sim/scenarios/` for complete examples and `docs/simulation.md` for every key.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use anyhow::{bail, ensure, Context};
use bitfleet_core::engine::PieceOrder;
use bitfleet_core::metainfo::piece_length_for;
use bitfleet_core::sites::SelectionPolicy;
use bitfleet_core::wire::BLOCK_SIZE;
use serde::Deserialize;

use crate::units::{parse_duration, parse_rate, parse_size};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub payload: String,
    #[serde(default)]
    pub seed: u64,
    #[serde(default)]
    pub sim: SimSettings,
    #[serde(default)]
    pub tracker: TrackerSettings,
    #[serde(default)]
    pub field: FieldSettings,
    #[serde(default)]
    pub sites: Vec<SiteGroup>,
    pub peers: Vec<PeerGroup>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SimSettings {
    /// Bandwidth is shared out afresh every step.
    pub step: String,
    /// Virtual time after which the run gives up.
    pub time_limit: String,
    /// "rarest-first" or "sequential".
    pub piece_order: String,
}

impl Default for SimSettings {
    fn default() -> Self {
        Self {
            step: "200ms".into(),
            time_limit: "100h".into(),
            piece_order: "rarest-first".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerSettings {
    pub interval: String,
    pub numwant: usize,
    pub sites: bool,
    /// Absent: no cap on off-site peers.
    pub max_off_site: Option<usize>,
}

impl Default for TrackerSettings {
    fn default() -> Self {
        Self {
            interval: "300s".into(),
            numwant: 50,
            sites: true,
            max_off_site: None,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FieldSettings {
    pub latency: String,
}

impl Default for FieldSettings {
    fn default() -> Self {
        Self {
            latency: "20ms".into(),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SiteGroup {
    pub name: String,
    /// More than one: sites `name-01`, `name-02`, …
    #[serde(default = "one")]
    pub count: usize,
    /// WAN link capacity, each direction.
    pub wan: String,
    #[serde(default = "gigabit")]
    pub lan: String,
    #[serde(default = "wan_latency")]
    pub wan_latency: String,
    #[serde(default = "lan_latency")]
    pub lan_latency: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerGroup {
    pub name: String,
    #[serde(default = "one")]
    pub count: usize,
    /// A site, or a site group: spread over it with `per_site`, else in its largest site.
    /// Absent: each peer alone in the field.
    pub site: Option<String>,
    /// `[min, max]` peers in each site of the group (drawn at random); the rest go to the field.
    pub per_site: Option<[usize; 2]>,
    pub up: String,
    pub down: String,
    /// The client's own upload cap (`--up-limit`), as an admin sets it on a server.
    pub up_limit: Option<String>,
    /// Connections the client keeps at most (`serve --max-peers`); default the engine's.
    pub max_peers: Option<usize>,
    #[serde(default)]
    pub seed: bool,
    pub join_after: Option<String>,
    pub join_when_site_seeds: Option<usize>,
    /// Fraction of pieces at which the peer drops off the network…
    pub leave_at: Option<f64>,
    /// …for this long, then comes back with another address, in the field.
    pub away: Option<String>,
    /// Counted in "time for every peer to finish" and in the lower bound. Default: leechers
    /// that start at once.
    pub counted: Option<bool>,
}

fn one() -> usize {
    1
}
fn gigabit() -> String {
    "1 Gbit/s".into()
}
fn wan_latency() -> String {
    "10ms".into()
}
fn lan_latency() -> String {
    "0.2ms".into()
}

impl Scenario {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        Ok(toml::from_str(text)?)
    }
}

/// A site as simulated: capacities in bytes/s (already scaled).
#[derive(Debug, Clone)]
pub struct SiteSpec {
    pub name: String,
    pub cidr: String,
    pub wan: f64,
    pub lan: f64,
    pub wan_latency: Duration,
    pub lan_latency: Duration,
    /// Offices (groups of more than one site) are what the WAN report is about.
    pub group: String,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum JoinRule {
    At(Duration),
    /// When this many peers of its own site are complete.
    SiteSeeds(usize),
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Roam {
    pub leave_at: f64,
    pub away: Duration,
}

#[derive(Debug, Clone)]
pub struct HostSpec {
    pub name: String,
    pub site: Option<usize>,
    pub up: f64,
    pub down: f64,
    pub up_limit: Option<f64>,
    pub max_peers: Option<usize>,
    pub seed: bool,
    pub join: JoinRule,
    pub roam: Option<Roam>,
    pub counted: bool,
}

/// Everything a run needs, scaled.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    pub scale: f64,
    pub payload: u64,
    /// What `bitfleet-core` chooses for a payload of this (scaled) size.
    pub piece_length: u32,
    pub piece_count: u32,
    pub step: Duration,
    pub time_limit: Duration,
    pub piece_order: PieceOrder,
    pub announce_interval: Duration,
    pub numwant: usize,
    pub policy: SelectionPolicy,
    pub field_latency: Duration,
    pub sites: Vec<SiteSpec>,
    pub hosts: Vec<HostSpec>,
}

impl Layout {
    /// Expands the scenario. `scale` multiplies the payload and every capacity, so transfer
    /// times stay those of the full-size run; the piece length is what the real torrent
    /// creator picks for the scaled payload (see `docs/simulation.md` on why that is honest).
    /// `seed` draws office sizes.
    pub fn new(s: &Scenario, scale: f64, seed: u64) -> anyhow::Result<Self> {
        ensure!(scale > 0.0 && scale <= 1.0, "scale must be in (0, 1]");
        let full = parse_size(&s.payload)?;
        ensure!(full >= 1.0, "payload must not be empty");
        let payload = (full * scale).round().max(1.0) as u64;
        let piece_length = piece_length_for(payload);
        let piece_count = pieces_of(payload, piece_length);

        let piece_order = match s.sim.piece_order.as_str() {
            "rarest-first" => PieceOrder::RarestFirst,
            "sequential" => PieceOrder::Sequential,
            other => bail!("unknown piece_order {other:?} (rarest-first, sequential)"),
        };
        let mut layout = Layout {
            name: s.name.clone(),
            scale,
            payload,
            piece_length,
            piece_count,
            step: parse_duration(&s.sim.step)?,
            time_limit: parse_duration(&s.sim.time_limit)?,
            piece_order,
            announce_interval: parse_duration(&s.tracker.interval)?,
            numwant: s.tracker.numwant,
            policy: SelectionPolicy {
                by_site: s.tracker.sites,
                max_off_site: s.tracker.max_off_site,
            },
            field_latency: parse_duration(&s.field.latency)?,
            sites: Vec::new(),
            hosts: Vec::new(),
        };
        ensure!(layout.step > Duration::ZERO, "sim.step must be positive");

        let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for g in &s.sites {
            ensure!(!groups.contains_key(&g.name), "site {:?} twice", g.name);
            let mut members = Vec::new();
            for i in 0..g.count {
                let index = layout.sites.len();
                ensure!(index < 250, "at most 250 sites");
                let name = if g.count == 1 {
                    g.name.clone()
                } else {
                    format!("{}-{:02}", g.name, i + 1)
                };
                layout.sites.push(SiteSpec {
                    name: name.clone(),
                    cidr: format!("10.{}.0.0/16", index + 1),
                    wan: parse_rate(&g.wan)? * scale,
                    lan: parse_rate(&g.lan)? * scale,
                    wan_latency: parse_duration(&g.wan_latency)?,
                    lan_latency: parse_duration(&g.lan_latency)?,
                    group: g.name.clone(),
                });
                groups.insert(name, vec![index]);
                members.push(index);
            }
            groups.insert(g.name.clone(), members);
        }

        let mut rng = fastrand::Rng::with_seed(seed ^ 0x51735);
        for g in &s.peers {
            layout.add_group(g, &groups, scale, &mut rng)?;
        }
        ensure!(!layout.hosts.is_empty(), "no peers");
        ensure!(layout.hosts.iter().any(|h| h.seed), "nobody seeds");
        Ok(layout)
    }

    /// Gives the scaled payload the full-size run's piece count: the full size's piece length
    /// times the scale, in whole blocks. At 1/32 that is exactly the full-size torrent's 2981
    /// pieces, each 1/32 as long (see `docs/simulation.md`, "Scaling").
    pub fn keep_full_size_piece_count(&mut self) {
        let full = (self.payload as f64 / self.scale).round() as u64;
        let scaled = f64::from(piece_length_for(full)) * self.scale;
        let blocks = (scaled / f64::from(BLOCK_SIZE)).round().max(1.0) as u32;
        self.piece_length = blocks * BLOCK_SIZE;
        self.piece_count = pieces_of(self.payload, self.piece_length);
    }

    fn add_group(
        &mut self,
        g: &PeerGroup,
        groups: &BTreeMap<String, Vec<usize>>,
        scale: f64,
        rng: &mut fastrand::Rng,
    ) -> anyhow::Result<()> {
        let join = match (&g.join_after, g.join_when_site_seeds) {
            (None, None) => JoinRule::At(Duration::ZERO),
            (Some(t), None) => JoinRule::At(parse_duration(t)?),
            (None, Some(n)) => JoinRule::SiteSeeds(n),
            (Some(_), Some(_)) => bail!("peers {:?}: join_after or join_when_site_seeds", g.name),
        };
        let roam = match (g.leave_at, &g.away) {
            (None, None) => None,
            (Some(at), Some(away)) if (0.0..1.0).contains(&at) => Some(Roam {
                leave_at: at,
                away: parse_duration(away)?,
            }),
            _ => bail!("peers {:?}: leave_at (0..1) needs away", g.name),
        };
        let template = HostSpec {
            name: g.name.clone(),
            site: None,
            up: parse_rate(&g.up)? * scale,
            down: parse_rate(&g.down)? * scale,
            up_limit: g
                .up_limit
                .as_deref()
                .map(|r| parse_rate(r).map(|r| r * scale))
                .transpose()?,
            max_peers: g.max_peers,
            seed: g.seed,
            join,
            roam,
            counted: g
                .counted
                .unwrap_or(!g.seed && join == JoinRule::At(Duration::ZERO)),
        };
        ensure!(
            template.up > 0.0 && template.down > 0.0,
            "peers {:?}: zero capacity",
            g.name
        );
        let mut sites: Vec<Option<usize>> = Vec::with_capacity(g.count);
        match (&g.site, g.per_site) {
            (None, _) => sites.resize(g.count, None),
            (Some(name), per_site) => {
                let members = groups
                    .get(name)
                    .with_context(|| format!("peers {:?}: no site {name:?}", g.name))?;
                match per_site {
                    Some([lo, hi]) => {
                        ensure!(lo <= hi, "peers {:?}: per_site [min, max]", g.name);
                        for &site in members {
                            let n = rng.usize(lo..=hi);
                            let room = g.count - sites.len();
                            sites.extend(std::iter::repeat_n(Some(site), n.min(room)));
                        }
                        sites.resize(g.count, None);
                    }
                    None => {
                        let size =
                            |s: usize| self.hosts.iter().filter(|h| h.site == Some(s)).count();
                        let largest = members
                            .iter()
                            .copied()
                            .max_by_key(|&s| (size(s), std::cmp::Reverse(s)));
                        sites.resize(g.count, largest);
                    }
                }
            }
        }
        for (i, site) in sites.into_iter().enumerate() {
            let name = if g.count == 1 {
                g.name.clone()
            } else {
                format!("{}-{:03}", g.name, i + 1)
            };
            self.hosts.push(HostSpec {
                name,
                site,
                ..template.clone()
            });
        }
        Ok(())
    }
}

/// Pieces of `piece_length` a payload of `payload` bytes makes (the last may be short).
fn pieces_of(payload: u64, piece_length: u32) -> u32 {
    payload.div_ceil(u64::from(piece_length)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_size_piece_count_is_the_real_torrents_at_power_of_two_scales() {
        let company = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/company.toml");
        let scenario = Scenario::load(&company).unwrap();
        let full = Layout::new(&scenario, 1.0, 1).unwrap();
        assert_eq!((full.piece_count, full.piece_length), (2981, 16 << 20));
        for (scale, length) in [(1.0 / 32.0, 512 << 10), (1.0 / 64.0, 256 << 10)] {
            let mut layout = Layout::new(&scenario, scale, 1).unwrap();
            assert_eq!(
                layout.piece_count, 1491,
                "the creator's pick for the scaled payload"
            );
            layout.keep_full_size_piece_count();
            assert_eq!((layout.piece_count, layout.piece_length), (2981, length));
        }
    }
}
