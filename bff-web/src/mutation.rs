//! `placeOrder` and `addReview`.

use async_graphql::{Context, ErrorExtensions, InputObject, Object, Result, ID};
use bff_core::cost::directives::cost;
use bff_core::{
    auth::directives::{authenticated, requires_scopes},
    services::{orders, reviews},
};

use crate::types::{Order, Review};

/// One line of an order to place.
#[derive(InputObject)]
pub struct OrderItemInput {
    pub product_id: ID,
    pub quantity: i32,
}

/// What `placeOrder` needs.
#[derive(InputObject)]
pub struct PlaceOrderInput {
    pub items: Vec<OrderItemInput>,
    /// Makes retries safe: the same key places the order once. The gateway
    /// generates one when absent, so its own retries never double-place.
    pub idempotency_key: Option<String>,
}

/// The web root mutation.
#[derive(Default)]
pub struct Mutation;

fn bad_input(message: &str) -> async_graphql::Error {
    async_graphql::Error::new(message).extend_with(|_, e| e.set("code", "BAD_USER_INPUT"))
}

#[Object]
impl Mutation {
    /// Places an order for the signed-in user (idempotent by key).
    #[graphql(
        directive = authenticated::apply(),
        directive = requires_scopes::apply(vec![vec!["orders:write".to_string()]]),
        directive = cost::apply(10)
    )]
    async fn place_order(&self, ctx: &Context<'_>, input: PlaceOrderInput) -> Result<Order> {
        if input.items.is_empty() {
            return Err(bad_input("an order needs at least one item"));
        }
        if input
            .items
            .iter()
            .any(|i| i.quantity < 1 || i.quantity > 1_000)
        {
            return Err(bad_input("quantities must be between 1 and 1000"));
        }
        let items = input
            .items
            .into_iter()
            .map(|i| (i.product_id.to_string(), i.quantity))
            .collect();
        let order = orders::resolve::place(ctx, items, input.idempotency_key).await?;
        Ok(Order(order))
    }

    /// Adds a review by the signed-in user.
    #[graphql(
        directive = authenticated::apply(),
        directive = requires_scopes::apply(vec![vec!["reviews:write".to_string()]]),
        directive = cost::apply(10)
    )]
    async fn add_review(
        &self,
        ctx: &Context<'_>,
        product_id: ID,
        rating: i32,
        body: String,
    ) -> Result<Review> {
        if !(1..=5).contains(&rating) {
            return Err(bad_input("rating must be between 1 and 5"));
        }
        if body.chars().count() > 5_000 {
            return Err(bad_input("a review body has at most 5000 characters"));
        }
        let review = reviews::resolve::add(ctx, &product_id, rating, &body).await?;
        Ok(Review(review))
    }
}
