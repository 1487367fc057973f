//! One file per GraphQL type of the web schema.

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

/// Clamps a client's `first` argument to what a page may hold.
pub(crate) fn page(first: i32, max: i32) -> usize {
    first.clamp(0, max) as usize
}
