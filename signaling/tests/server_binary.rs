//! The `bitfleet-server` executable: flags, logs, serving, and a clean exit on SIGTERM.
#![cfg(unix)]

use std::process::Stdio;
use std::time::Duration;

use bitfleet_core::tracker::{AnnounceRequest, AnnounceResponse, TrackerError};
use bitfleet_core::{InfoHash, PeerId};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{ChildStderr, Command};
use tokio::time::timeout;

const SERVER: &str = env!("CARGO_BIN_EXE_bitfleet-server");
const WAIT: Duration = Duration::from_secs(10);

async fn line_containing(lines: &mut Lines<BufReader<ChildStderr>>, needle: &str) -> String {
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
    let mut child = Command::new(SERVER)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--interval",
            "42",
            "--token",
            "T",
        ])
        .args(["--allow-info-hash", &allowed.to_hex()])
        .args(["--stun", "stun:stun.example.org:3478"])
        .args(["--turn", "turn:turn.example.org:3478"])
        .args(["--turn-user", "u", "--turn-pass", "p"])
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = line_containing(&mut logs, "tracker listening").await;
    let address = listening
        .split_whitespace()
        .find_map(|field| field.strip_prefix("address="))
        .unwrap();
    assert!(address.starts_with("127.0.0.1:"), "{listening}");

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
