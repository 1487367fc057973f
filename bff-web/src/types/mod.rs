//! One file per GraphQL type of the web schema.
//!
//! Types whose fields wait on at most one fetch (`Review`, `OrderItem`,
//! `Stock`, `Shipment`, `Payment`, and `Money` in `bff-core`) are declared
//! `serial`: async-graphql then awaits their fields one after another
//! instead of through a `FuturesUnordered` per object, which is most of the
//! executor's cost on a list of small objects. Items of a list still
//! resolve concurrently, so their fetches still batch. A type with two
//! fetching fields (`Order`: `items`' products and `shipment`; `Product`;
//! `User`) stays concurrent, or its fetches would run one after the other.

mod order;
mod product;
mod review;
mod shipment;
mod stock;
mod user;

pub use self::{
    order::{Order, OrderItem, OrderStatus, Payment},
    product::Product,
    review::Review,
    shipment::Shipment,
    stock::Stock,
    user::User,
};

/// A client's `first` argument as a page size: over `max` (or negative) it
/// is a `BAD_USER_INPUT` error naming the maximum, never a silent cut.
pub(crate) fn page(first: i32, max: u32) -> async_graphql::Result<usize> {
    bff_core::errors::page_size(first, max)
}

/// Largest page of a list field whose service pages by 100.
pub(crate) const MAX_PAGE: u32 = 100;
