//! The root query: one small part per concern, merged.

use async_graphql::{Context, MergedObject, Object, Result, ID};
use bff_core::cost::directives::{cost, list_size};
use bff_core::cost::RateLimitQuery;
use bff_core::{
    auth::{self, directives::authenticated},
    errors::ErrorCode,
    services::{orders, products, users},
};

use crate::types::{page, Order, Product, User, MAX_PAGE};

/// The web root query.
#[derive(MergedObject, Default)]
pub struct Query(MeQuery, CatalogQuery, OrderQuery, RateLimitQuery);

/// `me` and `user(id)`.
#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    /// The signed-in user.
    #[graphql(directive = authenticated::apply(), directive = cost::apply(1))]
    async fn me(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        // `@authenticated` ran before this resolver; the identity is there.
        let Some(identity) = auth::identity(ctx) else {
            return Err(ErrorCode::Unauthenticated.error("`me` needs a signed-in user"));
        };
        Ok(users::resolve::by_id(ctx, &identity.sub).await?.map(User))
    }

    /// A user by id (public profile; private fields need ownership).
    #[graphql(directive = cost::apply(1))]
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>> {
        Ok(users::resolve::by_id(ctx, &id).await?.map(User))
    }
}

/// `product(id)` and `products(...)`.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// A product by id.
    #[graphql(directive = cost::apply(1))]
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        Ok(products::resolve::by_id(ctx, &id).await?.map(Product))
    }

    /// A page of the catalogue, optionally of one category.
    #[graphql(directive = cost::apply(1), directive = list_size::apply(Some(20), Some(vec!["first".to_string()])))]
    async fn products(
        &self,
        ctx: &Context<'_>,
        category: Option<String>,
        #[graphql(default = 20)] first: i32,
        #[graphql(default = 0)] offset: i32,
    ) -> Result<Option<Vec<Product>>> {
        let n = page(first, MAX_PAGE)?;
        let list = products::resolve::list(ctx, category.as_deref(), n as i32, offset).await?;
        Ok(Some(list.into_iter().map(Product).collect()))
    }
}

/// `order(id)`.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// An order by id: the owner's own, or any for support and admin.
    #[graphql(directive = authenticated::apply(), directive = cost::apply(1))]
    async fn order(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Order>> {
        let Some(order) = orders::resolve::by_id(ctx, &id).await? else {
            return Ok(None);
        };
        auth::require_owner_or_staff(ctx, &order.user_id)?;
        Ok(Some(Order(order)))
    }
}
