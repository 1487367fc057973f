//! The demo `cargo run` starts: embedded demo services, a random HS256
//! secret, and tokens for the three kinds of caller.
//!
//! Kept in the library (not in `main.rs`) so the integration tests start the
//! demo exactly as `cargo run` does and check what it prints.

use std::{collections::HashMap, time::Duration};

pub use bff_core::auth::dev::{mint_hs256, DevClaims};
use bff_core::{
    caller::{Role, Tier},
    config::{Config, Secret},
    context::ClientKind,
};
use demo_services::{DemoOptions, DemoServices, ServiceName};

/// How long the printed demo tokens stay valid.
pub const DEMO_TOKEN_TTL: Duration = Duration::from_secs(12 * 3600);

/// A caller of the demo, with the token printed for it.
#[derive(Debug, Clone)]
pub struct DemoCaller {
    /// `customer`, `support` or `admin`.
    pub label: &'static str,
    pub claims: DevClaims,
    pub token: String,
}

/// The three demo callers: a pro customer who may order and review, a
/// support agent and an admin (users `u1`, `u2`, `u3` of the demo data).
pub fn demo_claims() -> [(&'static str, DevClaims); 3] {
    let claims = |sub: &str, role: Role, scopes: &[&str], tier: Tier| DevClaims {
        sub: sub.to_string(),
        roles: vec![role],
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        tier: Some(tier),
        ttl: DEMO_TOKEN_TTL,
    };
    [
        (
            "customer",
            claims(
                "u1",
                Role::Customer,
                &["orders:write", "reviews:write"],
                Tier::Pro,
            ),
        ),
        (
            "support",
            claims("u2", Role::Support, &[], Tier::Enterprise),
        ),
        (
            "admin",
            claims(
                "u3",
                Role::Admin,
                &["orders:write", "reviews:write"],
                Tier::Enterprise,
            ),
        ),
    ]
}

/// What [`prepare`] set up.
#[derive(Debug)]
pub struct Demo {
    /// The embedded services, when no upstream was configured.
    pub services: Option<DemoServices>,
    /// The demo callers and their tokens (empty without an HS256 secret).
    pub callers: Vec<DemoCaller>,
}

/// Readies `config` for the demo: starts the embedded demo services when no
/// upstream URL is configured (on `base_port`, or ephemeral ports when it is
/// taken or 0), generates a random HS256 secret when no key is configured,
/// mints the demo tokens and prefills GraphiQL with the right one per client.
pub async fn prepare(config: &mut Config, base_port: u16) -> std::io::Result<Demo> {
    prepare_with(config, base_port, HashMap::new()).await
}

/// Parses `--instances products=3` (also `products=3,users=2`).
pub fn parse_instances(spec: &str) -> Result<Vec<(ServiceName, usize)>, String> {
    let mut out = Vec::new();
    for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, count) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected SERVICE=COUNT, e.g. products=3"))?;
        let service = ServiceName::ALL
            .into_iter()
            .find(|s| s.as_str() == name.trim())
            .ok_or_else(|| format!("`{name}` is not a demo service"))?;
        let count: usize = count
            .trim()
            .parse()
            .ok()
            .filter(|n| (1..=16).contains(n))
            .ok_or_else(|| format!("`{count}`: the count must be 1 to 16"))?;
        out.push((service, count));
    }
    Ok(out)
}

/// Where `cargo run` keeps the demo's HS256 secret when none is
/// configured: in the working directory, git-ignored, so that tokens minted
/// with `cargo run -- token` work against the demo, and the demo's tokens
/// survive a restart.
pub const DEV_SECRET_FILE: &str = ".bff-dev-secret";

/// The development secret of [`DEV_SECRET_FILE`]; with `create`, a new
/// random one is written there (owner-only) when the file is missing.
pub fn dev_secret(create: bool) -> Option<String> {
    let path = std::path::Path::new(DEV_SECRET_FILE);
    if let Ok(text) = std::fs::read_to_string(path) {
        let secret = text.trim();
        if secret.len() >= 32 {
            return Some(secret.to_string());
        }
    }
    if !create {
        return None;
    }
    use rand::Rng;
    let bytes: [u8; 32] = rand::rng().random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    // Written aside and renamed: two demos starting at once never read half a secret.
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        options
            .open(&tmp)
            .and_then(|mut f| std::io::Write::write_all(&mut f, secret.as_bytes()))
            .and_then(|()| std::fs::rename(&tmp, path))
    };
    if let Err(err) = written {
        let _ = std::fs::remove_file(&tmp);
        tracing::warn!(%err, file = DEV_SECRET_FILE, "dev secret not saved; tokens last for this run only");
    }
    Some(secret)
}

/// Like [`prepare`], starting `instances[service]` instances of a demo
/// service (each on its own port with its own faults and counters) and
/// configuring the gateway with all of them (the comma-separated list).
pub async fn prepare_with(
    config: &mut Config,
    base_port: u16,
    instances: HashMap<ServiceName, usize>,
) -> std::io::Result<Demo> {
    let services = if config.services.none_configured() {
        let mut options = DemoOptions {
            base_port,
            instances,
            ..DemoOptions::default()
        };
        let started = match DemoServices::start_with(options.clone()).await {
            Ok(s) => s,
            Err(err) if base_port != 0 => {
                tracing::warn!(%err, base_port, "demo ports taken; using ephemeral ports");
                options.base_port = 0;
                DemoServices::start_with(options).await?
            }
            Err(err) => return Err(err),
        };
        for name in ServiceName::ALL {
            if let Some(svc) = config.services.get_mut(name.as_str()) {
                svc.url = Some(started.instance_urls(name).join(","));
            }
        }
        Some(started)
    } else {
        None
    };

    // A storefront on a dev server (any port of localhost) may call the
    // demo; a deployment stays closed until its origins are named.
    if config.server.cors.allow_origins.is_empty() {
        config.server.cors.allow_origins =
            vec!["http://localhost:*".into(), "http://127.0.0.1:*".into()];
    }
    if !config.auth.has_key() {
        use rand::Rng;
        let bytes: [u8; 32] = rand::rng().random();
        let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        config.auth.jwt_secret = Some(Secret(secret));
    }
    let mut callers = Vec::new();
    if let Some(secret) = config.auth.jwt_secret.clone() {
        for (label, claims) in demo_claims() {
            let token = mint_hs256(secret.expose(), &claims);
            if !token.is_empty() {
                callers.push(DemoCaller {
                    label,
                    claims,
                    token,
                });
            }
        }
    }
    let token_for = |label: &str| {
        callers
            .iter()
            .find(|c| c.label == label)
            .map(|c| c.token.clone())
    };
    for (kind, label) in [
        (ClientKind::Web, "customer"),
        (ClientKind::Mobile, "customer"),
        (ClientKind::Admin, "admin"),
    ] {
        let client = config.clients.get_mut(kind);
        if client.playground_headers.is_none() {
            if let Some(token) = token_for(label) {
                client.playground_headers = Some(
                    serde_json::json!({ "Authorization": format!("Bearer {token}") }).to_string(),
                );
            }
        }
    }
    Ok(Demo { services, callers })
}

/// What [`prepare_with`] filled in at start (demo service URLs, a generated
/// JWT secret, GraphiQL's prefilled headers), copied from `started` into a
/// configuration read again for a reload when it leaves them unset, so a
/// reload of the demo does not see them as changes.
pub fn carry_over(fresh: &mut Config, started: &Config) {
    if fresh.services.none_configured() {
        for name in ServiceName::ALL {
            let url = started
                .services
                .get(name.as_str())
                .and_then(|s| s.url.clone());
            if let Some(svc) = fresh.services.get_mut(name.as_str()) {
                svc.url = url;
            }
        }
    }
    if !fresh.auth.has_key() {
        fresh.auth.jwt_secret = started.auth.jwt_secret.clone();
    }
    for kind in ClientKind::ALL {
        let client = fresh.clients.get_mut(kind);
        if client.playground_headers.is_none() {
            client
                .playground_headers
                .clone_from(&started.clients.get(kind).playground_headers);
        }
    }
}
