//! The binaries under test (`bitfleet`, `bitfleet-server`) and their command lines.

use std::env;
use std::ffi::OsStr;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

use crate::process::{run_ok, Proc};
use crate::TIMEOUT_QUICK;

/// Where the workspace's binaries are: `$BITFLEET_BIN_DIR` if set; else the profile directory
/// this executable was built into (`target/release/deps/x` or `target/release/x` ->
/// `target/release`); else `$CARGO_TARGET_DIR/release`.
pub fn bin_dir() -> Result<PathBuf> {
    if let Some(dir) = env::var_os("BITFLEET_BIN_DIR") {
        return Ok(dir.into());
    }
    if let Some(dir) = env::current_exe().ok().as_deref().and_then(Path::parent) {
        let dir = if dir.file_name() == Some(OsStr::new("deps")) {
            dir.parent().unwrap_or(dir)
        } else {
            dir
        };
        return Ok(dir.to_owned());
    }
    let target = env::var_os("CARGO_TARGET_DIR").context("cannot locate the target directory")?;
    Ok(PathBuf::from(target).join("release"))
}

/// Path of a workspace binary, with a hint when it has not been built.
pub fn bin_path(name: &str) -> Result<PathBuf> {
    let path = bin_dir()?.join(name);
    if !path.is_file() {
        bail!(
            "{} not found: build it first with `cargo build --workspace --release --bins`",
            path.display()
        );
    }
    Ok(path)
}

pub fn bitfleet() -> Result<Command> {
    Ok(Command::new(bin_path("bitfleet")?))
}

pub fn bitfleet_server() -> Result<Command> {
    Ok(Command::new(bin_path("bitfleet-server")?))
}

/// What `bitfleet create` prints.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    pub info_hash: String,
    pub magnet: String,
}

/// `bitfleet create PATH -o OUT [extra...]`, returning the printed info-hash and magnet.
pub fn bitfleet_create(path: &Path, out: &Path, extra: &[&str]) -> Result<Created> {
    let mut cmd = bitfleet()?;
    cmd.arg("create").arg(path).arg("-o").arg(out).args(extra);
    let finished = run_ok("bitfleet create", cmd, TIMEOUT_QUICK)?;
    let words: Vec<&str> = finished
        .text()
        .into_iter()
        .flat_map(str::split_whitespace)
        .collect();
    let info_hash = words
        .iter()
        .find(|w| w.len() == 40 && w.bytes().all(|b| b.is_ascii_hexdigit()))
        .context("bitfleet create printed no 40-hex-digit info-hash")?;
    let magnet = words
        .iter()
        .find(|w| w.starts_with("magnet:?"))
        .context("bitfleet create printed no magnet URI")?;
    Ok(Created {
        info_hash: info_hash.to_ascii_lowercase(),
        magnet: (*magnet).to_owned(),
    })
}

/// `bitfleet seed TORRENT --dir DIR --json` on a loopback listener (port reported in `started`).
pub fn bitfleet_seed(name: &str, torrent: &Path, dir: &Path, extra: &[&str]) -> Result<Proc> {
    let mut cmd = bitfleet()?;
    cmd.arg("seed").arg(torrent).arg("--dir").arg(dir);
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--json"])
        .args(extra);
    Proc::spawn(name, cmd)
}

/// `bitfleet get SOURCE --out DIR --json --peer P...` on a loopback listener.
pub fn bitfleet_get(
    name: &str,
    source: impl AsRef<OsStr>,
    out: &Path,
    peers: &[SocketAddr],
    extra: &[&str],
) -> Result<Proc> {
    let mut cmd = bitfleet()?;
    cmd.arg("get").arg(source).arg("--out").arg(out);
    cmd.args(["--bind", "127.0.0.1", "--port", "0", "--json"]);
    for peer in peers {
        cmd.arg("--peer").arg(peer.to_string());
    }
    cmd.args(extra);
    Proc::spawn(name, cmd)
}

/// `bitfleet serve PATH... --listen 127.0.0.1:PORT [extra...]` on a free port, once it has
/// published its paths. Returns the process and the server's address.
pub fn bitfleet_serve(name: &str, paths: &[&Path], extra: &[&str]) -> Result<(Proc, SocketAddr)> {
    let port = crate::free_port()?;
    let addr = crate::loopback(port);
    let mut cmd = bitfleet()?;
    cmd.arg("serve").args(paths);
    cmd.args(["--listen", &addr.to_string()]).args(extra);
    let mut proc = Proc::spawn(name, cmd)?;
    crate::wait_listening(&mut proc, port, TIMEOUT_QUICK)?;
    // It binds before it hashes its paths and answers HTTP only once they are published, so
    // a file a test adds after this is in no torrent (it raced the hashing before).
    crate::http::get(addr, "/", &[])
        .map_err(|e| proc.failure(&format!("no HTTP answer once listening: {e:#}")))?;
    Ok((proc, addr))
}
