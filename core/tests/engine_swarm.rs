//! Whole swarms of real `Torrent` engines on a virtual clock (the harness is `swarm`): they
//! finish, trade among themselves, catch liars, share a global cap and make room for useful
//! peers.

mod swarm;

use std::time::Duration;

use bitfleet_core::budget::{Limits, SessionBudget};
use bitfleet_core::engine::Config;

use swarm::*;

#[test]
fn seed_and_five_leechers_finish_and_trade_among_themselves() {
    let data = payload(3 << 20, 1);
    // A seed capped at 256 KiB/s: leechers that only waited for it would need 12 s each.
    let mut swarm = Swarm::new(&data, 64 << 10, &[Some(256 << 10)], 5);
    assert!(swarm.run(Duration::from_secs(120)), "swarm did not finish");
    for node in &swarm.nodes {
        assert!(node.storage == data, "a node's bytes differ");
    }
    let seed_up = swarm.nodes[0].torrent.status(swarm.now).transfer.uploaded;
    let leechers_up: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.uploaded)
        .sum();
    let received: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.downloaded)
        .sum();
    assert!(received >= 5 * data.len() as u64);
    assert!(
        leechers_up * 2 > received,
        "leechers uploaded {leechers_up} of {received} (seed {seed_up})"
    );
    // Swarming beats the seed serving everybody: 5 copies at 256 KiB/s would take 60 s.
    let last = swarm
        .nodes
        .iter()
        .filter_map(|n| n.completed_at)
        .max()
        .unwrap();
    assert!(
        last.since_epoch() < Duration::from_secs(30),
        "took {last:?}"
    );
}

#[test]
fn finished_peers_do_not_keep_dialling_each_other() {
    // The test tracker hands every node every address, seeds included, once a minute.
    let data = payload(1 << 20, 5);
    let mut swarm = Swarm::new(&data, 64 << 10, &[None], 3);
    assert!(swarm.run(Duration::from_secs(120)), "swarm did not finish");
    let (done_at, dials_then) = (swarm.now.since_epoch(), swarm.dials);
    swarm.run_until(done_at + Duration::from_secs(600), |_| false);
    // Four seeds: each may dial each other one once more (an address learned before it was
    // known to be a seed), never again every minute.
    let dials_after = swarm.dials - dials_then;
    assert!(
        dials_after <= 12,
        "{dials_after} dials among four seeds in ten minutes"
    );
    // Nor do they stay connected with nothing to trade: each learnt the other is complete.
    let connected: Vec<usize> = swarm
        .nodes
        .iter()
        .map(|n| n.torrent.status(swarm.now).peers)
        .collect();
    assert!(
        connected.iter().all(|&peers| peers == 0),
        "connections each seed holds: {connected:?}"
    );
}

#[test]
fn a_lying_peer_is_caught_and_the_download_still_completes() {
    let data = payload(1 << 20, 2);
    let mut swarm = Swarm::new(&data, 32 << 10, &[None, None], 1);
    swarm.liar = Some(1);
    assert!(swarm.run(Duration::from_secs(60)));
    assert!(swarm.nodes[2].storage == data);
    let status = swarm.nodes[2].torrent.status(swarm.now);
    assert!(status.hash_failures >= 1, "the liar was never asked");
    assert_eq!(
        status.peers, 0,
        "both seeds are gone: the liar banned, the honest one not useful"
    );
    // Banned: the liar is not served again even if it announces again.
    swarm.connect(1, 2);
    assert_eq!(swarm.nodes[2].torrent.status(swarm.now).peers, 0);
}

#[test]
fn same_seed_same_run() {
    let run = || {
        let data = payload(1 << 20, 3);
        let mut swarm = Swarm::new(&data, 32 << 10, &[Some(128 << 10)], 4);
        assert!(swarm.run(Duration::from_secs(120)));
        swarm
            .nodes
            .iter()
            .map(|n| (n.completed_at, n.torrent.status(swarm.now).transfer))
            .collect::<Vec<_>>()
    };
    assert_eq!(run(), run());
}

#[test]
fn a_liar_mixed_into_pieces_with_an_honest_seed_gets_only_itself_banned() {
    // Both seeds serve at the same pace, so pieces hold blocks of both: blame is uncertain,
    // both go on parole, and from then on the liar alone is caught.
    let data = payload(2 << 20, 4);
    let mut swarm = Swarm::new(&data, 256 << 10, &[Some(256 << 10), Some(256 << 10)], 1);
    swarm.liar = Some(1);
    assert!(
        swarm.run(Duration::from_secs(120)),
        "the honest seed was lost too"
    );
    assert!(swarm.nodes[2].storage == data);
    assert!(swarm.nodes[2].torrent.status(swarm.now).hash_failures >= 1);
}

#[test]
fn torrents_sharing_a_global_download_cap_stay_within_it_and_split_it_fairly() {
    let data = payload(2 << 20, 5);
    // An uncapped seed: on the virtual network only the cap takes time.
    let mut swarm = Swarm::new(&data, 64 << 10, &[None], 0);
    let rate = 256 << 10;
    let limits = Limits {
        upload: None,
        download: Some(rate),
    };
    let budget = SessionBudget::new(limits, 64 << 10, swarm.now);
    swarm.add_leecher(10, Some(budget.clone()));
    swarm.add_leecher(11, Some(budget));
    assert!(swarm.run(Duration::from_secs(120)));
    let done: Vec<Duration> = swarm.nodes[1..]
        .iter()
        .map(|n| n.completed_at.expect("complete").since_epoch())
        .collect();
    let received: u64 = swarm.nodes[1..]
        .iter()
        .map(|n| n.torrent.status(swarm.now).transfer.downloaded)
        .sum();
    // Everything received passed the shared cap: at most one burst (a second) early.
    let last = done.iter().max().expect("two leechers");
    let least = Duration::from_secs_f64(received as f64 / rate as f64 - 1.0);
    assert!(*last >= least, "{received} bytes by {done:?}");
    // Neither starved: they finish close together.
    let first = done.iter().min().expect("two leechers");
    assert!(
        first.as_secs_f64() > 0.7 * last.as_secs_f64(),
        "finished at {done:?}"
    );
}

/// Node 0 may hold two connections (`limit_node_0` sets that and its disinterest timeout);
/// nodes 1 and 2, which it dials first, have nothing and cannot reach the seed (node 3),
/// which dials nobody.
/// When node 0 finished, if it did within 200 s.
fn stuck_with_useless_peers(limit_node_0: fn(&mut Config)) -> Option<Duration> {
    let data = payload(256 << 10, 12);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = limit_node_0;
    swarm.add_leecher(0, None);
    swarm.configure = |_| {};
    swarm.add_leecher(1, None);
    swarm.add_leecher(2, None);
    // The seed dials nobody: node 0 must find it.
    swarm.configure = |config| config.max_peers = 0;
    swarm.add_seed(&data, None, 3);
    swarm.unreachable = vec![(1, 3), (2, 3)];
    swarm.run(Duration::from_secs(200));
    swarm.nodes[0].completed_at.map(|t| t.since_epoch())
}

#[test]
fn at_the_connection_limit_peers_neither_side_wants_make_room() {
    let turnover = stuck_with_useless_peers(|config| {
        config.max_peers = 2;
        config.disinterest_timeout = Duration::from_secs(20);
    });
    let done = turnover.expect("node 0 dropped its useless peers and reached the seed");
    assert!(done < Duration::from_secs(40), "took {done:?}");
    let never = stuck_with_useless_peers(|config| {
        config.max_peers = 2;
        config.disinterest_timeout = Duration::from_secs(1 << 20);
    });
    assert_eq!(
        never, None,
        "without turnover node 0 keeps its two useless peers"
    );
}
