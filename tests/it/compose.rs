//! No Docker engine runs where this project is built, so docker-compose.yml
//! is checked here: it parses, every reference between services resolves,
//! health-gated dependencies have health checks, files exist, Prometheus
//! scrapes ports the clients listen on, and host ports do not collide.

use std::collections::{HashMap, HashSet};

use serde_norway::Value;

fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn load(path: &str) -> Value {
    let text = std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
    let value: Value = serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
    // Resolve `<<: *anchor` merges the way compose does.
    let mut value = value;
    value.apply_merge().expect("merge keys resolve");
    value
}

fn str_list(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compose_file_is_consistent() {
    let compose = load("docker-compose.yml");
    let services = compose["services"].as_mapping().expect("services map");
    let names: HashSet<String> = services
        .keys()
        .filter_map(|k| k.as_str().map(str::to_string))
        .collect();
    for expected in [
        "demo",
        "redis",
        "web",
        "mobile",
        "admin",
        "prometheus",
        "jaeger",
    ] {
        assert!(names.contains(expected), "service {expected} missing");
    }
    let dockerfile = std::fs::read_to_string(root().join("docker/Dockerfile")).expect("Dockerfile");
    let mut built_images = HashSet::new();
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        if let Some(build) = svc.get("build") {
            let file = build["dockerfile"].as_str().unwrap_or("Dockerfile");
            let context = build["context"].as_str().unwrap_or(".");
            assert!(
                root().join(context).join(file).exists(),
                "{name}: {file} missing"
            );
            if let Some(image) = svc["image"].as_str() {
                built_images.insert(image.to_string());
            }
        }
    }
    let mut host_ports = HashSet::new();
    for (name, svc) in services {
        let name = name.as_str().unwrap_or_default();
        // Images of our own must be built by some service of the file.
        if let Some(image) = svc["image"].as_str() {
            if image.starts_with("bff:") {
                assert!(
                    built_images.contains(image),
                    "{name}: image {image} is never built"
                );
            }
        }
        // Entrypoints name binaries the Dockerfile builds.
        for part in str_list(&svc["entrypoint"]) {
            if let Some(bin) = part.strip_prefix("/usr/local/bin/") {
                assert!(
                    dockerfile.contains(&format!("--bin {bin}")),
                    "{name}: {bin} not built"
                );
            }
        }
        // Dependencies exist; health-gated ones have a health check.
        if let Some(deps) = svc["depends_on"].as_mapping() {
            for (dep, cond) in deps {
                let dep = dep.as_str().unwrap_or_default();
                assert!(names.contains(dep), "{name} depends on unknown {dep}");
                if cond["condition"].as_str() == Some("service_healthy") {
                    assert!(
                        !services[dep]["healthcheck"].is_null(),
                        "{name} waits for {dep} to be healthy but {dep} has no healthcheck"
                    );
                }
            }
        }
        // Mounted files exist.
        for volume in str_list(&svc["volumes"]) {
            if let Some(src) = volume.split(':').next().filter(|s| s.starts_with("./")) {
                assert!(root().join(src).exists(), "{name}: {src} missing");
            }
        }
        // Host ports never collide.
        for mapping in str_list(&svc["ports"]) {
            let host = mapping.split(':').next().unwrap_or_default().to_string();
            assert!(
                host_ports.insert(host.clone()),
                "host port {host} used twice"
            );
        }
    }
    // Each client listens where its port mapping and health check point.
    for (client, var, port) in [
        ("web", "BFF_WEB_ADDR", "4001"),
        ("mobile", "BFF_MOBILE_ADDR", "4002"),
        ("admin", "BFF_ADMIN_ADDR", "4003"),
    ] {
        let svc = &services[client];
        let addr = svc["environment"][var]
            .as_str()
            .expect("listen address set");
        assert!(addr.ends_with(&format!(":{port}")), "{client}: {addr}");
        assert!(
            addr.starts_with("0.0.0.0"),
            "{client} must listen on all interfaces in a container"
        );
        let health = str_list(&svc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains(&format!(":{port}/healthz")),
            "{client}: {health}"
        );
        let env = &svc["environment"];
        assert_eq!(env["BFF_REDIS_URL"].as_str(), Some("redis://redis:6379"));
        for upstream in [
            "USERS",
            "PRODUCTS",
            "ORDERS",
            "REVIEWS",
            "INVENTORY",
            "RECOMMENDATIONS",
        ] {
            let urls = env[format!("BFF_UPSTREAM_{upstream}").as_str()]
                .as_str()
                .expect("upstream set");
            // A comma list of instances: each on a port the demo exposes.
            let exposed = str_list(&services[&Value::from("demo")]["expose"]);
            for url in urls.split(',') {
                assert!(url.starts_with("http://demo:"), "{client}: {url}");
                let port = url.trim_start_matches("http://demo:");
                assert!(
                    exposed.iter().any(|p| p == port),
                    "{client}: {url} is not exposed by demo"
                );
            }
        }
    }
    // Prometheus scrapes every client on the port it listens on.
    let prometheus = load("docker/prometheus.yml");
    let mut scraped: HashMap<String, String> = HashMap::new();
    for job in prometheus["scrape_configs"]
        .as_sequence()
        .expect("scrape configs")
    {
        for sc in job["static_configs"].as_sequence().into_iter().flatten() {
            for target in str_list(&sc["targets"]) {
                let (host, port) = target.split_once(':').expect("host:port");
                assert!(names.contains(host), "prometheus scrapes unknown {host}");
                scraped.insert(host.to_string(), port.to_string());
            }
        }
    }
    assert_eq!(scraped.get("web").map(String::as_str), Some("4001"));
    assert_eq!(scraped.get("mobile").map(String::as_str), Some("4002"));
    assert_eq!(scraped.get("admin").map(String::as_str), Some("4003"));
}

/// `docker-compose.tls.yml` only adds HTTPS to services of the base file:
/// each client gets the three TLS variables, the certificate directory and
/// an https health check on its own port; Prometheus scrapes over https
/// with a config that exists.
#[test]
fn compose_tls_override_is_consistent() {
    let base = load("docker-compose.yml");
    let tls = load("docker-compose.tls.yml");
    let services = tls["services"].as_mapping().expect("services map");
    for name in services.keys().filter_map(|k| k.as_str()) {
        assert!(
            !base["services"][name].is_null(),
            "the override names {name}, which docker-compose.yml does not have"
        );
    }
    for (client, port) in [("web", "4001"), ("mobile", "4002"), ("admin", "4003")] {
        let svc = &tls["services"][client];
        let env = &svc["environment"];
        for (var, file) in [
            ("BFF_TLS_CERT_FILE", "bff.crt"),
            ("BFF_TLS_KEY_FILE", "bff.key"),
            ("BFF_TLS_CA_FILE", "ca.pem"),
        ] {
            assert_eq!(
                env[var].as_str(),
                Some(format!("/etc/bff/tls/{file}").as_str()),
                "{client}: {var}"
            );
        }
        assert!(
            str_list(&svc["volumes"]).contains(&"./docker/tls:/etc/bff/tls:ro".to_string()),
            "{client}: certificate directory not mounted"
        );
        let health = str_list(&svc["healthcheck"]["test"]).join(" ");
        assert!(
            health.contains(&format!("https://localhost:{port}/healthz")),
            "{client}: {health}"
        );
    }
    let scrape = load("docker/prometheus.tls.yml");
    assert_eq!(
        scrape["scrape_configs"][0]["scheme"].as_str(),
        Some("https")
    );
    for volume in str_list(&tls["services"]["prometheus"]["volumes"]) {
        let src = volume.split(':').next().unwrap_or_default();
        // docker/tls is made by scripts/dev-cert.sh before `up`.
        if src != "./docker/tls" {
            assert!(root().join(src).exists(), "{src} missing");
        }
    }
    assert!(root().join("scripts/dev-cert.sh").exists());
    assert!(std::fs::read_to_string(root().join(".dockerignore"))
        .expect(".dockerignore")
        .lines()
        .any(|l| l.trim() == "target/"));
}
