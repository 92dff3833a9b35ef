//! The small scenario (20 laptops, three offices, the field) as regression tests of the picker,
//! the choker and the site policy. Runs are deterministic, so the figures below are exact for
//! the current engine; the thresholds leave a little room for harmless changes and none for a
//! real regression. `docs/simulation.md` lists the figures these bounds come from.

use std::path::Path;
use std::sync::OnceLock;

use bitfleet_core::engine::PieceOrder;
use bitfleet_sim::report::Summary;
use bitfleet_sim::scenario::Scenario;
use bitfleet_sim::swarm::Outcome;
use bitfleet_sim::{simulate, Variant};

const SEED: u64 = 7;

fn load(name: &str) -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scenarios")
        .join(name);
    Scenario::load(&path).expect("scenario loads")
}

fn scenario() -> Scenario {
    load("small.toml")
}

fn run(seed: u64, variant: Variant) -> (Outcome, Summary) {
    let (layout, outcome) = simulate(&scenario(), 1.0, seed, variant).expect("runs");
    assert!(
        outcome.finished,
        "seed {seed}: the swarm did not finish: {outcome:?}"
    );
    let summary = Summary::new(&layout, &outcome);
    (outcome, summary)
}

/// Sites on, rarest-first: the configuration Bitfleet ships.
fn baseline() -> &'static (Outcome, Summary) {
    static RUN: OnceLock<(Outcome, Summary)> = OnceLock::new();
    RUN.get_or_init(|| {
        run(
            SEED,
            Variant {
                sites: Some(true),
                ..Variant::default()
            },
        )
    })
}

/// Sites off, rarest-first: a stock tracker and client, and the picker on its own.
fn sites_off() -> &'static (Outcome, Summary) {
    static RUN: OnceLock<(Outcome, Summary)> = OnceLock::new();
    RUN.get_or_init(|| {
        run(
            SEED,
            Variant {
                sites: Some(false),
                ..Variant::default()
            },
        )
    })
}

fn last(summary: &Summary) -> f64 {
    summary.last().expect("every counted peer finished")
}

#[test]
fn same_scenario_and_seed_give_the_same_run_bit_for_bit() {
    let again = run(
        SEED,
        Variant {
            sites: Some(true),
            ..Variant::default()
        },
    );
    assert_eq!(&again, baseline());
}

/// Every counted peer's finish over the bound, and the origin's upload in copies, averaged
/// over four seeds (the shared seed-7 run and three more side by side): one seed's tail moves
/// by ±0.1 with any change to the engine's random choices, which hid real gains and losses
/// alike.
fn over_seeds(sites: bool) -> (f64, f64) {
    let (_, first) = if sites { baseline() } else { sites_off() };
    let variant = Variant {
        sites: Some(sites),
        ..Variant::default()
    };
    let others: Vec<Summary> = std::thread::scope(|scope| {
        let handles: Vec<_> = [21, 22, 23]
            .into_iter()
            .map(|seed| scope.spawn(move || run(seed, variant).1))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("runs"))
            .collect()
    });
    let runs: Vec<&Summary> = std::iter::once(first).chain(&others).collect();
    let mean =
        |f: &dyn Fn(&Summary) -> f64| runs.iter().map(|s| f(s)).sum::<f64>() / runs.len() as f64;
    (
        mean(&|s| s.ratio.expect("all finished")),
        mean(&|s| s.origin_copies),
    )
}

#[test]
fn every_peer_finishes_near_the_lower_bound() {
    let (_, s) = baseline();
    assert!(
        last(s) < s.client_server / 5.0,
        "no better than client-server"
    );
    // Measured, mean of four seeds: 1.24 × the bound with sites on, 1.13 with sites off
    // (session 11, seeds serve the neediest; session 9, offices' exports rationed: 1.23
    // and 1.17; session 8: 1.32 and 1.17; session 7, six unchoke slots and colleagues
    // first: 1.31 and 1.14; session 6: 1.49 and 1.21). See docs/simulation.md for the
    // company scenario.
    let (on, _) = over_seeds(true);
    assert!(on <= 1.29, "sites on took {on:.3} × the lower bound");
    let (off, origin) = over_seeds(false);
    assert!(off <= 1.22, "sites off took {off:.3} × the lower bound");
    // Measured: 1.44 copies (2.49 while every peer asked the origin first for the rest of
    // pieces others already held: the swarm waited for pieces only the origin had).
    assert!(
        origin <= 1.8,
        "sites off: the origin sent {origin:.2} copies"
    );
}

#[test]
fn with_sites_on_offices_take_few_copies_and_sites_off_costs_wan_traffic() {
    let (_, on) = baseline();
    let (_, off) = sites_off();
    // Measured: 1.03 copies at worst with sites on (1.76 before), 3.96 with sites off.
    let (on_max, off_max) = (on.max_office_inbound(), off.max_office_inbound());
    assert!(
        on_max <= 1.15,
        "sites on: an office took {on_max:.2} copies"
    );
    assert!(
        off_max >= 1.8 * on_max,
        "sites off should cost WAN traffic: {off_max:.2} vs {on_max:.2} copies"
    );
    let on_total: f64 = on.offices.iter().map(|o| o.inbound).sum();
    let off_total: f64 = off.offices.iter().map(|o| o.inbound).sum();
    assert!(
        off_total >= 1.8 * on_total,
        "{off_total:.2} vs {on_total:.2}"
    );
}

#[test]
fn a_sequential_picker_measurably_loses_to_rarest_first() {
    // Sites off, where the piece order alone decides what peers can trade (with sites on,
    // sharing WAN fetches out by site spreads even a sequential picker's pieces).
    let (_, rarest) = sites_off();
    let (_, sequential) = run(
        SEED,
        Variant {
            sites: Some(false),
            piece_order: Some(PieceOrder::Sequential),
            ..Variant::default()
        },
    );
    // Measured (seed 7): 4.07 × the bound against 1.15; the origin sends 8.13 copies
    // against 1.45 (session 5: 2.41 against 1.33, 4.81 copies against 2.51).
    let (a, b) = (last(rarest), last(&sequential));
    assert!(b >= 1.4 * a, "sequential {b:.0} s vs rarest-first {a:.0} s");
    assert!(
        sequential.origin_copies >= 1.5 * rarest.origin_copies,
        "sequential leans on the origin: {:.2} vs {:.2} copies",
        sequential.origin_copies,
        rarest.origin_copies
    );
}

#[test]
fn a_roaming_laptop_resumes_and_a_late_joiner_takes_her_office_seeds_at_full_speed() {
    let (layout, outcome) =
        simulate(&load("roaming.toml"), 1.0, SEED, Variant::default()).expect("runs");
    assert!(outcome.finished);
    let host = |name: &str| {
        let i = outcome
            .hosts
            .iter()
            .position(|h| h.name == name)
            .expect(name);
        (&layout.hosts[i], &outcome.hosts[i])
    };
    let secs = |d: Option<std::time::Duration>| d.expect("happened").as_secs_f64();

    let (spec, roamer) = host("roamer");
    let full_download = layout.payload as f64 / spec.down;
    let back = secs(roamer.returned_at);
    assert!(secs(roamer.left_at) < back && back < secs(roamer.completed_at));
    // It kept its pieces: the quarter it lacked takes a fraction of a full download.
    let after_return = secs(roamer.completed_at) - back;
    assert!(
        after_return < 0.7 * full_download,
        "{after_return:.0} s after coming back, a full download is {full_download:.0} s"
    );

    let (_, late) = host("late-joiner");
    let took = secs(late.completed_at) - secs(late.joined_at);
    assert!(
        took <= 1.15 * full_download,
        "late joiner took {took:.0} s, her downlink allows {full_download:.0} s"
    );
}
