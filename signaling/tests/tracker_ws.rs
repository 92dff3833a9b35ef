//! The WebTorrent WebSocket tracker over real sockets on loopback, spoken by hand: JSON text
//! with 20-byte values as latin1 binary strings, exactly as WebTorrent's client writes them.

mod common;

use std::time::Duration;

use bitfleet_core::tracker::ws::IceServer;
use bitfleet_core::InfoHash;
use bitfleet_signaling::{TrackerConfig, WebSocketLimits};
use common::{peer, peer_addr, TestServer};
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Bytes outside ASCII and a NUL, so the latin1 encoding is really exercised.
const HASH: [u8; 20] = [
    0x00, 0x7f, 0x80, 0xff, 0xe9, 0x22, 0x5c, 0x01, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab, 0xab,
    0xab, 0xab, 0xab, 0xab,
];
const QUIET: Duration = Duration::from_millis(300);
const PATIENCE: Duration = Duration::from_secs(5);

fn binary(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

fn peer_id(n: u8) -> String {
    binary(&[n; 20])
}

fn offer_id(n: u8) -> String {
    binary(&[0xf0 ^ n; 20])
}

fn announce(peer: u8, offers: &[u8]) -> Value {
    let offers: Vec<Value> = offers
        .iter()
        .map(|&n| {
            json!({
                "offer": {"type": "offer", "sdp": format!("v=0\r\no=offer {n}\r\n")},
                "offer_id": offer_id(n),
            })
        })
        .collect();
    json!({
        "action": "announce",
        "info_hash": binary(&HASH),
        "peer_id": peer_id(peer),
        "numwant": offers.len(),
        "uploaded": 0,
        "downloaded": 0,
        "left": 1000,
        "event": "started",
        "offers": offers,
    })
}

fn answer(peer: u8, to_peer: u8, offer: u8) -> Value {
    json!({
        "action": "announce",
        "info_hash": binary(&HASH),
        "peer_id": peer_id(peer),
        "to_peer_id": peer_id(to_peer),
        "offer_id": offer_id(offer),
        "answer": {"type": "answer", "sdp": format!("v=0\r\no=answer {offer}\r\n")},
    })
}

fn scrape() -> Value {
    json!({"action": "scrape", "info_hash": [binary(&HASH)]})
}

struct Client {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl Client {
    async fn connect(server: &TestServer) -> Self {
        Self::connect_to(&ws_url(server, "")).await.unwrap()
    }

    async fn connect_to(url: &str) -> Result<Self, tokio_tungstenite::tungstenite::Error> {
        let (socket, _) = tokio_tungstenite::connect_async(url).await?;
        Ok(Self { socket })
    }

    async fn send(&mut self, message: &Value) {
        self.send_text(message.to_string()).await;
    }

    async fn send_text(&mut self, text: String) {
        self.socket.send(Message::text(text)).await.unwrap();
    }

    async fn recv(&mut self) -> Value {
        loop {
            let message = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("no message in time")
                .expect("connection closed")
                .expect("connection failed");
            if let Message::Text(text) = message {
                return serde_json::from_str(text.as_str()).unwrap();
            }
        }
    }

    /// Announces and returns the tracker's reply to it.
    async fn announce(&mut self, message: &Value) -> Value {
        self.send(message).await;
        let reply = self.recv().await;
        assert_eq!(reply["action"], "announce", "{reply}");
        reply
    }

    async fn assert_silent(&mut self) {
        if let Ok(message) = tokio::time::timeout(QUIET, self.socket.next()).await {
            panic!("unexpected message {message:?}");
        }
    }

    /// Waits for the server to end the connection.
    async fn assert_closed(&mut self) {
        loop {
            let next = tokio::time::timeout(PATIENCE, self.socket.next())
                .await
                .expect("connection still open");
            match next {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    }

    /// Counts for `HASH` as the WebSocket scrape reports them.
    async fn scrape(&mut self) -> (u64, u64) {
        self.send(&scrape()).await;
        let reply = self.recv().await;
        assert_eq!(reply["action"], "scrape", "{reply}");
        let files = &reply["files"][binary(&HASH)];
        (
            files["complete"].as_u64().unwrap(),
            files["incomplete"].as_u64().unwrap(),
        )
    }
}

fn ws_url(server: &TestServer, query: &str) -> String {
    format!(
        "{}/announce{query}",
        server.base.replacen("http://", "ws://", 1)
    )
}

fn config_with(websocket: WebSocketLimits) -> TrackerConfig {
    TrackerConfig {
        websocket,
        ..TrackerConfig::default()
    }
}

#[tokio::test]
async fn offers_reach_other_peers_and_answers_come_back() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;

    let reply = b.announce(&announce(2, &[])).await;
    assert_eq!(reply["info_hash"], binary(&HASH));
    assert_eq!(
        (reply["complete"].as_u64(), reply["incomplete"].as_u64()),
        (Some(0), Some(1))
    );
    assert_eq!(reply["interval"], 300);

    let reply = a.announce(&announce(1, &[1, 2, 3, 4, 5])).await;
    assert_eq!(reply["incomplete"], 2);
    // One other peer: exactly one of the five offers goes to it, under A's peer id.
    let offer = b.recv().await;
    assert_eq!(offer["action"], "announce");
    assert_eq!(offer["info_hash"], binary(&HASH));
    assert_eq!(offer["peer_id"], peer_id(1));
    assert_eq!(offer["offer"]["type"], "offer");
    let forwarded = offer["offer_id"].as_str().unwrap().to_owned();
    let n = (1..=5).find(|&n| offer_id(n) == forwarded).unwrap();
    assert!(offer["offer"]["sdp"]
        .as_str()
        .unwrap()
        .contains(&format!("offer {n}")));
    b.assert_silent().await;

    b.send(&answer(2, 1, n)).await;
    let relayed = a.recv().await;
    assert_eq!(
        relayed,
        json!({
            "action": "announce",
            "info_hash": binary(&HASH),
            "peer_id": peer_id(2),
            "offer_id": offer_id(n),
            "answer": {"type": "answer", "sdp": format!("v=0\r\no=answer {n}\r\n")},
        })
    );
    // The answer is relayed only; its sender gets no reply.
    b.assert_silent().await;
    server.stop().await;
}

#[tokio::test]
async fn answers_to_offers_never_forwarded_are_dropped() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    b.announce(&announce(2, &[])).await;
    a.announce(&announce(1, &[7])).await;
    assert_eq!(b.recv().await["offer_id"], offer_id(7));

    // An offer id A never sent, and A's offer answered by a peer it was not forwarded to.
    b.send(&answer(2, 1, 8)).await;
    let mut c = Client::connect(&server).await;
    c.announce(&announce(3, &[])).await;
    c.send(&answer(3, 1, 7)).await;
    a.assert_silent().await;

    // The real answer still goes through, once.
    b.send(&answer(2, 1, 7)).await;
    assert_eq!(a.recv().await["peer_id"], peer_id(2));
    b.send(&answer(2, 1, 7)).await;
    a.assert_silent().await;
    server.stop().await;
}

#[tokio::test]
async fn another_connections_peer_id_is_refused() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.announce(&announce(1, &[])).await;
    let refusal = b.announce(&announce(1, &[])).await;
    assert_eq!(refusal["info_hash"], binary(&HASH));
    assert!(
        refusal["failure reason"]
            .as_str()
            .unwrap()
            .contains("another connection"),
        "{refusal}"
    );
    // Nor may it answer in A's name.
    b.send(&answer(1, 1, 1)).await;
    let refusal = b.recv().await;
    assert!(refusal["failure reason"].is_string(), "{refusal}");
    assert_eq!(a.scrape().await, (0, 1));
    server.stop().await;
}

#[tokio::test]
async fn malformed_messages_get_a_failure_and_the_connection_stays_usable() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut a = Client::connect(&server).await;
    for bad in [
        "{not json".to_owned(),
        json!({"action": "dance"}).to_string(),
        json!({"action": "announce", "info_hash": "too short", "peer_id": peer_id(1)}).to_string(),
        json!({"action": "announce", "info_hash": "€".repeat(20), "peer_id": peer_id(1)})
            .to_string(),
        json!({"action": "scrape", "info_hash": 42}).to_string(),
        "[]".to_owned(),
    ] {
        a.send_text(bad.clone()).await;
        let reply = a.recv().await;
        assert!(reply["failure reason"].is_string(), "{bad} -> {reply}");
    }
    a.socket.send(Message::binary(vec![1, 2, 3])).await.unwrap();
    assert!(a.recv().await["failure reason"].is_string());

    let reply = a.announce(&announce(1, &[])).await;
    assert_eq!(reply["incomplete"], 1, "{reply}");
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_closes_only_its_connection() {
    let server = TestServer::start(config_with(WebSocketLimits {
        max_message_size: 4096,
        ..WebSocketLimits::default()
    }))
    .await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.announce(&announce(1, &[])).await;
    b.announce(&announce(2, &[])).await;

    let mut huge = announce(1, &[1]);
    huge["offers"][0]["offer"]["sdp"] = json!("x".repeat(8192));
    a.send(&huge).await;
    a.assert_closed().await;

    assert_eq!(b.scrape().await, (0, 1), "A's close stopped it");
    let mut c = Client::connect(&server).await;
    assert_eq!(c.announce(&announce(3, &[])).await["incomplete"], 2);
    server.stop().await;
}

#[tokio::test]
async fn closing_the_socket_stops_its_peers() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut a = Client::connect(&server).await;
    let mut b = Client::connect(&server).await;
    a.announce(&announce(1, &[])).await;
    let mut seed = announce(2, &[]);
    seed["left"] = json!(0);
    b.announce(&seed).await;
    assert_eq!(a.scrape().await, (1, 1));

    b.socket.close(None).await.unwrap();
    drop(b);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while a.scrape().await != (0, 1) {
        assert!(tokio::time::Instant::now() < deadline, "B never left");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let http = server.scrape(&hash_query()).await;
    assert_eq!(http.files[&InfoHash(HASH)].complete, 0);
    assert_eq!(server.tracker.websocket_connections(), 1);
    server.stop().await;
}

/// The HTTP scrape query for `HASH`.
fn hash_query() -> String {
    let escaped: String = HASH.iter().map(|byte| format!("%{byte:02X}")).collect();
    format!("info_hash={escaped}")
}

#[tokio::test]
async fn http_and_websocket_peers_share_one_swarm() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let mut tcp_peer = peer(1, 100);
    tcp_peer.info_hash = InfoHash(HASH);
    server.announce(&tcp_peer).await;

    let mut browser = Client::connect(&server).await;
    let reply = browser.announce(&announce(2, &[1])).await;
    assert_eq!(reply["incomplete"], 2, "the TCP peer counts");
    // The TCP-only peer has no socket to take an offer.
    browser.assert_silent().await;

    let mut other_tcp = peer(3, 0);
    other_tcp.info_hash = InfoHash(HASH);
    let listed = server.announce(&other_tcp).await;
    assert_eq!(
        listed.peers,
        vec![peer_addr(1)],
        "WebRTC-only peers are not listed"
    );
    assert_eq!((listed.complete, listed.incomplete), (1, 2));

    // A native speaking both is one peer: announcing over WebSocket too adds nobody.
    let mut native = Client::connect(&server).await;
    let reply = native.announce(&announce(1, &[])).await;
    assert_eq!(
        (reply["complete"].as_u64(), reply["incomplete"].as_u64()),
        (Some(1), Some(2))
    );
    server.stop().await;
}

#[tokio::test]
async fn token_and_allow_list_apply() {
    let server = TestServer::start(TrackerConfig {
        require_token: Some("s3cret".into()),
        allowed_info_hashes: Some([InfoHash(HASH)].into()),
        ..TrackerConfig::default()
    })
    .await;
    assert!(Client::connect_to(&ws_url(&server, "")).await.is_err());
    assert!(Client::connect_to(&ws_url(&server, "?token=wrong"))
        .await
        .is_err());
    let mut client = Client::connect_to(&ws_url(&server, "?token=s3cret"))
        .await
        .unwrap();
    let mut other = announce(1, &[]);
    other["info_hash"] = json!(binary(&[9; 20]));
    let refusal = client.announce(&other).await;
    assert_eq!(refusal["failure reason"], "torrent is not tracked here");
    assert_eq!(client.announce(&announce(1, &[])).await["incomplete"], 1);
    server.stop().await;
}

#[tokio::test]
async fn idle_connections_are_closed_and_their_peers_stopped() {
    let server = TestServer::start(config_with(WebSocketLimits {
        idle_timeout: Duration::from_millis(300),
        ..WebSocketLimits::default()
    }))
    .await;
    let mut client = Client::connect(&server).await;
    client.announce(&announce(1, &[])).await;
    client.assert_closed().await;
    let scraped = server.scrape(&hash_query()).await;
    assert_eq!(scraped.files[&InfoHash(HASH)].incomplete, 0);
    server.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_until_one_closes() {
    let server = TestServer::start(config_with(WebSocketLimits {
        max_connections: 1,
        ..WebSocketLimits::default()
    }))
    .await;
    let mut first = Client::connect(&server).await;
    match Client::connect_to(&ws_url(&server, "")).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 503);
        }
        other => panic!("expected a 503, got {:?}", other.map(|_| ())),
    }
    first.socket.close(None).await.unwrap();
    first.assert_closed().await;
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while Client::connect_to(&ws_url(&server, "")).await.is_err() {
        assert!(tokio::time::Instant::now() < deadline, "slot never freed");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.stop().await;
}

#[tokio::test]
async fn ice_servers_are_served_as_an_rtc_configuration() {
    let server = TestServer::start(TrackerConfig {
        ice_servers: vec![
            IceServer {
                urls: "stun:stun.example.org:3478".into(),
                username: None,
                credential: None,
            },
            IceServer {
                urls: "turn:turn.example.org:3478".into(),
                username: Some("user".into()),
                credential: Some("pass".into()),
            },
        ],
        ..TrackerConfig::default()
    })
    .await;
    let body: Value = serde_json::from_slice(&server.get("/ice").await).unwrap();
    assert_eq!(
        body,
        json!({"iceServers": [
            {"urls": "stun:stun.example.org:3478"},
            {"urls": "turn:turn.example.org:3478", "username": "user", "credential": "pass"},
        ]})
    );
    server.stop().await;
}
