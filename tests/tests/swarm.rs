//! A tracker, one capped seed and five leechers as separate processes: everyone ends with the
//! same bytes, and the leechers fed each other rather than all drinking from the seed.

use bitfleet_tests::{
    bitfleet_create, bitfleet_get, bitfleet_seed, bitfleet_server, compare_trees, free_port,
    temp_dir, uneven_tree, wait_listening, write_payload, Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

const PAYLOAD: u64 = 64 << 20;
const LEECHERS: usize = 5;
/// Low enough that the seed alone would need ~80 s to serve five copies.
const SEED_UP_LIMIT: &str = "4M";

#[test]
fn five_leechers_swarm_through_the_tracker_and_trade_pieces() {
    let tmp = temp_dir("swarm").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 2024, &uneven_tree(PAYLOAD).unwrap()).unwrap();

    let tracker_port = free_port().unwrap();
    let mut server = bitfleet_server().unwrap();
    server.args(["--listen", &format!("127.0.0.1:{tracker_port}")]);
    let mut tracker = Proc::spawn("bitfleet-server", server).unwrap();
    wait_listening(&mut tracker, tracker_port, TIMEOUT_QUICK).unwrap();

    let torrent = tmp.path().join("fleet.torrent");
    let announce = format!("http://127.0.0.1:{tracker_port}/announce");
    let created =
        bitfleet_create(&data.join("fleet"), &torrent, &["--tracker", &announce]).unwrap();

    let mut seed = bitfleet_seed("seed", &torrent, &data, &["--up-limit", SEED_UP_LIMIT]).unwrap();
    let started = seed.wait_started(TIMEOUT_QUICK).unwrap();
    assert_eq!(started.info_hash, created.info_hash);
    assert_eq!(started.total, PAYLOAD);

    let outs: Vec<_> = (0..LEECHERS)
        .map(|i| tmp.path().join(format!("leecher{i}")))
        .collect();
    let mut leechers: Vec<Proc> = outs
        .iter()
        .enumerate()
        .map(|(i, out)| {
            let name = format!("leecher{i}");
            bitfleet_get(&name, &torrent, out, &[], &["--seed-after"]).unwrap()
        })
        .collect();
    for leecher in &mut leechers {
        let started = leecher.wait_started(TIMEOUT_QUICK).unwrap();
        assert_eq!(started.info_hash, created.info_hash);
    }
    for leecher in &mut leechers {
        let done = leecher.wait_complete(TIMEOUT_TRANSFER).unwrap();
        assert_eq!(done.have, done.pieces, "{}", leecher.name());
    }
    for out in &outs {
        compare_trees(&data, out).unwrap();
    }

    let (mut uploaded, mut downloaded) = (0u64, 0u64);
    for leecher in &mut leechers {
        let last = leecher.stop(TIMEOUT_QUICK).unwrap();
        assert_eq!(last.have, last.pieces, "{}", leecher.name());
        uploaded += last.uploaded;
        downloaded += last.downloaded;
    }
    assert!(
        downloaded >= LEECHERS as u64 * PAYLOAD,
        "leechers reported {downloaded} bytes downloaded for {LEECHERS} copies of {PAYLOAD}"
    );
    assert!(
        uploaded * 10 >= downloaded * 3,
        "leechers uploaded {uploaded} of their {downloaded} downloaded bytes: they barely traded"
    );
    seed.stop(TIMEOUT_QUICK).unwrap();
}
