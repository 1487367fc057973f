//! The client's selection under a field, as the selection set to forward to
//! a GraphQL service.
//!
//! Built from the operation the client sent, as the executor sees it
//! (`ctx.item`, the fragments and the variables of the request):
//!
//! - fields keep their **aliases**, so the answer's keys are the client's
//!   response keys and two aliases of one field with different arguments
//!   both arrive;
//! - **arguments** become variables of the forwarded operation (`$v0`,
//!   `$v1`, typed as the client schema types the argument, which mirrors the
//!   service's), whether the client wrote a literal or a variable: no value
//!   is ever written into the document's text;
//! - **fragments** (named and inline) are inlined; a selection that
//!   `@skip(if: true)` / `@include(if: false)` removes is not forwarded
//!   (decided here, with the request's variables);
//! - `__typename` is answered by the gateway and not forwarded.
//!
//! Beside the text, [`Selection::fields`] says what the answer must hold
//! (every response key, `null` only where the type is nullable), so an
//! answer that is half-filled is caught (`docs/pitfalls.md` #13).

use std::hash::{Hash, Hasher};

use async_graphql::{
    parser::types::{Directive, Field, Selection as AstSelection, SelectionSet},
    registry::MetaType,
    Context, Name, Positioned,
};
use serde_json::{Map, Value};

/// What the answer for one forwarded field must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldCheck {
    /// The response key (the alias, else the name).
    pub key: String,
    /// The field's value may be `null`.
    pub nullable: bool,
    /// A list's items may be `null`.
    pub items_nullable: bool,
    /// The sub-selection (empty for a leaf).
    pub children: Vec<FieldCheck>,
}

/// A forwarded selection set: text, variables and the answer's shape.
/// Two selections are equal when their text and variables are: one
/// `_entities` call serves every parent that asked for the same one.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The selection set's content, e.g. `points h: history(first: $v0) { at }`.
    pub text: String,
    /// The variables' definitions, e.g. `$v0: Int!` (comma-separated).
    pub variable_definitions: String,
    /// The variables' values.
    pub variables: Map<String, Value>,
    /// What the answer must hold.
    pub fields: Vec<FieldCheck>,
    /// `text` and the variables serialized: the identity of the selection.
    key: String,
}

impl PartialEq for Selection {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl Eq for Selection {}

impl Hash for Selection {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.key.hash(state);
    }
}

impl Selection {
    /// A selection of `text` with no fields to check (unit tests).
    #[cfg(test)]
    pub(crate) fn for_tests(text: &str, variable_definitions: &str) -> Self {
        Self {
            text: text.to_string(),
            variable_definitions: variable_definitions.to_string(),
            variables: Map::new(),
            fields: Vec::new(),
            key: text.to_string(),
        }
    }

    /// Checks an answered object against the selection.
    pub fn matches(&self, value: &Value) -> bool {
        matches_fields(value, &self.fields)
    }
}

fn matches_fields(value: &Value, fields: &[FieldCheck]) -> bool {
    let Some(object) = value.as_object() else {
        return false;
    };
    fields.iter().all(|f| match object.get(&f.key) {
        None => false,
        Some(Value::Null) => f.nullable,
        Some(v) if f.children.is_empty() => !v.is_object(),
        Some(Value::Array(items)) => items.iter().all(|item| match item {
            Value::Null => f.items_nullable,
            item => matches_fields(item, &f.children),
        }),
        Some(v) => matches_fields(v, &f.children),
    })
}

/// Why a selection could not be forwarded (a bug or a schema mismatch:
/// validation already accepted the document).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot forward `{0}`")]
pub struct ForwardError(pub String);

/// The selection under the field `ctx` resolves, whose type is `type_name`
/// in the client schema.
pub fn forward(ctx: &Context<'_>, type_name: &str) -> Result<Selection, ForwardError> {
    let mut out = Builder {
        ctx,
        text: String::new(),
        definitions: String::new(),
        variables: Map::new(),
    };
    let fields = out.selection_set(&ctx.item.node.selection_set, type_name)?;
    let key = format!(
        "{}|{}",
        out.text,
        serde_json::to_string(&out.variables).unwrap_or_default()
    );
    Ok(Selection {
        text: out.text,
        variable_definitions: out.definitions,
        variables: out.variables,
        fields,
        key,
    })
}

struct Builder<'c, 'a> {
    ctx: &'c Context<'a>,
    text: String,
    definitions: String,
    variables: Map<String, Value>,
}

impl Builder<'_, '_> {
    fn selection_set(
        &mut self,
        set: &Positioned<SelectionSet>,
        type_name: &str,
    ) -> Result<Vec<FieldCheck>, ForwardError> {
        let mut fields = Vec::new();
        for item in &set.node.items {
            match &item.node {
                AstSelection::Field(field) => {
                    if self.skipped(&field.node.directives) {
                        continue;
                    }
                    if let Some(check) = self.field(&field.node, type_name)? {
                        fields.push(check);
                    }
                }
                AstSelection::FragmentSpread(spread) => {
                    if self.skipped(&spread.node.directives) {
                        continue;
                    }
                    let name = &spread.node.fragment_name.node;
                    let fragment = self
                        .ctx
                        .query_env
                        .fragments
                        .get(name)
                        .ok_or_else(|| ForwardError(format!("fragment {name}")))?;
                    fields.extend(self.selection_set(&fragment.node.selection_set, type_name)?);
                }
                AstSelection::InlineFragment(inline) => {
                    if self.skipped(&inline.node.directives) {
                        continue;
                    }
                    fields.extend(self.selection_set(&inline.node.selection_set, type_name)?);
                }
            }
        }
        Ok(fields)
    }

    fn field(
        &mut self,
        field: &Field,
        type_name: &str,
    ) -> Result<Option<FieldCheck>, ForwardError> {
        let name = field.name.node.as_str();
        if name.starts_with("__") {
            return Ok(None);
        }
        let registry = &self.ctx.schema_env.registry;
        let meta = match registry.types.get(type_name) {
            Some(MetaType::Object { fields, .. }) => fields.get(name),
            _ => None,
        }
        .ok_or_else(|| ForwardError(format!("{type_name}.{name}")))?;
        if !self.text.is_empty() {
            self.text.push(' ');
        }
        let key = match &field.alias {
            Some(alias) => {
                self.text.push_str(alias.node.as_str());
                self.text.push_str(": ");
                alias.node.to_string()
            }
            None => name.to_string(),
        };
        self.text.push_str(name);
        if !field.arguments.is_empty() {
            self.text.push('(');
            for (i, (arg, value)) in field.arguments.iter().enumerate() {
                let arg_meta = meta
                    .args
                    .get(arg.node.as_str())
                    .ok_or_else(|| ForwardError(format!("{type_name}.{name}({})", arg.node)))?;
                let value = value
                    .node
                    .clone()
                    .into_const_with(|var| Ok::<_, std::convert::Infallible>(self.variable(&var)))
                    .unwrap_or_else(|never| match never {});
                let var = format!("v{}", self.variables.len());
                if i > 0 {
                    self.text.push_str(", ");
                }
                self.text.push_str(&format!("{}: ${var}", arg.node));
                if !self.definitions.is_empty() {
                    self.definitions.push_str(", ");
                }
                self.definitions
                    .push_str(&format!("${var}: {}", arg_meta.ty));
                self.variables
                    .insert(var, value.into_json().unwrap_or(Value::Null));
            }
            self.text.push(')');
        }
        let ty = meta.ty.as_str();
        let named = ty.trim_matches(|c| c == '[' || c == ']' || c == '!');
        let children = if field.selection_set.node.items.is_empty() {
            Vec::new()
        } else {
            self.text.push_str(" {");
            let start = self.text.len();
            let children = self.selection_set(&field.selection_set, named)?;
            if self.text.len() == start {
                // Only `__typename` (or nothing left after @skip): keep the
                // document valid.
                self.text.push_str(" __typename");
            }
            self.text.push_str(" }");
            children
        };
        Ok(Some(FieldCheck {
            key,
            nullable: !ty.ends_with('!'),
            items_nullable: ty.starts_with('[') && !ty.trim_end_matches('!').ends_with("!]"),
            children,
        }))
    }

    /// The value of the request's variable `name` (its default when not
    /// given, else `null`).
    fn variable(&self, name: &Name) -> async_graphql::Value {
        let env = self.ctx.query_env;
        if let Some(v) = env.variables.get(name) {
            return v.clone();
        }
        env.operation
            .node
            .variable_definitions
            .iter()
            .find(|d| d.node.name.node == *name)
            .and_then(|d| d.node.default_value.as_ref())
            .map(|d| d.node.clone())
            .unwrap_or(async_graphql::Value::Null)
    }

    /// True when `@skip(if: true)` or `@include(if: false)` removes it.
    fn skipped(&self, directives: &[Positioned<Directive>]) -> bool {
        directives.iter().any(|d| {
            let flag = d.node.get_argument("if").map(|v| {
                let v = v
                    .node
                    .clone()
                    .into_const_with(|var| Ok::<_, std::convert::Infallible>(self.variable(&var)))
                    .unwrap_or_else(|never| match never {});
                matches!(v, async_graphql::Value::Boolean(true))
            });
            match d.node.name.node.as_str() {
                "skip" => flag == Some(true),
                "include" => flag == Some(false),
                _ => false,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn check(key: &str, nullable: bool, children: Vec<FieldCheck>) -> FieldCheck {
        FieldCheck {
            key: key.into(),
            nullable,
            items_nullable: false,
            children,
        }
    }

    #[test]
    fn an_answer_must_hold_every_key_it_was_asked_for() {
        let s = Selection {
            text: String::new(),
            variable_definitions: String::new(),
            variables: Map::new(),
            fields: vec![
                check("points", false, vec![]),
                check("h", false, vec![check("at", false, vec![])]),
                check("maybe", true, vec![]),
            ],
            key: String::new(),
        };
        assert!(s.matches(&json!({"points": 1, "h": [{"at": "x"}], "maybe": null})));
        assert!(!s.matches(&json!({"points": 1, "h": [{"at": "x"}]})));
        assert!(!s.matches(&json!({"points": null, "h": [], "maybe": 1})));
        assert!(!s.matches(&json!({"points": 1, "h": [{}], "maybe": 1})));
        assert!(!s.matches(&json!({"points": 1, "h": [null], "maybe": 1})));
        assert!(!s.matches(&json!({"points": {"x": 1}, "h": [], "maybe": 1})));
        assert!(!s.matches(&json!([1])));
    }
}
