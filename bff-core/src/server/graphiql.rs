//! The GraphiQL playground of each client, served from the binary.
//!
//! Served on `GET /` and on `GET /graphql` for browsers (`Accept: text/html`).
//! GraphiQL's JavaScript and CSS, React and React DOM are embedded
//! (`bff-core/assets/graphiql/`, vendored from the npm registry with their
//! licences by `scripts/vendor-graphiql.sh`, their sha256 pinned in
//! `SHA256SUMS`), and served under `/graphiql/assets/` at names that carry
//! their content hash, so browsers may cache them for good. The page loads
//! nothing from anywhere else: it works on a machine with no network, and its
//! `Content-Security-Policy` allows scripts from the gateway only (no inline
//! script: the page's settings travel in a JSON data block that
//! `graphiql.js` reads).
//!
//! In demo mode the headers pane is prefilled with a bearer token
//! (`clients.<name>.playground_headers`) so the first query just works; the
//! headers pane is kept in the browser's storage only when
//! `clients.<name>.playground_persist_headers` says so. `/?query=...` opens
//! the playground with that query in the editor (shareable links).

use std::sync::{Arc, LazyLock};

use axum::{
    extract::{Path, State},
    response::{IntoResponse, Response},
};
use http::{header, HeaderValue, StatusCode};
use sha2::{Digest, Sha256};

use super::ClientApp;
use crate::context::ClientKind;

/// Where the embedded files are served.
const ASSETS_PREFIX: &str = "/graphiql/assets/";

/// The page's policy: scripts, styles, fonts and requests from the gateway
/// only, no inline script. Styles need no `unsafe-inline` either: the page
/// has no inline style, styles set through the DOM are not restricted, and
/// the one `<style>` element GraphiQL adds (its dialogs' scroll lock, from
/// react-remove-scroll) carries the page's nonce, which `graphiql.js` hands
/// it as `__webpack_nonce__`.
fn content_security_policy(style_nonce: &str) -> String {
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self' 'nonce-{style_nonce}'; \
         img-src 'self' data:; font-src 'self' data:; connect-src 'self'; \
         base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// Hashed names are never reused for other bytes.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// One embedded file.
struct Asset {
    content_type: &'static str,
    bytes: &'static [u8],
    /// `<stem>.<first 16 hex digits of its sha256>.<ext>`.
    served_as: String,
}

/// Which of [`EMBEDDED`] the page loads, in order.
#[derive(Clone, Copy)]
enum Slot {
    React,
    ReactDom,
    GraphiqlJs,
    GraphiqlCss,
    Bootstrap,
}

/// Every embedded file: the page's, in [`Slot`] order, then the licences
/// (from [`FIRST_LICENCE`] on), which the page links with `rel="license"`.
const EMBEDDED: [(&str, &str, &[u8]); 8] = [
    (
        "react.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react.production.min.js"),
    ),
    (
        "react-dom.production.min.js",
        JS,
        include_bytes!("../../assets/graphiql/react-dom.production.min.js"),
    ),
    (
        "graphiql.min.js",
        JS,
        include_bytes!("../../assets/graphiql/graphiql.min.js"),
    ),
    (
        "graphiql.min.css",
        CSS,
        include_bytes!("../../assets/graphiql/graphiql.min.css"),
    ),
    ("graphiql.js", JS, include_bytes!("graphiql.js")),
    (
        "LICENSE.graphiql",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSE.graphiql"),
    ),
    (
        "LICENSE.react",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSE.react"),
    ),
    (
        "LICENSE.react-dom",
        "text/plain; charset=utf-8",
        include_bytes!("../../assets/graphiql/LICENSE.react-dom"),
    ),
];

const FIRST_LICENCE: usize = 5;

/// The embedded files with their served names, hashed once.
static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    EMBEDDED
        .iter()
        .map(|&(file, content_type, bytes)| Asset {
            content_type,
            bytes,
            served_as: hashed_name(file, bytes),
        })
        .collect()
});

/// `graphiql.min.js` → `graphiql.min.<hash>.js`; a name with no extension
/// (`LICENSE.react`) keeps it last: `LICENSE.react.<hash>`.
fn hashed_name(file: &str, bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    match file.rsplit_once('.') {
        Some((stem, ext @ ("js" | "css"))) => format!("{stem}.{hash}.{ext}"),
        _ => format!("{file}.{hash}"),
    }
}

fn url_of(slot: Slot) -> String {
    format!("{ASSETS_PREFIX}{}", ASSETS[slot as usize].served_as)
}

/// Whether this client serves a playground at all. Admin's is a development
/// tool: served only when admin introspection is open (development) or the
/// operator prefilled its headers (the demo runner puts the admin token
/// there). Even then its schema loads only for staff tokens (introspection
/// is staff-only).
fn enabled(app: &ClientApp) -> bool {
    if !app.runtime.config().server.graphiql {
        return false;
    }
    let config = app.runtime.config();
    let client = config.clients.get(app.kind());
    app.kind() != ClientKind::Admin || client.introspection || client.playground_headers.is_some()
}

/// `GET /`.
pub(super) async fn page(State(app): State<Arc<ClientApp>>) -> Response {
    render(&app)
}

/// `GET /graphiql/assets/{file}`: an embedded file by its hashed name.
pub(super) async fn asset(State(app): State<Arc<ClientApp>>, Path(file): Path<String>) -> Response {
    if !enabled(&app) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Some(asset) = ASSETS.iter().find(|a| a.served_as == file) else {
        return StatusCode::NOT_FOUND.into_response();
    };
    (
        [
            (header::CONTENT_TYPE, asset.content_type),
            (header::CACHE_CONTROL, IMMUTABLE),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        asset.bytes,
    )
        .into_response()
}

/// The playground page for this client.
pub(super) fn render(app: &ClientApp) -> Response {
    if !enabled(app) {
        return StatusCode::NOT_FOUND.into_response();
    }
    let config = app.runtime.config();
    let client = config.clients.get(app.kind());
    // 128 random bits per page, in hex (a subset of a nonce's base64).
    let style_nonce = format!("{:032x}", rand::random::<u128>());
    let settings = serde_json::json!({
        "endpoint": "/graphql",
        "headers": client.playground_headers.as_deref().unwrap_or("{}"),
        "persistHeaders": client.playground_persist_headers,
        "styleNonce": style_nonce,
    });
    let html = format!(
        r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>BFF {client} — GraphiQL</title>
<link rel="icon" href="data:,">
{licences}<link rel="stylesheet" href="{css}">
</head>
<body>
<div id="graphiql">Loading GraphiQL…</div>
<script type="application/json" id="bff-playground">{settings}</script>
<script src="{react}"></script>
<script src="{react_dom}"></script>
<script src="{graphiql}"></script>
<script src="{bootstrap}"></script>
</body>
</html>
"#,
        client = app.kind().as_str(),
        licences = ASSETS[FIRST_LICENCE..]
            .iter()
            .map(|a| format!(
                "<link rel=\"license\" href=\"{ASSETS_PREFIX}{}\">\n",
                a.served_as
            ))
            .collect::<String>(),
        css = url_of(Slot::GraphiqlCss),
        settings = json_in_html(&settings),
        react = url_of(Slot::React),
        react_dom = url_of(Slot::ReactDom),
        graphiql = url_of(Slot::GraphiqlJs),
        bootstrap = url_of(Slot::Bootstrap),
    );
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            // The page may carry a bearer token (the prefilled headers).
            (header::CACHE_CONTROL, "no-store"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        html,
    )
        .into_response();
    if let Ok(csp) = HeaderValue::from_str(&content_security_policy(&style_nonce)) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// JSON that cannot end the `<script>` element it sits in: `<`, `>` and `&`
/// escaped as JSON's `\u` escapes (the same value to a JSON parser).
fn json_in_html(value: &serde_json::Value) -> String {
    value
        .to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vendored files are the ones `SHA256SUMS` pins (written by
    /// `scripts/vendor-graphiql.sh` after checking the npm registry's
    /// integrity hashes), and each of them is embedded.
    #[test]
    fn the_vendored_files_match_their_manifest() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("assets/graphiql");
        let manifest =
            std::fs::read_to_string(dir.join("SHA256SUMS")).expect("assets/graphiql/SHA256SUMS");
        let mut listed = Vec::new();
        for line in manifest.lines().filter(|l| !l.trim().is_empty()) {
            let (hash, file) = line.split_once("  ").expect("`<sha256>  <file>` lines");
            let bytes = std::fs::read(dir.join(file)).expect(file);
            let actual: String = Sha256::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(actual, hash, "{file} differs from SHA256SUMS");
            listed.push(file.to_string());
        }
        for (file, _, bytes) in EMBEDDED.iter().filter(|e| e.0 != "graphiql.js") {
            assert!(listed.iter().any(|l| l == file), "{file} not in SHA256SUMS");
            assert_eq!(
                *bytes,
                std::fs::read(dir.join(file)).expect(file).as_slice(),
                "{file}: the binary embeds other bytes"
            );
        }
        assert_eq!(
            listed.len(),
            EMBEDDED.len() - 1,
            "SHA256SUMS lists other files"
        );
        for licence in ["LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"] {
            let text = std::fs::read_to_string(dir.join(licence)).expect(licence);
            assert!(text.contains("MIT License"), "{licence}");
        }
    }

    #[test]
    fn served_names_carry_the_content_hash() {
        assert_eq!(
            hashed_name("graphiql.min.js", b"abc"),
            "graphiql.min.ba7816bf8f01cfea.js"
        );
        assert_eq!(
            hashed_name("LICENSE.react", b"abc"),
            "LICENSE.react.ba7816bf8f01cfea"
        );
        let names: std::collections::HashSet<_> = ASSETS.iter().map(|a| &a.served_as).collect();
        assert_eq!(names.len(), EMBEDDED.len());
    }

    #[test]
    fn the_settings_block_cannot_close_its_script_element() {
        let value = serde_json::json!({ "headers": "</script><script>alert(1)</script>&" });
        let text = json_in_html(&value);
        assert!(!text.contains('<') && !text.contains('>') && !text.contains('&'));
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).expect("JSON"),
            value
        );
    }
}
