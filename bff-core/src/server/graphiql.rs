//! The GraphiQL playground of each client.
//!
//! Served on `GET /` and on `GET /graphql` for browsers (`Accept: text/html`).
//! The page loads GraphiQL's scripts from a CDN by default, or from
//! `server.graphiql_assets_dir` (served under `/graphiql-assets/`) for
//! air-gapped sites. In demo mode the headers pane is prefilled with a
//! bearer token so the first query just works. `/?query=...` opens the
//! playground with that query in the editor (shareable links).

use std::sync::Arc;

use axum::{
    extract::{Path, State},
    response::{Html, IntoResponse, Response},
};
use http::{header, StatusCode};

use super::ClientApp;

const CDN: &str = "https://unpkg.com";

/// The asset files a local assets directory must hold.
pub const ASSET_FILES: [&str; 4] = [
    "react.production.min.js",
    "react-dom.production.min.js",
    "graphiql.min.js",
    "graphiql.min.css",
];

/// `GET /`.
pub(super) async fn page(State(app): State<Arc<ClientApp>>) -> Response {
    render(&app)
}

/// `GET /graphiql-assets/{file}`: local GraphiQL assets (air-gapped sites).
pub(super) async fn asset(State(app): State<Arc<ClientApp>>, Path(file): Path<String>) -> Response {
    let config = app.runtime.config();
    let Some(dir) = config.server.graphiql_assets_dir.as_deref() else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if !ASSET_FILES.contains(&file.as_str()) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let path = std::path::Path::new(dir).join(&file);
    match tokio::fs::read(&path).await {
        Ok(bytes) => {
            let ct = if file.ends_with(".css") {
                "text/css; charset=utf-8"
            } else {
                "text/javascript; charset=utf-8"
            };
            ([(header::CONTENT_TYPE, ct)], bytes).into_response()
        }
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}

/// The playground page for this client.
pub(super) fn render(app: &ClientApp) -> Response {
    let config = app.runtime.config();
    let server = &config.server;
    if !server.graphiql {
        return StatusCode::NOT_FOUND.into_response();
    }
    let client = config.clients.get(app.kind());
    // Admin's playground is a development tool: served only when admin
    // introspection is open (development) or the operator prefilled its
    // headers (the demo runner puts the admin token there). Even then its
    // schema loads only for staff tokens (introspection is staff-only).
    if app.kind() == crate::context::ClientKind::Admin
        && !client.introspection
        && client.playground_headers.is_none()
    {
        return StatusCode::NOT_FOUND.into_response();
    }
    let headers = client
        .playground_headers
        .clone()
        .unwrap_or_else(|| "{}".to_string());
    let (react, react_dom, js, css) = if server.graphiql_assets_dir.is_some() {
        (
            "/graphiql-assets/react.production.min.js".to_string(),
            "/graphiql-assets/react-dom.production.min.js".to_string(),
            "/graphiql-assets/graphiql.min.js".to_string(),
            "/graphiql-assets/graphiql.min.css".to_string(),
        )
    } else {
        (
            format!("{CDN}/react@18.3.1/umd/react.production.min.js"),
            format!("{CDN}/react-dom@18.3.1/umd/react-dom.production.min.js"),
            format!("{CDN}/graphiql@3.8.3/graphiql.min.js"),
            format!("{CDN}/graphiql@3.8.3/graphiql.min.css"),
        )
    };
    let title = format!("BFF {} — GraphiQL", app.kind().as_str());
    let headers_js = serde_json::to_string(&headers).unwrap_or_else(|_| "\"{}\"".into());
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{css}">
<style>html,body,#graphiql{{height:100%;margin:0;}}</style>
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script src="{react}" crossorigin></script>
<script src="{react_dom}" crossorigin></script>
<script src="{js}" crossorigin></script>
<script>
  const fetcher = GraphiQL.createFetcher({{ url: window.location.origin + "/graphql" }});
  const params = new URLSearchParams(window.location.search);
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(React.createElement(GraphiQL, {{
    fetcher,
    query: params.get("query") || undefined,
    defaultEditorToolsVisibility: true,
    headers: {headers_js},
    shouldPersistHeaders: true,
  }}));
</script>
</body>
</html>
"#
    );
    Html(html).into_response()
}
