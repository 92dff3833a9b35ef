//! `bitfleet serve` as the intranet server: the page at `/`, the catalog at `/catalog` with
//! the tracker's live counts, and the published .torrent files at `/t/NAME.torrent`; with a
//! tracker token, all of it but the page wants the token.

use std::fs;
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bitfleet_core::metainfo::Metainfo;
use bitfleet_tests::http::get;
use bitfleet_tests::{
    bitfleet_get, bitfleet_serve, temp_dir, uneven_tree, write_payload, FileSpec, TIMEOUT_QUICK,
};
use nix::sys::signal::Signal;
use serde::Deserialize;

#[derive(Debug, Deserialize, PartialEq, Eq)]
struct Entry {
    name: String,
    info_hash: String,
    size: u64,
    torrent_url: String,
    seeds: u32,
    peers: u32,
}

fn catalog(addr: SocketAddr) -> Result<Vec<Entry>> {
    let response = get(addr, "/catalog", &[])?;
    assert_eq!(response.status, 200, "{}", response.text());
    assert!(response
        .header("content-type")
        .is_some_and(|t| t.starts_with("application/json")));
    Ok(serde_json::from_slice(&response.body)?)
}

/// Polls the catalog until `ok` holds for `name`'s entry.
fn wait_for_counts(addr: SocketAddr, name: &str, ok: impl Fn(&Entry) -> bool) -> Result<Entry> {
    let deadline = Instant::now() + TIMEOUT_QUICK;
    loop {
        let entries = catalog(addr)?;
        if let Some(entry) = entries.into_iter().find(|e| e.name == name) {
            if ok(&entry) {
                return Ok(entry);
            }
            if Instant::now() > deadline {
                bail!("catalog counts never matched: {entry:?}");
            }
        }
        thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn serve_publishes_the_page_the_catalog_and_the_torrents() {
    let tmp = temp_dir("serve-site").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 7, &uneven_tree(3 << 20).unwrap()).unwrap();
    write_payload(&data, 8, &[FileSpec::new("single image.iso", 1_234_567)]).unwrap();
    // A page folder of our own: what `/` serves is exactly its files.
    let page = tmp.path().join("page");
    fs::create_dir_all(page.join("pkg")).unwrap();
    fs::write(
        page.join("index.html"),
        "<!doctype html><title>test page</title>",
    )
    .unwrap();
    fs::write(page.join("pkg/bitfleet_wasm.js"), "export default 1;").unwrap();

    let page_arg = page.to_string_lossy().into_owned();
    let (mut server, addr) = bitfleet_serve(
        "serve",
        &[&data.join("fleet"), &data.join("single image.iso")],
        &["--page", &page_arg],
    )
    .unwrap();

    let index = get(addr, "/", &[]).unwrap();
    assert_eq!(index.status, 200);
    assert_eq!(index.text(), "<!doctype html><title>test page</title>");
    let script = get(addr, "/pkg/bitfleet_wasm.js", &[]).unwrap();
    assert_eq!(script.status, 200);
    assert!(script
        .header("content-type")
        .is_some_and(|t| t.contains("javascript")));
    assert_eq!(get(addr, "/../Cargo.toml", &[]).unwrap().status, 404);

    // The server seeds both and announces to its own tracker: one seed each, nobody else.
    let fleet = wait_for_counts(addr, "fleet", |e| e.seeds == 1).unwrap();
    let single = wait_for_counts(addr, "single image.iso", |e| e.seeds == 1).unwrap();
    assert_eq!((fleet.peers, single.peers), (0, 0));
    assert_eq!(fleet.size, 3 << 20);
    assert_eq!(single.size, 1_234_567);
    assert_eq!(single.torrent_url, "/t/single%20image.iso.torrent");
    for entry in [&fleet, &single] {
        let torrent = get(addr, &entry.torrent_url, &[]).unwrap();
        assert_eq!(torrent.status, 200);
        let metainfo = Metainfo::from_bytes(&torrent.body).unwrap();
        assert_eq!(metainfo.info_hash.to_hex(), entry.info_hash);
        assert_eq!(metainfo.info.name, entry.name);
        assert_eq!(metainfo.info.total_length(), entry.size);
        assert_eq!(metainfo.trackers(), [format!("http://{addr}/announce")]);
        assert_eq!(metainfo.url_list, [format!("http://{addr}/files/")]);
    }
    assert_eq!(get(addr, "/t/nothing.torrent", &[]).unwrap().status, 404);

    // A slow download shows as a peer while it runs, and is gone once it stopped.
    let out = tmp.path().join("out");
    let url = format!("http://{addr}{}", fleet.torrent_url);
    let mut leecher = bitfleet_get("leecher", &url, &out, &[], &["--down-limit", "64K"]).unwrap();
    leecher.wait_started(TIMEOUT_QUICK).unwrap();
    let busy = wait_for_counts(addr, "fleet", |e| e.peers == 1).unwrap();
    assert_eq!(busy.seeds, 1);
    // Interrupted before completion, it exits 1 after its `stopped` announce.
    leecher.signal(Signal::SIGTERM).unwrap();
    leecher.wait_stopped(TIMEOUT_QUICK).unwrap();
    wait_for_counts(addr, "fleet", |e| e.peers == 0 && e.seeds == 1).unwrap();
    server.signal(Signal::SIGTERM).unwrap();
    assert!(server.wait_exit(TIMEOUT_QUICK).unwrap().success());
}

#[test]
fn with_a_token_the_catalog_torrents_and_web_seed_want_it_too() {
    let tmp = temp_dir("serve-token").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data, 9, &[FileSpec::new("report.bin", 300_000)]).unwrap();
    let config = tmp.path().join("tracker.toml");
    fs::write(&config, "token = \"s3cret\"\n").unwrap();
    let config_arg = config.to_string_lossy().into_owned();
    let (mut server, addr) = bitfleet_serve(
        "serve",
        &[&data.join("report.bin")],
        &["--config", &config_arg],
    )
    .unwrap();

    // Without the token (or with a wrong one): refused, and nothing about the torrents shown.
    for target in [
        "/catalog",
        "/catalog?token=guess",
        "/t/report.bin.torrent",
        "/files/report.bin",
        "/files/guess/report.bin",
    ] {
        let response = get(addr, target, &[]).unwrap();
        assert_eq!(response.status, 403, "{target}: {}", response.text());
        assert!(!response.text().contains("report.bin"), "{target}");
    }

    let entries: Vec<Entry> =
        serde_json::from_slice(&get(addr, "/catalog?token=s3cret", &[]).unwrap().body).unwrap();
    let entry = entries.first().expect("the published file");
    let torrent_url = format!("{}?token=s3cret", entry.torrent_url);
    let torrent = get(addr, &torrent_url, &[]).unwrap();
    assert_eq!(torrent.status, 200);
    let metainfo = Metainfo::from_bytes(&torrent.body).unwrap();
    assert_eq!(
        metainfo.trackers(),
        [format!("http://{addr}/announce?token=s3cret")]
    );
    assert_eq!(metainfo.url_list, [format!("http://{addr}/files/s3cret/")]);
    let file = get(addr, "/files/s3cret/report.bin", &[("Range", "bytes=0-9")]).unwrap();
    assert_eq!(file.status, 206);
    assert_eq!(file.body.len(), 10);

    // A client given the torrent's URL with the token downloads the whole file.
    let out = tmp.path().join("out");
    let url = format!("http://{addr}{torrent_url}");
    let mut leecher = bitfleet_get("leecher", &url, &out, &[], &["--no-lsd"]).unwrap();
    leecher.wait_complete(TIMEOUT_QUICK).unwrap();
    assert_eq!(
        fs::read(out.join("report.bin")).unwrap(),
        fs::read(data.join("report.bin")).unwrap()
    );
    server.signal(Signal::SIGTERM).unwrap();
    assert!(server.wait_exit(TIMEOUT_QUICK).unwrap().success());
}
