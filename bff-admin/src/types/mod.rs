//! One file per GraphQL type of the admin schema.

mod health;
mod order;
mod user;

pub use self::{
    health::{BreakerState, ServiceHealth, SystemHealth},
    order::{AdminOrder, OrderStatus, Payment},
    user::AdminUser,
};

/// A counter as a GraphQL `Int` (saturating: GraphQL ints are 32-bit).
pub(crate) fn int(n: u64) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}
