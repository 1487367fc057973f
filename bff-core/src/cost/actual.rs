//! The actual cost: what a request really resolved.
//!
//! [`ActualCostExtension`] adds a field's `@cost` weight to the request's
//! [`RequestContext`] each time that field resolves without error, with the
//! same model the guard priced the operation with (the edge puts it in the
//! request data). A list priced at `first: 20` that returned 3 items
//! therefore costs what 3 items cost, and the edge refunds the rest.

use std::sync::Arc;

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
    ObjectType, SchemaBuilder, ServerResult, SubscriptionType, Value,
};

use super::model::CostModel;
use crate::context::RequestContext;

/// Counts the weight of every resolved field into the request context.
#[derive(Debug, Clone, Copy, Default)]
pub struct ActualCostExtension;

/// Registers [`ActualCostExtension`] on a client's schema builder.
pub fn with_actual_cost<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder.extension(ActualCostExtension)
}

impl ExtensionFactory for ActualCostExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for ActualCostExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        let weight = if info.is_for_introspection {
            0
        } else {
            ctx.data_opt::<Arc<CostModel>>()
                .map_or(0, |m| m.weight(info.parent_type, info.name))
        };
        let result = next.run(ctx, info).await;
        if weight > 0 && result.is_ok() {
            if let Some(request) = ctx.data_opt::<Arc<RequestContext>>() {
                request.add_cost(weight);
            }
        }
        result
    }
}
