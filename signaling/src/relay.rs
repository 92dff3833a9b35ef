//! The WebSocket side of the tracker as pure logic: which connection holds which peer ids
//! and swarms, what each client message does to the swarms, and which messages go to which
//! connection in return. Sockets, queues and clocks stay in `ws`.

use std::collections::{BTreeSet, HashMap};

use bitfleet_core::sites::SiteId;
use bitfleet_core::tracker::ws::{Action, ClientMessage, TrackerMessage, WsAnnounce, WsAnswer};
use bitfleet_core::tracker::AnnounceEvent;
use bitfleet_core::{InfoHash, Instant, PeerId};

use crate::config::{whole_seconds, TrackerConfig};
use crate::offers::{ForwardedOffer, OfferLedger};
use crate::swarm::{ConnectionId, RtcAnnounce, SwarmError, Swarms};

/// A message for one connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub to: ConnectionId,
    pub message: TrackerMessage,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelayRefusal {
    #[error("torrent is not tracked here")]
    NotAllowed,
    #[error("peer id is in use by another connection")]
    PeerIdTaken,
    #[error("too many peer ids on one connection")]
    TooManyPeerIds,
    #[error("too many torrents on one connection")]
    TooManySwarms,
    #[error(transparent)]
    Swarm(#[from] SwarmError),
}

#[derive(Debug)]
struct Connection {
    peer_ids: BTreeSet<PeerId>,
    /// The swarms this connection announced in, and as whom: what closing it stops.
    swarms: BTreeSet<(InfoHash, PeerId)>,
    /// Offers forwarded to this connection, for checking its answers.
    forwarded: OfferLedger,
    /// The site of the client's address (or the one it reported), fixed at the upgrade.
    site: Option<SiteId>,
}

/// Every open WebSocket connection's standing with the tracker.
#[derive(Debug, Default)]
pub struct Relay {
    connections: HashMap<ConnectionId, Connection>,
    /// Which connection first announced with each peer id; nobody else may use it.
    owners: HashMap<PeerId, ConnectionId>,
    next_id: u64,
}

impl Relay {
    pub fn open(&mut self, config: &TrackerConfig, site: Option<SiteId>) -> ConnectionId {
        let id = ConnectionId(self.next_id);
        self.next_id = self.next_id.wrapping_add(1);
        let limits = &config.websocket;
        self.connections.insert(
            id,
            Connection {
                peer_ids: BTreeSet::new(),
                swarms: BTreeSet::new(),
                forwarded: OfferLedger::new(limits.max_pending_offers, limits.offer_ttl),
                site,
            },
        );
        id
    }

    /// A closed connection counts as `stopped` in every swarm it announced in.
    pub fn close(&mut self, id: ConnectionId, swarms: &mut Swarms) {
        let Some(connection) = self.connections.remove(&id) else {
            return;
        };
        for (info_hash, peer_id) in &connection.swarms {
            swarms.leave_rtc(info_hash, peer_id, id);
        }
        for peer_id in &connection.peer_ids {
            self.owners.remove(peer_id);
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// Acts on one message from connection `from`; returns what to send to whom.
    pub fn handle(
        &mut self,
        from: ConnectionId,
        message: ClientMessage,
        swarms: &mut Swarms,
        config: &TrackerConfig,
        now: Instant,
    ) -> Vec<Delivery> {
        match message {
            ClientMessage::Announce(announce) => {
                let info_hash = announce.info_hash;
                self.announce(from, announce, swarms, config, now)
                    .unwrap_or_else(|refusal| {
                        tracing::debug!(connection = from.0, %refusal, "websocket announce refused");
                        vec![Delivery {
                            to: from,
                            message: TrackerMessage::Failure {
                                action: Some(Action::Announce),
                                info_hash: Some(info_hash),
                                reason: refusal.to_string(),
                            },
                        }]
                    })
            }
            ClientMessage::Scrape(mut requested) => {
                requested.retain(|hash| config.is_allowed(hash));
                let files = swarms
                    .scrape(&requested, config.max_scrape)
                    .into_iter()
                    .map(|summary| (summary.info_hash, summary.stats))
                    .collect();
                vec![Delivery {
                    to: from,
                    message: TrackerMessage::Scraped(files),
                }]
            }
        }
    }

    fn announce(
        &mut self,
        from: ConnectionId,
        announce: WsAnnounce,
        swarms: &mut Swarms,
        config: &TrackerConfig,
        now: Instant,
    ) -> Result<Vec<Delivery>, RelayRefusal> {
        if !config.is_allowed(&announce.info_hash) {
            return Err(RelayRefusal::NotAllowed);
        }
        self.bind(from, announce.peer_id, config)?;
        if let Some(answer) = &announce.answer {
            // An answer only travels back; it neither joins nor gets a reply (as WebTorrent).
            return Ok(self.relay_answer(from, &announce, answer, swarms, now));
        }
        let Some(connection) = self.connections.get_mut(&from) else {
            return Ok(Vec::new());
        };
        let membership = (announce.info_hash, announce.peer_id);
        let stopping = announce.event == Some(AnnounceEvent::Stopped);
        if !stopping
            && !connection.swarms.contains(&membership)
            && connection.swarms.len() >= config.websocket.max_swarms
        {
            return Err(RelayRefusal::TooManySwarms);
        }
        let offers = announce
            .offers
            .len()
            .min(config.websocket.max_offers_per_announce);
        let outcome = swarms.announce_rtc(
            &RtcAnnounce {
                info_hash: announce.info_hash,
                peer_id: announce.peer_id,
                connection: from,
                left: announce.left,
                event: announce.event,
                offers,
                site: connection.site,
            },
            now,
        )?;
        if stopping {
            connection.swarms.remove(&membership);
        } else {
            connection.swarms.insert(membership);
        }
        let mut deliveries = vec![Delivery {
            to: from,
            message: TrackerMessage::Announced {
                info_hash: announce.info_hash,
                complete: outcome.seeds,
                incomplete: outcome.leechers,
                interval: whole_seconds(config.interval),
            },
        }];
        for ((to_peer, to), offer) in outcome.offer_to.into_iter().zip(announce.offers) {
            let Some(target) = self.connections.get_mut(&to) else {
                continue;
            };
            target.forwarded.record(
                ForwardedOffer {
                    info_hash: announce.info_hash,
                    offer_id: offer.offer_id,
                    from: announce.peer_id,
                    to: to_peer,
                },
                now,
            );
            deliveries.push(Delivery {
                to,
                message: TrackerMessage::Offer {
                    info_hash: announce.info_hash,
                    peer_id: announce.peer_id,
                    offer_id: offer.offer_id,
                    offer: offer.offer,
                },
            });
        }
        Ok(deliveries)
    }

    /// Passes `answer` to the offerer if its offer was forwarded to this connection as this
    /// peer and is still fresh; anything else is dropped.
    fn relay_answer(
        &mut self,
        from: ConnectionId,
        announce: &WsAnnounce,
        answer: &WsAnswer,
        swarms: &Swarms,
        now: Instant,
    ) -> Vec<Delivery> {
        let forwarded = ForwardedOffer {
            info_hash: announce.info_hash,
            offer_id: answer.offer_id,
            from: answer.to_peer_id,
            to: announce.peer_id,
        };
        let was_forwarded = self
            .connections
            .get_mut(&from)
            .is_some_and(|connection| connection.forwarded.take(&forwarded, now));
        let offerer = swarms.rtc_connection(&announce.info_hash, &answer.to_peer_id);
        match offerer.filter(|_| was_forwarded) {
            Some(to) => vec![Delivery {
                to,
                message: TrackerMessage::Answer {
                    info_hash: announce.info_hash,
                    peer_id: announce.peer_id,
                    offer_id: answer.offer_id,
                    answer: answer.answer.clone(),
                },
            }],
            None => {
                tracing::debug!(connection = from.0, was_forwarded, "answer dropped");
                Vec::new()
            }
        }
    }

    /// Lets `from` speak as `peer_id` if it already does, or if nobody does and it has room.
    fn bind(
        &mut self,
        from: ConnectionId,
        peer_id: PeerId,
        config: &TrackerConfig,
    ) -> Result<(), RelayRefusal> {
        match self.owners.get(&peer_id) {
            Some(owner) if *owner == from => return Ok(()),
            Some(_) => return Err(RelayRefusal::PeerIdTaken),
            None => {}
        }
        let Some(connection) = self.connections.get_mut(&from) else {
            return Err(RelayRefusal::PeerIdTaken);
        };
        if connection.peer_ids.len() >= config.websocket.max_peer_ids {
            return Err(RelayRefusal::TooManyPeerIds);
        }
        connection.peer_ids.insert(peer_id);
        self.owners.insert(peer_id, from);
        Ok(())
    }
}

#[cfg(test)]
#[path = "relay_tests.rs"]
mod tests;
