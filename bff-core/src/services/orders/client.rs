//! Typed calls to the orders service over [`Upstream`](crate::services::upstream::Upstream).
//!
//! # Idempotency keys are the caller's
//!
//! The orders service keeps one namespace of `Idempotency-Key`s for
//! everyone: a key it has seen returns the order it made for that key. A
//! client's key is the client's choice (`checkout-1`), so two callers can
//! pick the same one, and the second would be handed the first one's
//! order. The key sent upstream is therefore never the client's key itself
//! but [`scoped_idempotency_key`]: a SHA-256 over the caller's verified
//! identity (`sub`), the gateway client they came through, and the client's
//! key, each length-prefixed so that no two different triples encode alike.
//! The same caller repeating a key reaches the same upstream key (a retry
//! is still a replay); two callers never share one.
//!
//! The service also remembers what each key was used for: the same key with
//! another order is answered 422, which [`PlaceError::KeyReused`] reports
//! as the caller's mistake (never retried, and no mark against the
//! service's health: the upstream layer treats a 4xx as an answer).

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::{
    model::{NewOrder, Order, OrderStatus},
    Orders,
};
use crate::{
    context::{ClientKind, RequestContext},
    services::{
        support::batched,
        upstream::{encode, Fetched, UpstreamError},
    },
};

impl Orders {
    /// `GET /orders?ids=` in chunks of 100; unknown ids are simply absent.
    pub async fn by_ids(
        &self,
        ctx: &RequestContext,
        ids: &[String],
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        batched(ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/orders?ids={chunk}"))
                .await
        })
        .await
    }

    /// `GET /orders?userIds=&limit=`: at most `limit` orders per user,
    /// newest first, in chunks of 100 users.
    pub async fn by_users(
        &self,
        ctx: &RequestContext,
        user_ids: &[String],
        limit: u32,
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        batched(user_ids, |chunk| async move {
            self.upstream
                .get_json(ctx, &format!("/orders?userIds={chunk}&limit={limit}"))
                .await
        })
        .await
    }

    /// `GET /orders?status=&limit=` (no status: every status).
    pub async fn by_status(
        &self,
        ctx: &RequestContext,
        status: Option<OrderStatus>,
        limit: u32,
    ) -> Result<Fetched<Vec<Arc<Order>>>, UpstreamError> {
        let path = match status {
            Some(s) => format!("/orders?status={}&limit={limit}", encode(s.as_str())),
            None => format!("/orders?limit={limit}"),
        };
        Ok(self
            .upstream
            .get_json(ctx, &path)
            .await?
            .map(|list: Arc<Vec<_>>| list.to_vec()))
    }

    /// `POST /orders` with an `Idempotency-Key` scoped to the caller (see
    /// the module docs): derived from `client_key` when the client sent
    /// one, else a new UUID (a retry of the gateway's own then stays one
    /// order). On success, drops the cached order lists the new order makes
    /// stale.
    pub async fn place(
        &self,
        ctx: &RequestContext,
        order: &NewOrder,
        client_key: Option<&str>,
    ) -> Result<Order, PlaceError> {
        let key = match client_key {
            Some(key) => scoped_idempotency_key(
                ctx.client,
                ctx.caller.identity.as_ref().map(|id| id.sub.as_str()),
                key,
            ),
            None => uuid::Uuid::new_v4().to_string(),
        };
        let placed: Order = self
            .upstream
            .post_json(ctx, "/orders", order, Some(&key))
            .await
            .map_err(|err| match err {
                UpstreamError::Status { status: 422, .. } => PlaceError::KeyReused,
                other => PlaceError::Upstream(other),
            })?;
        // Lookups by id cannot hold the new order; every list may miss it.
        self.upstream
            .invalidate(|path| path.starts_with("/orders?") && !path.starts_with("/orders?ids="));
        Ok(placed)
    }
}

/// Why an order was not placed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The caller already used this idempotency key for a different order
    /// (the service answered 422).
    #[error("this idempotency key was already used with a different input")]
    KeyReused,
    /// The call failed like any other upstream call.
    #[error(transparent)]
    Upstream(UpstreamError),
}

/// The `Idempotency-Key` sent upstream for `key` from a caller: lowercase
/// hex SHA-256 of a domain tag, the gateway client, whether there is a
/// verified `sub` and the `sub`, and the client's key, each part prefixed
/// by its length (8 bytes, big endian).
pub fn scoped_idempotency_key(client: ClientKind, sub: Option<&str>, key: &str) -> String {
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(b"bff/idempotency-key/v1");
    part(client.as_str().as_bytes());
    match sub {
        Some(sub) => {
            part(b"sub");
            part(sub.as_bytes());
        }
        None => part(b"anonymous"),
    }
    part(key.as_bytes());
    hash.finalize()
        .iter()
        .fold(String::with_capacity(64), |mut out, b| {
            use std::fmt::Write as _;
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_callers_with_one_client_key_get_different_upstream_keys() {
        let web = ClientKind::Web;
        let u1 = scoped_idempotency_key(web, Some("u1"), "checkout-1");
        let u2 = scoped_idempotency_key(web, Some("u2"), "checkout-1");
        assert_ne!(u1, u2);
        assert_eq!(u1, scoped_idempotency_key(web, Some("u1"), "checkout-1"));
        assert_eq!(u1.len(), 64);
        assert!(u1.bytes().all(|b| b.is_ascii_hexdigit()));
        // The client the caller came through is part of the scope.
        assert_ne!(
            u1,
            scoped_idempotency_key(ClientKind::Mobile, Some("u1"), "checkout-1")
        );
        // Anonymous is not the empty `sub`.
        assert_ne!(
            scoped_idempotency_key(web, None, "k"),
            scoped_idempotency_key(web, Some(""), "k")
        );
    }

    #[test]
    fn the_encoding_cannot_move_bytes_between_sub_and_key() {
        let web = ClientKind::Web;
        assert_ne!(
            scoped_idempotency_key(web, Some("u1"), "2-checkout"),
            scoped_idempotency_key(web, Some("u12"), "-checkout")
        );
        assert_ne!(
            scoped_idempotency_key(web, Some("ab"), "c"),
            scoped_idempotency_key(web, Some("a"), "bc")
        );
    }
}
