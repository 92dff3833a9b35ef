//! The tracker's HTTP face: `GET /announce`, `GET /scrape` (bencoded, failures included, always
//! HTTP 200 as BitTorrent clients expect), `GET /stats` and `GET /ice` (JSON).
//!
//! `/announce` is also the WebTorrent WebSocket tracker: a WebSocket upgrade request there
//! (`ws://host:port/announce`) is handed to `ws`; any other request is an HTTP announce.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{ConnectInfo, FromRef, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Extension, Json, Router};
use bitfleet_core::tracker::encode_failure;
use tokio::net::TcpListener;

use crate::site::Site;
use crate::tracker::{Refusal, Tracker};
use crate::ws::{self, Hub};

#[derive(Clone)]
struct AppState {
    tracker: Arc<Tracker>,
    hub: Arc<Hub>,
}

impl FromRef<AppState> for Arc<Tracker> {
    fn from_ref(state: &AppState) -> Self {
        state.tracker.clone()
    }
}

/// The tracker's routes. The announce handler lists peers under their connection's source
/// address, so the server must be run with
/// `into_make_service_with_connect_info::<SocketAddr>()` (as [`serve`] does); without it every
/// announce is refused.
pub fn router(tracker: Arc<Tracker>) -> Router {
    let hub = Arc::new(Hub::new(&tracker));
    Router::new()
        .route("/announce", get(announce))
        .route("/scrape", get(scrape))
        .route("/stats", get(stats))
        .route("/ice", get(ice))
        .with_state(AppState { tracker, hub })
}

/// Serves the tracker and `site` on `listener`, sweeping silent peers in the background, until
/// `shutdown` completes; requests in flight are then finished.
pub async fn serve(
    listener: TcpListener,
    tracker: Arc<Tracker>,
    site: Site,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = tracker.spawn_sweeper();
    let app =
        crate::site::router(tracker, site).into_make_service_with_connect_info::<SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await;
    sweeper.abort();
    served
}

async fn announce(
    State(AppState { tracker, hub }): State<AppState>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
    connect_info: Option<Extension<ConnectInfo<SocketAddr>>>,
    RawQuery(query): RawQuery,
) -> Response {
    let remote = connect_info.map(|Extension(ConnectInfo(remote))| remote);
    if let Ok(upgrade) = upgrade {
        let query = query.as_deref().unwrap_or_default();
        return ws::upgrade(upgrade, tracker, hub, query, remote);
    }
    let Some(remote) = remote else {
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
        Err(refusal) => refused(&refusal),
    }
}

/// A JSON error: 403 for a bad token, 400 for a bad query.
pub(crate) fn refused(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Token => StatusCode::FORBIDDEN,
        _ => StatusCode::BAD_REQUEST,
    };
    let body = serde_json::json!({ "error": refusal.to_string() });
    (status, Json(body)).into_response()
}

/// The STUN/TURN servers, as an `RTCConfiguration` (`{"iceServers": [...]}`). TURN
/// credentials are in there, so the token applies as for announces.
async fn ice(State(tracker): State<Arc<Tracker>>, RawQuery(query): RawQuery) -> Response {
    match tracker.authorize(query.as_deref().unwrap_or_default()) {
        Ok(()) => Json(tracker.ice_config()).into_response(),
        Err(refusal) => refused(&refusal),
    }
}

fn bencoded(body: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
