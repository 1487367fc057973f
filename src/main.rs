//! `bff`: the demo runner and CLI.
//!
//! - `bff` (what `cargo run` starts): the embedded demo REST services when no
//!   upstream is configured, then web, mobile and admin on one shared runtime;
//!   prints URLs and a bearer token per kind of caller.
//! - `bff token ...`: mints an HS256 development token with `BFF_JWT_SECRET`, else
//!   the demo's `.bff-dev-secret`.
//! - `bff healthcheck URL`: exits 0 when `URL` answers 2xx (for container
//!   health checks: the image has no curl); an `https://` URL is verified
//!   against the system's roots plus `BFF_TLS_CA_FILE`.
//! - `bff config check [--config PATH]`: validates the configuration (file
//!   and environment) and prints the effective one, secrets redacted; exit
//!   code 2 with the reason when it is invalid.
//!
//! Every configuration error exits with code 2 and names the key and source.

use std::{path::PathBuf, process::ExitCode, time::Duration};

use bff::demo::{self, DevClaims};
use bff_core::{
    caller::{Role, Tier},
    config::{Config, Secret},
    context::ClientKind,
    standalone::{shutdown_signal, ReloadSignal, CONFIG_ERROR_EXIT},
};
use clap::{Parser, Subcommand};

// jemalloc, chosen by measurement (docs/performance.md, "Memory"): the
// system allocator costs 1.4-2x the gateway CPU per request under load;
// mimalloc costs the same as jemalloc, and jemalloc holds RSS flat from the
// first round of a long run and hands pages back when traffic drops.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser, Debug)]
#[command(
    name = "bff",
    version,
    about = "GraphQL Backend-for-Frontend gateway (demo runner)"
)]
struct Cli {
    /// TOML configuration file (also `BFF_CONFIG`); `BFF_*` variables override it.
    #[arg(long, env = "BFF_CONFIG", global = true)]
    config: Option<PathBuf>,
    /// First port of the embedded demo services (users; products +1, ...).
    /// 0 = ephemeral ports. Falls back to ephemeral ports when taken.
    #[arg(long, default_value_t = 7001)]
    demo_base_port: u16,
    /// Runs demo services as several instances, e.g. `products=3` or
    /// `products=3,users=2`: each instance has its own port and its own
    /// `/_control/faults`, and the gateway balances over them. Repeatable.
    #[arg(long = "instances", value_name = "SERVICE=COUNT")]
    instances: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Mints an HS256 development token (with `BFF_JWT_SECRET` or
    /// `auth.jwt_secret`, else the demo's `.bff-dev-secret`).
    Token {
        #[arg(long, default_value = "u1")]
        sub: String,
        /// `customer`, `support` or `admin`; repeatable.
        #[arg(long = "role", default_value = "customer")]
        roles: Vec<String>,
        /// An OAuth2 scope, e.g. `orders:write`; repeatable.
        #[arg(long = "scope")]
        scopes: Vec<String>,
        /// `free`, `pro` or `enterprise`.
        #[arg(long)]
        tier: Option<String>,
        /// Lifetime, e.g. `1h`, `30m`.
        #[arg(long, default_value = "1h")]
        ttl: String,
    },
    /// Exits 0 when the URL answers 2xx within 2 seconds, 1 otherwise.
    Healthcheck { url: String },
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Subcommand, Debug)]
enum ConfigAction {
    /// Validates the configuration (the `--config` file, or `BFF_CONFIG`, and
    /// `BFF_*` variables) and prints the effective one with secrets redacted.
    /// Exit code 2 when it is invalid.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { url }) = &cli.command {
        return healthcheck(url);
    }
    if let Some(Command::Config {
        action: ConfigAction::Check,
    }) = &cli.command
    {
        return config_check(cli.config.as_deref());
    }
    let mut config = match Config::load(cli.config.as_deref()) {
        Ok(c) => c,
        Err(err) => {
            eprintln!("bff: {err}");
            return ExitCode::from(CONFIG_ERROR_EXIT);
        }
    };
    match cli.command {
        Some(Command::Token {
            sub,
            roles,
            scopes,
            tier,
            ttl,
        }) => token(&config, sub, &roles, scopes, tier.as_deref(), &ttl),
        Some(Command::Healthcheck { .. } | Command::Config { .. }) => ExitCode::SUCCESS,
        None => {
            let _telemetry =
                bff_core::telemetry::init(&config.telemetry, config.tls.ca_file.as_deref(), "bff");
            bff_core::config::warn_unknown_env();
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(err) => {
                    eprintln!("bff: cannot start the async runtime: {err}");
                    return ExitCode::FAILURE;
                }
            };
            let mut instances = std::collections::HashMap::new();
            for spec in &cli.instances {
                match demo::parse_instances(spec) {
                    Ok(list) => instances.extend(list),
                    Err(err) => {
                        eprintln!("bff: --instances: {err}");
                        return ExitCode::from(CONFIG_ERROR_EXIT);
                    }
                }
            }
            rt.block_on(run_demo(
                &mut config,
                cli.config.clone(),
                cli.demo_base_port,
                instances,
            ))
        }
    }
}

async fn run_demo(
    config: &mut Config,
    config_file: Option<PathBuf>,
    demo_base_port: u16,
    instances: std::collections::HashMap<demo_services::ServiceName, usize>,
) -> ExitCode {
    // The dev secret kept in a git-ignored file, so `cargo run -- token`
    // mints tokens this demo accepts (and its own survive a restart).
    if !config.auth.has_key() {
        config.auth.jwt_secret = demo::dev_secret(true).map(Secret);
    }
    let demo = match demo::prepare_with(config, demo_base_port, instances).await {
        Ok(d) => d,
        Err(err) => {
            eprintln!("bff: cannot start the demo services: {err}");
            return ExitCode::FAILURE;
        }
    };
    let hangups = ReloadSignal::install();
    let gateway = match bff::start(config.clone(), shutdown_signal()).await {
        Ok(g) => g,
        Err(bff::StartError::Config(err)) => {
            eprintln!("bff: {err}");
            return ExitCode::from(CONFIG_ERROR_EXIT);
        }
        Err(err) => {
            eprintln!("bff: {err}");
            return ExitCode::FAILURE;
        }
    };
    // SIGHUP or a changed file: re-read the file and the environment; what
    // the runner filled in at start (demo service URLs, a generated JWT
    // secret) is carried over when the new configuration leaves it unset.
    let started = config.clone();
    hangups.reload_on_change(&gateway.runtime, config_file.clone(), move || {
        let mut fresh = Config::load(config_file.as_deref())?;
        demo::carry_over(&mut fresh, &started);
        Ok(fresh)
    });
    print_banner(&gateway, &demo, config);
    gateway.wait().await;
    if let Some(services) = demo.services {
        services.shutdown().await;
    }
    ExitCode::SUCCESS
}

fn print_banner(gateway: &bff::Gateway, demo: &demo::Demo, config: &Config) {
    println!();
    println!("GraphQL BFF gateway is up.");
    println!();
    let scheme = if config.tls.serves_https() {
        "https"
    } else {
        "http"
    };
    for kind in ClientKind::ALL {
        if let Some(addr) = gateway.addr(kind) {
            println!(
                "  {:<7} GraphQL  {scheme}://{addr}/graphql   GraphiQL  {scheme}://{addr}/",
                kind.as_str()
            );
        }
    }
    if let Some(addr) = gateway.ops_addr() {
        println!(
            "  operations  http://{addr}/metrics   http://{addr}/readyz   http://{addr}/healthz"
        );
    } else {
        // One process, one registry: each client's /metrics renders all of it.
        println!(
            "  metrics: one registry for the process; each client's /metrics serves all of it \
             (scrape one, or set BFF_SERVER__OPS_ADDR to serve it once)"
        );
    }
    println!();
    match &demo.services {
        Some(services) => {
            println!("  demo REST services (embedded):");
            for (name, _) in services.urls() {
                let urls = services.instance_urls(name);
                if urls.len() > 1 {
                    let policy = config
                        .services
                        .get(name.as_str())
                        .and_then(|s| s.balance)
                        .unwrap_or_default();
                    println!(
                        "    {:<16} {} instances ({}); faults per instance: PUT <url>/_control/faults",
                        name.as_str(),
                        urls.len(),
                        policy.as_str()
                    );
                    for url in urls {
                        println!("    {:<16}   {url}", "");
                    }
                } else {
                    for url in urls {
                        println!("    {:<16} {url}", name.as_str());
                    }
                }
            }
        }
        None => println!("  upstream services: as configured"),
    }
    if demo.callers.is_empty() {
        println!();
        println!("  (no HS256 secret: tokens come from your identity provider)");
    } else {
        println!();
        println!("  bearer tokens (valid 12 h; GraphiQL is prefilled: customer on web/mobile, admin on admin):");
        if std::env::var_os("BFF_JWT_SECRET").is_none() && demo::dev_secret(false).is_some() {
            println!(
                "  (signed with the dev secret in {}, git-ignored and reused by the next run;\n   `cargo run -- token --sub u7` mints more that this demo accepts)",
                demo::DEV_SECRET_FILE
            );
        }
        for caller in &demo.callers {
            let c = &caller.claims;
            println!(
                "    {:<9} sub={} scopes=[{}]\n      {}",
                caller.label,
                c.sub,
                c.scopes.join(" "),
                caller.token
            );
        }
        if let (Some(addr), Some(customer)) = (
            gateway.addr(ClientKind::Web),
            demo.callers.iter().find(|c| c.label == "customer"),
        ) {
            println!();
            println!("  try:");
            println!(
                "    curl -s {scheme}://{addr}/graphql -H 'content-type: application/json' \\\n      -H 'authorization: Bearer {}' \\\n      -d '{{\"query\":\"{{ me {{ name orders(first: 2) {{ id total {{ formatted }} }} }} }}\"}}'",
                customer.token
            );
        }
    }
    if config.redis_url.is_some() {
        println!();
        println!("  cost budgets and shared cache tier: Redis");
    }
    println!();
    println!("Ctrl-C stops everything (in-flight requests drain first).");
}

fn token(
    config: &Config,
    sub: String,
    roles: &[String],
    scopes: Vec<String>,
    tier: Option<&str>,
    ttl: &str,
) -> ExitCode {
    let from_file = demo::dev_secret(false).map(Secret);
    let Some(secret) = config.auth.jwt_secret.as_ref().or(from_file.as_ref()) else {
        eprintln!(
            "bff token: no HS256 secret: set BFF_JWT_SECRET (or auth.jwt_secret), or run `cargo run` once to create {}",
            demo::DEV_SECRET_FILE
        );
        return ExitCode::from(CONFIG_ERROR_EXIT);
    };
    let mut parsed_roles = Vec::new();
    for role in roles {
        match Role::parse(role) {
            Some(r) => parsed_roles.push(r),
            None => {
                eprintln!("bff token: unknown role `{role}` (customer, support, admin)");
                return ExitCode::from(CONFIG_ERROR_EXIT);
            }
        }
    }
    let tier = match tier {
        None => None,
        Some("free") => Some(Tier::Free),
        Some("pro") => Some(Tier::Pro),
        Some("enterprise") => Some(Tier::Enterprise),
        Some(other) => {
            eprintln!("bff token: unknown tier `{other}` (free, pro, enterprise)");
            return ExitCode::from(CONFIG_ERROR_EXIT);
        }
    };
    let ttl = match bff_core::config::parse_duration(ttl) {
        Ok(d) => d,
        Err(err) => {
            eprintln!("bff token: --ttl: {err}");
            return ExitCode::from(CONFIG_ERROR_EXIT);
        }
    };
    let claims = DevClaims {
        sub,
        roles: parsed_roles,
        scopes,
        tier,
        ttl,
    };
    let token = demo::mint_hs256(secret.expose(), &claims);
    if token.is_empty() {
        eprintln!("bff token: could not sign the token");
        return ExitCode::FAILURE;
    }
    println!("{token}");
    ExitCode::SUCCESS
}

fn config_check(file: Option<&std::path::Path>) -> ExitCode {
    let checked = Config::load(file).and_then(|config| {
        config.check()?;
        config.redacted_toml()
    });
    match checked {
        Ok(text) => {
            let source = file.map_or_else(
                || "defaults and environment".to_string(),
                |f| f.display().to_string(),
            );
            eprintln!("bff config check: the configuration is valid ({source}); effective configuration, secrets redacted:");
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("bff config check: {err}");
            ExitCode::from(CONFIG_ERROR_EXIT)
        }
    }
}

fn healthcheck(url: &str) -> ExitCode {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return ExitCode::FAILURE;
    };
    let ca_file = std::env::var_os("BFF_TLS_CA_FILE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    let tls = match bff_core::tls::ClientTls::new(ca_file.as_deref()) {
        Ok(tls) => tls,
        Err(err) => {
            eprintln!("{url}: {err}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let client = match tls
            .reqwest_builder(None)
            .map(|b| b.timeout(Duration::from_secs(2)).build())
        {
            Ok(Ok(c)) => c,
            _ => return ExitCode::FAILURE,
        };
        match client.get(url).send().await {
            Ok(resp) if resp.status().is_success() => ExitCode::SUCCESS,
            Ok(resp) => {
                eprintln!("{url}: {}", resp.status());
                ExitCode::FAILURE
            }
            Err(err) => {
                eprintln!("{url}: {err}");
                ExitCode::FAILURE
            }
        }
    })
}
