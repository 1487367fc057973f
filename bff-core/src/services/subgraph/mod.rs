//! What a GraphQL service folder shares (the GraphQL counterpart of
//! [`support`](super::support)): the client's selection turned into the
//! selection to forward ([`forward`]), the per-request `_entities` loader
//! ([`entities`]), and [`resolve_entity`], which places an entity's failure
//! at the client's path.
//!
//! The HTTP side is [`Upstream::graphql`](super::upstream::Upstream::graphql):
//! the same breaker, retries, timeouts and instances as a REST call.

pub mod entities;
pub mod forward;

use std::sync::Arc;

use async_graphql::{Context, ErrorExtensions, PathSegment as GqlPath, Result};
use serde_json::Value;

use self::{
    entities::{EntityFailure, EntityKey},
    forward::forward,
};
use super::{
    batch::{Batcher, Loader},
    support::{gql, loaders},
    upstream::graphql::PathSegment,
    Loaders, PerRequest,
};
use crate::errors::ErrorCode;

/// The entity `id` of the service behind `batcher`, with the selection the
/// field `ctx` resolves (its type `type_name` in the client schema):
/// batched with every other entity of the request that asks the same.
///
/// `Ok(None)` when the service has none. A failed call is the field's
/// error, mapped like a REST failure. A failed entity is the field's
/// `null` with an `UPSTREAM_ERROR` at the client's path (the field's,
/// plus the path inside the entity the service reported, in the client's
/// response keys); the service's message is not shown (it may name
/// internals), its `extensions.code` is, as `upstreamCode`, when plain.
pub async fn resolve_entity<L>(
    ctx: &Context<'_>,
    batcher: impl FnOnce(&Loaders) -> Arc<Batcher<EntityKey, L>>,
    service: &'static str,
    type_name: &str,
    id: &str,
) -> Result<Option<Arc<Value>>>
where
    L: PerRequest<Key = EntityKey> + Loader<EntityKey, Value = entities::EntityResult>,
{
    let selection = forward(ctx, type_name).map_err(|err| {
        tracing::error!(%err, "selection not forwardable");
        ErrorCode::InternalServerError.error("internal error")
    })?;
    let key = EntityKey {
        selection: Arc::new(selection),
        id: id.to_string(),
    };
    let found = batcher(loaders(ctx)?)
        .load_one(key)
        .await
        .map_err(|e| gql(&e))?;
    match found {
        None | Some(Ok(None)) => Ok(None),
        Some(Ok(Some(value))) => Ok(Some(value)),
        Some(Err(EntityFailure::Call(err))) => Err(gql(&err)),
        Some(Err(EntityFailure::Entity { path, code })) => {
            let error = ErrorCode::UpstreamError
                .error(format!(
                    "{service} service could not resolve this {type_name}"
                ))
                .extend_with(|_, e| {
                    e.set("service", service);
                    e.set("retryable", false);
                    if let Some(code) = &code {
                        e.set("upstreamCode", code.as_str());
                    }
                });
            if path.is_empty() {
                return Err(error);
            }
            let mut server = ctx.set_error_path(error.into_server_error(ctx.item.pos));
            server.path.extend(path.into_iter().map(|p| match p {
                PathSegment::Index(i) => GqlPath::Index(i),
                PathSegment::Field(f) => GqlPath::Field(f),
            }));
            ctx.add_error(server);
            Ok(None)
        }
    }
}
