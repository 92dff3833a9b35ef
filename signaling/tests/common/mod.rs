//! A real tracker on a loopback port and a real HTTP client talking to it.

use std::net::SocketAddr;
use std::sync::Arc;

use bitfleet_core::tracker::{
    AnnounceEvent, AnnounceRequest, AnnounceResponse, ScrapeResponse, TrackerError,
};
use bitfleet_core::{InfoHash, PeerId};
use bitfleet_signaling::{serve, Site, Tracker, TrackerConfig};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const HASH: InfoHash = InfoHash([0xab; 20]);

pub struct TestServer {
    pub base: String,
    pub tracker: Arc<Tracker>,
    client: reqwest::Client,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl TestServer {
    pub async fn start(config: TrackerConfig) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        let tracker = Arc::new(Tracker::new(config));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, tracker.clone(), Site::default(), async {
            let _ = stopped.await;
        }));
        Self {
            base: format!("http://{addr}"),
            tracker,
            client: reqwest::Client::new(),
            stop: Some(stop),
            task,
        }
    }

    /// GETs `path_and_query`; trackers answer everything, failures included, with 200.
    pub async fn get(&self, path_and_query: &str) -> Vec<u8> {
        let (status, body) = self.get_with_status(path_and_query).await;
        assert_eq!(status, 200, "{path_and_query}");
        body
    }

    pub async fn get_with_status(&self, path_and_query: &str) -> (u16, Vec<u8>) {
        let response = self
            .client
            .get(format!("{}{path_and_query}", self.base))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.bytes().await.unwrap().to_vec())
    }

    pub fn announce_url(&self) -> String {
        format!("{}/announce", self.base)
    }

    /// Sends `request` to `announce_url` (which may carry a token) and decodes the reply.
    pub async fn announce_to(
        &self,
        announce_url: &str,
        request: &AnnounceRequest,
    ) -> Result<AnnounceResponse, TrackerError> {
        let path = request
            .url(announce_url)
            .strip_prefix(&self.base)
            .unwrap()
            .to_owned();
        AnnounceResponse::decode(&self.get(&path).await)
    }

    pub async fn announce(&self, request: &AnnounceRequest) -> AnnounceResponse {
        self.announce_to(&self.announce_url(), request)
            .await
            .unwrap()
    }

    pub async fn try_scrape(&self, query: &str) -> Result<ScrapeResponse, TrackerError> {
        ScrapeResponse::decode(&self.get(&format!("/scrape?{query}")).await)
    }

    pub async fn scrape(&self, query: &str) -> ScrapeResponse {
        self.try_scrape(query).await.unwrap()
    }

    /// Stops the server gracefully and checks it ended cleanly.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// Peer `n` of a test swarm: listening on port `7000 + n` of loopback, where the tracker sees it.
pub fn peer(n: u8, left: u64) -> AnnounceRequest {
    AnnounceRequest {
        info_hash: HASH,
        peer_id: PeerId([n; 20]),
        port: peer_port(n),
        uploaded: 0,
        downloaded: 0,
        left,
        event: Some(AnnounceEvent::Started),
        compact: true,
        numwant: None,
        key: None,
        ip: None,
        tracker_id: None,
    }
}

pub fn peer_port(n: u8) -> u16 {
    7000 + u16::from(n)
}

pub fn peer_addr(n: u8) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], peer_port(n)))
}
