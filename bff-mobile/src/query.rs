//! The root query: one small part per screen, merged.

use async_graphql::{Context, MergedObject, Object, Result, ID};
use bff_core::cost::directives::cost;
use bff_core::cost::RateLimitQuery;
use bff_core::{auth::directives::authenticated, services::products};

use crate::{
    access,
    types::{Home, ProductCard},
};

/// The mobile root query.
#[derive(MergedObject, Default)]
pub struct Query(HomeQuery, ProductQuery, RateLimitQuery);

/// `home`.
#[derive(Default)]
pub struct HomeQuery;

#[Object]
impl HomeQuery {
    /// The home screen of the signed-in user, in one round trip.
    #[graphql(directive = authenticated::apply())]
    async fn home(&self, ctx: &Context<'_>) -> Result<Home> {
        let identity = access::identity(ctx)?;
        Ok(Home::new(identity.sub))
    }
}

/// `product(id)`.
#[derive(Default)]
pub struct ProductQuery;

#[Object]
impl ProductQuery {
    /// A product as the app's product screen draws it.
    #[graphql(directive = cost::apply(1))]
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<ProductCard>> {
        Ok(products::resolve::by_id(ctx, &id).await?.map(ProductCard))
    }
}
