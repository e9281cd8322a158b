//! Every reply of the provider: the discovery document
//! (`oidc::discovery::on_fetch_reply`), the JWKS (`Jwks::parse` and the
//! background fetch), the token response (`messages::parse_token_response`
//! and the login step after it), and userinfo (`claims::parse`,
//! `claims::identity` and the login step that ends in a session).
//!
//! Input: one byte picks the document and the HTTP status, the rest is the
//! body. In token responses `$IDT` stands for an ID token the test key
//! signed for this login, so the fuzzer can keep one valid token while it
//! changes everything around it.
//!
//! Properties, beyond "never panics":
//! - discovery succeeds only with a 2xx answer naming exactly the expected
//!   issuer, and then yields every endpoint a login needs; a failure leaves
//!   the provider not ready with a one-line reason;
//! - a key set loads only keys of the allowed algorithms, and a set without
//!   one never replaces the keys in use;
//! - a parsed token response has a non-empty access token and a Bearer
//!   token type; every failure reads as one printable line;
//! - the login goes on to userinfo only with an ID token the test key signed
//!   (checked apart from the filter, with the `rsa` crate) whose claims pass
//!   an independent OIDC check for this login, and hands on exactly its claims;
//! - an identity always has a non-empty, trimmed `sub`, username and name,
//!   no empty or repeated group; claims without a `sub` string never give one;
//! - a session is issued only from userinfo claims whose `sub` matches the ID
//!   token's, for a whitelisted email, and it holds exactly the identity
//!   those claims describe; nothing of the provider's ends up forwarded.
//!
//! The same token and userinfo replies also arrive during a session's
//! re-check (`auth.refreshInterval`; bit 3 of the first byte): then
//! - userinfo is asked for only after a token response that parses, with
//!   its access token;
//! - the session ends (a redirect to sign in) only on `invalid_grant` or on
//!   userinfo claims that name a user, and goes on with a new identity only
//!   when those claims keep the user's `sub` and a whitelisted email, holding
//!   exactly that identity, checked now;
//! - anything else (the provider down, junk, an error) keeps the old
//!   identity for the grace period, unchanged.

#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tinyauth_wasm::config::{ClaimNames, Config};
use tinyauth_wasm::decision::{CallReply, Forward};
use tinyauth_wasm::document::Object;
use tinyauth_wasm::oidc::claims::{self, ClaimsError};
use tinyauth_wasm::oidc::discovery::{self, Fetch, Runtime};
use tinyauth_wasm::oidc::jwks::{Jwks, ALLOWED_ALGS};
use tinyauth_wasm::oidc::messages::parse_token_response;
use tinyauth_wasm::oidc::{Action, Decision, LoginStep, Pending, Tokens};
use tinyauth_wasm::secret::Secret;
use tinyauth_wasm::session::login_flow::LoginFlow;
use tinyauth_wasm::session::Session;
use tinyauth_wasm_fuzz::common::{self, idp, ok_json};
use tinyauth_wasm_fuzz::{acceptable_claims, one_line, signed_by_test_rsa_key, NOW};

const ISSUER: &str = "https://id.example.com";

const STATUSES: [Option<u16>; 8] = [
    Some(200),
    Some(200),
    Some(201),
    Some(400),
    Some(401),
    Some(500),
    Some(503),
    None,
];

struct Fixture {
    /// A provider known by its issuer alone: discovery fills in the rest.
    discovering: Config,
    /// A provider whose discovery and key set were fetched (the test key).
    env: common::Env,
    flow: LoginFlow,
    id_token: String,
    id_claims: Object,
    jwks: Value,
    /// The configuration of `env`, compiled afresh for each re-check so no
    /// refresh state carries over from one input to the next.
    config: Value,
    /// Alice's cookies after a login at `NOW`.
    alice: Vec<(String, String)>,
}

/// When Alice's session (signed in at `NOW`) is due for its re-check, well
/// within the grace period.
const REFRESH_AT: u64 = NOW + 901;
const WHO: &str = "https://who.example.com/";

fn fixture() -> &'static Fixture {
    // The per-VM state holds a `RefCell`: one fixture per (the) thread.
    thread_local! {
        static FIXTURE: &'static Fixture = Box::leak(Box::new(make()));
    }
    FIXTURE.with(|fixture| *fixture)
}

fn make() -> Fixture {
    {
        let mut discovering = common::base_config();
        discovering["oauth"]["providers"]["generic"] = json!({
            "issuer": ISSUER,
            "clientId": "tinyauth",
            "clientSecret": "client-secret",
            "cluster": "pocket_id"
        });
        let mut config = common::base_config();
        config["oauth"]["whitelist"] = json!("/@example\\.com$/");
        let env = common::compile(&config);
        let mut browser = common::Browser::new();
        let done = common::login(
            &env,
            &mut browser,
            WHO,
            &common::alice(),
            &mut common::Counter::default(),
        );
        assert!(matches!(done.action, Action::Respond(_)), "{done:?}");
        let flow = LoginFlow {
            provider: "generic".into(),
            state: "fuzz-state-fuzz-state-fuzz-state-fuzz-state".into(),
            nonce: "fuzz-nonce-fuzz-nonce-fuzz-nonce-fuzz-nonc".into(),
            verifier: "fuzz-verifier-fuzz-verifier-fuzz-verifier-f".into(),
            return_to: "https://whoami.example.com/after?x=1".into(),
            expires_at: NOW + 600,
        };
        let claims = idp::id_claims(ISSUER, "tinyauth", &flow.nonce, NOW, &common::alice());
        let id_token = idp::TestKey::rs256().mint(&claims);
        let Value::Object(id_claims) = claims else {
            unreachable!()
        };
        Fixture {
            discovering: Config::from_json(discovering.to_string().as_bytes()).unwrap(),
            env,
            flow,
            id_token,
            id_claims,
            jwks: idp::jwks(&[&idp::TestKey::rs256()]),
            config,
            alice: browser.cookies,
        }
    }
}

fn printable_line(text: &str) {
    assert!(
        text.chars().all(|c| c.is_ascii_graphic() || c == ' '),
        "not one printable line: {text:?}"
    );
}

fn logs_are_lines(decision: &Decision) {
    for line in &decision.log {
        assert!(
            one_line(&line.message),
            "log line breaks: {:?}",
            line.message
        );
    }
}

fn discovery(reply: &CallReply) {
    let config = &fixture().discovering;
    let mut runtime = Runtime::new(config);
    let due = discovery::due_fetches(config, &mut runtime, NOW);
    assert!(matches!(due.as_slice(), [(0, Fetch::Discovery, _)]));
    let log = discovery::on_fetch_reply(config, &mut runtime, 0, Fetch::Discovery, reply, NOW);
    for line in &log {
        assert!(
            one_line(&line.message),
            "log line breaks: {:?}",
            line.message
        );
    }
    let state = &runtime.providers[0];
    match &state.endpoints {
        Some(endpoints) => {
            assert!(reply.status.is_some_and(|s| (200..300).contains(&s)));
            assert_eq!(endpoints.issuer, ISSUER);
            assert!(endpoints.jwks.is_some(), "no key set to verify ID tokens");
            assert!(endpoints.userinfo.is_some(), "no userinfo endpoint");
            assert!(!endpoints.token.cluster.is_empty());
            assert!(state.last_error.is_none());
            // The key set is fetched next; the provider is not ready before.
            assert!(runtime.readiness(config, 0, NOW).is_err());
            let due = discovery::due_fetches(config, &mut runtime, NOW);
            assert!(matches!(due.as_slice(), [(0, Fetch::Jwks, _)]), "{due:?}");
        }
        None => {
            let why = state.last_error.as_deref().expect("a failure is explained");
            assert!(one_line(why), "{why:?}");
            assert!(runtime.readiness(config, 0, NOW).is_err());
        }
    }
}

fn key_set(reply: &CallReply) {
    if let Ok(jwks) = Jwks::parse(&reply.body) {
        for jwk in &jwks.keys {
            assert!(!jwk.keys.is_empty());
            for key in &jwk.keys {
                assert!(ALLOWED_ALGS.contains(&key.alg()));
            }
        }
        for note in &jwks.skipped {
            assert!(one_line(note), "{note:?}");
        }
    }
    let fixture = fixture();
    let config = &fixture.env.config;
    let mut runtime = fixture.env.runtime.clone();
    let before = runtime.providers[0].jwks.as_ref().map(|j| j.keys.len());
    let log = discovery::on_fetch_reply(config, &mut runtime, 0, Fetch::Jwks, reply, NOW + 7200);
    for line in &log {
        assert!(
            one_line(&line.message),
            "log line breaks: {:?}",
            line.message
        );
    }
    let state = &runtime.providers[0];
    let loaded = reply.status.is_some_and(|s| (200..300).contains(&s))
        && Jwks::parse(&reply.body).is_ok_and(|j| !j.keys.is_empty());
    if loaded {
        assert_eq!(state.jwks_fetched_at, NOW + 7200);
        assert!(state.last_error.is_none());
    } else {
        assert_eq!(state.jwks.as_ref().map(|j| j.keys.len()), before);
        assert!(state.last_error.is_some());
    }
    assert!(runtime.readiness(config, 0, NOW + 7200).is_ok());
}

fn token(reply: &CallReply) {
    match parse_token_response(reply) {
        Ok(tokens) => {
            assert!(reply.status.is_some_and(|s| (200..300).contains(&s)));
            assert!(!tokens.access_token.expose().is_empty());
            assert!(tokens
                .id_token
                .as_ref()
                .is_none_or(|t| !t.expose().is_empty()));
            let object: Object = serde_json::from_slice(&reply.body).unwrap();
            let kind = object.get("token_type").and_then(Value::as_str).unwrap();
            assert!(kind.eq_ignore_ascii_case("bearer"), "{kind:?}");
        }
        Err(failure) => printable_line(&failure.to_string()),
    }
    let fixture = fixture();
    let pending = Pending::Login(LoginStep::Token {
        flow: fixture.flow.clone(),
        browser: true,
    });
    let decision = fixture.env.reply(pending, reply);
    logs_are_lines(&decision);
    match &decision.action {
        Action::Forward(_) => panic!("a provider reply was forwarded"),
        Action::Respond(response) => {
            let session = &fixture.env.config.site.cookies.session_name;
            assert!(
                !response
                    .headers
                    .iter()
                    .any(|(n, v)| n == "set-cookie" && v.starts_with(session.as_str())),
                "a session before userinfo"
            );
        }
        Action::Call { call, pending } => {
            assert_eq!(call.cluster, "pocket_id");
            match pending {
                Pending::Login(LoginStep::UserInfo {
                    tokens, id_claims, ..
                }) => {
                    let id_token = tokens.id_token.as_ref().map_or("", Secret::expose);
                    let signed = signed_by_test_rsa_key(id_token)
                        .expect("userinfo asked for after an ID token the test key did not sign");
                    assert!(
                        acceptable_claims(&signed, ISSUER, "tinyauth", &fixture.flow.nonce, NOW, 0),
                        "userinfo asked for after an ID token OIDC refuses: {signed:?}"
                    );
                    assert_eq!(id_claims.as_ref(), Some(&signed));
                    assert_eq!(call.header_value(":path"), Some("/api/oidc/userinfo"));
                }
                Pending::Login(LoginStep::Keys { .. }) => {
                    assert_eq!(call.header_value(":path"), Some("/.well-known/jwks.json"));
                }
                Pending::Login(LoginStep::Token { .. }) => {
                    panic!("the token endpoint called twice")
                }
                Pending::Refresh { .. } | Pending::Revoke { .. } => {
                    panic!("a login's token reply started a refresh or a revocation")
                }
            }
        }
    }
}

fn check_identity(claims: &Object) -> Option<tinyauth_wasm::session::identity::Identity> {
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty());
    match claims::identity("generic", claims, &ClaimNames::default()) {
        Ok(identity) => {
            assert_eq!(Some(identity.sub.as_str()), sub);
            assert!(!identity.username.is_empty());
            // Finding 8 was an empty name from an email of just `@`.
            assert!(!identity.name.is_empty(), "{identity:?}");
            assert_eq!(identity.username.trim(), identity.username);
            assert!(identity
                .email
                .as_deref()
                .is_none_or(|e| !e.is_empty() && e.trim() == e));
            for (i, group) in identity.groups.iter().enumerate() {
                assert!(!group.is_empty() && group.trim() == group, "{group:?}");
                assert!(!identity.groups[..i].contains(group), "{group:?} twice");
            }
            Some(identity)
        }
        Err(ClaimsError::MissingSub) => {
            assert!(sub.is_none(), "refused claims with sub {sub:?}");
            None
        }
        Err(other) => panic!("claims object refused: {other:?}"),
    }
}

fn userinfo(reply: &CallReply, with_id_claims: bool) {
    let parsed = claims::parse(&reply.body);
    let identity = parsed.as_ref().ok().and_then(check_identity);
    let fixture = fixture();
    let id_claims = with_id_claims.then(|| fixture.id_claims.clone());
    let pending = Pending::Login(LoginStep::UserInfo {
        flow: fixture.flow.clone(),
        browser: true,
        tokens: Tokens {
            access_token: Secret::new("access-token-value"),
            id_token: Some(Secret::new(fixture.id_token.clone())),
            refresh_token: None,
        },
        id_claims,
    });
    let decision = fixture.env.reply(pending, reply);
    logs_are_lines(&decision);
    let Action::Respond(response) = &decision.action else {
        panic!("userinfo must end the login: {:?}", decision.action);
    };
    let config = &fixture.env.config;
    let prefix = format!("{}=", config.site.cookies.session_name);
    let issued = response
        .headers
        .iter()
        .filter(|(n, _)| n == "set-cookie")
        .find_map(|(_, v)| v.strip_prefix(&prefix))
        .map(|rest| rest.split(';').next().unwrap());
    let Some(cookie) = issued else {
        return;
    };
    assert!(reply.status.is_some_and(|s| (200..300).contains(&s)));
    let session = Session::open(cookie, &config.keys.session).expect("the issued session opens");
    let claims = parsed.expect("a session from claims that are not an object");
    assert_eq!(Some(&session.identity), identity.as_ref());
    if with_id_claims {
        assert_eq!(claims.get("sub"), fixture.id_claims.get("sub"));
    }
    let email = session.identity.email.as_deref().unwrap_or_default();
    assert!(
        email.to_ascii_lowercase().ends_with("@example.com"),
        "a session for {email:?}, not on the whitelist"
    );
    assert_eq!(response.status, 302);
    let location = response.header_value("location").unwrap_or_default();
    assert!(
        location.starts_with("https://whoami.example.com/after"),
        "{location:?}"
    );
    assert_eq!(session.created_at, NOW);
}

/// A fresh VM of the whitelisting configuration, and Alice's request once
/// her session is due: paused for the refresh-token grant.
fn due_refresh() -> (common::Env, Pending) {
    let fixture = fixture();
    let env = common::compile(&fixture.config);
    let mut browser = common::Browser::new();
    browser.cookies.clone_from(&fixture.alice);
    let decision = browser.get_at(&env, WHO, &[], REFRESH_AT, &mut common::Counter(90));
    let Action::Call { call, pending } = decision.action else {
        panic!(
            "a due session did not start a refresh: {:?}",
            decision.action
        );
    };
    assert_eq!(call.header_value(":path"), Some("/api/oidc/token"));
    assert!(matches!(pending, Pending::Refresh { .. }));
    (env, pending)
}

fn forwarded_user(forward: &Forward) -> Option<&str> {
    forward
        .set
        .iter()
        .find(|(name, _)| name == "remote-user")
        .map(|(_, value)| value.as_str())
}

/// The session cookie a decision sets, opened.
fn issued_session(env: &common::Env, headers: &[(String, String)]) -> Option<Session> {
    let prefix = format!("{}=", env.config.site.cookies.session_name);
    headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .find_map(|(_, value)| value.strip_prefix(&prefix))
        .and_then(|rest| rest.split(';').next())
        .filter(|value| !value.is_empty())
        .map(|value| Session::open(value, &env.config.keys.session).expect("a set session opens"))
}

/// The old identity, unchanged: the provider gave no verdict.
fn kept(env: &common::Env, forward: &Forward, why: &str) {
    assert_eq!(forwarded_user(forward), Some("alice"), "{why}");
    if let Some(session) = issued_session(env, &forward.response_headers) {
        assert_eq!(session.identity.username, "alice", "{why}");
        assert!(session.checked_at < REFRESH_AT, "confirmed by {why}");
    }
}

/// The refresh-token grant's reply, during a re-check.
fn refresh_token_reply(reply: &CallReply) {
    let (env, pending) = due_refresh();
    let parsed = parse_token_response(reply);
    let decision = env.reply_at(pending, reply, REFRESH_AT);
    logs_are_lines(&decision);
    match &decision.action {
        Action::Call { call, pending } => {
            let tokens = parsed.expect("userinfo asked for after a token response that fails");
            assert!(matches!(pending, Pending::Refresh { .. }));
            assert_eq!(call.header_value(":path"), Some("/api/oidc/userinfo"));
            let bearer = format!("Bearer {}", tokens.access_token.expose());
            assert_eq!(call.header_value("authorization"), Some(bearer.as_str()));
        }
        Action::Forward(forward) => {
            assert!(parsed.is_err(), "a usable grant, yet no userinfo call");
            kept(&env, forward, "a failed grant");
        }
        Action::Respond(response) => {
            let refused = String::from_utf8_lossy(&reply.body).contains("invalid_grant");
            assert!(
                parsed.is_err() && refused,
                "the session ended without invalid_grant"
            );
            assert_eq!(response.status, 302, "a browser is sent to sign in");
            assert!(issued_session(&env, &response.headers).is_none());
        }
    }
}

/// Userinfo's reply, during a re-check after a good grant.
fn refresh_userinfo_reply(reply: &CallReply) {
    let (env, pending) = due_refresh();
    let grant = ok_json(&json!({
        "access_token": "new-access-token",
        "token_type": "bearer",
        "refresh_token": "rotated-refresh-token"
    }));
    let Action::Call { pending, .. } = env.reply_at(pending, &grant, REFRESH_AT).action else {
        panic!("no userinfo call after a good grant");
    };
    let success = reply.status.is_some_and(|s| (200..300).contains(&s));
    let identity = success
        .then(|| claims::parse(&reply.body).ok())
        .flatten()
        .and_then(|claims| check_identity(&claims));
    let decision = env.reply_at(pending, reply, REFRESH_AT);
    logs_are_lines(&decision);
    match (&decision.action, identity) {
        (Action::Call { .. }, _) => panic!("a third call in one re-check"),
        (Action::Forward(forward), None) => kept(&env, forward, "userinfo without a user"),
        (Action::Forward(forward), Some(identity)) => {
            assert_eq!(identity.sub, "8b1f1c5e-alice", "went on as another user");
            let email = identity.email.as_deref().unwrap_or_default();
            assert!(
                email.to_ascii_lowercase().ends_with("@example.com"),
                "went on with {email:?}, not on the whitelist"
            );
            let session = issued_session(&env, &forward.response_headers)
                .expect("a refreshed identity without a new cookie");
            assert_eq!(session.identity, identity);
            assert_eq!(session.checked_at, REFRESH_AT);
            assert_eq!(session.created_at, NOW, "a refresh is not a login");
        }
        (Action::Respond(response), identity) => {
            assert!(
                identity.is_some(),
                "ended without the provider naming a user"
            );
            assert_eq!(response.status, 302, "a browser is sent to sign in");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let status = STATUSES[usize::from(mode >> 5)];
    let mut reply = CallReply {
        status,
        body: body.to_vec(),
        missing_cluster: None,
    };
    // Bit 3: the token and userinfo replies of a session's re-check.
    let refresh = mode & 8 != 0;
    match mode & 7 {
        2 | 3 if refresh => {
            let text = String::from_utf8_lossy(body).replace("$IDT", &fixture().id_token);
            reply.body = text.into_bytes();
            refresh_token_reply(&reply);
        }
        4 | 5 if refresh => refresh_userinfo_reply(&reply),
        0 => discovery(&reply),
        1 => key_set(&reply),
        2 => token(&reply),
        3 => {
            // `$IDT` → the signed ID token of this login.
            let text = String::from_utf8_lossy(body).replace("$IDT", &fixture().id_token);
            reply.body = text.into_bytes();
            token(&reply);
        }
        4 => userinfo(&reply, true),
        5 => userinfo(&reply, false),
        6 => {
            // The well-formed replies, to keep the happy path covered.
            let fixture = fixture();
            let doc = common::discovery_document(ISSUER);
            discovery(&ok_json(&doc));
            key_set(&ok_json(&fixture.jwks));
            token(&common::token_reply_with(&fixture.id_token));
            userinfo(&reply, true);
        }
        _ => {
            let _ = claims::parse(body).map(|c| check_identity(&c));
        }
    }
});
