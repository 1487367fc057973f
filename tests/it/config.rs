//! Configuration: the example file parses, bad values name key and source,
//! and the binary exits with code 2 on a bad configuration.

use std::io::Write;

use bff_core::config::Config;

#[test]
fn the_example_config_parses() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/config/bff.example.toml"
    ))
    .expect("config/bff.example.toml exists");
    let config = Config::from_toml_str(&text).expect("the example config is valid");
    assert_eq!(config.clients.web.addr.port(), 4001);
}

#[test]
fn a_bad_environment_value_names_the_variable_and_key() {
    let env = vec![(
        "BFF_SERVER__BODY_LIMIT_BYTES".to_string(),
        "lots".to_string(),
    )];
    let err = Config::load_with_env(None, env)
        .expect_err("a bad value is refused")
        .to_string();
    assert!(err.contains("server.body_limit_bytes"), "{err}");
    assert!(err.contains("BFF_SERVER__BODY_LIMIT_BYTES"), "{err}");
}

#[test]
fn the_ops_address_comes_from_the_environment() {
    let env = vec![(
        "BFF_SERVER__OPS_ADDR".to_string(),
        "127.0.0.1:9464".to_string(),
    )];
    let config = Config::load_with_env(None, env).expect("valid");
    assert_eq!(
        config.server.ops_addr,
        Some("127.0.0.1:9464".parse().expect("an address"))
    );
    assert_eq!(Config::default().server.ops_addr, None);
}

#[test]
fn contract_variables_set_their_keys() {
    let env = vec![
        (
            "BFF_UPSTREAM_USERS".to_string(),
            "http://127.0.0.1:7001".to_string(),
        ),
        ("BFF_WEB_ADDR".to_string(), "127.0.0.1:5001".to_string()),
        ("BFF_JWT_SECRET".to_string(), "12345".to_string()),
        (
            "BFF_REDIS_URL".to_string(),
            "redis://127.0.0.1:6379".to_string(),
        ),
        ("BFF_SERVER__MAX_BATCH_SIZE".to_string(), "3".to_string()),
    ];
    let config = Config::load_with_env(None, env).expect("valid");
    assert_eq!(
        config.services.users.url.as_deref(),
        Some("http://127.0.0.1:7001")
    );
    assert_eq!(config.clients.web.addr.port(), 5001);
    // A numeric-looking secret stays a string.
    assert_eq!(
        config.auth.jwt_secret.as_ref().map(|s| s.expose()),
        Some("12345")
    );
    assert_eq!(config.redis_url.as_deref(), Some("redis://127.0.0.1:6379"));
    assert_eq!(config.server.max_batch_size, 3);
    // The secret never shows in Debug output.
    assert!(!format!("{config:?}").contains("12345"));
}

#[test]
fn unknown_keys_in_the_file_are_refused_with_the_file_named() {
    let mut file = tempfile();
    writeln!(file.1, "[server]\nbody_limit = 10").unwrap();
    let err = Config::load_with_env(Some(&file.0), Vec::new())
        .expect_err("unknown key refused")
        .to_string();
    assert!(err.contains("body_limit"), "{err}");
    assert!(err.contains(file.0.to_str().unwrap()), "{err}");
}

#[test]
fn a_missing_config_file_is_an_error() {
    let err = Config::load_with_env(
        Some(std::path::Path::new("/nonexistent/bff.toml")),
        Vec::new(),
    )
    .expect_err("missing file refused")
    .to_string();
    assert!(err.contains("/nonexistent/bff.toml"), "{err}");
}

#[test]
fn the_binary_exits_2_on_a_bad_value() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_bff"))
        .env("BFF_WEB_ADDR", "not-an-address")
        .output()
        .expect("bff runs");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("BFF_WEB_ADDR"), "{stderr}");
}

fn tempfile() -> (std::path::PathBuf, std::fs::File) {
    let path = std::env::temp_dir().join(format!("bff-test-{}.toml", uuid::Uuid::new_v4()));
    let file = std::fs::File::create(&path).expect("temp file");
    (path, file)
}

#[test]
fn several_instances_come_as_a_comma_list_or_an_array_with_a_policy() {
    let env = vec![(
        "BFF_UPSTREAM_PRODUCTS".to_string(),
        "http://127.0.0.1:7002, http://127.0.0.1:7012".to_string(),
    )];
    let config = Config::load_with_env(None, env).expect("valid");
    assert_eq!(
        bff_core::config::split_urls(config.services.products.url.as_deref().unwrap_or("")),
        vec!["http://127.0.0.1:7002", "http://127.0.0.1:7012"]
    );

    let config = Config::from_toml_str(
        r#"
        [services.users]
        url = ["http://10.0.0.1:7001", "http://10.0.0.2:7001"]
        balance = "weighted_round_robin"
        weights = [3, 1]
        outlier_base_ejection_time = "5s"
        [clients.web]
        max_in_flight = 10
        [shared_cache]
        key_prefix = "x:"
        "#,
    )
    .expect("valid");
    assert_eq!(
        config.services.users.url.as_deref(),
        Some("http://10.0.0.1:7001,http://10.0.0.2:7001")
    );
    assert_eq!(
        config.services.users.balance,
        Some(bff_core::config::BalancePolicy::WeightedRoundRobin)
    );
    assert_eq!(config.clients.web.max_in_flight, 10);
    assert_eq!(config.shared_cache.key_prefix, "x:");

    let err = Config::from_toml_str("[services.users]\nbalance = \"random\"")
        .expect_err("unknown policy refused")
        .to_string();
    assert!(err.contains("balance"), "{err}");
    let err = Config::from_toml_str("[services.users]\nhealth_interval = \"1s\"")
        .expect_err("unknown key refused")
        .to_string();
    assert!(err.contains("health_interval"), "{err}");
}

#[test]
fn weights_must_match_the_instances() {
    let mut config = Config::from_toml_str(
        r#"
        [services.products]
        url = "http://127.0.0.1:7002,http://127.0.0.1:7012"
        balance = "weighted_round_robin"
        weights = [3, 1, 1]
        "#,
    )
    .expect("parses");
    config.services.users.url = Some("http://127.0.0.1:9".into());
    let err = bff_core::services::Services::from_config(&config.services)
        .expect_err("3 weights for 2 instances")
        .to_string();
    assert!(err.contains("services.products.weights"), "{err}");
}

/// Runs `bff config check` with `args` and `env` (no other `BFF_*` variable).
fn config_check(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_bff"));
    for (k, _) in std::env::vars() {
        if k.starts_with("BFF_") {
            cmd.env_remove(k);
        }
    }
    cmd.args(["config", "check"])
        .args(args)
        .envs(env.iter().copied())
        .output()
        .expect("bff runs")
}

#[test]
fn config_check_prints_the_effective_configuration_with_secrets_redacted() {
    let (path, mut file) = tempfile();
    use std::io::Write as _;
    writeln!(
        file,
        "redis_url = \"redis://:file-password@127.0.0.1:7000,redis://:file-password@127.0.0.1:7001\"\n\
         [cost.limits.web]\nmax_cost = 777"
    )
    .expect("write");
    let out = config_check(
        &["--config", path.to_str().expect("path")],
        &[
            ("BFF_JWT_SECRET", "env-jwt-secret-value"),
            ("BFF_UPSTREAM_USERS", "http://svc:pw-in-url@127.0.0.1:7001"),
        ],
    );
    let _ = std::fs::remove_file(&path);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    for secret in ["file-password", "env-jwt-secret-value", "pw-in-url"] {
        assert!(!stdout.contains(secret), "{secret} printed:\n{stdout}");
        assert!(!stderr.contains(secret), "{secret} printed:\n{stderr}");
    }
    // The effective values: file and environment merged, and it parses back.
    assert!(stdout.contains("max_cost = 777"), "{stdout}");
    assert!(stdout.contains("jwt_secret = \"***\""), "{stdout}");
    assert!(
        stdout.contains("redis://:***@127.0.0.1:7000,redis://:***@127.0.0.1:7001"),
        "{stdout}"
    );
    assert!(stdout.contains("http://svc:***@127.0.0.1:7001"), "{stdout}");
    Config::from_toml_str(&stdout).expect("the printed configuration reads back");
}

#[test]
fn config_check_refuses_an_invalid_configuration_with_exit_code_2() {
    let (path, mut file) = tempfile();
    use std::io::Write as _;
    writeln!(file, "[cost.limits.web]\nmax_cost = \"lots\"").expect("write");
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            vec!["--config", path.to_str().expect("path")],
            vec![],
            "max_cost",
        ),
        (
            vec!["--config", "/nonexistent/bff.toml"],
            vec![],
            "/nonexistent/bff.toml",
        ),
        (
            vec![],
            vec![("BFF_WEB_ADDR", "not-an-address")],
            "BFF_WEB_ADDR",
        ),
        (
            vec![],
            vec![(
                "BFF_REDIS_URL",
                "redis://:hunter2@127.0.0.1:7000,rediss://:hunter2@127.0.0.1:7001",
            )],
            "same scheme",
        ),
        (
            vec![],
            vec![
                ("BFF_REDIS_URL", "rediss://127.0.0.1:6380"),
                ("BFF_TLS_CA_FILE", "/nonexistent/ca.pem"),
            ],
            "BFF_TLS_CA_FILE",
        ),
    ];
    for (args, env, says) in cases {
        let out = config_check(&args, &env);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?} {env:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} {env:?}: {stderr}");
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(
            out.stdout.is_empty(),
            "nothing printed on stdout for an invalid config"
        );
    }
    let _ = std::fs::remove_file(&path);
}

#[test]
fn unknown_bff_variables_are_the_ones_that_set_nothing() {
    let env = [
        "BFF_JWT_SECRETS",
        "BFF_WEB_ADR",
        "BFF_WEB_ADDR",
        "BFF_UPSTREAM_USERS",
        "BFF_SERVER__BODY_LIMIT_BYTES",
        "BFF_CONFIG",
        "BFF_REDIS_TEST_URL",
        "PATH",
    ]
    .map(|k| (k.to_string(), "x".to_string()));
    assert_eq!(
        bff_core::config::unknown_env(env),
        ["BFF_JWT_SECRETS", "BFF_WEB_ADR"]
    );
}

/// The committed JSON Schema is the one the config types generate.
/// `UPDATE_SCHEMA=1 cargo test --test it config_schema` rewrites it after a
/// deliberate change.
#[test]
fn committed_config_schema_matches_the_types() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/config/bff.schema.json");
    let schema = Config::json_schema();
    if std::env::var_os("UPDATE_SCHEMA").is_some() {
        std::fs::write(path, &schema).expect("config/bff.schema.json written");
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == schema,
        "config/bff.schema.json differs from the config types; review and run \
         `UPDATE_SCHEMA=1 cargo test --test it config_schema`"
    );
    let parsed: serde_json::Value = serde_json::from_str(&schema).expect("JSON");
    for section in ["server", "clients", "services", "cost", "auth", "telemetry"] {
        assert!(parsed["properties"][section].is_object(), "{section}");
    }
}
