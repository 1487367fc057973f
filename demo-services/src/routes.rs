//! The REST routes of each demo service, exactly as docs/contract.md §4 lists them.
//!
//! Common rules: JSON bodies; `GET /<collection>?ids=a,b,c` answers the items
//! found in any order, unknown ids omitted, at most 100 ids (more: 400);
//! `GET /<collection>/<id>` answers 404 `{"error": ...}` for an unknown id.
//! `limit` defaults to 20 and is capped at 100; `offset` defaults to 0.

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::json;

use crate::{
    control::bad_request,
    data::{Order, OrderItem, Payment, Review},
    Instance,
};

/// Most ids one batch call may carry.
pub const MAX_IDS: usize = 100;
/// `limit` when none is given.
pub const DEFAULT_LIMIT: usize = 20;
/// Largest `limit` honoured.
pub const MAX_LIMIT: usize = 100;

type Params = Query<HashMap<String, String>>;
type Shared = State<Arc<Instance>>;

fn not_found(what: &str, id: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": format!("{what} {id} not found") })),
    )
        .into_response()
}

/// Parses `ids`-style parameters: `Ok(None)` when absent, 400 over 100.
fn id_list(params: &HashMap<String, String>, name: &str) -> Result<Option<Vec<String>>, Response> {
    let Some(raw) = params.get(name) else {
        return Ok(None);
    };
    let ids: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    if ids.len() > MAX_IDS {
        return Err(bad_request(&format!(
            "at most {MAX_IDS} ids per call, got {}",
            ids.len()
        )));
    }
    Ok(Some(ids))
}

fn number(params: &HashMap<String, String>, name: &str, default: usize) -> Result<usize, Response> {
    match params.get(name) {
        None => Ok(default),
        Some(v) if v.is_empty() => Ok(default),
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad_request(&format!("`{name}` must be a non-negative integer"))),
    }
}

fn limit(params: &HashMap<String, String>) -> Result<usize, Response> {
    Ok(number(params, "limit", DEFAULT_LIMIT)?.min(MAX_LIMIT))
}

/// `GET /health`.
pub async fn health() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

// ---- users ----

/// `GET /users/{id}`.
pub async fn user(State(s): Shared, Path(id): Path<String>) -> Response {
    match s.data.user(&id) {
        Some(u) => Json(u.as_ref()).into_response(),
        None => not_found("user", &id),
    }
}

/// `GET /users?ids=` or `GET /users?limit=&offset=` (with `X-Total-Count`).
pub async fn users(State(s): Shared, Query(p): Params) -> Response {
    match id_list(&p, "ids") {
        Err(r) => r,
        Ok(Some(ids)) => {
            let found: Vec<_> = ids.iter().filter_map(|id| s.data.user(id)).collect();
            Json(found).into_response()
        }
        Ok(None) => {
            let (limit, offset) = match (limit(&p), number(&p, "offset", 0)) {
                (Ok(l), Ok(o)) => (l, o),
                (Err(r), _) | (_, Err(r)) => return r,
            };
            let page: Vec<_> = s.data.users.iter().skip(offset).take(limit).collect();
            let mut resp = Json(page).into_response();
            if let Ok(v) = HeaderValue::from_str(&s.data.users.len().to_string()) {
                resp.headers_mut().insert("x-total-count", v);
            }
            resp
        }
    }
}

// ---- products ----

fn cacheable(s: &Instance, mut resp: Response) -> Response {
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, s.cache_control.clone());
    resp
}

/// `GET /products/{id}`.
pub async fn product(State(s): Shared, Path(id): Path<String>) -> Response {
    cacheable(
        &s,
        match s.data.product(&id) {
            Some(p) => Json(p.as_ref()).into_response(),
            None => not_found("product", &id),
        },
    )
}

/// `GET /products?ids=` or `GET /products?category=&limit=&offset=`.
pub async fn products(State(s): Shared, Query(p): Params) -> Response {
    cacheable(
        &s,
        match id_list(&p, "ids") {
            Err(r) => r,
            Ok(Some(ids)) => {
                let found: Vec<_> = ids.iter().filter_map(|id| s.data.product(id)).collect();
                Json(found).into_response()
            }
            Ok(None) => {
                let (limit, offset) = match (limit(&p), number(&p, "offset", 0)) {
                    (Ok(l), Ok(o)) => (l, o),
                    (Err(r), _) | (_, Err(r)) => return r,
                };
                let category = p.get("category").filter(|c| !c.is_empty());
                let page: Vec<_> = s
                    .data
                    .products
                    .iter()
                    .filter(|prod| category.is_none_or(|c| &prod.category == c))
                    .skip(offset)
                    .take(limit)
                    .collect();
                Json(page).into_response()
            }
        },
    )
}

// ---- orders ----

/// `GET /orders/{id}`.
pub async fn order(State(s): Shared, Path(id): Path<String>) -> Response {
    let Ok(m) = s.data.mutable.read() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    match m.order_index.get(&id) {
        Some(&i) => Json(m.orders[i].as_ref()).into_response(),
        None => not_found("order", &id),
    }
}

/// `GET /orders?ids=` | `?userId=&limit=&offset=` | `?userIds=a,b&limit=` | `?status=&limit=`.
pub async fn orders(State(s): Shared, Query(p): Params) -> Response {
    let Ok(m) = s.data.mutable.read() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let limit = match limit(&p) {
        Ok(l) => l,
        Err(r) => return r,
    };
    if let Some(ids) = match id_list(&p, "ids") {
        Ok(ids) => ids,
        Err(r) => return r,
    } {
        let found: Vec<&Order> = ids
            .iter()
            .filter_map(|id| m.order_index.get(id).map(|&i| m.orders[i].as_ref()))
            .collect();
        return Json(found).into_response();
    }
    if let Some(users) = match id_list(&p, "userIds") {
        Ok(u) => u,
        Err(r) => return r,
    } {
        let found: Vec<&Order> = users
            .iter()
            .flat_map(|u| {
                m.orders_by_user
                    .get(u)
                    .into_iter()
                    .flatten()
                    .take(limit)
                    .map(|&i| m.orders[i].as_ref())
            })
            .collect();
        return Json(found).into_response();
    }
    if let Some(user) = p.get("userId") {
        let offset = match number(&p, "offset", 0) {
            Ok(o) => o,
            Err(r) => return r,
        };
        let found: Vec<&Order> = m
            .orders_by_user
            .get(user)
            .into_iter()
            .flatten()
            .skip(offset)
            .take(limit)
            .map(|&i| m.orders[i].as_ref())
            .collect();
        return Json(found).into_response();
    }
    let status = p.get("status").filter(|s| !s.is_empty());
    let found: Vec<&Order> = m
        .orders
        .iter()
        .rev()
        .filter(|o| status.is_none_or(|s| &o.status == s))
        .take(limit)
        .map(AsRef::as_ref)
        .collect();
    Json(found).into_response()
}

/// Body of `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrder {
    #[serde(default)]
    user_id: Option<String>,
    items: Vec<NewOrderItem>,
}

/// One line of `POST /orders`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewOrderItem {
    product_id: String,
    quantity: i64,
}

/// `POST /orders`: user from `X-User-Id` (else the body); `Idempotency-Key`
/// replays return the first order (200) instead of creating another (201);
/// the same key with a different user or items is refused with 422 (as
/// Stripe does), never answered with the first order.
pub async fn create_order(
    State(s): Shared,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(new) = serde_json::from_slice::<NewOrder>(&body) else {
        return bad_request("body must be {\"items\": [{\"productId\", \"quantity\"}]}");
    };
    let user_id = headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(new.user_id);
    let Some(user_id) = user_id.filter(|u| s.data.user(u).is_some()) else {
        return bad_request("a known user is required (X-User-Id or userId)");
    };
    if new.items.is_empty() || new.items.iter().any(|i| i.quantity < 1) {
        return bad_request("an order needs items with a positive quantity");
    }
    let mut items = Vec::with_capacity(new.items.len());
    for item in &new.items {
        let Some(product) = s.data.product(&item.product_id) else {
            return bad_request(&format!("unknown product {}", item.product_id));
        };
        items.push(OrderItem {
            product_id: product.id.clone(),
            quantity: item.quantity,
            unit_price_cents: product.price_cents,
        });
    }
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let Ok(mut m) = s.data.mutable.write() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let fingerprint = order_fingerprint(&user_id, &new.items);
    if let Some(&(i, first)) = key.as_ref().and_then(|k| m.idempotency.get(k)) {
        if first != fingerprint {
            return (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({
                    "error": "this Idempotency-Key was already used with a different request"
                })),
            )
                .into_response();
        }
        return (StatusCode::OK, Json(m.orders[i].as_ref())).into_response();
    }
    m.next_order += 1;
    let total = items.iter().map(|i| i.quantity * i.unit_price_cents).sum();
    let order = Order {
        id: format!("o{}", m.next_order),
        user_id,
        status: "PENDING".to_string(),
        items,
        total_cents: total,
        currency: "USD".to_string(),
        created_at: m.tick(),
        payment: Payment {
            method: "card".to_string(),
            last4: "4242".to_string(),
        },
    };
    let index = m.insert_order(order);
    if let Some(k) = key {
        m.idempotency.insert(k, (index, fingerprint));
    }
    (StatusCode::CREATED, Json(m.orders[index].as_ref())).into_response()
}

/// SHA-256 of what a placement asks for (the user, then each item's product
/// and quantity, in order), every part length-prefixed.
fn order_fingerprint(user_id: &str, items: &[NewOrderItem]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    let mut part = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_be_bytes());
        hash.update(bytes);
    };
    part(user_id.as_bytes());
    for item in items {
        part(item.product_id.as_bytes());
        part(&item.quantity.to_be_bytes());
    }
    hash.finalize().into()
}

// ---- reviews ----

/// `GET /reviews?productIds=a,b&limit=`: at most `limit` per product, newest first.
pub async fn reviews(State(s): Shared, Query(p): Params) -> Response {
    let limit = match limit(&p) {
        Ok(l) => l,
        Err(r) => return r,
    };
    let products = match id_list(&p, "productIds") {
        Ok(Some(ids)) => ids,
        Ok(None) => return bad_request("`productIds` is required"),
        Err(r) => return r,
    };
    let Ok(m) = s.data.mutable.read() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let found: Vec<&Review> = products
        .iter()
        .flat_map(|pid| {
            m.reviews_by_product
                .get(pid)
                .into_iter()
                .flatten()
                .take(limit)
                .map(|&i| m.reviews[i].as_ref())
        })
        .collect();
    Json(found).into_response()
}

/// Body of `POST /reviews`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewReview {
    product_id: String,
    rating: i64,
    body: String,
    #[serde(default)]
    user_id: Option<String>,
}

/// `POST /reviews`: user from `X-User-Id` (else the body); rating 1 to 5.
pub async fn create_review(
    State(s): Shared,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let Ok(new) = serde_json::from_slice::<NewReview>(&body) else {
        return bad_request("body must be {\"productId\", \"rating\", \"body\"}");
    };
    if !(1..=5).contains(&new.rating) {
        return bad_request("rating must be between 1 and 5");
    }
    if s.data.product(&new.product_id).is_none() {
        return bad_request(&format!("unknown product {}", new.product_id));
    }
    let user_id = headers
        .get("x-user-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(new.user_id);
    let Some(user_id) = user_id.filter(|u| s.data.user(u).is_some()) else {
        return bad_request("a known user is required (X-User-Id or userId)");
    };
    let Ok(mut m) = s.data.mutable.write() else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    m.next_review += 1;
    let review = Review {
        id: format!("r{}", m.next_review),
        product_id: new.product_id,
        user_id,
        rating: new.rating,
        body: new.body,
        created_at: m.tick(),
    };
    let index = m.insert_review(review);
    (StatusCode::CREATED, Json(m.reviews[index].as_ref())).into_response()
}

// ---- inventory (legacy) ----

/// `GET /stock/{sku}`: the legacy format, no batch route.
pub async fn stock(State(s): Shared, Path(sku): Path<String>) -> Response {
    match s.data.stock.get(&sku) {
        Some(st) => Json(st.as_ref()).into_response(),
        None => not_found("sku", &sku),
    }
}

// ---- recommendations ----

/// `GET /recommendations/{userId}?limit=`.
pub async fn recommendations(
    State(s): Shared,
    Path(user_id): Path<String>,
    Query(p): Params,
) -> Response {
    let limit = match limit(&p) {
        Ok(l) => l,
        Err(r) => return r,
    };
    match s.data.recommendations.get(&user_id) {
        Some(ids) => {
            let ids: Vec<&String> = ids.iter().take(limit).collect();
            Json(json!({"userId": user_id, "productIds": ids})).into_response()
        }
        None => not_found("user", &user_id),
    }
}

// ---- shipping ----

/// `GET /shipments?orderIds=a,b`.
pub async fn shipments(State(s): Shared, Query(p): Params) -> Response {
    match id_list(&p, "orderIds") {
        Err(r) => r,
        Ok(None) => bad_request("`orderIds` is required"),
        Ok(Some(ids)) => {
            let found: Vec<_> = ids
                .iter()
                .filter_map(|id| s.data.shipments.get(id).map(AsRef::as_ref))
                .collect();
            Json(found).into_response()
        }
    }
}
