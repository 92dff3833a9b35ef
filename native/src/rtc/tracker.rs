//! A torrent's client of the WebSocket tracker (WebTorrent's protocol): each announce carries
//! fresh offers the tracker hands to other peers of the swarm; their answers come back by offer
//! id, and offers relayed from others are answered. Connections that come up are handed to the
//! torrent like accepted TCP peers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::tracker::ws::{
    ClientMessage, IceConfig, IceServer, OfferId, SessionDescription, TrackerMessage, WsAnnounce,
    WsAnswer, WsOffer,
};
use bitfleet_core::tracker::AnnounceEvent;
use bitfleet_core::{InfoHash, PeerId};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{AbortHandle, JoinSet};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::session::clock::sleep_until;

use super::underway::{Underway, Verdict};
use super::{Answering, Offering, Rtc, RtcError, RtcPeer, Slots};

/// Offers per announce, as WebTorrent makes them.
const OFFERS_PER_ANNOUNCE: usize = 5;
/// WebRTC connections per torrent, signaling ones included.
const MAX_CONNECTIONS: usize = 30;
/// An offer nobody answered, or a connection signaling never brought up, is dropped after this.
const SIGNALING_TIMEOUT: Duration = Duration::from_secs(50);
/// Limit on reaching the tracker, and on each message sent to it.
const TRACKER_TIMEOUT: Duration = Duration::from_secs(10);
/// Tracker messages are small JSON documents; SDP of a few offers is a few KiB each.
const MAX_TRACKER_MESSAGE: usize = 1 << 20;
/// Announces waiting for the client (they come once an interval; a full queue drops one).
const COMMAND_QUEUE: usize = 8;
/// First and longest wait before rejoining through a socket that closed between announces:
/// without it no offer would reach us until the torrent's next announce, minutes away.
const REJOIN_MIN: Duration = Duration::from_secs(5);
const REJOIN_MAX: Duration = Duration::from_secs(60);

/// The WebSocket tracker (`ws://HOST/announce`) and its ICE servers (`http://HOST/ice`) of an
/// http announce URL; a query (a token) is kept on both.
pub fn ws_tracker_url(announce: &str) -> Option<(String, String)> {
    let rest = announce.strip_prefix("http://")?;
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (rest, String::new()),
    };
    let base = path.strip_suffix("/announce")?;
    Some((
        format!("ws://{base}/announce{query}"),
        format!("http://{base}/ice{query}"),
    ))
}

/// The torrent's side: announces go to the client task, which ends when this is dropped (after
/// sending what it was given).
pub struct RtcAnnouncer {
    commands: mpsc::Sender<(Option<AnnounceEvent>, u64)>,
}

impl RtcAnnouncer {
    /// Starts the client; `peers` receives every connection that came up.
    pub fn start<E>(
        rtc: Arc<Rtc>,
        urls: (String, String),
        info_hash: InfoHash,
        peer_id: PeerId,
        peers: mpsc::Sender<E>,
    ) -> Self
    where
        E: From<RtcPeer> + Send + 'static,
    {
        let (commands, queue) = mpsc::channel(COMMAND_QUEUE);
        let (url, ice_url) = urls;
        let client = Client {
            rtc,
            url,
            info_hash,
            peer_id,
            peers,
            ice: Arc::new(Vec::new()),
            slots: Slots::default(),
            ws: None,
            offers: HashMap::new(),
            underway: Underway::new(peer_id),
            jobs: JoinSet::new(),
            connecting: JoinSet::new(),
            left: None,
            rejoin: None,
            rejoin_delay: REJOIN_MIN,
            rng: fastrand::Rng::with_seed(crate::session::random_seed()),
        };
        tokio::spawn(client.run(ice_url, queue));
        Self { commands }
    }

    /// Announces with `left` bytes missing (and offers, unless stopping).
    pub fn announce(&self, event: Option<AnnounceEvent>, left: u64) {
        if self.commands.try_send((event, left)).is_err() {
            tracing::debug!("WebSocket announce dropped: the client is busy");
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What signaling work in flight ends in.
enum Job {
    Offered {
        event: Option<AnnounceEvent>,
        left: u64,
        made: Vec<Offering>,
    },
    Answered {
        to: PeerId,
        offer_id: OfferId,
        answering: Answering,
    },
    Failed(RtcError),
}

/// One of our offers waiting for its answer: where to hand it, and the task bringing the
/// connection up once it has.
struct Waiting {
    answer: oneshot::Sender<SessionDescription>,
    task: AbortHandle,
}

struct Client<E> {
    rtc: Arc<Rtc>,
    url: String,
    info_hash: InfoHash,
    peer_id: PeerId,
    peers: mpsc::Sender<E>,
    ice: Arc<Vec<IceServer>>,
    slots: Slots,
    ws: Option<Socket>,
    /// Our offers waiting for an answer; a sender is closed once its offer expired.
    offers: HashMap<OfferId, Waiting>,
    /// Connections being set up, by peer: one per peer, the same one at both ends.
    underway: Underway,
    jobs: JoinSet<Job>,
    /// Connections between their answer and the handshake; aborted with the client.
    connecting: JoinSet<()>,
    /// Bytes missing as last announced; `None` before the first announce or after `stopped`.
    left: Option<u64>,
    /// When to announce again after the socket closed, and the wait after the next close.
    rejoin: Option<tokio::time::Instant>,
    rejoin_delay: Duration,
    rng: fastrand::Rng,
}

impl<E: From<RtcPeer> + Send + 'static> Client<E> {
    async fn run(
        mut self,
        ice_url: String,
        mut commands: mpsc::Receiver<(Option<AnnounceEvent>, u64)>,
    ) {
        self.ice = Arc::new(fetch_ice(&ice_url).await);
        loop {
            tokio::select! {
                command = commands.recv() => match command {
                    Some((event, left)) => self.announce(event, left).await,
                    None => break,
                },
                message = next_message(&mut self.ws) => self.tracker_message(message).await,
                () = sleep_until(self.rejoin) => {
                    self.rejoin = None;
                    if let Some(left) = self.left {
                        self.announce(None, left).await;
                    }
                }
                Some(done) = self.jobs.join_next_with_id() => {
                    let id = match done {
                        Ok((id, job)) => {
                            self.job_done(job).await;
                            id
                        }
                        Err(e) => e.id(),
                    };
                    self.underway.ended(id);
                }
                Some(done) = self.connecting.join_next_with_id() => {
                    self.underway.ended(done.map_or_else(|e| e.id(), |(id, ())| id));
                }
            }
        }
        if let Some(mut ws) = self.ws.take() {
            let _ = tokio::time::timeout(TRACKER_TIMEOUT, ws.close(None)).await;
        }
    }

    async fn announce(&mut self, event: Option<AnnounceEvent>, left: u64) {
        self.left = (event != Some(AnnounceEvent::Stopped)).then_some(left);
        self.offers.retain(|_, waiting| !waiting.answer.is_closed());
        // Offers hold sockets for 50 s: none for a tracker that is not there.
        if self.ws.is_none() {
            self.ws = connect(&self.url).await;
            if self.ws.is_none() {
                return self.schedule_rejoin();
            }
        }
        let wanted = if event == Some(AnnounceEvent::Stopped) {
            0
        } else {
            MAX_CONNECTIONS
                .saturating_sub(self.slots.in_use())
                .min(OFFERS_PER_ANNOUNCE)
        };
        if wanted == 0 {
            return self.send_announce(event, left, Vec::new()).await;
        }
        let (rtc, ice) = (self.rtc.clone(), self.ice.clone());
        let slots: Vec<_> = (0..wanted).map(|_| self.slots.take()).collect();
        self.jobs.spawn(async move {
            let making = slots
                .into_iter()
                .map(|slot| Offering::new(&rtc, &ice, slot));
            let made = futures_util::future::join_all(making).await;
            let made = made
                .into_iter()
                .filter_map(|offer| {
                    offer
                        .inspect_err(|e| tracing::debug!(error = %e, "making an offer failed"))
                        .ok()
                })
                .collect();
            Job::Offered { event, left, made }
        });
    }

    async fn job_done(&mut self, job: Job) {
        match job {
            Job::Offered { event, left, made } => self.send_announce(event, left, made).await,
            Job::Answered {
                to,
                offer_id,
                answering,
            } => {
                let reply = WsAnnounce {
                    info_hash: self.info_hash,
                    peer_id: self.peer_id,
                    event: None,
                    left: None,
                    numwant: None,
                    offers: Vec::new(),
                    answer: Some(WsAnswer {
                        to_peer_id: to,
                        offer_id,
                        answer: answering.answer.clone(),
                    }),
                };
                if self.send(ClientMessage::Announce(reply)).await {
                    let (info_hash, peer_id) = (self.info_hash, self.peer_id);
                    let up = answering.complete(info_hash, peer_id);
                    let task = self.bring_up(up);
                    self.underway.handed_over(to, task);
                }
            }
            Job::Failed(e) => tracing::debug!(error = %e, "answering an offer failed"),
        }
    }

    async fn send_announce(
        &mut self,
        event: Option<AnnounceEvent>,
        left: u64,
        made: Vec<Offering>,
    ) {
        let mut offers = Vec::with_capacity(made.len());
        for offering in made {
            let offer_id = OfferId(std::array::from_fn(|_| self.rng.u8(..)));
            offers.push(WsOffer {
                offer_id,
                offer: offering.offer.clone(),
            });
            let (answered, answer) = oneshot::channel();
            let (info_hash, peer_id) = (self.info_hash, self.peer_id);
            let task = self.bring_up(async move {
                let answer = answer.await.map_err(|_| RtcError::NotOpened)?;
                offering.complete(answer, info_hash, peer_id).await
            });
            let answer = answered;
            self.offers.insert(offer_id, Waiting { answer, task });
        }
        let announce = WsAnnounce {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            event,
            left: Some(left),
            numwant: Some(u32::try_from(offers.len()).unwrap_or(u32::MAX)),
            offers,
            answer: None,
        };
        self.send(ClientMessage::Announce(announce)).await;
    }

    /// Runs a connection's bring-up within the signaling timeout; the peer goes to the torrent.
    fn bring_up(
        &mut self,
        up: impl std::future::Future<Output = Result<RtcPeer, RtcError>> + Send + 'static,
    ) -> AbortHandle {
        let peers = self.peers.clone();
        self.connecting.spawn(async move {
            match tokio::time::timeout(SIGNALING_TIMEOUT, up).await {
                Ok(Ok(peer)) => {
                    // A closed channel means the torrent stopped; the peer is dropped with it.
                    let _ = peers.send(E::from(peer)).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, "WebRTC connection failed"),
                Err(_) => tracing::debug!("WebRTC signaling timed out"),
            }
        })
    }

    async fn tracker_message(&mut self, message: Option<String>) {
        let Some(text) = message else {
            tracing::debug!(rejoin_in = ?self.rejoin_delay, "WebSocket tracker connection closed");
            self.ws = None;
            return self.schedule_rejoin();
        };
        self.rejoin_delay = REJOIN_MIN;
        match TrackerMessage::parse(&text) {
            Ok(TrackerMessage::Offer {
                info_hash,
                peer_id,
                offer_id,
                offer,
            }) if info_hash == self.info_hash && peer_id.is_browser() => {
                // Natives reach each other over TCP, where the engine sees their addresses
                // (and so which of them share our LAN); WebRTC is for browsers.
                if self.slots.in_use() >= MAX_CONNECTIONS {
                    return;
                }
                let (rtc, ice, slots) = (self.rtc.clone(), self.ice.clone(), &self.slots);
                let jobs = &mut self.jobs;
                let verdict = self.underway.offer(peer_id, || {
                    let slot = slots.take();
                    jobs.spawn(async move {
                        match Answering::new(&rtc, &ice, offer, slot).await {
                            Ok(answering) => Job::Answered {
                                to: peer_id,
                                offer_id,
                                answering,
                            },
                            Err(e) => Job::Failed(e),
                        }
                    })
                });
                if verdict == Verdict::Drop {
                    tracing::debug!(%peer_id, "offer dropped: our own connection to that peer stays");
                }
            }
            Ok(TrackerMessage::Answer {
                info_hash,
                peer_id,
                offer_id,
                answer,
            }) if info_hash == self.info_hash => {
                let Some(waiting) = self.offers.remove(&offer_id) else {
                    return;
                };
                match self.underway.answer(peer_id, waiting.task.clone()) {
                    Verdict::Proceed => {
                        let _ = waiting.answer.send(answer);
                    }
                    Verdict::Drop => waiting.task.abort(),
                }
            }
            Ok(TrackerMessage::Failure { reason, .. }) => {
                tracing::warn!(%reason, "WebSocket tracker refused an announce");
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "unreadable WebSocket tracker message"),
        }
    }

    /// Announces again soon, backing off while the tracker stays away.
    fn schedule_rejoin(&mut self) {
        if self.left.is_some() {
            self.rejoin = Some(tokio::time::Instant::now() + self.rejoin_delay);
            self.rejoin_delay = (self.rejoin_delay * 2).min(REJOIN_MAX);
        }
    }

    /// Sends to the tracker, connecting first if need be; false when it could not.
    async fn send(&mut self, message: ClientMessage) -> bool {
        if self.ws.is_none() {
            self.ws = connect(&self.url).await;
        }
        let Some(ws) = &mut self.ws else {
            return false;
        };
        let sent = tokio::time::timeout(TRACKER_TIMEOUT, ws.send(Message::text(message.to_json())));
        if matches!(sent.await, Ok(Ok(()))) {
            return true;
        }
        tracing::debug!("sending to the WebSocket tracker failed");
        self.ws = None;
        false
    }
}

async fn connect(url: &str) -> Option<Socket> {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_TRACKER_MESSAGE))
        .max_frame_size(Some(MAX_TRACKER_MESSAGE));
    let connecting = tokio_tungstenite::connect_async_with_config(url, Some(config), true);
    match tokio::time::timeout(TRACKER_TIMEOUT, connecting).await {
        Ok(Ok((ws, _))) => Some(ws),
        Ok(Err(e)) => {
            tracing::debug!(%url, error = %e, "cannot reach the WebSocket tracker");
            None
        }
        Err(_) => {
            tracing::debug!(%url, "the WebSocket tracker did not answer");
            None
        }
    }
}

/// The next text message; `None` once the socket is closed or failed. Never resolves without
/// a socket.
async fn next_message(ws: &mut Option<Socket>) -> Option<String> {
    let Some(socket) = ws else {
        return std::future::pending().await;
    };
    loop {
        match socket.next().await? {
            Ok(Message::Text(text)) => return Some(text.to_string()),
            Ok(Message::Close(_)) | Err(_) => return None,
            Ok(_) => {}
        }
    }
}

/// The tracker's STUN/TURN servers; none when it does not say.
async fn fetch_ice(url: &str) -> Vec<IceServer> {
    let fetched = async {
        let response = crate::session::http_client().get(url).send().await.ok()?;
        let body = response.error_for_status().ok()?.bytes().await.ok()?;
        serde_json::from_slice::<IceConfig>(&body).ok()
    };
    match fetched.await {
        Some(config) => config.ice_servers,
        None => {
            tracing::debug!(%url, "no ICE servers from the tracker");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ws_tracker_url;

    #[test]
    fn the_websocket_tracker_sits_beside_the_http_one() {
        assert_eq!(
            ws_tracker_url("http://10.0.0.1:8080/announce"),
            Some((
                "ws://10.0.0.1:8080/announce".to_owned(),
                "http://10.0.0.1:8080/ice".to_owned()
            ))
        );
        assert_eq!(
            ws_tracker_url("http://tracker/x/announce?token=t"),
            Some((
                "ws://tracker/x/announce?token=t".to_owned(),
                "http://tracker/x/ice?token=t".to_owned()
            ))
        );
        assert_eq!(ws_tracker_url("udp://tracker:80/announce"), None);
        assert_eq!(ws_tracker_url("http://tracker/scrape"), None);
    }
}
