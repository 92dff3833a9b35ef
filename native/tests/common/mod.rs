//! Real processes for the WebRTC swarm tests: a payload and its torrent, the tracker
//! (`bitfleet serve --no-seed`), and a browser-like newcomer in the test's process that announces
//! over the WebSocket tracker until a connection comes up. ICE ignores loopback, so these need
//! one other address (any machine's NIC, or the test namespace's veth).

use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bitfleet::rtc::{ws_tracker_url, Rtc, RtcAnnouncer, RtcPeer};
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::tracker::AnnounceEvent;
use bitfleet_core::PeerId;
use tokio::sync::mpsc;

pub const BIN: &str = env!("CARGO_BIN_EXE_bitfleet");
pub const LIMIT: Duration = Duration::from_secs(40);
const BROWSER: PeerId = PeerId(*b"-BW0100-newcomer0000");

/// Kills its process when dropped (SIGKILL), so a failing test leaves nothing running.
pub struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn bitfleet(args: &[&str]) -> Running {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("bitfleet starts");
    Running(child)
}

/// A complete payload in `dir` and its torrent, announcing to a tracker at a free port.
pub struct Payload {
    pub data: PathBuf,
    pub torrent_path: PathBuf,
    pub torrent: Metainfo,
    pub tracker: SocketAddr,
}

impl Payload {
    pub fn new(dir: &Path) -> Self {
        let data = dir.join("payload.bin");
        let bytes: Vec<u8> = (0..300_000u32).map(|i| (i % 253) as u8).collect();
        std::fs::write(&data, &bytes).expect("payload");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port")
            .port();
        let tracker = SocketAddr::from(([127, 0, 0, 1], port));
        let torrent_path = dir.join("payload.torrent");
        let created = Command::new(BIN)
            .args([
                "create",
                "--tracker",
                &format!("http://{tracker}/announce"),
                "-o",
            ])
            .arg(&torrent_path)
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("bitfleet create");
        assert!(created.success());
        let torrent = std::fs::read(&torrent_path).expect("torrent");
        Self {
            torrent: Metainfo::from_bytes(&torrent).expect("metainfo"),
            data,
            torrent_path,
            tracker,
        }
    }

    /// Starts the tracker and waits until it listens.
    pub fn start_tracker(&self) -> Running {
        let listen = self.tracker.to_string();
        let publish = self.data.to_str().expect("utf-8 path");
        let tracker = bitfleet(&["serve", "--no-seed", "--listen", &listen, publish]);
        let deadline = Instant::now() + LIMIT;
        while std::net::TcpStream::connect(self.tracker).is_err() {
            assert!(Instant::now() < deadline, "the tracker never listened");
            std::thread::sleep(Duration::from_millis(50));
        }
        tracker
    }

    /// A browser-like newcomer announcing (again every few seconds: offers reach only who is
    /// in the swarm at the time) until a connection comes up; `None` when none did in `wait`.
    pub async fn newcomer_reaches_a_peer(&self, wait: Duration) -> Option<RtcPeer> {
        let urls = ws_tracker_url(&format!("http://{}/announce", self.tracker)).expect("ws url");
        let rtc = Arc::new(Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
        let (peers, mut came_up) = mpsc::channel(4);
        let client = RtcAnnouncer::start(rtc, urls, self.torrent.info_hash, BROWSER, peers);
        let left = self.torrent.info.total_length();
        client.announce(Some(AnnounceEvent::Started), left);
        let reached = async {
            loop {
                match tokio::time::timeout(Duration::from_secs(3), came_up.recv()).await {
                    Ok(peer) => return peer.expect("the client runs"),
                    Err(_) => client.announce(None, left),
                }
            }
        };
        tokio::time::timeout(wait, reached).await.ok()
    }
}
