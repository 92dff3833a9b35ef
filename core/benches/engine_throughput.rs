//! How fast the engine alone moves payload: one seed and one leecher wired in memory, no
//! hashing and no storage, so the figure is the engine's own ceiling (codec, picker, request
//! pipelining, piece assembly). Run: `cargo bench -p bitfleet-core --bench engine_throughput`.

use std::sync::Arc;
use std::time::{Duration, Instant as WallClock};

use bitfleet_core::engine::{Action, Config, PeerInfo, PeerKey, Torrent};
use bitfleet_core::metainfo::{piece_length_for, TorrentBuilder};
use bitfleet_core::{Bitfield, Instant, PeerId};
use bytes::Bytes;

const TOTAL: u64 = 1 << 30;

fn main() {
    let piece_length = piece_length_for(TOTAL);
    let pieces = TOTAL.div_ceil(piece_length as u64) as usize;
    let meta = TorrentBuilder {
        name: "bench.bin".into(),
        files: vec![(vec![], TOTAL)],
        piece_length,
        ..Default::default()
    }
    .build(vec![[0; 20]; pieces])
    .expect("valid torrent");
    let info = Arc::new(meta.info);
    let zeros = Bytes::from(vec![0u8; 128 << 10]);
    let t0 = Instant::ZERO;
    let peer = |seed: u64, outgoing| PeerInfo {
        addr: None,
        peer_id: PeerId::generate(seed),
        supports_fast: true,
        supports_extensions: true,
        outgoing,
    };
    let mut seed = Torrent::new(
        info.clone(),
        meta.info_hash,
        Bitfield::full(pieces as u32),
        Config::new(PeerId::generate(1), 0),
        1,
        t0,
    );
    let mut leech = Torrent::new(
        info.clone(),
        meta.info_hash,
        Bitfield::new(pieces as u32),
        Config::new(PeerId::generate(2), 0),
        2,
        t0,
    );
    seed.start(t0);
    leech.start(t0);
    seed.peer_connected(PeerKey(1), peer(2, false), t0);
    leech.peer_connected(PeerKey(1), peer(1, true), t0);

    let started = WallClock::now();
    let mut now = t0;
    let (mut to_leech, mut to_seed): (Vec<Bytes>, Vec<Bytes>) = (Vec::new(), Vec::new());
    while !leech.is_complete() {
        // The clock moves with the wall so rates and timers behave as on a real link.
        now = Instant::from_epoch(started.elapsed());
        while let Some(action) = seed.poll_action() {
            match action {
                Action::Send { data, .. } => {
                    seed.peer_written(PeerKey(1), data.len(), now);
                    to_leech.push(data);
                }
                Action::ReadBlock { peer, block } => {
                    seed.block_read(peer, block, Some(zeros.slice(..block.len as usize)), now)
                }
                _ => {}
            }
        }
        // Coalesce into socket-sized reads, as a driver does.
        let mut stream = Vec::new();
        to_leech
            .drain(..)
            .for_each(|b| stream.extend_from_slice(&b));
        for chunk in stream.chunks(64 << 10) {
            leech.peer_data(PeerKey(1), chunk, now);
        }
        while let Some(action) = leech.poll_action() {
            match action {
                Action::Send { data, .. } => to_seed.push(data),
                Action::Verify { piece, .. } => leech.piece_verified(piece, true, now),
                Action::Write { piece, .. } => leech.piece_written(piece, true, now),
                _ => {}
            }
        }
        for data in to_seed.drain(..) {
            seed.peer_data(PeerKey(1), &data, now);
        }
        seed.handle_timeout(now);
        leech.handle_timeout(now);
        if started.elapsed() > Duration::from_secs(120) {
            panic!("stalled at {:?}", leech.status(now));
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "engine alone, seed → leecher in memory: {} MiB in {secs:.2} s = {:.0} MB/s (piece {} KiB; virtual time {:?})",
        TOTAL >> 20,
        TOTAL as f64 / secs / 1e6,
        piece_length >> 10,
        now.since_epoch()
    );
}
