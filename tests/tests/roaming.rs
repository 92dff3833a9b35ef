//! Roaming: a laptop whose network changes mid-download (it leaves net A, and a second later
//! joins net B with another address on another subnet) re-announces, reconnects to the seed
//! and finishes byte-identical, without waiting for the dead connection to time out.
//!
//! Real processes in network namespaces: needs root and `ip netns` (fails clearly without).
//!
//! ```text
//!  seed ns: 10.77.0.1/32 on lo (tracker :7000, seed :7001)
//!    ├─ net A: 10.77.1.1/24 ── 10.77.1.2/24  laptop ns (at start)
//!    └─ net B: 10.77.2.1/24 ── 10.77.2.2/24  laptop ns (after the move)
//! ```

use std::thread;
use std::time::Duration;

use bitfleet_tests::bins::bin_path;
use bitfleet_tests::netns::{veth, Netns};
use bitfleet_tests::{
    bitfleet_create, compare_trees, temp_dir, uneven_tree, write_payload, Event, Line, Proc,
    TIMEOUT_QUICK, TIMEOUT_TRANSFER,
};

const PAYLOAD: u64 = 24 << 20;
/// The seed's cap: about 12 s for the whole download, so the move lands mid-transfer.
const UP_LIMIT: &str = "2M";
const SEED_IP: &str = "10.77.0.1";
const TRACKER_PORT: u16 = 7000;
const SEED_PORT: u16 = 7001;
/// Without roaming support the laptop would sit on its dead connection until the idle
/// timeout (150 s); with it, pieces flow again within seconds of joining net B.
const RECOVERY: Duration = Duration::from_secs(30);

/// The latest `have` in a progress line.
fn have_of(line: &Line) -> Option<u32> {
    match line {
        Line::Event(Event::Progress(stats)) => Some(stats.have),
        _ => None,
    }
}

#[test]
fn laptop_moving_to_another_network_mid_download_finishes() {
    let tag = std::process::id() % 100_000;
    let seed_ns = Netns::create(&format!("bf-seed-{tag}")).unwrap();
    let laptop_ns = Netns::create(&format!("bf-laptop-{tag}")).unwrap();
    let (a_seed, a_laptop) = (format!("na{tag}s"), format!("na{tag}l"));
    let (b_seed, b_laptop) = (format!("nb{tag}s"), format!("nb{tag}l"));
    seed_ns
        .ip(&["addr", "add", &format!("{SEED_IP}/32"), "dev", "lo"])
        .unwrap();
    veth(&seed_ns, &a_seed, &laptop_ns, &a_laptop).unwrap();
    veth(&seed_ns, &b_seed, &laptop_ns, &b_laptop).unwrap();
    for (iface, addr) in [(&a_seed, "10.77.1.1/24"), (&b_seed, "10.77.2.1/24")] {
        seed_ns.ip(&["addr", "add", addr, "dev", iface]).unwrap();
        seed_ns.ip(&["link", "set", iface, "up"]).unwrap();
    }
    let join = |iface: &str, addr: &str, gateway: &str| {
        laptop_ns.ip(&["addr", "add", addr, "dev", iface]).unwrap();
        laptop_ns.ip(&["link", "set", iface, "up"]).unwrap();
        laptop_ns
            .ip(&["route", "add", &format!("{SEED_IP}/32"), "via", gateway])
            .unwrap();
    };
    join(&a_laptop, "10.77.1.2/24", "10.77.1.1");

    let tmp = temp_dir("roaming").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 99, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    let torrent = tmp.path().join("fleet.torrent");
    let announce = format!("http://{SEED_IP}:{TRACKER_PORT}/announce");
    bitfleet_create(&data.join("fleet"), &torrent, &["--tracker", &announce]).unwrap();

    let mut server = seed_ns.command(bin_path("bitfleet-server").unwrap());
    server.args(["--listen", &format!("{SEED_IP}:{TRACKER_PORT}")]);
    let mut tracker = Proc::spawn("tracker", server).unwrap();
    seed_ns.wait_listening(SEED_IP, TRACKER_PORT, &mut tracker);

    let bitfleet = bin_path("bitfleet").unwrap();
    let mut cmd = seed_ns.command(&bitfleet);
    cmd.arg("seed").arg(&torrent).arg("--dir").arg(&data);
    cmd.args([
        "--port",
        &SEED_PORT.to_string(),
        "--up-limit",
        UP_LIMIT,
        "--json",
    ]);
    let mut seed = Proc::spawn("seed", cmd).unwrap();
    seed.wait_started(TIMEOUT_QUICK).unwrap();

    let out = tmp.path().join("out");
    let mut cmd = laptop_ns.command(&bitfleet);
    cmd.arg("get").arg(&torrent).arg("--out").arg(&out);
    cmd.args(["--json"]).env("RUST_LOG", "bitfleet=info");
    let mut laptop = Proc::spawn("laptop", cmd).unwrap();
    let pieces = laptop.wait_started(TIMEOUT_QUICK).unwrap().pieces;
    let before_move = laptop
        .wait_for("a quarter of the pieces", TIMEOUT_TRANSFER, |line| {
            have_of(line).filter(|&have| have >= pieces / 4)
        })
        .unwrap();
    assert!(
        before_move < pieces,
        "finished before the move: slow the seed down"
    );

    // Leave net A (its address goes with it), then join net B a second later.
    laptop_ns.ip(&["link", "del", &a_laptop]).unwrap();
    thread::sleep(Duration::from_secs(1));
    join(&b_laptop, "10.77.2.2/24", "10.77.2.1");

    let resumed = laptop
        .wait_for("progress after joining net B", RECOVERY, |line| {
            have_of(line).filter(|&have| have > before_move + 8)
        })
        .unwrap();
    println!(
        "had {before_move} of {pieces} pieces at the move, {resumed} soon after joining net B"
    );
    for line in laptop
        .stderr()
        .lines()
        .filter(|l| l.contains("network") || l.contains("route"))
    {
        println!("laptop: {line}");
    }
    let done = laptop.wait_complete(TIMEOUT_TRANSFER).unwrap();
    assert_eq!(done.have, pieces);
    assert!(laptop.wait_exit(TIMEOUT_QUICK).unwrap().success());
    assert!(
        laptop.stderr().contains("network changed"),
        "the laptop never noticed the move:\n{}",
        laptop.stderr()
    );
    compare_trees(&data.join("fleet"), &out.join("fleet")).unwrap();
    seed.stop(TIMEOUT_QUICK).unwrap();
}
