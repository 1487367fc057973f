//! Cost and budgets (docs/contract.md §3) through the HTTP surface:
//! operation limits, static cost, budgets and refunds, and the Redis
//! backend shared by two gateways.

mod budgets;
mod limits;
mod pricing;
pub(crate) mod redis;

use serde_json::Value;

use crate::harness::Answer;

/// `errors[i].extensions` of an answer, by `kind`.
pub fn violation<'a>(a: &'a Answer, kind: &str) -> Option<&'a Value> {
    a.body["errors"]
        .as_array()?
        .iter()
        .map(|e| &e["extensions"])
        .find(|x| x["kind"] == kind)
}

/// The `kind`s of every QUERY_TOO_COMPLEX error, sorted.
pub fn kinds(a: &Answer) -> Vec<String> {
    let mut out: Vec<String> = a.body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .filter(|e| e["extensions"]["code"] == "QUERY_TOO_COMPLEX")
                .filter_map(|e| e["extensions"]["kind"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// `extensions.cost.<field>` of a single response.
pub fn cost(a: &Answer, field: &str) -> u64 {
    a.body["extensions"]["cost"][field]
        .as_u64()
        .unwrap_or_else(|| panic!("extensions.cost.{field} in {}", a.body))
}
