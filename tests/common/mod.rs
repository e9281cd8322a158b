//! Shared helpers for the native integration tests: a configuration, a fake
//! browser that keeps cookies, scripted randomness, and canned provider replies.

// Test helpers fail loudly by design; the no-panic rule is for `src/`.
#![allow(dead_code, unreachable_pub)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub mod idp;

use std::ops::Deref;

use serde_json::{json, Value};
use tinyauth_wasm::config::Config;
use tinyauth_wasm::decision::{CallReply, Forward, OutboundCall, Response};
use tinyauth_wasm::flow;
use tinyauth_wasm::http::request::RequestView;
use tinyauth_wasm::oidc::discovery::{self, Fetch, Runtime};
use tinyauth_wasm::oidc::{Action, Decision, LoginStep, Pending};
use tinyauth_wasm::session::crypto::{Entropy, EntropyUnavailable};

use idp::TestKey;

pub const APP_URL: &str = "https://auth.example.com";
pub const SECRET: &str = "test-secret-test-secret-test-secret-1234";
pub const NOW: u64 = 1_800_000_000;

pub fn base_config() -> Value {
    json!({
        "appUrl": APP_URL,
        "secret": SECRET,
        "oauth": {
            "providers": {
                "generic": {
                    "name": "Pocket ID",
                    "clientId": "tinyauth",
                    "clientSecret": "client-secret",
                    "authUrl": "https://id.example.com/authorize",
                    "tokenUrl": "https://id.example.com/api/oidc/token",
                    "userInfoUrl": "https://id.example.com/api/oidc/userinfo",
                    "cluster": "pocket_id"
                }
            }
        },
        "apps": {
            "admin": {"oauth": {"groups": "admins"}},
            "whoami": {"config": {"domain": "who.example.com"}}
        }
    })
}

/// A compiled configuration plus a provider state as this VM would hold it
/// after discovery and the JWKS fetch succeeded (with [`TestKey::rs256`]).
pub struct Env {
    pub config: Config,
    pub runtime: Runtime,
}

impl Deref for Env {
    type Target = Config;
    fn deref(&self) -> &Config {
        &self.config
    }
}

impl Env {
    /// Continues a paused login with `reply`.
    pub fn reply(&self, pending: Pending, reply: &CallReply) -> Decision {
        self.reply_at(pending, reply, NOW)
    }

    /// Continues a paused request with `reply` at `now`.
    pub fn reply_at(&self, pending: Pending, reply: &CallReply, now: u64) -> Decision {
        let mut rng = Counter(200);
        flow::on_call_reply(
            &self.config,
            &self.runtime,
            pending,
            reply,
            now,
            None,
            &mut rng,
        )
    }

    /// Another worker VM of the same Envoy: its own caches, the same shared
    /// data.
    pub fn worker(&self) -> Env {
        let mut runtime = self.runtime.clone();
        runtime.sessions.verified = tinyauth_wasm::session::cache::Verified::default();
        runtime.sessions.revoked = tinyauth_wasm::session::revocation::Revoked::default();
        Env {
            config: self.config.clone(),
            runtime,
        }
    }
}

pub fn compile(value: &Value) -> Env {
    let config = Config::from_json(value.to_string().as_bytes()).expect("test config compiles");
    let jwks = idp::jwks(&[&TestKey::rs256()]);
    let runtime = ready_runtime(&config, &jwks);
    Env { config, runtime }
}

/// The discovery document a provider at `issuer` would publish.
pub fn discovery_document(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/api/oidc/token"),
        "userinfo_endpoint": format!("{issuer}/api/oidc/userinfo"),
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "end_session_endpoint": format!("{issuer}/api/oidc/end-session"),
        "authorization_response_iss_parameter_supported": true
    })
}

/// Runs the real background state machine against canned replies until every
/// provider is ready.
pub fn ready_runtime(config: &Config, jwks: &Value) -> Runtime {
    let mut runtime = Runtime::new(config);
    for _ in 0..4 {
        for (index, fetch, _call) in discovery::due_fetches(config, &mut runtime, NOW) {
            let body = match fetch {
                Fetch::Discovery => discovery_document(&config.providers[index].expected_issuer()),
                Fetch::Jwks => jwks.clone(),
            };
            discovery::on_fetch_reply(config, &mut runtime, index, fetch, &ok_json(&body), NOW);
        }
    }
    for index in 0..config.providers.len() {
        runtime
            .readiness(config, index, NOW)
            .expect("test provider is ready");
    }
    runtime
}

/// Deterministic "random" bytes: a counter, so every token differs.
#[derive(Debug, Default)]
pub struct Counter(pub u8);

impl Entropy for Counter {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
        for byte in buf {
            self.0 = self.0.wrapping_add(1);
            *byte = self.0;
        }
        Ok(())
    }
}

/// A minimal browser: a cookie jar of name → value (domain handling is the
/// real-Envoy suite's job) and request building.
#[derive(Debug, Default)]
pub struct Browser {
    pub cookies: Vec<(String, String)>,
    pub user_agent: &'static str,
    /// The downstream address Envoy would report.
    pub peer: Option<std::net::IpAddr>,
}

pub const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

impl Browser {
    pub fn new() -> Self {
        Self {
            cookies: Vec::new(),
            user_agent: CHROME,
            peer: None,
        }
    }

    pub fn api() -> Self {
        Self {
            cookies: Vec::new(),
            user_agent: "curl/8.5.0",
            peer: None,
        }
    }

    /// Header pairs for `GET url`, with cookies and any extra headers.
    pub fn headers(&self, url: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
        let mut headers = vec![
            (":method".to_owned(), "GET".to_owned()),
            (":authority".to_owned(), authority.to_owned()),
            (":path".to_owned(), path.to_owned()),
            ("user-agent".to_owned(), self.user_agent.to_owned()),
        ];
        if !self.cookies.is_empty() {
            let cookie = self
                .cookies
                .iter()
                .map(|(n, v)| format!("{n}={v}"))
                .collect::<Vec<_>>()
                .join("; ");
            headers.push(("cookie".to_owned(), cookie));
        }
        for (name, value) in extra {
            headers.push(((*name).to_owned(), (*value).to_owned()));
        }
        headers
    }

    pub fn get(&mut self, config: &Env, url: &str, rng: &mut Counter) -> Decision {
        self.get_at(config, url, &[], NOW, rng)
    }

    pub fn get_at(
        &mut self,
        config: &Env,
        url: &str,
        extra: &[(&str, &str)],
        now: u64,
        rng: &mut Counter,
    ) -> Decision {
        let headers = self.headers(url, extra);
        let mut view = RequestView::from_headers(&headers);
        view.peer = self.peer;
        let decision = flow::on_request(config, &config.runtime, &view, now, rng);
        if let Action::Respond(response) = &decision.action {
            self.store(response);
        }
        decision
    }

    /// Applies `Set-Cookie` headers of a response.
    pub fn store(&mut self, response: &Response) {
        for (name, value) in &response.headers {
            if name != "set-cookie" {
                continue;
            }
            let pair = value.split(';').next().unwrap();
            let (cookie, cookie_value) = pair.split_once('=').unwrap();
            self.cookies.retain(|(n, _)| n != cookie);
            if !value.contains("Max-Age=0") {
                self.cookies
                    .push((cookie.to_owned(), cookie_value.to_owned()));
            }
        }
    }

    pub fn cookie(&self, prefix: &str) -> Option<&str> {
        self.cookies
            .iter()
            .find(|(n, _)| n.starts_with(prefix))
            .map(|(_, v)| v.as_str())
    }
}

pub fn response(decision: &Decision) -> &Response {
    match &decision.action {
        Action::Respond(response) => response,
        other => panic!("expected a response, got {other:?}"),
    }
}

pub fn forward(decision: &Decision) -> &Forward {
    match &decision.action {
        Action::Forward(forward) => forward,
        other => panic!("expected a forward, got {other:?}"),
    }
}

pub fn call(decision: Decision) -> (OutboundCall, Pending) {
    match decision.action {
        Action::Call { call, pending } => (call, pending),
        other => panic!("expected a provider call, got {other:?}"),
    }
}

pub fn location(decision: &Decision) -> &str {
    let response = response(decision);
    assert_eq!(
        response.status,
        302,
        "{:?}",
        String::from_utf8_lossy(&response.body)
    );
    response
        .header_value("location")
        .expect("a location header")
}

pub fn body(response: &Response) -> String {
    String::from_utf8(response.body.clone()).unwrap()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split_once('?')?.1;
    tinyauth_wasm::http::url::single_param(query, name).unwrap()
}

/// A provider reply with this status (`None`: no answer) and body.
pub fn reply(status: Option<u16>, body: &[u8]) -> CallReply {
    CallReply {
        status,
        body: body.to_vec(),
        missing_cluster: None,
    }
}

pub fn ok_json(value: &Value) -> CallReply {
    CallReply {
        status: Some(200),
        body: value.to_string().into_bytes(),
        missing_cluster: None,
    }
}

/// The nonce of the login `pending` is paused in.
pub fn nonce_of(pending: &Pending) -> String {
    match pending {
        Pending::Login(
            LoginStep::Token { flow, .. }
            | LoginStep::Keys { flow, .. }
            | LoginStep::UserInfo { flow, .. },
        ) => flow.nonce.clone(),
        other => panic!("not a login: {other:?}"),
    }
}

/// A token response whose ID token is signed by [`TestKey::rs256`] for the user
/// described by `userinfo`, for the login `pending` is paused in.
pub fn token_reply(config: &Config, pending: &Pending, userinfo: &Value) -> CallReply {
    let provider = &config.providers[0];
    let claims = idp::id_claims(
        &provider.expected_issuer(),
        &provider.client_id,
        &nonce_of(pending),
        NOW,
        userinfo,
    );
    token_reply_with(&TestKey::rs256().mint(&claims))
}

pub fn token_reply_with(id_token: &str) -> CallReply {
    ok_json(&json!({
        "access_token": "access-token-value",
        "token_type": "bearer",
        "expires_in": 3599,
        "id_token": id_token,
        "refresh_token": "refresh-token-value"
    }))
}

/// The callback URL the provider sends the browser to, with Pocket ID's `iss`.
/// The auth host's start endpoint for the `generic` provider.
pub const START: &str = "https://auth.example.com/api/oauth/start/generic";

/// Starts a login at the provider and returns the `state` it was sent with.
pub fn start_login(config: &Env, browser: &mut Browser, rng: &mut Counter) -> String {
    let start = browser.get(config, START, rng);
    query_param(location(&start), "state").expect("the authorization URL carries state")
}

pub fn callback_url(state: &str) -> String {
    format!("{APP_URL}/api/oauth/callback/generic?code=the-code&state={state}&iss=https%3A%2F%2Fid.example.com")
}

pub fn alice() -> Value {
    json!({
        "sub": "8b1f1c5e-alice",
        "email": "alice@example.com",
        "email_verified": true,
        "preferred_username": "alice",
        "name": "Alice Anderson",
        "groups": ["admins", "users"]
    })
}

pub fn bob() -> Value {
    json!({
        "sub": "0c2e-bob",
        "email": "bob@example.com",
        "preferred_username": "bob",
        "name": "Bob Brown",
        "groups": ["users"]
    })
}

pub fn dave_without_email() -> Value {
    json!({"sub": "d4-dave", "preferred_username": "dave", "name": "Dave", "groups": ["users"]})
}

/// Runs a full login for `claims`, starting at `start_url` on an app host, and
/// returns the final decision of the callback (a redirect with the session, or
/// a refusal).
pub fn login(
    config: &Env,
    browser: &mut Browser,
    start_url: &str,
    claims: &Value,
    rng: &mut Counter,
) -> Decision {
    let to_login = browser.get(config, start_url, rng);
    let login_page = location(&to_login).to_owned();
    let page = browser.get(config, &login_page, rng);
    let html = body(response(&page));
    let start = html
        .split("href=\"")
        .find(|part| part.contains("/api/oauth/start/"))
        .and_then(|part| part.split('"').next())
        .expect("a provider button")
        .replace("&amp;", "&");
    let to_provider = browser.get(config, &start, rng);
    let authorize = location(&to_provider).to_owned();
    let state = query_param(&authorize, "state").unwrap();
    let (_, pending) = call(browser.get(config, &callback_url(&state), rng));
    let reply = token_reply(config, &pending, claims);
    let (_, pending) = call(config.reply(pending, &reply));
    let done = config.reply(pending, &ok_json(claims));
    if let Action::Respond(response) = &done.action {
        browser.store(response);
    }
    done
}
