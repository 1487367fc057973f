//! Wire types of the reviews service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `{"id","productId","userId","rating","body","createdAt"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Review {
    /// Review id.
    pub id: String,
    /// The product reviewed.
    pub product_id: String,
    /// The author.
    pub user_id: String,
    /// 1 to 5.
    pub rating: i32,
    /// The text.
    pub body: String,
    /// When it was posted.
    pub created_at: DateTime<Utc>,
}

/// Body of `POST /reviews`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReview {
    /// The product reviewed.
    pub product_id: String,
    /// The verified caller's id (the service also sees it as `X-User-Id`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// 1 to 5.
    pub rating: i32,
    /// The text.
    pub body: String,
}
