//! Rate caps, measured on real processes: a daemon downloads from an uncapped seed on loopback
//! (which could send many times faster), so only the caps hold the rate down. Rates come from
//! the daemon's own `list --json` counters, watched over 10 s windows.

use std::path::Path;
use std::time::{Duration, Instant};

use bitfleet_tests::daemon::{Daemon, Listing, Samples};
use bitfleet_tests::{
    bitfleet, bitfleet_create, bitfleet_get, bitfleet_seed, compare_trees, free_port, loopback,
    temp_dir, write_payload, FileSpec, Line, Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

const MIB: u64 = 1 << 20;
/// Enough that no measurement window runs out of data.
const PAYLOAD: u64 = 64 * MIB;
/// How far a measured rate may stray from its cap.
const TOLERANCE: f64 = 0.10;
const WINDOW: Duration = Duration::from_secs(10);
/// A new cap must show within this.
const TAKES_EFFECT: Duration = Duration::from_secs(2);

/// A payload, its torrent and an uncapped seed of it.
struct Seeded {
    torrent: std::path::PathBuf,
    info_hash: String,
    /// `HOST:PORT` of the seed.
    peer: String,
    _seed: Proc,
}

fn seeded(root: &Path, name: &str, rng_seed: u64) -> Seeded {
    let data = root.join(format!("{name}-data"));
    write_payload(
        &data.join(name),
        rng_seed,
        &[FileSpec::new("payload.bin", PAYLOAD)],
    )
    .unwrap();
    let torrent = root.join(format!("{name}.torrent"));
    let created =
        bitfleet_create(&data.join(name), &torrent, &["--piece-length", "262144"]).unwrap();
    let mut seed = bitfleet_seed(&format!("seed {name}"), &torrent, &data, &[]).unwrap();
    let port = seed.wait_started(TIMEOUT_QUICK).unwrap().port;
    Seeded {
        torrent,
        info_hash: created.info_hash,
        peer: loopback(port).to_string(),
        _seed: seed,
    }
}

fn downloaded_of(info_hash: &str) -> impl Fn(&Listing) -> u64 + '_ {
    move |listing| listing.torrent(info_hash).map_or(0, |t| t.downloaded)
}

fn assert_near(what: &str, measured: f64, cap: u64) {
    let ratio = measured / cap as f64;
    eprintln!("{what}: {measured:.0} B/s against a cap of {cap} B/s (ratio {ratio:.3})");
    assert!(
        (1.0 - TOLERANCE..=1.0 + TOLERANCE).contains(&ratio),
        "{what}: {measured:.0} B/s is not within {TOLERANCE} of the cap {cap} B/s"
    );
}

/// Waits until the torrent receives data, then past the bucket's first burst.
fn wait_flowing(daemon: &Daemon, info_hash: &str) {
    daemon
        .wait_until("data to flow", TIMEOUT_QUICK, |l| {
            l.torrent(info_hash).is_ok_and(|t| t.downloaded > 0)
        })
        .unwrap();
    std::thread::sleep(Duration::from_secs(2));
}

/// The rate of `samples` over the window that starts `skip` after the probe's start.
fn window_rate(samples: &Samples, skip: Duration, window: Duration) -> f64 {
    let start = samples.first_at().unwrap() + skip;
    samples.rate(start, start + window).unwrap()
}

/// Sets the torrent's download cap to `rate` through `limit` and checks the rate measured over
/// the 6 s that start [`TAKES_EFFECT`] after the change.
fn change_cap(daemon: &Daemon, info_hash: &str, rate: &str, cap: u64) {
    daemon
        .command(&["limit", info_hash, "--down", rate])
        .unwrap();
    let from = Instant::now() + TAKES_EFFECT;
    let window = Duration::from_secs(6);
    let samples = daemon
        .probe(
            TAKES_EFFECT + window + Duration::from_secs(1),
            downloaded_of(info_hash),
        )
        .unwrap();
    let after = samples.rate(from, from + window).unwrap();
    assert_near(&format!("changed to {rate}/s, 2 s on"), after, cap);
}

#[test]
fn a_download_cap_holds_and_changes_at_run_time() {
    let tmp = temp_dir("caps").unwrap();
    let seed = seeded(tmp.path(), "fleet", 11);
    let daemon = Daemon::start("daemon", &tmp.path().join("state"), &[]).unwrap();
    let out = tmp.path().join("out");
    let hash = seed.info_hash.clone();
    let torrent = seed.torrent.to_str().unwrap().to_owned();
    let out_arg = out.to_str().unwrap().to_owned();
    daemon
        .command(&[
            "add",
            &torrent,
            "--out",
            &out_arg,
            "--down-limit",
            "1M",
            "--peer",
            &seed.peer,
        ])
        .unwrap();
    wait_flowing(&daemon, &hash);

    let samples = daemon
        .probe(WINDOW + Duration::from_secs(1), downloaded_of(&hash))
        .unwrap();
    assert_near(
        "1 MiB/s cap over 10 s",
        window_rate(&samples, Duration::ZERO, WINDOW),
        MIB,
    );

    // Raised, then lowered at run time: each new rate must hold from 2 s after the change on.
    change_cap(&daemon, &hash, "3M", 3 * MIB);
    change_cap(&daemon, &hash, "512K", MIB / 2);

    // Uncapped, it finishes; the caps cost nothing in correctness.
    daemon.command(&["limit", &hash, "--down", "0"]).unwrap();
    daemon
        .wait_until("the download to finish", TIMEOUT_TRANSFER, |l| {
            l.torrent(&hash).is_ok_and(|t| t.state == "seeding")
        })
        .unwrap();
    compare_trees(&tmp.path().join("fleet-data"), &out).unwrap();
}

#[test]
fn a_global_cap_is_shared_by_all_torrents() {
    let tmp = temp_dir("global-cap").unwrap();
    let seeds = [seeded(tmp.path(), "one", 21), seeded(tmp.path(), "two", 22)];
    let daemon =
        Daemon::start("daemon", &tmp.path().join("state"), &["--down-limit", "1M"]).unwrap();
    let out = tmp.path().join("out");
    let out_arg = out.to_str().unwrap().to_owned();
    for seed in &seeds {
        let torrent = seed.torrent.to_str().unwrap().to_owned();
        daemon
            .command(&["add", &torrent, "--out", &out_arg, "--peer", &seed.peer])
            .unwrap();
    }
    let hashes: Vec<String> = seeds.iter().map(|s| s.info_hash.clone()).collect();
    for hash in &hashes {
        wait_flowing(&daemon, hash);
    }
    let both = |l: &Listing| hashes.iter().map(|h| downloaded_of(h)(l)).sum::<u64>();
    let samples = daemon.probe(WINDOW + Duration::from_secs(1), both).unwrap();
    let each: Vec<u64> = {
        let listing = daemon.list().unwrap();
        hashes
            .iter()
            .map(|h| listing.torrent(h).unwrap().downloaded)
            .collect()
    };
    assert_near(
        "two torrents under a 1 MiB/s global cap",
        window_rate(&samples, Duration::ZERO, WINDOW),
        MIB,
    );
    // Fair: neither starves the other.
    let share = each[0] as f64 / (each[0] + each[1]) as f64;
    eprintln!("first torrent's share of the bytes: {share:.3} ({each:?})");
    assert!((0.35..=0.65).contains(&share), "unfair split {each:?}");
    assert_eq!(daemon.list().unwrap().limits.download, Some(MIB));
}

#[test]
fn serve_up_limit_is_one_cap_for_all_its_seeds() {
    const EACH: u64 = 6 * MIB;
    let tmp = temp_dir("serve-cap").unwrap();
    let names = ["one", "two"];
    for (i, name) in names.iter().enumerate() {
        let spec = [FileSpec::new("payload.bin", EACH)];
        write_payload(&tmp.path().join(name), 30 + i as u64, &spec).unwrap();
    }
    let listen = format!("127.0.0.1:{}", free_port().unwrap());
    let mut cmd = bitfleet().unwrap();
    cmd.arg("serve");
    cmd.args(names.map(|n| tmp.path().join(n)));
    cmd.args(["--listen", &listen, "--up-limit", "1M"]);
    let mut serve = Proc::spawn("serve", cmd).unwrap();
    let mut urls = Vec::new();
    while urls.len() < names.len() {
        let url = serve
            .wait_for("a torrent URL", TIMEOUT_QUICK, |line| match line {
                Line::Text(text) => text.strip_prefix("torrent: ").map(|rest| {
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned()
                }),
                _ => None,
            })
            .unwrap();
        urls.push(url);
    }

    let started = Instant::now();
    let mut gets: Vec<Proc> = urls
        .iter()
        .zip(names)
        .map(|(url, name)| {
            let out = tmp.path().join("out").join(name);
            bitfleet_get(&format!("get {name}"), url, &out, &[], &[]).unwrap()
        })
        .collect();
    let mut finished = Vec::new();
    for get in &mut gets {
        get.wait_complete(TIMEOUT_TRANSFER).unwrap();
        finished.push(started.elapsed());
    }
    // Both downloads come from the capped seeds only: 12 MiB through one 1 MiB/s cap take at
    // least 11 s (one second of burst). Capped per seed, they would take 6 s.
    let least = Duration::from_secs((2 * EACH - MIB) / MIB);
    eprintln!("finished after {finished:?}; a shared cap needs at least {least:?}");
    let last = finished.iter().max().unwrap();
    assert!(*last >= least.mul_f64(1.0 - TOLERANCE), "{finished:?}");
    for name in names {
        compare_trees(
            &tmp.path().join(name),
            &tmp.path().join("out").join(name).join(name),
        )
        .unwrap();
    }
}
