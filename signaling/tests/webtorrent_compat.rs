//! WebTorrent's own tracker client (the `bittorrent-tracker` npm package, with a real WebRTC
//! stack from `@roamhq/wrtc`) against our tracker: two node processes announce, the tracker
//! relays their offers and answers, and they open a WebRTC data channel to each other.
//!
//! Needs `node` and `npm`; the packages are installed into `tests/webtorrent/node_modules` on
//! first run (`npm install --ignore-scripts`: no native build, no download outside npm). The
//! test is skipped, saying so, only when `node` is missing.

#[allow(dead_code)] // Helpers shared by all tests; this one only needs the server.
mod common;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use bitfleet_signaling::TrackerConfig;
use common::TestServer;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

const A: &str = "2d5757303030302d616161616161616161616161";
const B: &str = "2d5757303030302d626262626262626262626262";
const PATIENCE: Duration = Duration::from_secs(60);

fn package_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/webtorrent")
}

async fn node_available() -> bool {
    Command::new("node")
        .arg("--version")
        .output()
        .await
        .is_ok_and(|output| output.status.success())
}

async fn install_packages() {
    if package_dir()
        .join("node_modules/bittorrent-tracker")
        .exists()
    {
        return;
    }
    let status = Command::new("npm")
        .args(["install", "--ignore-scripts", "--no-audit", "--no-fund"])
        .current_dir(package_dir())
        .status()
        .await
        .expect("npm is needed next to node");
    assert!(
        status.success(),
        "npm install failed in {:?}",
        package_dir()
    );
}

fn spawn_peer(announce_url: &str, name: &str, peer_id: &str) -> Child {
    Command::new("node")
        .arg("peer.mjs")
        .args([announce_url, name, peer_id])
        .current_dir(package_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs")
}

/// The peer's report, printed once it has connected and scraped.
async fn report(peer: &mut Child) -> Value {
    let stdout = peer.stdout.take().unwrap();
    let mut line = String::new();
    tokio::time::timeout(PATIENCE, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("peer reported in time")
        .unwrap();
    serde_json::from_str(&line).unwrap_or_else(|_| panic!("bad report {line:?}"))
}

#[tokio::test]
async fn webtorrent_peers_connect_over_webrtc_through_the_tracker() {
    if !node_available().await {
        eprintln!("SKIPPED: node is not installed");
        return;
    }
    install_packages().await;
    let server = TestServer::start(TrackerConfig::default()).await;
    let url = format!("{}/announce", server.base.replacen("http://", "ws://", 1));

    let mut a = spawn_peer(&url, "a", A);
    // A's first announce has nobody to offer to; B's then reaches A, whose answer goes back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut b = spawn_peer(&url, "b", B);
    let (report_a, report_b) = tokio::join!(report(&mut a), report(&mut b));

    for (report, other, name) in [(&report_a, B, "b"), (&report_b, A, "a")] {
        assert_eq!(report.get("error"), None, "{report}");
        assert_eq!(report["warnings"], json!([]), "{report}");
        assert!(
            report["connected"]
                .as_array()
                .unwrap()
                .contains(&json!(other)),
            "{report}"
        );
        assert_eq!(
            report["received"][0],
            format!("hello from {name}"),
            "{report}"
        );
        assert_eq!(
            report["scrape"],
            json!({"complete": 0, "incomplete": 2}),
            "{report}"
        );
    }

    // Closing stdin makes each peer leave (WebTorrent announces `stopped`, then closes).
    drop(a.stdin.take());
    drop(b.stdin.take());
    for peer in [&mut a, &mut b] {
        let status = tokio::time::timeout(PATIENCE, peer.wait())
            .await
            .expect("peer exited")
            .unwrap();
        assert!(status.success());
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !server.tracker.stats("").unwrap().swarms.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "peers never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}
