//! Reading an executable document: which operation runs, and the fields a
//! selection selects on one type.

use async_graphql::{
    parser::types::{
        DocumentOperations, ExecutableDocument, Field, InlineFragment, OperationDefinition,
        Selection, SelectionSet,
    },
    Positioned,
};

/// The type an inline fragment's selections are on: its condition, else
/// the enclosing type.
pub fn inline_type<'a>(inline: &'a InlineFragment, parent: &'a str) -> &'a str {
    inline
        .type_condition
        .as_ref()
        .map_or(parent, |c| c.node.on.node.as_str())
}

/// The operation `wanted` selects, as the engine picks it, with its name
/// (`None` when it cannot tell which: the engine then refuses the request
/// itself).
pub fn selected_operation<'a>(
    doc: &'a ExecutableDocument,
    wanted: Option<&str>,
) -> Option<(Option<&'a str>, &'a OperationDefinition)> {
    match (&doc.operations, wanted) {
        // A lone anonymous operation: it has no name of its own.
        (DocumentOperations::Single(op), _) => Some((None, &op.node)),
        (DocumentOperations::Multiple(ops), Some(name)) => ops
            .get_key_value(name)
            .map(|(n, op)| (Some(n.as_str()), &op.node)),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops
            .iter()
            .next()
            .map(|(n, op)| (Some(n.as_str()), &op.node)),
        (DocumentOperations::Multiple(_), None) => None,
    }
}

/// The fields `set` selects on `parent`, fragments flattened, in selection
/// order; `None` when a fragment is on another type (only the runtime type
/// could tell) or is unknown.
pub fn fields_of<'a>(
    doc: &'a ExecutableDocument,
    parent: &str,
    set: &'a SelectionSet,
    out: &mut Vec<&'a Positioned<Field>>,
) -> Option<()> {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => out.push(field),
            Selection::InlineFragment(fragment) => {
                let on = fragment.node.type_condition.as_ref();
                if on.is_some_and(|c| c.node.on.node.as_str() != parent) {
                    return None;
                }
                fields_of(doc, parent, &fragment.node.selection_set.node, out)?;
            }
            Selection::FragmentSpread(spread) => {
                let fragment = doc.fragments.get(&spread.node.fragment_name.node)?;
                if fragment.node.type_condition.node.on.node.as_str() != parent {
                    return None;
                }
                fields_of(doc, parent, &fragment.node.selection_set.node, out)?;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use async_graphql::parser::parse_query;

    use super::*;

    #[test]
    fn the_operation_is_picked_as_the_engine_picks_it() {
        let one = parse_query("{ a }").unwrap();
        assert_eq!(selected_operation(&one, Some("X")).unwrap().0, None);
        let two = parse_query("query A { a } query B { b }").unwrap();
        assert_eq!(selected_operation(&two, Some("B")).unwrap().0, Some("B"));
        assert!(selected_operation(&two, None).is_none());
        assert!(selected_operation(&two, Some("C")).is_none());
        let named = parse_query("query A { a }").unwrap();
        assert_eq!(selected_operation(&named, None).unwrap().0, Some("A"));
    }

    #[test]
    fn fields_are_flattened_through_fragments_on_the_same_type() {
        let doc = parse_query("{ a ...F ... on Q { c } } fragment F on Q { b }").unwrap();
        let (_, op) = selected_operation(&doc, None).unwrap();
        let mut out = Vec::new();
        assert!(fields_of(&doc, "Q", &op.selection_set.node, &mut out).is_some());
        let names: Vec<&str> = out.iter().map(|f| f.node.name.node.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        let mut out = Vec::new();
        assert!(fields_of(&doc, "Other", &op.selection_set.node, &mut out).is_none());
    }
}
