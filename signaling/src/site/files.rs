//! The web seed (BEP 19): published files over HTTP with Range support. Only files listed in
//! a published torrent are reachable: the URL path is looked up among the torrent's file
//! paths, never joined onto a folder, so no `..` or symlink trick reaches anything else.
//! Range handling (206, 416 for unsatisfiable or multipart ranges, HEAD) is tower-http's.

use axum::body::Body;
use axum::extract::{Path as UrlPath, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::SiteState;

/// `GET /files/NAME[/PATH...]` (the wildcard arrives percent-decoded).
pub(super) async fn serve(
    State(state): State<SiteState>,
    UrlPath(path): UrlPath<String>,
    request: Request,
) -> Response {
    let mut components = path.split('/').map(str::to_owned);
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
