//! Colleagues on one site (`Config::local_networks`) in a swarm of real engines: a stalled
//! colleague does not hold the site back, and a member with nothing to fetch outside does
//! not hold a seed's slot.

mod swarm;

use std::time::Duration;

use bitfleet_core::Bitfield;

use swarm::*;

#[test]
fn a_colleague_that_cannot_fetch_its_share_does_not_stall_the_site() {
    // Nodes 1 and 2 share a LAN (10.0.0.2-3) and split the pieces only the seed outside
    // (node 0) has; node 2 cannot reach the seed, so its share must come in through node 1
    // once node 2 stops gaining pieces. Nothing else happens then — no piece, no choke —
    // so node 1 must notice the stall by the clock alone.
    let data = payload(1 << 20, 6);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.add_node(
        data.clone(),
        Bitfield::full(swarm.info.piece_count()),
        None,
        0,
        None,
    );
    swarm.configure = |config| config.local_networks = vec![office()];
    swarm.unreachable = vec![(0, 2)];
    swarm.add_leecher(1, None);
    swarm.add_leecher(2, None);
    assert!(
        swarm.run(Duration::from_secs(120)),
        "stalled with {} and {} of {} pieces",
        swarm.nodes[1].torrent.have().count_ones(),
        swarm.nodes[2].torrent.have().count_ones(),
        swarm.info.piece_count()
    );
    assert!(swarm.nodes[1].storage == data && swarm.nodes[2].storage == data);
    // Node 1 waited for its colleague's share only about as long as the stall rule says.
    let done = swarm.nodes[2].completed_at.expect("complete").since_epoch();
    assert!(done < Duration::from_secs(30), "took {done:?}");
}

#[test]
fn a_site_member_with_nothing_to_fetch_outside_frees_the_seeds_upload_slot() {
    // A seed outside (node 0) with a single upload slot; colleagues 1 and 2 share what only
    // it has, but node 2 cannot reach it, so node 1 fetches its own share and then waits a
    // minute for node 2 to stall before taking node 2's. Node 3, in the field, can reach only
    // the seed. While node 1 waits it must not hold the seed's slot: before the fix it stayed
    // interested with nothing to ask, and node 3 waited for an optimistic unchoke (5 min).
    let data = payload(1 << 20, 7);
    let mut swarm = Swarm::new(&data, 32 << 10, &[], 0);
    swarm.configure = |config| {
        config.unchoke_slots = 0;
        config.optimistic_interval = Duration::from_secs(300);
    };
    swarm.add_seed(&data, Some(256 << 10), 0);
    swarm.configure = |config| {
        config.local_networks = vec![office()];
        config.colleagues_stall_timeout = Duration::from_secs(60);
    };
    swarm.unreachable = vec![(0, 2), (1, 3), (2, 3)];
    for seed in 1..=3 {
        swarm.add_leecher(seed, None);
    }
    assert!(swarm.run(Duration::from_secs(200)));
    assert!(swarm.nodes[1..].iter().all(|n| n.storage == data));
    // The seed sends about 1.5 copies before the colleagues stall: 6 s at its cap.
    let field = swarm.nodes[3].completed_at.expect("complete").since_epoch();
    let office = swarm.nodes[2].completed_at.expect("complete").since_epoch();
    assert!(
        field < Duration::from_secs(15),
        "the field peer took {field:?}, the office {office:?}"
    );
}
