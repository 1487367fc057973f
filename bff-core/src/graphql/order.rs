//! Responses in selection order (GraphQL spec §7.2.2, "Serialized Map
//! Ordering"): every object of `data` lists its keys in the order the
//! document selected them, as graphql-js, Apollo Router and Hive answer.
//!
//! async-graphql 7.2 resolves the fields of a concurrent object through a
//! `FuturesUnordered` and inserts each into the object as it completes, so
//! a field waiting on an upstream lands after its quicker siblings (and the
//! order varies between runs); a field that errored is left out and put
//! back as `null` at the end (the edge's `nulls.rs`). [`SelectionOrder`]
//! puts every object's keys back in the order of `CollectFields`: the
//! fields of the selection set in document order, fragments expanded where
//! they are spread, and fields sharing a response key merged at the first
//! one's place (their sub-selections concatenated, as the engine merges
//! their values).
//!
//! The same tree tells which field a response key holds
//! ([`SelectionOrder::field`]), for walking an error's path against the
//! schema (the edge's `nulls.rs`).
//!
//! The order is worked out once per prepared operation
//! ([`crate::graphql::Prepared::selection_order`]) and kept with it: each
//! response then costs a walk that compares every key with the one already
//! in its place (most are, so no hashing) and swaps in place the few that
//! are not (no allocation). Working it out expands fragments at every
//! spread, as the guard's `selections` measure counts them, so a document
//! that passed the guard bounds it.
//!
//! Fragments are expanded whatever their type condition: on a concrete
//! object type every fragment validation lets through applies, and the
//! clients' schemas have no interface or union fields. Under an abstract
//! parent a key selected by fragments on two different types would be
//! placed at its first selection among them.

use async_graphql::{
    parser::types::{ExecutableDocument, Selection, SelectionSet},
    Name, Value,
};

/// The response keys of one selection, in the order they are answered,
/// each with the order of its own sub-selection.
#[derive(Debug, Default)]
pub struct SelectionOrder {
    keys: Box<[OrderedKey]>,
}

#[derive(Debug)]
struct OrderedKey {
    key: Name,
    /// The field selected under the key (validation makes every field
    /// sharing a key the same field).
    field: Name,
    /// The order inside the key's value (`None` for a leaf).
    sub: Option<SelectionOrder>,
}

impl SelectionOrder {
    /// The order `selection` (of `doc`) answers in.
    pub fn of(doc: &ExecutableDocument, selection: &SelectionSet) -> Self {
        Self::of_sets(doc, &[selection])
    }

    fn of_sets(doc: &ExecutableDocument, sets: &[&SelectionSet]) -> Self {
        let keys = collect(doc, sets)
            .into_iter()
            .map(|group| OrderedKey {
                sub: (!group.subsets.is_empty()).then(|| Self::of_sets(doc, &group.subsets)),
                key: group.key.clone(),
                field: group.field.clone(),
            })
            .collect();
        SelectionOrder { keys }
    }

    /// The field selected under the response key `key`, and the order of
    /// its sub-selection (`None` for a leaf).
    pub fn field(&self, key: &str) -> Option<(&Name, Option<&SelectionOrder>)> {
        self.keys
            .iter()
            .find(|k| k.key.as_str() == key)
            .map(|k| (&k.field, k.sub.as_ref()))
    }

    /// Puts the keys of every object in `value` (an object, or a list of
    /// them at any depth) in this order. Keys it does not know stay last.
    pub fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                let mut pos = 0;
                for ordered in &*self.keys {
                    // Most objects are in order already (serial types,
                    // fields that finished in turn): one pointer comparison.
                    let in_place = map
                        .get_index(pos)
                        .is_some_and(|(k, _)| same_name(k, &ordered.key));
                    if !in_place {
                        let Some(at) = find(map, pos, &ordered.key) else {
                            continue;
                        };
                        map.swap_indices(pos, at);
                    }
                    if let (Some(sub), Some((_, child))) = (&ordered.sub, map.get_index_mut(pos)) {
                        sub.apply(child);
                    }
                    pos += 1;
                }
            }
            Value::List(items) => {
                for item in items {
                    self.apply(item);
                }
            }
            _ => {}
        }
    }
}

/// Objects up to this many keys are searched by pointer, not by hash.
const LINEAR_SEARCH_KEYS: usize = 16;

/// The same name, by pointer: the engine runs a clone of the prepared
/// document, so its response keys share their text with the order's.
fn same_name(a: &Name, b: &Name) -> bool {
    std::ptr::eq(a.as_str(), b.as_str())
}

/// Where `key` sits in `map`, at `from` or after (the keys before are in
/// place): by pointer in a small object, else (or for a key whose text is
/// not shared) by hash.
fn find(
    map: &async_graphql::indexmap::IndexMap<Name, Value>,
    from: usize,
    key: &Name,
) -> Option<usize> {
    if map.len() <= LINEAR_SEARCH_KEYS {
        let by_pointer =
            (from..map.len()).find(|&i| map.get_index(i).is_some_and(|(k, _)| same_name(k, key)));
        if by_pointer.is_some() {
            return by_pointer;
        }
    }
    map.get_index_of(key).filter(|&at| at >= from)
}

/// One response key of a selection and the sub-selections of every field
/// selected under it.
struct Group<'a> {
    key: &'a Name,
    field: &'a Name,
    subsets: Vec<&'a SelectionSet>,
}

/// The response keys `sets` select, in `CollectFields` order.
fn collect<'a>(doc: &'a ExecutableDocument, sets: &[&'a SelectionSet]) -> Vec<Group<'a>> {
    let mut groups = Vec::new();
    let mut spread = Vec::new();
    for set in sets {
        collect_into(doc, set, &mut groups, &mut spread);
    }
    groups
}

fn collect_into<'a>(
    doc: &'a ExecutableDocument,
    set: &'a SelectionSet,
    groups: &mut Vec<Group<'a>>,
    spread: &mut Vec<&'a Name>,
) {
    for item in &set.items {
        match &item.node {
            Selection::Field(field) => {
                let key = &field.node.response_key().node;
                let sub = &field.node.selection_set.node;
                let at = match groups.iter().position(|g| g.key == key) {
                    Some(at) => at,
                    None => {
                        groups.push(Group {
                            key,
                            field: &field.node.name.node,
                            subsets: Vec::new(),
                        });
                        groups.len() - 1
                    }
                };
                if !sub.items.is_empty() {
                    groups[at].subsets.push(sub);
                }
            }
            Selection::InlineFragment(fragment) => {
                collect_into(doc, &fragment.node.selection_set.node, groups, spread);
            }
            Selection::FragmentSpread(s) => {
                let name = &s.node.fragment_name.node;
                // The guard refuses circular fragments; never loop anyway.
                if spread.contains(&name) {
                    continue;
                }
                if let Some(fragment) = doc.fragments.get(name) {
                    spread.push(name);
                    collect_into(doc, &fragment.node.selection_set.node, groups, spread);
                    spread.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use async_graphql::parser::parse_query;

    use super::*;
    use crate::graphql::selected_operation;

    fn ordered(query: &str, data: serde_json::Value) -> String {
        let doc = parse_query(query).unwrap();
        let (_, op) = selected_operation(&doc, None).unwrap();
        let mut value = Value::from_json(data).unwrap();
        SelectionOrder::of(&doc, &op.selection_set.node).apply(&mut value);
        // serde_json keeps insertion order here (`preserve_order`).
        serde_json::to_string(&value.into_json().unwrap()).unwrap()
    }

    #[test]
    fn keys_follow_the_selection_at_every_depth_and_in_lists() {
        let out = ordered(
            "{ me { name orders { status total } recommendations { name } } }",
            serde_json::json!({"me": {
                "recommendations": [{"name": "a"}],
                "orders": [{"total": 1, "status": "PAID"}, {"status": "SHIPPED", "total": 2}],
                "name": "Ada",
            }}),
        );
        assert_eq!(
            out,
            r#"{"me":{"name":"Ada","orders":[{"status":"PAID","total":1},{"status":"SHIPPED","total":2}],"recommendations":[{"name":"a"}]}}"#
        );
    }

    #[test]
    fn aliases_fragments_and_merged_fields_take_their_first_place() {
        let out = ordered(
            "{ p: product { ...F id } product { name } } fragment F on Product { ... on Product { stock } reviews { rating } }",
            serde_json::json!({
                "product": {"name": "n"},
                "p": {"id": "1", "reviews": [{"rating": 5}], "stock": null},
            }),
        );
        assert_eq!(
            out,
            r#"{"p":{"stock":null,"reviews":[{"rating":5}],"id":"1"},"product":{"name":"n"}}"#
        );
        // Two fields with one key: the sub-selections in turn.
        let out = ordered(
            "{ me { name } me { id name orders { total } } }",
            serde_json::json!({"me": {"orders": [{"total": 1}], "id": "u1", "name": "Ada"}}),
        );
        assert_eq!(
            out,
            r#"{"me":{"name":"Ada","id":"u1","orders":[{"total":1}]}}"#
        );
    }

    #[test]
    fn missing_keys_are_skipped_and_unknown_keys_stay_last() {
        let out = ordered(
            "{ a @skip(if: true) b c }",
            serde_json::json!({"extra": 1, "c": 3, "b": 2}),
        );
        assert_eq!(out, r#"{"b":2,"c":3,"extra":1}"#);
    }

    #[test]
    fn keys_sharing_the_documents_names_are_found_by_pointer_in_small_and_large_objects() {
        for n in [3, LINEAR_SEARCH_KEYS + 4] {
            let fields: Vec<String> = (0..n).map(|i| format!("f{i}")).collect();
            let query = format!("{{ {} }}", fields.join(" "));
            let doc = parse_query(&query).unwrap();
            let (_, op) = selected_operation(&doc, None).unwrap();
            // The engine's keys: the document's own names, here reversed.
            let names: Vec<Name> = op
                .selection_set
                .node
                .items
                .iter()
                .map(|item| match &item.node {
                    Selection::Field(f) => f.node.response_key().node.clone(),
                    _ => unreachable!(),
                })
                .collect();
            let mut value = Value::Object(
                names
                    .iter()
                    .rev()
                    .map(|name| (name.clone(), Value::Null))
                    .collect(),
            );
            SelectionOrder::of(&doc, &op.selection_set.node).apply(&mut value);
            let Value::Object(map) = value else {
                unreachable!()
            };
            let keys: Vec<&str> = map.keys().map(Name::as_str).collect();
            assert_eq!(keys, fields, "{n} keys");
        }
    }

    #[test]
    fn a_self_spreading_fragment_does_not_loop() {
        let out = ordered(
            "{ ...F } fragment F on Query { b ...F a }",
            serde_json::json!({"a": 1, "b": 2}),
        );
        assert_eq!(out, r#"{"b":2,"a":1}"#);
    }
}
