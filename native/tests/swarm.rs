//! Two sessions in one runtime, real TCP on 127.0.0.1: a seed and a leecher move a multi-file
//! torrent, and peers speaking garbage are dropped without harm.

use std::fs;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bitfleet::create::{create_torrent, CreateOptions};
use bitfleet::session::{Report, Session, TorrentHandle, TorrentOptions};
use bitfleet::storage::{self, Access, Storage};
use bitfleet_core::magnet::Magnet;
use bitfleet_core::metainfo::Metainfo;
use bitfleet_core::wire::{Handshake, Message};
use bitfleet_core::{Bitfield, PeerId};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// `root/share/…`: uneven sizes so pieces straddle files, an empty file, and more than the
/// engine's per-peer upload buffer (so a driver that never reports writes stalls).
fn make_share(root: &Path) -> Metainfo {
    let share = root.join("share");
    fs::create_dir_all(share.join("sub")).unwrap();
    let bytes = |n: usize, salt: u64| -> Vec<u8> {
        (0..n as u64)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 7 ^ salt) as u8)
            .collect()
    };
    fs::write(share.join("a.bin"), bytes(100_003, 1)).unwrap();
    fs::write(share.join("sub/b.bin"), bytes(3_000_000, 2)).unwrap();
    fs::write(share.join("sub/empty"), b"").unwrap();
    fs::write(share.join("z.txt"), bytes(17, 3)).unwrap();
    let options = CreateOptions {
        piece_length: Some(32 * 1024),
        ..CreateOptions::default()
    };
    create_torrent(&share, &options).unwrap()
}

async fn start_seed(data_root: &Path, metainfo: &Metainfo) -> (Session, TorrentHandle) {
    let session = Session::bind(LOOPBACK).await.unwrap();
    let info = Arc::new(metainfo.info.clone());
    let storage = Storage::open(data_root, info.clone(), Access::ReadOnly).unwrap();
    let have = storage::check(&info, storage.layout(), &|| {}).unwrap();
    assert!(have.is_full());
    let options = TorrentOptions {
        seed_when_complete: true,
        ..TorrentOptions::default()
    };
    let handle = session.add_torrent(metainfo, storage, have, options);
    (session, handle)
}

async fn start_leecher(
    out: &Path,
    metainfo: &Metainfo,
    seed_port: u16,
) -> (Session, TorrentHandle) {
    let session = Session::bind(LOOPBACK).await.unwrap();
    let info = Arc::new(metainfo.info.clone());
    let storage = Storage::open(out, info.clone(), Access::ReadWrite).unwrap();
    let options = TorrentOptions {
        peers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, seed_port))],
        ..TorrentOptions::default()
    };
    let handle = session.add_torrent(
        metainfo,
        storage,
        Bitfield::new(info.piece_count()),
        options,
    );
    (session, handle)
}

async fn wait_complete(handle: &TorrentHandle) -> Report {
    let mut updates = handle.subscribe();
    let complete = async { updates.wait_for(|r| r.complete).await.map(|r| r.clone()) };
    let waited = tokio::time::timeout(Duration::from_secs(30), complete).await;
    waited.expect("download did not complete in time").unwrap()
}

fn assert_same_tree(a: &Path, b: &Path) {
    for name in ["a.bin", "sub/b.bin", "sub/empty", "z.txt"] {
        assert_eq!(
            fs::read(a.join(name)).unwrap(),
            fs::read(b.join(name)).unwrap(),
            "{name} differs"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_and_leecher_transfer_a_multi_file_torrent() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let metainfo = make_share(src.path());
    let (seed_session, seed) = start_seed(src.path(), &metainfo).await;
    let (_leech_session, leecher) = start_leecher(dst.path(), &metainfo, seed_session.port()).await;

    let report = wait_complete(&leecher).await;
    assert_eq!(report.status.pieces_have, metainfo.info.piece_count());
    assert_eq!(report.status.hash_failures, 0);
    let stopped = leecher.stop().await;
    assert!(stopped.complete);
    assert_same_tree(&src.path().join("share"), &dst.path().join("share"));

    let seed_report = seed.stop().await;
    assert!(seed_report.status.transfer.uploaded >= metainfo.info.total_length());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_link_fetches_metadata_then_data_from_the_seed() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let metainfo = make_share(src.path());
    let (seed_session, seed) = start_seed(src.path(), &metainfo).await;

    let session = Session::bind(LOOPBACK).await.unwrap();
    let magnet = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", metainfo.info_hash)).unwrap();
    let options = TorrentOptions {
        peers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, seed_session.port()))],
        ..TorrentOptions::default()
    };
    let out = dst.path().to_owned();
    let prepare = Box::new(move |metainfo: &Metainfo| {
        let info = Arc::new(metainfo.info.clone());
        let storage =
            Storage::open(&out, info.clone(), Access::ReadWrite).map_err(|e| e.to_string())?;
        Ok((storage, Bitfield::new(info.piece_count())))
    });
    let leecher = session.add_magnet(&magnet, options, prepare);
    let report = wait_complete(&leecher).await;
    assert_eq!(
        report.metainfo.map(|m| m.info_hash),
        Some(metainfo.info_hash)
    );
    leecher.stop().await;
    seed.stop().await;
    assert_same_tree(&src.path().join("share"), &dst.path().join("share"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn magnet_link_whose_storage_fails_reports_the_error() {
    let src = tempfile::tempdir().unwrap();
    let metainfo = make_share(src.path());
    let (seed_session, seed) = start_seed(src.path(), &metainfo).await;

    let session = Session::bind(LOOPBACK).await.unwrap();
    let magnet = Magnet::parse(&format!("magnet:?xt=urn:btih:{}", metainfo.info_hash)).unwrap();
    let options = TorrentOptions {
        peers: vec![SocketAddr::from((Ipv4Addr::LOCALHOST, seed_session.port()))],
        ..TorrentOptions::default()
    };
    let prepare = Box::new(|_: &Metainfo| Err("disk on fire".to_owned()));
    let leecher = session.add_magnet(&magnet, options, prepare);
    let mut updates = leecher.subscribe();
    let failed = updates.wait_for(|r| r.error.is_some());
    let report = tokio::time::timeout(Duration::from_secs(30), failed)
        .await
        .unwrap()
        .unwrap()
        .clone();
    assert_eq!(report.error.as_deref(), Some("disk on fire"));
    assert!(!report.complete);
    leecher.stop().await;
    seed.stop().await;
}

/// Reads until the other side closes; errs if it stays open.
async fn assert_closed_by_peer(stream: &mut TcpStream) {
    let mut sink = vec![0u8; 4096];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the connection was left open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_speaking_peers_are_dropped_and_the_seed_keeps_serving() {
    let src = tempfile::tempdir().unwrap();
    let dst = tempfile::tempdir().unwrap();
    let metainfo = make_share(src.path());
    let (seed_session, seed) = start_seed(src.path(), &metainfo).await;
    let seed_addr = SocketAddr::from((Ipv4Addr::LOCALHOST, seed_session.port()));

    // Garbage instead of a handshake.
    let mut raw = TcpStream::connect(seed_addr).await.unwrap();
    raw.write_all(&[0xA5; 200]).await.unwrap();
    assert_closed_by_peer(&mut raw).await;

    // A handshake for a torrent the seed does not have.
    let mut stranger = TcpStream::connect(seed_addr).await.unwrap();
    let mut hello = Vec::new();
    Handshake::new(bitfleet_core::InfoHash([9; 20]), PeerId::generate(7)).encode(&mut hello);
    stranger.write_all(&hello).await.unwrap();
    assert_closed_by_peer(&mut stranger).await;

    // A proper handshake, then a message claiming to be 4 GiB long.
    let mut liar = TcpStream::connect(seed_addr).await.unwrap();
    let mut hello = Vec::new();
    Handshake::new(metainfo.info_hash, PeerId::generate(8)).encode(&mut hello);
    liar.write_all(&hello).await.unwrap();
    let mut theirs = [0u8; Handshake::LEN];
    liar.read_exact(&mut theirs).await.unwrap();
    let mut interested = Vec::new();
    Message::Interested.encode(&mut interested);
    liar.write_all(&interested).await.unwrap();
    liar.write_all(&[0xff, 0xff, 0xff, 0xff, 7, 1, 2, 3])
        .await
        .unwrap();
    assert_closed_by_peer(&mut liar).await;

    // The seed still serves a real leecher.
    let (_leech_session, leecher) = start_leecher(dst.path(), &metainfo, seed_session.port()).await;
    wait_complete(&leecher).await;
    leecher.stop().await;
    seed.stop().await;
    assert_same_tree(&src.path().join("share"), &dst.path().join("share"));
}
