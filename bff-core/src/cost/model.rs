//! The cost model of one client, read from its SDL at startup.
//!
//! Reading the printed SDL (rather than a parallel table in code) keeps one
//! source of truth: what `schema/<client>.graphql` shows is what is charged.
//! The model knows, per `Type.field`: its `@cost` weight (0 when absent:
//! fields of an already fetched object are free), its `@listSize`, the
//! named type it returns (to walk into sub-selections) and the integer
//! defaults of its arguments (`first: Int = 20` prices an operation that
//! does not pass `first`).

use std::collections::HashMap;

use async_graphql::{
    parser::{
        parse_schema,
        types::{BaseType, ConstDirective, TypeKind, TypeSystemDefinition},
    },
    Value,
};

use crate::FastMap;

/// How one field is priced.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldCost {
    /// `@cost(weight:)`, 0 when the field has none.
    pub weight: u64,
    /// `@listSize`, when the field is a priced list.
    pub list: Option<ListSize>,
    /// The named type the field returns (list and non-null stripped).
    pub ty: String,
    /// It returns a list.
    pub is_list: bool,
    /// Integer defaults of the field's arguments, by argument name.
    pub int_defaults: HashMap<String, i64>,
}

/// `@listSize(assumedSize:, slicingArguments:)`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListSize {
    pub assumed_size: Option<u64>,
    pub slicing_arguments: Vec<String>,
}

/// Every field's price, by parent type and field name.
#[derive(Debug, Clone, Default)]
pub struct CostModel {
    fields: FastMap<String, FastMap<String, FieldCost>>,
    /// Types under which some field has a weight (directly or deeper):
    /// the actual-cost walk skips the subtrees of every other type.
    weighted: std::collections::HashSet<String, foldhash::fast::RandomState>,
    /// Upper bounds of the introspection lists this schema answers, so
    /// that the guard can price `__schema { types { fields { … } } }` by
    /// what it really resolves.
    pub introspection: IntrospectionSizes,
    /// Root type names (`Query`, `Mutation`, `Subscription` unless renamed).
    pub query: String,
    pub mutation: String,
    pub subscription: String,
}

/// How much each introspection list of one schema can yield: the longest
/// list of its kind (`max_*`) and all of them together (`total_*`), the
/// SDL's own definitions plus the built-in scalars, directives and
/// introspection types, counted generously.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntrospectionSizes {
    /// `__Schema.types`.
    pub types: u64,
    /// `__Schema.directives`.
    pub directives: u64,
    /// `__Type.fields`.
    pub max_fields: u64,
    pub total_fields: u64,
    /// `__Field.args` and `__Directive.args`.
    pub max_args: u64,
    pub total_args: u64,
    /// `__Type.enumValues`.
    pub max_enum_values: u64,
    pub total_enum_values: u64,
    /// `__Type.inputFields`.
    pub max_input_fields: u64,
    pub total_input_fields: u64,
    /// `__Type.interfaces` and `__Type.possibleTypes`.
    pub max_related_types: u64,
    pub total_related_types: u64,
}

impl Default for IntrospectionSizes {
    /// What every schema answers before its SDL counts in: five scalars and
    /// eight introspection types (their 40-odd fields, their arguments, the
    /// 27 values of `__TypeKind` and `__DirectiveLocation`) and five
    /// built-in directives.
    fn default() -> Self {
        Self {
            types: 13,
            directives: 5,
            max_fields: 12,
            total_fields: 45,
            max_args: 2,
            total_args: 12,
            max_enum_values: 19,
            total_enum_values: 27,
            max_input_fields: 0,
            total_input_fields: 0,
            max_related_types: 0,
            total_related_types: 0,
        }
    }
}

/// The SDL could not be read.
#[derive(Debug, thiserror::Error)]
#[error("the client's SDL does not parse: {0}")]
pub struct ModelError(String);

impl CostModel {
    /// Reads `@cost` and `@listSize` from an SDL document.
    pub fn from_sdl(sdl: &str) -> Result<Self, ModelError> {
        let doc = parse_schema(sdl).map_err(|e| ModelError(e.to_string()))?;
        let mut model = CostModel {
            query: "Query".into(),
            mutation: "Mutation".into(),
            subscription: "Subscription".into(),
            ..CostModel::default()
        };
        let mut has_interface = false;
        for def in doc.definitions {
            model.introspection.count(&def);
            has_interface |= matches!(
                &def,
                TypeSystemDefinition::Type(t) if matches!(t.node.kind, TypeKind::Interface(_))
            );
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    let s = schema.node;
                    if let Some(q) = s.query {
                        model.query = q.node.to_string();
                    }
                    if let Some(m) = s.mutation {
                        model.mutation = m.node.to_string();
                    }
                    if let Some(s) = s.subscription {
                        model.subscription = s.node.to_string();
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let ty = ty.node;
                    let fields = match ty.kind {
                        TypeKind::Object(o) => o.fields,
                        TypeKind::Interface(i) => i.fields,
                        _ => continue,
                    };
                    let entry = model.fields.entry(ty.name.node.to_string()).or_default();
                    for field in fields {
                        let field = field.node;
                        let mut cost = FieldCost {
                            ty: named_type(&field.ty.node.base),
                            is_list: matches!(field.ty.node.base, BaseType::List(_)),
                            ..FieldCost::default()
                        };
                        for arg in &field.arguments {
                            if let Some(Value::Number(n)) =
                                arg.node.default_value.as_ref().map(|v| &v.node)
                            {
                                if let Some(n) = n.as_i64() {
                                    cost.int_defaults.insert(arg.node.name.node.to_string(), n);
                                }
                            }
                        }
                        for directive in &field.directives {
                            read_directive(&directive.node, &mut cost);
                        }
                        entry.insert(field.name.node.to_string(), cost);
                    }
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        // An interface's possible types are its implementors: at most every
        // type of the schema.
        if has_interface {
            model.introspection.max_related_types = model
                .introspection
                .max_related_types
                .max(model.introspection.types);
        }
        // Fixpoint: a type is weighted if a field of it is, or leads to one.
        loop {
            let before = model.weighted.len();
            for (ty, fields) in &model.fields {
                if !model.weighted.contains(ty)
                    && fields
                        .values()
                        .any(|f| f.weight > 0 || model.weighted.contains(&f.ty))
                {
                    let ty = ty.clone();
                    model.weighted.insert(ty);
                    break;
                }
            }
            if model.weighted.len() == before {
                break;
            }
        }
        Ok(model)
    }

    /// The price of `parent.field` (`None`: unknown, e.g. `__typename`).
    pub fn field(&self, parent: &str, field: &str) -> Option<&FieldCost> {
        self.fields.get(parent)?.get(field)
    }

    /// Whether any field of type `ty`, or below it, has a weight (an
    /// unknown type is assumed to).
    pub fn has_weights_below(&self, ty: &str) -> bool {
        self.weighted.contains(ty) || !self.fields.contains_key(ty)
    }

    /// The weight of `parent.field` (0 when unknown or unpriced).
    pub fn weight(&self, parent: &str, field: &str) -> u64 {
        self.field(parent, field).map_or(0, |f| f.weight)
    }

    /// Every field of every object and interface type as `(type, field, price)`.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str, &FieldCost)> {
        self.fields
            .iter()
            .flat_map(|(t, fs)| fs.iter().map(move |(f, c)| (t.as_str(), f.as_str(), c)))
    }

    /// Every priced field as `(type, field, weight)`, sorted (for tests).
    pub fn priced_fields(&self) -> Vec<(String, String, u64)> {
        let mut out: Vec<_> = self
            .fields
            .iter()
            .flat_map(|(t, fs)| {
                fs.iter()
                    .filter(|(_, c)| c.weight > 0 || c.list.is_some())
                    .map(move |(f, c)| (t.clone(), f.clone(), c.weight))
            })
            .collect();
        out.sort();
        out
    }
}

impl IntrospectionSizes {
    /// Counts one definition of the SDL in.
    fn count(&mut self, def: &TypeSystemDefinition) {
        fn add(max: &mut u64, total: &mut u64, n: usize) {
            *max = (*max).max(n as u64);
            *total += n as u64;
        }
        match def {
            TypeSystemDefinition::Type(ty) => {
                self.types += 1;
                let (fields, implements) = match &ty.node.kind {
                    TypeKind::Object(o) => (&o.fields[..], o.implements.len()),
                    TypeKind::Interface(i) => (&i.fields[..], i.implements.len()),
                    TypeKind::Union(u) => {
                        add(
                            &mut self.max_related_types,
                            &mut self.total_related_types,
                            u.members.len(),
                        );
                        return;
                    }
                    TypeKind::Enum(e) => {
                        add(
                            &mut self.max_enum_values,
                            &mut self.total_enum_values,
                            e.values.len(),
                        );
                        return;
                    }
                    TypeKind::InputObject(i) => {
                        add(
                            &mut self.max_input_fields,
                            &mut self.total_input_fields,
                            i.fields.len(),
                        );
                        return;
                    }
                    TypeKind::Scalar => return,
                };
                add(&mut self.max_fields, &mut self.total_fields, fields.len());
                for field in fields {
                    add(
                        &mut self.max_args,
                        &mut self.total_args,
                        field.node.arguments.len(),
                    );
                }
                // An object's interfaces; an interface's possible types are
                // its implementors, each of which names it: the total holds
                // both directions.
                add(
                    &mut self.max_related_types,
                    &mut self.total_related_types,
                    implements,
                );
                self.total_related_types += implements as u64;
            }
            TypeSystemDefinition::Directive(d) => {
                self.directives += 1;
                add(
                    &mut self.max_args,
                    &mut self.total_args,
                    d.node.arguments.len(),
                );
            }
            TypeSystemDefinition::Schema(_) => {}
        }
    }
}

fn named_type(base: &BaseType) -> String {
    match base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named_type(&inner.base),
    }
}

fn read_directive(directive: &ConstDirective, cost: &mut FieldCost) {
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
            Some(ListSize {
                assumed_size: Some(50),
                slicing_arguments: vec!["first".into()]
            })
        );
        assert_eq!(m.weight("Query", "version"), 0);
        assert_eq!(m.weight("Product", "reviews"), 1);
        assert_eq!(m.query, "Query");
    }
}
