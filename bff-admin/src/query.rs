//! The root query: one small part per concern, merged.

use bff_core::cost::directives::{cost, list_size};
use bff_core::cost::RateLimit;
use std::sync::Arc;

use async_graphql::{Context, MergedObject, Object, Result};
use bff_core::{
    auth::directives::has_role,
    caller::Role,
    errors::{page_size, ErrorCode},
    runtime::Runtime,
    services::{orders, users},
};

use crate::types::{AdminOrder, AdminUser, OrderStatus, SystemHealth};

/// Largest page of users or orders one field returns.
const MAX_PAGE: u32 = 100;

/// The admin root query.
#[derive(MergedObject, Default)]
pub struct Query(DirectoryQuery, HealthQuery, BudgetQuery);

/// The process-wide runtime (the edge puts it in the request data).
pub(crate) fn runtime<'a>(ctx: &Context<'a>) -> Result<&'a Arc<Runtime>> {
    ctx.data::<Arc<Runtime>>().map_err(|_| {
        tracing::error!("Runtime missing from the request data");
        ErrorCode::InternalServerError.error("internal error")
    })
}

/// `users` and `orders`.
#[derive(Default)]
pub struct DirectoryQuery;

#[Object]
impl DirectoryQuery {
    /// A page of users, in the users service's order.
    #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]), directive = cost::apply(1), directive = list_size::apply(Some(50), Some(vec!["first".to_string()])))]
    async fn users(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = 50)] first: Option<i32>,
        #[graphql(default = 0)] offset: Option<i32>,
    ) -> Result<Option<Vec<AdminUser>>> {
        // An explicit `null` means the default, as the SDL's `Int = 50` says.
        let (first, offset) = (first.unwrap_or(50), offset.unwrap_or(0));
        let n = page_size(first, MAX_PAGE)?;
        let list = users::resolve::list(ctx, n as i32, offset.max(0)).await?;
        Ok(Some(list.into_iter().map(AdminUser).collect()))
    }

    /// Orders of one status (all when omitted), newest first.
    #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]), directive = cost::apply(1), directive = list_size::apply(Some(50), Some(vec!["first".to_string()])))]
    async fn orders(
        &self,
        ctx: &Context<'_>,
        status: Option<OrderStatus>,
        #[graphql(default = 50)] first: Option<i32>,
    ) -> Result<Option<Vec<AdminOrder>>> {
        let n = page_size(first.unwrap_or(50), MAX_PAGE)?;
        let list =
            orders::resolve::by_status(ctx, status.map(OrderStatus::to_model), n as i32).await?;
        Ok(Some(list.into_iter().map(AdminOrder).collect()))
    }
}

/// `systemHealth`.
#[derive(Default)]
pub struct HealthQuery;

#[Object]
impl HealthQuery {
    /// Live state of every upstream service, shared by all clients.
    #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]))]
    async fn system_health(&self, ctx: &Context<'_>) -> Result<SystemHealth> {
        Ok(SystemHealth::new(runtime(ctx)?.services.health()))
    }
}

/// `rateLimit`: the caller's cost budget on this client (staff only, like
/// every admin field).
#[derive(Default)]
pub struct BudgetQuery;

#[Object]
impl BudgetQuery {
    /// The caller's cost budget for this client.
    #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]))]
    async fn rate_limit(&self, ctx: &Context<'_>) -> Result<RateLimit> {
        bff_core::cost::rate_limit_query::rate_limit(ctx)
    }
}
