//! Sessions that end when they should, through the public core API: the
//! re-check with the provider once `auth.refreshInterval` has passed (groups
//! follow the provider, a refused refresh ends the session, an unreachable
//! provider is tolerated for `auth.refreshGrace` only), one refresh per
//! session across workers, logout refusing copied cookies on every worker,
//! and the configured revocations.

// Test-only helpers below may unwrap; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::{json, Value};
use tinyauth_wasm::decision::{CallReply, OutboundCall};
use tinyauth_wasm::metrics::{Count, SessionEnd};
use tinyauth_wasm::oidc::{Action, Decision, Pending};
use tinyauth_wasm::session::Session;

const APP: &str = "https://admin.example.com/dashboard";
const WHO: &str = "https://who.example.com/";
const INTERVAL: u64 = 900;

fn config_with(edit: impl FnOnce(&mut Value)) -> Env {
    let mut value = base_config();
    edit(&mut value);
    compile(&value)
}

/// Alice signed in at `NOW` through the full login.
fn signed_in(env: &Env) -> Browser {
    let mut browser = Browser::new();
    login(env, &mut browser, APP, &alice(), &mut Counter::default());
    browser
}

fn get_at(env: &Env, browser: &mut Browser, url: &str, now: u64) -> Decision {
    browser.get_at(env, url, &[], now, &mut Counter(90))
}

fn form_of(call: &OutboundCall) -> String {
    String::from_utf8(call.body.clone().unwrap_or_default()).unwrap()
}

fn refreshed_tokens(refresh_token: &str) -> CallReply {
    ok_json(&json!({
        "access_token": "new-access-token",
        "token_type": "bearer",
        "expires_in": 3599,
        "refresh_token": refresh_token
    }))
}

fn invalid_grant() -> CallReply {
    CallReply {
        status: Some(400),
        body: br#"{"error":"invalid_grant","error_description":"The refresh token is revoked"}"#
            .to_vec(),
        missing_cluster: None,
    }
}

fn alice_with_groups(groups: &[&str]) -> Value {
    let mut claims = alice();
    claims["groups"] = json!(groups);
    claims
}

/// Runs a due request through the refresh: token endpoint, then userinfo.
fn refresh(env: &Env, pending: Pending, rotated: &str, userinfo: &Value, now: u64) -> Decision {
    let (call, pending) = call(env.reply_at(pending, &refreshed_tokens(rotated), now));
    assert!(call.header_value(":path").unwrap().ends_with("/userinfo"));
    assert_eq!(
        call.header_value("authorization"),
        Some("Bearer new-access-token")
    );
    env.reply_at(pending, &ok_json(userinfo), now)
}

fn forwarded_header(decision: &Decision, name: &str) -> Option<String> {
    match &decision.action {
        Action::Forward(forward) => forward
            .set
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone()),
        other => panic!("not forwarded: {other:?}"),
    }
}

fn session_set_cookie(decision: &Decision) -> Option<String> {
    let headers = match &decision.action {
        Action::Forward(forward) => &forward.response_headers,
        Action::Respond(response) => &response.headers,
        Action::Call { .. } => return None,
    };
    headers
        .iter()
        .find(|(n, v)| n == "set-cookie" && v.starts_with("tinyauth-session-"))
        .map(|(_, v)| v.clone())
}

/// Applies a forwarded request's `Set-Cookie` to the browser.
fn store_forwarded(browser: &mut Browser, decision: &Decision) {
    if let Action::Forward(forward) = &decision.action {
        let mut response = tinyauth_wasm::decision::Response::new(200);
        response.headers.clone_from(&forward.response_headers);
        browser.store(&response);
    }
}

#[test]
fn the_refresh_token_is_kept_encrypted() {
    let env = compile(&base_config());
    let browser = signed_in(&env);
    let cookie = browser.cookie("tinyauth-session-").unwrap();
    assert!(!cookie.contains("refresh-token-value"));
    // Nor readable after base64: the payload holds ciphertext only.
    let payload = cookie.split('.').next().unwrap();
    let decoded = base64_decode(payload);
    assert!(!String::from_utf8_lossy(&decoded).contains("refresh-token-value"));
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .unwrap_or_default()
}

#[test]
fn before_the_interval_no_call_is_made() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let decision = get_at(&env, &mut browser, APP, NOW + INTERVAL - 1);
    assert!(matches!(decision.action, Action::Forward(_)));
}

#[test]
fn a_removed_group_takes_effect_at_the_next_refresh() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let at = NOW + INTERVAL;
    let (token_call, pending) = call(get_at(&env, &mut browser, APP, at));
    assert!(token_call
        .header_value(":path")
        .unwrap()
        .ends_with("/api/oidc/token"));
    let form = form_of(&token_call);
    assert!(form.contains("grant_type=refresh_token"), "{form}");
    assert!(form.contains("refresh_token=refresh-token-value"), "{form}");

    let decision = refresh(
        &env,
        pending,
        "rotated-1",
        &alice_with_groups(&["users"]),
        at,
    );
    let response = response(&decision);
    assert_eq!(response.status, 403, "alice is no longer in admins");
    assert!(decision.counts.contains(&Count::SessionRefreshed));
    let cookie = session_set_cookie(&decision).expect("the re-issued session goes to the browser");
    browser.store(response);
    assert!(!cookie.contains("rotated-1"));

    // The new session holds the rotated token and the new groups: no call
    // until the next interval, and the app without group rules sees them.
    let decision = get_at(&env, &mut browser, WHO, at + 1);
    assert_eq!(
        forwarded_header(&decision, "remote-groups").as_deref(),
        Some("users")
    );
    let (call, _) = call(get_at(&env, &mut browser, APP, at + INTERVAL));
    assert!(form_of(&call).contains("refresh_token=rotated-1"));
}

#[test]
fn an_added_group_opens_the_app_and_the_request_goes_through() {
    let env = compile(&base_config());
    let mut browser = Browser::new();
    login(&env, &mut browser, APP, &bob(), &mut Counter::default());
    let at = NOW + INTERVAL + 5;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let mut bob_admin = bob();
    bob_admin["groups"] = json!(["users", "admins"]);
    let decision = refresh(&env, pending, "rotated", &bob_admin, at);
    assert_eq!(
        forwarded_header(&decision, "remote-groups").as_deref(),
        Some("users,admins")
    );
    assert!(session_set_cookie(&decision).is_some());
}

#[test]
fn a_refused_refresh_ends_the_session_for_every_copy() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let mut copy = Browser::new();
    copy.cookies.clone_from(&browser.cookies);
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let decision = env.reply_at(pending, &invalid_grant(), at);
    let to = location(&decision);
    assert!(to.starts_with("https://auth.example.com/login?"), "{to}");
    assert!(decision
        .counts
        .contains(&Count::SessionEnded(SessionEnd::Refused)));
    let audit = decision.audit.as_ref().unwrap();
    assert_eq!(
        (audit.event, audit.user.as_str(), audit.app.as_str()),
        ("session_ended", "alice", "admin")
    );
    let cleared = session_set_cookie(&decision).unwrap();
    assert!(cleared.contains("Max-Age=0"), "{cleared}");

    // The same cookie on another worker: ended, without asking the provider.
    let other = env.worker();
    let decision = copy.get_at(&other, APP, &[], at + 1, &mut Counter(1));
    assert_eq!(response(&decision).status, 302);
    // An API client gets 401.
    let mut api = Browser::api();
    api.cookies.clone_from(&copy.cookies);
    let decision = api.get_at(&other, APP, &[], at + 2, &mut Counter(2));
    assert_eq!(response(&decision).status, 401);
}

#[test]
fn only_the_exact_invalid_grant_code_ends_the_session() {
    // Found by fuzzing: the code was cleaned for the log before it was
    // compared, so `i\u{fffd}nvalid_grant` ended the session.
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    // A failed re-check is retried after a pause of a minute.
    for (retry, code) in ["i\u{fffd}nvalid_grant", "invalid_grant\n", "INVALID_GRANT"]
        .into_iter()
        .enumerate()
    {
        let at = NOW + INTERVAL + 60 * retry as u64;
        let (_, pending) = call(get_at(&env, &mut browser, APP, at));
        let reply = CallReply {
            status: Some(400),
            body: serde_json::to_vec(&json!({ "error": code })).unwrap(),
            missing_cluster: None,
        };
        let decision = env.reply_at(pending, &reply, at);
        assert_eq!(
            forwarded_header(&decision, "remote-user").as_deref(),
            Some("alice"),
            "{code:?}"
        );
        assert!(decision.counts.contains(&Count::RefreshFailed), "{code:?}");
    }
}

#[test]
fn a_disabled_user_at_userinfo_or_a_whitelist_change_ends_the_session() {
    let env = config_with(|c| c["oauth"]["whitelist"] = json!("/@example\\.com$/"));
    let mut browser = signed_in(&env);
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let mut moved = alice();
    moved["email"] = json!("alice@elsewhere.org");
    let decision = refresh(&env, pending, "rotated", &moved, at);
    assert_eq!(response(&decision).status, 302);
    assert!(decision
        .counts
        .contains(&Count::SessionEnded(SessionEnd::Whitelist)));
}

#[test]
fn another_users_answer_ends_the_session() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let decision = refresh(&env, pending, "rotated", &bob(), at);
    assert_eq!(response(&decision).status, 302);
}

#[test]
fn an_unreachable_provider_is_tolerated_for_the_grace_period_then_fails_closed() {
    let env = config_with(|c| c["auth"] = json!({"refreshGrace": 300}));
    let mut browser = signed_in(&env);
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let down = CallReply {
        status: None,
        body: Vec::new(),
        missing_cluster: None,
    };
    let decision = env.reply_at(pending, &down, at);
    assert_eq!(
        forwarded_header(&decision, "remote-user").as_deref(),
        Some("alice")
    );
    assert!(decision.counts.contains(&Count::RefreshFailed));
    assert!(decision
        .log
        .iter()
        .any(|l| l.message.contains("kept within auth.refreshGrace")));

    // Retried only after a pause: meanwhile requests go on without a call.
    let decision = get_at(&env, &mut browser, APP, at + 1);
    assert!(matches!(decision.action, Action::Forward(_)));
    let (_, pending) = call(get_at(&env, &mut browser, APP, at + 60));
    // Junk counts as no answer too.
    let junk = CallReply {
        status: Some(200),
        body: b"<html>".to_vec(),
        missing_cluster: None,
    };
    assert!(matches!(
        env.reply_at(pending, &junk, at + 60).action,
        Action::Forward(_)
    ));

    // Past the grace period: refused (503), not forwarded.
    let (_, pending) = call(get_at(&env, &mut browser, APP, at + 300));
    let decision = env.reply_at(pending, &down, at + 300);
    let response = response(&decision);
    assert_eq!(response.status, 503);
    assert!(body(response).contains("could not be confirmed"));
    assert!(decision
        .counts
        .contains(&Count::SessionEnded(SessionEnd::Unverified)));
    // ...until the provider answers again.
    let (_, pending) = call(get_at(&env, &mut browser, APP, at + 320));
    let decision = refresh(&env, pending, "rotated", &alice(), at + 320);
    assert_eq!(
        forwarded_header(&decision, "remote-user").as_deref(),
        Some("alice")
    );
}

#[test]
fn a_token_rotated_before_a_failed_userinfo_is_kept() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    let (_, pending) = call(env.reply_at(pending, &refreshed_tokens("rotated-9"), at));
    let failed = CallReply {
        status: Some(502),
        body: Vec::new(),
        missing_cluster: None,
    };
    let decision = env.reply_at(pending, &failed, at);
    assert!(matches!(decision.action, Action::Forward(_)));
    store_forwarded(&mut browser, &decision);
    // The old token is dead at the provider: the next try uses the new one.
    let (call, _) = call(get_at(&env, &mut browser, APP, at + 60));
    assert!(
        form_of(&call).contains("refresh_token=rotated-9"),
        "{}",
        form_of(&call)
    );
}

#[test]
fn one_refresh_per_session_across_workers() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let mut parallel = Browser::new();
    parallel.cookies.clone_from(&browser.cookies);
    let worker2 = env.worker();
    let at = NOW + INTERVAL;
    let (_, pending) = call(get_at(&env, &mut browser, APP, at));
    // While worker 1 refreshes, worker 2 serves the same session as it is.
    let meanwhile = parallel.get_at(&worker2, APP, &[], at, &mut Counter(3));
    assert_eq!(
        forwarded_header(&meanwhile, "remote-user").as_deref(),
        Some("alice")
    );
    let decision = refresh(
        &env,
        pending,
        "rotated",
        &alice_with_groups(&["admins", "ops"]),
        at,
    );
    assert!(matches!(decision.action, Action::Forward(_)));
    // A request still carrying the old cookie gets the new session, no call.
    let late = parallel.get_at(&worker2, APP, &[], at + 2, &mut Counter(4));
    assert_eq!(
        forwarded_header(&late, "remote-groups").as_deref(),
        Some("admins,ops")
    );
    assert!(session_set_cookie(&late).is_some());
}

#[test]
fn interval_zero_keeps_no_token_and_never_rechecks() {
    let env = config_with(|c| c["auth"] = json!({"refreshInterval": 0}));
    let mut browser = signed_in(&env);
    let cookie = browser.cookie("tinyauth-session-").unwrap();
    let session = Session::open(cookie, &env.keys.session).unwrap();
    assert_eq!(session.refresh, None, "the token is not even kept");
    let decision = get_at(&env, &mut browser, APP, NOW + 10 * INTERVAL);
    assert!(matches!(decision.action, Action::Forward(_)));
}

#[test]
fn a_provider_that_issues_no_refresh_token_is_not_rechecked() {
    let env = compile(&base_config());
    let mut browser = Browser::new();
    let to_provider = browser.get(&env, START, &mut Counter(40));
    let state = query_param(location(&to_provider), "state").unwrap();
    let (_, pending) = call(browser.get(&env, &callback_url(&state), &mut Counter(41)));
    let mut tokens: Value =
        serde_json::from_slice(&token_reply(&env, &pending, &alice()).body).unwrap();
    tokens.as_object_mut().unwrap().remove("refresh_token");
    let (_, pending) = call(env.reply(pending, &ok_json(&tokens)));
    let done = env.reply(pending, &ok_json(&alice()));
    browser.store(response(&done));
    let decision = get_at(&env, &mut browser, APP, NOW + 10 * INTERVAL);
    assert!(matches!(decision.action, Action::Forward(_)));
}

#[test]
fn a_copied_cookie_is_refused_on_every_worker_after_logout() {
    let env = compile(&base_config());
    let mut browser = signed_in(&env);
    let mut copy = Browser::new();
    copy.cookies.clone_from(&browser.cookies);
    let worker2 = env.worker();
    // The copy works before the logout, on both workers.
    assert!(matches!(
        copy.get_at(&worker2, APP, &[], NOW + 1, &mut Counter(1))
            .action,
        Action::Forward(_)
    ));
    let logout = browser.get_at(
        &env,
        "https://auth.example.com/logout",
        &[],
        NOW + 2,
        &mut Counter(2),
    );
    assert_eq!(response(&logout).status, 200);
    for (worker, at) in [(&env, NOW + 3), (&worker2, NOW + 4)] {
        let decision = copy.get_at(worker, APP, &[], at, &mut Counter(5));
        assert_eq!(response(&decision).status, 302, "refused after logout");
        assert!(decision
            .counts
            .contains(&Count::SessionEnded(SessionEnd::Revoked)));
    }
    // A new login of the same user is not affected.
    let mut again = Browser::new();
    login(&worker2, &mut again, APP, &alice(), &mut Counter(77));
    assert!(matches!(
        again
            .get_at(&worker2, APP, &[], NOW + 5, &mut Counter(6))
            .action,
        Action::Forward(_)
    ));
}

#[test]
fn logout_revokes_the_refresh_token_where_the_provider_can() {
    let env = config_with(|c| {
        c["oauth"]["providers"]["generic"]["revocationUrl"] =
            json!("https://id.example.com/api/oidc/revoke");
    });
    let mut browser = signed_in(&env);
    let decision = browser.get_at(
        &env,
        "https://auth.example.com/logout",
        &[],
        NOW + 2,
        &mut Counter(2),
    );
    let (call, pending) = call(decision);
    assert_eq!(call.header_value(":path"), Some("/api/oidc/revoke"));
    let form = form_of(&call);
    assert!(
        form.contains("token=refresh-token-value")
            && form.contains("token_type_hint=refresh_token"),
        "{form}"
    );
    // Whatever the provider says, the user is logged out.
    let done = env.reply_at(pending, &reply(Some(503), b""), NOW + 2);
    assert_eq!(response(&done).status, 200);
    assert!(done
        .log
        .iter()
        .any(|l| l.message.contains("could not revoke")));
}

#[test]
fn sessions_not_before_and_revoked_users_end_sessions_by_configuration() {
    let env = compile(&base_config());
    let browser = signed_in(&env);
    let check = |edit: &dyn Fn(&mut Value), expected: u16| {
        let mut value = base_config();
        edit(&mut value);
        let pushed = Env {
            config: tinyauth_wasm::config::Config::from_json(value.to_string().as_bytes()).unwrap(),
            runtime: env.runtime.clone(),
        };
        let mut b = Browser::new();
        b.cookies.clone_from(&browser.cookies);
        let decision = b.get_at(&pushed, WHO, &[], NOW + 10, &mut Counter(9));
        let status = match &decision.action {
            Action::Forward(_) => 200,
            Action::Respond(response) => response.status,
            Action::Call { .. } => 0,
        };
        assert_eq!(status, expected, "{value}");
    };
    check(&|_| {}, 200);
    check(&|c| c["auth"] = json!({"sessionsNotBefore": NOW + 1}), 302);
    check(&|c| c["auth"] = json!({"sessionsNotBefore": NOW}), 200);
    check(
        &|c| c["auth"] = json!({"sessionsNotBefore": "2027-01-15T08:00:01Z"}),
        302,
    );
    check(
        &|c| c["auth"] = json!({"sessionsNotBefore": "2027-01-15T08:00:00Z"}),
        200,
    );
    check(
        &|c| c["auth"] = json!({"revokedUsers": {"ALICE": NOW + 1}}),
        302,
    );
    check(
        &|c| c["auth"] = json!({"revokedUsers": {"alice@example.com": NOW + 1}}),
        302,
    );
    check(
        &|c| c["auth"] = json!({"revokedUsers": {"bob": NOW + 1}}),
        200,
    );
    check(
        &|c| c["auth"] = json!({"revokedUsers": {"alice": NOW - 1}}),
        200,
    );
}
