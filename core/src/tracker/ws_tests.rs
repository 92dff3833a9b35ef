use proptest::prelude::*;

use super::*;

fn sdp(kind: &str) -> SessionDescription {
    SessionDescription {
        kind: kind.into(),
        sdp: "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n".into(),
    }
}

#[test]
fn binary_strings_hold_one_byte_per_character() {
    let bytes: [u8; 20] = std::array::from_fn(|i| (i as u8) * 13);
    let text = to_binary_string(&bytes);
    assert_eq!(text.chars().count(), 20);
    assert_eq!(from_binary_string(&text), Some(bytes));
    // JSON escapes control characters and sends the rest as UTF-8: 0xff is "ÿ".
    assert_eq!(
        serde_json::to_string(&to_binary_string(&[0xff, 0x01])).unwrap(),
        "\"ÿ\\u0001\""
    );
    assert_eq!(from_binary_string("short"), None);
    assert_eq!(from_binary_string(&"a".repeat(21)), None);
    assert_eq!(from_binary_string(&format!("{}€", "a".repeat(19))), None);
}

/// What WebTorrent's `bittorrent-tracker` client sends (captured shape, with its extra fields).
#[test]
fn parses_a_webtorrent_announce_with_offers() {
    let text = r#"{"numwant":5,"uploaded":0,"downloaded":0,"left":1000,"event":"started",
        "action":"announce","info_hash":"\u0001\u0002ÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿÿ",
        "peer_id":"-WW0208-abcdefghijkl",
        "offers":[{"offer":{"type":"offer","sdp":"v=0"},"offer_id":"ABCDEFGHIJKLMNOPQRST"}]}"#;
    let ClientMessage::Announce(announce) = ClientMessage::parse(text).unwrap() else {
        panic!("not an announce");
    };
    let mut hash = [0xff; 20];
    hash[0] = 1;
    hash[1] = 2;
    assert_eq!(announce.info_hash, InfoHash(hash));
    assert_eq!(announce.peer_id, PeerId(*b"-WW0208-abcdefghijkl"));
    assert_eq!(announce.event, Some(AnnounceEvent::Started));
    assert_eq!(announce.left, Some(1000));
    assert_eq!(announce.numwant, Some(5));
    assert_eq!(announce.offers.len(), 1);
    assert_eq!(
        announce.offers[0].offer_id,
        OfferId(*b"ABCDEFGHIJKLMNOPQRST")
    );
    assert_eq!(announce.answer, None);
}

#[test]
fn parses_answers_and_lenient_numbers() {
    let text = r#"{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb",
        "left":null,"numwant":2.5,"event":"update",
        "to_peer_id":"cccccccccccccccccccc","answer":{"type":"answer","sdp":"v=0"},
        "offer_id":"dddddddddddddddddddd"}"#;
    let ClientMessage::Announce(announce) = ClientMessage::parse(text).unwrap() else {
        panic!("not an announce");
    };
    assert_eq!(announce.left, None);
    assert_eq!(announce.numwant, Some(2));
    assert_eq!(announce.event, None);
    let answer = announce.answer.unwrap();
    assert_eq!(answer.to_peer_id, PeerId([b'c'; 20]));
    assert_eq!(answer.offer_id, OfferId([b'd'; 20]));
}

#[test]
fn scrape_takes_one_hash_or_a_list() {
    let one = r#"{"action":"scrape","info_hash":"aaaaaaaaaaaaaaaaaaaa"}"#;
    assert_eq!(
        ClientMessage::parse(one).unwrap(),
        ClientMessage::Scrape(vec![InfoHash([b'a'; 20])])
    );
    let many = r#"{"action":"scrape","info_hash":["aaaaaaaaaaaaaaaaaaaa","bbbbbbbbbbbbbbbbbbbb"]}"#;
    assert_eq!(
        ClientMessage::parse(many).unwrap(),
        ClientMessage::Scrape(vec![InfoHash([b'a'; 20]), InfoHash([b'b'; 20])])
    );
}

#[test]
fn failures_name_what_they_can() {
    let failure = ClientMessage::parse("{not json").unwrap_err();
    assert!(matches!(failure.error, WsMessageError::Json(_)));
    assert_eq!(failure.action, None);

    let failure =
        ClientMessage::parse(r#"{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa"}"#)
            .unwrap_err();
    assert_eq!(failure.error, WsMessageError::Invalid("peer_id"));
    assert_eq!(failure.action, Some(Action::Announce));
    assert_eq!(failure.info_hash, Some(InfoHash([b'a'; 20])));

    for (text, field) in [
        (r#"{"action":"dance"}"#, None),
        (r#"{}"#, Some("action")),
        (r#"{"action":"scrape","info_hash":[]}"#, Some("info_hash")),
        (
            r#"{"action":"scrape","info_hash":["short"]}"#,
            Some("info_hash"),
        ),
        (
            r#"{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","event":"exploded"}"#,
            Some("event"),
        ),
        (
            r#"{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","answer":{"type":"answer","sdp":""}}"#,
            Some("to_peer_id"),
        ),
        (
            r#"{"action":"announce","info_hash":"aaaaaaaaaaaaaaaaaaaa","peer_id":"bbbbbbbbbbbbbbbbbbbb","offers":[{"offer":{"type":"answer","sdp":""},"offer_id":"cccccccccccccccccccc"}]}"#,
            Some("offer type"),
        ),
    ] {
        let error = ClientMessage::parse(text).unwrap_err().error;
        match field {
            Some(field) => assert_eq!(error, WsMessageError::Invalid(field), "{text}"),
            None => assert!(matches!(error, WsMessageError::Json(_)), "{text}"),
        }
    }
}

#[test]
fn tracker_messages_have_webtorrents_shapes() {
    let hash = InfoHash([b'h'; 20]);
    let reply: serde_json::Value = serde_json::from_str(
        &TrackerMessage::Announced {
            info_hash: hash,
            complete: 1,
            incomplete: 2,
            interval: 120,
        }
        .to_json(),
    )
    .unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"action":"announce","info_hash":"hhhhhhhhhhhhhhhhhhhh",
            "complete":1,"incomplete":2,"interval":120})
    );
    let offer: serde_json::Value = serde_json::from_str(
        &TrackerMessage::Offer {
            info_hash: hash,
            peer_id: PeerId([b'p'; 20]),
            offer_id: OfferId([b'o'; 20]),
            offer: sdp("offer"),
        }
        .to_json(),
    )
    .unwrap();
    assert_eq!(offer["peer_id"], "pppppppppppppppppppp");
    assert_eq!(offer["offer_id"], "oooooooooooooooooooo");
    assert_eq!(offer["offer"]["type"], "offer");
    assert_eq!(offer["action"], "announce");
    let failure: serde_json::Value = serde_json::from_str(
        &TrackerMessage::Failure {
            action: Some(Action::Announce),
            info_hash: Some(hash),
            reason: "no".into(),
        }
        .to_json(),
    )
    .unwrap();
    assert_eq!(
        failure,
        serde_json::json!({"action":"announce","info_hash":"hhhhhhhhhhhhhhhhhhhh","failure reason":"no"})
    );
    let scrape: serde_json::Value = serde_json::from_str(
        &TrackerMessage::Scraped(vec![(hash, ScrapeStats::default())]).to_json(),
    )
    .unwrap();
    assert_eq!(
        scrape,
        serde_json::json!({"action":"scrape","files":{"hhhhhhhhhhhhhhhhhhhh":
            {"complete":0,"incomplete":0,"downloaded":0}}})
    );
}

#[test]
fn ice_config_is_an_rtc_configuration() {
    let config = IceConfig {
        ice_servers: vec![
            IceServer {
                urls: "stun:stun.example:3478".into(),
                username: None,
                credential: None,
            },
            IceServer {
                urls: "turn:turn.example:3478".into(),
                username: Some("u".into()),
                credential: Some("p".into()),
            },
        ],
    };
    assert_eq!(
        serde_json::to_value(&config).unwrap(),
        serde_json::json!({"iceServers":[{"urls":"stun:stun.example:3478"},
            {"urls":"turn:turn.example:3478","username":"u","credential":"p"}]})
    );
}

fn id20() -> impl Strategy<Value = [u8; 20]> {
    any::<[u8; 20]>()
}

fn description(kind: &'static str) -> impl Strategy<Value = SessionDescription> {
    ".{0,40}".prop_map(move |sdp| SessionDescription {
        kind: kind.into(),
        sdp,
    })
}

fn client_message() -> impl Strategy<Value = ClientMessage> {
    let event = prop_oneof![
        Just(None),
        Just(Some(AnnounceEvent::Started)),
        Just(Some(AnnounceEvent::Stopped)),
        Just(Some(AnnounceEvent::Completed)),
    ];
    let offer = (id20(), description("offer")).prop_map(|(id, offer)| WsOffer {
        offer_id: OfferId(id),
        offer,
    });
    let answer = (id20(), id20(), description("answer")).prop_map(|(to, id, answer)| WsAnswer {
        to_peer_id: PeerId(to),
        offer_id: OfferId(id),
        answer,
    });
    let announce = (
        id20(),
        id20(),
        event,
        any::<Option<u64>>(),
        any::<Option<u32>>(),
        prop::collection::vec(offer, 0..4),
        prop::option::of(answer),
    )
        .prop_map(|(hash, peer, event, left, numwant, offers, answer)| {
            ClientMessage::Announce(WsAnnounce {
                info_hash: InfoHash(hash),
                peer_id: PeerId(peer),
                event,
                left,
                numwant,
                offers,
                answer,
            })
        });
    let scrape =
        prop::collection::vec(id20().prop_map(InfoHash), 1..4).prop_map(ClientMessage::Scrape);
    prop_oneof![announce, scrape]
}

fn tracker_message() -> impl Strategy<Value = TrackerMessage> {
    let announced = (id20(), any::<u32>(), any::<u32>(), any::<u32>()).prop_map(
        |(hash, complete, incomplete, interval)| TrackerMessage::Announced {
            info_hash: InfoHash(hash),
            complete,
            incomplete,
            interval,
        },
    );
    let offer = (id20(), id20(), id20(), description("offer")).prop_map(|(h, p, o, offer)| {
        TrackerMessage::Offer {
            info_hash: InfoHash(h),
            peer_id: PeerId(p),
            offer_id: OfferId(o),
            offer,
        }
    });
    let answer = (id20(), id20(), id20(), description("answer")).prop_map(|(h, p, o, answer)| {
        TrackerMessage::Answer {
            info_hash: InfoHash(h),
            peer_id: PeerId(p),
            offer_id: OfferId(o),
            answer,
        }
    });
    let stats = (any::<u32>(), any::<u32>(), any::<u32>()).prop_map(|(c, d, i)| ScrapeStats {
        complete: c,
        downloaded: d,
        incomplete: i,
    });
    // Distinct, sorted hashes: the wire form is a map.
    let scraped = prop::collection::btree_map(id20(), stats, 0..4).prop_map(|files| {
        TrackerMessage::Scraped(
            files
                .into_iter()
                .map(|(hash, stats)| (InfoHash(hash), stats))
                .collect(),
        )
    });
    let failure = (
        prop_oneof![
            Just(None),
            Just(Some(Action::Announce)),
            Just(Some(Action::Scrape))
        ],
        prop::option::of(id20().prop_map(InfoHash)),
        ".{0,30}",
    )
        .prop_map(|(action, info_hash, reason)| TrackerMessage::Failure {
            action,
            info_hash,
            reason,
        });
    prop_oneof![announced, offer, answer, scraped, failure]
}

proptest! {
    #[test]
    fn client_messages_round_trip(message in client_message()) {
        prop_assert_eq!(ClientMessage::parse(&message.to_json()).unwrap(), message);
    }

    #[test]
    fn tracker_messages_round_trip(message in tracker_message()) {
        // The scrape map is keyed by binary strings, whose UTF-8 order is byte order, so
        // files come back in the order they went.
        let parsed = TrackerMessage::parse(&message.to_json()).unwrap();
        prop_assert_eq!(parsed, message);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,200}") {
        let _ = ClientMessage::parse(&text);
        let _ = TrackerMessage::parse(&text);
    }
}
