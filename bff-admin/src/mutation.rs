//! `resetBreaker` and `clearCache`: the operator's levers during an incident.
//!
//! Both act on the process-wide registry, so they affect every client of
//! this process (not other replicas: each keeps its own breakers and cache).

use async_graphql::{Context, ErrorExtensions, Object, Result};
use bff_core::cost::directives::cost;

use bff_core::{auth::directives::has_role, caller::Role};

use crate::{query::runtime, types::ServiceHealth};

/// The admin root mutation.
#[derive(Default)]
pub struct Mutation;

fn unknown_service(name: &str, known: &[&str]) -> async_graphql::Error {
    async_graphql::Error::new(format!(
        "no service named `{name}`; known: {}",
        known.join(", ")
    ))
    .extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

#[Object]
impl Mutation {
    /// Closes a service's breaker and forgets its failure counts, e.g. after
    /// the service was fixed and waiting for the probe is too slow.
    #[graphql(directive = has_role::apply(vec![Role::Admin]), directive = cost::apply(1))]
    async fn reset_breaker(&self, ctx: &Context<'_>, service: String) -> Result<ServiceHealth> {
        let services = &runtime(ctx)?.services;
        services
            .reset_breaker(&service)
            .map(ServiceHealth)
            .ok_or_else(|| unknown_service(&service, &services.names()))
    }

    /// Drops cached answers of one service (every service when omitted), e.g.
    /// after fixing bad data upstream; returns the entries removed.
    #[graphql(directive = has_role::apply(vec![Role::Admin]), directive = cost::apply(1))]
    async fn clear_cache(&self, ctx: &Context<'_>, service: Option<String>) -> Result<i32> {
        let services = &runtime(ctx)?.services;
        if let Some(name) = &service {
            if services.upstream(name).is_none() {
                return Err(unknown_service(name, &services.names()));
            }
        }
        let removed = services.clear_cache(service.as_deref()).await;
        Ok(i32::try_from(removed).unwrap_or(i32::MAX))
    }
}
