//! A prepared operation: one parsed document and everything the layers
//! worked out of it that holds for every request sending the same text.
//!
//! Real clients repeat a handful of documents. The guard keeps the
//! documents that passed every limit in a bounded cache (`cost/guard.rs`),
//! and each request of a known document reuses, instead of redoing:
//!
//! - the parse, and the guard's measures of the whole document (`M`, the
//!   shape: computed when the document is prepared);
//! - a value worked out per operation (`P`, the actual-cost plan: built the
//!   first time the operation runs);
//! - the auth verdicts: whether callers with given claims may run an
//!   operation without per-field checks (walking the document for it was
//!   3 % of a dashboard request's instructions in callgrind);
//! - the order its responses answer in ([`SelectionOrder`]: working it out
//!   per response was 2.5 % of a product page's instructions).
//!
//! The two type parameters keep this module free of the layers that fill
//! them: `cost` names the prepared operation it caches (`cost::Prepared`).

use std::sync::{Arc, Mutex, OnceLock};

use async_graphql::parser::types::ExecutableDocument;

use super::{order::SelectionOrder, selected_operation};
use crate::caller::{Identity, Role};

/// One parsed document, with what was measured of it (`M`) and what was
/// worked out of its operations (`P`, auth verdicts).
#[derive(Debug)]
pub struct Prepared<M, P> {
    document: ExecutableDocument,
    /// Measured of the whole document (every operation and fragment; no
    /// variables needed).
    measures: M,
    /// The per-operation value of the first operation name it was asked
    /// for (a document almost always holds one operation).
    per_operation: OnceLock<(Option<String>, Option<Arc<P>>)>,
    /// The response order of the first operation name it was asked for.
    selection_order: OnceLock<(Option<String>, Option<Arc<SelectionOrder>>)>,
    /// Whether callers with these claims may run the operation without
    /// per-field auth checks (see [`Prepared::authorized`]): the first
    /// verdict, read without a lock (a document is mostly run by callers of
    /// one role set), then the others.
    first_verdict: OnceLock<Verdict>,
    other_verdicts: Mutex<Vec<Verdict>>,
}

/// `build()` for `operation`, kept in `cell` for the first operation name
/// asked for and built afresh for any other.
fn kept_for_first<T>(
    cell: &OnceLock<(Option<String>, Option<Arc<T>>)>,
    operation: Option<&str>,
    build: impl Fn() -> Option<T>,
) -> Option<Arc<T>> {
    let (name, value) = cell.get_or_init(|| (operation.map(str::to_string), build().map(Arc::new)));
    if name.as_deref() == operation {
        value.clone()
    } else {
        build().map(Arc::new)
    }
}

/// One remembered auth verdict: the operation and the claims it depends on
/// (anonymous, or roles and scopes; `sub` and `tier` do not count).
#[derive(Debug)]
struct Verdict {
    operation: Option<String>,
    claims: Option<(Vec<Role>, Vec<String>)>,
    allowed: bool,
}

impl Verdict {
    fn matches(&self, operation: Option<&str>, identity: Option<&Identity>) -> bool {
        self.operation.as_deref() == operation
            && match (&self.claims, identity) {
                (None, None) => true,
                (Some((roles, scopes)), Some(id)) => *roles == id.roles && *scopes == id.scopes,
                _ => false,
            }
    }
}

/// Most auth verdicts one document remembers besides the first: callers
/// come in a handful of role and scope sets; past this many the verdict is
/// worked out each time.
pub const AUTHORIZED_VERDICTS: usize = 16;

impl<M, P> Prepared<M, P> {
    /// `document`, with `measure` of it taken now.
    pub fn new(
        document: ExecutableDocument,
        measure: impl FnOnce(&ExecutableDocument) -> M,
    ) -> Self {
        Prepared {
            measures: measure(&document),
            document,
            per_operation: OnceLock::new(),
            selection_order: OnceLock::new(),
            first_verdict: OnceLock::new(),
            other_verdicts: Mutex::default(),
        }
    }

    /// The parsed document.
    pub fn document(&self) -> &ExecutableDocument {
        &self.document
    }

    /// What was measured of the whole document when it was prepared.
    pub fn measures(&self) -> &M {
        &self.measures
    }

    /// `build()` for `operation`, kept for the first operation name asked
    /// for and built afresh for any other.
    pub fn per_operation(
        &self,
        operation: Option<&str>,
        build: impl Fn() -> Option<P>,
    ) -> Option<Arc<P>> {
        kept_for_first(&self.per_operation, operation, build)
    }

    /// The order the responses of `operation` answer in (`None` when the
    /// document does not say which operation runs), kept for the first
    /// operation name asked for and worked out afresh for any other.
    pub fn selection_order(&self, operation: Option<&str>) -> Option<Arc<SelectionOrder>> {
        kept_for_first(&self.selection_order, operation, || {
            selected_operation(&self.document, operation)
                .map(|(_, op)| SelectionOrder::of(&self.document, &op.selection_set.node))
        })
    }

    /// `decide()` (whether `identity` may run `operation` of this document
    /// without per-field checks), remembered per operation and claims: the
    /// verdict is a function of the document, the client's rules and the
    /// caller's roles and scopes.
    pub fn authorized(
        &self,
        operation: Option<&str>,
        identity: Option<&Identity>,
        decide: impl FnOnce() -> bool,
    ) -> bool {
        if let Some(first) = self
            .first_verdict
            .get()
            .filter(|v| v.matches(operation, identity))
        {
            return first.allowed;
        }
        let lock = || {
            self.other_verdicts
                .lock()
                .unwrap_or_else(|p| p.into_inner())
        };
        if let Some(known) = lock().iter().find(|v| v.matches(operation, identity)) {
            return known.allowed;
        }
        let allowed = decide();
        let verdict = || Verdict {
            operation: operation.map(str::to_string),
            claims: identity.map(|id| (id.roles.clone(), id.scopes.clone())),
            allowed,
        };
        if self.first_verdict.get().is_none() && self.first_verdict.set(verdict()).is_ok() {
            return allowed;
        }
        let mut verdicts = lock();
        if verdicts.len() < AUTHORIZED_VERDICTS
            && !verdicts.iter().any(|v| v.matches(operation, identity))
        {
            verdicts.push(verdict());
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::cell::Cell;

    use super::*;
    use crate::caller::Tier;

    fn identity(sub: &str, roles: &[Role], scopes: &[&str]) -> Identity {
        Identity {
            sub: sub.to_string(),
            roles: roles.to_vec(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            tier: Tier::Free,
        }
    }

    fn prepared(text: &str) -> Prepared<(), ()> {
        Prepared::new(async_graphql::parser::parse_query(text).unwrap(), |_| ())
    }

    #[test]
    fn an_auth_verdict_is_remembered_per_operation_and_claims() {
        let parsed = prepared("query A { a } query B { b }");
        let decided = Cell::new(0);
        let ask = |op: Option<&str>, who: Option<&Identity>, verdict: bool| {
            parsed.authorized(op, who, || {
                decided.set(decided.get() + 1);
                verdict
            })
        };
        let alice = identity("alice", &[Role::Customer], &[]);
        let bob = identity("bob", &[Role::Customer], &[]);
        let admin = identity("carol", &[Role::Admin], &[]);
        let scoped = identity("dave", &[Role::Customer], &["orders:read"]);

        assert!(ask(Some("A"), Some(&alice), true));
        // Same roles and scopes, another user: the remembered verdict.
        assert!(ask(Some("A"), Some(&bob), false));
        assert_eq!(decided.get(), 1);
        // Other claims, another operation, or no caller: decided afresh.
        assert!(!ask(Some("A"), Some(&admin), false));
        assert!(!ask(Some("A"), Some(&scoped), false));
        assert!(!ask(Some("B"), Some(&alice), false));
        assert!(!ask(Some("A"), None, false));
        assert_eq!(decided.get(), 5);
        assert!(!ask(Some("A"), None, true), "anonymous was remembered");
        assert!(!ask(Some("A"), Some(&admin), true));
        assert_eq!(decided.get(), 5);
    }

    #[test]
    fn past_the_bound_verdicts_are_decided_each_time() {
        let parsed = prepared("{ a }");
        let decided = Cell::new(0);
        let scopes: Vec<String> = (0..AUTHORIZED_VERDICTS + 4)
            .map(|i| format!("s{i}"))
            .collect();
        for _ in 0..2 {
            for scope in &scopes {
                let who = identity("u", &[Role::Customer], &[scope.as_str()]);
                parsed.authorized(None, Some(&who), || {
                    decided.set(decided.get() + 1);
                    true
                });
            }
        }
        assert!(parsed.first_verdict.get().is_some());
        assert_eq!(
            parsed.other_verdicts.lock().unwrap().len(),
            AUTHORIZED_VERDICTS
        );
        // 1 + 16 remembered; the other 3 decided again on the second pass.
        assert_eq!(decided.get(), scopes.len() + 3);
    }

    #[test]
    fn the_per_operation_value_is_kept_for_the_first_operation_asked_for() {
        let parsed: Prepared<(), u32> =
            Prepared::new(async_graphql::parser::parse_query("{ a }").unwrap(), |_| ());
        let built = Cell::new(0);
        let built = &built;
        let build = |n: u32| {
            move || {
                built.set(built.get() + 1);
                Some(n)
            }
        };
        assert_eq!(parsed.per_operation(None, build(1)).as_deref(), Some(&1));
        assert_eq!(parsed.per_operation(None, build(2)).as_deref(), Some(&1));
        assert_eq!(built.get(), 1);
        assert_eq!(
            parsed.per_operation(Some("B"), build(3)).as_deref(),
            Some(&3)
        );
        assert_eq!(built.get(), 2);
    }
}
