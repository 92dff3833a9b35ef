//! Loopback transfer benchmark: one seeder, one leecher, one single-file torrent, for each pair
//! of clients (bitfleet, stock libtorrent). Reports wall time from the leecher's start to its
//! `complete` event, throughput, the ratio to libtorrent→libtorrent, and the leecher's peak RSS.
//!
//!     cargo run --release -p bitfleet-tests --bin bench-transfer -- --size-mib 1024

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bitfleet_tests::files::compare_files;
use bitfleet_tests::{
    bitfleet_get, bitfleet_seed, loopback, lt_create, lt_get, lt_seed, write_payload, FileSpec,
    LtCreate, Proc, TIMEOUT_QUICK,
};
use clap::Parser;

#[derive(Parser)]
#[command(about = "Time seeder→leecher transfers on loopback for bitfleet and libtorrent")]
struct Args {
    /// Payload size in MiB (one file).
    #[arg(long, default_value_t = 1024)]
    size_mib: u64,
    /// Piece size in bytes.
    #[arg(long, default_value_t = 1 << 20)]
    piece_size: u32,
    /// Pairs to run, SEEDER-LEECHER with bf = bitfleet, lt = libtorrent.
    #[arg(long, value_delimiter = ',', default_value = "lt-lt,bf-bf,lt-bf,bf-lt")]
    pairs: Vec<Pair>,
    /// Give up on one pair after this many seconds.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
    /// Where to put the data (default: /dev/shm if it has room, else the system temp dir).
    #[arg(long)]
    dir: Option<PathBuf>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Client {
    Bitfleet,
    Libtorrent,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Pair {
    seeder: Client,
    leecher: Client,
}

const BASELINE: Pair = Pair {
    seeder: Client::Libtorrent,
    leecher: Client::Libtorrent,
};

impl FromStr for Client {
    type Err = String;
    fn from_str(s: &str) -> Result<Client, String> {
        match s {
            "bf" => Ok(Client::Bitfleet),
            "lt" => Ok(Client::Libtorrent),
            _ => Err(format!("unknown client {s:?} (bf or lt)")),
        }
    }
}

impl FromStr for Pair {
    type Err = String;
    fn from_str(s: &str) -> Result<Pair, String> {
        let (seeder, leecher) = s.split_once('-').ok_or("expected SEEDER-LEECHER")?;
        Ok(Pair {
            seeder: seeder.parse()?,
            leecher: leecher.parse()?,
        })
    }
}

impl fmt::Display for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Client::Bitfleet => "bitfleet",
            Client::Libtorrent => "libtorrent",
        })
    }
}

impl fmt::Display for Pair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        format!("{}→{}", self.seeder, self.leecher).fmt(f)
    }
}

/// One timed transfer.
struct Measurement {
    elapsed: Duration,
    /// The leecher's peak resident set (VmHWM), KiB.
    peak_rss_kib: u64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let size = args.size_mib << 20;
    let (base, kind) = storage(args.dir.as_deref(), size)?;
    let tmp = tempfile::Builder::new()
        .prefix("bitfleet-bench-")
        .tempdir_in(&base)
        .with_context(|| format!("cannot create a directory in {}", base.display()))?;
    println!("data: {} ({kind})", tmp.path().display());

    let data = tmp.path().join("data");
    let started = Instant::now();
    write_payload(&data, 1, &[FileSpec::new("bench.bin", size)])?;
    let torrent = tmp.path().join("bench.torrent");
    let options = LtCreate {
        v1_only: true,
        piece_size: Some(args.piece_size),
        ..LtCreate::default()
    };
    let info = lt_create(&data.join("bench.bin"), &torrent, &options)?;
    println!(
        "payload: {} MiB, {} pieces of {} KiB, v1 torrent by libtorrent ({:.1}s to prepare)",
        args.size_mib,
        info.pieces,
        info.piece_length >> 10,
        started.elapsed().as_secs_f64()
    );

    let timeout = Duration::from_secs(args.timeout_secs);
    let results: Vec<(Pair, Result<Measurement>)> = args
        .pairs
        .iter()
        .map(|&pair| {
            eprintln!("running {pair} ...");
            let out = tmp.path().join("out");
            let result = transfer(pair, &torrent, &data, &out, timeout);
            let _ = std::fs::remove_dir_all(&out);
            (pair, result)
        })
        .collect();
    report(size, &results);
    Ok(())
}

/// Where to keep the data: `dir` if given, else tmpfs when it can hold the payload twice.
fn storage(dir: Option<&Path>, size: u64) -> Result<(PathBuf, &'static str)> {
    if let Some(dir) = dir {
        return Ok((dir.to_owned(), "chosen with --dir"));
    }
    let shm = Path::new("/dev/shm");
    if let Ok(stat) = nix::sys::statvfs::statvfs(shm) {
        let free = stat.blocks_available().saturating_mul(stat.fragment_size());
        if free >= size * 2 + (256 << 20) {
            return Ok((shm.to_owned(), "tmpfs"));
        }
    }
    Ok((std::env::temp_dir(), "disk: /dev/shm too small"))
}

fn transfer(
    pair: Pair,
    torrent: &Path,
    data: &Path,
    out: &Path,
    timeout: Duration,
) -> Result<Measurement> {
    // Both seeders trust their data: the benchmark times the transfer, not the start-up check.
    let mut seeder = match pair.seeder {
        Client::Bitfleet => bitfleet_seed("bitfleet seed", torrent, data, &["--skip-check"])?,
        Client::Libtorrent => lt_seed("libtorrent seed", torrent, data, true)?,
    };
    let peer = [loopback(seeder.wait_started(TIMEOUT_QUICK)?.port)];

    let clock = Instant::now();
    // --seed-after keeps the leecher alive after `complete`, so its VmHWM can still be read.
    let mut leecher = match pair.leecher {
        Client::Bitfleet => bitfleet_get("bitfleet get", torrent, out, &peer, &["--seed-after"])?,
        Client::Libtorrent => lt_get("libtorrent get", torrent, out, &peer, true)?,
    };
    leecher.wait_complete(timeout)?;
    let elapsed = clock.elapsed();
    let peak_rss_kib = peak_rss_kib(&leecher)?;

    leecher.stop(TIMEOUT_QUICK)?;
    seeder.stop(TIMEOUT_QUICK)?;
    compare_files(&data.join("bench.bin"), &out.join("bench.bin"))?;
    Ok(Measurement {
        elapsed,
        peak_rss_kib,
    })
}

/// VmHWM of a running process, from /proc.
fn peak_rss_kib(proc: &Proc) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.pid()))?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .context("no VmHWM in /proc/PID/status")?;
    let Some(kib) = line.trim().strip_suffix("kB") else {
        bail!("unexpected VmHWM line {line:?}");
    };
    Ok(kib.trim().parse()?)
}

fn report(size: u64, results: &[(Pair, Result<Measurement>)]) {
    let baseline = results
        .iter()
        .find(|(pair, _)| *pair == BASELINE)
        .and_then(|(_, r)| r.as_ref().ok())
        .map(|m| m.elapsed.as_secs_f64());
    println!();
    println!(
        "{:<24} {:>9} {:>9} {:>12} {:>15}",
        "seeder→leecher", "seconds", "MB/s", "vs lt→lt", "leecher peak RSS"
    );
    for (pair, result) in results {
        match result {
            Ok(m) => {
                let secs = m.elapsed.as_secs_f64();
                let ratio = baseline.map_or("-".to_owned(), |b| format!("{:.2}x", b / secs));
                println!(
                    "{:<24} {:>9.2} {:>9.1} {:>12} {:>12} MiB",
                    pair.to_string(),
                    secs,
                    size as f64 / secs / 1e6,
                    ratio,
                    m.peak_rss_kib >> 10
                );
            }
            Err(e) => {
                let first = format!("{e:#}");
                let first = first.lines().next().unwrap_or_default();
                println!("{:<24} FAILED: {first}", pair.to_string());
            }
        }
    }
    println!("(MB = 10^6 bytes; `vs lt→lt` is throughput relative to libtorrent→libtorrent, higher is better;");
    println!(" the libtorrent leecher's RSS includes the python interpreter)");
}
