//! Introspection on admin only for staff, or when configured.
//!
//! The admin schema maps the back office (which levers exist, which fields
//! carry personal data). async-graphql's `disable_introspection()` is all or
//! nothing and answers without an error code (docs/pitfalls.md #10), so this
//! extension looks at the parsed document instead: an operation that asks
//! for `__schema` or `__type` is refused with `UNAUTHENTICATED` (no token)
//! or `FORBIDDEN` (not staff) unless `[clients.admin] introspection = true`.
//! `__typename` stays allowed: clients need it for caching.

use std::{collections::HashSet, sync::Arc};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery},
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Name, Positioned, ServerError, ServerResult, Variables,
};
use bff_core::{context::RequestContext, errors::ErrorCode, runtime::Runtime};

/// The extension factory to add to the admin schema.
pub struct StaffOnlyIntrospection;

impl ExtensionFactory for StaffOnlyIntrospection {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(Gate)
    }
}

struct Gate;

#[async_graphql::async_trait::async_trait]
impl Extension for Gate {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        if !introspects(&doc) {
            return Ok(doc);
        }
        let allowed_by_config = ctx
            .data_opt::<Arc<Runtime>>()
            .is_some_and(|rt| rt.config().clients.admin.introspection);
        if allowed_by_config {
            return Ok(doc);
        }
        let identity = ctx
            .data_opt::<Arc<RequestContext>>()
            .and_then(|r| r.caller.identity.as_ref());
        match identity {
            Some(i) if i.is_staff() => Ok(doc),
            Some(_) => Err(refusal(
                ErrorCode::Forbidden,
                "introspection of the admin schema needs role support or admin",
            )),
            None => Err(refusal(
                ErrorCode::Unauthenticated,
                "introspection of the admin schema needs a staff token",
            )),
        }
    }
}

fn refusal(code: ErrorCode, message: &str) -> ServerError {
    code.server_error(message)
}

/// True when any operation selects `__schema` or `__type` at its root
/// (the only place they are valid), fragments included.
pub fn introspects(doc: &ExecutableDocument) -> bool {
    let mut seen = HashSet::new();
    doc.operations
        .iter()
        .any(|(_, op)| selects_meta(doc, &op.node.selection_set, &mut seen))
}

fn selects_meta<'a>(
    doc: &'a ExecutableDocument,
    set: &'a Positioned<SelectionSet>,
    seen: &mut HashSet<&'a Name>,
) -> bool {
    set.node.items.iter().any(|item| match &item.node {
        Selection::Field(field) => {
            let name = field.node.name.node.as_str();
            name == "__schema" || name == "__type"
        }
        Selection::InlineFragment(inline) => selects_meta(doc, &inline.node.selection_set, seen),
        Selection::FragmentSpread(spread) => {
            let name = &spread.node.fragment_name.node;
            // Each fragment once: a spread cycle (invalid anyway) cannot loop.
            if !seen.insert(name) {
                return false;
            }
            doc.fragments
                .get(name)
                .is_some_and(|f| selects_meta(doc, &f.node.selection_set, seen))
        }
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::introspects;

    fn check(q: &str) -> bool {
        introspects(&async_graphql::parser::parse_query(q).unwrap())
    }

    #[test]
    fn finds_meta_fields_through_fragments() {
        assert!(check("{ __schema { types { name } } }"));
        assert!(check("{ __type(name: \"X\") { name } }"));
        assert!(check("query { ...F } fragment F on Query { ... on Query { __schema { queryType { name } } } }"));
        assert!(!check("{ __typename systemHealth { services { name } } }"));
        assert!(!check("query { ...F } fragment F on Query { ...F }"));
    }
}
