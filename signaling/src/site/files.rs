//! The web seed (BEP 19): published files over HTTP with Range support. Only files listed in
//! a published torrent are reachable: the URL path is looked up among the torrent's file
//! paths, never joined onto a folder, so no `..` or symlink trick reaches anything else.
//! Range handling (206, 416 for unsatisfiable or multipart ranges, HEAD) is tower-http's.
//! Any origin may read the files (CORS), so pages served elsewhere can use the web seed too.

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::cors::{Any, CorsLayer};
use tower_http::services::ServeFile;

use super::SiteState;
use crate::http::refused;

/// `GET /files/[TOKEN/]NAME[/PATH...]` (the wildcard arrives percent-decoded; the token only
/// when the tracker wants one).
pub(super) async fn serve(
    State(state): State<SiteState>,
    UrlPath(path): UrlPath<String>,
    request: Request,
) -> Response {
    let mut components = path.split('/').map(str::to_owned);
    if state.tracker.requires_token() {
        let given = components.next().unwrap_or_default();
        if let Err(refusal) = state.tracker.authorize_token(given.as_bytes()) {
            return refused(&refusal);
        }
    }
    let name = components.next().unwrap_or_default();
    let below: Vec<String> = components.collect();
    let Some(file) = state.catalog.data_file(&name, &below) else {
        return (StatusCode::NOT_FOUND, "no such file\n").into_response();
    };
    match ServeFile::new(file).oneshot(request).await {
        Ok(response) => response.map(Body::new),
        Err(infallible) => match infallible {},
    }
}

/// Lets pages of any origin fetch ranges (the preflight a `Range` header may need included)
/// and read the range headers of the answer.
pub(super) fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET, Method::HEAD])
        .allow_headers([header::RANGE])
        .expose_headers([
            header::CONTENT_RANGE,
            header::CONTENT_LENGTH,
            header::ACCEPT_RANGES,
        ])
}
