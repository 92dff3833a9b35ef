//! What a running torrent shows: a progress bar on stderr, JSON lines on stdout (`--json`, the
//! format in docs/cli.md), or nothing (`--quiet`).

use std::io::Write;
use std::time::Duration;

use bitfleet_core::InfoHash;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde_json::{json, Value};

use crate::session::Report;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Bar,
    Json,
    Quiet,
}

/// The torrent's identity, for the `started` line and the bar.
pub struct Started<'a> {
    pub info_hash: InfoHash,
    pub name: &'a str,
    pub total: u64,
    pub pieces: u32,
    pub port: u16,
}

pub struct Progress {
    mode: Mode,
    bar: Option<ProgressBar>,
}

impl Progress {
    pub fn new(mode: Mode) -> Self {
        Self { mode, bar: None }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn started(&mut self, started: &Started<'_>) {
        match self.mode {
            Mode::Json => emit(json!({
                "event": "started",
                "info_hash": started.info_hash.to_hex(),
                "name": started.name,
                "total": started.total,
                "pieces": started.pieces,
                "port": started.port,
            })),
            Mode::Bar => {
                let bar = ProgressBar::new(started.total);
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix} [{bar:30}] {percent:>3}% {bytes}/{total_bytes} {msg} ETA {eta}",
                    )
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
                );
                bar.set_prefix(started.name.to_owned());
                bar.enable_steady_tick(Duration::from_millis(500));
                self.bar = Some(bar);
            }
            Mode::Quiet => {}
        }
    }

    /// Called about once a second.
    pub fn update(&self, report: &Report) {
        self.line("progress", report);
    }

    pub fn complete(&self, report: &Report) {
        self.line("complete", report);
    }

    /// The last line of the process.
    pub fn stopped(&self, report: &Report) {
        self.line("stopped", report);
        if let Some(bar) = &self.bar {
            bar.finish();
        }
    }

    fn line(&self, event: &str, report: &Report) {
        let s = &report.status;
        match self.mode {
            Mode::Json => emit(json!({
                "event": event,
                "have": s.pieces_have,
                "pieces": s.pieces_total,
                "downloaded": s.transfer.downloaded,
                "uploaded": s.transfer.uploaded,
                "down_rate": s.download_rate,
                "up_rate": s.upload_rate,
                "peers": s.peers,
                "hash_failures": s.hash_failures,
                "wasted": s.wasted,
                "from_browsers": report.browsers.received,
                "to_browsers": report.browsers.sent,
            })),
            Mode::Bar => {
                if let Some(bar) = &self.bar {
                    bar.set_position(bar.length().unwrap_or(0).saturating_sub(s.transfer.left));
                    bar.set_message(format!(
                        "down {}/s up {}/s, {} peers",
                        HumanBytes(s.download_rate),
                        HumanBytes(s.upload_rate),
                        s.peers
                    ));
                }
            }
            Mode::Quiet => {}
        }
    }
}

fn emit(line: Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (piped into `head`) is not worth failing the transfer over.
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
