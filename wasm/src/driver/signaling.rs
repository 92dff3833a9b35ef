//! The WebSocket tracker (WebTorrent's protocol): announces carry fresh WebRTC offers, the
//! tracker relays them to other peers of the swarm, and their answers come back by offer id.

use std::time::Duration;

use bitfleet_core::engine::{PeerKey, TransferStats};
use bitfleet_core::tracker::ws::{
    ClientMessage, OfferId, SessionDescription, TrackerMessage, WsAnnounce, WsAnswer, WsOffer,
};
use bitfleet_core::tracker::{AnnounceEvent, AnnounceResponse};
use bitfleet_core::{Instant, PeerId};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{RtcPeerConnection, WebSocket};

use super::conns::Phase;
use super::{rtc, Driver};
use crate::js::{self, get, Timeout};

/// Offers per announce, as WebTorrent makes them.
const OFFERS_PER_ANNOUNCE: usize = 5;
/// An offer nobody answered (or a connection signaling never brought up) is dropped after this.
const SIGNALING_TIMEOUT: Duration = Duration::from_secs(50);
/// First and longest wait before rejoining through a socket that closed between announces.
const REJOIN_MIN: Duration = Duration::from_secs(5);
const REJOIN_MAX: Duration = Duration::from_secs(60);

/// Who an announce is for: the engine (it waits for the reply), or the driver rejoining the
/// swarm after the socket dropped (no one waits).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Announcer {
    Engine,
    Rejoin,
}

pub struct TrackerSocket {
    url: String,
    ws: Option<WebSocket>,
    /// Messages written before the socket opened.
    outbox: Vec<String>,
    /// Announces sent whose reply the engine still waits for.
    awaiting: usize,
    /// Rejoins since the socket last opened, and the next one's timer.
    rejoins: u32,
    rejoin: Option<Timeout>,
    handlers: Vec<Closure<dyn FnMut(JsValue)>>,
}

impl TrackerSocket {
    pub fn new(url: String) -> Self {
        Self {
            url,
            ws: None,
            outbox: Vec::new(),
            awaiting: 0,
            rejoins: 0,
            rejoin: None,
            handlers: Vec::new(),
        }
    }

    fn disconnect(&mut self) {
        if let Some(ws) = self.ws.take() {
            ws.set_onopen(None);
            ws.set_onmessage(None);
            ws.set_onclose(None);
            // Closing an open or connecting socket cannot fail.
            let _ = ws.close();
        }
        self.handlers.clear();
    }
}

impl Drop for TrackerSocket {
    fn drop(&mut self) {
        self.disconnect();
    }
}

impl Driver {
    /// Announces: makes offers for the room we have, then sends them along.
    pub(super) fn announce(
        &mut self,
        event: Option<AnnounceEvent>,
        stats: TransferStats,
        announcer: Announcer,
    ) {
        if self.tracker.is_none() {
            if announcer == Announcer::Engine {
                let error = "no WebSocket tracker for this torrent".to_owned();
                self.engine.announce_result(Err(error), js::now());
            }
            return;
        }
        let wanted = if event == Some(AnnounceEvent::Stopped) {
            0
        } else {
            self.room().min(OFFERS_PER_ANNOUNCE)
        };
        let offering: Vec<(PeerKey, RtcPeerConnection)> =
            (0..wanted).map_while(|_| self.new_conn(true)).collect();
        if offering.is_empty() {
            return self.send_announce(event, stats, announcer, Vec::new());
        }
        self.after(
            async move {
                // Each offer's gathering runs while we wait for the ones before it.
                let mut made = Vec::with_capacity(offering.len());
                for (key, pc) in offering {
                    made.push((key, rtc::offer(&pc).await));
                }
                made
            },
            move |this, made, now| {
                let mut offers = Vec::new();
                for (key, offer) in made {
                    match offer {
                        Ok(offer) => offers.push((key, offer)),
                        Err(_) => this.close(key, now),
                    }
                }
                this.send_announce(event, stats, announcer, offers);
            },
        );
    }

    fn send_announce(
        &mut self,
        event: Option<AnnounceEvent>,
        stats: TransferStats,
        announcer: Announcer,
        made: Vec<(PeerKey, SessionDescription)>,
    ) {
        let mut offers = Vec::with_capacity(made.len());
        for (key, offer) in made {
            let offer_id = OfferId(self.page.random_id());
            let deadline = self.signaling_deadline(key);
            let Some(conn) = self.conns.get_mut(&key) else {
                continue;
            };
            conn.offer_id = Some(offer_id);
            conn.deadline = deadline;
            self.offers.insert(offer_id, key);
            offers.push(WsOffer { offer_id, offer });
        }
        let announce = WsAnnounce {
            info_hash: self.info_hash,
            peer_id: self.page.peer_id,
            event,
            left: Some(stats.left),
            numwant: Some(u32::try_from(offers.len()).unwrap_or(u32::MAX)),
            offers,
            answer: None,
        };
        if announcer == Announcer::Engine && event != Some(AnnounceEvent::Stopped) {
            if let Some(tracker) = &mut self.tracker {
                tracker.awaiting += 1;
            }
        }
        self.tracker_send(ClientMessage::Announce(announce).to_json());
    }

    fn signaling_deadline(&self, key: PeerKey) -> Option<Timeout> {
        let me = self.me.clone();
        let expire = move || {
            if let Some(driver) = me.upgrade() {
                let mut this = driver.borrow_mut();
                let signaling = this
                    .conns
                    .get(&key)
                    .is_some_and(|conn| matches!(conn.phase, Phase::Signaling));
                if signaling {
                    this.close(key, js::now());
                    this.pump();
                }
            }
        };
        Timeout::new(SIGNALING_TIMEOUT, expire).ok()
    }

    fn tracker_send(&mut self, message: String) {
        if self.tracker.as_ref().is_some_and(|t| t.ws.is_none()) {
            self.tracker_connect();
        }
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        match &tracker.ws {
            Some(ws) if ws.ready_state() == WebSocket::OPEN => {
                if ws.send_with_str(&message).is_err() {
                    tracker.outbox.push(message);
                }
            }
            _ => tracker.outbox.push(message),
        }
    }

    fn tracker_connect(&mut self) {
        let handlers = [
            self.handler((), Self::tracker_opened),
            self.handler((), Self::tracker_message),
            self.handler((), Self::tracker_closed),
        ];
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        let ws = match WebSocket::new(&tracker.url) {
            Ok(ws) => ws,
            Err(err) => {
                let message = format!("tracker {}: {}", tracker.url, js::describe(&err));
                return self.listeners.emit("warning", JsValue::from_str(&message));
            }
        };
        let [opened, message, closed] = &handlers;
        ws.set_onopen(Some(opened.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(closed.as_ref().unchecked_ref()));
        tracker.ws = Some(ws);
        tracker.handlers = handlers.into();
    }

    fn tracker_opened(&mut self, _: (), _: JsValue) {
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        let Some(ws) = &tracker.ws else {
            return;
        };
        tracker.rejoins = 0;
        for message in std::mem::take(&mut tracker.outbox) {
            if ws.send_with_str(&message).is_err() {
                break;
            }
        }
    }

    /// The socket is gone. Announces in flight failed (the engine retries them); between
    /// announces, we rejoin soon on our own, or no offers would reach us until the next one.
    fn tracker_closed(&mut self, _: (), _: JsValue) {
        let rejoin = self.rejoin_callback();
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        tracker.disconnect();
        tracker.outbox.clear();
        let failed = std::mem::take(&mut tracker.awaiting);
        if failed == 0 {
            let delay = REJOIN_MIN
                .saturating_mul(2u32.saturating_pow(tracker.rejoins))
                .min(REJOIN_MAX);
            tracker.rejoins = tracker.rejoins.saturating_add(1);
            tracker.rejoin = Timeout::new(delay, rejoin).ok();
        }
        let now = js::now();
        for _ in 0..failed {
            let error = "the tracker connection closed".to_owned();
            self.engine.announce_result(Err(error), now);
        }
    }

    fn rejoin_callback(&self) -> impl FnOnce() + 'static {
        let me = self.me.clone();
        move || {
            if let Some(driver) = me.upgrade() {
                let mut this = driver.borrow_mut();
                if !this.stopped {
                    let stats = this.engine.status(js::now()).transfer;
                    this.announce(None, stats, Announcer::Rejoin);
                    this.pump();
                }
            }
        }
    }

    fn tracker_message(&mut self, _: (), event: JsValue) {
        let Some(text) = get(&event, "data").as_string() else {
            return;
        };
        let now = js::now();
        match TrackerMessage::parse(&text) {
            Ok(TrackerMessage::Announced {
                info_hash,
                complete,
                incomplete,
                interval,
            }) if info_hash == self.info_hash => {
                self.swarm = (complete, incomplete);
                let response = AnnounceResponse {
                    interval,
                    min_interval: None,
                    complete,
                    incomplete,
                    peers: Vec::new(),
                    warning: None,
                    tracker_id: None,
                };
                self.announce_answered(Ok(response), now);
            }
            Ok(TrackerMessage::Offer {
                info_hash,
                peer_id,
                offer_id,
                offer,
            }) if info_hash == self.info_hash => self.offer_received(peer_id, offer_id, offer),
            Ok(TrackerMessage::Answer {
                info_hash,
                peer_id,
                offer_id,
                answer,
            }) if info_hash == self.info_hash => self.answer_received(peer_id, offer_id, answer),
            Ok(TrackerMessage::Failure { reason, .. }) => {
                self.listeners
                    .emit("warning", JsValue::from_str(&format!("tracker: {reason}")));
                self.announce_answered(Err(reason), now);
            }
            Ok(_) => {}
            Err(err) => {
                let message = format!("tracker sent an unreadable message: {err}");
                self.listeners.emit("warning", JsValue::from_str(&message));
            }
        }
    }

    fn announce_answered(&mut self, result: Result<AnnounceResponse, String>, now: Instant) {
        let Some(tracker) = &mut self.tracker else {
            return;
        };
        if tracker.awaiting > 0 {
            tracker.awaiting -= 1;
            self.engine.announce_result(result, now);
        }
    }

    /// Another peer's offer, relayed: answer it if we have room and do not know them yet.
    fn offer_received(&mut self, peer_id: PeerId, offer_id: OfferId, offer: SessionDescription) {
        if peer_id == self.page.peer_id || self.knows_peer(&peer_id) {
            return;
        }
        let Some((key, pc)) = self.new_conn(false) else {
            return;
        };
        let deadline = self.signaling_deadline(key);
        if let Some(conn) = self.conns.get_mut(&key) {
            conn.remote_id = Some(peer_id);
            conn.deadline = deadline;
        }
        self.after(
            async move { rtc::answer(&pc, &offer).await },
            move |this, answer, now| {
                let Ok(answer) = answer else {
                    return this.close(key, now);
                };
                if !this.conns.contains_key(&key) {
                    return;
                }
                let reply = WsAnnounce {
                    info_hash: this.info_hash,
                    peer_id: this.page.peer_id,
                    event: None,
                    left: None,
                    numwant: None,
                    offers: Vec::new(),
                    answer: Some(WsAnswer {
                        to_peer_id: peer_id,
                        offer_id,
                        answer,
                    }),
                };
                this.tracker_send(ClientMessage::Announce(reply).to_json());
            },
        );
    }

    /// The answer to one of our offers: the connection comes up from here.
    fn answer_received(&mut self, peer_id: PeerId, offer_id: OfferId, answer: SessionDescription) {
        let Some(key) = self.offers.remove(&offer_id) else {
            return;
        };
        let now = js::now();
        if peer_id == self.page.peer_id {
            return self.close(key, now);
        }
        if self.knows_peer(&peer_id) {
            // Our offers crossed: each side answered the other's. Both ends keep the connection
            // the same rule picks, or each would drop its own and none would be left.
            match self.incoming_from(&peer_id) {
                Some(theirs) if self.page.peer_id.keeps_own_connection_to(&peer_id) => {
                    self.close(theirs, now)
                }
                _ => return self.close(key, now),
            }
        }
        let Some(conn) = self.conns.get_mut(&key) else {
            return;
        };
        conn.offer_id = None;
        conn.remote_id = Some(peer_id);
        let pc = conn.pc.clone();
        self.after(
            async move { rtc::accept_answer(&pc, &answer).await },
            move |this, accepted, now| {
                if accepted.is_err() {
                    this.close(key, now);
                }
            },
        );
    }
}
