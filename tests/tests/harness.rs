//! Tests of the harness itself and of the python peers, runnable without the bitfleet binaries.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bitfleet_tests::{
    compare_trees, liar_peer, loopback, lt_create, lt_get, lt_info, lt_seed, temp_dir, uneven_tree,
    write_payload, Event, Line, LtCreate, Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

fn sh(script: &str) -> Command {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(script);
    cmd
}

/// libtorrent seeds, libtorrent downloads over loopback via `--peer`; both report like the CLI.
fn libtorrent_round_trip(options: LtCreate) {
    let tmp = temp_dir("lt-round-trip").unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    write_payload(&data.join("payload"), 11, &uneven_tree(5 << 20).unwrap()).unwrap();
    let torrent = tmp.path().join("payload.torrent");
    let info = lt_create(&data.join("payload"), &torrent, &options).unwrap();
    assert_eq!(info, lt_info(&torrent).unwrap());
    assert_eq!(info.v2, !options.v1_only);
    assert_eq!(info.files.iter().any(|f| f.pad), !options.v1_only);

    let mut seed = lt_seed("lt seed", &torrent, &data, false).unwrap();
    let started = seed.wait_started(TIMEOUT_QUICK).unwrap();
    assert_eq!(started.info_hash, info.info_hash);
    assert_eq!(started.pieces, info.pieces);

    let mut get = lt_get("lt get", &torrent, &out, &[loopback(started.port)], false).unwrap();
    let done = get.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!(done.have, info.pieces);
    assert!(get.wait_exit(TIMEOUT_QUICK).unwrap().success());
    assert!(matches!(
        get.lines().last(),
        Some(Line::Event(Event::Stopped(_)))
    ));
    compare_trees(&data, &out).unwrap();

    let seed_stats = seed.stop(TIMEOUT_QUICK).unwrap();
    assert!(seed_stats.uploaded >= 5 << 20, "{seed_stats:?}");
}

#[test]
fn libtorrent_round_trip_hybrid_with_pad_files() {
    libtorrent_round_trip(LtCreate::default());
}

#[test]
fn libtorrent_round_trip_v1_only() {
    libtorrent_round_trip(LtCreate {
        v1_only: true,
        piece_size: Some(64 << 10),
        ..LtCreate::default()
    });
}

#[test]
fn lt_seed_refuses_missing_data() {
    let tmp = temp_dir("lt-missing").unwrap();
    write_payload(tmp.path(), 1, &uneven_tree(1 << 20).unwrap()).unwrap();
    let torrent = tmp.path().join("t.torrent");
    lt_create(&tmp.path().join("big.bin"), &torrent, &LtCreate::default()).unwrap();
    let mut seed = lt_seed("lt seed", &torrent, &tmp.path().join("nowhere"), false).unwrap();
    assert!(!seed.wait_exit(TIMEOUT_QUICK).unwrap().success());
    assert!(seed.stderr().starts_with("error:"), "{}", seed.stderr());
}

#[test]
fn liar_peer_serves_a_piece_that_fails_its_hash() {
    let tmp = temp_dir("liar").unwrap();
    write_payload(
        tmp.path(),
        3,
        &[bitfleet_tests::FileSpec::new("f.bin", 2 << 20)],
    )
    .unwrap();
    let torrent = tmp.path().join("f.torrent");
    let options = LtCreate {
        v1_only: true,
        piece_size: Some(64 << 10),
        ..LtCreate::default()
    };
    lt_create(&tmp.path().join("f.bin"), &torrent, &options).unwrap();

    let mut liar = liar_peer("liar", &torrent, tmp.path()).unwrap();
    let port = liar.wait_started(TIMEOUT_QUICK).unwrap().port;
    let out = tmp.path().join("out");
    let mut get = lt_get("lt get", &torrent, &out, &[loopback(port)], false).unwrap();
    let failures = get
        .wait_for("a hash failure", TIMEOUT_QUICK, |line| match line {
            Line::Event(event) => event.stats().map(|s| s.hash_failures).filter(|&n| n >= 1),
            _ => None,
        })
        .unwrap();
    assert!(failures >= 1);
    liar.wait_for("`poisoned`", TIMEOUT_QUICK, |line| match line {
        Line::Json(value) if value["event"] == "poisoned" => Some(()),
        _ => None,
    })
    .unwrap();
}

#[test]
fn dropping_a_proc_kills_and_reaps_the_child() {
    let proc = Proc::spawn("sleeper", sh("exec sleep 1000")).unwrap();
    let status_file = format!("/proc/{}/status", proc.pid());
    assert!(Path::new(&status_file).exists());
    drop(proc);
    assert!(
        !Path::new(&status_file).exists(),
        "child survived its guard"
    );
}

#[test]
fn waits_time_out_with_a_clear_error() {
    let mut proc = Proc::spawn("sleeper", sh("exec sleep 1000")).unwrap();
    let err = proc.wait_started(Duration::from_millis(200)).unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err:#}");
    assert!(proc.is_running());
}

#[test]
fn early_exit_reports_status_and_stderr() {
    let mut proc =
        Proc::spawn("failing", sh("echo hello; echo 'error: boom' >&2; exit 3")).unwrap();
    let err = proc.wait_started(TIMEOUT_QUICK).unwrap_err().to_string();
    assert!(err.contains("before the `started` event"), "{err}");
    assert!(err.contains("error: boom"), "{err}");
    assert_eq!(proc.wait_exit(TIMEOUT_QUICK).unwrap().code(), Some(3));
    assert_eq!(proc.lines(), [Line::Text("hello".into())]);
}

#[test]
fn contract_breaches_fail_the_wait() {
    let mut proc = Proc::spawn("liar", sh(r#"echo '{"event":"complete","have":1}'"#)).unwrap();
    let err = proc.wait_complete(TIMEOUT_QUICK).unwrap_err().to_string();
    assert!(err.contains("broke the --json contract"), "{err}");
}
