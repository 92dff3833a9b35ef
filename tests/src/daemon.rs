//! A `bitfleet daemon` under test and the commands that talk to it (`add`, `list --json`,
//! `limit`, ...), with a probe that measures transfer rates from `list`'s counters.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use crate::events::Line;
use crate::process::{run_ok, Finished, Proc};
use crate::{bitfleet, TIMEOUT_QUICK};

/// How often the probe asks the daemon for its counters.
const PROBE_INTERVAL: Duration = Duration::from_millis(100);

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub struct Caps {
    pub upload: Option<u64>,
    pub download: Option<u64>,
}

/// `bitfleet list --json`, as native/README.md documents it. Written out here rather than
/// taken from the `bitfleet` crate so that a change of the format breaks these tests.
#[derive(Debug, Clone, Deserialize)]
pub struct Listing {
    pub limits: Caps,
    pub torrents: Vec<TorrentRow>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TorrentRow {
    pub info_hash: String,
    pub name: String,
    pub state: String,
    pub total: u64,
    pub pieces: u32,
    pub have: u32,
    pub downloaded: u64,
    pub uploaded: u64,
    pub down_rate: u64,
    pub up_rate: u64,
    pub peers: usize,
    pub limits: Caps,
}

impl Listing {
    pub fn torrent(&self, info_hash: &str) -> Result<&TorrentRow> {
        self.torrents
            .iter()
            .find(|t| t.info_hash == info_hash)
            .with_context(|| format!("{info_hash} is not in the daemon's list: {self:?}"))
    }
}

pub struct Daemon {
    pub proc: Proc,
    state_dir: PathBuf,
}

impl Daemon {
    /// `bitfleet daemon` on a free API port and a loopback peer listener, started once it
    /// printed its API address.
    pub fn start(name: &str, state_dir: &Path, extra: &[&str]) -> Result<Daemon> {
        let mut cmd = bitfleet()?;
        cmd.arg("daemon").arg("--state-dir").arg(state_dir);
        cmd.args(["--api-port", "0", "--bind", "127.0.0.1", "--port", "0"]);
        cmd.args(extra);
        let mut proc = Proc::spawn(name, cmd)?;
        proc.wait_for("the API address", TIMEOUT_QUICK, |line| match line {
            Line::Text(text) if text.starts_with("api: ") => Some(()),
            _ => None,
        })?;
        Ok(Daemon {
            proc,
            state_dir: state_dir.to_owned(),
        })
    }

    /// `bitfleet ARGS... --state-dir DIR`, required to succeed.
    pub fn command(&self, args: &[&str]) -> Result<Finished> {
        let mut cmd: Command = bitfleet()?;
        cmd.args(args).arg("--state-dir").arg(&self.state_dir);
        run_ok(&format!("bitfleet {}", args.join(" ")), cmd, TIMEOUT_QUICK)
    }

    pub fn list(&self) -> Result<Listing> {
        let finished = self.command(&["list", "--json"])?;
        let json = finished
            .stdout
            .iter()
            .find_map(|line| match line {
                Line::Json(value) => Some(value.clone()),
                _ => None,
            })
            .context("`list --json` printed no JSON object")?;
        serde_json::from_value(json).context("`list --json` does not match its format")
    }

    /// Polls `list` until `done` holds for it.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Listing) -> bool,
    ) -> Result<Listing> {
        let deadline = Instant::now() + timeout;
        loop {
            let listing = self.list()?;
            if done(&listing) {
                return Ok(listing);
            }
            if Instant::now() >= deadline {
                bail!("timed out after {timeout:?} waiting for {what}; last list: {listing:?}");
            }
            thread::sleep(PROBE_INTERVAL);
        }
    }

    /// The API's address (`HOST:PORT`) and token, from the state folder.
    pub fn endpoint(&self) -> Result<(String, String)> {
        let path = self.state_dir.join("api.json");
        let json: serde_json::Value = serde_json::from_slice(&std::fs::read(&path)?)?;
        let url = json["url"].as_str().context("api.json has no url")?;
        let addr = url
            .strip_prefix("http://")
            .context("the API url is not http")?;
        let token = json["token"].as_str().context("api.json has no token")?;
        Ok((addr.to_owned(), token.to_owned()))
    }

    /// Watches a counter (`pick` of each list) for `duration`; see [`Samples`].
    pub fn probe(&self, duration: Duration, pick: impl Fn(&Listing) -> u64) -> Result<Samples> {
        let started = Instant::now();
        let mut samples = Samples { points: Vec::new() };
        while started.elapsed() < duration {
            let value = pick(&self.list()?);
            let at = Instant::now();
            if samples.points.last().is_none_or(|(_, last)| *last != value) {
                samples.points.push((at, value));
            }
            thread::sleep(PROBE_INTERVAL);
        }
        Ok(samples)
    }
}

/// A counter's values, each with the moment it was first seen. The daemon publishes its
/// counters about once a second; timing each value by its first sighting keeps the error of a
/// rate to about one probe interval over the whole window.
#[derive(Debug, Clone)]
pub struct Samples {
    points: Vec<(Instant, u64)>,
}

impl Samples {
    /// Bytes per second between the first value seen at or after `from` and the last one
    /// seen at or before `to`.
    pub fn rate(&self, from: Instant, to: Instant) -> Result<f64> {
        let first = self.points.iter().find(|(at, _)| *at >= from);
        let last = self.points.iter().rev().find(|(at, _)| *at <= to);
        let (Some(&(t0, v0)), Some(&(t1, v1))) = (first, last) else {
            bail!("no samples between the window's ends: {self:?}");
        };
        let span = t1.saturating_duration_since(t0).as_secs_f64();
        if span < 1.0 {
            bail!("samples span only {span:.2} s of the window: {self:?}");
        }
        Ok(v1.saturating_sub(v0) as f64 / span)
    }

    pub fn first_at(&self) -> Option<Instant> {
        self.points.first().map(|(at, _)| *at)
    }
}

/// One raw HTTP/1.1 request (`Connection: close`), for what the commands never send; returns
/// the status code and the body.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> Result<(u16, String)> {
    let mut stream = TcpStream::connect(addr).with_context(|| format!("connecting to {addr}"))?;
    stream.set_read_timeout(Some(TIMEOUT_QUICK))?;
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n{auth}\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    let status = answer
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("not an HTTP answer: {answer:?}"))?;
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.to_owned()))
}
