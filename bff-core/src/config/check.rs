//! `bff config check`: a configuration validated as the gateway would use
//! it, and printed back as TOML with every secret redacted.
//!
//! [`Config::check`] runs the checks that parsing alone does not (the Redis
//! URL list and its TLS roots, each service's URLs); hot reload
//! (`crate::reload`) refuses a new configuration on the same checks.
//! [`Config::redacted_toml`] prints the effective configuration: the JWT
//! secret and any key named like a secret become `"***"`, and the password
//! of any URL (`redis://:pw@host`, `http://user:pw@host`) too.

use super::{Config, ConfigError};

/// What replaces a secret in printed output.
pub const REDACTED: &str = "***";

/// Key names whose values are secrets wherever they appear.
const SECRET_KEYS: &[&str] = &["secret", "password", "token", "private_key", "api_key"];

impl Config {
    /// Checks what deserialisation cannot: the Redis node list (one URL or a
    /// cluster, one scheme, readable `BFF_TLS_CA_FILE` for `rediss://`) and
    /// that every service URL is an absolute URL. Messages never contain a
    /// secret.
    pub fn check(&self) -> Result<(), ConfigError> {
        if let Some(url) = self.redis_url.as_deref().filter(|u| !u.trim().is_empty()) {
            crate::redis_link::RedisTarget::new(url, self.tls.ca_file.as_deref())
                .map_err(ConfigError::Invalid)?;
        }
        for spec in crate::services::registry::ALL {
            let name = spec.name;
            let Some(service) = self.services.get(name) else {
                continue;
            };
            for url in service
                .url
                .as_deref()
                .map(super::split_urls)
                .unwrap_or_default()
            {
                if reqwest::Url::parse(&url).map_or(true, |u| !u.has_host()) {
                    return Err(ConfigError::Invalid(format!(
                        "key `services.{name}.url`: an instance is not an absolute URL"
                    )));
                }
            }
        }
        Ok(())
    }

    /// The configuration as TOML, secrets redacted.
    pub fn redacted_toml(&self) -> Result<String, ConfigError> {
        let mut value = toml::Value::try_from(self)
            .map_err(|e| ConfigError::Invalid(format!("cannot print the configuration: {e}")))?;
        redact(&mut value, None);
        toml::to_string_pretty(&value)
            .map_err(|e| ConfigError::Invalid(format!("cannot print the configuration: {e}")))
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

fn redact(value: &mut toml::Value, key: Option<&str>) {
    match value {
        toml::Value::String(s) => {
            if key.is_some_and(is_secret_key) {
                *s = REDACTED.to_string();
            } else {
                *s = redact_urls(s);
            }
        }
        toml::Value::Array(items) => {
            for item in items {
                redact(item, key);
            }
        }
        toml::Value::Table(table) => {
            for (k, v) in table.iter_mut() {
                redact(v, Some(k));
            }
        }
        _ => {}
    }
}

/// Every URL of a comma-separated list with its password replaced.
pub fn redact_urls(text: &str) -> String {
    text.split(',')
        .map(|part| {
            let Some((scheme, rest)) = part.split_once("://") else {
                return part.to_string();
            };
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            let (authority, path) = rest.split_at(authority_end);
            match authority.rsplit_once('@') {
                Some((userinfo, host)) => {
                    let user = userinfo.split(':').next().unwrap_or_default();
                    let shown = if userinfo.contains(':') {
                        format!("{user}:{REDACTED}")
                    } else if user.is_empty() {
                        String::new()
                    } else {
                        // `redis://secret@host`: a lone userinfo is the password.
                        REDACTED.to_string()
                    };
                    format!("{scheme}://{shown}@{host}{path}")
                }
                None => part.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_their_passwords_only() {
        assert_eq!(
            redact_urls("redis://:pw@10.0.0.1:6379/0,rediss://user:pw@b:6380"),
            "redis://:***@10.0.0.1:6379/0,rediss://user:***@b:6380"
        );
        assert_eq!(redact_urls("redis://pw@a:1"), "redis://***@a:1");
        assert_eq!(
            redact_urls("http://127.0.0.1:7001"),
            "http://127.0.0.1:7001"
        );
    }

    #[test]
    fn the_printed_configuration_has_no_secret() {
        let mut config = Config::default();
        config.auth.jwt_secret = Some(super::super::Secret("hunter2-secret".into()));
        config.redis_url =
            Some("redis://:hunter2@127.0.0.1:7000,redis://:hunter2@127.0.0.1:7001".into());
        let text = config.redacted_toml().expect("toml");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("jwt_secret = \"***\""), "{text}");
        assert!(text.contains("127.0.0.1:7001"), "{text}");
        // What is printed reads back as a configuration.
        Config::from_toml_str(&text).expect("round trip");
    }
}
