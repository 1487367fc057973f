//! The cost model of one client: the `@cost` and `@listSize` of every field,
//! read from the schema index ([`crate::graphql::SchemaIndex`]) at startup.
//!
//! The index is read from the printed SDL, so what `schema/<client>.graphql`
//! shows is what is charged. A field's weight is its `@cost` (0 when absent:
//! fields of an already fetched object are free); its `@listSize` says how a
//! list multiplies its sub-selection. Everything else a walk needs of a
//! field (its type, whether it is a list, the integer defaults of its
//! arguments) is the index's, and one lookup by name serves both: the
//! weights are a table by [`FieldId`].

use std::{collections::HashMap, sync::Arc};

use async_graphql::{parser::types::ConstDirective, Value};

use crate::graphql::{FieldId, SchemaError, SchemaField, SchemaIndex};

/// How one field is priced, with what the walks need of it from the index.
#[derive(Debug, Clone, Copy)]
pub struct FieldCost<'m> {
    /// `@cost(weight:)`, 0 when the field has none.
    pub weight: u64,
    /// `@listSize`, when the field is a priced list.
    pub list: Option<&'m ListSize>,
    /// The named type the field returns (list and non-null stripped).
    pub ty: &'m str,
    /// It returns a list.
    pub is_list: bool,
    /// Integer defaults of the field's arguments, by argument name.
    pub int_defaults: &'m HashMap<String, i64>,
}

/// `@listSize(assumedSize:, slicingArguments:)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSize {
    pub assumed_size: Option<u64>,
    pub slicing_arguments: Vec<String>,
}

/// What `@cost` and `@listSize` say of one field.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Price {
    weight: u64,
    list: Option<ListSize>,
}

/// Every field's price, by parent type and field name.
#[derive(Debug, Clone)]
pub struct CostModel {
    schema: Arc<SchemaIndex>,
    /// By [`FieldId`](crate::graphql::FieldId).
    prices: Vec<Price>,
    /// Types under which some field has a weight (directly or deeper):
    /// the actual-cost walk skips the subtrees of every other type.
    weighted: std::collections::HashSet<String, foldhash::fast::RandomState>,
}

impl CostModel {
    /// Reads `@cost` and `@listSize` from an SDL document.
    pub fn from_sdl(sdl: &str) -> Result<Self, SchemaError> {
        SchemaIndex::from_sdl(sdl).map(|schema| Self::new(Arc::new(schema)))
    }

    /// The weights of `schema`'s fields.
    pub fn new(schema: Arc<SchemaIndex>) -> Self {
        let mut prices = vec![Price::default(); schema.len()];
        for (_, _, id, field) in schema.fields() {
            if let Some(price) = prices.get_mut(id.index()) {
                for directive in &field.directives {
                    read_directive(&directive.node, price);
                }
            }
        }
        // Fixpoint: a type is weighted if a field of it is, or leads to one.
        let mut weighted = std::collections::HashSet::default();
        loop {
            let before = weighted.len();
            for (ty, fields) in schema.types() {
                if !weighted.contains(ty)
                    && fields.values().any(|id| {
                        prices.get(id.index()).is_some_and(|p| p.weight > 0)
                            || schema.get(*id).is_some_and(|f| weighted.contains(&f.ty))
                    })
                {
                    weighted.insert(ty.to_string());
                    break;
                }
            }
            if weighted.len() == before {
                break;
            }
        }
        CostModel {
            schema,
            prices,
            weighted,
        }
    }

    /// The schema the weights are of.
    pub fn schema(&self) -> &Arc<SchemaIndex> {
        &self.schema
    }

    /// The price of `parent.field` (`None`: unknown, e.g. `__typename`).
    pub fn field(&self, parent: &str, field: &str) -> Option<FieldCost<'_>> {
        let (id, field) = self.schema.lookup(parent, field)?;
        self.priced(id, field)
    }

    fn priced<'m>(&'m self, id: FieldId, field: &'m SchemaField) -> Option<FieldCost<'m>> {
        let price = self.prices.get(id.index())?;
        Some(FieldCost {
            weight: price.weight,
            list: price.list.as_ref(),
            ty: &field.ty,
            is_list: field.is_list,
            int_defaults: &field.int_defaults,
        })
    }

    /// Whether any field of type `ty`, or below it, has a weight (an
    /// unknown type is assumed to).
    pub fn has_weights_below(&self, ty: &str) -> bool {
        self.weighted.contains(ty) || !self.schema.has_type(ty)
    }

    /// The weight of `parent.field` (0 when unknown or unpriced).
    pub fn weight(&self, parent: &str, field: &str) -> u64 {
        self.field(parent, field).map_or(0, |f| f.weight)
    }

    /// Every field of every object and interface type as `(type, field, price)`.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str, FieldCost<'_>)> {
        self.schema
            .fields()
            .filter_map(|(ty, name, id, field)| Some((ty, name, self.priced(id, field)?)))
    }

    /// Every priced field as `(type, field, weight)`, sorted (for tests).
    pub fn priced_fields(&self) -> Vec<(String, String, u64)> {
        let mut out: Vec<_> = self
            .fields()
            .filter(|(_, _, c)| c.weight > 0 || c.list.is_some())
            .map(|(t, f, c)| (t.to_string(), f.to_string(), c.weight))
            .collect();
        out.sort();
        out
    }
}

fn read_directive(directive: &ConstDirective, cost: &mut Price) {
    match directive.name.node.as_str() {
        "cost" => {
            if let Some(Value::Number(n)) = directive.get_argument("weight").map(|v| &v.node) {
                cost.weight = n.as_u64().unwrap_or(0);
            }
        }
        "listSize" => {
            let mut list = ListSize::default();
            if let Some(Value::Number(n)) = directive.get_argument("assumedSize").map(|v| &v.node) {
                list.assumed_size = n.as_u64();
            }
            if let Some(Value::List(items)) =
                directive.get_argument("slicingArguments").map(|v| &v.node)
            {
                list.slicing_arguments = items
                    .iter()
                    .filter_map(|v| match v {
                        Value::String(s) => Some(s.clone()),
                        _ => None,
                    })
                    .collect();
            }
            cost.list = Some(list);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn model_reads_weights_list_sizes_and_defaults_from_sdl() {
        let sdl = r#"
            type Query {
              products(first: Int = 20, category: String): [Product!] @cost(weight: 2) @listSize(assumedSize: 50, slicingArguments: ["first"])
              version: String!
            }
            type Product { id: ID! reviews(first: Int = 5): [Review!] @cost(weight: 1) @listSize(slicingArguments: ["first"]) }
            type Review { rating: Int! }
            directive @cost(weight: Int!) on FIELD_DEFINITION
            directive @listSize(assumedSize: Int, slicingArguments: [String!]) on FIELD_DEFINITION
        "#;
        let m = CostModel::from_sdl(sdl).unwrap();
        let p = m.field("Query", "products").unwrap();
        assert_eq!(p.weight, 2);
        assert_eq!(p.ty, "Product");
        assert_eq!(p.int_defaults.get("first"), Some(&20));
        assert_eq!(
            p.list,
            Some(&ListSize {
                assumed_size: Some(50),
                slicing_arguments: vec!["first".into()]
            })
        );
        assert_eq!(m.weight("Query", "version"), 0);
        assert_eq!(m.weight("Product", "reviews"), 1);
        assert_eq!(
            m.schema()
                .root(async_graphql::parser::types::OperationType::Query),
            "Query"
        );
    }
}
