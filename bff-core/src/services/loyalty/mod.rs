//! The loyalty service: a GraphQL upstream in the shape of a federation
//! subgraph (`docs/contract.md` §4.1), the worked example of "Adding a
//! GraphQL service" in `docs/adding-a-service.md`.
//!
//! # Operations used
//! - `_entities(representations: [{__typename: "LoyaltyAccount", userId}])`
//!   with the client's selection under `loyalty` forwarded (fields,
//!   arguments as variables, aliases; fragments inlined, `@skip`/`@include`
//!   decided): one call per distinct selection per batch, 100
//!   representations a call ([`loader::LoyaltyAccounts`]).
//!
//! # Optional
//! Without `BFF_UPSTREAM_LOYALTY` the gateway starts (with a warning) and
//! every `loyalty` field is `null` with `SERVICE_UNAVAILABLE`.
//!
//! # Cache and failure
//! Not cached (a balance is the caller's own and changes with every
//! purchase). A failed call nulls every `loyalty` field it carried, with the
//! REST mapping of the failure; a failed account nulls only its own field
//! (`UPSTREAM_ERROR`, `service: "loyalty"`).

pub mod client;
pub mod loader;
pub mod model;
pub mod policy;
pub mod resolve;
pub mod schema;

use super::{
    registry::{Presence, ServiceSpec},
    upstream::Upstream,
};

/// The service's name (metrics label, `extensions.service`, config key).
pub const NAME: &str = "loyalty";

/// The service as the registry knows it (`services/registry.rs`).
pub const SERVICE: ServiceSpec = ServiceSpec {
    name: NAME,
    env: "BFF_UPSTREAM_LOYALTY",
    policy: policy::defaults,
    presence: Presence::Optional {
        without: "loyalty fields answer null with SERVICE_UNAVAILABLE",
    },
};

/// Typed client of the loyalty service (see [`client`]).
#[derive(Debug, Clone)]
pub struct Loyalty {
    upstream: Upstream,
}

impl Loyalty {
    /// Wraps the service's upstream.
    pub fn new(upstream: Upstream) -> Self {
        Self { upstream }
    }

    /// The resilient HTTP client of this service.
    pub fn upstream(&self) -> &Upstream {
        &self.upstream
    }
}
