//! The one list of REST services the gateway calls.
//!
//! Each service declares itself once, in its own folder
//! (`services/<name>/mod.rs`: `pub const SERVICE: ServiceSpec`); its line in
//! the `services!` list below is the only other place that names it. From
//! that line come the typed [`Clients`] (one field per service), the
//! `[services.<name>]` sections of [`ServicesConfig`], and [`ALL`], which everything that treats services alike iterates: the
//! `BFF_UPSTREAM_<NAME>` variables (`config/mod.rs`), the engine
//! ([`Services::from_config`](super::Services::from_config)), `/readyz`,
//! `systemHealth`, the per-service metrics and the warning about a missing
//! optional service. A list kept in one place cannot drift: a service in
//! the config but not in `/readyz` is not expressible.

use serde::{Deserialize, Serialize};

use super::upstream::{Policy, Upstream};
use crate::config::{ConfigError, ServiceConfig};

/// How the gateway knows one REST service: declared once, in the service's
/// own `mod.rs`.
#[derive(Debug)]
pub struct ServiceSpec {
    /// Metrics label, `extensions.service`, config key (`[services.<name>]`).
    pub name: &'static str,
    /// The variable that sets its URL (`docs/contract.md` §2).
    pub env: &'static str,
    /// Its default policy (its `policy.rs`), before config overrides.
    pub policy: fn() -> Policy,
    /// Whether the gateway can start without it.
    pub presence: Presence,
}

/// Whether a service must have a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presence {
    /// Without a URL the gateway refuses to start, naming the variable.
    Required,
    /// Without a URL the gateway starts with a warning saying what fails;
    /// every call fails `SERVICE_UNAVAILABLE`.
    Optional {
        /// What callers see meanwhile (logged in the warning).
        without: &'static str,
    },
}

impl ServiceSpec {
    /// The config key of its URL (what [`ServiceSpec::env`] sets).
    pub fn url_key(&self) -> String {
        format!("services.{}.url", self.name)
    }

    /// True when the gateway cannot start without it.
    pub fn required(&self) -> bool {
        self.presence == Presence::Required
    }
}

/// Declares a service in its own `mod.rs`: its `NAME`, its `SERVICE` (the
/// [`ServiceSpec`] the registry lists, with the folder's
/// `policy::defaults` and a [`Presence`] variant), and its typed client, a cheap-to-clone struct around
/// its [`Upstream`] with `new` (what [`Clients`] builds it with) and
/// `upstream` (what the engine, health and metrics read). The service's
/// calls are methods in its own `client.rs`.
macro_rules! service {
    (
        $(#[$doc:meta])*
        $client:ident { name: $name:literal, env: $env:literal, presence: $($presence:tt)+ }
    ) => {
        /// The service's name (metrics label, `extensions.service`, config key).
        pub const NAME: &str = $name;

        /// The service as the registry knows it (`services/registry.rs`).
        pub const SERVICE: $crate::services::registry::ServiceSpec =
            $crate::services::registry::ServiceSpec {
                name: NAME,
                env: $env,
                policy: policy::defaults,
                presence: $crate::services::registry::Presence::$($presence)+,
            };

        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $client {
            upstream: $crate::services::upstream::Upstream,
        }

        impl $client {
            /// Wraps the service's upstream.
            pub fn new(upstream: $crate::services::upstream::Upstream) -> Self {
                Self { upstream }
            }

            /// The resilient HTTP client of this service.
            pub fn upstream(&self) -> &$crate::services::upstream::Upstream {
                &self.upstream
            }
        }
    };
}
pub(crate) use service;

/// Declares the services: `<module> => <client type>`, one line each. The
/// module's `SERVICE` is its [`ServiceSpec`]; the field of [`Clients`] and
/// of [`ServicesConfig`] takes the module's name.
macro_rules! services {
    ($($name:ident => $client:ident,)+) => {
        /// Every service's declaration, in the order readiness, health and
        /// metrics list them.
        pub const ALL: &[&ServiceSpec] = &[$(&super::$name::SERVICE),+];

        /// The typed client of every service (cheap to clone: shared state).
        #[derive(Debug, Clone)]
        pub struct Clients {
            $(
                #[doc = concat!("The ", stringify!($name), " service (`services/", stringify!($name), "/`).")]
                pub $name: super::$name::$client,
            )+
        }

        impl Clients {
            /// Builds each client on the upstream `upstream` gives its spec.
            pub(super) fn build(
                mut upstream: impl FnMut(&'static ServiceSpec) -> Result<Upstream, ConfigError>,
            ) -> Result<Self, ConfigError> {
                Ok(Self {
                    $($name: super::$name::$client::new(upstream(&super::$name::SERVICE)?),)+
                })
            }

            /// Every service's upstream, in the order of [`ALL`].
            pub fn all(&self) -> Vec<&Upstream> {
                vec![$(self.$name.upstream()),+]
            }
        }

        /// `[services.<name>]`: one section per REST service the gateway knows.
        #[derive(Debug, Clone, Default, Serialize, Deserialize, schemars::JsonSchema)]
        #[serde(deny_unknown_fields, default)]
        pub struct ServicesConfig {
            $(
                #[doc = concat!("`[services.", stringify!($name), "]`")]
                pub $name: ServiceConfig,
            )+
        }

        impl ServicesConfig {
            /// The entry of a service by name (`users`, ..., `shipping`).
            pub fn get_mut(&mut self, name: &str) -> Option<&mut ServiceConfig> {
                match name {
                    $(stringify!($name) => Some(&mut self.$name),)+
                    _ => None,
                }
            }

            /// The entry of a service by name, read-only.
            pub fn get(&self, name: &str) -> Option<&ServiceConfig> {
                match name {
                    $(stringify!($name) => Some(&self.$name),)+
                    _ => None,
                }
            }
        }
    };
}

services! {
    users => Users,
    products => Products,
    orders => Orders,
    reviews => Reviews,
    inventory => Inventory,
    recommendations => Recommendations,
    shipping => Shipping,
    loyalty => Loyalty,
}

/// The service of a `BFF_UPSTREAM_<NAME>` variable.
pub fn by_env(var: &str) -> Option<&'static ServiceSpec> {
    ALL.iter().copied().find(|s| s.env == var)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_is_named_once_and_its_variable_follows_its_name() {
        for (i, spec) in ALL.iter().enumerate() {
            assert_eq!(
                spec.env,
                format!("BFF_UPSTREAM_{}", spec.name.to_ascii_uppercase())
            );
            assert!(
                ALL[..i].iter().all(|s| s.name != spec.name),
                "{}",
                spec.name
            );
            assert!(ServicesConfig::default().get(spec.name).is_some());
        }
    }

    #[test]
    fn every_service_is_documented_where_operators_look() {
        let example = include_str!("../../../config/bff.example.toml");
        let contract = include_str!("../../../docs/contract.md");
        for spec in ALL {
            let section = format!("[services.{}]", spec.name);
            assert!(
                example.contains(&section),
                "{section} in the example config"
            );
            assert!(
                example.contains(spec.env),
                "{} in the example config",
                spec.env
            );
            if spec.required() {
                assert!(contract.contains(spec.env), "{} in contract §2", spec.env);
            }
        }
    }
}
