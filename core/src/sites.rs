//! Sites: named groups of address ranges (an office, a data centre) whose members share a fast
//! LAN and reach everyone else through a slower WAN link — and the tracker's peer-selection
//! policy that keeps traffic inside them.
//!
//! The tracker server and the simulator both use [`select_peers`], so what the simulator
//! measures is what the tracker does.
//!
//! # The policy
//!
//! An announce reply holds up to `numwant` peers, chosen from the swarm by class, best class
//! first, in random order within a class (from an injected RNG, so runs are reproducible):
//!
//! 1. peers of the requester's own site — seeds first, then leechers;
//! 2. peers of other sites — seeds first, then leechers;
//! 3. the rest (addresses in no site, e.g. laptops at home) — seeds first, then leechers.
//!
//! A requester in no site gets every seed first (those in no site, then those in sites),
//! then the leechers in no site, then the leechers in sites. Peers outside any site are each
//! other's natural partners: a site member spends its upload mostly on colleagues and takes
//! from outside only its share of what its site lacks (see the engine's locality), so it has
//! little reason to trade with a laptop in the field, and a field laptop connected only to
//! site members ends up with nothing to give and nobody unchoking it.
//!
//! A seed is never sent seeds (it has nothing to get from them); the requester never gets
//! itself. Clients dial addresses in the order received, so the order matters even when the
//! whole swarm fits in `numwant`.
//!
//! Knobs ([`SelectionPolicy`]):
//! - `by_site`: with it off the reply is a plain random subset of the swarm (what a stock
//!   tracker does); the site classes above are ignored.
//! - `max_off_site`: a requester that belongs to a site gets at most this many peers from
//!   outside it, however many `numwant` allows (biased neighbour selection, Bindal et al.
//!   2006). A few off-site neighbours are enough to bring each piece into the site; every
//!   further one mostly duplicates WAN traffic. `None` removes the cap. Requesters in no site
//!   are never capped.

use std::net::{IpAddr, SocketAddr};

use ipnet::IpNet;

/// Index of a site in its [`SiteMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SiteId(pub u32);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SiteError {
    #[error("bad address range {0:?} (expected CIDR like 10.1.0.0/16)")]
    BadRange(String),
    #[error("site {0:?} is defined twice")]
    DuplicateName(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Site {
    name: String,
    ranges: Vec<IpNet>,
}

/// Named sites with their address ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SiteMap {
    sites: Vec<Site>,
}

impl SiteMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a site covering `ranges` (CIDR strings).
    pub fn add<S: AsRef<str>>(&mut self, name: &str, ranges: &[S]) -> Result<SiteId, SiteError> {
        if self.sites.iter().any(|s| s.name == name) {
            return Err(SiteError::DuplicateName(name.to_owned()));
        }
        let ranges = ranges
            .iter()
            .map(|r| {
                let r = r.as_ref().trim();
                r.parse::<IpNet>()
                    .map(|net| net.trunc())
                    .map_err(|_| SiteError::BadRange(r.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id = SiteId(self.sites.len() as u32);
        self.sites.push(Site {
            name: name.to_owned(),
            ranges,
        });
        Ok(id)
    }

    /// The site whose range holds `ip`; the most specific range wins when ranges nest (a
    /// branch office carved out of a company-wide block).
    pub fn site_of(&self, ip: IpAddr) -> Option<SiteId> {
        let ip = canonical(ip);
        self.sites
            .iter()
            .enumerate()
            .flat_map(|(i, site)| site.ranges.iter().map(move |net| (i, net)))
            .filter(|(_, net)| net.contains(&ip))
            .max_by_key(|(i, net)| (net.prefix_len(), std::cmp::Reverse(*i)))
            .map(|(i, _)| SiteId(i as u32))
    }

    pub fn name(&self, id: SiteId) -> Option<&str> {
        self.sites.get(id.0 as usize).map(|s| s.name.as_str())
    }

    pub fn id(&self, name: &str) -> Option<SiteId> {
        self.sites
            .iter()
            .position(|s| s.name == name)
            .map(|i| SiteId(i as u32))
    }

    pub fn len(&self) -> usize {
        self.sites.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sites.is_empty()
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`, what dual-stack sockets report) are
/// matched as the IPv4 address they carry.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// A peer as the tracker knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SwarmPeer {
    pub addr: SocketAddr,
    pub site: Option<SiteId>,
    /// It announced `left = 0`.
    pub seed: bool,
}

/// The knobs of [`select_peers`]; see the module docs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SelectionPolicy {
    pub by_site: bool,
    pub max_off_site: Option<usize>,
}

impl SelectionPolicy {
    /// A stock tracker: a random subset.
    pub const OFF: Self = Self {
        by_site: false,
        max_off_site: None,
    };
    /// Site-aware with a small off-site quota.
    pub const DEFAULT: Self = Self {
        by_site: true,
        max_off_site: Some(4),
    };
}

impl Default for SelectionPolicy {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// The peers for an announce reply to `requester`, best first (see the module docs).
pub fn select_peers(
    policy: &SelectionPolicy,
    requester: &SwarmPeer,
    swarm: &[SwarmPeer],
    numwant: usize,
    rng: &mut fastrand::Rng,
) -> Vec<SocketAddr> {
    let eligible = swarm
        .iter()
        .filter(|p| p.addr != requester.addr && !(requester.seed && p.seed))
        .map(|p| Candidate {
            item: p.addr,
            site: p.site,
            seed: p.seed,
        });
    rank(policy, requester.site, eligible, numwant, rng)
}

/// Someone [`rank`] may choose: what the caller knows it by (an address, a peer id with its
/// connection), its site, and whether it seeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate<T> {
    pub item: T,
    pub site: Option<SiteId>,
    pub seed: bool,
}

/// Up to `numwant` of `candidates` for a requester at `requester_site`, best class first (see
/// the module docs). The caller has already left out the requester, and seeds for a seed.
pub fn rank<T>(
    policy: &SelectionPolicy,
    requester_site: Option<SiteId>,
    candidates: impl IntoIterator<Item = Candidate<T>>,
    numwant: usize,
    rng: &mut fastrand::Rng,
) -> Vec<T> {
    if !policy.by_site {
        let mut all: Vec<T> = candidates.into_iter().map(|c| c.item).collect();
        partial_shuffle(&mut all, numwant, rng);
        all.truncate(numwant);
        return all;
    }

    // Classes, best first. A site member: (same site, other site, no site) × (seed,
    // leecher). A requester in no site: seeds (in no site, then in a site), then leechers
    // in no site, then leechers in a site; classes 4 and 5 stay empty.
    let mut classes: [Vec<T>; 6] = Default::default();
    for candidate in candidates {
        let leecher = usize::from(!candidate.seed);
        let class = match (requester_site, candidate.site) {
            (Some(mine), Some(theirs)) if mine == theirs => leecher,
            (Some(_), Some(_)) => 2 + leecher,
            (Some(_), None) => 4 + leecher,
            (None, theirs) => 2 * leecher + usize::from(theirs.is_some()),
        };
        classes[class].push(candidate.item);
    }
    let off_site_cap = match requester_site {
        Some(_) => policy.max_off_site.unwrap_or(usize::MAX),
        None => usize::MAX,
    };
    let mut chosen = Vec::with_capacity(numwant.min(classes.iter().map(Vec::len).sum()));
    let mut off_site = 0usize;
    for (class, mut members) in classes.into_iter().enumerate() {
        let room = numwant - chosen.len();
        let room = if class >= 2 {
            room.min(off_site_cap.saturating_sub(off_site))
        } else {
            room
        };
        partial_shuffle(&mut members, room, rng);
        let taken = room.min(members.len());
        if class >= 2 {
            off_site += taken;
        }
        members.truncate(taken);
        chosen.append(&mut members);
        if chosen.len() == numwant {
            break;
        }
    }
    chosen
}

/// Puts a uniform random choice of `k` elements, in random order, at the front of `items`.
fn partial_shuffle<T>(items: &mut [T], k: usize, rng: &mut fastrand::Rng) {
    let n = items.len();
    for i in 0..k.min(n) {
        let j = rng.usize(i..n);
        items.swap(i, j);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    fn map() -> SiteMap {
        let mut m = SiteMap::new();
        m.add("paris", &["10.1.0.0/16"]).unwrap();
        m.add("lyon", &["10.2.0.0/16", "fd00:2::/32"]).unwrap();
        m.add("lyon-lab", &["10.2.7.0/24"]).unwrap();
        m
    }

    fn peer(m: &SiteMap, ip: &str, seed: bool) -> SwarmPeer {
        let ip: IpAddr = ip.parse().unwrap();
        SwarmPeer {
            addr: SocketAddr::new(ip, 6881),
            site: m.site_of(ip),
            seed,
        }
    }

    #[test]
    fn site_of_matches_ranges_most_specific_first() {
        let m = map();
        let at = |ip: &str| m.site_of(ip.parse().unwrap()).and_then(|s| m.name(s));
        assert_eq!(at("10.1.3.4"), Some("paris"));
        assert_eq!(at("10.2.3.4"), Some("lyon"));
        assert_eq!(at("10.2.7.9"), Some("lyon-lab"));
        assert_eq!(at("fd00:2::5"), Some("lyon"));
        assert_eq!(at("::ffff:10.1.0.1"), Some("paris"));
        assert_eq!(at("192.168.1.1"), None);
        assert_eq!(m.id("lyon"), Some(SiteId(1)));
    }

    #[test]
    fn bad_ranges_and_duplicate_names_are_refused() {
        let mut m = map();
        assert_eq!(
            m.add("x", &["10.0.0.0/33"]),
            Err(SiteError::BadRange("10.0.0.0/33".into()))
        );
        assert_eq!(
            m.add("x", &["not an address"]),
            Err(SiteError::BadRange("not an address".into()))
        );
        assert_eq!(
            m.add("paris", &["10.9.0.0/16"]),
            Err(SiteError::DuplicateName("paris".into()))
        );
        assert_eq!(m.len(), 3);
    }

    fn swarm(m: &SiteMap) -> Vec<SwarmPeer> {
        vec![
            peer(m, "10.1.0.2", true),
            peer(m, "10.1.0.3", false),
            peer(m, "10.1.0.4", false),
            peer(m, "10.2.0.2", true),
            peer(m, "10.2.0.3", false),
            peer(m, "198.51.100.1", true),
            peer(m, "198.51.100.2", false),
        ]
    }

    fn class_of(me: &SwarmPeer, s: &[SwarmPeer], addr: SocketAddr) -> (u8, bool) {
        let p = s.iter().find(|p| p.addr == addr).unwrap();
        let place = match p.site {
            Some(x) if Some(x) == me.site => 0,
            Some(_) => 1,
            None => 2,
        };
        (place, !p.seed)
    }

    #[test]
    fn classes_come_in_order_and_the_requester_is_left_out() {
        let m = map();
        let s = swarm(&m);
        let me = s[1];
        let policy = SelectionPolicy {
            by_site: true,
            max_off_site: None,
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let got = select_peers(&policy, &me, &s, 50, &mut rng);
        assert_eq!(got.len(), 6);
        assert!(!got.contains(&me.addr));
        let classes: Vec<_> = got.iter().map(|a| class_of(&me, &s, *a)).collect();
        let mut sorted = classes.clone();
        sorted.sort();
        assert_eq!(classes, sorted, "classes out of order: {got:?}");
        assert_eq!(classes[0], (0, false), "same-site seed first");
    }

    #[test]
    fn a_requester_in_no_site_gets_seeds_then_others_in_no_site_then_site_members() {
        let m = map();
        let mut s = swarm(&m);
        s.push(peer(&m, "198.51.100.3", false));
        let me = s[6];
        let mut rng = fastrand::Rng::with_seed(5);
        let got = select_peers(&SelectionPolicy::DEFAULT, &me, &s, 50, &mut rng);
        let seed_in_no_site = s[5].addr;
        assert_eq!(got[0], seed_in_no_site, "{got:?}");
        let seeds_in_sites: BTreeSet<_> = got[1..3].iter().collect();
        assert_eq!(seeds_in_sites, [&s[0].addr, &s[3].addr].into());
        assert_eq!(
            got[3], s[7].addr,
            "the other laptop in no site next: {got:?}"
        );
        let leechers_in_sites: BTreeSet<_> = got[4..].iter().collect();
        assert_eq!(
            leechers_in_sites,
            [&s[1].addr, &s[2].addr, &s[4].addr].into()
        );
    }

    #[test]
    fn seeds_get_no_seeds_and_numwant_truncates_best_first() {
        let m = map();
        let s = swarm(&m);
        let mut rng = fastrand::Rng::with_seed(2);
        let me = s[0];
        let got = select_peers(&SelectionPolicy::DEFAULT, &me, &s, 50, &mut rng);
        assert!(got
            .iter()
            .all(|a| !s.iter().any(|p| p.addr == *a && p.seed)));
        let two = select_peers(&SelectionPolicy::DEFAULT, &me, &s, 2, &mut rng);
        let mut expected = vec![s[1].addr, s[2].addr];
        let mut two_sorted = two.clone();
        two_sorted.sort();
        expected.sort();
        assert_eq!(two_sorted, expected);
    }

    #[test]
    fn off_site_quota_applies_to_site_members_only() {
        let m = map();
        let s = swarm(&m);
        let policy = SelectionPolicy {
            by_site: true,
            max_off_site: Some(1),
        };
        let mut rng = fastrand::Rng::with_seed(3);
        let inside = select_peers(&policy, &s[1], &s, 50, &mut rng);
        assert_eq!(
            inside.len(),
            3,
            "two colleagues and one outsider: {inside:?}"
        );
        let outside = select_peers(&policy, &s[6], &s, 50, &mut rng);
        assert_eq!(outside.len(), 6);
    }

    #[test]
    fn off_is_a_uniform_random_subset() {
        let m = map();
        let s = swarm(&m);
        let mut rng = fastrand::Rng::with_seed(4);
        let mut firsts = std::collections::BTreeMap::new();
        for _ in 0..600 {
            let got = select_peers(&SelectionPolicy::OFF, &s[1], &s, 3, &mut rng);
            assert_eq!(got.len(), 3);
            assert!(!got.contains(&s[1].addr));
            *firsts.entry(got[0]).or_insert(0) += 1;
        }
        // Six candidates, 600 draws: each is first about 100 times.
        assert_eq!(firsts.len(), 6);
        assert!(
            firsts.values().all(|&n| (60..140).contains(&n)),
            "{firsts:?}"
        );
    }

    #[test]
    fn same_rng_same_reply() {
        let m = map();
        let s = swarm(&m);
        let run = |seed| {
            let mut rng = fastrand::Rng::with_seed(seed);
            select_peers(&SelectionPolicy::DEFAULT, &s[4], &s, 4, &mut rng)
        };
        assert_eq!(run(9), run(9));
    }
}
