//! The schema index: what the layers need to know of a client's schema to
//! walk a document against it, read once from the client's SDL at startup.
//!
//! Reading the printed SDL (rather than a parallel table in code) keeps one
//! source of truth: what `schema/<client>.graphql` shows is what the guard
//! prices, the auth check walks and the edge reads nullability from. The
//! index knows, per `Type.field` of every object and interface type: the
//! named type it returns (to walk into sub-selections), whether it is a list
//! and nullable, the integer defaults of its arguments (`first: Int = 20`)
//! and the directives applied to it (`@cost`, `@listSize`, `@hasRole`…),
//! which each layer reads for itself. It also knows the root types and how
//! long each introspection list of the schema can be.
//!
//! Fields are numbered ([`FieldId`]), so that a layer keeping something per
//! field (the cost weights) keeps it in a table indexed by that number and
//! one lookup by name serves both.

use std::collections::HashMap;

use async_graphql::{
    parser::{
        parse_schema,
        types::{BaseType, ConstDirective, OperationType, TypeKind, TypeSystemDefinition},
    },
    Positioned, Value,
};

use crate::FastMap;

/// The number of one field of the index (dense, from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldId(u32);

impl FieldId {
    /// Its position in a table with one entry per field of the index.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One field definition of an object or interface type.
#[derive(Debug, Clone)]
pub struct SchemaField {
    /// The named type the field returns (list and non-null stripped).
    pub ty: String,
    /// It returns a list.
    pub is_list: bool,
    /// Its type may be `null` (the outermost wrapper is not `!`).
    pub nullable: bool,
    /// Whether the items of each list level may be `null`, outermost list
    /// first (`[[Int]!]` → `[false, true]`; empty for a field that is not a
    /// list).
    pub items_nullable: Vec<bool>,
    /// Integer defaults of the field's arguments, by argument name.
    pub int_defaults: HashMap<String, i64>,
    /// The directives applied to the definition, as the SDL prints them.
    pub directives: Vec<Positioned<ConstDirective>>,
}

/// Every field of every object and interface type of one schema.
#[derive(Debug, Clone)]
pub struct SchemaIndex {
    /// Type name → field name → field.
    types: FastMap<String, FastMap<String, FieldId>>,
    /// By [`FieldId`].
    fields: Vec<SchemaField>,
    /// `(type, interface it implements)`, in SDL order.
    implements: Vec<(String, String)>,
    /// Root type names: query, mutation, subscription.
    roots: [String; 3],
    introspection: IntrospectionSizes,
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
#[derive(Debug, Clone, thiserror::Error)]
#[error("the client's SDL does not parse: {0}")]
pub struct SchemaError(String);

impl Default for SchemaIndex {
    /// A schema without types, its roots named as usual.
    fn default() -> Self {
        Self {
            types: FastMap::default(),
            fields: Vec::new(),
            implements: Vec::new(),
            roots: ["Query".into(), "Mutation".into(), "Subscription".into()],
            introspection: IntrospectionSizes::default(),
        }
    }
}

impl SchemaIndex {
    /// Reads an SDL document.
    pub fn from_sdl(sdl: &str) -> Result<Self, SchemaError> {
        let doc = parse_schema(sdl).map_err(|e| SchemaError(e.to_string()))?;
        let mut index = SchemaIndex::default();
        let mut has_interface = false;
        for def in doc.definitions {
            index.introspection.count(&def);
            match def {
                TypeSystemDefinition::Schema(schema) => {
                    let s = schema.node;
                    for (slot, name) in [s.query, s.mutation, s.subscription]
                        .into_iter()
                        .enumerate()
                    {
                        if let Some(name) = name {
                            index.roots[slot] = name.node.to_string();
                        }
                    }
                }
                TypeSystemDefinition::Type(ty) => {
                    let ty = ty.node;
                    let (fields, implements) = match ty.kind {
                        TypeKind::Object(o) => (o.fields, o.implements),
                        TypeKind::Interface(i) => {
                            has_interface = true;
                            (i.fields, i.implements)
                        }
                        _ => continue,
                    };
                    let type_name = ty.name.node.to_string();
                    for interface in implements {
                        index
                            .implements
                            .push((type_name.clone(), interface.node.to_string()));
                    }
                    let mut by_name = FastMap::default();
                    for field in fields {
                        let field = field.node;
                        let id = FieldId(index.fields.len() as u32);
                        let int_defaults = field
                            .arguments
                            .iter()
                            .filter_map(|arg| {
                                let arg = &arg.node;
                                match arg.default_value.as_ref().map(|v| &v.node) {
                                    Some(Value::Number(n)) => {
                                        Some((arg.name.node.to_string(), n.as_i64()?))
                                    }
                                    _ => None,
                                }
                            })
                            .collect();
                        index.fields.push(SchemaField {
                            ty: named_type(&field.ty.node.base),
                            is_list: matches!(field.ty.node.base, BaseType::List(_)),
                            nullable: field.ty.node.nullable,
                            items_nullable: items_nullable(&field.ty.node.base),
                            int_defaults,
                            directives: field.directives,
                        });
                        by_name.insert(field.name.node.to_string(), id);
                    }
                    index.types.entry(type_name).or_default().extend(by_name);
                }
                TypeSystemDefinition::Directive(_) => {}
            }
        }
        // An interface's possible types are its implementors: at most every
        // type of the schema.
        if has_interface {
            let sizes = &mut index.introspection;
            sizes.max_related_types = sizes.max_related_types.max(sizes.types);
        }
        Ok(index)
    }

    /// `parent.name` (`None`: unknown, e.g. `__typename` or an
    /// introspection field).
    pub fn field(&self, parent: &str, name: &str) -> Option<&SchemaField> {
        self.lookup(parent, name).map(|(_, field)| field)
    }

    /// `parent.name` and its number.
    pub fn lookup(&self, parent: &str, name: &str) -> Option<(FieldId, &SchemaField)> {
        let id = *self.types.get(parent)?.get(name)?;
        Some((id, self.fields.get(id.index())?))
    }

    /// The field numbered `id`.
    pub fn get(&self, id: FieldId) -> Option<&SchemaField> {
        self.fields.get(id.index())
    }

    /// Whether `ty` is an object or interface type of the schema.
    pub fn has_type(&self, ty: &str) -> bool {
        self.types.contains_key(ty)
    }

    /// The root type of an operation of type `ty`.
    pub fn root(&self, ty: OperationType) -> &str {
        match ty {
            OperationType::Query => &self.roots[0],
            OperationType::Mutation => &self.roots[1],
            OperationType::Subscription => &self.roots[2],
        }
    }

    /// Every field as `(type, field name, number, field)`, in no order.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str, FieldId, &SchemaField)> {
        self.types.iter().flat_map(move |(ty, fields)| {
            fields.iter().filter_map(move |(name, id)| {
                let field = self.fields.get(id.index())?;
                Some((ty.as_str(), name.as_str(), *id, field))
            })
        })
    }

    /// The object and interface types, each with its fields by name.
    pub fn types(&self) -> impl Iterator<Item = (&str, &FastMap<String, FieldId>)> {
        self.types.iter().map(|(ty, fields)| (ty.as_str(), fields))
    }

    /// How many fields the index holds (the length of a per-field table).
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    /// Whether the schema has no object or interface field at all.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    /// `(type, interface it implements)`, in SDL order.
    pub fn implements(&self) -> &[(String, String)] {
        &self.implements
    }

    /// Upper bounds of the introspection lists this schema answers.
    pub fn introspection(&self) -> &IntrospectionSizes {
        &self.introspection
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

fn items_nullable(base: &BaseType) -> Vec<bool> {
    match base {
        BaseType::Named(_) => Vec::new(),
        BaseType::List(inner) => {
            let mut levels = vec![inner.nullable];
            levels.extend(items_nullable(&inner.base));
            levels
        }
    }
}

fn named_type(base: &BaseType) -> String {
    match base {
        BaseType::Named(name) => name.to_string(),
        BaseType::List(inner) => named_type(&inner.base),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn the_index_reads_types_lists_nullability_defaults_and_roots() {
        let sdl = r#"
            schema { query: Root }
            type Root {
              products(first: Int = 20, category: String): [Product!] @cost(weight: 2)
              version: String!
            }
            interface Node { id: ID! }
            type Product implements Node { id: ID! reviews(first: Int = 5): [Review!]! }
            type Review { rating: Int! }
        "#;
        let index = SchemaIndex::from_sdl(sdl).unwrap();
        let products = index.field("Root", "products").unwrap();
        assert_eq!(products.ty, "Product");
        assert!(products.is_list && products.nullable);
        assert_eq!(products.int_defaults.get("first"), Some(&20));
        assert_eq!(products.directives.len(), 1);
        let reviews = index.field("Product", "reviews").unwrap();
        assert!(reviews.is_list && !reviews.nullable);
        assert_eq!(reviews.items_nullable, [false]);
        assert!(!index.field("Root", "version").unwrap().nullable);
        assert!(index.field("Root", "__typename").is_none());
        assert_eq!(index.root(OperationType::Query), "Root");
        assert_eq!(index.root(OperationType::Mutation), "Mutation");
        assert_eq!(
            index.implements(),
            &[("Product".to_string(), "Node".to_string())]
        );
        assert!(index.has_type("Node") && !index.has_type("ID"));
        assert_eq!(index.fields().count(), index.len());
        // Node's possible types: at most every type.
        assert_eq!(
            index.introspection().max_related_types,
            index.introspection().types
        );
    }
}
