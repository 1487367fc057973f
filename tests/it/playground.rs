//! The GraphiQL playground of docs/contract.md §3 (`GET /`): a page that
//! loads only files the gateway itself serves from its binary, under a
//! Content-Security-Policy with no inline script. The browser half (the page
//! renders and runs a query with no network beyond loopback) is
//! `scripts/browser-test.sh`.

use bff_core::context::ClientKind::{self, Admin, Mobile, Web};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::{Answer, TestStack};

async fn get(stack: &TestStack, kind: ClientKind, path: &str) -> Answer {
    stack
        .raw(kind, |c, base| {
            c.get(format!("{base}{path}"))
                .header("accept", "text/html,application/xhtml+xml")
        })
        .await
}

/// The values of `attr="..."` in `html`.
fn attributes<'a>(html: &'a str, attr: &str) -> Vec<&'a str> {
    let needle = format!(" {attr}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            &rest[..rest.find('"').expect("closed attribute")]
        })
        .collect()
}

/// The page's settings block (a JSON data block, not a script).
fn settings(html: &str) -> Value {
    let open = r#"<script type="application/json" id="bff-playground">"#;
    let start = html.find(open).expect("settings block") + open.len();
    let end = start + html[start..].find("</script>").expect("closed");
    serde_json::from_str(&html[start..end]).expect("settings are JSON")
}

fn text(a: &Answer) -> &str {
    a.body.as_str().expect("a text body")
}

#[tokio::test]
async fn each_page_loads_only_the_gateways_own_files() {
    let stack = TestStack::builder()
        .config(|c| c.clients.admin.playground_headers = Some("{}".into()))
        .start()
        .await;
    for kind in [Web, Mobile, Admin] {
        for path in ["/", "/graphql"] {
            let page = get(&stack, kind, path).await;
            assert_eq!(page.status, 200, "{kind:?} {path}");
            assert!(page
                .header("content-type")
                .unwrap()
                .starts_with("text/html"));
            // The page may carry a bearer token: never cached.
            assert_eq!(page.header("cache-control").as_deref(), Some("no-store"));
            let csp = page.header("content-security-policy").expect("a CSP");
            let script_src = csp
                .split(';')
                .map(str::trim)
                .find(|d| d.starts_with("script-src"))
                .expect("script-src");
            assert_eq!(script_src, "script-src 'self'", "{csp}");
            assert!(!csp.contains("unsafe-"), "{csp}");
            assert!(csp.contains("default-src 'none'"), "{csp}");
            // Styles: the gateway's files, and elements carrying this page's nonce.
            let nonce = settings(text(&page))["styleNonce"]
                .as_str()
                .expect("a style nonce")
                .to_string();
            assert!(nonce.len() >= 32, "{nonce}");
            assert!(
                csp.contains(&format!("style-src 'self' 'nonce-{nonce}';")),
                "{csp}"
            );
            let again = get(&stack, kind, path).await;
            assert_ne!(settings(text(&again))["styleNonce"], nonce.as_str());

            let html = text(&page);
            // Every script is a file of the gateway, or the JSON data block.
            let scripts = html.matches("<script").count();
            let sources = attributes(html, "src");
            assert_eq!(scripts, sources.len() + 1, "{html}");
            assert_eq!(html.matches("</script>").count(), scripts);
            let mut files = sources.clone();
            // The icon is empty (`data:,`): no request for /favicon.ico.
            files.extend(
                attributes(html, "href")
                    .into_iter()
                    .filter(|h| *h != "data:,"),
            );
            assert_eq!(
                files.len(),
                8,
                "react, react-dom, GraphiQL's JS and CSS, bootstrap, 3 licences"
            );
            assert_eq!(html.matches(r#"<link rel="license" "#).count(), 3);
            for file in files {
                assert!(file.starts_with("/graphiql/assets/"), "{file}");
                let asset = get(&stack, kind, file).await;
                assert_eq!(asset.status, 200, "{file}");
                let ct = asset.header("content-type").unwrap();
                let ext = file.rsplit('.').next().unwrap();
                let expected = match ext {
                    "css" => "text/css",
                    "js" => "text/javascript",
                    _ => "text/plain",
                };
                assert!(ct.starts_with(expected), "{file}: {ct}");
                assert!(asset.header("cache-control").unwrap().contains("immutable"));
                assert_eq!(
                    asset.header("x-content-type-options").as_deref(),
                    Some("nosniff")
                );
                // The name carries the first 16 hex digits of the body's sha256.
                let digest = Sha256::digest(text(&asset).as_bytes());
                let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                let named = if expected == "text/plain" {
                    file.ends_with(&format!(".{hash}"))
                } else {
                    file.ends_with(&format!(".{hash}.{ext}"))
                };
                assert!(named, "{file} vs {hash}");
            }
        }
    }
    // The vendored GraphiQL is the committed one, byte for byte.
    let html = text(&get(&stack, Web, "/").await).to_string();
    let graphiql = attributes(&html, "src")
        .into_iter()
        .find(|s| s.contains("/graphiql.min."))
        .expect("GraphiQL's script")
        .to_string();
    let served = get(&stack, Web, &graphiql).await;
    let committed = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/bff-core/assets/graphiql/graphiql.min.js"
    ))
    .expect("vendored GraphiQL");
    assert!(
        text(&served) == committed,
        "the served GraphiQL is not the vendored file"
    );
    // Any other name under the prefix is unknown: the hash is part of it.
    for path in [
        "/graphiql/assets/graphiql.min.js",
        "/graphiql/assets/graphiql.min.0000000000000000.js",
        "/graphiql/assets/..%2F..%2FCargo.toml",
        "/graphiql-assets/graphiql.min.js",
    ] {
        assert_eq!(get(&stack, Web, path).await.status, 404, "{path}");
    }
}

#[tokio::test]
async fn prefilled_headers_stay_out_of_storage_unless_configured() {
    let headers = r#"{"Authorization":"Bearer a</script><script>alert(1)</script>&"}"#;
    let stack = TestStack::builder()
        .config(|c| {
            c.clients.web.playground_headers = Some(headers.into());
            c.clients.mobile.playground_headers = Some(headers.into());
            c.clients.mobile.playground_persist_headers = true;
        })
        .start()
        .await;
    let web = get(&stack, Web, "/").await;
    let html = text(&web);
    // The value cannot close its block: still one data block and four scripts.
    assert_eq!(html.matches("</script>").count(), 5, "{html}");
    let s = settings(html);
    assert_eq!(s["headers"], headers);
    assert_eq!(s["persistHeaders"], false);
    assert_eq!(s["endpoint"], "/graphql");

    let mobile = settings(text(&get(&stack, Mobile, "/").await));
    assert_eq!(mobile["headers"], headers);
    assert_eq!(mobile["persistHeaders"], true);
}

/// A production admin (no introspection, no prefilled headers) serves no
/// playground, and none of its files either.
#[tokio::test]
async fn a_production_admin_serves_no_playground_files() {
    let dev = TestStack::builder().start().await;
    let html = text(&get(&dev, Web, "/").await).to_string();
    let bootstrap = attributes(&html, "src")
        .pop()
        .expect("a script")
        .to_string();

    let production = TestStack::builder()
        .config(|c| c.clients.admin.introspection = false)
        .start()
        .await;
    assert_eq!(get(&production, Admin, "/").await.status, 404);
    assert_eq!(get(&production, Admin, &bootstrap).await.status, 404);
    assert_eq!(get(&production, Web, &bootstrap).await.status, 200);

    let off = TestStack::builder()
        .config(|c| c.server.graphiql = false)
        .start()
        .await;
    for kind in [Web, Mobile, Admin] {
        assert_eq!(get(&off, kind, "/").await.status, 404);
        assert_eq!(get(&off, kind, &bootstrap).await.status, 404);
    }
}
