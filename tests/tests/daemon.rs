//! `bitfleet daemon` runs three torrents at once to completion and survives its own SIGKILL:
//! restarted on the same state folder it has the same torrents, paused state and caps, and it
//! carries on without fetching again the pieces it had verified.

use std::path::{Path, PathBuf};
use std::time::Duration;

use bitfleet_tests::daemon::{http_request, Caps, Daemon, Listing};
use bitfleet_tests::{
    bitfleet_create, bitfleet_seed, compare_trees, loopback, temp_dir, uneven_tree, write_payload,
    Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};
use nix::sys::signal::Signal;

const MIB: u64 = 1 << 20;
const PAYLOAD: u64 = 12 * MIB;
const PIECE_LENGTH: u64 = 64 << 10;
/// Each seed's cap: a download takes ~12 s, so the kill lands mid-transfer.
const SEED_UP_LIMIT: u64 = MIB;

/// Bytes a torrent may fetch again after the kill: pieces verified in the last second before
/// it (resume data is saved each second), the pieces being assembled, socket buffers.
fn refetch_allowance() -> u64 {
    SEED_UP_LIMIT * 3 / 2 + 8 * PIECE_LENGTH
}

struct Seeded {
    name: String,
    data: PathBuf,
    torrent: PathBuf,
    info_hash: String,
    peer: String,
    _seed: Proc,
}

fn seeded(root: &Path, name: &str, rng_seed: u64) -> Seeded {
    let data = root.join(format!("{name}-data"));
    write_payload(&data.join(name), rng_seed, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    let torrent = root.join(format!("{name}.torrent"));
    let piece_length = PIECE_LENGTH.to_string();
    let created = bitfleet_create(
        &data.join(name),
        &torrent,
        &["--piece-length", &piece_length],
    )
    .unwrap();
    let up_limit = SEED_UP_LIMIT.to_string();
    let mut seed = bitfleet_seed(
        &format!("seed {name}"),
        &torrent,
        &data,
        &["--up-limit", &up_limit],
    )
    .unwrap();
    let port = seed.wait_started(TIMEOUT_QUICK).unwrap().port;
    Seeded {
        name: name.to_owned(),
        data,
        torrent,
        info_hash: created.info_hash,
        peer: loopback(port).to_string(),
        _seed: seed,
    }
}

fn all_seeding(listing: &Listing) -> bool {
    listing.torrents.len() == 3 && listing.torrents.iter().all(|t| t.state == "seeding")
}

#[test]
fn three_torrents_finish_and_the_daemon_survives_its_restart() {
    let tmp = temp_dir("daemon").unwrap();
    let state = tmp.path().join("state");
    let seeds = [
        seeded(tmp.path(), "alpha", 1),
        seeded(tmp.path(), "beta", 2),
        seeded(tmp.path(), "gamma", 3),
    ];
    let out = |s: &Seeded| tmp.path().join("out").join(&s.name);
    let daemon = Daemon::start("daemon", &state, &[]).unwrap();
    for seed in &seeds {
        let out = out(seed);
        daemon
            .command(&[
                "add",
                seed.torrent.to_str().unwrap(),
                "--out",
                out.to_str().unwrap(),
                "--peer",
                &seed.peer,
            ])
            .unwrap();
    }
    let (alpha, gamma) = (&seeds[0].info_hash, &seeds[2].info_hash);
    // Caps and a paused torrent that must all come back after the restart.
    daemon.command(&["limit", "--up", "7M"]).unwrap();
    daemon.command(&["limit", alpha, "--down", "5M"]).unwrap();

    // Mid-download: all three under way, none finished. Pause one, then kill the daemon.
    let listing = daemon
        .wait_until("all three a quarter done", TIMEOUT_TRANSFER, |l| {
            l.torrents.len() == 3 && l.torrents.iter().all(|t| t.have * 4 >= t.pieces)
        })
        .unwrap();
    assert!(
        listing.torrents.iter().all(|t| t.state == "downloading"),
        "three at once: {listing:?}"
    );
    let before = daemon.list().unwrap();
    daemon.command(&["pause", gamma]).unwrap();
    daemon.proc.signal(Signal::SIGKILL).unwrap();
    drop(daemon);

    let daemon = Daemon::start("daemon again", &state, &[]).unwrap();
    let after = daemon.list().unwrap();
    assert_eq!(after.torrents.len(), 3, "{after:?}");
    assert_eq!(
        after.limits,
        Caps {
            upload: Some(7 * MIB),
            download: None
        }
    );
    assert_eq!(after.torrent(alpha).unwrap().limits.download, Some(5 * MIB));
    assert_eq!(after.torrent(gamma).unwrap().state, "paused");
    daemon.command(&["resume", gamma]).unwrap();

    let done = daemon
        .wait_until("all three complete", TIMEOUT_TRANSFER, all_seeding)
        .unwrap();
    for seed in &seeds {
        compare_trees(&seed.data, &out(seed)).unwrap();
        let had = before.torrent(&seed.info_hash).unwrap();
        let fetched = done.torrent(&seed.info_hash).unwrap().downloaded;
        let missing = PAYLOAD.saturating_sub(u64::from(had.have) * PIECE_LENGTH);
        eprintln!(
            "{}: {} of {} pieces before the kill; fetched {fetched} bytes after it, {missing} were missing",
            seed.name, had.have, had.pieces
        );
        assert!(
            fetched <= missing + refetch_allowance(),
            "{}: fetched {fetched} bytes after the restart though only {missing} were missing",
            seed.name
        );
    }

    // A graceful stop keeps the state too; removing forgets a torrent but keeps its files.
    let mut daemon = daemon;
    daemon.proc.signal(Signal::SIGTERM).unwrap();
    let status = daemon.proc.wait_exit(Duration::from_secs(30)).unwrap();
    assert!(status.success(), "{status}");
    let daemon = Daemon::start("daemon third", &state, &[]).unwrap();
    daemon
        .wait_until("all three seeding again", TIMEOUT_TRANSFER, all_seeding)
        .unwrap();
    daemon.command(&["remove", alpha]).unwrap();
    assert_eq!(daemon.list().unwrap().torrents.len(), 2);
    compare_trees(&seeds[0].data, &out(&seeds[0])).unwrap();
}

#[test]
fn the_api_wants_its_token_and_refuses_garbage() {
    let tmp = temp_dir("daemon-api").unwrap();
    let mut daemon = Daemon::start("daemon", &tmp.path().join("state"), &[]).unwrap();
    let (addr, token) = daemon.endpoint().unwrap();
    assert!(
        addr.starts_with("127.0.0.1:"),
        "the API must be on loopback: {addr}"
    );
    let call = |method, path, token: Option<&str>, body| {
        http_request(&addr, method, path, token, body).unwrap()
    };

    let (status, body) = call("GET", "/v1/torrents", None, "");
    assert_eq!(status, 401, "{body}");
    let wrong = "0".repeat(token.len());
    assert_eq!(call("GET", "/v1/torrents", Some(&wrong), "").0, 401);

    let token = Some(token.as_str());
    let refused = [
        ("POST", "/v1/torrents", r#"{"torrent":"zz""#, 400),
        (
            "POST",
            "/v1/torrents",
            r#"{"torrent":"zz","out":"/tmp/x"}"#,
            400,
        ),
        (
            "POST",
            "/v1/torrents",
            r#"{"torrent":"6465","out":"/tmp/x"}"#,
            400,
        ),
        ("POST", "/v1/torrents", r#"[1,2,3]"#, 400),
        ("PUT", "/v1/limits", r#"{"download":"fast"}"#, 400),
        ("PUT", "/v1/limits", r#"{"download":-1}"#, 400),
        ("POST", "/v1/torrents/not-a-hash/pause", "", 404),
        (
            "DELETE",
            &format!("/v1/torrents/{}", "ab".repeat(20)),
            "",
            404,
        ),
    ];
    for (method, path, body, expected) in refused {
        let (status, answer) = call(method, path, token, body);
        assert_eq!(status, expected, "{method} {path} {body}: {answer}");
        let error: serde_json::Value = serde_json::from_str(&answer).unwrap();
        assert!(error["error"].is_string(), "{answer}");
    }

    // A relative download folder is refused: the daemon's working folder is nobody's choice.
    let data = tmp.path().join("data");
    write_payload(&data.join("x"), 9, &uneven_tree(MIB).unwrap()).unwrap();
    let torrent = tmp.path().join("x.torrent");
    bitfleet_create(&data.join("x"), &torrent, &[]).unwrap();
    let hex = hex::encode(std::fs::read(&torrent).unwrap());
    let body = format!(r#"{{"torrent":"{hex}","out":"relative/dir"}}"#);
    assert_eq!(call("POST", "/v1/torrents", token, &body).0, 400);

    assert!(
        daemon.proc.is_running(),
        "garbage must not bring the daemon down"
    );
    assert!(daemon.list().unwrap().torrents.is_empty());
}
