//! The python peers in `tests/peers/`: a stock libtorrent client and a lying raw-wire peer.

use std::env;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::events::Line;
use crate::process::{run_ok, Proc};
use crate::TIMEOUT_QUICK;

pub fn peers_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("peers")
}

/// `python3 -u tests/peers/SCRIPT` (`$BITFLEET_PYTHON` overrides the interpreter).
fn python(script: &str) -> Command {
    let interpreter = env::var_os("BITFLEET_PYTHON").unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(interpreter);
    // Keep the source tree clean of __pycache__.
    cmd.env("PYTHONDONTWRITEBYTECODE", "1")
        .arg("-u")
        .arg(peers_dir().join(script));
    cmd
}

/// A torrent as libtorrent reads it (`lt_peer.py info`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LtTorrent {
    /// The v1 info-hash, hex (for a hybrid torrent, the one v1 peers use).
    pub info_hash: String,
    pub name: String,
    pub files: Vec<LtFile>,
    pub piece_length: u32,
    pub pieces: u32,
    pub total: u64,
    pub v2: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct LtFile {
    pub path: String,
    pub size: u64,
    pub offset: u64,
    pub pad: bool,
}

/// How libtorrent should make a torrent. The default is libtorrent's: hybrid v1+v2, with pad
/// files aligning every file to a piece.
#[derive(Debug, Clone, Default)]
pub struct LtCreate {
    pub v1_only: bool,
    pub piece_size: Option<u32>,
    pub trackers: Vec<String>,
}

/// Makes `out` from `path` with libtorrent and returns how libtorrent reads it back.
pub fn lt_create(path: &Path, out: &Path, options: &LtCreate) -> Result<LtTorrent> {
    let mut cmd = python("lt_peer.py");
    cmd.arg("create").arg(path).arg(out);
    if options.v1_only {
        cmd.arg("--v1-only");
    }
    if let Some(size) = options.piece_size {
        cmd.arg("--piece-size").arg(size.to_string());
    }
    for tracker in &options.trackers {
        cmd.arg("--tracker").arg(tracker);
    }
    parse_info(&run_ok("lt_peer.py create", cmd, TIMEOUT_QUICK)?.stdout)
}

/// How libtorrent reads `torrent`.
pub fn lt_info(torrent: &Path) -> Result<LtTorrent> {
    let mut cmd = python("lt_peer.py");
    cmd.arg("info").arg(torrent);
    parse_info(&run_ok("lt_peer.py info", cmd, TIMEOUT_QUICK)?.stdout)
}

fn parse_info(lines: &[Line]) -> Result<LtTorrent> {
    let info = lines
        .iter()
        .find_map(|line| match line {
            Line::Json(value) if value["event"] == "info" => Some(value.clone()),
            _ => None,
        })
        .context("lt_peer.py printed no `info` line")?;
    serde_json::from_value(info).context("unexpected `info` line from lt_peer.py")
}

/// A libtorrent seed of `torrent` with data in `data_dir`; `skip_check` trusts the data.
pub fn lt_seed(name: &str, torrent: &Path, data_dir: &Path, skip_check: bool) -> Result<Proc> {
    let mut cmd = python("lt_peer.py");
    cmd.arg("seed").arg(torrent).arg(data_dir);
    if skip_check {
        cmd.arg("--skip-check");
    }
    Proc::spawn(name, cmd)
}

/// A libtorrent download of `torrent` into `out_dir`, dialling `peers`.
pub fn lt_get(
    name: &str,
    torrent: &Path,
    out_dir: &Path,
    peers: &[SocketAddr],
    seed_after: bool,
) -> Result<Proc> {
    let mut cmd = python("lt_peer.py");
    cmd.arg("get").arg(torrent).arg(out_dir);
    for peer in peers {
        cmd.arg("--peer").arg(peer.to_string());
    }
    if seed_after {
        cmd.arg("--seed-after");
    }
    Proc::spawn(name, cmd)
}

/// A peer that claims every piece of `torrent` and serves one of them with wrong bytes. It
/// prints `started` (with its port) and `{"event":"poisoned","piece":N}`.
pub fn liar_peer(name: &str, torrent: &Path, data_dir: &Path) -> Result<Proc> {
    let mut cmd = python("liar_peer.py");
    cmd.arg(torrent).arg(data_dir);
    Proc::spawn(name, cmd)
}
