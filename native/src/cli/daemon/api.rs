//! The daemon's HTTP API (JSON, on 127.0.0.1 only, bearer token). Reference in
//! native/README.md.

use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};

use super::protocol::{AddRequest, ErrorBody, LimitsSpec};
use super::torrents::{Added, RequestError, Shared};

/// A .torrent may be up to 64 MiB, twice that in hex.
const MAX_BODY: usize = 130 << 20;

#[derive(Clone)]
struct Api {
    torrents: Shared,
    /// `Bearer TOKEN`
    authorization: String,
}

pub fn router(torrents: Shared, token: &str) -> Router {
    let api = Api {
        torrents,
        authorization: format!("Bearer {token}"),
    };
    Router::new()
        .route("/v1/torrents", get(list).post(add))
        .route("/v1/torrents/{info_hash}", axum::routing::delete(remove))
        .route("/v1/torrents/{info_hash}/pause", post(pause))
        .route("/v1/torrents/{info_hash}/resume", post(resume))
        .route("/v1/torrents/{info_hash}/limits", put(torrent_limits))
        .route("/v1/limits", put(global_limits))
        .layer(middleware::from_fn_with_state(api.clone(), authorize))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(api)
}

/// Other users of the machine reach 127.0.0.1 too: only holders of the token (readable by the
/// daemon's user alone) get in.
async fn authorize(State(api): State<Api>, request: Request, next: Next) -> Response {
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .unwrap_or_default();
    if constant_time_eq(given, api.authorization.as_bytes()) {
        next.run(request).await
    } else {
        error(
            StatusCode::UNAUTHORIZED,
            "missing or wrong API token".into(),
        )
    }
}

/// Compares without returning early, so timing does not tell how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn error(status: StatusCode, message: String) -> Response {
    (status, Json(ErrorBody { error: message })).into_response()
}

impl IntoResponse for RequestError {
    fn into_response(self) -> Response {
        let status = match &self {
            RequestError::NotFound(_) => StatusCode::NOT_FOUND,
            RequestError::BadRequest(_) => StatusCode::BAD_REQUEST,
            RequestError::AlreadyAdded(_) => StatusCode::CONFLICT,
            RequestError::State(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        error(status, self.to_string())
    }
}

/// A JSON body, or what is wrong with it.
fn body<T>(parsed: Result<Json<T>, JsonRejection>) -> Result<T, RequestError> {
    parsed
        .map(|Json(value)| value)
        .map_err(|e| RequestError::BadRequest(e.body_text()))
}

async fn list(State(api): State<Api>) -> Response {
    Json(api.torrents.lock().await.list()).into_response()
}

async fn add(State(api): State<Api>, request: Result<Json<AddRequest>, JsonRejection>) -> Response {
    let request = match body(request) {
        Ok(request) => request,
        Err(e) => return e.into_response(),
    };
    let Ok(torrent) = hex::decode(&request.torrent) else {
        return error(StatusCode::BAD_REQUEST, "`torrent` must be hex".into());
    };
    let mut torrents = api.torrents.lock().await;
    let settings = Added {
        out: request.out,
        limits: request.limits,
        peers: request.peers,
        paused: request.paused,
    };
    let added = torrents.add(&api.torrents, &torrent, settings);
    match added {
        Ok(view) => (StatusCode::CREATED, Json(view)).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn pause(State(api): State<Api>, Path(info_hash): Path<String>) -> Response {
    let paused = api.torrents.lock().await.pause(&info_hash).await;
    paused.map(Json).into_response()
}

async fn resume(State(api): State<Api>, Path(info_hash): Path<String>) -> Response {
    let mut torrents = api.torrents.lock().await;
    let resumed = torrents.resume(&api.torrents, &info_hash);
    resumed.map(Json).into_response()
}

async fn remove(State(api): State<Api>, Path(info_hash): Path<String>) -> Response {
    match api.torrents.lock().await.remove(&info_hash).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn torrent_limits(
    State(api): State<Api>,
    Path(info_hash): Path<String>,
    change: Result<Json<LimitsSpec>, JsonRejection>,
) -> Response {
    set_limits(api, Some(info_hash), change).await
}

async fn global_limits(
    State(api): State<Api>,
    change: Result<Json<LimitsSpec>, JsonRejection>,
) -> Response {
    set_limits(api, None, change).await
}

async fn set_limits(
    api: Api,
    info_hash: Option<String>,
    change: Result<Json<LimitsSpec>, JsonRejection>,
) -> Response {
    let change = match body(change) {
        Ok(change) => change,
        Err(e) => return e.into_response(),
    };
    let mut torrents = api.torrents.lock().await;
    let limits = torrents.set_limits(info_hash.as_deref(), change).await;
    limits.map(Json).into_response()
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"Bearer ab", b"Bearer ab"));
        assert!(!constant_time_eq(b"Bearer a", b"Bearer ab"));
        assert!(!constant_time_eq(b"Bearer ac", b"Bearer ab"));
    }
}
