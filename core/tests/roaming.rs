//! What the engine does for a machine that changed networks: the roaming side re-announces
//! and redials at once; the other side takes the roamer's new connection over its dead one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bitfleet_core::engine::{Action, Config, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{PieceHasher, TorrentBuilder};
use bitfleet_core::tracker::AnnounceResponse;
use bitfleet_core::{Bitfield, Instant, PeerId};

fn torrent(have_all: bool, id: u64) -> Torrent {
    let data = vec![7u8; 64 << 10];
    let mut hasher = PieceHasher::new(16 << 10);
    hasher.update(&data);
    let meta = TorrentBuilder {
        name: "f".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: 16 << 10,
        ..Default::default()
    }
    .build(hasher.finish())
    .unwrap();
    let info = Arc::new(meta.info);
    let have = if have_all {
        Bitfield::full(info.piece_count())
    } else {
        Bitfield::new(info.piece_count())
    };
    let config = Config::new(PeerId::generate(id), 6881);
    Torrent::new(info, meta.info_hash, have, config, id, Instant::ZERO)
}

fn at(secs: u64) -> Instant {
    Instant::ZERO + Duration::from_secs(secs)
}

fn drain(t: &mut Torrent) -> Vec<Action> {
    std::iter::from_fn(|| t.poll_action()).collect()
}

#[test]
fn a_peer_that_redials_replaces_its_old_connection() {
    let mut seed = torrent(true, 1);
    seed.start(at(0));
    // The larger id: the simultaneous-dial rule alone would keep the (dead) old connection.
    let roamer = PeerId([0xff; 20]);
    let from = |addr: &str| PeerInfo {
        addr: Some(addr.parse().unwrap()),
        peer_id: roamer,
        supports_fast: true,
        supports_extensions: false,
        outgoing: false,
    };
    assert!(seed.peer_connected(PeerKey(1), from("10.0.1.2:40000"), at(1)));
    drain(&mut seed);
    // Same peer, new address: its old connection is dead whatever the peer ids say.
    assert!(seed.peer_connected(PeerKey(2), from("10.0.2.2:40001"), at(2)));
    let closed: Vec<PeerKey> = drain(&mut seed)
        .into_iter()
        .filter_map(|a| match a {
            Action::Disconnect { peer, .. } => Some(peer),
            _ => None,
        })
        .collect();
    assert_eq!(closed, [PeerKey(1)]);
    assert_eq!(seed.status(at(2)).peers, 1);
}

#[test]
fn network_change_reannounces_and_redials_at_once() {
    let mut laptop = torrent(false, 3);
    laptop.start(at(0));
    let seed: SocketAddr = "10.0.0.1:6881".parse().unwrap();
    drain(&mut laptop);
    let reply = AnnounceResponse {
        interval: 1800,
        min_interval: None,
        complete: 1,
        incomplete: 0,
        peers: vec![seed],
        warning: None,
        tracker_id: None,
    };
    laptop.announce_result(Ok(reply), at(1));
    assert!(drain(&mut laptop)
        .iter()
        .any(|a| matches!(a, Action::Connect { addr } if *addr == seed)));
    laptop.connect_failed(seed, at(2));
    laptop.handle_timeout(at(2));
    assert!(
        drain(&mut laptop).is_empty(),
        "backing off, announce not due"
    );

    laptop.network_changed(at(3));
    let actions = drain(&mut laptop);
    assert!(actions.iter().any(|a| matches!(a, Action::Announce { .. })));
    assert!(actions
        .iter()
        .any(|a| matches!(a, Action::Connect { addr } if *addr == seed)));
}
