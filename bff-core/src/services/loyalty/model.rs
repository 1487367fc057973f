//! Wire types of the loyalty service. An account arrives as the JSON
//! object the forwarded selection asked for (keyed by the client's response
//! keys), so the client types read it by response key; only the names of
//! the schema are fixed here.

/// The entity type (`LoyaltyAccount @key(fields: "userId")`), in the
/// service's schema and in every client schema.
pub const ACCOUNT_TYPE: &str = "LoyaltyAccount";
