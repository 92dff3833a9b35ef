//! `bitfleet-sim run SCENARIO.toml [--seed N] [--sites on|off|both] [--scale F] [--plot out.svg]`

use std::path::PathBuf;
use std::time::Instant as WallClock;

use anyhow::{bail, Context};
use bitfleet_core::engine::PieceOrder;
use bitfleet_sim::plot::{completion_svg, Series};
use bitfleet_sim::report::{render, scale_text, Run, Summary};
use bitfleet_sim::scenario::Scenario;
use bitfleet_sim::{simulate, Variant};
use clap::{Parser, Subcommand, ValueEnum};

#[derive(Parser)]
#[command(about = "Deterministic swarm simulator running the real Bitfleet engine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs a scenario and prints the report.
    Run {
        scenario: PathBuf,
        /// Defaults to the scenario's seed.
        #[arg(long)]
        seed: Option<u64>,
        /// Site-aware peer selection; `both` runs twice and compares. Default: the scenario's.
        #[arg(long)]
        sites: Option<Sites>,
        /// Payload and every capacity multiplied by this ("0.01" or "1/100").
        #[arg(long, default_value = "1", value_parser = parse_scale)]
        scale: f64,
        /// The engine's piece order (sequential is a deliberately weak picker).
        #[arg(long)]
        piece_order: Option<Order>,
        /// Writes the completion-over-time plot (SVG).
        #[arg(long)]
        plot: Option<PathBuf>,
        /// Stops at this virtual time ("6h") instead of the scenario's time limit.
        #[arg(long, value_parser = parse_time_limit)]
        time_limit: Option<std::time::Duration>,
        /// At the time limit, reports on stderr why each unfinished peer is not done.
        #[arg(long)]
        dump_stalled: bool,
        /// Keeps the full-size torrent's piece count (piece length times the scale) instead of
        /// the piece length the creator picks for the scaled payload.
        #[arg(long)]
        full_size_pieces: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum Sites {
    On,
    Off,
    Both,
}

#[derive(Clone, Copy, ValueEnum)]
enum Order {
    RarestFirst,
    Sequential,
}

fn parse_scale(text: &str) -> Result<f64, String> {
    let value = match text.split_once('/') {
        Some((a, b)) => {
            let (a, b): (f64, f64) = (
                a.trim().parse().map_err(|_| "bad numerator")?,
                b.trim().parse().map_err(|_| "bad denominator")?,
            );
            a / b
        }
        None => text.trim().parse().map_err(|_| "not a number")?,
    };
    if value > 0.0 && value <= 1.0 {
        Ok(value)
    } else {
        Err("scale must be in (0, 1]".into())
    }
}

fn parse_time_limit(text: &str) -> Result<std::time::Duration, String> {
    bitfleet_sim::units::parse_duration(text).map_err(|e| e.to_string())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "bitfleet_sim=info".into()),
        )
        .init();
    let Command::Run {
        scenario,
        seed,
        sites,
        scale,
        piece_order,
        plot,
        time_limit,
        dump_stalled,
        full_size_pieces,
    } = Cli::parse().command;
    let loaded = Scenario::load(&scenario)?;
    let seed = seed.unwrap_or(loaded.seed);
    let piece_order = piece_order.map(|o| match o {
        Order::RarestFirst => PieceOrder::RarestFirst,
        Order::Sequential => PieceOrder::Sequential,
    });
    let variants: Vec<(String, Option<bool>)> = match sites {
        None => vec![(
            if loaded.tracker.sites {
                "sites on"
            } else {
                "sites off"
            }
            .into(),
            None,
        )],
        Some(Sites::On) => vec![("sites on".into(), Some(true))],
        Some(Sites::Off) => vec![("sites off".into(), Some(false))],
        Some(Sites::Both) => vec![
            ("sites on".into(), Some(true)),
            ("sites off".into(), Some(false)),
        ],
    };
    // Variants are independent runs: one thread each.
    let results = std::thread::scope(|scope| {
        let handles: Vec<_> = variants
            .into_iter()
            .map(|(label, sites)| {
                let loaded = &loaded;
                scope.spawn(move || {
                    let started = WallClock::now();
                    let variant = Variant {
                        sites,
                        piece_order,
                        time_limit,
                        dump_stalled,
                        full_size_pieces,
                    };
                    let (layout, outcome) = simulate(loaded, scale, seed, variant)?;
                    let summary = Summary::new(&layout, &outcome);
                    let wall = started.elapsed().as_secs_f64();
                    anyhow::Ok((label, layout, outcome, summary, wall))
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().map_err(|_| anyhow::anyhow!("a run panicked"))?)
            .collect::<anyhow::Result<Vec<_>>>()
    })
    .with_context(|| format!("running {}", scenario.display()))?;
    let runs: Vec<Run> = results
        .iter()
        .map(|(label, layout, outcome, summary, wall)| Run {
            label: label.clone(),
            layout,
            outcome,
            summary,
            wall_secs: *wall,
        })
        .collect();
    print!("{}", render(&runs));
    for run in &runs {
        if let Some(stalled) = &run.outcome.stalled {
            eprintln!("{} — {stalled}", run.label);
        }
    }
    if let Some(path) = plot {
        let Some(first) = runs.first() else {
            bail!("nothing ran");
        };
        let series: Vec<Series> = runs
            .iter()
            .map(|r| Series {
                label: &r.label,
                completions: &r.summary.completions,
                total: r.summary.peers,
            })
            .collect();
        let title = format!(
            "{}: {} peers, seed {seed}, scale {}",
            first.layout.name,
            first.summary.peers,
            scale_text(scale)
        );
        let svg = completion_svg(&title, &series, first.summary.bound);
        std::fs::write(&path, svg).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}
