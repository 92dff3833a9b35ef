//! WebTorrent's WebSocket tracker protocol: JSON text messages by which browsers (and natives
//! speaking WebRTC) announce, scrape, and exchange WebRTC offers and answers through the
//! tracker. Shared by the tracker server and any client, wasm included.
//!
//! Every 20-byte value (info-hash, peer id, offer id) travels as a "binary string": 20 JSON
//! characters each holding one byte (U+0000..=U+00FF), which is what WebTorrent's
//! `Buffer.toString('binary')` produces. SDP is not trickled: each offer or answer carries the
//! whole session description with its ICE candidates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{AnnounceEvent, ScrapeStats};
use crate::{InfoHash, PeerId};

/// Chooses which of an announcer's offers goes to which peer; the answer names it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OfferId(pub [u8; 20]);

/// A WebRTC session description as `RTCPeerConnection` gives it (`{type, sdp}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionDescription {
    #[serde(rename = "type")]
    pub kind: String,
    pub sdp: String,
}

/// One offer a peer hands the tracker to pass to some other peer of the swarm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsOffer {
    pub offer_id: OfferId,
    pub offer: SessionDescription,
}

/// A peer's answer to an offer the tracker relayed to it, to be passed back to the offerer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsAnswer {
    pub to_peer_id: PeerId,
    pub offer_id: OfferId,
    pub answer: SessionDescription,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WsAnnounce {
    pub info_hash: InfoHash,
    pub peer_id: PeerId,
    /// `None` for WebTorrent's `update` or no event at all.
    pub event: Option<AnnounceEvent>,
    /// Bytes still missing; `None` when the client does not know (magnet before metadata).
    pub left: Option<u64>,
    pub numwant: Option<u32>,
    pub offers: Vec<WsOffer>,
    pub answer: Option<WsAnswer>,
}

/// What a client sends to the tracker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientMessage {
    Announce(WsAnnounce),
    /// Counts for these torrents (never empty: WebTorrent always names at least one).
    Scrape(Vec<InfoHash>),
}

/// The two actions; a failure names the one it answers so WebTorrent routes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Announce,
    Scrape,
}

/// What the tracker sends to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrackerMessage {
    /// The reply to an announce.
    Announced {
        info_hash: InfoHash,
        complete: u32,
        incomplete: u32,
        /// Seconds until the next announce.
        interval: u32,
    },
    /// Another peer's offer; `peer_id` is the offerer's.
    Offer {
        info_hash: InfoHash,
        peer_id: PeerId,
        offer_id: OfferId,
        offer: SessionDescription,
    },
    /// The answer to one of our offers; `peer_id` is the answerer's.
    Answer {
        info_hash: InfoHash,
        peer_id: PeerId,
        offer_id: OfferId,
        answer: SessionDescription,
    },
    Scraped(Vec<(InfoHash, ScrapeStats)>),
    /// A refusal. WebTorrent only shows it when `action` and `info_hash` are present.
    Failure {
        action: Option<Action>,
        info_hash: Option<InfoHash>,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WsMessageError {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("invalid {0}")]
    Invalid(&'static str),
}

/// What could be made of a message that failed to parse, so the failure reply can name the
/// action and torrent it answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseFailure {
    pub action: Option<Action>,
    pub info_hash: Option<InfoHash>,
    pub error: WsMessageError,
}

/// `bytes` as a binary string: one character per byte.
pub fn to_binary_string(bytes: &[u8]) -> String {
    bytes.iter().copied().map(char::from).collect()
}

/// The 20 bytes of a binary string, if it is exactly 20 characters below U+0100.
pub fn from_binary_string(text: &str) -> Option<[u8; 20]> {
    let mut out = [0u8; 20];
    let mut chars = text.chars();
    for byte in &mut out {
        *byte = u8::try_from(chars.next()?).ok()?;
    }
    chars.next().is_none().then_some(out)
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<Self, ParseFailure> {
        let wire: ClientWire = serde_json::from_str(text).map_err(|err| ParseFailure {
            action: None,
            info_hash: None,
            error: WsMessageError::Json(err.to_string()),
        })?;
        let action = wire.action;
        let info_hash = match &wire.info_hash {
            Some(OneOrMany::One(text)) => from_binary_string(text).map(InfoHash),
            _ => None,
        };
        wire.into_message().map_err(|error| ParseFailure {
            action,
            info_hash,
            error,
        })
    }

    pub fn to_json(&self) -> String {
        let wire = match self {
            Self::Announce(announce) => ClientWire::from_announce(announce),
            Self::Scrape(info_hashes) => ClientWire {
                action: Some(Action::Scrape),
                info_hash: Some(OneOrMany::Many(
                    info_hashes
                        .iter()
                        .map(|hash| to_binary_string(&hash.0))
                        .collect(),
                )),
                ..ClientWire::default()
            },
        };
        to_json(&wire)
    }
}

impl TrackerMessage {
    pub fn to_json(&self) -> String {
        to_json(&TrackerWire::from_message(self))
    }

    pub fn parse(text: &str) -> Result<Self, WsMessageError> {
        let wire: TrackerWire =
            serde_json::from_str(text).map_err(|err| WsMessageError::Json(err.to_string()))?;
        wire.into_message()
    }
}

fn to_json(wire: &impl Serialize) -> String {
    // Plain structs of strings, numbers and string-keyed maps always serialize.
    serde_json::to_string(wire).unwrap_or_default()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OfferWire {
    offer: SessionDescription,
    offer_id: String,
}

/// Every field either direction of a client message may carry, as JSON has it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct ClientWire {
    action: Option<Action>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info_hash: Option<OneOrMany>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    event: Option<String>,
    /// JavaScript numbers: WebTorrent may send a float or `null` (its `Infinity`).
    #[serde(skip_serializing_if = "Option::is_none")]
    left: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    numwant: Option<serde_json::Number>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offers: Option<Vec<OfferWire>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_peer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_id: Option<String>,
}

impl ClientWire {
    fn into_message(self) -> Result<ClientMessage, WsMessageError> {
        match self.action {
            Some(Action::Announce) => self.into_announce().map(ClientMessage::Announce),
            Some(Action::Scrape) => {
                let hashes = match self.info_hash {
                    Some(OneOrMany::One(hash)) => vec![hash],
                    Some(OneOrMany::Many(hashes)) if !hashes.is_empty() => hashes,
                    _ => return Err(WsMessageError::Invalid("info_hash")),
                };
                hashes
                    .iter()
                    .map(|hash| binary_id(Some(hash), "info_hash").map(InfoHash))
                    .collect::<Result<_, _>>()
                    .map(ClientMessage::Scrape)
            }
            None => Err(WsMessageError::Invalid("action")),
        }
    }

    fn into_announce(self) -> Result<WsAnnounce, WsMessageError> {
        let info_hash = match &self.info_hash {
            Some(OneOrMany::One(hash)) => InfoHash(binary_id(Some(hash), "info_hash")?),
            _ => return Err(WsMessageError::Invalid("info_hash")),
        };
        let peer_id = PeerId(binary_id(self.peer_id.as_deref(), "peer_id")?);
        let event = match self.event.as_deref() {
            None | Some("" | "update") => None,
            Some("started") => Some(AnnounceEvent::Started),
            Some("stopped") => Some(AnnounceEvent::Stopped),
            Some("completed") => Some(AnnounceEvent::Completed),
            Some(_) => return Err(WsMessageError::Invalid("event")),
        };
        let offers = self
            .offers
            .unwrap_or_default()
            .into_iter()
            .map(|wire| {
                if wire.offer.kind != "offer" {
                    return Err(WsMessageError::Invalid("offer type"));
                }
                Ok(WsOffer {
                    offer_id: OfferId(binary_id(Some(&wire.offer_id), "offer_id")?),
                    offer: wire.offer,
                })
            })
            .collect::<Result<_, _>>()?;
        let answer = match self.answer {
            None => None,
            Some(answer) if answer.kind == "answer" => Some(WsAnswer {
                to_peer_id: PeerId(binary_id(self.to_peer_id.as_deref(), "to_peer_id")?),
                offer_id: OfferId(binary_id(self.offer_id.as_deref(), "offer_id")?),
                answer,
            }),
            Some(_) => return Err(WsMessageError::Invalid("answer type")),
        };
        Ok(WsAnnounce {
            info_hash,
            peer_id,
            event,
            left: self.left.as_ref().and_then(whole_number),
            numwant: self
                .numwant
                .as_ref()
                .and_then(whole_number)
                .map(|wanted| u32::try_from(wanted).unwrap_or(u32::MAX)),
            offers,
            answer,
        })
    }

    fn from_announce(announce: &WsAnnounce) -> Self {
        Self {
            action: Some(Action::Announce),
            info_hash: Some(OneOrMany::One(to_binary_string(&announce.info_hash.0))),
            peer_id: Some(to_binary_string(&announce.peer_id.0)),
            event: announce.event.map(|event| event.as_str().to_owned()),
            left: announce.left.map(serde_json::Number::from),
            numwant: announce.numwant.map(serde_json::Number::from),
            offers: (!announce.offers.is_empty()).then(|| {
                announce
                    .offers
                    .iter()
                    .map(|offer| OfferWire {
                        offer: offer.offer.clone(),
                        offer_id: to_binary_string(&offer.offer_id.0),
                    })
                    .collect()
            }),
            answer: announce.answer.as_ref().map(|answer| answer.answer.clone()),
            to_peer_id: announce
                .answer
                .as_ref()
                .map(|answer| to_binary_string(&answer.to_peer_id.0)),
            offer_id: announce
                .answer
                .as_ref()
                .map(|answer| to_binary_string(&answer.offer_id.0)),
        }
    }
}

/// A non-negative integer; fractions are truncated, anything else is unknown.
fn whole_number(number: &serde_json::Number) -> Option<u64> {
    number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|value| value.is_finite() && *value >= 0.0)
            // `as` saturates at u64::MAX, which is what a huge `left` means.
            .map(|value| value as u64)
    })
}

fn binary_id(text: Option<&str>, field: &'static str) -> Result<[u8; 20], WsMessageError> {
    text.and_then(from_binary_string)
        .ok_or(WsMessageError::Invalid(field))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StatsWire {
    complete: u32,
    incomplete: u32,
    downloaded: u32,
}

/// Every field a tracker message may carry, as JSON has it.
#[derive(Debug, Default, Serialize, Deserialize)]
struct TrackerWire {
    #[serde(skip_serializing_if = "Option::is_none")]
    action: Option<Action>,
    #[serde(
        rename = "failure reason",
        skip_serializing_if = "Option::is_none",
        default
    )]
    failure_reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    info_hash: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    interval: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    complete: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    incomplete: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    peer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    offer: Option<SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    answer: Option<SessionDescription>,
    #[serde(skip_serializing_if = "Option::is_none")]
    files: Option<BTreeMap<String, StatsWire>>,
}

impl TrackerWire {
    fn from_message(message: &TrackerMessage) -> Self {
        let binary = |bytes: &[u8; 20]| Some(to_binary_string(bytes));
        match message {
            TrackerMessage::Announced {
                info_hash,
                complete,
                incomplete,
                interval,
            } => Self {
                action: Some(Action::Announce),
                info_hash: binary(&info_hash.0),
                interval: Some(*interval),
                complete: Some(*complete),
                incomplete: Some(*incomplete),
                ..Self::default()
            },
            TrackerMessage::Offer {
                info_hash,
                peer_id,
                offer_id,
                offer,
            } => Self {
                action: Some(Action::Announce),
                info_hash: binary(&info_hash.0),
                peer_id: binary(&peer_id.0),
                offer_id: binary(&offer_id.0),
                offer: Some(offer.clone()),
                ..Self::default()
            },
            TrackerMessage::Answer {
                info_hash,
                peer_id,
                offer_id,
                answer,
            } => Self {
                action: Some(Action::Announce),
                info_hash: binary(&info_hash.0),
                peer_id: binary(&peer_id.0),
                offer_id: binary(&offer_id.0),
                answer: Some(answer.clone()),
                ..Self::default()
            },
            TrackerMessage::Scraped(files) => Self {
                action: Some(Action::Scrape),
                files: Some(
                    files
                        .iter()
                        .map(|(hash, stats)| {
                            let stats = StatsWire {
                                complete: stats.complete,
                                incomplete: stats.incomplete,
                                downloaded: stats.downloaded,
                            };
                            (to_binary_string(&hash.0), stats)
                        })
                        .collect(),
                ),
                ..Self::default()
            },
            TrackerMessage::Failure {
                action,
                info_hash,
                reason,
            } => Self {
                action: *action,
                failure_reason: Some(reason.clone()),
                info_hash: info_hash.and_then(|hash| binary(&hash.0)),
                ..Self::default()
            },
        }
    }

    fn into_message(self) -> Result<TrackerMessage, WsMessageError> {
        let info_hash = |text: Option<&str>| binary_id(text, "info_hash").map(InfoHash);
        if let Some(reason) = self.failure_reason {
            return Ok(TrackerMessage::Failure {
                action: self.action,
                info_hash: self
                    .info_hash
                    .as_deref()
                    .and_then(from_binary_string)
                    .map(InfoHash),
                reason,
            });
        }
        if self.action == Some(Action::Scrape) {
            let files = self
                .files
                .unwrap_or_default()
                .into_iter()
                .map(|(hash, stats)| {
                    let stats = ScrapeStats {
                        complete: stats.complete,
                        downloaded: stats.downloaded,
                        incomplete: stats.incomplete,
                    };
                    Ok((info_hash(Some(&hash))?, stats))
                })
                .collect::<Result<_, _>>()?;
            return Ok(TrackerMessage::Scraped(files));
        }
        if self.action != Some(Action::Announce) {
            return Err(WsMessageError::Invalid("action"));
        }
        let info_hash = info_hash(self.info_hash.as_deref())?;
        let relayed = |description| -> Result<_, WsMessageError> {
            Ok((
                description,
                PeerId(binary_id(self.peer_id.as_deref(), "peer_id")?),
                OfferId(binary_id(self.offer_id.as_deref(), "offer_id")?),
            ))
        };
        if let Some(offer) = self.offer.clone() {
            let (offer, peer_id, offer_id) = relayed(offer)?;
            return Ok(TrackerMessage::Offer {
                info_hash,
                peer_id,
                offer_id,
                offer,
            });
        }
        if let Some(answer) = self.answer.clone() {
            let (answer, peer_id, offer_id) = relayed(answer)?;
            return Ok(TrackerMessage::Answer {
                info_hash,
                peer_id,
                offer_id,
                answer,
            });
        }
        Ok(TrackerMessage::Announced {
            info_hash,
            complete: self.complete.unwrap_or_default(),
            incomplete: self.incomplete.unwrap_or_default(),
            interval: self.interval.unwrap_or_default(),
        })
    }
}

/// One STUN or TURN server, in the shape of WebRTC's `RTCIceServer`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IceServer {
    pub urls: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub username: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub credential: Option<String>,
}

/// The tracker's `GET /ice` document, shaped as an `RTCConfiguration` so a page can hand it
/// straight to `new RTCPeerConnection(...)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct IceConfig {
    #[serde(rename = "iceServers")]
    pub ice_servers: Vec<IceServer>,
}

#[cfg(test)]
#[path = "ws_tests.rs"]
mod tests;
