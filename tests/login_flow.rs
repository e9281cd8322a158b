//! The login loop through the public core API: request → login page →
//! provider → callback → token and userinfo calls → session → forwarded request
//! with identity headers; and every way it can fail.

// Test-only helpers below may unwrap; the no-panic rule is for `src/`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;
use tinyauth_wasm::decision::{CallReply, Level};
use tinyauth_wasm::oidc::{Action, Pending};

const APP: &str = "https://admin.example.com/dashboard?tab=1";

#[test]
fn unauthenticated_browser_goes_to_the_login_page_with_the_original_url() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let decision = browser.get(&config, APP, &mut Counter::default());
    let to = location(&decision);
    assert_eq!(
        to,
        "https://auth.example.com/login?redirect_uri=https%3A%2F%2Fadmin.example.com%2Fdashboard%3Ftab%3D1"
    );
}

#[test]
fn non_browser_gets_401_json_with_the_login_location() {
    let config = compile(&base_config());
    let decision = Browser::api().get(&config, APP, &mut Counter::default());
    let response = response(&decision);
    assert_eq!(response.status, 401);
    assert_eq!(body(response), r#"{"status":401,"message":"Unauthorized"}"#);
    assert!(response
        .header_value("x-tinyauth-location")
        .unwrap()
        .starts_with("https://auth.example.com/login?redirect_uri=https%3A%2F%2Fadmin"));
}

#[test]
fn login_page_offers_the_provider() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let page = browser.get(
        &config,
        "https://auth.example.com/login",
        &mut Counter::default(),
    );
    let response = response(&page);
    assert_eq!(response.status, 200);
    assert!(body(response).contains("Login with Pocket ID"));
}

#[test]
fn auto_redirect_goes_straight_to_the_provider() {
    let mut value = base_config();
    value["oauth"]["autoRedirect"] = json!("generic");
    let config = compile(&value);
    let mut browser = Browser::new();
    let decision = browser.get(&config, APP, &mut Counter::default());
    let to = location(&decision);
    assert!(to.starts_with("https://id.example.com/authorize?"), "{to}");
    let flow_cookie = response(&decision).header_value("set-cookie").unwrap();
    assert!(flow_cookie.contains("Domain=example.com"), "{flow_cookie}");
    assert!(flow_cookie.contains("Path=/api/oauth/callback/"));
}

#[test]
fn authorization_request_has_state_nonce_and_pkce() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let start = browser.get(
        &config,
        "https://auth.example.com/api/oauth/start/generic",
        &mut rng,
    );
    let url = location(&start);
    assert_eq!(query_param(url, "response_type").as_deref(), Some("code"));
    assert_eq!(query_param(url, "client_id").as_deref(), Some("tinyauth"));
    assert_eq!(
        query_param(url, "redirect_uri").as_deref(),
        Some("https://auth.example.com/api/oauth/callback/generic")
    );
    assert!(query_param(url, "state").unwrap().len() >= 43);
    assert!(query_param(url, "nonce").unwrap().len() >= 43);
    assert_eq!(
        query_param(url, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(query_param(url, "code_challenge").unwrap().len(), 43);
}

#[test]
fn full_login_forwards_with_identity_headers() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let done = login(&config, &mut browser, APP, &alice(), &mut rng);
    assert_eq!(location(&done), APP);
    let set_cookie = response(&done)
        .headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("tinyauth-session-"))
        .map(|(_, v)| v.clone())
        .unwrap();
    for attribute in [
        "HttpOnly",
        "SameSite=Lax",
        "Secure",
        "Domain=example.com",
        "Max-Age=86400",
        "Path=/",
    ] {
        assert!(
            set_cookie.contains(attribute),
            "{attribute} in {set_cookie}"
        );
    }
    assert!(
        browser.cookie("tinyauth-flow-").is_none(),
        "the flow cookie is cleared"
    );

    let decision = browser.get_at(
        &config,
        APP,
        &[
            ("remote-user", "mallory"),
            ("remote-groups", "admins"),
            ("remote-extra", "x"),
        ],
        NOW + 10,
        &mut rng,
    );
    let forward = forward(&decision);
    let set = |name: &str| {
        forward
            .set
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(set("remote-user"), Some("alice"));
    assert_eq!(set("remote-email"), Some("alice@example.com"));
    assert_eq!(set("remote-name"), Some("Alice Anderson"));
    assert_eq!(set("remote-groups"), Some("admins,users"));
    assert_eq!(set("remote-sub"), Some("8b1f1c5e-alice"));
    assert!(forward.remove.contains(&"remote-extra".to_owned()));
    assert_eq!(
        forward.remove,
        vec!["remote-extra".to_owned()],
        "spoofed headers that are set anyway are replaced, not removed first"
    );
    assert_eq!(
        forward.cookie.as_deref(),
        Some(""),
        "the session cookie is not sent upstream"
    );
}

#[test]
fn authenticated_request_keeps_the_apps_own_cookies() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &alice(), &mut rng);
    browser.cookies.push(("app_pref".into(), "dark".into()));
    let decision = browser.get(&config, APP, &mut rng);
    assert_eq!(forward(&decision).cookie.as_deref(), Some("app_pref=dark"));
}

#[test]
fn user_not_in_group_gets_403_page() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let done = login(&config, &mut browser, APP, &bob(), &mut rng);
    assert_eq!(location(&done), APP, "bob can log in");
    let decision = browser.get(&config, APP, &mut rng);
    let response = response(&decision);
    assert_eq!(response.status, 403);
    let html = body(response);
    assert!(html.contains("admin"), "names the app");
    assert!(html.contains("bob@example.com"), "names the user");
    assert!(html.contains("not in a group"));
    let audit = decision.audit.as_ref().unwrap();
    assert_eq!(
        (audit.event, audit.user.as_str(), audit.app.as_str()),
        ("refused", "bob", "admin")
    );
    // ...while an app without group rules lets him in.
    let decision = browser.get(&config, "https://who.example.com/", &mut rng);
    assert!(matches!(decision.action, Action::Forward(_)));
}

#[test]
fn user_not_in_group_gets_403_json_as_api_client() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &bob(), &mut rng);
    browser.user_agent = "curl/8.5.0";
    let decision = browser.get(&config, APP, &mut rng);
    let response = response(&decision);
    assert_eq!(response.status, 403);
    assert_eq!(body(response), r#"{"status":403,"message":"Forbidden"}"#);
    let location = response.header_value("x-tinyauth-location").unwrap();
    assert!(location
        .starts_with("https://auth.example.com/unauthorized?groupErr=true&ip=&resource=admin"));
}

#[test]
fn app_lookup_is_case_insensitive_and_ignores_the_port() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &bob(), &mut rng);
    for url in [
        "https://ADMIN.example.com/",
        "https://Admin.Example.Com:443/",
        "https://admin.example.com./",
    ] {
        let decision = browser.get(&config, url, &mut rng);
        assert_eq!(response(&decision).status, 403, "{url}");
    }
}

#[test]
fn email_not_whitelisted_is_refused_at_callback_without_session() {
    let mut value = base_config();
    value["oauth"]["whitelist"] = json!("alice@example.com");
    let config = compile(&value);
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let done = login(&config, &mut browser, APP, &bob(), &mut rng);
    let response = response(&done);
    assert_eq!(response.status, 403);
    assert!(body(response).contains("not allowed to sign in"));
    assert!(browser.cookie("tinyauth-session-").is_none());
    let audit = done.audit.as_ref().unwrap();
    assert_eq!(
        (audit.event, audit.decision, audit.user.as_str()),
        ("login_failed", "deny", "bob")
    );
    assert!(audit.reason.contains("not allowed to sign in"), "{audit:?}");
    // Alice on the same configuration is fine.
    let mut alice_browser = Browser::new();
    let done = login(&config, &mut alice_browser, APP, &alice(), &mut rng);
    assert_eq!(location(&done), APP);
}

#[test]
fn user_without_email_logs_in_when_no_whitelist_needs_one() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let done = login(
        &config,
        &mut browser,
        "https://who.example.com/",
        &dave_without_email(),
        &mut rng,
    );
    assert_eq!(location(&done), "https://who.example.com/");
    let decision = browser.get(&config, "https://who.example.com/", &mut rng);
    let forward = forward(&decision);
    assert!(forward
        .set
        .iter()
        .any(|(n, v)| n == "remote-user" && v == "dave"));
    assert!(!forward.set.iter().any(|(n, _)| n == "remote-email"));
}

#[test]
fn user_without_email_is_refused_when_a_whitelist_applies() {
    let mut value = base_config();
    value["oauth"]["whitelist"] = json!("/.*/");
    let config = compile(&value);
    let mut browser = Browser::new();
    let done = login(
        &config,
        &mut browser,
        APP,
        &dave_without_email(),
        &mut Counter::default(),
    );
    assert_eq!(response(&done).status, 403);
    assert!(body(response(&done)).contains("no email address"));
}

#[test]
fn whitelist_is_rechecked_on_every_request() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(
        &config,
        &mut browser,
        "https://who.example.com/",
        &alice(),
        &mut rng,
    );
    let mut stricter = base_config();
    stricter["oauth"]["whitelist"] = json!("bob@example.com");
    let stricter = compile(&stricter);
    let decision = browser.get(&stricter, "https://who.example.com/", &mut rng);
    assert_eq!(response(&decision).status, 302, "sent to log in again");
}

#[test]
fn state_mismatch() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let state = start_login(&config, &mut browser, &mut rng);
    // Same flow cookie name (first 16 characters), different state.
    let forged = format!("{}{}", state.get(..16).unwrap(), "x".repeat(27));
    let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=c&state={forged}");
    let decision = browser.get(&config, &callback, &mut rng);
    let response = response(&decision);
    assert_eq!(response.status, 400);
    assert!(body(response).contains("expired or was started in another browser"));
    assert!(browser.cookie("tinyauth-session-").is_none());
}

#[test]
fn callback_without_login_cookie() {
    let config = compile(&base_config());
    let mut victim = Browser::new();
    let mut attacker = Browser::new();
    let mut rng = Counter::default();
    let state = start_login(&config, &mut attacker, &mut rng);
    // Login CSRF: the attacker's callback URL opened in the victim's browser.
    let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=attacker-code&state={state}");
    let decision = victim.get(&config, &callback, &mut rng);
    assert_eq!(response(&decision).status, 400);
    assert!(victim.cookie("tinyauth-session-").is_none());
}

#[test]
fn callback_without_state_or_with_repeated_state() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    for query in ["code=c", "code=c&state=", "code=c&state=a&state=b"] {
        let decision = browser.get(
            &config,
            &format!(
                "{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&{query}"
            ),
            &mut rng,
        );
        assert_eq!(response(&decision).status, 400, "{query}");
    }
}

#[test]
fn expired_login_flow() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let state = start_login(&config, &mut browser, &mut rng);
    let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=c&state={state}");
    let decision = browser.get_at(&config, &callback, &[], NOW + 601, &mut rng);
    assert_eq!(response(&decision).status, 400);
}

#[test]
fn provider_error_is_shown_and_no_call_is_made() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let state = start_login(&config, &mut browser, &mut rng);
    let callback = format!(
        "{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&error=access_denied&error_description=%3Cscript%3E&state={state}"
    );
    let decision = browser.get(&config, &callback, &mut rng);
    let response = response(&decision);
    assert_eq!(response.status, 403);
    let html = body(response);
    assert!(html.contains("access_denied"));
    assert!(!html.contains("<script>"));
    assert!(
        browser.cookie("tinyauth-flow-").is_none(),
        "flow cookie cleared"
    );
}

#[test]
fn two_concurrent_logins_both_work() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let first = browser.get(
        &config,
        "https://auth.example.com/api/oauth/start/generic?redirect_uri=https%3A%2F%2Fwho.example.com%2Fone",
        &mut rng,
    );
    let second = browser.get(
        &config,
        "https://auth.example.com/api/oauth/start/generic?redirect_uri=https%3A%2F%2Fwho.example.com%2Ftwo",
        &mut rng,
    );
    assert_eq!(
        browser
            .cookies
            .iter()
            .filter(|(n, _)| n.starts_with("tinyauth-flow-"))
            .count(),
        2
    );
    for (start, want) in [
        (second, "https://who.example.com/two"),
        (first, "https://who.example.com/one"),
    ] {
        let state = query_param(location(&start), "state").unwrap();
        let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=c&state={state}");
        let (_, pending) = call(browser.get(&config, &callback, &mut rng));
        let reply = token_reply(&config, &pending, &alice());
        let (_, pending) = call(config.reply(pending, &reply));
        let done = config.reply(pending, &ok_json(&alice()));
        assert_eq!(location(&done), want);
        browser.store(response(&done));
    }
}

#[test]
fn open_redirect_in_return_to() {
    let config = compile(&base_config());
    let mut rng = Counter::default();
    for target in [
        "https://evil.com/",
        "https://example.com.evil.com/",
        "//evil.com/",
        "https://admin.example.com@evil.com/",
        "javascript:alert(1)",
    ] {
        let mut browser = Browser::new();
        let encoded = tinyauth_wasm::http::url::form_component(target);
        let start = browser.get(
            &config,
            &format!("https://auth.example.com/api/oauth/start/generic?redirect_uri={encoded}"),
            &mut rng,
        );
        let state = query_param(location(&start), "state").unwrap();
        let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=c&state={state}");
        let (_, pending) = call(browser.get(&config, &callback, &mut rng));
        let reply = token_reply(&config, &pending, &alice());
        let (_, pending) = call(config.reply(pending, &reply));
        let done = config.reply(pending, &ok_json(&alice()));
        assert_eq!(location(&done), "https://auth.example.com/", "{target}");
    }
}

#[test]
fn token_call_uses_the_configured_cluster_and_basic_auth() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let state = start_login(&config, &mut browser, &mut rng);
    let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=the-code&state={state}");
    let (token_call, pending) = call(browser.get(&config, &callback, &mut rng));
    assert_eq!(token_call.cluster, "pocket_id");
    assert_eq!(
        token_call.header_value(":authority"),
        Some("id.example.com")
    );
    assert!(token_call
        .header_value("authorization")
        .unwrap()
        .starts_with("Basic "));
    let reply = token_reply(&config, &pending, &alice());
    let (userinfo_call, _) = call(config.reply(pending, &reply));
    assert_eq!(
        userinfo_call.header_value(":path"),
        Some("/api/oidc/userinfo")
    );
    assert_eq!(
        userinfo_call.header_value("authorization"),
        Some("Bearer access-token-value")
    );
}

/// Runs a login up to the token call and returns the paused state.
fn paused_at_token(config: &Env, browser: &mut Browser, rng: &mut Counter) -> Pending {
    let state = start_login(config, browser, rng);
    let callback = format!("{APP_URL}/api/oauth/callback/generic?iss=https%3A%2F%2Fid.example.com&code=c&state={state}");
    call(browser.get(config, &callback, rng)).1
}

#[test]
fn provider_down_slow_or_junk_gives_an_error_page_and_no_session() {
    let config = compile(&base_config());
    let cases: Vec<(&str, CallReply, bool)> = vec![
        ("token endpoint down", reply(None, b""), true),
        ("token endpoint 500", reply(Some(500), b"oops"), true),
        (
            "token endpoint 400",
            reply(Some(400), br#"{"error":"invalid_grant"}"#),
            true,
        ),
        ("token endpoint junk", reply(Some(200), b"<html>"), true),
        (
            "token json without token",
            ok_json(&json!({"foo": 1})),
            true,
        ),
        ("userinfo down", reply(None, b""), false),
        ("userinfo 401", reply(Some(401), b""), false),
        ("userinfo junk", reply(Some(200), b"not json"), false),
        (
            "userinfo without sub",
            ok_json(&json!({"email": "a@b.c"})),
            false,
        ),
    ];
    for (name, reply, at_token) in cases {
        let mut browser = Browser::new();
        let mut rng = Counter::default();
        let pending = paused_at_token(&config, &mut browser, &mut rng);
        let decision = if at_token {
            config.reply(pending, &reply)
        } else {
            let token = token_reply(&config, &pending, &alice());
            let (_, pending) = call(config.reply(pending, &token));
            config.reply(pending, &reply)
        };
        let response = response(&decision);
        browser.store(response);
        assert_eq!(response.status, 502, "{name}");
        let html = body(response);
        assert!(html.contains("Try again"), "{name}: retry link");
        assert!(browser.cookie("tinyauth-session-").is_none(), "{name}");
        let log = &decision.log[0];
        assert_eq!(log.level, Level::Error, "{name}");
        let step = if at_token { "token" } else { "userinfo" };
        assert!(
            log.message.contains(&format!("at the {step} endpoint")),
            "{name}: {}",
            log.message
        );
        for secret in ["client-secret", "access-token-value", "the-code"] {
            assert!(!log.message.contains(secret), "{name}: log leaks {secret}");
        }
    }
}

#[test]
fn logs_never_contain_secrets() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let done = login(&config, &mut browser, APP, &alice(), &mut rng);
    let session = browser.cookie("tinyauth-session-").unwrap().to_owned();
    for line in &done.log {
        for secret in [
            "client-secret",
            "access-token-value",
            "refresh-token-value",
            "the-code",
            SECRET,
            &session,
        ] {
            assert!(
                !line.message.contains(secret),
                "{} leaks a secret",
                line.message
            );
        }
    }
}

#[test]
fn logout_clears_the_session_cookie() {
    // Tinyauth's logout (the default): the provider's session is left alone.
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &alice(), &mut rng);
    let decision = browser.get(&config, "https://auth.example.com/logout", &mut rng);
    let response = response(&decision);
    assert_eq!(response.status, 200);
    let clear = response.header_value("set-cookie").unwrap();
    assert!(
        clear.contains("Max-Age=0") && clear.contains("Domain=example.com"),
        "{clear}"
    );
    assert!(browser.cookie("tinyauth-session-").is_none());
    assert_eq!(response_status(&mut browser, &config, APP, &mut rng), 302);
}

#[test]
fn logout_ends_the_provider_session_with_the_id_token_hint() {
    let mut value = base_config();
    value["oauth"]["providers"]["generic"]["logoutAtProvider"] = json!(true);
    let config = compile(&value);
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &alice(), &mut rng);
    let kept = browser
        .cookie("tinyauth-idt-")
        .expect("the ID token is kept for logout")
        .to_owned();
    let decision = browser.get(&config, "https://auth.example.com/logout", &mut rng);
    let to = location(&decision);
    assert!(
        to.starts_with("https://id.example.com/api/oidc/end-session?"),
        "{to}"
    );
    assert_eq!(
        query_param(to, "id_token_hint").as_deref(),
        Some(kept.as_str())
    );
    assert_eq!(
        query_param(to, "post_logout_redirect_uri").as_deref(),
        Some("https://auth.example.com/logout/done")
    );
    assert_eq!(query_param(to, "client_id").as_deref(), Some("tinyauth"));
    assert!(query_param(to, "state").unwrap().len() >= 43);
    assert!(browser.cookie("tinyauth-session-").is_none());
    assert!(browser.cookie("tinyauth-idt-").is_none());
    let done = browser.get(&config, "https://auth.example.com/logout/done", &mut rng);
    assert!(body(response(&done)).contains("logged out"));
}

fn response_status(browser: &mut Browser, config: &Env, url: &str, rng: &mut Counter) -> u16 {
    let decision = browser.get(config, url, rng);
    match &decision.action {
        Action::Respond(r) => r.status,
        Action::Forward(_) => 200,
        Action::Call { .. } => 0,
    }
}

#[test]
fn signed_in_user_on_login_page_is_sent_on() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &alice(), &mut rng);
    let page = browser.get(&config, "https://auth.example.com/", &mut rng);
    assert!(body(response(&page)).contains("signed in as <strong>alice@example.com"));
    let again = browser.get(
        &config,
        "https://auth.example.com/login?redirect_uri=https%3A%2F%2Fwho.example.com%2F",
        &mut rng,
    );
    assert_eq!(location(&again), "https://who.example.com/");
}

#[test]
fn host_outside_the_cookie_domain_is_refused() {
    let config = compile(&base_config());
    let decision = Browser::new().get(&config, "https://other.org/", &mut Counter::default());
    assert_eq!(response(&decision).status, 403);
}

#[test]
fn health_and_unknown_paths_on_the_auth_host() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let health = browser.get(&config, "https://auth.example.com/api/healthz", &mut rng);
    assert_eq!(
        body(response(&health)),
        r#"{"status":200,"message":"Healthy","providers":{"generic":"ready"}}"#
    );
    let live = browser.get(&config, "https://auth.example.com/api/livez", &mut rng);
    assert_eq!(body(response(&live)), r#"{"status":200,"message":"Alive"}"#);
    let missing = browser.get(&config, "https://auth.example.com/nope", &mut rng);
    assert_eq!(response(&missing).status, 404);
    let bad_provider = browser.get(
        &config,
        "https://auth.example.com/api/oauth/start/nope",
        &mut rng,
    );
    assert_eq!(response(&bad_provider).status, 404);
}

/// The refusal page's "Sign in with another account" link, unescaped.
fn switch_link(html: &str) -> String {
    html.split("href=\"")
        .find(|part| part.contains("switch=1"))
        .and_then(|part| part.split('"').next())
        .expect("a switch-account link")
        .replace("&amp;", "&")
}

#[test]
fn sign_in_with_another_account_logs_out_locally_and_asks_the_provider_again() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&config, &mut browser, APP, &bob(), &mut rng);
    let refused = browser.get(&config, APP, &mut rng);
    let link = switch_link(&body(response(&refused)));
    assert_eq!(query_param(&link, "redirect_uri").as_deref(), Some(APP));

    let switch = browser.get(&config, &link, &mut rng);
    let to = location(&switch);
    assert!(to.starts_with("https://id.example.com/authorize?"), "{to}");
    assert_eq!(query_param(to, "prompt").as_deref(), Some("login"));
    assert!(
        browser.cookie("tinyauth-session-").is_none(),
        "local session ended"
    );
    let audit = switch.audit.as_ref().unwrap();
    assert_eq!((audit.event, audit.user.as_str()), ("logout", "bob"));

    // Alice signs in instead and lands on the app she asked for.
    let state = query_param(to, "state").unwrap();
    let (_, pending) = call(browser.get(&config, &callback_url(&state), &mut rng));
    let reply = token_reply(&config, &pending, &alice());
    let (_, pending) = call(config.reply(pending, &reply));
    let done = config.reply(pending, &ok_json(&alice()));
    assert_eq!(location(&done), APP);
    if let Action::Respond(response) = &done.action {
        browser.store(response);
    }
    assert!(matches!(
        browser.get(&config, APP, &mut rng).action,
        Action::Forward(_)
    ));
}

#[test]
fn the_unauthorized_page_names_only_the_signed_in_account() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let forged = "https://auth.example.com/unauthorized?groupErr=true&ip=&resource=admin&username=ceo%40example.com";
    let page = browser.get(&config, forged, &mut rng);
    let html = body(response(&page));
    assert!(!html.contains("ceo@example.com"), "{html}");
    assert!(html.contains("You are not signed in"), "{html}");
    assert!(!html.contains("another account"));

    login(&config, &mut browser, APP, &bob(), &mut rng);
    let page = browser.get(&config, forged, &mut rng);
    let html = body(response(&page));
    assert!(!html.contains("ceo@example.com"));
    assert!(
        html.contains("signed in as <strong>bob@example.com</strong>"),
        "{html}"
    );
    assert!(html.contains("not in a group"));

    // A resource that is not a host label is not repeated.
    let odd = "https://auth.example.com/unauthorized?resource=%3Cb%3Epay%20now%3C%2Fb%3E";
    let html = body(response(&browser.get(&config, odd, &mut rng))).to_lowercase();
    assert!(!html.contains("pay now"));
}

#[test]
fn an_ip_refusal_before_sign_in_names_no_account() {
    let mut value = base_config();
    value["auth"]["ip"] = json!({"block": ["10.0.0.0/8"]});
    let config = compile(&value);
    let mut browser = Browser::new();
    browser.peer = Some("10.1.2.3".parse().unwrap());
    let decision = browser.get(&config, APP, &mut Counter::default());
    let response = response(&decision);
    assert_eq!(response.status, 403);
    let html = body(response);
    assert!(
        html.contains("cannot be opened from your network address"),
        "{html}"
    );
    assert!(!html.contains("signed in"));
    assert!(!html.contains("another account"));
}

#[test]
fn a_whitelist_refusal_names_the_email() {
    let mut value = base_config();
    value["oauth"]["whitelist"] = json!("alice@example.com");
    let config = compile(&value);
    let mut browser = Browser::new();
    let done = login(&config, &mut browser, APP, &bob(), &mut Counter::default());
    let html = body(response(&done));
    assert!(
        html.contains("You signed in as <strong>bob@example.com</strong>"),
        "{html}"
    );
    assert!(html.contains("not allowed to sign in here"));
    assert!(!html.contains("cannot open"));
    assert!(switch_link(&html).contains("redirect_uri="));
}

#[test]
fn error_pages_show_the_time_and_request_id() {
    let config = compile(&base_config());
    let mut browser = Browser::new();
    let decision = browser.get_at(
        &config,
        "https://auth.example.com/api/oauth/callback/generic?state=nope&code=x",
        &[("x-request-id", "req-42")],
        NOW,
        &mut Counter::default(),
    );
    let html = body(response(&decision));
    assert!(html.contains("Request ID: <code>req-42</code>"), "{html}");
    assert!(html.contains("Time: "));
}
