//! `bitfleet daemon` puts its torrents in the browsers' swarm as `seed`/`get` do: a browser-like
//! newcomer reaches a torrent the daemon seeds over WebRTC, and with `--no-webrtc` it does not.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{bitfleet, Payload, Running, BIN, LIMIT};

/// Long enough for a newcomer to reach a seed that is there (about a second here).
const UNREACHED_WAIT: Duration = Duration::from_secs(10);

/// A daemon seeding the payload (it checks the data already in the folder).
fn daemon_seeding(payload: &Payload, state: &Path, extra: &[&str]) -> Running {
    let state_arg = state.to_str().expect("utf-8 path");
    let mut args = vec!["daemon", "--state-dir", state_arg, "--api-port", "0"];
    args.extend_from_slice(extra);
    let daemon = bitfleet(&args);
    let out = payload.data.parent().expect("the payload's folder");
    let deadline = Instant::now() + LIMIT;
    // `add` fails until the daemon has published its API address.
    loop {
        let added = Command::new(BIN)
            .arg("add")
            .arg(&payload.torrent_path)
            .arg("--out")
            .arg(out)
            .arg("--state-dir")
            .arg(state)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("bitfleet add");
        if added.success() {
            return daemon;
        }
        assert!(
            Instant::now() < deadline,
            "the daemon never took the torrent"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_seeds_to_browsers_over_webrtc() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::new(dir.path());
    let _tracker = payload.start_tracker();
    let _daemon = daemon_seeding(&payload, &dir.path().join("state"), &["--no-lsd"]);
    let peer = payload
        .newcomer_reaches_a_peer(LIMIT)
        .await
        .expect("the daemon's torrent is reachable over WebRTC");
    assert!(!peer.handshake.peer_id.is_browser(), "the daemon answered");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_with_no_webrtc_stays_out_of_the_browsers_swarm() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = Payload::new(dir.path());
    let _tracker = payload.start_tracker();
    let state = dir.path().join("state");
    let _daemon = daemon_seeding(&payload, &state, &["--no-lsd", "--no-webrtc"]);
    let reached = payload.newcomer_reaches_a_peer(UNREACHED_WAIT).await;
    assert!(
        reached.is_none(),
        "a --no-webrtc daemon answered over WebRTC"
    );
}
