//! Wire types of the users service, exactly as its JSON (camelCase).
//! Unknown fields are ignored so the service can grow without breaking us.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// `{"id","name","email","avatarUrl","tier","createdAt"}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct User {
    /// User id (`u1`, ...): the token's `sub` for that user.
    pub id: String,
    /// Display name.
    pub name: String,
    /// E-mail address (private: the client schemas restrict who sees it).
    pub email: String,
    /// Avatar image URL.
    #[serde(default)]
    pub avatar_url: Option<String>,
    /// Pricing tier (`free`, `pro`, `enterprise`).
    pub tier: String,
    /// When the account was created.
    pub created_at: DateTime<Utc>,
}
