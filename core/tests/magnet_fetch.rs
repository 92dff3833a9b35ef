//! A magnet link's metadata fetch against a real seeding `Torrent`, in memory: the info
//! dictionary arrives over `ut_metadata`, the fetch turns into a torrent on the same connection,
//! and that torrent downloads the payload.

use std::sync::Arc;

use bitfleet_core::engine::{Action, Config, MetadataFetch, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{Metainfo, PieceHasher, TorrentBuilder};
use bitfleet_core::{Bitfield, Instant, PeerId};
use bytes::Bytes;

const SEED: PeerKey = PeerKey(1);
const FETCHER: PeerKey = PeerKey(2);

fn torrent_of(data: &[u8]) -> Metainfo {
    let mut hasher = PieceHasher::new(16 << 10);
    hasher.update(data);
    TorrentBuilder {
        name: "movie.mp4".into(),
        files: vec![(vec![], data.len() as u64)],
        piece_length: 16 << 10,
        trackers: vec!["http://tracker.invalid/announce".into()],
        ..Default::default()
    }
    .build(hasher.finish())
    .unwrap()
}

fn peer_info(seed: u64) -> PeerInfo {
    PeerInfo {
        addr: None,
        peer_id: PeerId::generate(seed),
        supports_fast: true,
        supports_extensions: true,
        outgoing: false,
    }
}

/// The downloading side: first a fetch, then the torrent it became.
enum Leecher {
    Fetching(Box<MetadataFetch>),
    Downloading(Box<Torrent>, Vec<u8>),
}

#[test]
fn magnet_fetch_gets_the_info_dictionary_and_the_payload() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let meta = torrent_of(&data);
    let info = Arc::new(meta.info.clone());
    let now = Instant::ZERO;

    let mut seed_config = Config::new(PeerId::generate(1), 0);
    seed_config.metadata = Some(Bytes::from(meta.info_bytes.clone()));
    let mut seed = Torrent::new(
        info.clone(),
        meta.info_hash,
        Bitfield::full(info.piece_count()),
        seed_config,
        1,
        now,
    );
    seed.start(now);

    let fetch = MetadataFetch::new(meta.info_hash, Config::new(PeerId::generate(2), 0), now);
    let mut leecher = Leecher::Fetching(Box::new(fetch));
    if let Leecher::Fetching(fetch) = &mut leecher {
        fetch.start(now);
        assert!(fetch.peer_connected(SEED, peer_info(1), now));
    }
    assert!(seed.peer_connected(FETCHER, peer_info(2), now));

    let mut got_metadata = false;
    for _round in 0..10_000 {
        let mut to_leecher = Vec::new();
        while let Some(action) = seed.poll_action() {
            match action {
                Action::Send { data, .. } => to_leecher.push(data),
                Action::ReadBlock { peer, block } => {
                    let start =
                        block.piece as usize * info.piece_length as usize + block.begin as usize;
                    let bytes = Bytes::copy_from_slice(&data[start..start + block.len as usize]);
                    seed.block_read(peer, block, Some(bytes), now);
                }
                _ => {}
            }
        }
        let mut to_seed = Vec::new();
        let mut became = None;
        match &mut leecher {
            Leecher::Fetching(fetch) => {
                for bytes in &to_leecher {
                    fetch.peer_data(SEED, bytes, now);
                }
                while let Some(action) = fetch.poll_action() {
                    match action {
                        Action::Send { data, .. } => to_seed.push(data),
                        Action::MetadataReceived { info: raw } => became = Some(raw),
                        _ => {}
                    }
                }
            }
            Leecher::Downloading(torrent, storage) => {
                for bytes in &to_leecher {
                    torrent.peer_data(SEED, bytes, now);
                }
                while let Some(action) = torrent.poll_action() {
                    match action {
                        Action::Send { data, .. } => to_seed.push(data),
                        Action::Verify { piece, data } => {
                            let ok = info.verify_piece(piece, &data);
                            torrent.piece_verified(piece, ok, now);
                        }
                        Action::Write { piece, data } => {
                            let start = piece as usize * info.piece_length as usize;
                            storage[start..start + data.len()].copy_from_slice(&data);
                            torrent.piece_written(piece, true, now);
                        }
                        _ => {}
                    }
                }
            }
        }
        if let Some(raw) = became {
            got_metadata = true;
            let parsed = Metainfo::from_info_dict(&raw, &[], &[]).unwrap();
            assert_eq!(parsed.info_hash, meta.info_hash);
            let Leecher::Fetching(fetch) = leecher else {
                unreachable!()
            };
            let have = Bitfield::new(parsed.info.piece_count());
            let mut torrent = fetch.into_torrent(Arc::new(parsed.info), raw, have, 2, now);
            while let Some(action) = torrent.poll_action() {
                if let Action::Send { data, .. } = action {
                    to_seed.push(data);
                }
            }
            leecher = Leecher::Downloading(Box::new(torrent), vec![0; data.len()]);
        }
        for bytes in &to_seed {
            seed.peer_data(FETCHER, bytes, now);
        }
        if let Leecher::Downloading(torrent, storage) = &leecher {
            if torrent.is_complete() {
                assert!(storage == &data);
                return;
            }
        }
        if to_leecher.is_empty() && to_seed.is_empty() {
            break;
        }
    }
    panic!("did not finish (metadata received: {got_metadata})");
}
