//! Shared helpers for the native integration tests: a configuration, a fake
//! browser that keeps cookies, scripted randomness, and canned provider replies.

// Test helpers fail loudly by design; the no-panic rule is for `src/`.
#![allow(dead_code, unreachable_pub)]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};
use tinyauth_wasm::config::Config;
use tinyauth_wasm::crypto::{Entropy, EntropyUnavailable};
use tinyauth_wasm::decision::{
    Action, CallReply, Decision, Forward, OutboundCall, Pending, Response,
};
use tinyauth_wasm::flow;
use tinyauth_wasm::request::RequestView;

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

pub fn compile(value: &Value) -> Config {
    Config::from_json(value.to_string().as_bytes()).expect("test config compiles")
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
}

pub const CHROME: &str =
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/126.0 Safari/537.36";

impl Browser {
    pub fn new() -> Self {
        Self {
            cookies: Vec::new(),
            user_agent: CHROME,
        }
    }

    pub fn api() -> Self {
        Self {
            cookies: Vec::new(),
            user_agent: "curl/8.5.0",
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

    pub fn get(&mut self, config: &Config, url: &str, rng: &mut Counter) -> Decision {
        self.get_at(config, url, &[], NOW, rng)
    }

    pub fn get_at(
        &mut self,
        config: &Config,
        url: &str,
        extra: &[(&str, &str)],
        now: u64,
        rng: &mut Counter,
    ) -> Decision {
        let headers = self.headers(url, extra);
        let view = RequestView::from_headers(&headers);
        let decision = flow::on_request(config, &view, now, rng);
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
    tinyauth_wasm::url::single_param(query, name).unwrap()
}

pub fn ok_json(value: &Value) -> CallReply {
    CallReply {
        status: Some(200),
        body: value.to_string().into_bytes(),
    }
}

pub fn token_reply() -> CallReply {
    ok_json(&json!({
        "access_token": "access-token-value",
        "token_type": "bearer",
        "expires_in": 3599,
        "id_token": "header.payload.signature",
        "refresh_token": "refresh-token-value"
    }))
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
    config: &Config,
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
    let callback =
        format!("{APP_URL}/api/oauth/callback/generic?code=the-code&state={state}&iss=x");
    let (_, pending) = call(browser.get(config, &callback, rng));
    let (_, pending) = call(flow::on_call_reply(config, pending, &token_reply(), NOW));
    let done = flow::on_call_reply(config, pending, &ok_json(claims), NOW);
    if let Action::Respond(response) = &done.action {
        browser.store(response);
    }
    done
}
