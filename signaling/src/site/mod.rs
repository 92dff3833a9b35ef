//! The intranet site around the tracker, shared by `bitfleet serve` and `bitfleet-server`:
//! the page (a static folder, `web/` built) at `/`, the catalog of published torrents at
//! `GET /catalog` (JSON, with the tracker's live counts), their .torrent files at
//! `/t/NAME.torrent`, and for torrents published with their data, a BEP 19 web seed at
//! `/files/NAME` (single file) or `/files/NAME/PATH...` (multi-file) with HTTP Range support.
//!
//! With a tracker token configured, all of it but the page itself wants the token too: the
//! catalog and the .torrent files (which carry the token in their announce URLs) as
//! `?token=...`, the web seed as the first segment of its path (`/files/TOKEN/NAME...`, since
//! BEP 19 clients append the file's path to the URL and a query would end up in the middle).

mod catalog;
mod files;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Path as UrlPath, RawQuery, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use tower_http::services::ServeDir;

pub use catalog::{torrent_path, Catalog, CatalogEntry, CatalogError, Published};

use crate::http::refused;
use crate::Tracker;

/// URL path under which published data is served (the web seed's base).
pub const FILES_PATH: &str = "/files/";

/// What the site serves besides the tracker.
#[derive(Default)]
pub struct Site {
    pub catalog: Catalog,
    /// The page's folder (index.html, app.js, pkg/...); `None`: no page.
    pub page_dir: Option<PathBuf>,
}

#[derive(Clone)]
struct SiteState {
    tracker: Arc<Tracker>,
    catalog: Arc<Catalog>,
}

/// The tracker's routes plus the site's.
pub fn router(tracker: Arc<Tracker>, site: Site) -> Router {
    let state = SiteState {
        tracker: tracker.clone(),
        catalog: Arc::new(site.catalog),
    };
    let routes = Router::new()
        .route("/catalog", get(catalog))
        .route("/t/{file}", get(torrent_file))
        .route("/files/{*path}", get(files::serve).layer(files::cors()))
        .with_state(state);
    let app = crate::http::router(tracker).merge(routes);
    match site.page_dir {
        Some(dir) => app.fallback_service(ServeDir::new(dir)),
        None => app,
    }
}

/// The page folder to serve when none is configured: `web/` of the source tree the binary
/// was built in (`target/<profile>/` sits two levels below it), if it holds a built page.
pub fn default_page_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let tree = exe.parent()?.parent()?.parent()?;
    let dir = tree.join("web");
    is_built_page(&dir).then_some(dir)
}

/// Whether `dir` holds the page with its wasm built (`scripts/build-web.sh`).
pub fn is_built_page(dir: &Path) -> bool {
    dir.join("index.html").is_file() && dir.join("pkg").join("bitfleet_wasm.js").is_file()
}

async fn catalog(State(state): State<SiteState>, RawQuery(query): RawQuery) -> Response {
    match state
        .tracker
        .authorize(query.as_deref().unwrap_or_default())
    {
        Ok(()) => Json(state.catalog.entries(&state.tracker)).into_response(),
        Err(refusal) => refused(&refusal),
    }
}

async fn torrent_file(
    State(state): State<SiteState>,
    UrlPath(file): UrlPath<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Err(refusal) = state
        .tracker
        .authorize(query.as_deref().unwrap_or_default())
    {
        return refused(&refusal);
    }
    match state.catalog.torrent_file(&file) {
        Some(bytes) => (
            [(header::CONTENT_TYPE, "application/x-bittorrent")],
            bytes.clone(),
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "no such torrent\n").into_response(),
    }
}
