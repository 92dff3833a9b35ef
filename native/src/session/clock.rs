//! The engine's injected time: a process-wide epoch mapped to and from tokio's clock.

use std::sync::OnceLock;
use std::time::Duration;

use bitfleet_core::Instant;

fn epoch() -> std::time::Instant {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(std::time::Instant::now)
}

pub fn now() -> Instant {
    Instant::from_epoch(epoch().elapsed())
}

/// The tokio instant of an engine instant; far in the future when not representable.
pub fn to_tokio(at: Instant) -> tokio::time::Instant {
    let far = || tokio::time::Instant::now() + Duration::from_secs(24 * 3600);
    epoch()
        .checked_add(at.since_epoch())
        .map_or_else(far, tokio::time::Instant::from_std)
}

/// Sleeps until `deadline`; without one, forever (a `select!` arm that never fires).
pub(crate) async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
