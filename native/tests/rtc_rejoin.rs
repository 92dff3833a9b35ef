//! A native seed rejoins the WebSocket tracker after the tracker process was killed and
//! restarted on the same port (backing off while it is down), and a WebRTC peer that arrives
//! only after the restart reaches it. Real processes: `bitfleet serve --no-seed` as the tracker,
//! `bitfleet seed`; the newcomer is a browser-like client in this process.

mod common;

use std::time::{Duration, Instant};

use common::{bitfleet, Payload, LIMIT};

/// The tracker stays down this long: the seed's first rejoin attempt (5 s after the socket
/// closed) finds nothing and it must back off and try again (10 s later).
const DOWN: Duration = Duration::from_secs(7);

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_rejoins_a_restarted_tracker_and_new_webrtc_peers_reach_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::new(dir.path());
    let first = payload.start_tracker();
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let torrent_arg = payload.torrent_path.to_str().expect("utf-8 path");
    let _seed = bitfleet(&["seed", "--no-lsd", "--dir", dir_arg, torrent_arg]);
    let before = payload
        .newcomer_reaches_a_peer(LIMIT)
        .await
        .expect("the seed is reachable over WebRTC before the restart");
    let seed_id = before.handshake.peer_id;
    drop(before);

    drop(first);
    tokio::time::sleep(DOWN).await;
    let restarted = Instant::now();
    let _second = payload.start_tracker();
    let after = payload
        .newcomer_reaches_a_peer(LIMIT)
        .await
        .expect("a peer arriving after the restart reaches the seed over WebRTC");
    assert_eq!(after.handshake.peer_id, seed_id, "it is the same seed");
    println!(
        "a new WebRTC peer reached the seed {:.1} s after the tracker came back",
        restarted.elapsed().as_secs_f64()
    );
}
