//! Offices: the payload crosses each office's WAN link about once when the tracker knows the
//! sites and the laptops prefer their LAN — and how much more it costs with all that off.
//!
//! Real processes in network namespaces, links shaped with `tc` (needs root, iproute2):
//!
//! ```text
//!                      server ns 10.90.0.2 (tracker :7000, seed :7001), uplink shaped
//!                         │
//!                      core ns (router)
//!              WAN A ┌────┴────┐ WAN B      each WAN link shaped both ways
//!        office-a ns (router)   office-b ns (router)
//!        bridge 10.1.0.1/24     bridge 10.2.0.1/24
//!        ├ laptop a1 .11        ├ laptop b1 .11
//!        ├ laptop a2 .12        ├ laptop b2 .12
//!        └ laptop a3 .13        └ laptop b3 .13
//! ```
//!
//! The bytes entering an office are the receive counter of its router's WAN interface
//! (payload, headers and tracker traffic alike), read before and after the downloads.

use std::path::Path;
use std::time::Instant;

use bitfleet_tests::bins::bin_path;
use bitfleet_tests::netns::{veth, Netns};
use bitfleet_tests::{
    bitfleet_create, compare_trees, temp_dir, uneven_tree, write_payload, Proc, TIMEOUT_QUICK,
    TIMEOUT_TRANSFER,
};

const PAYLOAD: u64 = 32 << 20;
/// Each WAN link, each way, and the server's uplink: 2 MB/s.
const WAN_RATE: &str = "16mbit";
const SERVER_IP: &str = "10.90.0.2";
const TRACKER_PORT: u16 = 7000;
const SEED_PORT: u16 = 7001;
const LAPTOPS_PER_OFFICE: usize = 3;
/// The bound with sites on: copies of the payload taken over each office's WAN link.
const MAX_COPIES_WITH_SITES: f64 = 1.3;

const SITES: &str = r#"
[[site]]
name = "office-a"
ranges = ["10.1.0.0/24"]

[[site]]
name = "office-b"
ranges = ["10.2.0.0/24"]

# The origin in a site of its own ranks as another site's seed: before other offices' leechers.
[[site]]
name = "datacenter"
ranges = ["10.90.0.0/24"]
"#;

/// One office: a router namespace holding the LAN bridge and the WAN link, and its laptops.
struct Office {
    name: &'static str,
    router: Netns,
    wan_if: String,
    laptops: Vec<(Netns, String)>,
}

impl Office {
    /// Bytes received on the office's WAN link so far.
    fn wan_rx(&self) -> u64 {
        let output = self
            .router
            .command("cat")
            .arg(format!(
                "/sys/class/net/{}/statistics/rx_bytes",
                self.wan_if
            ))
            .output()
            .unwrap();
        assert!(output.status.success(), "cannot read the WAN counter");
        String::from_utf8_lossy(&output.stdout)
            .trim()
            .parse()
            .unwrap()
    }
}

/// Every namespace of the test, removed (with their links) when dropped.
struct Network {
    server: Netns,
    _core: Netns,
    offices: Vec<Office>,
}

fn run_in(ns: &Netns, program: &str, args: &[&str]) {
    let status = ns.command(program).args(args).status().unwrap();
    assert!(
        status.success(),
        "{program} {args:?} in {} failed",
        ns.name()
    );
}

/// Shapes what leaves `iface` in `ns` to the WAN rate.
fn shape(ns: &Netns, iface: &str) {
    run_in(
        ns,
        "tc",
        &[
            "qdisc", "add", "dev", iface, "root", "tbf", "rate", WAN_RATE, "burst", "32kb",
            "latency", "200ms",
        ],
    );
}

fn up(ns: &Netns, iface: &str, addr: Option<&str>) {
    if let Some(addr) = addr {
        ns.ip(&["addr", "add", addr, "dev", iface]).unwrap();
    }
    ns.ip(&["link", "set", iface, "up"]).unwrap();
}

fn build_network(tag: u32) -> Network {
    let server = Netns::create(&format!("bf-srv-{tag}")).unwrap();
    let core = Netns::create(&format!("bf-core-{tag}")).unwrap();
    run_in(&core, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);

    let (srv_if, core_srv_if) = (format!("os{tag}"), format!("oc{tag}"));
    veth(&server, &srv_if, &core, &core_srv_if).unwrap();
    up(&server, &srv_if, Some(&format!("{SERVER_IP}/24")));
    up(&core, &core_srv_if, Some("10.90.0.1/24"));
    server
        .ip(&["route", "add", "default", "via", "10.90.0.1"])
        .unwrap();
    shape(&server, &srv_if);

    let offices = [("a", 1u8), ("b", 2u8)]
        .into_iter()
        .map(|(name, n)| {
            let router = Netns::create(&format!("bf-{name}-{tag}")).unwrap();
            run_in(&router, "sysctl", &["-qw", "net.ipv4.ip_forward=1"]);
            let (wan_if, core_if) = (format!("w{name}{tag}"), format!("c{name}{tag}"));
            veth(&router, &wan_if, &core, &core_if).unwrap();
            up(&router, &wan_if, Some(&format!("10.9{n}.0.2/24")));
            up(&core, &core_if, Some(&format!("10.9{n}.0.1/24")));
            shape(&router, &wan_if);
            shape(&core, &core_if);
            router
                .ip(&["route", "add", "default", "via", &format!("10.9{n}.0.1")])
                .unwrap();
            core.ip(&[
                "route",
                "add",
                &format!("10.{n}.0.0/24"),
                "via",
                &format!("10.9{n}.0.2"),
            ])
            .unwrap();

            router
                .ip(&["link", "add", "br0", "type", "bridge"])
                .unwrap();
            up(&router, "br0", Some(&format!("10.{n}.0.1/24")));
            let laptops = (1..=LAPTOPS_PER_OFFICE)
                .map(|i| {
                    let ns = Netns::create(&format!("bf-{name}{i}-{tag}")).unwrap();
                    let (port, nic) = (format!("p{name}{i}{tag}"), "eth0".to_owned());
                    veth(&router, &port, &ns, &nic).unwrap();
                    router.ip(&["link", "set", &port, "master", "br0"]).unwrap();
                    up(&router, &port, None);
                    up(&ns, &nic, Some(&format!("10.{n}.0.{}/24", 10 + i)));
                    ns.ip(&["route", "add", "default", "via", &format!("10.{n}.0.1")])
                        .unwrap();
                    (ns, format!("{name}{i}"))
                })
                .collect();
            Office {
                name: if n == 1 { "A" } else { "B" },
                router,
                wan_if,
                laptops,
            }
        })
        .collect();
    Network {
        server,
        _core: core,
        offices,
    }
}

/// Copies of the payload each office took over its WAN link, in office order.
fn roll_out(sites_on: bool, data: &Path, torrent: &Path, work: &Path) -> Vec<f64> {
    let tag = std::process::id() % 10_000 * 10 + u32::from(sites_on);
    let net = build_network(tag);
    let bitfleet = bin_path("bitfleet").unwrap();

    let mut server = net.server.command(bin_path("bitfleet-server").unwrap());
    server.args(["--listen", &format!("{SERVER_IP}:{TRACKER_PORT}")]);
    if sites_on {
        let config = work.join("tracker.toml");
        std::fs::write(&config, SITES).unwrap();
        server.arg("--config").arg(&config);
    }
    let mut tracker = Proc::spawn("tracker", server).unwrap();
    net.server
        .wait_listening(SERVER_IP, TRACKER_PORT, &mut tracker);

    let mut seed = net.server.command(&bitfleet);
    seed.arg("seed").arg(torrent).arg("--dir").arg(data);
    seed.args(["--port", &SEED_PORT.to_string(), "--json"]);
    let mut seed = Proc::spawn("seed", seed).unwrap();
    seed.wait_started(TIMEOUT_QUICK).unwrap();

    let before: Vec<u64> = net.offices.iter().map(Office::wan_rx).collect();
    let started = Instant::now();
    let mut laptops = Vec::new();
    for office in &net.offices {
        for (ns, name) in &office.laptops {
            let out = work.join(name);
            let mut cmd = ns.command(&bitfleet);
            cmd.arg("get").arg(torrent).arg("--out").arg(&out);
            // Finished laptops keep serving their colleagues, as they would in an office.
            cmd.args(["--seed-after", "--port", "6881", "--json"]);
            if !sites_on {
                cmd.arg("--no-local-preference");
            }
            laptops.push((Proc::spawn(name.clone(), cmd).unwrap(), out));
        }
    }
    for (laptop, _) in &mut laptops {
        laptop.wait_complete(TIMEOUT_TRANSFER).unwrap();
    }
    let elapsed = started.elapsed();
    let copies: Vec<f64> = net
        .offices
        .iter()
        .zip(&before)
        .map(|(office, before)| (office.wan_rx() - before) as f64 / PAYLOAD as f64)
        .collect();
    for (office, copies) in net.offices.iter().zip(&copies) {
        println!(
            "sites {}: office {} took {copies:.2} copies of the payload over its WAN link",
            if sites_on { "on" } else { "off" },
            office.name
        );
    }
    println!(
        "sites {}: all {} laptops done in {:.1} s",
        if sites_on { "on" } else { "off" },
        laptops.len(),
        elapsed.as_secs_f64()
    );
    for (mut laptop, out) in laptops {
        laptop.stop(TIMEOUT_QUICK).unwrap();
        compare_trees(&data.join("fleet"), &out.join("fleet")).unwrap();
    }
    seed.stop(TIMEOUT_QUICK).unwrap();
    drop(tracker);
    copies
}

#[test]
fn each_office_takes_the_payload_about_once_over_its_wan_link() {
    let tmp = temp_dir("offices").unwrap();
    let data = tmp.path().join("data");
    write_payload(&data.join("fleet"), 7, &uneven_tree(PAYLOAD).unwrap()).unwrap();
    let torrent = tmp.path().join("fleet.torrent");
    let announce = format!("http://{SERVER_IP}:{TRACKER_PORT}/announce");
    bitfleet_create(&data.join("fleet"), &torrent, &["--tracker", &announce]).unwrap();

    let on_dir = tmp.path().join("on");
    let off_dir = tmp.path().join("off");
    std::fs::create_dir_all(&on_dir).unwrap();
    std::fs::create_dir_all(&off_dir).unwrap();
    let on = roll_out(true, &data, &torrent, &on_dir);
    let off = roll_out(false, &data, &torrent, &off_dir);
    let worst = |copies: &[f64]| copies.iter().copied().fold(0.0, f64::max);
    println!(
        "WAN copies per office: sites on {on:.2?} (worst {:.2}), sites off {off:.2?} (worst {:.2})",
        worst(&on),
        worst(&off)
    );
    assert!(
        worst(&on) <= MAX_COPIES_WITH_SITES,
        "with sites on an office took {:.2} copies over its WAN link (bound {MAX_COPIES_WITH_SITES})",
        worst(&on)
    );
}
