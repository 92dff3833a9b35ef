//! Local Service Discovery: two natives on one LAN, with no tracker in the torrent and no
//! `--peer`, find each other by BEP 14 multicast and the download completes; with `--no-lsd`
//! on the downloader they do not. A daemon's torrents are found the same way.
//!
//! Real processes in network namespaces (needs root and `ip netns`):
//!
//! ```text
//!  seed ns 10.78.0.1/24 ── veth ── laptop ns 10.78.0.2/24   (default routes via the veth)
//! ```

use std::time::Duration;

use bitfleet_tests::bins::bin_path;
use bitfleet_tests::netns::{veth, Netns};
use bitfleet_tests::{
    bitfleet_create, compare_trees, run_ok, temp_dir, uneven_tree, write_payload, Event, Line,
    Proc, TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

const PAYLOAD: u64 = 4 << 20;

fn lan(tag: u32) -> (Netns, Netns) {
    let seed = Netns::create(&format!("bf-lsd-s-{tag}")).unwrap();
    let laptop = Netns::create(&format!("bf-lsd-l-{tag}")).unwrap();
    let (s_if, l_if) = (format!("ls{tag}"), format!("ll{tag}"));
    veth(&seed, &s_if, &laptop, &l_if).unwrap();
    for (ns, iface, addr) in [
        (&seed, &s_if, "10.78.0.1/24"),
        (&laptop, &l_if, "10.78.0.2/24"),
    ] {
        ns.ip(&["addr", "add", addr, "dev", iface]).unwrap();
        ns.ip(&["link", "set", iface, "up"]).unwrap();
        // Multicast needs a route; an office LAN's default route is what gives it one.
        ns.ip(&["route", "add", "default", "dev", iface]).unwrap();
    }
    (seed, laptop)
}

#[test]
fn two_natives_on_a_lan_find_each_other_without_tracker_or_peer_list() {
    let tag = std::process::id() % 100_000;
    let (seed_ns, laptop_ns) = lan(tag);
    let tmp = temp_dir("lsd").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 5, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    let torrent = tmp.path().join("fleet.torrent");
    bitfleet_create(&data.join("fleet"), &torrent, &[]).unwrap();
    let bitfleet = bin_path("bitfleet").unwrap();

    let mut cmd = seed_ns.command(&bitfleet);
    cmd.arg("seed").arg(&torrent).arg("--dir").arg(&data);
    cmd.args(["--port", "6881", "--json"]);
    let mut seed = Proc::spawn("seed", cmd).unwrap();
    seed.wait_started(TIMEOUT_QUICK).unwrap();

    let get = |name: &str, out: &std::path::Path, extra: &[&str]| {
        let mut cmd = laptop_ns.command(&bitfleet);
        cmd.arg("get").arg(&torrent).arg("--out").arg(out);
        cmd.args(["--port", "6881", "--json"]).args(extra);
        Proc::spawn(name, cmd).unwrap()
    };

    // Without discovery nothing connects: the test can tell LSD from anything else.
    let deaf_out = tmp.path().join("deaf");
    let mut deaf = get("laptop --no-lsd", &deaf_out, &["--no-lsd"]);
    deaf.wait_started(TIMEOUT_QUICK).unwrap();
    let heard = deaf.wait_for("any piece", Duration::from_secs(5), |line| match line {
        Line::Event(Event::Progress(stats)) if stats.have > 0 => Some(()),
        _ => None,
    });
    assert!(heard.is_err(), "a piece arrived with --no-lsd");
    // Killed: an unfinished `get` that is stopped exits with an error, which is not the point.
    drop(deaf);

    let out = tmp.path().join("out");
    let mut laptop = get("laptop", &out, &[]);
    let pieces = laptop.wait_started(TIMEOUT_QUICK).unwrap().pieces;
    let done = laptop.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!(done.have, pieces);
    assert!(laptop.wait_exit(TIMEOUT_QUICK).unwrap().success());
    compare_trees(&data.join("fleet"), &out.join("fleet")).unwrap();
    seed.stop(TIMEOUT_QUICK).unwrap();
}

#[test]
fn a_laptop_finds_a_torrent_the_daemon_seeds_on_the_lan() {
    // Another tag than the other test's: both run in this process at once.
    let tag = std::process::id() % 100_000 + 100_000;
    let (seed_ns, laptop_ns) = lan(tag);
    let tmp = temp_dir("lsd-daemon").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 6, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    let torrent = tmp.path().join("fleet.torrent");
    bitfleet_create(&data.join("fleet"), &torrent, &[]).unwrap();
    let bitfleet = bin_path("bitfleet").unwrap();
    let state = tmp.path().join("state");

    let mut cmd = seed_ns.command(&bitfleet);
    cmd.arg("daemon").arg("--state-dir").arg(&state);
    cmd.args(["--api-port", "0", "--port", "6881"]);
    let mut daemon = Proc::spawn("daemon", cmd).unwrap();
    daemon
        .wait_for("the API address", TIMEOUT_QUICK, |line| match line {
            Line::Text(text) if text.starts_with("api: ") => Some(()),
            _ => None,
        })
        .unwrap();
    let mut add = seed_ns.command(&bitfleet);
    add.arg("add").arg(&torrent).arg("--out").arg(&data);
    add.arg("--state-dir").arg(&state);
    run_ok("bitfleet add", add, TIMEOUT_QUICK).unwrap();

    let out = tmp.path().join("out");
    let mut cmd = laptop_ns.command(&bitfleet);
    cmd.arg("get").arg(&torrent).arg("--out").arg(&out);
    cmd.args(["--port", "6881", "--json"]);
    let mut laptop = Proc::spawn("laptop", cmd).unwrap();
    let pieces = laptop.wait_started(TIMEOUT_QUICK).unwrap().pieces;
    let done = laptop.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!(done.have, pieces);
    assert!(laptop.wait_exit(TIMEOUT_QUICK).unwrap().success());
    compare_trees(&data.join("fleet"), &out.join("fleet")).unwrap();
}
