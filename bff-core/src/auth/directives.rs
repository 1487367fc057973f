//! `@authenticated`, `@requiresScopes` and `@hasRole`: declared once, enforced
//! from the declaration.
//!
//! In async-graphql a schema directive (what the SDL shows) and a guard (what
//! runs) are unrelated (docs/pitfalls.md #11): a field can advertise `@hasRole` and
//! check nothing. Here there is no separate guard to forget. A client marks
//! a field with the directive only, e.g.
//! `#[graphql(directive = has_role::apply(vec![Role::Support]))]`, and
//! [`AuthorizationExtension`] reads the directive invocations back from the
//! schema registry (the very data the SDL is printed from) and checks them
//! before the field's resolver runs. A denied field therefore makes no
//! upstream call, and the SDL cannot promise a check that does not happen.
//!
//! Ownership ("own orders only") depends on data the resolver must fetch
//! first, so it stays in resolvers, through [`require_owner_or_staff`], with
//! the same error shape: `UNAUTHENTICATED` for an anonymous caller,
//! `FORBIDDEN` for a caller who lacks the claim.

// The TypeDirective macro turns each function into a unit struct of the same
// (snake_case) name.
#![allow(non_camel_case_types)]

use std::sync::{Arc, OnceLock};

use async_graphql::{
    extensions::{Extension, ExtensionContext, ExtensionFactory, NextResolve, ResolveInfo},
    parser::types::{ExecutableDocument, OperationDefinition, SelectionSet},
    registry::{MetaType, Registry},
    Context, InputType, ObjectType, PathSegment, SchemaBuilder, ServerError, ServerResult,
    SubscriptionType, TypeDirective, Value,
};

use crate::{
    caller::{Caller, Identity, Role},
    context::RequestContext,
    errors::ErrorCode,
    graphql::{fields_of, SchemaIndex},
    telemetry::names,
    FastMap,
};

/// Needs a verified token.
#[TypeDirective(location = "FieldDefinition", name = "authenticated")]
pub fn authenticated() {}

/// Needs every scope of at least one group (an OR of AND-groups).
#[TypeDirective(location = "FieldDefinition", name = "requiresScopes")]
pub fn requires_scopes(scopes: Vec<Vec<String>>) {}

/// Needs at least one of the roles.
#[TypeDirective(location = "FieldDefinition", name = "hasRole")]
pub fn has_role(roles: Vec<Role>) {}

/// What one field requires, merged from its auth directives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldRule {
    /// Any auth directive implies a verified token.
    pub authenticated: bool,
    /// `@requiresScopes`: some group whose scopes the caller all holds.
    pub scopes: Option<Vec<Vec<String>>>,
    /// `@hasRole`: any one of these.
    pub roles: Option<Vec<Role>>,
}

/// Why a field was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub code: ErrorCode,
    pub message: String,
}

impl FieldRule {
    /// Checks a caller (`None`: anonymous) against this rule.
    pub fn check(&self, field: &str, identity: Option<&Identity>) -> Result<(), Denied> {
        let Some(identity) = identity else {
            return Err(Denied {
                code: ErrorCode::Unauthenticated,
                message: format!("`{field}` needs a signed-in user"),
            });
        };
        if let Some(roles) = &self.roles {
            if !roles.iter().any(|r| identity.has_role(*r)) {
                let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
                return Err(Denied {
                    code: ErrorCode::Forbidden,
                    message: format!("`{field}` needs role {}", names.join(" or ")),
                });
            }
        }
        if let Some(groups) = &self.scopes {
            if !groups
                .iter()
                .any(|group| group.iter().all(|s| identity.has_scope(s)))
            {
                let wanted: Vec<String> = groups.iter().map(|g| g.join(" and ")).collect();
                return Err(Denied {
                    code: ErrorCode::Forbidden,
                    message: format!("`{field}` needs scope {}", wanted.join(" or ")),
                });
            }
        }
        Ok(())
    }
}

/// Every auth rule of a schema, by parent type and field name.
#[derive(Debug, Clone, Default)]
pub struct FieldRules(FastMap<String, FastMap<String, FieldRule>>);

impl FieldRules {
    /// Reads the auth directive invocations of every object and interface
    /// field. A directive whose arguments cannot be read denies everyone
    /// (`@requiresScopes(scopes: [])`): failing closed beats guessing.
    pub fn from_registry(registry: &Registry) -> Self {
        let mut rules = RulesBuilder::default();
        for (type_name, ty) in &registry.types {
            let fields = match ty {
                MetaType::Object { fields, .. } | MetaType::Interface { fields, .. } => fields,
                _ => continue,
            };
            for (field_name, field) in fields {
                let mut rule = FieldRule::default();
                for invocation in &field.directive_invocations {
                    rule.add(invocation.name.as_str(), |arg| invocation.args.get(arg));
                }
                rules.field(type_name, field_name, rule);
            }
        }
        for (object, interfaces) in &registry.implements {
            for interface in interfaces {
                rules.implements(object, interface);
            }
        }
        rules.finish()
    }

    /// The same rules read from the schema's SDL (where the edge has no
    /// registry): the directive invocations the SDL prints are the ones the
    /// registry holds.
    pub fn from_sdl(sdl: &str) -> Result<Self, String> {
        let schema = SchemaIndex::from_sdl(sdl).map_err(|e| e.to_string())?;
        Ok(Self::from_schema(&schema))
    }

    /// The rules of the directive invocations a schema index holds (read
    /// from the SDL, see [`FieldRules::from_sdl`]).
    pub fn from_schema(schema: &SchemaIndex) -> Self {
        let mut rules = RulesBuilder::default();
        for (type_name, field_name, _, field) in schema.fields() {
            let mut rule = FieldRule::default();
            for directive in &field.directives {
                let d = &directive.node;
                rule.add(d.name.node.as_str(), |arg| {
                    d.get_argument(arg).map(|v| &v.node)
                });
            }
            rules.field(type_name, field_name, rule);
        }
        for (object, interface) in schema.implements() {
            rules.implements(object, interface);
        }
        rules.finish()
    }

    /// True when `identity` passes the rule of every field the operation
    /// can reach (every selection, whatever `@skip`/`@include` decide), so
    /// it may run without per-field checks. False when one rule would deny,
    /// or when the walk cannot tell (a fragment on another type than the one
    /// it sits in, an unknown field): the checked path then decides field by
    /// field.
    pub fn allow_operation(
        &self,
        schema: &SchemaIndex,
        doc: &ExecutableDocument,
        op: &OperationDefinition,
        identity: Option<&Identity>,
    ) -> bool {
        let root = schema.root(op.ty);
        self.allow_set(schema, doc, root, &op.selection_set.node, identity)
    }

    fn allow_set(
        &self,
        schema: &SchemaIndex,
        doc: &ExecutableDocument,
        parent: &str,
        set: &SelectionSet,
        identity: Option<&Identity>,
    ) -> bool {
        let mut fields = Vec::new();
        if fields_of(doc, parent, set, &mut fields).is_none() {
            return false;
        }
        fields.iter().all(|field| {
            let name = field.node.name.node.as_str();
            if name.starts_with("__") {
                // Introspection: not subject to field rules.
                return true;
            }
            if let Some(rule) = self.get(parent, name) {
                if rule.check(name, identity).is_err() {
                    return false;
                }
            }
            let children = &field.node.selection_set.node;
            children.items.is_empty()
                || schema
                    .field(parent, name)
                    .is_some_and(|f| self.allow_set(schema, doc, &f.ty, children, identity))
        })
    }

    /// The rule of `parent.field`, if it has one.
    pub fn get(&self, parent: &str, field: &str) -> Option<&FieldRule> {
        self.0.get(parent)?.get(field)
    }

    /// Every guarded field as `(parent, field)`, sorted (for tests and docs).
    pub fn fields(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = self
            .0
            .iter()
            .flat_map(|(t, fs)| fs.keys().map(move |f| (t.clone(), f.clone())))
            .collect();
        out.sort();
        out
    }
}

/// Collects rules field by field, then binds interface rules to their
/// implementations.
#[derive(Default)]
struct RulesBuilder {
    rules: FastMap<String, FastMap<String, FieldRule>>,
    /// (object, interface it implements)
    implements: Vec<(String, String)>,
}

impl RulesBuilder {
    fn field(&mut self, type_name: &str, field: &str, rule: FieldRule) {
        if rule.authenticated {
            self.rules
                .entry(type_name.to_string())
                .or_default()
                .insert(field.to_string(), rule);
        }
    }

    fn implements(&mut self, object: &str, interface: &str) {
        self.implements
            .push((object.to_string(), interface.to_string()));
    }

    fn finish(mut self) -> FieldRules {
        // A rule declared on an interface field binds every implementation.
        for (object, interface) in &self.implements {
            let Some(iface_rules) = self.rules.get(interface).cloned() else {
                continue;
            };
            let entry = self.rules.entry(object.clone()).or_default();
            for (field, rule) in &iface_rules {
                entry
                    .entry(field.clone())
                    .and_modify(|r| r.merge(rule))
                    .or_insert_with(|| rule.clone());
            }
        }
        FieldRules(self.rules)
    }
}

impl FieldRule {
    /// Adds one directive invocation (`arg` reads its arguments). A directive
    /// whose arguments cannot be read denies everyone: failing closed beats
    /// guessing.
    fn add<'v>(&mut self, directive: &str, arg: impl Fn(&str) -> Option<&'v Value>) {
        match directive {
            "authenticated" => self.authenticated = true,
            "requiresScopes" => {
                self.authenticated = true;
                let groups = arg("scopes")
                    .and_then(|v| Vec::<Vec<String>>::parse(Some(v.clone())).ok())
                    .unwrap_or_default();
                self.scopes.get_or_insert_with(Vec::new).extend(groups);
            }
            "hasRole" => {
                self.authenticated = true;
                let roles = arg("roles")
                    .and_then(|v| Vec::<Role>::parse(Some(v.clone())).ok())
                    .unwrap_or_default();
                self.roles.get_or_insert_with(Vec::new).extend(roles);
            }
            _ => {}
        }
    }

    /// Both rules must hold (a field and the interface field it implements).
    fn merge(&mut self, other: &FieldRule) {
        self.authenticated |= other.authenticated;
        // Requiring both role sets: keep the narrower of the two when both
        // exist by intersecting (an empty intersection denies all).
        self.roles = match (self.roles.take(), &other.roles) {
            (Some(a), Some(b)) => Some(a.into_iter().filter(|r| b.contains(r)).collect()),
            (a, b) => a.or_else(|| b.clone()),
        };
        self.scopes = match (self.scopes.take(), &other.scopes) {
            (Some(a), Some(b)) => Some(
                a.iter()
                    .flat_map(|ga| {
                        b.iter().map(move |gb| {
                            let mut g = ga.clone();
                            g.extend(gb.iter().cloned());
                            g
                        })
                    })
                    .collect(),
            ),
            (a, b) => a.or_else(|| b.clone()),
        };
    }
}

/// Enforces the auth directives of the schema it is registered on.
///
/// Register it with [`with_authorization`] (or `.extension(...)`). The rules
/// are read from the schema's registry on first use and kept for the life of
/// the schema. The caller comes from the `Arc<RequestContext>` the edge puts
/// in the request data; without one the caller is anonymous (fail closed).
#[derive(Clone, Default)]
pub struct AuthorizationExtension {
    rules: Arc<OnceLock<FieldRules>>,
}

impl std::fmt::Debug for AuthorizationExtension {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthorizationExtension")
            .finish_non_exhaustive()
    }
}

impl AuthorizationExtension {
    /// A fresh extension (one per schema).
    pub fn new() -> Self {
        Self::default()
    }
}

/// Registers [`AuthorizationExtension`] on a schema builder: the one call a
/// client crate makes so its auth directives are enforced.
pub fn with_authorization<Q, M, S>(builder: SchemaBuilder<Q, M, S>) -> SchemaBuilder<Q, M, S>
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    builder.extension(AuthorizationExtension::new())
}

impl ExtensionFactory for AuthorizationExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(self.clone())
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for AuthorizationExtension {
    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> ServerResult<Option<Value>> {
        if !info.is_for_introspection {
            let rules = self
                .rules
                .get_or_init(|| FieldRules::from_registry(&ctx.schema_env.registry));
            if let Some(rule) = rules.get(info.parent_type, info.name) {
                let identity = ctx
                    .data_opt::<Arc<RequestContext>>()
                    .and_then(|r| r.caller.identity.as_ref());
                if let Err(denied) = rule.check(info.name, identity) {
                    metrics::counter!(
                        names::AUTHZ_DENIALS_TOTAL,
                        names::LABEL_CODE => denied.code.as_str()
                    )
                    .increment(1);
                    return Err(server_error(&denied, &info));
                }
            }
        }
        next.run(ctx, info).await
    }
}

/// A field error at the field's path with `extensions.code`.
fn server_error(denied: &Denied, info: &ResolveInfo<'_>) -> ServerError {
    let mut err = denied.code.server_error(denied.message.clone());
    let mut path = Vec::new();
    let mut node = Some(info.path_node);
    while let Some(n) = node {
        path.push(match n.segment {
            async_graphql::QueryPathSegment::Index(i) => PathSegment::Index(i),
            async_graphql::QueryPathSegment::Name(name) => PathSegment::Field(name.to_string()),
        });
        node = n.parent;
    }
    path.reverse();
    err.path = path;
    err
}

/// The verified identity of the request's caller (`None`: anonymous).
pub fn identity<'a>(ctx: &Context<'a>) -> Option<&'a Identity> {
    caller(ctx).and_then(|c| c.identity.as_ref())
}

/// The request's caller, as the edge verified it.
pub fn caller<'a>(ctx: &Context<'a>) -> Option<&'a Caller> {
    ctx.data_opt::<Arc<RequestContext>>().map(|r| &r.caller)
}

/// Data of user `user_id` is visible to that user, support and admin only:
/// `UNAUTHENTICATED` for an anonymous caller, `FORBIDDEN` for anyone else.
pub fn require_owner_or_staff(ctx: &Context<'_>, user_id: &str) -> async_graphql::Result<()> {
    let field = ctx.item.node.name.node.as_str();
    match caller(ctx) {
        Some(c) if c.may_see_user(user_id) => Ok(()),
        Some(c) if c.identity.is_some() => {
            metrics::counter!(
                names::AUTHZ_DENIALS_TOTAL,
                names::LABEL_CODE => ErrorCode::Forbidden.as_str()
            )
            .increment(1);
            Err(ErrorCode::Forbidden.error(format!(
                "`{field}` is visible only to its owner, support and admin"
            )))
        }
        _ => {
            metrics::counter!(
                names::AUTHZ_DENIALS_TOTAL,
                names::LABEL_CODE => ErrorCode::Unauthenticated.as_str()
            )
            .increment(1);
            Err(ErrorCode::Unauthenticated.error(format!("`{field}` needs a signed-in user")))
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema};

    use super::*;
    use crate::caller::Tier;

    fn id(roles: &[Role], scopes: &[&str]) -> Identity {
        Identity {
            sub: "u".into(),
            roles: roles.to_vec(),
            scopes: scopes.iter().map(|s| s.to_string()).collect(),
            tier: Tier::Free,
        }
    }

    #[test]
    fn auth_rule_scopes_are_or_of_and_groups() {
        let rule = FieldRule {
            authenticated: true,
            scopes: Some(vec![vec!["a".into(), "b".into()], vec!["c".into()]]),
            roles: None,
        };
        assert!(rule.check("f", Some(&id(&[], &["a", "b"]))).is_ok());
        assert!(rule.check("f", Some(&id(&[], &["c"]))).is_ok());
        let denied = rule.check("f", Some(&id(&[], &["a"]))).unwrap_err();
        assert_eq!(denied.code, ErrorCode::Forbidden);
        assert_eq!(
            rule.check("f", None).unwrap_err().code,
            ErrorCode::Unauthenticated
        );
        let empty = FieldRule {
            authenticated: true,
            scopes: Some(vec![]),
            roles: None,
        };
        assert!(empty.check("f", Some(&id(&[Role::Admin], &["a"]))).is_err());
    }

    #[test]
    fn auth_rule_roles_are_any_of() {
        let rule = FieldRule {
            authenticated: true,
            scopes: None,
            roles: Some(vec![Role::Support, Role::Admin]),
        };
        assert!(rule.check("f", Some(&id(&[Role::Admin], &[]))).is_ok());
        assert_eq!(
            rule.check("f", Some(&id(&[Role::Customer], &[])))
                .unwrap_err()
                .code,
            ErrorCode::Forbidden
        );
    }

    struct Q;

    #[Object]
    impl Q {
        #[graphql(directive = authenticated::apply())]
        async fn me(&self) -> Option<i32> {
            Some(1)
        }
        #[graphql(directive = has_role::apply(vec![Role::Support, Role::Admin]))]
        async fn staff(&self) -> Option<i32> {
            Some(2)
        }
        #[graphql(directive = requires_scopes::apply(vec![vec!["x:read".into()]]))]
        async fn scoped(&self) -> Option<i32> {
            Some(3)
        }
        async fn open(&self) -> i32 {
            4
        }
    }

    #[test]
    fn auth_directives_appear_in_sdl_and_rules_come_from_the_registry() {
        let schema =
            with_authorization(Schema::build(Q, EmptyMutation, EmptySubscription)).finish();
        let sdl = schema.sdl();
        assert!(
            sdl.contains("directive @authenticated on FIELD_DEFINITION"),
            "{sdl}"
        );
        assert!(
            sdl.contains("directive @hasRole(roles: [Role!]!) on FIELD_DEFINITION"),
            "{sdl}"
        );
        assert!(
            sdl.contains("directive @requiresScopes(scopes: [[String!]!]!) on FIELD_DEFINITION"),
            "{sdl}"
        );
        assert!(sdl.contains("@hasRole(roles: [SUPPORT, ADMIN])"), "{sdl}");
    }

    #[tokio::test]
    async fn rules_read_from_the_sdl_are_the_rules_the_extension_enforces() {
        let ext = AuthorizationExtension::new();
        let schema = Schema::build(Q, EmptyMutation, EmptySubscription)
            .extension(ext.clone())
            .finish();
        schema.execute("{ me }").await;
        let from_registry = ext.rules.get().unwrap();
        let from_sdl = FieldRules::from_sdl(&schema.sdl()).unwrap();
        assert_eq!(from_sdl.fields(), from_registry.fields());
        assert_eq!(from_sdl.fields().len(), 3);
        for (parent, field) in from_sdl.fields() {
            assert_eq!(
                from_sdl.get(&parent, &field),
                from_registry.get(&parent, &field),
                "{parent}.{field}"
            );
        }
    }

    #[test]
    fn an_operation_is_allowed_only_when_every_reachable_rule_passes() {
        let schema =
            with_authorization(Schema::build(Q, EmptyMutation, EmptySubscription)).finish();
        let sdl = schema.sdl();
        let rules = FieldRules::from_sdl(&sdl).unwrap();
        let schema = SchemaIndex::from_sdl(&sdl).unwrap();
        let allow = |query: &str, identity: Option<&Identity>| {
            let doc = async_graphql::parser::parse_query(query).unwrap();
            let (_, op) = crate::graphql::selected_operation(&doc, None).unwrap();
            rules.allow_operation(&schema, &doc, op, identity)
        };
        let customer = id(&[Role::Customer], &[]);
        let admin = id(&[Role::Admin], &["x:read"]);
        assert!(allow("{ open __typename }", None));
        assert!(!allow("{ open me }", None));
        assert!(allow("{ me open }", Some(&customer)));
        assert!(!allow("{ staff }", Some(&customer)));
        assert!(!allow("{ scoped }", Some(&customer)));
        assert!(allow("{ staff scoped }", Some(&admin)));
        // Skipped or not, a reachable field counts.
        assert!(!allow("{ open staff @skip(if: true) }", Some(&customer)));
        assert!(!allow(
            "query { ...F } fragment F on Q { staff }",
            Some(&customer)
        ));
        assert!(allow(
            "query { ...F } fragment F on Q { me }",
            Some(&customer)
        ));
        // A fragment on another type: the walk cannot tell.
        assert!(!allow("{ ... on Other { open } }", Some(&admin)));
    }

    #[tokio::test]
    async fn auth_extension_denies_before_resolving_and_answers_the_rest() {
        let schema =
            with_authorization(Schema::build(Q, EmptyMutation, EmptySubscription)).finish();
        // No RequestContext at all: anonymous.
        let resp = schema.execute("{ me staff scoped open }").await;
        let json = serde_json::to_value(&resp).unwrap();
        assert_eq!(json["data"]["open"], 4);
        assert!(json["data"]["me"].is_null());
        let codes: Vec<&str> = resp
            .errors
            .iter()
            .filter_map(|e| e.extensions.as_ref()?.get("code"))
            .filter_map(|v| match v {
                Value::String(s) => Some(s.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(codes, vec!["UNAUTHENTICATED"; 3]);
        assert_eq!(resp.errors[0].path.len(), 1);
    }
}
