//! A native seed rejoins the WebSocket tracker after the tracker process was killed and
//! restarted on the same port (backing off while it is down), and a WebRTC peer that arrives
//! only after the restart reaches it. Real processes: `bitfleet serve --no-seed` as the tracker,
//! `bitfleet seed`; the newcomer is a browser-like client in this process. ICE ignores loopback,
//! so this needs one other address (any machine's NIC, or the test namespace's veth).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitfleet::rtc::{ws_tracker_url, Rtc, RtcAnnouncer, RtcPeer};
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::tracker::AnnounceEvent;
use bitfleet_core::PeerId;
use tokio::sync::mpsc;

const BIN: &str = env!("CARGO_BIN_EXE_bitfleet");
/// The tracker stays down this long: the seed's first rejoin attempt (5 s after the socket
/// closed) finds nothing and it must back off and try again.
const DOWN: Duration = Duration::from_secs(7);
/// Rejoin attempts at 5 s, then 10 s more: the seed is back by 15 s after the kill.
const LIMIT: Duration = Duration::from_secs(40);
const BROWSER: PeerId = PeerId(*b"-BW0100-rejoinrejoin");

/// Kills its process when dropped, so a failing test leaves nothing running.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn bitfleet(args: &[&str]) -> Running {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("bitfleet starts");
    Running(child)
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

fn tracker(addr: SocketAddr, publish: &Path) -> Running {
    let listen = addr.to_string();
    let publish = publish.to_str().expect("utf-8 path");
    let tracker = bitfleet(&["serve", "--no-seed", "--listen", &listen, publish]);
    let deadline = Instant::now() + LIMIT;
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "the tracker never listened");
        std::thread::sleep(Duration::from_millis(50));
    }
    tracker
}

/// Announces as a newcomer until a connection with the seed comes up.
async fn reach_seed(addr: SocketAddr, torrent: &Metainfo) -> RtcPeer {
    let urls = ws_tracker_url(&format!("http://{addr}/announce")).expect("ws url");
    let rtc = Arc::new(Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    let (peers, mut came_up) = mpsc::channel(4);
    let client = RtcAnnouncer::start(rtc, urls, torrent.info_hash, BROWSER, peers);
    let left = torrent.info.total_length();
    client.announce(Some(AnnounceEvent::Started), left);
    loop {
        // Offers reach whoever is in the swarm when we announce: again until the seed is.
        match tokio::time::timeout(Duration::from_secs(3), came_up.recv()).await {
            Ok(peer) => return peer.expect("the client runs"),
            Err(_) => client.announce(None, left),
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_seed_rejoins_a_restarted_tracker_and_new_webrtc_peers_reach_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("payload.bin");
    let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(&data, &bytes).expect("payload");
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let torrent_path = dir.path().join("payload.torrent");
    let announce = format!("http://{addr}/announce");
    let created = Command::new(BIN)
        .args(["create", "--tracker", &announce, "-o"])
        .stdout(Stdio::null())
        .arg(&torrent_path)
        .arg(&data)
        .status()
        .expect("bitfleet create");
    assert!(created.success());
    let torrent =
        Metainfo::from_bytes(&std::fs::read(&torrent_path).expect("torrent")).expect("metainfo");

    let first = tracker(addr, &data);
    let dir_arg = dir.path().to_str().expect("utf-8 path");
    let torrent_arg = torrent_path.to_str().expect("utf-8 path");
    let _seed = bitfleet(&["seed", "--no-lsd", "--dir", dir_arg, torrent_arg]);
    // The seed is in the WebRTC swarm before the restart.
    let before = tokio::time::timeout(LIMIT, reach_seed(addr, &torrent))
        .await
        .expect("the seed is reachable over WebRTC before the restart");
    let seed_id = before.handshake.peer_id;
    drop(before);

    drop(first);
    tokio::time::sleep(DOWN).await;
    let restarted = Instant::now();
    let _second = tracker(addr, &data);
    let after = tokio::time::timeout(LIMIT, reach_seed(addr, &torrent))
        .await
        .expect("a peer arriving after the restart reaches the seed over WebRTC");
    assert_eq!(after.handshake.peer_id, seed_id, "it is the same seed");
    println!(
        "a new WebRTC peer reached the seed {:.1} s after the tracker came back",
        restarted.elapsed().as_secs_f64()
    );
}
