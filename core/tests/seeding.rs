//! Whom a seed uploads to, in a swarm of real engines: a capped seed opens slots until its
//! cap is used, and its slots go to the peers that lack the most.

mod swarm;

use std::time::Duration;

use swarm::*;

/// Twelve leechers that each take at most 64 KiB/s and cannot reach each other, from one seed
/// (node 0) with four regular slots and upload cap `seed_cap`: when the last one finished.
/// The seed rechokes every 8 s: its slots move to whoever lacks the most, and on this network
/// without delay a newly unchoked peer gets the blocks it asks for at once, so with rounds of
/// a second or two more than five peers shared the uncapped seed's uplink.
fn twelve_slow_leechers_from_one_seed(seed_cap: Option<u64>) -> Duration {
    let data = payload(1 << 20, 11);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = |config| {
        config.rechoke_interval = Duration::from_secs(8);
        config.unchoke_slots = 4;
    };
    swarm.add_seed(&data, seed_cap, 0);
    swarm.configure = |config| {
        config.rechoke_interval = Duration::from_secs(1);
        config.download_limit = Some(64 << 10);
    };
    for seed in 1..=12 {
        swarm.add_leecher(seed, None);
    }
    swarm.cut_off_from_each_other(1..=12);
    assert!(swarm.run(Duration::from_secs(300)), "swarm did not finish");
    assert!(swarm.nodes.iter().all(|n| n.storage == data));
    let last = swarm.nodes.iter().filter_map(|n| n.completed_at).max();
    last.expect("complete").since_epoch()
}

#[test]
fn a_capped_seed_opens_slots_until_its_cap_is_used() {
    // Five slots reach 5 × 64 KiB/s, so 12 MiB take 38 s; a 1 MiB/s cap has room for all
    // twelve at once (12 MiB in 16 s at the leechers' own pace, plus a few rounds of ramp).
    let capped = twelve_slow_leechers_from_one_seed(Some(1 << 20));
    let fixed = twelve_slow_leechers_from_one_seed(None);
    assert!(
        capped < Duration::from_secs(28),
        "capped seed took {capped:?}"
    );
    assert!(
        fixed > Duration::from_secs(33),
        "uncapped seed took {fixed:?}"
    );
}

#[test]
fn a_seed_gives_its_slot_to_whoever_lacks_the_most() {
    // A seed capped at 64 KiB/s with one regular slot and no optimistic unchoke (its first
    // rotation finds nobody, the next is an hour away), so two of the four leechers, which
    // cannot reach each other, are unchoked at a time: the regular slot and a free one given
    // at random. Every round the regular slot goes to whoever lacks the most, so all four
    // finish together, at about 64 s. Ranked by what the seed sent them, the two that got
    // the slots first kept them and finished at 49 s, the others 12-16 s later.
    let data = payload(1 << 20, 13);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = |config| {
        config.rechoke_interval = Duration::from_secs(2);
        config.optimistic_interval = Duration::from_secs(3600);
        config.unchoke_slots = 1;
    };
    swarm.add_seed(&data, Some(64 << 10), 0);
    swarm.run_until(Duration::from_secs(1), |_| false);
    swarm.configure = |_| {};
    for seed in 1..=4 {
        swarm.add_leecher(seed, None);
    }
    swarm.cut_off_from_each_other(1..=4);
    assert!(swarm.run(Duration::from_secs(120)), "swarm did not finish");
    assert!(swarm.nodes.iter().all(|n| n.storage == data));
    let done: Vec<Duration> = swarm.nodes[1..]
        .iter()
        .map(|n| n.completed_at.expect("complete").since_epoch())
        .collect();
    let spread = *done.iter().max().expect("four") - *done.iter().min().expect("four");
    assert!(spread < Duration::from_secs(4), "finished at {done:?}");
}
