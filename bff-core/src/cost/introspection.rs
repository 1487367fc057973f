//! Introspection priced against the schema it describes.
//!
//! `__schema { types { fields { args { … } } } }` resolves what this
//! schema holds, not types × fields × arguments: the walk here counts the
//! nodes an introspection field resolves by the sizes of the client's
//! schema ([`IntrospectionSizes`], read with its index). The types and
//! fields of introspection itself are the GraphQL specification's.

use async_graphql::parser::types::{ExecutableDocument, Field, Selection, SelectionSet};

use crate::graphql::IntrospectionSizes;

/// How an introspection list yields its items.
#[derive(Debug, Clone, Copy)]
pub(super) enum Yield {
    /// One item per parent item (`type`, `ofType`, `queryType`…).
    One,
    /// At most the longest list of its kind per parent item, and at most
    /// all of its kind for every appearance of one parent element (`fields`
    /// of a type: that type's own).
    Owned,
    /// At most `max` items per parent item (the fixed number given, or the
    /// schema's), any element any number of times.
    Shared(Option<u64>),
    /// A leaf (no sub-selection).
    Leaf,
}

/// The introspection type `parent.name` returns and how it yields.
pub(super) fn child(parent: &str, name: &str) -> (&'static str, Yield) {
    match (parent, name) {
        (_, "__schema") => ("__Schema", Yield::One),
        (_, "__type") => ("__Type", Yield::One),
        ("__Schema", "types") => ("__Type", Yield::Owned),
        ("__Schema", "directives") => ("__Directive", Yield::Owned),
        ("__Schema", "queryType" | "mutationType" | "subscriptionType") => ("__Type", Yield::One),
        ("__Type", "fields") => ("__Field", Yield::Owned),
        ("__Type", "inputFields") => ("__InputValue", Yield::Owned),
        ("__Type", "enumValues") => ("__EnumValue", Yield::Owned),
        ("__Type", "interfaces" | "possibleTypes") => ("__Type", Yield::Shared(None)),
        ("__Type", "ofType") | ("__Field" | "__InputValue", "type") => ("__Type", Yield::One),
        ("__Field" | "__Directive", "args") => ("__InputValue", Yield::Owned),
        ("__Directive", "locations") => ("", Yield::Shared(Some(19))),
        _ => ("", Yield::Leaf),
    }
}

/// Counts what an introspection field resolves against this schema, by
/// walking its selection (fragments expanded at every spread, so the walk
/// has a budget of steps) with two numbers per position: `n`, how many
/// items sit there, and `k`, how many times one schema element can repeat
/// among them. A type's fields are at most `max_fields` per type, and at
/// most `total_fields` for each time the whole set of types is listed:
/// `types { fields { args } }` is every argument of the schema once, not
/// types × fields × arguments.
pub(super) struct IntrospectionWalk<'a> {
    doc: &'a ExecutableDocument,
    sizes: &'a IntrospectionSizes,
    steps_left: u64,
}

/// Most steps one introspection count takes; past it, the count is
/// "too many" (the selections limit is far lower for any client).
const INTROSPECTION_STEPS: u64 = 100_000;

impl<'a> IntrospectionWalk<'a> {
    /// A count against a schema of `sizes`, with the whole budget of steps.
    pub(super) fn new(doc: &'a ExecutableDocument, sizes: &'a IntrospectionSizes) -> Self {
        Self {
            doc,
            sizes,
            steps_left: INTROSPECTION_STEPS,
        }
    }

    /// Nodes `field` of `parent` resolves to, `n` items sitting at its
    /// position, one schema element repeating at most `k` times.
    pub(super) fn field(&mut self, parent: &str, field: &Field, n: u64, k: u64) -> u64 {
        let name = field.name.node.as_str();
        let (ty, how) = child(parent, name);
        let sizes = self.sizes;
        let sized = match (ty, name) {
            ("__Type", "types") => (sizes.types, sizes.types),
            ("__Directive", _) => (sizes.directives, sizes.directives),
            ("__Field", _) => (sizes.max_fields, sizes.total_fields),
            ("__InputValue", "inputFields") => (sizes.max_input_fields, sizes.total_input_fields),
            ("__InputValue", _) => (sizes.max_args, sizes.total_args),
            ("__EnumValue", _) => (sizes.max_enum_values, sizes.total_enum_values),
            _ => (sizes.max_related_types, sizes.total_related_types),
        };
        let (items, repeats) = match how {
            Yield::One => (n, n),
            Yield::Owned => {
                let items = n.saturating_mul(sized.0).min(k.saturating_mul(sized.1));
                (items, k)
            }
            Yield::Shared(fixed) => {
                let max = fixed.unwrap_or(sized.0);
                let items = n.saturating_mul(max);
                (items, items)
            }
            Yield::Leaf => return n,
        };
        // Each item of a list resolves as a node of its own.
        let listed = if matches!(how, Yield::One) { 0 } else { items };
        let below = if field.selection_set.node.items.is_empty() {
            0
        } else {
            self.set(&field.selection_set.node, ty, items, repeats)
        };
        n.saturating_add(listed).saturating_add(below)
    }

    fn set(&mut self, set: &SelectionSet, parent: &str, n: u64, k: u64) -> u64 {
        let mut nodes = 0u64;
        for item in &set.items {
            if self.steps_left == 0 {
                return u64::MAX;
            }
            self.steps_left -= 1;
            let more = match &item.node {
                Selection::Field(f) => self.field(parent, &f.node, n, k),
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    let ty = crate::graphql::inline_type(inline, parent);
                    self.set(&inline.selection_set.node, ty, n, k)
                }
                Selection::FragmentSpread(spread) => {
                    match self.doc.fragments.get(&spread.node.fragment_name.node) {
                        Some(def) => self.set(
                            &def.node.selection_set.node,
                            def.node.type_condition.node.on.node.as_str(),
                            n,
                            k,
                        ),
                        None => 0,
                    }
                }
            };
            nodes = nodes.saturating_add(more);
        }
        nodes
    }
}
