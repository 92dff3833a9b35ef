//! Two peers offering each other at the same moment, through the real WebSocket tracker: the
//! native's client (`RtcAnnouncer`) must keep exactly the connection the shared rule picks
//! (`PeerId::keeps_own_connection_to`: the one started by the smaller id), so that the other end,
//! applying the same rule, keeps the same one. The other end is the test itself, a "browser"
//! speaking the tracker protocol with webrtc-rs connections: it sends its messages in a chosen
//! order on its one socket, and the tracker relays them to the native in that order. ICE ignores
//! loopback, so this needs one other address (any machine's NIC, or the test namespace's veth).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use bitfleet::rtc::{ws_tracker_url, Answering, Offering, Rtc, RtcAnnouncer, RtcPeer, Slots};
use bitfleet_core::tracker::ws::{
    ClientMessage, OfferId, SessionDescription, TrackerMessage, WsAnnounce, WsAnswer, WsOffer,
};
use bitfleet_core::tracker::AnnounceEvent;
use bitfleet_core::{InfoHash, PeerId};
use bitfleet_signaling::{Site, Tracker, TrackerConfig};
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const LIMIT: Duration = Duration::from_secs(30);
/// How long an answer the native should not send gets to arrive anyway.
const NO_ANSWER_WAIT: Duration = Duration::from_secs(5);
const HASH: InfoHash = InfoHash([9; 20]);
const NATIVE: PeerId = PeerId(*b"-BF0100-simultaneous");
const BROWSER: PeerId = PeerId(*b"-BW0100-simultaneous");

/// The tracker, in this process; its swarm counts tell who joined.
async fn tracker() -> (Arc<Tracker>, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("tracker port");
    let addr = listener.local_addr().expect("tracker address");
    let tracker = Arc::new(Tracker::new(TrackerConfig::default()));
    let serving = bitfleet_signaling::serve(
        listener,
        tracker.clone(),
        Site::default(),
        std::future::pending(),
    );
    tokio::spawn(serving);
    (tracker, addr)
}

async fn swarm_holds(tracker: &Tracker, peers: u32) {
    let counted = async {
        while tracker.swarm_counts(&[HASH]).first().map(|s| s.incomplete) != Some(peers) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(LIMIT, counted)
        .await
        .unwrap_or_else(|_| panic!("the swarm never held {peers} peers"));
}

/// The native side: its client of the WebSocket tracker and the connections it brings up.
fn native(tracker: SocketAddr) -> (RtcAnnouncer, mpsc::Receiver<RtcPeer>) {
    let urls = ws_tracker_url(&format!("http://{tracker}/announce")).expect("ws url");
    let rtc = Arc::new(Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)));
    let (peers, came_up) = mpsc::channel(8);
    let client = RtcAnnouncer::start(rtc, urls, HASH, NATIVE, peers);
    (client, came_up)
}

/// The test's own browser: one tracker socket, webrtc-rs connections.
struct Browser {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    rtc: Rtc,
    slots: Slots,
}

impl Browser {
    async fn connect(tracker: SocketAddr) -> Self {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{tracker}/announce"))
            .await
            .expect("the browser reaches the tracker");
        Self {
            ws,
            rtc: Rtc::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            slots: Slots::default(),
        }
    }

    async fn offering(&self) -> Offering {
        Offering::new(&self.rtc, &[], self.slots.take())
            .await
            .expect("offer")
    }

    /// Announces with these offers (and joins the swarm with the first announce).
    async fn announce(&mut self, offers: Vec<(OfferId, SessionDescription)>) {
        let announce = WsAnnounce {
            info_hash: HASH,
            peer_id: BROWSER,
            event: Some(AnnounceEvent::Started),
            left: Some(1),
            numwant: Some(offers.len() as u32),
            offers: offers
                .into_iter()
                .map(|(offer_id, offer)| WsOffer { offer_id, offer })
                .collect(),
            answer: None,
        };
        self.send(announce).await;
    }

    /// Answers the native's offer: the connection it started.
    async fn answer(&mut self, offer_id: OfferId, offer: SessionDescription) -> Answering {
        let answering = Answering::new(&self.rtc, &[], offer, self.slots.take())
            .await
            .expect("answer");
        let reply = WsAnnounce {
            info_hash: HASH,
            peer_id: BROWSER,
            event: None,
            left: None,
            numwant: None,
            offers: Vec::new(),
            answer: Some(WsAnswer {
                to_peer_id: NATIVE,
                offer_id,
                answer: answering.answer.clone(),
            }),
        };
        self.send(reply).await;
        answering
    }

    async fn send(&mut self, announce: WsAnnounce) {
        let text = ClientMessage::Announce(announce).to_json();
        self.ws
            .send(Message::text(text))
            .await
            .expect("send to the tracker");
    }

    /// The next offer or answer relayed to us; `None` when none came in `wait`.
    async fn relayed(&mut self, wait: Duration) -> Option<TrackerMessage> {
        let next = async {
            loop {
                let message = self.ws.next().await?.ok()?;
                let Message::Text(text) = message else {
                    continue;
                };
                let message = TrackerMessage::parse(&text).expect("tracker message");
                if matches!(
                    message,
                    TrackerMessage::Offer { .. } | TrackerMessage::Answer { .. }
                ) {
                    return Some(message);
                }
            }
        };
        tokio::time::timeout(wait, next).await.ok().flatten()
    }

    async fn offer_from_native(&mut self) -> (OfferId, SessionDescription) {
        match self.relayed(LIMIT).await {
            Some(TrackerMessage::Offer {
                peer_id,
                offer_id,
                offer,
                ..
            }) if peer_id == NATIVE => (offer_id, offer),
            other => panic!("expected the native's offer, got {other:?}"),
        }
    }
}

/// The one connection each end kept carries bytes both ways.
async fn carries_bytes(mut native: RtcPeer, mut browser: RtcPeer) {
    native
        .writer
        .write_all(b"from the native")
        .await
        .expect("write");
    browser
        .writer
        .write_all(b"from the browser")
        .await
        .expect("write");
    let (mut at_browser, mut at_native) = ([0; 15], [0; 16]);
    let read = async {
        browser.reader.read_exact(&mut at_browser).await?;
        native.reader.read_exact(&mut at_native).await
    };
    tokio::time::timeout(LIMIT, read)
        .await
        .expect("bytes in time")
        .expect("read");
    assert_eq!(&at_browser, b"from the native");
    assert_eq!(&at_native, b"from the browser");
}

/// The native takes the browser's offer first, then the browser's answer to its own offer:
/// it has started answering — and must give that connection up for its own.
#[tokio::test(flavor = "multi_thread")]
async fn offer_then_answer_the_native_keeps_its_own_connection() {
    assert!(NATIVE.keeps_own_connection_to(&BROWSER));
    let (tracker, addr) = tracker().await;
    let (native, mut came_up) = native(addr);
    native.announce(Some(AnnounceEvent::Started), 1);
    swarm_holds(&tracker, 1).await;

    let mut browser = Browser::connect(addr).await;
    let ours = browser.offering().await;
    let our_offer_id = OfferId([1; 20]);
    browser
        .announce(vec![(our_offer_id, ours.offer.clone())])
        .await;
    swarm_holds(&tracker, 2).await;
    // The native answers our offer…
    let answer_to_ours = match browser.relayed(LIMIT).await {
        Some(TrackerMessage::Answer {
            offer_id, answer, ..
        }) if offer_id == our_offer_id => answer,
        other => panic!("expected the native's answer to our offer, got {other:?}"),
    };
    // …and offers to us, which we answer: by the rule the native gives up the one we started.
    native.announce(None, 1);
    let (offer_id, offer) = browser.offer_from_native().await;
    let theirs = browser.answer(offer_id, offer).await;

    let (kept, given_up) = tokio::join!(
        tokio::time::timeout(LIMIT, theirs.complete(HASH, BROWSER)),
        tokio::time::timeout(NO_ANSWER_WAIT, ours.complete(answer_to_ours, HASH, BROWSER)),
    );
    let kept = kept.expect("in time").expect("the native's connection up");
    assert!(
        !matches!(given_up, Ok(Ok(_))),
        "the connection we started came up too: the native kept both"
    );
    let at_native = came_up.recv().await.expect("the native's peer");
    assert!(
        at_native.outgoing,
        "the native kept the incoming connection"
    );
    assert_eq!(at_native.handshake.peer_id, BROWSER);
    assert!(came_up.try_recv().is_err(), "a second connection came up");
    carries_bytes(at_native, kept).await;
}

/// The browser's answer to the native's offer reaches the native before the browser's offer:
/// the native's own connection is under way and wins, so it leaves the offer unanswered.
#[tokio::test(flavor = "multi_thread")]
async fn answer_then_offer_the_native_leaves_the_offer_unanswered() {
    let (tracker, addr) = tracker().await;
    let (native, mut came_up) = native(addr);
    native.announce(Some(AnnounceEvent::Started), 1);
    swarm_holds(&tracker, 1).await;

    let mut browser = Browser::connect(addr).await;
    browser.announce(Vec::new()).await;
    swarm_holds(&tracker, 2).await;
    native.announce(None, 1);
    let (offer_id, offer) = browser.offer_from_native().await;
    // One socket, relayed in order: the native reads our answer, then our offer.
    let theirs = browser.answer(offer_id, offer).await;
    let ours = browser.offering().await;
    browser
        .announce(vec![(OfferId([2; 20]), ours.offer.clone())])
        .await;

    if let Some(message) = browser.relayed(NO_ANSWER_WAIT).await {
        panic!("the native answered although its own connection wins: {message:?}");
    }
    let kept = tokio::time::timeout(LIMIT, theirs.complete(HASH, BROWSER))
        .await
        .expect("in time")
        .expect("the native's connection up");
    let at_native = came_up.recv().await.expect("the native's peer");
    assert!(at_native.outgoing);
    assert_eq!(at_native.handshake.peer_id, BROWSER);
    carries_bytes(at_native, kept).await;
}
