//! `demo-services`: the demo REST services alone, until Ctrl-C or SIGTERM.

use std::{collections::HashMap, net::IpAddr, path::PathBuf};

use clap::Parser;
use demo_services::{DemoOptions, DemoServices, ServiceName, DEFAULT_SEED};

#[derive(Parser)]
#[command(
    name = "demo-services",
    about = "The demo shop's REST services with fault injection"
)]
struct Cli {
    /// First port: users = base, products = base + 1, ... (0 = ephemeral).
    #[arg(long, default_value_t = 7001)]
    base_port: u16,
    /// Interface to listen on (0.0.0.0 in a container).
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// Data seed (same seed, same data).
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
    /// Instances of a service, e.g. `--instances products=3` (repeatable).
    #[arg(long = "instances", value_parser = parse_instances)]
    instances: Vec<(ServiceName, usize)>,
    /// `Cache-Control: max-age` of products answers, in seconds.
    #[arg(long, default_value_t = 60)]
    products_max_age: u32,
    /// Serve HTTPS with this PEM certificate chain (with `--tls-key`).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key of `--tls-cert`.
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Require a client certificate signed by this PEM CA (mutual TLS).
    #[arg(long, requires = "tls_cert")]
    tls_client_ca: Option<PathBuf>,
}

fn parse_instances(s: &str) -> Result<(ServiceName, usize), String> {
    let (name, n) = s
        .split_once('=')
        .ok_or_else(|| "expected SERVICE=N, e.g. products=3".to_string())?;
    let service = ServiceName::ALL
        .into_iter()
        .find(|s| s.as_str() == name)
        .ok_or_else(|| format!("unknown service `{name}`"))?;
    let n: usize = n.parse().map_err(|_| format!("`{n}` is not a number"))?;
    if n == 0 || n > 16 {
        return Err("instances must be between 1 and 16".into());
    }
    Ok((service, n))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let options = DemoOptions {
        base_port: cli.base_port,
        host: cli.host,
        instances: cli.instances.into_iter().collect::<HashMap<_, _>>(),
        seed: cli.seed,
        products_max_age: cli.products_max_age,
        tls: match (&cli.tls_cert, &cli.tls_key) {
            (Some(cert), Some(key)) => Some(demo_services::tls::server_config(
                cert,
                key,
                cli.tls_client_ca.as_deref(),
            )?),
            _ => None,
        },
    };
    let demo = DemoServices::start_with(options).await?;
    for name in ServiceName::ALL {
        println!(
            "{:<16} {}",
            name.as_str(),
            demo.instance_urls(name).join(", ")
        );
    }
    shutdown_signal().await;
    demo.shutdown().await;
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM (what `docker stop` sends).
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
