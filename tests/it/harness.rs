#![allow(dead_code)] // helpers shared by suites; not every suite uses every one
//! The test stack: demo services and the gateway on ephemeral ports.
//!
//! Every suite starts what it needs through [`TestStack::builder`], talks
//! HTTP to it, and asserts on status codes, bodies and the demo services'
//! `/_control/stats`, never on wall-clock time.

pub mod stub;

use std::{
    collections::HashMap,
    net::{IpAddr, SocketAddr},
    sync::Arc,
    time::Duration,
};

use bff::Gateway;
use bff_core::{
    caller::{Caller, Identity, Role, Tier},
    config::{Config, Secret},
    context::{ClientKind, RequestContext},
    services::registry,
};
use demo_services::{DemoOptions, DemoServices, ServiceName};
use jsonwebtoken::{encode, EncodingKey, Header};
use serde_json::{json, Value};

/// Builds a [`TestStack`].
pub struct TestStackBuilder {
    config: Config,
    demo: bool,
    instances: HashMap<ServiceName, usize>,
}

impl TestStackBuilder {
    /// Changes the gateway configuration before start.
    pub fn config(mut self, f: impl FnOnce(&mut Config)) -> Self {
        f(&mut self.config);
        self
    }

    /// Also starts the demo REST services (on ephemeral ports) and points
    /// every service of the gateway at them.
    pub fn with_demo(mut self) -> Self {
        self.demo = true;
        self
    }

    /// Runs a demo service as `count` instances (each on its own port, with
    /// its own faults and counters); the gateway gets the comma list.
    pub fn instances(mut self, name: ServiceName, count: usize) -> Self {
        self.instances.insert(name, count);
        self.demo = true;
        self
    }

    /// Starts the gateway (all three clients on port 0).
    pub async fn start(mut self) -> TestStack {
        let demo = if self.demo {
            let demo = DemoServices::start_with(DemoOptions {
                instances: self.instances.clone(),
                ..DemoOptions::default()
            })
            .await
            .expect("demo services start");
            for name in ServiceName::ALL {
                // A URL the suite set itself (even an empty one) is kept.
                if let Some(svc) = self.config.services.get_mut(name.as_str()) {
                    svc.url
                        .get_or_insert_with(|| demo.instance_urls(name).join(","));
                }
            }
            Some(demo)
        } else {
            None
        };
        // `Services::from_config` refuses a contract service without a URL.
        // Suites that do not set one get a refused port (calls fail
        // SERVICE_UNAVAILABLE) until the harness starts the demo services.
        for spec in registry::ALL.iter().filter(|s| s.required()) {
            if let Some(svc) = self.config.services.get_mut(spec.name) {
                svc.url
                    .get_or_insert_with(|| "http://127.0.0.1:9".to_string());
            }
        }
        // Tests assert behaviour, not speed: on a loaded 2-core CI machine a
        // production timeout (300 ms for recommendations) would turn a slow
        // test run into UPSTREAM_TIMEOUT. Suites that test timeouts set theirs.
        for spec in registry::ALL {
            if let Some(svc) = self.config.services.get_mut(spec.name) {
                svc.timeout.get_or_insert(Duration::from_secs(10));
            }
        }
        for kind in ClientKind::ALL {
            self.config.clients.get_mut(kind).addr = SocketAddr::from(([127, 0, 0, 1], 0));
        }
        let secret = self
            .config
            .auth
            .jwt_secret
            .clone()
            .unwrap_or_else(|| Secret(format!("test-secret-{}", uuid::Uuid::new_v4())));
        self.config.auth.jwt_secret = Some(secret.clone());
        let gateway = bff::start(self.config.clone(), std::future::pending())
            .await
            .expect("gateway starts");
        TestStack {
            gateway,
            demo,
            secret: secret.expose().to_string(),
            // Trusts the gateway's own extra roots, so a suite that serves
            // HTTPS with a test CA talks to it like to plain HTTP.
            http: bff_core::tls::ClientTls::new(self.config.tls.ca_file.as_deref())
                .expect("test CA")
                .reqwest_builder(None)
                .expect("TLS client")
                .timeout(Duration::from_secs(30))
                .build()
                .expect("http client"),
        }
    }
}

/// A running gateway for one test.
pub struct TestStack {
    pub gateway: Gateway,
    /// The demo services, when started with [`TestStackBuilder::with_demo`].
    pub demo: Option<DemoServices>,
    pub secret: String,
    pub http: reqwest::Client,
}

/// A response as tests look at it.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Answer {
    /// `errors[*].extensions.code`.
    pub fn codes(&self) -> Vec<String> {
        codes(&self.body)
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
}

impl TestStack {
    pub fn builder() -> TestStackBuilder {
        TestStackBuilder {
            config: Config::default(),
            demo: false,
            instances: HashMap::new(),
        }
    }

    /// Stops the clock of the in-memory budgets: buckets refill only when a
    /// test calls `gateway.runtime.budgets.local().advance_clock(..)`.
    pub fn hold_budget_clock(&self) {
        self.gateway.runtime.budgets.local().hold_clock();
    }

    /// Base URL of a client, e.g. `http://127.0.0.1:PORT` (`https://` when
    /// the gateway serves TLS).
    pub fn url(&self, kind: ClientKind) -> String {
        let scheme = match self.gateway.runtime.server_tls {
            Some(_) => "https",
            None => "http",
        };
        format!(
            "{scheme}://{}",
            self.gateway.addr(kind).expect("client is running")
        )
    }

    /// Base URL of a demo service.
    pub fn service_url(&self, name: ServiceName) -> String {
        self.demo
            .as_ref()
            .expect("stack started with_demo()")
            .url(name)
    }

    /// Base URLs of every instance of a demo service.
    pub fn instance_urls(&self, name: ServiceName) -> Vec<String> {
        self.demo
            .as_ref()
            .expect("stack started with_demo()")
            .instance_urls(name)
    }

    /// Calls of `route` (e.g. `GET /products`) seen by each instance of a
    /// demo service, in instance order.
    pub async fn per_instance(&self, name: ServiceName, route: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for url in self.instance_urls(name) {
            out.push(
                stats(&self.http, &url)
                    .await
                    .get(route)
                    .copied()
                    .unwrap_or(0),
            );
        }
        out
    }

    /// Requests each instance dropped because it was `down`, in instance order.
    pub async fn dropped_per_instance(&self, name: ServiceName) -> Vec<u64> {
        let mut out = Vec::new();
        for url in self.instance_urls(name) {
            let v: Value = self
                .http
                .get(format!("{url}/_control/stats"))
                .send()
                .await
                .expect("stats answers")
                .json()
                .await
                .expect("stats is JSON");
            out.push(v["dropped"].as_u64().unwrap_or(0));
        }
        out
    }

    /// Sets the faults of one instance of a demo service.
    pub async fn fault_instance(&self, name: ServiceName, instance: usize, faults: Value) {
        let url = self.instance_urls(name)[instance].clone();
        let status = self
            .http
            .put(format!("{url}/_control/faults"))
            .json(&faults)
            .send()
            .await
            .expect("faults answers")
            .status();
        assert!(status.is_success(), "PUT /_control/faults: {status}");
    }

    /// `GET /metrics` of a client (Prometheus text).
    pub async fn metrics(&self, kind: ClientKind) -> String {
        self.http
            .get(format!("{}/metrics", self.url(kind)))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("metrics text")
    }

    /// `GET /readyz` of a client, as JSON.
    pub async fn readyz(&self, kind: ClientKind) -> Value {
        self.http
            .get(format!("{}/readyz", self.url(kind)))
            .send()
            .await
            .expect("readyz answers")
            .json()
            .await
            .expect("readyz is JSON")
    }

    /// One upstream's entry in the web client's `/readyz` (`null` when not
    /// listed).
    pub async fn upstream_health(&self, name: ServiceName) -> Value {
        let ready = self.readyz(ClientKind::Web).await;
        ready["upstreams"]
            .as_array()
            .and_then(|u| u.iter().find(|s| s["name"] == name.as_str()))
            .cloned()
            .unwrap_or(Value::Null)
    }

    /// Requests per route seen by a demo service (`/_control/stats`).
    pub async fn calls(&self, name: ServiceName) -> HashMap<String, u64> {
        stats(&self.http, &self.service_url(name)).await
    }

    /// Total requests seen by a demo service (its `/_control` routes excluded).
    pub async fn total_calls(&self, name: ServiceName) -> u64 {
        self.calls(name)
            .await
            .iter()
            .filter(|(route, _)| !route.contains("/_control"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Total upstream requests over every demo service.
    pub async fn upstream_requests(&self) -> u64 {
        let mut total = 0;
        for name in ServiceName::ALL {
            total += self.total_calls(name).await;
        }
        total
    }

    /// Puts a demo service down (connections dropped) or back up.
    pub async fn set_down(&self, name: ServiceName, down: bool) {
        self.set_faults(
            name,
            json!({"latencyMs": 0, "errorRate": 0.0, "errorStatus": 503, "down": down}),
        )
        .await;
    }

    /// Sets a demo service's faults (`PUT /_control/faults`; its first
    /// instance when it runs several).
    pub async fn set_faults(&self, name: ServiceName, faults: Value) {
        self.fault_instance(name, 0, faults).await;
    }

    /// Clears faults and counters of every demo service.
    pub async fn reset_services(&self) {
        for name in ServiceName::ALL {
            for url in self.instance_urls(name) {
                self.http
                    .post(format!("{url}/_control/reset"))
                    .send()
                    .await
                    .expect("reset answers");
            }
        }
    }

    /// Mints an HS256 token with the stack's secret.
    pub fn token(&self, sub: &str, roles: &[&str], scopes: &[&str]) -> String {
        self.token_with(json!({
            "sub": sub,
            "roles": roles,
            "scope": scopes.join(" "),
        }))
    }

    /// Mints an HS256 token from raw claims (`exp` added when missing).
    pub fn token_with(&self, mut claims: Value) -> String {
        if claims.get("exp").is_none() {
            let exp = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .expect("clock after 1970")
                .as_secs()
                + 3600;
            claims["exp"] = json!(exp);
        }
        encode(
            &Header::default(),
            &claims,
            &EncodingKey::from_secret(self.secret.as_bytes()).expect("a non-empty secret"),
        )
        .expect("token encodes")
    }

    /// POSTs a GraphQL request to a client.
    pub async fn graphql(&self, kind: ClientKind, query: &str, token: Option<&str>) -> Answer {
        self.post(kind, json!({ "query": query }), token, &[]).await
    }

    /// POSTs a JSON body to `/graphql` with extra headers.
    pub async fn post(
        &self,
        kind: ClientKind,
        body: Value,
        token: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .post(format!("{}/graphql", self.url(kind)))
            .header("content-type", "application/json")
            .header("accept", "application/graphql-response+json")
            .body(body.to_string());
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        answer(req.send().await.expect("gateway answers")).await
    }

    /// Sends a raw request built by `f` from the client's base URL.
    pub async fn raw(
        &self,
        kind: ClientKind,
        f: impl FnOnce(&reqwest::Client, &str) -> reqwest::RequestBuilder,
    ) -> Answer {
        let base = self.url(kind);
        answer(f(&self.http, &base).send().await.expect("gateway answers")).await
    }
}

/// A verified identity, as the gateway builds it from a token.
pub fn identity(sub: &str, roles: &[Role]) -> Identity {
    Identity {
        sub: sub.to_string(),
        roles: roles.to_vec(),
        scopes: Vec::new(),
        tier: Tier::Free,
    }
}

/// Executes a document on a client's schema in-process, with the request
/// data the edge builds, for a caller whose token already verified.
/// Bypasses only HTTP and authentication; resolvers, loaders and the
/// upstream layer (real demo services) are the ones the gateway runs.
pub async fn execute_as(
    stack: &TestStack,
    kind: ClientKind,
    identity: Option<Identity>,
    query: &str,
    variables: Value,
) -> Value {
    let runtime = stack.gateway.runtime.clone();
    let caller = Caller {
        identity,
        ip: IpAddr::from([127, 0, 0, 1]),
    };
    let ctx = Arc::new(RequestContext::new(
        kind,
        caller,
        "in-process".to_string(),
        None,
        Duration::from_secs(10),
    ));
    let schema = bff::client_schema(kind);
    let mut request = async_graphql::Request::new(query)
        .variables(async_graphql::Variables::from_json(variables))
        .data(ctx.clone())
        .data(runtime.services.loaders(ctx))
        .data(runtime.clone());
    let roots = request
        .parsed_query()
        .ok()
        .and_then(|doc| bff_core::graphql::selected_operation(doc, None))
        .map(|(_, op)| schema.root_fields(op))
        .unwrap_or_default();
    let mut response = (schema.execute)(request).await;
    // What the edge does after execution: errored fields are `null`.
    bff_core::server::nulls::restore_root(&mut response, &roots);
    bff_core::server::nulls::fill_errored_fields(&mut response);
    serde_json::to_value(&response).expect("response serializes")
}

/// `body` with its errors sorted by path: fields resolve concurrently, so
/// the order errors arrive in is not part of the behaviour.
pub fn errors_by_path(mut body: Value) -> Value {
    if let Some(errors) = body.get_mut("errors").and_then(Value::as_array_mut) {
        errors.sort_by_key(|e| e["path"].to_string());
    }
    body
}

/// `errors[*].extensions.code` of a GraphQL answer.
pub fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errs| {
            errs.iter()
                .filter_map(|e| e["extensions"]["code"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A fault put on one demo service before a scenario runs.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Connections dropped.
    Down(ServiceName),
    /// Every call answers 500.
    Failing(ServiceName),
}

impl TestStack {
    /// Puts `fault` on its demo service.
    pub async fn set_fault(&self, fault: Fault) {
        match fault {
            Fault::Down(name) => self.set_down(name, true).await,
            Fault::Failing(name) => {
                self.set_faults(name, json!({"errorRate": 1.0, "errorStatus": 500}))
                    .await
            }
        }
    }
}

/// One row of a fault table: on a fresh demo stack with `fault` (if any),
/// `query` run in process on `client` as `caller`; the answer with its
/// errors sorted by path.
pub async fn scenario(
    client: ClientKind,
    caller: Identity,
    query: &str,
    variables: Value,
    fault: Option<Fault>,
) -> Value {
    let stack = TestStack::builder().with_demo().start().await;
    if let Some(fault) = fault {
        stack.set_fault(fault).await;
    }
    errors_by_path(execute_as(&stack, client, Some(caller), query, variables).await)
}

/// Reads a response into an [`Answer`] (body parsed as JSON when it is JSON).
pub async fn answer(resp: reqwest::Response) -> Answer {
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let text = resp.text().await.unwrap_or_default();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        body,
    }
}

/// Counts from a demo service's `/_control/stats`.
#[allow(dead_code)]
pub async fn stats(http: &reqwest::Client, base: &str) -> HashMap<String, u64> {
    let v: Value = http
        .get(format!("{base}/_control/stats"))
        .send()
        .await
        .expect("stats answers")
        .json()
        .await
        .expect("stats is JSON");
    v["byRoute"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// A plain reqwest client (reqwest is built without a crypto provider of
/// its own: the process default, `ring`, is installed first).
pub fn client() -> reqwest::Client {
    bff_core::tls::install_crypto_provider();
    reqwest::Client::new()
}
