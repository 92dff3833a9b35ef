//! Bitfleet's deterministic swarm simulator: the real `bitfleet-core` engine for every peer,
//! the real site-aware tracker policy, a simulated network with per-host capacities, sites
//! behind shaped WAN links and latency — on a virtual clock, so a 10 TB company roll-out runs
//! in minutes and the same scenario and seed always give the same result, bit for bit.

mod diagnose;
pub mod network;
mod office_log;
pub mod plot;
pub mod report;
pub mod scenario;
pub mod swarm;
pub mod tracker;
pub mod units;
mod usage;

use bitfleet_core::engine::PieceOrder;

use scenario::{Layout, Scenario};
use swarm::{Outcome, Simulation};

/// Variations on a scenario, for comparisons (sites on and off, a weakened picker).
#[derive(Debug, Clone, Copy, Default)]
pub struct Variant {
    pub sites: Option<bool>,
    pub piece_order: Option<PieceOrder>,
    /// Cuts the run short of the scenario's own time limit.
    pub time_limit: Option<std::time::Duration>,
    /// At the time limit, report why each unfinished peer is not done (`Outcome::stalled`).
    pub dump_stalled: bool,
    /// The full-size torrent's piece count instead of what the creator picks for the scaled
    /// payload (`Layout::keep_full_size_piece_count`).
    pub full_size_pieces: bool,
}

/// Expands the scenario at `scale` and runs it with `seed`.
pub fn simulate(
    scenario: &Scenario,
    scale: f64,
    seed: u64,
    variant: Variant,
) -> anyhow::Result<(Layout, Outcome)> {
    let mut layout = Layout::new(scenario, scale, seed)?;
    if let Some(sites) = variant.sites {
        layout.policy.by_site = sites;
    }
    if let Some(order) = variant.piece_order {
        layout.piece_order = order;
    }
    if variant.full_size_pieces {
        layout.keep_full_size_piece_count();
    }
    if let Some(limit) = variant.time_limit {
        layout.time_limit = limit;
    }
    let outcome = Simulation::new(layout.clone(), seed)?.run(variant.dump_stalled);
    Ok((layout, outcome))
}
