//! The verified caller, for resolvers that build on who is asking.
//!
//! Access itself is declared with the engine's directives (`home` is
//! `@authenticated`) and enforced before a resolver runs; this only reads
//! the identity the directive already required.

use std::sync::Arc;

use async_graphql::{Context, Result};
use bff_core::{caller::Identity, context::RequestContext, errors::ErrorCode};

/// The verified identity of the request, or `UNAUTHENTICATED`.
pub fn identity(ctx: &Context<'_>) -> Result<Identity> {
    let request = ctx.data::<Arc<RequestContext>>()?;
    request
        .caller
        .identity
        .clone()
        .ok_or_else(|| ErrorCode::Unauthenticated.error("this field needs a signed-in user"))
}
