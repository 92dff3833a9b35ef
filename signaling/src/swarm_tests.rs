use std::collections::HashSet;

use super::*;

const LIMITS: SwarmLimits = SwarmLimits {
    max_swarms: 3,
    max_peers_per_swarm: 50,
    default_numwant: 5,
    max_numwant: 8,
};
const HASH: InfoHash = InfoHash([1; 20]);
const TIMEOUT: Duration = Duration::from_secs(60);

fn at(secs: u64) -> Instant {
    Instant::from_epoch(Duration::from_secs(secs))
}

fn peer(n: u8, left: u64) -> PeerAnnounce {
    PeerAnnounce {
        info_hash: HASH,
        peer_id: PeerId([n; 20]),
        addr: SocketAddr::from(([10, 0, 0, n], 6881)),
        left,
        event: Some(AnnounceEvent::Started),
        numwant: None,
        key: None,
        site: None,
    }
}

fn addr(n: u8) -> SocketAddr {
    peer(n, 0).addr
}

fn stats(swarms: &Swarms) -> ScrapeStats {
    swarms.scrape(&[HASH], 1)[0].stats
}

#[test]
fn announcer_is_never_listed_and_counts_follow_left() {
    let mut swarms = Swarms::new(LIMITS, 7);
    let first = swarms.announce(peer(1, 100), at(0)).unwrap();
    assert!(first.peers.is_empty());
    assert_eq!((first.seeds, first.leechers), (0, 1));

    swarms.announce(peer(2, 0), at(1)).unwrap();
    let third = swarms.announce(peer(3, 5), at(2)).unwrap();
    assert_eq!((third.seeds, third.leechers), (1, 2));
    let listed: HashSet<_> = third.peers.into_iter().collect();
    assert_eq!(listed, HashSet::from([addr(1), addr(2)]));
}

#[test]
fn seeds_are_not_sent_to_seeds() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 0), at(0)).unwrap();
    swarms.announce(peer(2, 10), at(0)).unwrap();
    let seed = swarms.announce(peer(3, 0), at(0)).unwrap();
    assert_eq!(seed.peers, vec![addr(2)]);
    let leecher = swarms.announce(peer(4, 10), at(0)).unwrap();
    assert_eq!(leecher.peers.len(), 3);
}

#[test]
fn numwant_defaults_and_is_capped() {
    let mut swarms = Swarms::new(LIMITS, 7);
    for n in 1..=20 {
        swarms.announce(peer(n, 1), at(0)).unwrap();
    }
    let mut ask = |numwant| {
        let mut request = peer(30, 1);
        request.numwant = numwant;
        swarms.announce(request, at(0)).unwrap().peers
    };
    assert_eq!(ask(None).len(), 5);
    assert_eq!(ask(Some(0)).len(), 0);
    assert_eq!(ask(Some(7)).len(), 7);
    let capped = ask(Some(1000));
    assert_eq!(capped.len(), 8);
    assert_eq!(
        capped.iter().collect::<HashSet<_>>().len(),
        8,
        "no duplicates"
    );
    assert!(!capped.contains(&peer(30, 1).addr));
}

#[test]
fn selection_varies_between_announces() {
    let mut swarms = Swarms::new(LIMITS, 7);
    for n in 1..=40 {
        swarms.announce(peer(n, 1), at(0)).unwrap();
    }
    let picks: HashSet<Vec<SocketAddr>> = (0..10)
        .map(|_| swarms.announce(peer(1, 1), at(0)).unwrap().peers)
        .collect();
    assert!(picks.len() > 1, "the same 5 of 39 peers every time");
}

#[test]
fn stopped_removes_the_peer_and_empty_swarms() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 0), at(0)).unwrap();
    swarms.announce(peer(2, 5), at(0)).unwrap();
    let mut stop = peer(1, 0);
    stop.event = Some(AnnounceEvent::Stopped);
    let outcome = swarms.announce(stop.clone(), at(1)).unwrap();
    assert!(outcome.peers.is_empty());
    assert_eq!((outcome.seeds, outcome.leechers), (0, 1));
    let listed = swarms.announce(peer(3, 5), at(1)).unwrap().peers;
    assert_eq!(listed, vec![addr(2)]);

    for n in [2, 3] {
        let mut stop = peer(n, 5);
        stop.event = Some(AnnounceEvent::Stopped);
        swarms.announce(stop, at(2)).unwrap();
    }
    assert_eq!(swarms.swarm_count(), 0);
    // Stopping in an unknown swarm neither fails nor creates it.
    swarms.announce(stop, at(3)).unwrap();
    assert_eq!(swarms.swarm_count(), 0);
}

#[test]
fn completed_counts_once_per_download() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 100), at(0)).unwrap();
    let mut done = peer(1, 0);
    done.event = Some(AnnounceEvent::Completed);
    swarms.announce(done.clone(), at(1)).unwrap();
    swarms.announce(done, at(2)).unwrap();
    assert_eq!(
        stats(&swarms),
        ScrapeStats {
            complete: 1,
            downloaded: 1,
            incomplete: 0
        }
    );
}

#[test]
fn silent_peers_expire_and_take_empty_swarms_along() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 0), at(0)).unwrap();
    swarms.announce(peer(2, 5), at(50)).unwrap();
    assert_eq!(swarms.expire(at(60), TIMEOUT), 0, "exactly the timeout");
    assert_eq!(swarms.expire(at(61), TIMEOUT), 1);
    assert_eq!((stats(&swarms).complete, stats(&swarms).incomplete), (0, 1));
    // A re-announce refreshes the peer.
    swarms.announce(peer(2, 5), at(100)).unwrap();
    assert_eq!(swarms.expire(at(150), TIMEOUT), 0);
    assert_eq!(swarms.expire(at(161), TIMEOUT), 1);
    assert_eq!(swarms.swarm_count(), 0);
}

#[test]
fn caps_refuse_new_swarms_and_peers_but_not_known_ones() {
    let limits = SwarmLimits {
        max_swarms: 2,
        max_peers_per_swarm: 2,
        ..LIMITS
    };
    let mut swarms = Swarms::new(limits, 7);
    for hash in 1..=2 {
        let mut request = peer(1, 1);
        request.info_hash = InfoHash([hash; 20]);
        swarms.announce(request, at(0)).unwrap();
    }
    let mut third = peer(1, 1);
    third.info_hash = InfoHash([3; 20]);
    assert_eq!(
        swarms.announce(third, at(0)),
        Err(SwarmError::TooManySwarms)
    );

    swarms.announce(peer(2, 1), at(0)).unwrap();
    assert_eq!(
        swarms.announce(peer(3, 1), at(0)),
        Err(SwarmError::SwarmFull)
    );
    assert!(
        swarms.announce(peer(2, 0), at(1)).is_ok(),
        "known peers stay"
    );
}

#[test]
fn a_keyed_peer_cannot_be_moved_or_stopped_without_its_key() {
    let mut swarms = Swarms::new(LIMITS, 7);
    let mut owner = peer(1, 5);
    owner.key = Some("secret".into());
    swarms.announce(owner.clone(), at(0)).unwrap();

    let mut impostor = peer(1, 5);
    impostor.addr = SocketAddr::from(([192, 0, 2, 1], 1));
    assert_eq!(
        swarms.announce(impostor.clone(), at(1)),
        Err(SwarmError::KeyMismatch)
    );
    impostor.event = Some(AnnounceEvent::Stopped);
    assert_eq!(
        swarms.announce(impostor, at(1)),
        Err(SwarmError::KeyMismatch)
    );
    let listed = swarms.announce(peer(2, 5), at(2)).unwrap().peers;
    assert_eq!(listed, vec![owner.addr]);

    owner.event = None;
    owner.addr = SocketAddr::from(([10, 0, 0, 9], 7000));
    swarms.announce(owner.clone(), at(3)).unwrap();
    let listed = swarms.announce(peer(2, 5), at(4)).unwrap().peers;
    assert_eq!(listed, vec![owner.addr], "the owner moved itself");
}

#[test]
fn scrape_lists_requested_or_all_within_the_limit() {
    let mut swarms = Swarms::new(LIMITS, 7);
    for hash in 1..=3 {
        let mut request = peer(1, 1);
        request.info_hash = InfoHash([hash; 20]);
        swarms.announce(request, at(0)).unwrap();
    }
    let all = swarms.scrape(&[], 2);
    assert_eq!(
        all.iter().map(|s| s.info_hash).collect::<Vec<_>>(),
        vec![InfoHash([1; 20]), InfoHash([2; 20])]
    );
    let unknown = InfoHash([9; 20]);
    let requested = swarms.scrape(&[unknown, InfoHash([3; 20])], 10);
    assert_eq!(requested[0].stats, ScrapeStats::default());
    assert_eq!(requested[1].stats.incomplete, 1);
}

fn rtc(n: u8, connection: u64, offers: usize) -> RtcAnnounce {
    RtcAnnounce {
        info_hash: HASH,
        peer_id: PeerId([n; 20]),
        connection: ConnectionId(connection),
        left: Some(10),
        event: None,
        offers,
        site: None,
    }
}

#[test]
fn http_lists_tcp_peers_and_offers_go_to_rtc_peers_while_counts_cover_all() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 10), at(0)).unwrap();
    swarms.announce_rtc(&rtc(2, 20, 0), at(0)).unwrap();
    // Peer 3 speaks both: one peer, reachable both ways.
    swarms.announce(peer(3, 0), at(0)).unwrap();
    swarms.announce_rtc(&rtc(3, 30, 0), at(0)).unwrap();
    let mut as_seed = rtc(3, 30, 0);
    as_seed.left = Some(0);
    swarms.announce_rtc(&as_seed, at(0)).unwrap();

    let tcp = swarms.announce(peer(4, 10), at(1)).unwrap();
    let listed: HashSet<_> = tcp.peers.into_iter().collect();
    assert_eq!(listed, HashSet::from([addr(1), addr(3)]));
    assert_eq!((tcp.seeds, tcp.leechers), (1, 3));

    let webrtc = swarms.announce_rtc(&rtc(5, 50, 8), at(1)).unwrap();
    let offered: HashSet<_> = webrtc.offer_to.into_iter().collect();
    assert_eq!(
        offered,
        HashSet::from([
            (PeerId([2; 20]), ConnectionId(20)),
            (PeerId([3; 20]), ConnectionId(30)),
        ])
    );
    assert_eq!((webrtc.seeds, webrtc.leechers), (1, 4));
}

#[test]
fn offers_are_capped_by_what_the_announcer_sent() {
    let mut swarms = Swarms::new(LIMITS, 7);
    for n in 1..=10 {
        swarms.announce_rtc(&rtc(n, n.into(), 0), at(0)).unwrap();
    }
    let outcome = swarms.announce_rtc(&rtc(11, 11, 3), at(0)).unwrap();
    assert_eq!(outcome.offer_to.len(), 3);
    let distinct: HashSet<_> = outcome.offer_to.iter().map(|(id, _)| *id).collect();
    assert_eq!(distinct.len(), 3);
}

#[test]
fn another_connections_peer_id_is_refused() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce_rtc(&rtc(1, 10, 0), at(0)).unwrap();
    assert_eq!(
        swarms.announce_rtc(&rtc(1, 11, 0), at(0)),
        Err(SwarmError::PeerIdTaken)
    );
    let mut stop = rtc(1, 11, 0);
    stop.event = Some(AnnounceEvent::Stopped);
    swarms.announce_rtc(&stop, at(0)).unwrap();
    assert_eq!(
        swarms.rtc_connection(&HASH, &PeerId([1; 20])),
        Some(ConnectionId(10))
    );
}

#[test]
fn a_peer_leaves_once_no_transport_reaches_it() {
    let mut swarms = Swarms::new(LIMITS, 7);
    swarms.announce(peer(1, 10), at(0)).unwrap();
    swarms.announce_rtc(&rtc(1, 10, 0), at(0)).unwrap();
    assert_eq!(stats(&swarms).incomplete, 1);

    swarms.leave_rtc(&HASH, &PeerId([1; 20]), ConnectionId(10));
    assert_eq!(stats(&swarms).incomplete, 1, "still reachable over TCP");
    assert_eq!(swarms.rtc_connection(&HASH, &PeerId([1; 20])), None);
    let mut stop = peer(1, 10);
    stop.event = Some(AnnounceEvent::Stopped);
    swarms.announce(stop, at(1)).unwrap();
    assert_eq!(swarms.swarm_count(), 0);

    // And the other way round: HTTP stopped leaves the WebRTC side in place.
    swarms.announce(peer(2, 10), at(2)).unwrap();
    swarms.announce_rtc(&rtc(2, 20, 0), at(2)).unwrap();
    let mut stop = peer(2, 10);
    stop.event = Some(AnnounceEvent::Stopped);
    swarms.announce(stop, at(3)).unwrap();
    assert_eq!(
        swarms.rtc_connection(&HASH, &PeerId([2; 20])),
        Some(ConnectionId(20))
    );
    let listed = swarms.announce(peer(3, 10), at(3)).unwrap().peers;
    assert!(listed.is_empty(), "{listed:?}");
}

/// Peers 1–4 in site 0 (1 seeds), 5–8 in site 1 (5 seeds), 9 in none (seeds).
fn offices(swarms: &mut Swarms, announce: impl Fn(&mut Swarms, u8, u64, Option<SiteId>)) {
    for n in 1..=9u8 {
        let site = match n {
            1..=4 => Some(SiteId(0)),
            5..=8 => Some(SiteId(1)),
            _ => None,
        };
        let left = if matches!(n, 1 | 5 | 9) { 0 } else { 10 };
        announce(swarms, n, left, site);
    }
}

/// Which peer (by its number) each returned id is.
fn numbers(ids: impl IntoIterator<Item = PeerId>) -> Vec<u8> {
    ids.into_iter().map(|id| id.0[0]).collect()
}

#[test]
fn http_replies_rank_own_site_first_then_other_sites_then_the_rest() {
    let mut swarms = Swarms::new(LIMITS, 7).with_selection(SelectionPolicy {
        by_site: true,
        max_off_site: None,
    });
    offices(&mut swarms, |swarms, n, left, site| {
        swarms
            .announce(
                PeerAnnounce {
                    site,
                    ..peer(n, left)
                },
                at(0),
            )
            .unwrap();
    });
    let me = PeerAnnounce {
        site: Some(SiteId(0)),
        numwant: Some(8),
        ..peer(2, 10)
    };
    let got = swarms.announce(me, at(1)).unwrap().peers;
    let got: Vec<u8> = got
        .iter()
        .map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => v4.octets()[3],
            std::net::IpAddr::V6(_) => unreachable!(),
        })
        .collect();
    assert_eq!(got[0], 1, "the office's seed first: {got:?}");
    let mut colleagues = got[1..3].to_vec();
    colleagues.sort();
    assert_eq!(colleagues, [3, 4]);
    assert_eq!(
        got[3], 5,
        "the other office's seed beats its leechers: {got:?}"
    );
    let mut others = got[4..7].to_vec();
    others.sort();
    assert_eq!(others, [6, 7, 8]);
    assert_eq!(got[7], 9, "peers in no site last: {got:?}");
}

#[test]
fn offers_go_to_the_announcers_site_first_within_the_off_site_quota() {
    let mut swarms = Swarms::new(LIMITS, 7).with_selection(SelectionPolicy {
        by_site: true,
        max_off_site: Some(1),
    });
    offices(&mut swarms, |swarms, n, left, site| {
        let announce = RtcAnnounce {
            left: Some(left),
            site,
            ..rtc(n, u64::from(n), 0)
        };
        swarms.announce_rtc(&announce, at(0)).unwrap();
    });
    let me = RtcAnnounce {
        site: Some(SiteId(1)),
        ..rtc(6, 6, 8)
    };
    let got = numbers(
        swarms
            .announce_rtc(&me, at(1))
            .unwrap()
            .offer_to
            .into_iter()
            .map(|(id, _)| id),
    );
    assert_eq!(got.len(), 4, "three colleagues and one outsider: {got:?}");
    assert_eq!(got[0], 5, "the office's seed first: {got:?}");
    let mut colleagues = got[1..3].to_vec();
    colleagues.sort();
    assert_eq!(colleagues, [7, 8]);
    assert_eq!(
        got[3], 1,
        "the one outsider is the other office's seed: {got:?}"
    );
}
