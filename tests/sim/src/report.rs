//! Figures of a run — time for every peer vs the Kumar–Ross lower bound, WAN copies per office,
//! the origin's upload — and the text report.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::scenario::{JoinRule, Layout};
use crate::swarm::{HostOutcome, Outcome};

/// Issue #5's target for every peer, as a multiple of the lower bound.
pub const TARGET: f64 = 1.10;

/// One office's WAN traffic, in copies of the payload.
#[derive(Debug, Clone, PartialEq)]
pub struct OfficeWan {
    pub site: String,
    pub peers: usize,
    pub inbound: f64,
    pub outbound: f64,
}

/// A peer with a story: the late joiner, the roamer.
#[derive(Debug, Clone, PartialEq)]
pub struct Special {
    pub name: String,
    pub what: String,
    /// From joining to completion, seconds.
    pub download_time: Option<f64>,
    /// Of that, seconds away (a roamer between leaving and coming back).
    pub away: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// Counted peers (N of the bound).
    pub peers: usize,
    /// max(F/u_s, F/d_min, N·F/(u_s + Σu_i)), seconds, and its three terms.
    pub bound: f64,
    pub bound_terms: [f64; 3],
    /// N·F/u_s, seconds.
    pub client_server: f64,
    /// Completion times of counted peers, seconds, sorted; `None` for peers that never finished.
    pub completions: Vec<f64>,
    pub unfinished: usize,
    /// The largest counted completion over that peer's own bound (`None` if some never
    /// finished): see `own_bound`.
    pub ratio: Option<f64>,
    pub offices: Vec<OfficeWan>,
    pub origin_copies: f64,
    pub specials: Vec<Special>,
}

impl Summary {
    pub fn new(layout: &Layout, outcome: &Outcome) -> Self {
        let f = layout.payload as f64;
        let counted: Vec<usize> = (0..layout.hosts.len())
            .filter(|&h| layout.hosts[h].counted)
            .collect();
        let n = counted.len() as f64;
        let u_s: f64 = layout.hosts.iter().filter(|h| h.seed).map(|h| h.up).sum();
        let u_sum: f64 = counted.iter().map(|&h| layout.hosts[h].up).sum();
        let d_min = counted
            .iter()
            .map(|&h| layout.hosts[h].down)
            .fold(f64::INFINITY, f64::min);
        let bound_terms = [f / u_s, f / d_min, n * f / (u_s + u_sum)];
        let bound = bound_terms.iter().copied().fold(0.0, f64::max);

        let mut completions: Vec<f64> = counted
            .iter()
            .filter_map(|&h| outcome.hosts[h].completed_at)
            .map(|d| d.as_secs_f64())
            .collect();
        completions.sort_by(f64::total_cmp);
        let unfinished = counted.len() - completions.len();
        let ratio = (unfinished == 0).then(|| {
            counted
                .iter()
                .filter_map(|&h| to_own_bound(bound, &outcome.hosts[h]))
                .fold(0.0, f64::max)
        });

        let offices = layout
            .sites
            .iter()
            .enumerate()
            .filter_map(|(s, site)| {
                let peers = layout
                    .hosts
                    .iter()
                    .filter(|h| h.site == Some(s) && !h.seed)
                    .count();
                (peers > 0).then(|| OfficeWan {
                    site: site.name.clone(),
                    peers,
                    inbound: outcome.wan[s].inbound / f,
                    outbound: outcome.wan[s].outbound / f,
                })
            })
            .collect();
        let origin_copies = outcome
            .hosts
            .iter()
            .filter(|h| h.seed)
            .map(|h| h.uploaded as f64)
            .sum::<f64>()
            / f;
        let specials = layout
            .hosts
            .iter()
            .zip(&outcome.hosts)
            .filter_map(|(spec, o)| {
                let what = match (spec.join, spec.roam) {
                    (JoinRule::SiteSeeds(k), _) => {
                        format!("joins when {k} peers of her site are seeds")
                    }
                    (_, Some(r)) => format!(
                        "leaves at {:.0} %, comes back {} later from another network",
                        r.leave_at * 100.0,
                        hours(r.away.as_secs_f64())
                    ),
                    (JoinRule::At(t), None) if !t.is_zero() && !spec.seed => {
                        format!("joins at {}", hours(t.as_secs_f64()))
                    }
                    _ => return None,
                };
                let download_time = o
                    .joined_at
                    .zip(o.completed_at)
                    .map(|(j, c)| (c - j).as_secs_f64());
                Some(Special {
                    name: o.name.clone(),
                    what,
                    download_time,
                    away: away(o),
                })
            })
            .collect();
        Summary {
            peers: counted.len(),
            bound,
            bound_terms,
            client_server: n * f / u_s,
            completions,
            unfinished,
            ratio,
            offices,
            origin_copies,
            specials,
        }
    }

    pub fn last(&self) -> Option<f64> {
        (self.unfinished == 0)
            .then(|| self.completions.last().copied())
            .flatten()
    }

    pub fn max_office_inbound(&self) -> f64 {
        self.offices.iter().map(|o| o.inbound).fold(0.0, f64::max)
    }
}

/// Seconds `host` was away (a roamer between leaving and coming back).
fn away(host: &HostOutcome) -> f64 {
    host.left_at
        .zip(host.returned_at)
        .map_or(0.0, |(l, r)| (r - l).as_secs_f64())
}

/// The lower bound for `host` alone: the swarm's `bound` plus the time it was away, in which
/// it can receive nothing (the roamer: F/d_min + 1 h). The Kumar–Ross bound assumes every
/// peer is there throughout.
fn own_bound(bound: f64, host: &HostOutcome) -> f64 {
    bound + away(host)
}

/// When `host` finished, as a multiple of its own bound; `None` if it never did.
fn to_own_bound(bound: f64, host: &HostOutcome) -> Option<f64> {
    host.completed_at
        .map(|d| d.as_secs_f64() / own_bound(bound, host))
}

pub fn hours(secs: f64) -> String {
    if secs >= 3600.0 {
        format!("{:.2} h", secs / 3600.0)
    } else if secs >= 60.0 {
        format!("{:.1} min", secs / 60.0)
    } else {
        format!("{secs:.1} s")
    }
}

/// A labelled run for the report: `label` says which variant (sites on/off, …).
pub struct Run<'a> {
    pub label: String,
    pub layout: &'a Layout,
    pub outcome: &'a Outcome,
    pub summary: &'a Summary,
    pub wall_secs: f64,
}

pub fn render(runs: &[Run]) -> String {
    let mut out = String::new();
    for run in runs {
        render_one(&mut out, run);
        out.push('\n');
    }
    if runs.len() > 1 {
        render_wan_comparison(&mut out, runs);
    }
    out
}

/// A host's site by name, "field" for none.
fn site_name(layout: &Layout, site: Option<usize>) -> String {
    site.map_or("field".to_owned(), |i| layout.sites[i].name.clone())
}

/// Who finished after the target of 1.10 × their own bound, counted by site: where the tail
/// is.
fn render_late(out: &mut String, run: &Run) {
    let bound = run.summary.bound;
    let mut by_site: BTreeMap<String, usize> = BTreeMap::new();
    for h in run.outcome.hosts.iter().filter(|h| h.counted) {
        if to_own_bound(bound, h).is_none_or(|ratio| ratio > TARGET) {
            *by_site.entry(site_name(run.layout, h.site)).or_default() += 1;
        }
    }
    let late: usize = by_site.values().sum();
    let sites: Vec<String> = by_site.iter().map(|(s, n)| format!("{s} {n}")).collect();
    let _ = writeln!(
        out,
        "after {TARGET:.2} × their bound: {late} peer(s){}{}",
        if late > 0 { ", by site: " } else { "" },
        sites.join(", ")
    );
}

fn render_one(out: &mut String, run: &Run) {
    let (l, s) = (run.layout, run.summary);
    let full = l.payload as f64 / l.scale;
    let _ = writeln!(out, "== {} — {} ==", l.name, run.label);
    let _ = writeln!(
        out,
        "payload {:.3} GB at scale {} of {:.1} GB: {} pieces of {} KiB",
        l.payload as f64 / 1e9,
        scale_text(l.scale),
        full / 1e9,
        l.piece_count,
        l.piece_length / 1024
    );
    let _ = writeln!(
        out,
        "{} peers counted, {} seed(s), {} sites; step {:?}; {} of virtual time in {:.0} s of wall time{}",
        s.peers,
        l.hosts.iter().filter(|h| h.seed).count(),
        l.sites.len(),
        l.step,
        hours(run.outcome.end.as_secs_f64()),
        run.wall_secs,
        if run.outcome.finished { "" } else { " — HIT THE TIME LIMIT" }
    );
    let [a, b, c] = s.bound_terms;
    let _ = writeln!(
        out,
        "lower bound max(F/u_s, F/d_min, N·F/(u_s+Σu_i)) = max({}, {}, {}) = {}",
        hours(a),
        hours(b),
        hours(c),
        hours(s.bound)
    );
    let _ = writeln!(out, "client-server N·F/u_s = {}", hours(s.client_server));
    // Quantiles of all counted peers (unfinished ones last), with their ratio to the bound.
    let pct = |q: f64| {
        let at = ((s.peers as f64 - 1.0) * q).round() as usize;
        s.completions.get(at).map_or("-".into(), |t| {
            format!("{} ({:.2} ×)", hours(*t), t / s.bound)
        })
    };
    let _ = writeln!(
        out,
        "finished: first {}, median {}, 90 % {}, last {}{}",
        pct(0.0),
        pct(0.5),
        pct(0.9),
        pct(1.0),
        if s.unfinished > 0 {
            format!(" — {} NEVER FINISHED", s.unfinished)
        } else {
            String::new()
        }
    );
    let mut slowest: Vec<(f64, String)> = run
        .outcome
        .hosts
        .iter()
        .filter(|h| h.counted)
        .map(|h| {
            let at = h.completed_at.map_or(f64::INFINITY, |d| d.as_secs_f64());
            (at, format!("{} ({})", h.name, site_name(l, h.site)))
        })
        .collect();
    slowest.sort_by(|a, b| b.0.total_cmp(&a.0));
    let listed: Vec<String> = slowest
        .iter()
        .take(3)
        .map(|(t, who)| format!("{who} {}", hours(*t)))
        .collect();
    let _ = writeln!(out, "slowest: {}", listed.join(", "));
    render_late(out, run);
    if let Some(ratio) = s.ratio {
        let _ = writeln!(
            out,
            "time for every peer: {:.3} × its lower bound (the bound plus any time it was away; target ≤ {TARGET:.2}: {}), {:.4} × client-server",
            ratio,
            if ratio <= TARGET { "met" } else { "MISSED" },
            s.last().unwrap_or(0.0) / s.client_server
        );
    }
    let _ = writeln!(
        out,
        "origin uploaded {:.2} copies of the payload",
        s.origin_copies
    );
    for sp in &s.specials {
        let took = match sp.download_time {
            None => "— never finished".into(),
            Some(t) if sp.away > 0.0 => format!(
                "{} from its start, {} of it online ({:.2} × F/d_min)",
                hours(t),
                hours(t - sp.away),
                (t - sp.away) / s.bound_terms[1]
            ),
            Some(t) => format!("{} ({:.2} × F/d_min)", hours(t), t / s.bound_terms[1]),
        };
        let _ = writeln!(out, "{} ({}): download took {took}", sp.name, sp.what);
    }
    let _ = writeln!(
        out,
        "WAN links, copies of the payload (in = taken by the office):"
    );
    let _ = writeln!(
        out,
        "  {:<12} {:>5} {:>7} {:>7}",
        "site", "peers", "in", "out"
    );
    for o in &s.offices {
        let _ = writeln!(
            out,
            "  {:<12} {:>5} {:>7.2} {:>7.2}",
            o.site, o.peers, o.inbound, o.outbound
        );
    }
    let max = s.max_office_inbound();
    // The ≤ 1.2 target is a promise of the site feature; without it there is none to judge.
    let verdict = if !run.layout.policy.by_site {
        "no target with sites off"
    } else if max <= 1.2 {
        "target ≤ 1.2 with sites on: met"
    } else {
        "target ≤ 1.2 with sites on: MISSED"
    };
    let _ = writeln!(out, "most taken by one office: {max:.2} copies ({verdict})");
}

fn render_wan_comparison(out: &mut String, runs: &[Run]) {
    let _ = writeln!(out, "== WAN copies taken per office, side by side ==");
    let _ = write!(out, "  {:<12}", "site");
    for run in runs {
        let _ = write!(out, " {:>14}", run.label);
    }
    out.push('\n');
    for (i, office) in runs[0].summary.offices.iter().enumerate() {
        let _ = write!(out, "  {:<12}", office.site);
        for run in runs {
            let v = run.summary.offices.get(i).map_or(f64::NAN, |o| o.inbound);
            let _ = write!(out, " {v:>14.2}");
        }
        out.push('\n');
    }
}

pub fn scale_text(scale: f64) -> String {
    if scale >= 1.0 {
        "1".into()
    } else {
        format!("1/{}", (1.0 / scale).round())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn a_peer_away_for_an_hour_is_held_to_the_bound_plus_that_hour() {
        let hour = |h: u64| Duration::from_secs(h * 3600);
        let roamer = HostOutcome {
            name: "roamer".into(),
            site: None,
            seed: false,
            counted: true,
            joined_at: Some(Duration::ZERO),
            completed_at: Some(hour(13)),
            left_at: Some(hour(8)),
            returned_at: Some(hour(9)),
            uploaded: 0,
        };
        assert_eq!(own_bound(11.0 * 3600.0, &roamer), 12.0 * 3600.0);
        let stayed = HostOutcome {
            left_at: None,
            returned_at: None,
            ..roamer.clone()
        };
        assert_eq!(own_bound(11.0 * 3600.0, &stayed), 11.0 * 3600.0);
    }
}
