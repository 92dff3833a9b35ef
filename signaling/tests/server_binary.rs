//! The `bitfleet-server` executable: flags, logs, serving, and a clean exit on SIGTERM.
#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use bitfleet_core::metainfo::{Metainfo, TorrentBuilder};
use bitfleet_core::tracker::{AnnounceRequest, AnnounceResponse, TrackerError};
use bitfleet_core::{InfoHash, PeerId};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStderr, Command};
use tokio::time::timeout;

const SERVER: &str = env!("CARGO_BIN_EXE_bitfleet-server");
const WAIT: Duration = Duration::from_secs(10);

async fn line_containing(lines: &mut Logs, needle: &str) -> String {
    timeout(WAIT, async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains(needle) {
                return line;
            }
        }
        panic!("server logs ended before {needle:?}");
    })
    .await
    .unwrap()
}

type Logs = Lines<BufReader<ChildStderr>>;

/// Runs `command` on 127.0.0.1, port chosen by the system; returns the child (killed on drop),
/// its logs and the address it listens on.
async fn start(mut command: Command) -> (Child, Logs, String) {
    let mut child = command
        .args(["--listen", "127.0.0.1:0"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = line_containing(&mut logs, "tracker listening").await;
    let address = listening
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .unwrap()
        .to_owned();
    assert!(address.starts_with("127.0.0.1:"), "{listening}");
    (child, logs, address)
}

fn announce(info_hash: InfoHash) -> AnnounceRequest {
    AnnounceRequest {
        info_hash,
        peer_id: PeerId::generate(1),
        port: 6881,
        uploaded: 0,
        downloaded: 0,
        left: 0,
        event: None,
        compact: true,
        numwant: None,
        key: None,
        ip: None,
        tracker_id: None,
    }
}

#[tokio::test]
async fn serves_with_its_flags_and_stops_on_sigterm() {
    let allowed = InfoHash([7; 20]);
    let mut command = Command::new(SERVER);
    command
        .args(["--interval", "42", "--token", "T"])
        .args(["--allow-info-hash", &allowed.to_hex()])
        .args(["--stun", "stun:stun.example.org:3478"])
        .args(["--turn", "turn:turn.example.org:3478"])
        .args(["--turn-user", "u", "--turn-pass", "p"]);
    let (mut child, mut logs, address) = start(command).await;

    let url = format!("http://{address}/announce?token=T");
    let get = |request: AnnounceRequest| {
        let url = request.url(&url);
        async move {
            let body = reqwest::get(url).await.unwrap().bytes().await.unwrap();
            AnnounceResponse::decode(&body)
        }
    };
    assert_eq!(get(announce(allowed)).await.unwrap().interval, 42);
    assert!(matches!(
        get(announce(InfoHash([8; 20]))).await,
        Err(TrackerError::Failure(_))
    ));
    let ice = reqwest::get(format!("http://{address}/ice?token=T"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        ice,
        r#"{"iceServers":[{"urls":"stun:stun.example.org:3478"},{"urls":"turn:turn.example.org:3478","username":"u","credential":"p"}]}"#
    );

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    line_containing(&mut logs, "tracker stopped").await;
    let status = timeout(WAIT, child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "{status}");
}

/// A torrent of `name` with one piece, as `bitfleet create` would write it.
fn torrent_file(name: &str) -> Metainfo {
    let builder = TorrentBuilder {
        name: name.to_owned(),
        files: vec![(vec![], 1000)],
        piece_length: 16384,
        ..Default::default()
    };
    builder.build(vec![[0; 20]]).unwrap()
}

#[tokio::test]
async fn serves_the_page_and_a_catalog_of_torrent_files() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page");
    std::fs::create_dir_all(page.join("pkg")).unwrap();
    std::fs::write(page.join("index.html"), "the page").unwrap();
    std::fs::write(page.join("pkg/bitfleet_wasm.js"), "").unwrap();
    let torrents = dir.path().join("torrents");
    std::fs::create_dir_all(&torrents).unwrap();
    let release = torrent_file("release.iso");
    std::fs::write(torrents.join("release.iso.torrent"), release.to_bytes()).unwrap();
    std::fs::write(torrents.join("notes.txt"), "not a torrent, not listed").unwrap();

    let mut command = Command::new(SERVER);
    command
        .arg("--page")
        .arg(&page)
        .arg("--catalog")
        .arg(&torrents);
    let (_child, _logs, address) = start(command).await;
    let fetch = |path: &str| {
        let url = format!("http://{address}{path}");
        async move { reqwest::get(url).await.unwrap() }
    };
    assert_eq!(fetch("/").await.text().await.unwrap(), "the page");
    let served = fetch("/t/release.iso.torrent").await.bytes().await.unwrap();
    assert_eq!(served, release.to_bytes());

    let url = format!("http://{address}/announce");
    let seed = announce(release.info_hash).url(&url);
    reqwest::get(seed).await.unwrap();
    let catalog: serde_json::Value =
        serde_json::from_str(&fetch("/catalog").await.text().await.unwrap()).unwrap();
    assert_eq!(
        catalog,
        serde_json::json!([{
            "name": "release.iso",
            "info_hash": release.info_hash.to_hex(),
            "size": 1000,
            "torrent_url": "/t/release.iso.torrent",
            "seeds": 1,
            "peers": 0,
        }])
    );
    // Listed torrents only: no web seed without their data.
    assert_eq!(fetch("/files/release.iso").await.status(), 404);
}

#[tokio::test]
async fn refuses_a_catalog_with_a_broken_torrent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("broken.torrent"), "d4:infoi1ee").unwrap();
    let output = Command::new(SERVER)
        .args(["--listen", "127.0.0.1:0", "--catalog"])
        .arg(dir.path())
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("broken.torrent"), "{stderr}");
}

#[tokio::test]
async fn refuses_a_malformed_info_hash_flag() {
    let output = Command::new(SERVER)
        .args(["--allow-info-hash", "xyz"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("40 hex digits"), "{stderr}");
}

#[tokio::test]
async fn refuses_a_turn_server_without_credentials() {
    let output = Command::new(SERVER)
        .args(["--turn", "turn:turn.example.org:3478"])
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--turn-user"), "{stderr}");
}
