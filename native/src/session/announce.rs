//! HTTP announces to every tracker of a torrent, merged into one result for the engine.

use std::collections::HashSet;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bitfleet_core::engine::TransferStats;
use bitfleet_core::tracker::{AnnounceEvent, AnnounceRequest, AnnounceResponse};
use bitfleet_core::{InfoHash, PeerId};
use tokio::sync::oneshot;
use tokio::task::JoinSet;

const ANNOUNCE_TIMEOUT: Duration = Duration::from_secs(15);
/// Peers asked of each tracker.
const NUMWANT: u32 = 50;

/// What every announce of one torrent shares.
#[derive(Debug, Clone)]
pub struct Announcer {
    client: reqwest::Client,
    trackers: Vec<String>,
    info_hash: InfoHash,
    peer_id: PeerId,
    port: u16,
    /// Completion signal of the announce issued last: each announce waits for the one before,
    /// so a tracker sees `completed` before the `stopped` that may follow at once.
    last: Arc<Mutex<Option<oneshot::Receiver<()>>>>,
}

impl Announcer {
    pub fn new(trackers: Vec<String>, info_hash: InfoHash, peer_id: PeerId, port: u16) -> Self {
        Self {
            client: http_client(),
            trackers,
            info_hash,
            peer_id,
            port,
            last: Arc::default(),
        }
    }

    /// An announce that starts once every announce issued before it has finished; the order
    /// is fixed when this is called, not when the future first runs.
    pub fn announce_in_order(
        &self,
        event: Option<AnnounceEvent>,
        stats: TransferStats,
    ) -> impl Future<Output = Result<AnnounceResponse, String>> + Send + 'static {
        let (done, next) = oneshot::channel();
        let previous = self
            .last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(next);
        let announcer = self.clone();
        async move {
            if let Some(previous) = previous {
                // An error only means the previous announce was dropped: go on.
                let _ = previous.await;
            }
            let result = announcer.announce(event, stats).await;
            let _ = done.send(());
            result
        }
    }

    pub fn has_trackers(&self) -> bool {
        !self.trackers.is_empty()
    }

    /// Announces to all trackers at once: the peers of every reply, the shortest interval;
    /// an error only when no tracker answered.
    async fn announce(
        &self,
        event: Option<AnnounceEvent>,
        stats: TransferStats,
    ) -> Result<AnnounceResponse, String> {
        let request = AnnounceRequest {
            info_hash: self.info_hash,
            peer_id: self.peer_id,
            port: self.port,
            uploaded: stats.uploaded,
            downloaded: stats.downloaded,
            left: stats.left,
            event,
            compact: true,
            numwant: Some(NUMWANT),
            key: None,
            ip: None,
            tracker_id: None,
        };
        let query = request.to_query();
        let mut calls = JoinSet::new();
        for tracker in &self.trackers {
            let (client, tracker, query) = (self.client.clone(), tracker.clone(), query.clone());
            calls.spawn(async move {
                let result = announce_one(&client, &tracker, &query).await;
                (tracker, result)
            });
        }
        let mut replies = Vec::new();
        let mut errors = Vec::new();
        while let Some(joined) = calls.join_next().await {
            match joined {
                Ok((_, Ok(reply))) => replies.push(reply),
                Ok((tracker, Err(e))) => {
                    tracing::debug!(%tracker, error = %e, "announce failed");
                    errors.push(format!("{tracker}: {e}"));
                }
                Err(e) => errors.push(format!("announce task: {e}")),
            }
        }
        if errors.is_empty() && replies.is_empty() {
            return Err("the torrent has no trackers".to_owned());
        }
        merge(replies).ok_or_else(|| errors.join("; "))
    }
}

/// The client for announces and .torrent downloads.
pub fn http_client() -> reqwest::Client {
    client_with_timeout(ANNOUNCE_TIMEOUT)
}

/// A client whose requests fail after `timeout`, identifying itself as Bitfleet.
pub(super) fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .user_agent(concat!("Bitfleet/", env!("CARGO_PKG_VERSION")))
        .build()
        .unwrap_or_default()
}

async fn announce_one(
    client: &reqwest::Client,
    tracker: &str,
    query: &str,
) -> Result<AnnounceResponse, String> {
    if !tracker.starts_with("http://") {
        return Err("only plain http trackers are supported".to_owned());
    }
    let separator = if tracker.contains('?') { '&' } else { '?' };
    let url = format!("{tracker}{separator}{query}");
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| e.without_url().to_string())?;
    let status = response.status();
    if !status.is_success() {
        return Err(format!("HTTP {status}"));
    }
    let body = response
        .bytes()
        .await
        .map_err(|e| e.without_url().to_string())?;
    AnnounceResponse::decode(&body).map_err(|e| e.to_string())
}

fn merge(replies: Vec<AnnounceResponse>) -> Option<AnnounceResponse> {
    let mut replies = replies.into_iter();
    let mut merged = replies.next()?;
    // Keep each tracker's order (a site-aware tracker lists the best peers first), dropping
    // addresses already listed.
    let mut seen: HashSet<_> = merged.peers.iter().copied().collect();
    for reply in replies {
        merged.interval = merged.interval.min(reply.interval);
        merged.min_interval = match (merged.min_interval, reply.min_interval) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        merged.complete = merged.complete.max(reply.complete);
        merged.incomplete = merged.incomplete.max(reply.incomplete);
        merged.warning = merged.warning.or(reply.warning);
        let fresh: Vec<_> = reply
            .peers
            .into_iter()
            .filter(|p| seen.insert(*p))
            .collect();
        merged.peers.extend(fresh);
    }
    // Tracker ids belong to one tracker each; a merged reply has none.
    merged.tracker_id = None;
    Some(merged)
}
