//! OIDC in the login flow: discovery and its failures, ID-token verification at
//! the callback, key rotation, claims from the ID token, `iss` (RFC 9207),
//! several providers, and the 503 before the provider is known.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::idp::{id_claims, jwks, TestKey};
use common::*;
use serde_json::{json, Value};
use tinyauth_wasm::config::Config;
use tinyauth_wasm::decision::CallReply;
use tinyauth_wasm::metrics::{Count, LoginFailure};
use tinyauth_wasm::oidc::discovery::{self, Fetch, Runtime, RuntimeUpdate, JWKS_REFRESH_SECONDS};
use tinyauth_wasm::oidc::{Action, Pending};

/// Starts a login and returns the paused token call's `Pending`.
fn at_token(env: &Env, browser: &mut Browser, rng: &mut Counter) -> Pending {
    let state = start_login(env, browser, rng);
    call(browser.get(env, &callback_url(&state), rng)).1
}

fn signed_for(env: &Config, pending: &Pending, key: &TestKey, userinfo: &Value) -> CallReply {
    let provider = &env.providers[0];
    let claims = id_claims(
        &provider.expected_issuer(),
        &provider.client_id,
        &nonce_of(pending),
        NOW,
        userinfo,
    );
    token_reply_with(&key.mint(&claims))
}

#[test]
fn a_token_with_a_bad_signature_is_refused_at_the_callback() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let impostor = TestKey::load("rsa-b.pem", "key-a", "RS256");
    let reply = signed_for(&env, &pending, &impostor, &alice());
    let decision = env.reply(pending, &reply);
    assert_eq!(response(&decision).status, 502);
    assert!(
        decision.log[0]
            .message
            .contains("ID token signature does not verify"),
        "{:?}",
        decision.log
    );
    assert!(response(&decision)
        .headers
        .iter()
        .all(|(_, v)| !v.starts_with("tinyauth-session-")));
}

#[test]
fn a_missing_id_token_is_refused_when_verification_is_on() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = ok_json(&json!({"access_token": "at", "token_type": "bearer"}));
    let decision = env.reply(pending, &reply);
    assert_eq!(response(&decision).status, 502);
    assert!(decision.log[0].message.contains("no id_token"));
}

#[test]
fn a_rotated_signing_key_is_fetched_once_and_the_login_succeeds() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let rotated = TestKey::load("rsa-b.pem", "key-b", "RS256");
    let reply = signed_for(&env, &pending, &rotated, &alice());
    let decision = env.reply(pending, &reply);
    assert!(decision
        .updates
        .iter()
        .any(|u| matches!(u, RuntimeUpdate::KidRefetch { .. })));
    let (jwks_call, pending) = call(decision);
    assert_eq!(
        jwks_call.header_value(":path"),
        Some("/.well-known/jwks.json")
    );
    assert_eq!(jwks_call.cluster, "pocket_id");
    let new_set = jwks(&[&TestKey::rs256(), &rotated]);
    let decision = env.reply(pending, &ok_json(&new_set));
    assert!(
        decision
            .updates
            .iter()
            .any(|u| matches!(u, RuntimeUpdate::Jwks { jwks, .. } if jwks.keys.len() == 2)),
        "the fresh key set is kept for the VM"
    );
    let (userinfo_call, pending) = call(decision);
    assert_eq!(
        userinfo_call.header_value(":path"),
        Some("/api/oidc/userinfo")
    );
    let done = env.reply(pending, &ok_json(&alice()));
    assert_eq!(location(&done), "https://auth.example.com/");
}

#[test]
fn unknown_kids_are_refetched_at_most_once_in_a_while() {
    let rotated = TestKey::load("rsa-b.pem", "key-b", "RS256");
    // The same unknown kid again within 30 s: refused without a fetch.
    let mut env = compile(&base_config());
    env.runtime.apply(RuntimeUpdate::KidRefetch {
        provider: 0,
        kid: "key-b".into(),
        at: NOW - 5,
    });
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = signed_for(&env, &pending, &rotated, &alice());
    let decision = env.reply(pending, &reply);
    assert_eq!(
        response(&decision).status,
        502,
        "no second fetch for the same kid within 30 s"
    );
    assert!(decision.log[0]
        .message
        .contains("kid `key-b` is not in the JWKS"));
    // A different new kid (another rotation) may refetch at once.
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = signed_for(
        &env,
        &pending,
        &TestKey::load("rsa-b.pem", "key-c", "RS256"),
        &alice(),
    );
    assert!(matches!(
        env.reply(pending, &reply).action,
        Action::Call { .. }
    ));
    // After 30 s the first kid may be tried again.
    let state = &env.runtime.providers[0];
    assert!(state.may_refetch_for("key-b", NOW + 30));
    assert!(!state.may_refetch_for("key-b", NOW + 20));
}

#[test]
fn a_refetched_key_set_that_still_lacks_the_kid_refuses_the_login() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = signed_for(
        &env,
        &pending,
        &TestKey::load("rsa-b.pem", "key-b", "RS256"),
        &alice(),
    );
    let (_, pending) = call(env.reply(pending, &reply));
    let decision = env.reply(pending, &ok_json(&jwks(&[&TestKey::rs256()])));
    assert_eq!(response(&decision).status, 502);
    let junk = {
        let pending = at_token(&env, &mut browser, &mut rng);
        let reply = signed_for(
            &env,
            &pending,
            &TestKey::load("rsa-b.pem", "key-c", "RS256"),
            &alice(),
        );
        let (_, pending) = call(env.reply(pending, &reply));
        env.reply(
            pending,
            &CallReply {
                status: Some(200),
                body: b"<html>".to_vec(),
                missing_cluster: None,
            },
        )
    };
    assert_eq!(response(&junk).status, 502);
}

#[test]
fn claims_from_the_id_token_skip_the_userinfo_call() {
    let mut value = base_config();
    value["oauth"]["providers"]["generic"]["claimsFrom"] = json!("idToken");
    let env = compile(&value);
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = signed_for(&env, &pending, &TestKey::rs256(), &alice());
    let done = env.reply(pending, &reply);
    assert_eq!(location(&done), "https://auth.example.com/");
    browser.store(response(&done));
    let forwarded = browser.get(&env, "https://who.example.com/", &mut rng);
    let set = &forward(&forwarded).set;
    assert!(set.contains(&("remote-groups".into(), "admins,users".into())));
}

#[test]
fn userinfo_must_describe_the_same_subject_as_the_id_token() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let pending = at_token(&env, &mut browser, &mut rng);
    let reply = signed_for(&env, &pending, &TestKey::rs256(), &alice());
    let (_, pending) = call(env.reply(pending, &reply));
    let decision = env.reply(pending, &ok_json(&bob()));
    assert_eq!(response(&decision).status, 502);
    assert!(decision.log[0].message.contains("sub does not match"));
}

#[test]
fn email_verified_can_be_required() {
    let mut value = base_config();
    value["oauth"]["providers"]["generic"]["requireEmailVerified"] = json!(true);
    let env = compile(&value);
    let unverified = json!({"sub": "e-1", "email": "erin@example.com", "email_verified": false, "preferred_username": "erin"});
    for (claims, want) in [
        (unverified, 403),
        (dave_without_email(), 403),
        (alice(), 302),
    ] {
        let mut browser = Browser::new();
        let done = login(
            &env,
            &mut browser,
            "https://who.example.com/",
            &claims,
            &mut Counter::default(),
        );
        assert_eq!(response(&done).status, want, "{claims}");
    }
}

#[test]
fn the_iss_response_parameter_is_checked() {
    let env = compile(&base_config());
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    for (iss, want) in [
        ("&iss=https%3A%2F%2Fevil.example.com", 400),
        ("", 400),
        ("&iss=https%3A%2F%2Fid.example.com", 0),
    ] {
        let state = start_login(&env, &mut browser, &mut rng);
        let url = format!("{APP_URL}/api/oauth/callback/generic?code=c&state={state}{iss}");
        let decision = browser.get(&env, &url, &mut rng);
        match &decision.action {
            Action::Respond(r) => assert_eq!(r.status, want, "{iss}"),
            Action::Call { .. } => assert_eq!(want, 0, "{iss}"),
            Action::Forward(_) => panic!("forwarded"),
        }
    }
}

#[test]
fn without_verification_the_filter_works_like_tinyauth() {
    let mut value = base_config();
    value["oauth"]["providers"]["generic"]["verifyIdToken"] = json!(false);
    let config = Config::from_json(value.to_string().as_bytes()).unwrap();
    let runtime = Runtime::new(&config);
    assert!(
        runtime.readiness(&config, 0, NOW).is_ok(),
        "ready without any fetch"
    );
    let env = Env { config, runtime };
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let state = start_login(&env, &mut browser, &mut rng);
    let url = format!("{APP_URL}/api/oauth/callback/generic?code=c&state={state}");
    let (_, pending) = call(browser.get(&env, &url, &mut rng));
    let (_, pending) = call(env.reply(
        pending,
        &ok_json(&json!({"access_token": "at", "token_type": "Bearer"})),
    ));
    assert_eq!(
        location(&env.reply(pending, &ok_json(&alice()))),
        "https://auth.example.com/"
    );
}

fn unready(value: &Value) -> Env {
    let config = Config::from_json(value.to_string().as_bytes()).unwrap();
    let runtime = Runtime::new(&config);
    Env { config, runtime }
}

#[test]
fn before_discovery_logins_get_503_with_retry_after() {
    let mut value = base_config();
    value["oauth"]["autoRedirect"] = json!("generic");
    let env = unready(&value);
    let mut rng = Counter::default();
    for (who, url) in [
        (Browser::new(), START),
        (Browser::new(), "https://who.example.com/"),
    ] {
        let mut who = who;
        let decision = who.get(&env, url, &mut rng);
        let r = response(&decision);
        assert_eq!(r.status, 503, "{url}");
        assert!(
            r.header_value("retry-after")
                .unwrap()
                .parse::<u64>()
                .unwrap()
                >= 1
        );
        assert!(body(r).contains("temporarily unavailable"));
        assert_eq!(
            decision.counts,
            [Count::LoginFailed(LoginFailure::Unavailable)]
        );
        assert_eq!(decision.audit.as_ref().unwrap().event, "login_failed");
    }
    // API clients are told to log in (no provider needed for that).
    let api = Browser::api().get(&env, "https://who.example.com/", &mut rng);
    assert_eq!(response(&api).status, 401);
}

#[test]
fn discovery_failures_back_off_and_say_why() {
    let env = unready(&base_config());
    let mut runtime = env.runtime.clone();
    let due = discovery::due_fetches(&env, &mut runtime, NOW);
    assert_eq!(due.len(), 1);
    let (index, fetch, request) = &due[0];
    assert_eq!(*fetch, Fetch::Discovery);
    assert_eq!(
        request.header_value(":path"),
        Some("/.well-known/openid-configuration")
    );
    assert!(
        discovery::due_fetches(&env, &mut runtime, NOW).is_empty(),
        "one call in flight at a time"
    );
    let mut delays = Vec::new();
    let mut now = NOW;
    for _ in 0..8 {
        let lines = discovery::on_fetch_reply(
            &env,
            &mut runtime,
            *index,
            Fetch::Discovery,
            &CallReply::default(),
            now,
        );
        assert!(
            lines[0].message.contains("discovery failed: no response"),
            "{lines:?}"
        );
        assert!(lines[0].message.contains("logins through it are refused"));
        let (why, retry) = runtime.readiness(&env, 0, now).unwrap_err();
        assert!(why.contains("discovery failed"));
        delays.push(retry);
        now += retry;
        assert_eq!(discovery::due_fetches(&env, &mut runtime, now).len(), 1);
    }
    assert_eq!(delays, [1, 2, 4, 8, 16, 32, 60, 60]);
    // Recovery.
    discovery::on_fetch_reply(
        &env,
        &mut runtime,
        0,
        Fetch::Discovery,
        &ok_json(&discovery_document("https://id.example.com")),
        now,
    );
    let due = discovery::due_fetches(&env, &mut runtime, now);
    assert_eq!(due[0].1, Fetch::Jwks);
    discovery::on_fetch_reply(
        &env,
        &mut runtime,
        0,
        Fetch::Jwks,
        &ok_json(&jwks(&[&TestKey::rs256()])),
        now,
    );
    assert!(runtime.readiness(&env, 0, now).is_ok());
}

#[test]
fn discovery_documents_are_checked() {
    let env = unready(&base_config());
    let cases = [
        (
            json!({"issuer": "https://evil.example.com", "jwks_uri": "https://id.example.com/j"}),
            "is not `https://id.example.com`",
        ),
        (json!({"token_endpoint": "x"}), "not JSON with an issuer"),
        (json!({"issuer": "https://id.example.com"}), "no jwks_uri"),
        (
            json!({"issuer": "https://id.example.com", "jwks_uri": "ftp://x"}),
            "jwks_uri",
        ),
    ];
    for (document, problem) in cases {
        let mut runtime = env.runtime.clone();
        discovery::due_fetches(&env, &mut runtime, NOW);
        let lines = discovery::on_fetch_reply(
            &env,
            &mut runtime,
            0,
            Fetch::Discovery,
            &ok_json(&document),
            NOW,
        );
        assert!(
            lines[0].message.contains(problem),
            "{document}: {}",
            lines[0].message
        );
        assert!(runtime.readiness(&env, 0, NOW).is_err());
    }
}

#[test]
fn internal_hosts_from_discovery_use_their_own_clusters() {
    let mut value = base_config();
    value["oauth"]["providers"]["generic"] = json!({
        "issuer": "https://id.example.com", "clientId": "c", "clientSecret": "s"
    });
    value["clusters"] = json!({"pocket-id.internal:8080": "pocket_id_internal"});
    let env = unready(&value);
    let mut runtime = env.runtime.clone();
    let due = discovery::due_fetches(&env, &mut runtime, NOW);
    assert_eq!(due[0].2.cluster, "outbound|443||id.example.com");
    let mut document = discovery_document("https://id.example.com");
    for key in ["token_endpoint", "userinfo_endpoint", "jwks_uri"] {
        let path = document[key]
            .as_str()
            .unwrap()
            .replace("https://id.example.com", "http://pocket-id.internal:8080");
        document[key] = json!(path);
    }
    discovery::on_fetch_reply(
        &env,
        &mut runtime,
        0,
        Fetch::Discovery,
        &ok_json(&document),
        NOW,
    );
    let endpoints = runtime.providers[0].endpoints.clone().unwrap();
    assert_eq!(endpoints.token.cluster, "pocket_id_internal");
    assert_eq!(endpoints.token.authority, "pocket-id.internal:8080");
    assert_eq!(
        endpoints.authorize.to_string(),
        "https://id.example.com/authorize"
    );
    let due = discovery::due_fetches(&env, &mut runtime, NOW);
    assert_eq!(due[0].2.cluster, "pocket_id_internal");
    assert_eq!(
        due[0].2.header_value(":path"),
        Some("/.well-known/jwks.json")
    );
}

#[test]
fn the_key_set_is_refreshed_periodically_and_kept_when_a_refresh_fails() {
    let env = compile(&base_config());
    let mut runtime = env.runtime.clone();
    assert!(discovery::due_fetches(&env, &mut runtime, NOW + 10).is_empty());
    let later = NOW + JWKS_REFRESH_SECONDS;
    let due = discovery::due_fetches(&env, &mut runtime, later);
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1, Fetch::Jwks);
    discovery::on_fetch_reply(
        &env,
        &mut runtime,
        0,
        Fetch::Jwks,
        &CallReply::default(),
        later,
    );
    assert!(
        runtime.readiness(&env, 0, later).is_ok(),
        "the old keys keep serving logins"
    );
    assert_eq!(runtime.providers[0].jwks.as_ref().unwrap().keys.len(), 1);
}

#[test]
fn two_providers_side_by_side() {
    let mut value = base_config();
    value["oauth"]["providers"]["second"] = json!({
        "name": "Second IdP", "clientId": "two", "clientSecret": "s2",
        "authUrl": "https://id2.example.com/authorize",
        "tokenUrl": "https://id2.example.com/token",
        "userInfoUrl": "https://id2.example.com/userinfo",
        "whitelist": "bob@example.com"
    });
    let env = compile(&value);
    let (mut browser, mut rng) = (Browser::new(), Counter::default());
    let page = browser.get(&env, "https://auth.example.com/login", &mut rng);
    let html = body(response(&page));
    assert!(html.contains("Login with Pocket ID") && html.contains("Login with Second IdP"));
    // A response for one provider cannot complete a login started with another.
    let state = start_login(&env, &mut browser, &mut rng);
    let url = format!("{APP_URL}/api/oauth/callback/second?code=c&state={state}&iss=https%3A%2F%2Fid2.example.com");
    let decision = browser.get(&env, &url, &mut rng);
    assert_eq!(response(&decision).status, 400);
    assert!(body(response(&decision)).contains("does not belong"));
    // The second provider's own authorize URL and redirect URI.
    let second = browser.get(
        &env,
        "https://auth.example.com/api/oauth/start/second",
        &mut rng,
    );
    let to = location(&second);
    assert!(to.starts_with("https://id2.example.com/authorize?"));
    assert_eq!(
        query_param(to, "redirect_uri").as_deref(),
        Some("https://auth.example.com/api/oauth/callback/second")
    );
    assert_eq!(query_param(to, "client_id").as_deref(), Some("two"));
}
