//! The `loyalty` demo service: a GraphQL API in the shape of an Apollo
//! Federation v2 subgraph (`docs/contract.md` §4.1), built with
//! async-graphql's federation support (`enable_federation()`,
//! `#[graphql(entity)]`).
//!
//! # `_entities`, fixed
//! async-graphql 7.2 resolves `_entities` with one `try_join_all`: an
//! unknown user fails the whole list ("Entity not found.") and an error
//! inside one entity is reported at `["_entities", "<field>"]` with no index
//! (`docs/pitfalls.md` #13). A federation subgraph answers `null` for an
//! unknown entity and nulls only the entity that failed, at
//! `["_entities", i, ...]`. So when the operation's only root field is
//! `_entities` with its representations in a variable, the handler resolves
//! each representation on its own (the same document, the variable holding
//! that one representation) and assembles the list: unknown users are
//! `null` without an error, a failed entity is `null` with its errors moved
//! under its index. Any other document runs as it is.
//!
//! # Data
//! Deterministic per user `uN`: `points = (N × 7919) mod 12000`, the tier
//! by points (< 3,000 BRONZE, < 7,000 SILVER, < 10,000 GOLD, else
//! PLATINUM), and 3 to 10 history events derived from `N`.
//!
//! # Faults
//! Besides the common ones (`down`, `latencyMs`, `status`), `failUserIds`
//! makes the listed users' accounts fail (the entity errors) so partial
//! failure can be tested.

use std::sync::{Arc, OnceLock};

use async_graphql::{
    parser::types::{DocumentOperations, OperationType, Selection},
    Context, EmptyMutation, EmptySubscription, Enum, Object, Schema, SimpleObject, Variables, ID,
};
use axum::{
    body::Bytes,
    extract::State,
    response::{IntoResponse, Response},
    Json,
};
use serde::Deserialize;
use serde_json::{json, Map, Value as Json_};

use crate::{control::bad_request, Instance};

/// Largest `history(first:)` honoured.
const MAX_HISTORY: i32 = 50;

/// Why an account's points were earned or spent.
const REASONS: [&str; 5] = ["purchase", "review", "referral", "redemption", "birthday"];

/// The number of a user id `uN`.
fn user_number(user_id: &str) -> Option<u64> {
    user_id.strip_prefix('u')?.parse().ok()
}

/// `(N × 7919) mod 12000`.
pub fn points_of(n: u64) -> i64 {
    ((n.wrapping_mul(7919)) % 12000) as i64
}

/// The tier of a points balance.
pub fn tier_of(points: i64) -> &'static str {
    match points {
        p if p < 3000 => "BRONZE",
        p if p < 7000 => "SILVER",
        p if p < 10000 => "GOLD",
        _ => "PLATINUM",
    }
}

/// Membership level, by points.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Debug)]
enum LoyaltyTier {
    Bronze,
    Silver,
    Gold,
    Platinum,
}

/// One change of a balance.
#[derive(SimpleObject, Clone, Debug)]
struct PointsEvent {
    /// RFC 3339.
    at: String,
    delta: i32,
    reason: String,
}

/// A user's loyalty account.
struct LoyaltyAccount {
    user_id: String,
    n: u64,
}

#[Object]
impl LoyaltyAccount {
    async fn user_id(&self) -> ID {
        ID(self.user_id.clone())
    }

    async fn points(&self) -> i32 {
        points_of(self.n) as i32
    }

    async fn tier(&self) -> LoyaltyTier {
        match tier_of(points_of(self.n)) {
            "BRONZE" => LoyaltyTier::Bronze,
            "SILVER" => LoyaltyTier::Silver,
            "GOLD" => LoyaltyTier::Gold,
            _ => LoyaltyTier::Platinum,
        }
    }

    /// Newest first.
    async fn history(&self, #[graphql(default = 5)] first: i32) -> Vec<PointsEvent> {
        let count = 3 + (self.n % 8) as i32;
        (0..count.min(first.clamp(0, MAX_HISTORY)))
            .map(|k| {
                let k = k as u64;
                let reason = REASONS[((self.n + k) % 5) as usize];
                let amount = ((self.n * 37 + k * 101) % 400) as i32 + 10;
                PointsEvent {
                    at: format!("2026-{:02}-{:02}T12:00:00Z", 12 - k / 2, 28 - (k % 2) * 14),
                    delta: if reason == "redemption" {
                        -amount
                    } else {
                        amount
                    },
                    reason: reason.to_string(),
                }
            })
            .collect()
    }
}

/// The request's view of the instance: which users exist and which fail.
struct Lookup {
    instance: Arc<Instance>,
    failing: Vec<String>,
}

impl Lookup {
    fn account(&self, user_id: &str) -> async_graphql::Result<Option<LoyaltyAccount>> {
        if self.failing.iter().any(|u| u == user_id) {
            return Err("loyalty ledger unavailable for this account".into());
        }
        Ok(self
            .instance
            .data
            .user(user_id)
            .and_then(|_| user_number(user_id))
            .map(|n| LoyaltyAccount {
                user_id: user_id.to_string(),
                n,
            }))
    }
}

struct Query;

#[Object]
impl Query {
    /// The account of a user (`null`: no account).
    async fn loyalty_account(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<Option<LoyaltyAccount>> {
        ctx.data::<Lookup>()?.account(&user_id)
    }

    /// The federation entry point for `LoyaltyAccount @key(fields: "userId")`.
    #[graphql(entity)]
    async fn find_account_by_user_id(
        &self,
        ctx: &Context<'_>,
        user_id: ID,
    ) -> async_graphql::Result<LoyaltyAccount> {
        ctx.data::<Lookup>()?
            .account(&user_id)?
            .ok_or_else(|| "no loyalty account".into())
    }
}

type LoyaltySchema = Schema<Query, EmptyMutation, EmptySubscription>;

/// The subgraph's schema (built once).
fn schema() -> &'static LoyaltySchema {
    static SCHEMA: OnceLock<LoyaltySchema> = OnceLock::new();
    SCHEMA.get_or_init(|| {
        Schema::build(Query, EmptyMutation, EmptySubscription)
            .enable_federation()
            .finish()
    })
}

/// The subgraph's SDL with the federation directives (what `_service { sdl }` answers).
pub fn sdl() -> String {
    schema().sdl_with_options(async_graphql::SDLExportOptions::new().federation())
}

/// A GraphQL-over-HTTP request body.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct GqlRequest {
    query: String,
    #[serde(default)]
    variables: Option<Map<String, Json_>>,
    #[serde(default)]
    operation_name: Option<String>,
}

/// `POST /graphql`.
pub async fn graphql(State(instance): State<Arc<Instance>>, body: Bytes) -> Response {
    let Ok(req) = serde_json::from_slice::<GqlRequest>(&body) else {
        return bad_request("expected a JSON body {query, variables?, operationName?}");
    };
    let variables = req.variables.unwrap_or_default();
    let entities = entities_variable(&req.query, req.operation_name.as_deref());
    let representations = entities
        .as_ref()
        .and_then(|name| variables.get(name))
        .and_then(Json_::as_array)
        .cloned();
    instance.control.record_graphql(
        representations.as_ref().map(Vec::len),
        json!({ "query": req.query, "variables": variables }),
    );
    let lookup = || Lookup {
        instance: instance.clone(),
        failing: instance.control.faults().fail_user_ids,
    };
    let run = |variables: Map<String, Json_>| {
        let mut request = async_graphql::Request::new(req.query.clone())
            .variables(Variables::from_json(Json_::Object(variables)))
            .data(lookup());
        if let Some(op) = &req.operation_name {
            request = request.operation_name(op.clone());
        }
        schema().execute(request)
    };
    let (Some(name), Some(representations)) = (entities, representations) else {
        let response = run(variables).await;
        return Json(serde_json::to_value(&response).unwrap_or(Json_::Null)).into_response();
    };
    let mut list = Vec::with_capacity(representations.len());
    let mut errors = Vec::new();
    for (i, representation) in representations.into_iter().enumerate() {
        let known = representation["__typename"] == "LoyaltyAccount"
            && representation["userId"]
                .as_str()
                .is_some_and(|u| instance.data.user(u).is_some());
        let failing = representation["userId"].as_str().is_some_and(|u| {
            instance
                .control
                .faults()
                .fail_user_ids
                .iter()
                .any(|f| f == u)
        });
        if !known && !failing {
            list.push(Json_::Null);
            continue;
        }
        let mut vars = variables.clone();
        vars.insert(name.clone(), Json_::Array(vec![representation]));
        let answer = serde_json::to_value(&run(vars).await).unwrap_or(Json_::Null);
        let own_errors = answer["errors"].as_array().cloned().unwrap_or_default();
        if own_errors.is_empty() {
            list.push(answer["data"]["_entities"][0].clone());
            continue;
        }
        list.push(Json_::Null);
        for mut error in own_errors {
            error["path"] = entity_path(&error["path"], i);
            errors.push(error);
        }
    }
    let mut body = json!({ "data": { "_entities": list } });
    if !errors.is_empty() {
        body["errors"] = Json_::Array(errors);
    }
    Json(body).into_response()
}

/// `path` of an error raised while resolving one representation alone, moved
/// under index `i`: `["_entities", 0, ...]`, `["_entities", "<field>"]`
/// (async-graphql's shape) and `["_entities"]` all become
/// `["_entities", i, ...]`.
fn entity_path(path: &Json_, i: usize) -> Json_ {
    let mut out = vec![json!("_entities"), json!(i)];
    if let Some(parts) = path.as_array() {
        let rest = parts.iter().skip(1);
        let rest: Vec<Json_> = match parts.get(1) {
            Some(Json_::Number(_)) => rest.skip(1).cloned().collect(),
            _ => rest.cloned().collect(),
        };
        out.extend(rest);
    }
    Json_::Array(out)
}

/// The variable holding `_entities`' representations when the selected
/// operation is a query whose only root field is `_entities`.
fn entities_variable(query: &str, operation_name: Option<&str>) -> Option<String> {
    let doc = async_graphql::parser::parse_query(query).ok()?;
    let operation = match (&doc.operations, operation_name) {
        (DocumentOperations::Single(op), _) => op,
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name)?,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next()?,
        _ => return None,
    };
    if operation.node.ty != OperationType::Query {
        return None;
    }
    let items = &operation.node.selection_set.node.items;
    let [item] = items.as_slice() else {
        return None;
    };
    let Selection::Field(field) = &item.node else {
        return None;
    };
    if field.node.name.node != "_entities" {
        return None;
    }
    field
        .node
        .get_argument("representations")
        .and_then(|v| match &v.node {
            async_graphql_value::Value::Variable(name) => Some(name.to_string()),
            _ => None,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn points_and_tiers_follow_the_contract() {
        assert_eq!(points_of(1), 7919);
        assert_eq!(tier_of(points_of(1)), "GOLD");
        assert_eq!(points_of(2), 3838);
        assert_eq!(tier_of(2999), "BRONZE");
        assert_eq!(tier_of(3000), "SILVER");
        assert_eq!(tier_of(10000), "PLATINUM");
    }

    #[test]
    fn the_sdl_is_a_federation_subgraph() {
        let sdl = sdl();
        assert!(sdl.contains("@key(fields: \"userId\")"), "{sdl}");
    }

    #[test]
    fn entity_paths_move_under_their_index() {
        assert_eq!(
            entity_path(&json!(["_entities", 0, "points"]), 3),
            json!(["_entities", 3, "points"])
        );
        assert_eq!(
            entity_path(&json!(["_entities", "points"]), 2),
            json!(["_entities", 2, "points"])
        );
        assert_eq!(
            entity_path(&json!(["_entities"]), 1),
            json!(["_entities", 1])
        );
    }
}
