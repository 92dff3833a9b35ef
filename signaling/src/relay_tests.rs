use std::time::Duration;

use bitfleet_core::tracker::ws::{OfferId, SessionDescription, WsOffer};

use super::*;
use crate::swarm::SwarmLimits;

const HASH: InfoHash = InfoHash([1; 20]);

fn setup() -> (Relay, Swarms, TrackerConfig) {
    let config = TrackerConfig::default();
    let swarms = Swarms::new(
        SwarmLimits {
            max_swarms: 10,
            max_peers_per_swarm: 10,
            default_numwant: 5,
            max_numwant: 5,
        },
        3,
    );
    (Relay::default(), swarms, config)
}

fn at(secs: u64) -> Instant {
    Instant::from_epoch(Duration::from_secs(secs))
}

fn description(kind: &str) -> SessionDescription {
    SessionDescription {
        kind: kind.into(),
        sdp: "v=0".into(),
    }
}

fn announce(peer: u8, offers: &[u8]) -> ClientMessage {
    ClientMessage::Announce(WsAnnounce {
        info_hash: HASH,
        peer_id: PeerId([peer; 20]),
        event: None,
        left: Some(5),
        numwant: None,
        offers: offers
            .iter()
            .map(|&id| WsOffer {
                offer_id: OfferId([id; 20]),
                offer: description("offer"),
            })
            .collect(),
        answer: None,
    })
}

fn answer(peer: u8, to_peer: u8, offer: u8) -> ClientMessage {
    let ClientMessage::Announce(mut message) = announce(peer, &[]) else {
        unreachable!()
    };
    message.answer = Some(WsAnswer {
        to_peer_id: PeerId([to_peer; 20]),
        offer_id: OfferId([offer; 20]),
        answer: description("answer"),
    });
    ClientMessage::Announce(message)
}

#[test]
fn offers_reach_others_and_only_forwarded_offers_get_answers_once() {
    let (mut relay, mut swarms, config) = setup();
    let a = relay.open(&config, None);
    let b = relay.open(&config, None);
    relay.handle(b, announce(2, &[]), &mut swarms, &config, at(0));
    let sent = relay.handle(a, announce(1, &[7, 8]), &mut swarms, &config, at(1));
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert_eq!(sent[0].to, a);
    assert!(matches!(
        sent[0].message,
        TrackerMessage::Announced { incomplete: 2, .. }
    ));
    assert_eq!(sent[1].to, b);
    assert!(matches!(
        sent[1].message,
        TrackerMessage::Offer {
            peer_id: PeerId([1, ..]),
            offer_id: OfferId([7, ..]),
            ..
        }
    ));

    assert!(relay
        .handle(b, answer(2, 1, 8), &mut swarms, &config, at(2))
        .is_empty());
    let relayed = relay.handle(b, answer(2, 1, 7), &mut swarms, &config, at(2));
    assert_eq!(relayed.len(), 1);
    assert_eq!(relayed[0].to, a);
    assert!(matches!(
        relayed[0].message,
        TrackerMessage::Answer {
            peer_id: PeerId([2, ..]),
            offer_id: OfferId([7, ..]),
            ..
        }
    ));
    assert!(relay
        .handle(b, answer(2, 1, 7), &mut swarms, &config, at(2))
        .is_empty());
}

#[test]
fn stale_offers_cannot_be_answered() {
    let (mut relay, mut swarms, config) = setup();
    let a = relay.open(&config, None);
    let b = relay.open(&config, None);
    relay.handle(b, announce(2, &[]), &mut swarms, &config, at(0));
    relay.handle(a, announce(1, &[7]), &mut swarms, &config, at(0));
    assert!(relay
        .handle(b, answer(2, 1, 7), &mut swarms, &config, at(51))
        .is_empty());
}

#[test]
fn peer_ids_stay_with_their_connection_until_it_closes() {
    let (mut relay, mut swarms, config) = setup();
    let a = relay.open(&config, None);
    let b = relay.open(&config, None);
    relay.handle(a, announce(1, &[]), &mut swarms, &config, at(0));
    let refused = relay.handle(b, announce(1, &[]), &mut swarms, &config, at(0));
    assert!(matches!(
        &refused[0].message,
        TrackerMessage::Failure { reason, .. } if reason.contains("another connection")
    ));
    relay.close(a, &mut swarms);
    assert_eq!(swarms.swarm_count(), 0, "closing counts as stopped");
    let accepted = relay.handle(b, announce(1, &[]), &mut swarms, &config, at(1));
    assert!(matches!(
        accepted[0].message,
        TrackerMessage::Announced { .. }
    ));
    assert_eq!(relay.connection_count(), 1);
}

#[test]
fn offers_beyond_the_limit_are_ignored() {
    let (mut relay, mut swarms, mut config) = setup();
    config.websocket.max_offers_per_announce = 2;
    let others: Vec<_> = (2..=6).map(|_| relay.open(&config, None)).collect();
    for (n, connection) in (2u8..).zip(&others) {
        relay.handle(*connection, announce(n, &[]), &mut swarms, &config, at(0));
    }
    let a = relay.open(&config, None);
    let sent = relay.handle(
        a,
        announce(1, &[10, 11, 12, 13]),
        &mut swarms,
        &config,
        at(0),
    );
    assert_eq!(sent.len(), 3, "reply and two offers");
}
