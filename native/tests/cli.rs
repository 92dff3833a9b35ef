//! The `bitfleet` binary against the CLI contract: real processes, real sockets on loopback.
#![cfg(unix)]

use std::fs;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_bitfleet");
const PATIENCE: Duration = Duration::from_secs(30);

/// A child whose stdout JSON lines arrive on a channel; killed if the test fails.
struct Running {
    child: Child,
    lines: mpsc::Receiver<Value>,
}

impl Running {
    fn spawn(args: &[&str]) -> Self {
        let mut child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    return;
                }
            }
        });
        Self { child, lines }
    }

    /// The next line whose `event` is `event`.
    fn wait_event(&self, event: &str) -> Value {
        loop {
            let line = self
                .lines
                .recv_timeout(PATIENCE)
                .expect("no such event in time");
            if line["event"] == event {
                return line;
            }
        }
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// Exit code and the remaining lines.
    fn finish(mut self) -> (Option<i32>, Vec<Value>) {
        let status = self.child.wait().unwrap();
        let rest = self.lines.iter().collect();
        (status.code(), rest)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

/// `root/data/share/…` (3 MiB + small files) and its .torrent at `root/share.torrent`.
/// The same payload (so the same info-hash) in every test: their downloads pass `--no-lsd`, or
/// tests running side by side would find each other on the LAN and trade.
fn share(root: &Path) -> String {
    let share = root.join("data/share");
    fs::create_dir_all(share.join("docs")).unwrap();
    let big: Vec<u8> = (0..3u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    fs::write(share.join("big.bin"), big).unwrap();
    fs::write(share.join("docs/readme.txt"), b"hello, fleet\n").unwrap();
    let torrent = root.join("share.torrent");
    let out = run(&[
        "create",
        share.to_str().unwrap(),
        "-o",
        torrent.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    torrent.to_str().unwrap().to_owned()
}

fn assert_same(a: &Path, b: &Path) {
    for name in ["big.bin", "docs/readme.txt"] {
        assert!(
            fs::read(a.join(name)).unwrap() == fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
}

#[test]
fn seed_refuses_missing_data() {
    let dir = tempfile::tempdir().unwrap();
    let torrent = share(dir.path());
    fs::remove_file(dir.path().join("data/share/docs/readme.txt")).unwrap();
    let data = dir.path().join("data");
    let out = run(&["seed", &torrent, "--dir", data.to_str().unwrap(), "--quiet"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: ") && stderr.contains("missing or wrong"),
        "{stderr}"
    );
}

#[test]
fn get_rejects_bad_sources_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.torrent");
    fs::write(&junk, b"d4:infoi3ee").unwrap();
    let out_dir = dir.path().join("out");
    for source in [
        junk.to_str().unwrap(),
        "magnet:?xt=urn:btih:nothex",
        "https://example.invalid/share.torrent",
        "/nonexistent/share.torrent",
    ] {
        let out = run(&["get", source, "--out", out_dir.to_str().unwrap(), "--quiet"]);
        assert_eq!(out.status.code(), Some(1), "{source}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("error: "));
    }
}

#[test]
fn seed_and_get_speak_the_json_contract() {
    let dir = tempfile::tempdir().unwrap();
    let torrent = share(dir.path());
    let data = dir.path().join("data");
    let mut seed = Running::spawn(&[
        "seed",
        &torrent,
        "--dir",
        data.to_str().unwrap(),
        "--bind",
        "127.0.0.1",
        "--json",
    ]);
    let started = seed.wait_event("started");
    assert_eq!(started["name"], "share");
    assert_eq!(started["total"], (3u64 << 20) + 13);
    assert_eq!(started["info_hash"].as_str().map(str::len), Some(40));
    let port = started["port"].as_u64().unwrap();
    assert_ne!(port, 0);
    seed.wait_event("complete");

    let out = dir.path().join("out");
    let peer = format!("127.0.0.1:{port}");
    let get = Running::spawn(&[
        "get",
        &torrent,
        "--no-lsd",
        "--out",
        out.to_str().unwrap(),
        "--peer",
        &peer,
        "--json",
    ]);
    let get_started = get.wait_event("started");
    assert_eq!(get_started["info_hash"], started["info_hash"]);
    let complete = get.wait_event("complete");
    assert_eq!(complete["have"], complete["pieces"]);
    for field in [
        "downloaded",
        "uploaded",
        "down_rate",
        "up_rate",
        "peers",
        "hash_failures",
        "wasted",
    ] {
        assert!(complete[field].is_u64(), "{field} missing in {complete}");
    }
    let (code, rest) = get.finish();
    assert_eq!(code, Some(0));
    assert_eq!(
        rest.last().map(|l| l["event"].clone()),
        Some("stopped".into()),
        "{rest:?}"
    );
    assert_same(&data.join("share"), &out.join("share"));

    // The same through a magnet link naming the seed (x.pe): metadata first, then the data.
    let by_magnet = dir.path().join("by-magnet");
    let magnet = format!(
        "magnet:?xt=urn:btih:{}&x.pe={peer}",
        started["info_hash"].as_str().unwrap()
    );
    let get = Running::spawn(&[
        "get",
        &magnet,
        "--no-lsd",
        "--out",
        by_magnet.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(get.wait_event("started")["name"], "share");
    get.wait_event("complete");
    let (code, _) = get.finish();
    assert_eq!(code, Some(0));
    assert_same(&data.join("share"), &by_magnet.join("share"));

    // Run again: everything is already there and checked, so it completes without a peer.
    let again = run(&[
        "get",
        &torrent,
        "--no-lsd",
        "--out",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(again.status.code(), Some(0));
    let lines = String::from_utf8_lossy(&again.stdout).lines().count();
    assert!(lines >= 3, "{}", String::from_utf8_lossy(&again.stdout));

    seed.terminate();
    let (code, rest) = seed.finish();
    assert_eq!(code, Some(0));
    let last = rest.last().expect("no stopped line");
    assert_eq!(last["event"], "stopped");
    assert!(last["uploaded"].as_u64().unwrap() >= 2 * (3 << 20));
}

#[test]
fn serve_publishes_and_seeds_through_its_tracker() {
    let dir = tempfile::tempdir().unwrap();
    share(dir.path());
    let path = dir.path().join("data/share");
    // A free port for the HTTP listener.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut serve = Running::spawn(&["serve", path.to_str().unwrap(), "--listen", &listen]);
    let url = loop {
        let line = serve
            .lines
            .recv_timeout(PATIENCE)
            .expect("serve printed no torrent URL");
        if let Some(rest) = line.as_str().and_then(|l| l.strip_prefix("torrent: ")) {
            break rest.split_whitespace().next().unwrap().to_owned();
        }
    };
    assert_eq!(url, format!("http://{listen}/t/share.torrent"));

    let out = dir.path().join("out");
    let got = run(&[
        "get",
        &url,
        "--no-lsd",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(
        got.status.success(),
        "{}",
        String::from_utf8_lossy(&got.stderr)
    );
    assert_same(&path, &out.join("share"));

    serve.terminate();
    let (code, _) = serve.finish();
    assert_eq!(code, Some(0));
}
