//! The tracker over real HTTP on loopback, decoded with core's client-side parsers.

mod common;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use bitfleet_core::tracker::{
    AnnounceEvent, AnnounceResponse, ScrapeRequest, ScrapeStats, TrackerError,
};
use bitfleet_core::InfoHash;
use bitfleet_signaling::{StatsReport, TrackerConfig};
use common::{peer, peer_addr, TestServer, HASH};

fn addrs(peers: &[std::net::SocketAddr]) -> HashSet<std::net::SocketAddr> {
    peers.iter().copied().collect()
}

fn failure_of(result: Result<impl std::fmt::Debug, TrackerError>) -> String {
    match result {
        Err(TrackerError::Failure(reason)) => reason,
        other => panic!("expected a tracker failure, got {other:?}"),
    }
}

#[tokio::test]
async fn started_peers_find_each_other_in_both_formats() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let first = server.announce(&peer(1, 100)).await;
    assert!(first.peers.is_empty());
    assert_eq!((first.complete, first.incomplete), (0, 1));
    assert_eq!(first.interval, 300);
    assert_eq!(first.min_interval, Some(60));
    server.announce(&peer(2, 0)).await;

    let compact = server.announce(&peer(3, 50)).await;
    assert_eq!(
        addrs(&compact.peers),
        HashSet::from([peer_addr(1), peer_addr(2)])
    );
    assert_eq!((compact.complete, compact.incomplete), (1, 2));

    let mut dictionary_request = peer(3, 50);
    dictionary_request.compact = false;
    let raw = server
        .get(&format!("/announce?{}", dictionary_request.to_query()))
        .await;
    assert!(
        raw.windows(9).any(|w| w == b"2:ip9:127"),
        "peers as dictionaries: {}",
        String::from_utf8_lossy(&raw)
    );
    let dictionary = AnnounceResponse::decode(&raw).unwrap();
    assert_eq!(addrs(&dictionary.peers), addrs(&compact.peers));
    server.stop().await;
}

#[tokio::test]
async fn numwant_bounds_the_peer_list() {
    let config = TrackerConfig {
        default_numwant: 4,
        max_numwant: 6,
        ..TrackerConfig::default()
    };
    let server = TestServer::start(config).await;
    for n in 1..=10 {
        server.announce(&peer(n, 1)).await;
    }
    let mut asker = peer(20, 1);
    assert_eq!(server.announce(&asker).await.peers.len(), 4);
    for (numwant, expected) in [(0, 0), (3, 3), (500, 6)] {
        asker.numwant = Some(numwant);
        let peers = server.announce(&asker).await.peers;
        assert_eq!(peers.len(), expected, "numwant={numwant}");
        assert!(!peers.contains(&peer_addr(20)));
    }
}

#[tokio::test]
async fn stopped_peers_leave_and_completed_ones_count() {
    let server = TestServer::start(TrackerConfig::default()).await;
    server.announce(&peer(1, 10)).await;
    server.announce(&peer(2, 10)).await;

    let mut stop = peer(1, 10);
    stop.event = Some(AnnounceEvent::Stopped);
    let reply = server.announce(&stop).await;
    assert!(reply.peers.is_empty(), "a stopping peer is sent no peers");
    assert_eq!(
        server.announce(&peer(3, 10)).await.peers,
        vec![peer_addr(2)]
    );

    let mut done = peer(2, 0);
    done.event = Some(AnnounceEvent::Completed);
    server.announce(&done).await;
    let query = ScrapeRequest {
        info_hashes: vec![HASH],
    }
    .to_query();
    let stats = server.scrape(&query).await.files[&HASH];
    assert_eq!(
        stats,
        ScrapeStats {
            complete: 1,
            downloaded: 1,
            incomplete: 1
        }
    );
}

#[tokio::test]
async fn the_background_sweep_forgets_silent_peers() {
    // Peers expire after 2 × 100 ms; the sweep runs every 50 ms.
    let config = TrackerConfig {
        interval: Duration::from_millis(100),
        ..TrackerConfig::default()
    };
    let server = TestServer::start(config).await;
    let reply = server.announce(&peer(1, 0)).await;
    assert_eq!(
        reply.interval, 1,
        "sub-second intervals are told as one second"
    );
    assert_eq!(server.scrape("").await.files.len(), 1);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !server.scrape("").await.files.is_empty() {
        assert!(tokio::time::Instant::now() < deadline, "peer never expired");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(server.announce(&peer(2, 5)).await.peers.is_empty());
}

#[tokio::test]
async fn sweeping_at_a_given_time_keeps_fresh_peers() {
    let server = TestServer::start(TrackerConfig::default()).await;
    server.announce(&peer(1, 0)).await;
    let timeout = server.tracker.config().peer_timeout();
    let tracker = &server.tracker;
    assert_eq!(tracker.sweep(tracker.now() + timeout / 2), 0);
    server.announce(&peer(2, 5)).await;
    assert_eq!(
        tracker.sweep(tracker.now() + timeout + Duration::from_secs(1)),
        2
    );
    assert!(server.scrape("").await.files.is_empty());
}

#[tokio::test]
async fn scrape_answers_requested_or_all_torrents_within_the_cap() {
    let config = TrackerConfig {
        max_scrape: 2,
        ..TrackerConfig::default()
    };
    let server = TestServer::start(config).await;
    let hashes: Vec<InfoHash> = (1..=3).map(|n| InfoHash([n; 20])).collect();
    for (n, hash) in (1..).zip(&hashes) {
        let mut request = peer(n, u64::from(n) - 1);
        request.info_hash = *hash;
        server.announce(&request).await;
    }

    let all = server.scrape("").await.files;
    assert_eq!(
        all.keys().copied().collect::<Vec<_>>(),
        hashes[..2].to_vec()
    );

    let unknown = InfoHash([9; 20]);
    let query = ScrapeRequest {
        info_hashes: vec![hashes[0], unknown],
    }
    .to_query();
    let expected = BTreeMap::from([
        (
            hashes[0],
            ScrapeStats {
                complete: 1,
                ..ScrapeStats::default()
            },
        ),
        (unknown, ScrapeStats::default()),
    ]);
    assert_eq!(server.scrape(&query).await.files, expected);
}

#[tokio::test]
async fn a_configured_token_is_required_everywhere() {
    let config = TrackerConfig {
        require_token: Some("s3cret".into()),
        ..TrackerConfig::default()
    };
    let server = TestServer::start(config).await;
    let request = peer(1, 0);
    let plain = server.announce_url();
    let wrong = format!("{plain}?token=guess");
    let right = format!("{plain}?token=s3cret");
    for url in [&plain, &wrong] {
        let reason = failure_of(server.announce_to(url, &request).await);
        assert!(reason.contains("token"), "{reason}");
    }
    let reply = server.announce_to(&right, &request).await.unwrap();
    assert_eq!(reply.complete, 1);

    assert!(failure_of(server.try_scrape("").await).contains("token"));
    assert_eq!(server.scrape("token=s3cret").await.files.len(), 1);

    assert_eq!(server.get_with_status("/stats").await.0, 403);
    let (status, body) = server.get_with_status("/stats?token=s3cret").await;
    assert_eq!(status, 200);
    let report: StatsReport = serde_json::from_slice(&body).unwrap();
    assert_eq!(report.swarms.len(), 1);
}

#[tokio::test]
async fn only_allowed_torrents_are_tracked() {
    let other = InfoHash([0x01; 20]);
    let config = TrackerConfig {
        allowed_info_hashes: Some(HashSet::from([HASH])),
        ..TrackerConfig::default()
    };
    let server = TestServer::start(config).await;
    server.announce(&peer(1, 0)).await;
    let mut outsider = peer(2, 0);
    outsider.info_hash = other;
    let reason = failure_of(server.announce_to(&server.announce_url(), &outsider).await);
    assert!(reason.contains("not tracked"), "{reason}");

    let query = ScrapeRequest {
        info_hashes: vec![HASH, other],
    }
    .to_query();
    let files = server.scrape(&query).await.files;
    assert_eq!(files.keys().collect::<Vec<_>>(), vec![&HASH]);
}

#[tokio::test]
async fn the_ip_parameter_is_ignored_unless_enabled() {
    let mut claiming = peer(1, 0);
    claiming.ip = Some("192.0.2.7".into());
    let mut bogus = peer(2, 0);
    bogus.ip = Some("not-an-ip".into());
    async fn listed(server: &TestServer) -> HashSet<std::net::SocketAddr> {
        addrs(&server.announce(&peer(3, 5)).await.peers)
    }

    let default = TestServer::start(TrackerConfig::default()).await;
    default.announce(&claiming).await;
    default.announce(&bogus).await;
    assert_eq!(
        listed(&default).await,
        HashSet::from([peer_addr(1), peer_addr(2)])
    );

    let trusting = TestServer::start(TrackerConfig {
        accept_ip_param: true,
        ..TrackerConfig::default()
    })
    .await;
    trusting.announce(&claiming).await;
    trusting.announce(&bogus).await;
    let claimed = std::net::SocketAddr::from(([192, 0, 2, 7], claiming.port));
    assert_eq!(
        listed(&trusting).await,
        HashSet::from([claimed, peer_addr(2)])
    );
}

#[tokio::test]
async fn malformed_queries_get_bencoded_failures_and_the_server_goes_on() {
    let server = TestServer::start(TrackerConfig::default()).await;
    let valid = peer(1, 0).to_query();
    let (_, without_hash) = valid.split_once('&').unwrap();
    let cases = [
        without_hash.to_owned(),
        valid.replace("info_hash=%AB%AB", "info_hash=%AB"),
        valid.replace("info_hash=%AB", "info_hash=%zz"),
        valid.replace("port=7001", "port=99999"),
        format!("{valid}&info_hash=x"),
        "\u{1}garbage&&==&%".to_owned(),
        String::new(),
    ];
    for query in &cases {
        let body = server.get(&format!("/announce?{query}")).await;
        let reason = failure_of(AnnounceResponse::decode(&body));
        assert!(
            reason.starts_with("bad announce query"),
            "{query}: {reason}"
        );
    }
    let reason = failure_of(server.try_scrape("info_hash=short").await);
    assert!(reason.contains("20 bytes"), "{reason}");
    assert_eq!(server.get_with_status("/stats?%zz").await.0, 400);

    assert_eq!(server.announce(&peer(1, 0)).await.complete, 1);
    server.stop().await;
}

#[tokio::test]
async fn stats_list_every_swarm() {
    let server = TestServer::start(TrackerConfig::default()).await;
    server.announce(&peer(1, 0)).await;
    server.announce(&peer(2, 9)).await;
    let report: StatsReport = serde_json::from_slice(&server.get("/stats").await).unwrap();
    assert_eq!(report.swarms.len(), 1);
    let swarm = &report.swarms[0];
    assert_eq!(swarm.info_hash, HASH.to_hex());
    assert_eq!((swarm.seeds, swarm.leechers, swarm.downloaded), (1, 1, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_announces_all_land() {
    let server = std::sync::Arc::new(TestServer::start(TrackerConfig::default()).await);
    let mut announces = tokio::task::JoinSet::new();
    for n in 1..=40u8 {
        let server = server.clone();
        announces.spawn(async move { server.announce(&peer(n, u64::from(n % 2))).await });
    }
    while let Some(reply) = announces.join_next().await {
        reply.unwrap();
    }
    let stats = server.scrape("").await.files[&HASH];
    assert_eq!((stats.complete, stats.incomplete), (20, 20));
}
