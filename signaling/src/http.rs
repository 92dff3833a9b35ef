//! The tracker's HTTP face: `GET /announce`, `GET /scrape` (bencoded, failures included, always
//! HTTP 200 as BitTorrent clients expect) and `GET /stats` (JSON).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bitfleet_core::tracker::encode_failure;
use tokio::net::TcpListener;

use crate::tracker::{Refusal, Tracker};

/// The tracker's routes. The announce handler lists peers under their connection's source
/// address, so the server must be run with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does); without it every
/// announce is refused.
pub fn router(tracker: Arc<Tracker>) -> Router {
    Router::new()
        .route("/announce", get(announce))
        .route("/scrape", get(scrape))
        .route("/stats", get(stats))
        .with_state(tracker)
}

/// Serves the tracker on `listener`, sweeping silent peers in the background, until `shutdown`
/// completes; requests in flight are then finished.
pub async fn serve(
    listener: TcpListener,
    tracker: Arc<Tracker>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tracker.spawn_sweeper();
    let app = router(tracker).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    served
}

async fn announce(
    State(tracker): State<Arc<Tracker>>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(Extension(ConnectInfo(remote))) = connect_info else {
        tracing::error!("tracker served without connect info: cannot see client addresses");
        return bencoded(encode_failure("tracker cannot see the client's address"));
    };
    bencoded(tracker.announce(query.as_deref().unwrap_or_default(), remote))
}

async fn scrape(State(tracker): State<Arc<Tracker>>, RawQuery(query): RawQuery) -> Response {
    bencoded(tracker.scrape(query.as_deref().unwrap_or_default()))
}

async fn stats(State(tracker): State<Arc<Tracker>>, RawQuery(query): RawQuery) -> Response {
    match tracker.stats(query.as_deref().unwrap_or_default()) {
        Ok(report) => Json(report).into_response(),
        Err(refusal) => {
            let status = match refusal {
                Refusal::Token => StatusCode::FORBIDDEN,
                _ => StatusCode::BAD_REQUEST,
            };
            let body = serde_json::json!({ "error": refusal.to_string() });
            (status, Json(body)).into_response()
        }
    }
}

fn bencoded(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
