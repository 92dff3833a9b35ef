//! What `seed`, `get` and `serve` share: checking data already on disk, and running a torrent
//! until it completes or a signal arrives.

use anyhow::Context;
use bitfleet_core::Bitfield;
use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::{Mode, Progress, Started};
use crate::session::{Report, TorrentHandle};
use crate::storage::{self, Storage};

/// SIGINT and SIGTERM, listened for from the start so neither kills the process abruptly.
pub struct Shutdown {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Shutdown {
    pub fn listen() -> anyhow::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt()).context("listening for SIGINT")?,
                terminate: signal(SignalKind::terminate()).context("listening for SIGTERM")?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The valid pieces of `storage`'s data (read and hashed on every core), with a bar in
/// `Mode::Bar`.
pub async fn check(storage: &Storage, mode: Mode) -> anyhow::Result<Bitfield> {
    let info = storage.info().clone();
    let layout = storage.layout().clone();
    let pieces = info.piece_count();
    with_check_bar(pieces, mode, move |tick| {
        storage::check(&info, &layout, tick).map_err(Into::into)
    })
    .await
}

/// Runs a piece check on a blocking thread; `job` calls its argument once per piece checked,
/// which moves a bar over `pieces` in `Mode::Bar`.
pub async fn with_check_bar<T: Send + 'static>(
    pieces: u32,
    mode: Mode,
    job: impl FnOnce(&(dyn Fn() + Sync)) -> anyhow::Result<T> + Send + 'static,
) -> anyhow::Result<T> {
    let bar = match mode {
        Mode::Bar => ProgressBar::new(u64::from(pieces)),
        Mode::Json | Mode::Quiet => ProgressBar::hidden(),
    };
    bar.set_style(
        ProgressStyle::with_template("checking [{bar:30}] {pos}/{len} pieces")
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
    );
    let ticker = bar.clone();
    let result = tokio::task::spawn_blocking(move || job(&|| ticker.inc(1)))
        .await
        .context("checking task failed")??;
    bar.finish_and_clear();
    Ok(result)
}

/// How a run ended.
pub struct Outcome {
    pub report: Report,
    /// A signal ended it (rather than completion).
    pub interrupted: bool,
}

/// Reports progress (`started` once the torrent is known: at once, or when a magnet link's
/// metadata arrived) until completion (when `stop_when_complete`), a failure or a signal; then
/// stops the torrent gracefully and reports `stopped`.
pub async fn run(
    handle: TorrentHandle,
    progress: &mut Progress,
    port: u16,
    stop_when_complete: bool,
    shutdown: &mut Shutdown,
) -> Outcome {
    let mut updates = handle.subscribe();
    let mut reported_start = false;
    let mut reported_complete = false;
    let mut interrupted = false;
    loop {
        let report = updates.borrow_and_update().clone();
        if report.error.is_some() {
            break;
        }
        match &report.metainfo {
            Some(metainfo) if !reported_start => {
                reported_start = true;
                progress.started(&Started {
                    info_hash: metainfo.info_hash,
                    name: &metainfo.info.name,
                    total: metainfo.info.total_length(),
                    pieces: metainfo.info.piece_count(),
                    port,
                });
            }
            _ => {}
        }
        if report.complete && !reported_complete {
            progress.complete(&report);
            reported_complete = true;
            if stop_when_complete {
                break;
            }
        } else {
            progress.update(&report);
        }
        tokio::select! {
            changed = updates.changed() => if changed.is_err() { break },
            () = shutdown.recv() => {
                interrupted = true;
                break;
            }
        }
    }
    let report = handle.stop().await;
    progress.stopped(&report);
    Outcome {
        report,
        interrupted,
    }
}
