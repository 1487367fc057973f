//! The gateway's own claims, read strictly.
//!
//! jsonwebtoken checks the signature and the registered time, issuer and
//! audience claims; `sub`, `roles`, `scope` and `tier` are ours to read. A
//! claim of the wrong type is a bad token (401), never a silently anonymous,
//! role-less or free-tier caller: a token from a misconfigured issuer must
//! fail loudly, not degrade into something that half works. Registered
//! claims that jsonwebtoken only checks when configured (`iss`, `aud`,
//! `iat`, `nbf`) are type-checked here too, so a numeric `iss` never slips
//! through unnoticed.

use serde_json::{Map, Value};

use crate::caller::{Identity, Role, Tier};

/// What a verified payload yields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    pub identity: Identity,
    /// `exp`, seconds since the epoch (the verified cache never outlives it).
    pub exp: u64,
}

/// Why a payload's claims are unusable. Names the claim, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClaimError {
    #[error("the token's payload is not a JSON object")]
    NotAnObject,
    #[error("the token has no `{0}` claim")]
    Missing(&'static str),
    #[error("the token's `{0}` claim has the wrong type")]
    WrongType(&'static str),
    #[error("the token's `tier` claim is not one of free, pro, enterprise")]
    UnknownTier,
}

/// Reads the claims of a payload whose signature and time claims verified.
pub(crate) fn parse(claims: &Value) -> Result<Verified, ClaimError> {
    let map = claims.as_object().ok_or(ClaimError::NotAnObject)?;

    let sub = match map.get("sub") {
        None | Some(Value::Null) => return Err(ClaimError::Missing("sub")),
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(_) => return Err(ClaimError::WrongType("sub")),
    };
    let exp = match map.get("exp") {
        None => return Err(ClaimError::Missing("exp")),
        Some(v) => numeric_date(v).ok_or(ClaimError::WrongType("exp"))?,
    };
    for name in ["nbf", "iat"] {
        if let Some(v) = map.get(name) {
            numeric_date(v).ok_or(ClaimError::WrongType(name))?;
        }
    }
    optional_string(map, "iss")?;
    match map.get("aud") {
        None | Some(Value::String(_)) => {}
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
        Some(_) => return Err(ClaimError::WrongType("aud")),
    }

    let roles = match map.get("roles") {
        None => Vec::new(),
        Some(Value::Array(items)) => {
            let mut roles = Vec::with_capacity(items.len());
            for item in items {
                let name = item.as_str().ok_or(ClaimError::WrongType("roles"))?;
                // Unknown role names are dropped: an issuer may know roles
                // this gateway has no use for.
                if let Some(role) = Role::parse(name) {
                    if !roles.contains(&role) {
                        roles.push(role);
                    }
                }
            }
            roles
        }
        Some(_) => return Err(ClaimError::WrongType("roles")),
    };
    let scopes = optional_string(map, "scope")?
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let tier = match optional_string(map, "tier")? {
        None => Tier::Free,
        Some("free") => Tier::Free,
        Some("pro") => Tier::Pro,
        Some("enterprise") => Tier::Enterprise,
        Some(_) => return Err(ClaimError::UnknownTier),
    };

    Ok(Verified {
        identity: Identity {
            sub,
            roles,
            scopes,
            tier,
        },
        exp,
    })
}

fn optional_string<'a>(
    map: &'a Map<String, Value>,
    name: &'static str,
) -> Result<Option<&'a str>, ClaimError> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ClaimError::WrongType(name)),
    }
}

/// A JWT NumericDate: a non-negative number of seconds (fractions allowed).
fn numeric_date(v: &Value) -> Option<u64> {
    let n = v.as_number()?;
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    if f.is_finite() && f >= 0.0 && f < u64::MAX as f64 {
        Some(f as u64)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use serde_json::json;

    use super::*;

    fn base() -> Value {
        json!({"sub": "u1", "exp": 2_000_000_000u64})
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = base();
        v[key] = value;
        v
    }

    #[test]
    fn auth_claims_minimal_token_is_a_free_customer_less_caller() {
        let v = parse(&base()).unwrap();
        assert_eq!(v.identity.sub, "u1");
        assert!(v.identity.roles.is_empty());
        assert!(v.identity.scopes.is_empty());
        assert_eq!(v.identity.tier, Tier::Free);
        assert_eq!(v.exp, 2_000_000_000);
    }

    #[test]
    fn auth_claims_full_token_is_read() {
        let mut claims = base();
        claims["roles"] = json!(["support", "admin", "support", "auditor"]);
        claims["scope"] = json!("orders:write  reviews:write");
        claims["tier"] = json!("enterprise");
        claims["aud"] = json!(["web", "mobile"]);
        claims["iss"] = json!("https://issuer.example");
        claims["nbf"] = json!(1.5);
        let v = parse(&claims).unwrap();
        assert_eq!(v.identity.roles, vec![Role::Support, Role::Admin]);
        assert_eq!(v.identity.scopes, vec!["orders:write", "reviews:write"]);
        assert_eq!(v.identity.tier, Tier::Enterprise);
    }

    #[test]
    fn auth_claims_wrong_types_are_refused() {
        let cases = [
            ("sub", json!(42), ClaimError::WrongType("sub")),
            ("sub", json!(""), ClaimError::WrongType("sub")),
            ("sub", Value::Null, ClaimError::Missing("sub")),
            ("exp", json!("2000000000"), ClaimError::WrongType("exp")),
            ("exp", json!(-1), ClaimError::WrongType("exp")),
            ("nbf", json!("soon"), ClaimError::WrongType("nbf")),
            ("iat", json!(true), ClaimError::WrongType("iat")),
            ("iss", json!(7), ClaimError::WrongType("iss")),
            ("aud", json!(7), ClaimError::WrongType("aud")),
            ("aud", json!(["web", 7]), ClaimError::WrongType("aud")),
            ("roles", json!("admin"), ClaimError::WrongType("roles")),
            ("roles", json!(["admin", 1]), ClaimError::WrongType("roles")),
            (
                "scope",
                json!(["orders:write"]),
                ClaimError::WrongType("scope"),
            ),
            ("tier", json!("platinum"), ClaimError::UnknownTier),
            ("tier", json!("anonymous"), ClaimError::UnknownTier),
            ("tier", json!(1), ClaimError::WrongType("tier")),
        ];
        for (key, value, expected) in cases {
            assert_eq!(
                parse(&with(key, value.clone())),
                Err(expected),
                "{key}={value}"
            );
        }
    }

    #[test]
    fn auth_claims_missing_sub_or_exp_and_non_objects_are_refused() {
        assert_eq!(parse(&json!({"exp": 1})), Err(ClaimError::Missing("sub")));
        assert_eq!(parse(&json!({"sub": "u"})), Err(ClaimError::Missing("exp")));
        assert_eq!(parse(&json!([1, 2])), Err(ClaimError::NotAnObject));
    }

    #[test]
    fn auth_claims_errors_never_echo_values() {
        let err = parse(&with("sub", json!({"secret": "hunter2"}))).unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }
}
