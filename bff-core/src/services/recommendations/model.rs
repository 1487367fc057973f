//! Wire types of the recommendations service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use serde::{Deserialize, Serialize};

/// `{"userId","productIds":[...]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recommendation {
    /// The user the products are recommended to.
    pub user_id: String,
    /// Recommended product ids, best first.
    #[serde(default)]
    pub product_ids: Vec<String>,
}
