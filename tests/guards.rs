//! Guards a mutation audit (issue #20 item 10) found no test for: each test
//! here fails when its guard is broken by a one-line change in `src/`.
//!
//! - sliding session renewal, as `flow::forward` decides it (the shell's half,
//!   the `Set-Cookie` reaching the browser, is `tests/e2e/guards.test.mjs`);
//! - `previousSecrets`: sessions and logins signed with a retired secret;
//! - Tinyauth's `POST /api/user/logout` clearing the cookies;
//! - control characters stripped from claim values in identity headers;
//! - the return URL's scheme (no `http://` return under an `https` `appUrl`);
//! - separate keys for the login-flow and session cookies;
//! - no secret in any log line of whole logins, failed ones included;
//! - provider documents cannot flood a log line (issue #20 item 3).

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::idp::{id_claims, TestKey};
use common::*;
use serde_json::{json, Value};
use tinyauth_wasm::decision::{CallReply, Level, LogLine};
use tinyauth_wasm::flow;
use tinyauth_wasm::http::request::RequestView;
use tinyauth_wasm::http::respond::safe_return_url;
use tinyauth_wasm::oidc::{Action, Decision};
use tinyauth_wasm::session::login_flow::LoginFlow;
use tinyauth_wasm::session::{sealed, Session};

const APP: &str = "https://who.example.com/";
const SESSION: &str = "tinyauth-session-";
const FLOW: &str = "tinyauth-flow-";

fn with_expiry(seconds: u64) -> Value {
    let mut value = base_config();
    value["auth"] = json!({"sessionExpiry": seconds});
    value
}

/// The renewed session cookie a forwarded request carries back, if any.
fn renewal(decision: &Decision) -> Option<&str> {
    forward(decision)
        .response_headers
        .iter()
        .find(|(name, value)| name == "set-cookie" && value.starts_with(SESSION))
        .map(|(_, value)| value.as_str())
}

fn cookie_value(set_cookie: &str) -> &str {
    set_cookie
        .split(';')
        .next()
        .and_then(|pair| pair.split_once('='))
        .unwrap()
        .1
}

fn remote_user(decision: &Decision) -> Option<&str> {
    forward(decision)
        .set
        .iter()
        .find(|(name, _)| name == "remote-user")
        .map(|(_, value)| value.as_str())
}

#[test]
fn sliding_renewal_keeps_an_active_user_signed_in_past_the_expiry() {
    // 600 s sessions: renewed once less than 300 s are left.
    let env = compile(&with_expiry(600));
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&env, &mut browser, APP, &alice(), &mut rng);
    let issued = browser.cookie(SESSION).unwrap().to_owned();

    let early = browser.get_at(&env, APP, &[], NOW + 100, &mut rng);
    assert_eq!(remote_user(&early), Some("alice"));
    assert_eq!(renewal(&early), None, "plenty of time left: no renewal");

    let late = browser.get_at(&env, APP, &[], NOW + 400, &mut rng);
    assert_eq!(remote_user(&late), Some("alice"));
    let set_cookie = renewal(&late).expect("less than half left: renewed");
    assert!(set_cookie.contains("Max-Age=600"), "{set_cookie}");
    assert!(set_cookie.contains("Domain=example.com"), "{set_cookie}");
    assert!(set_cookie.contains("HttpOnly"), "{set_cookie}");
    let renewed = cookie_value(set_cookie);
    assert_ne!(renewed, issued);
    let session = Session::open(renewed, &env.keys.session).unwrap();
    assert_eq!(session.expires_at, NOW + 400 + 600);
    assert_eq!(session.created_at, NOW, "renewal keeps the login time");
    assert_eq!(session.identity.username, "alice");

    // Past the first expiry: the renewed cookie works, the issued one not.
    browser
        .cookies
        .retain(|(name, _)| !name.starts_with(SESSION));
    let name = set_cookie.split('=').next().unwrap().to_owned();
    browser.cookies.push((name.clone(), renewed.to_owned()));
    let after = browser.get_at(&env, APP, &[], NOW + 700, &mut rng);
    assert_eq!(remote_user(&after), Some("alice"));
    let mut stale = Browser::new();
    stale.cookies.push((name, issued));
    let refused = stale.get_at(&env, APP, &[], NOW + 700, &mut rng);
    assert_eq!(response(&refused).status, 302);
}

#[test]
fn renewal_stops_at_the_maximum_lifetime() {
    let mut value = with_expiry(600);
    value["auth"]["sessionMaxLifetime"] = json!(800);
    let env = compile(&value);
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&env, &mut browser, APP, &alice(), &mut rng);
    let late = browser.get_at(&env, APP, &[], NOW + 400, &mut rng);
    let set_cookie = renewal(&late).unwrap();
    assert!(set_cookie.contains("Max-Age=400"), "capped: {set_cookie}");
    let session = Session::open(cookie_value(set_cookie), &env.keys.session).unwrap();
    assert_eq!(session.expires_at, NOW + 800);
}

#[test]
fn previous_secrets_keep_sessions_and_logins_of_a_rotated_secret() {
    const NEW: &str = "new-secret-new-secret-new-secret-new-secret";
    let before = compile(&with_expiry(600));
    let mut rotated = with_expiry(600);
    rotated["secret"] = json!(NEW);
    rotated["previousSecrets"] = json!([SECRET]);
    let rotated = compile(&rotated);
    let mut dropped = with_expiry(600);
    dropped["secret"] = json!(NEW);
    let dropped = compile(&dropped);
    let mut rng = Counter::default();

    // A session from before the rotation.
    let mut browser = Browser::new();
    login(&before, &mut browser, APP, &alice(), &mut rng);
    let ok = browser.get_at(&rotated, APP, &[], NOW + 10, &mut rng);
    assert_eq!(
        remote_user(&ok),
        Some("alice"),
        "accepted with previousSecrets"
    );
    let refused = browser.get_at(&dropped, APP, &[], NOW + 10, &mut rng);
    assert_eq!(
        response(&refused).status,
        302,
        "refused once the old secret is gone"
    );

    // Renewed under the new secret, it outlives the old one.
    let renewed = browser.get_at(&rotated, APP, &[], NOW + 400, &mut rng);
    let value = cookie_value(renewal(&renewed).unwrap()).to_owned();
    assert!(Session::open(&value, &dropped.keys.session).is_ok());

    // A login started before the rotation finishes after it.
    let mut midway = Browser::new();
    let state = start_login(&before, &mut midway, &mut rng);
    let (_, pending) = call(midway.get(&rotated, &callback_url(&state), &mut rng));
    let reply = token_reply(&rotated, &pending, &alice());
    let (_, pending) = call(rotated.reply(pending, &reply));
    let done = rotated.reply(pending, &ok_json(&alice()));
    midway.store(response(&done));
    let session = Session::open(midway.cookie(SESSION).unwrap(), &rotated.keys.session).unwrap();
    assert_eq!(session.identity.username, "alice");
    assert!(
        Session::open(midway.cookie(SESSION).unwrap(), &dropped.keys.session).is_ok(),
        "new sessions are signed with the new secret"
    );
    // Without previousSecrets that login's cookie is not accepted.
    let mut lost = Browser::new();
    let state = start_login(&before, &mut lost, &mut rng);
    let refused = lost.get(&dropped, &callback_url(&state), &mut rng);
    assert_eq!(response(&refused).status, 400);
}

/// The request headers of a `POST` to `url`.
fn post(browser: &Browser, env: &Env, url: &str, rng: &mut Counter) -> Decision {
    let mut headers = browser.headers(url, &[]);
    "POST".clone_into(&mut headers[0].1);
    let view = RequestView::from_headers(&headers);
    flow::on_request(env, &env.runtime, &view, NOW, rng)
}

#[test]
fn post_api_user_logout_clears_the_session() {
    // The ID token is kept (for the provider's logout) only with logoutAtProvider.
    let mut value = base_config();
    value["oauth"]["providers"]["generic"]["logoutAtProvider"] = json!(true);
    let env = compile(&value);
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    login(&env, &mut browser, APP, &alice(), &mut rng);
    assert!(browser.cookie("tinyauth-idt-").is_some());
    let decision = post(
        &browser,
        &env,
        "https://auth.example.com/api/user/logout",
        &mut rng,
    );
    let r = response(&decision);
    assert_eq!(r.status, 200);
    assert_eq!(body(r), r#"{"status":200,"message":"Logout successful"}"#);
    let cleared: Vec<&str> = r
        .headers
        .iter()
        .filter(|(name, _)| name == "set-cookie")
        .map(|(_, value)| value.as_str())
        .collect();
    assert!(
        cleared.iter().any(|c| c.starts_with(SESSION)
            && c.contains("=;")
            && c.contains("Max-Age=0")
            && c.contains("Domain=example.com")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("tinyauth-idt-") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    browser.store(r);
    assert!(browser.cookie(SESSION).is_none());
    assert_eq!(response(&browser.get(&env, APP, &mut rng)).status, 302);
    // Other methods on other paths of the auth host are refused.
    let other = post(&browser, &env, "https://auth.example.com/logout", &mut rng);
    assert_eq!(response(&other).status, 405);
}

#[test]
fn control_characters_in_claims_never_reach_identity_headers() {
    let env = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    let claims = json!({
        "sub": "s\u{0}ub-1",
        "email": "mal\r\nlory@example.com",
        "preferred_username": "mallory\r\nRemote-Groups: admins\u{7}",
        "name": "Mal\u{1b}[31mlory\u{7f}\u{85}",
        "groups": ["ad\nmins", "users\t"]
    });
    login(&env, &mut browser, APP, &claims, &mut rng);
    let decision = browser.get(&env, APP, &mut rng);
    let set = &forward(&decision).set;
    for (name, value) in set {
        assert!(
            !value.chars().any(char::is_control),
            "{name}: {value:?} carries a control character"
        );
    }
    let header = |name: &str| {
        set.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap()
    };
    assert_eq!(header("remote-user"), "malloryRemote-Groups: admins");
    assert_eq!(header("remote-email"), "mallory@example.com");
    assert_eq!(header("remote-name"), "Mal[31mlory");
    assert_eq!(header("remote-groups"), "admins,users");
    assert_eq!(header("remote-sub"), "sub-1");
}

#[test]
fn an_http_return_url_under_an_https_app_url_is_not_followed() {
    // On one port, so only the scheme tells the URLs apart (on default ports
    // the port check alone would refuse http:// under https://).
    let mut value = base_config();
    value["appUrl"] = json!("https://auth.example.com:8443");
    let env = compile(&value);
    let site = &env.site;
    assert_eq!(safe_return_url(site, "http://who.example.com:8443/x"), None);
    assert_eq!(
        safe_return_url(site, "https://who.example.com:8443/x").as_deref(),
        Some("https://who.example.com:8443/x")
    );
    // Under a plain-http appUrl an https return URL on its port is fine.
    let mut plain = base_config();
    plain["appUrl"] = json!("http://auth.example.com:8443");
    let plain = compile(&plain);
    assert_eq!(
        safe_return_url(&plain.site, "https://who.example.com:8443/x").as_deref(),
        Some("https://who.example.com:8443/x")
    );
    assert!(safe_return_url(&plain.site, "http://who.example.com:8443/x").is_some());

    let mut rng = Counter::default();
    let http = "http%3A%2F%2Fwho.example.com%3A8443%2Fx";
    let auth = "https://auth.example.com:8443";

    // The login page does not carry it on to the start link.
    let mut browser = Browser::new();
    let page = browser.get(&env, &format!("{auth}/login?redirect_uri={http}"), &mut rng);
    let html = body(response(&page));
    assert!(html.contains("/api/oauth/start/generic"), "{html}");
    assert!(!html.contains("who.example.com"), "{html}");

    // A login started with it comes back to the auth host, not to http://.
    let start = browser.get(
        &env,
        &format!("{auth}/api/oauth/start/generic?redirect_uri={http}"),
        &mut rng,
    );
    let state = query_param(location(&start), "state").unwrap();
    let callback = format!(
        "{auth}/api/oauth/callback/generic?code=the-code&state={state}&iss=https%3A%2F%2Fid.example.com"
    );
    let (_, pending) = call(browser.get(&env, &callback, &mut rng));
    let reply = token_reply(&env, &pending, &alice());
    let (_, pending) = call(env.reply(pending, &reply));
    let done = env.reply(pending, &ok_json(&alice()));
    assert_eq!(location(&done), "https://auth.example.com:8443/");
    browser.store(response(&done));

    // Signed in, the login page does not send the browser there either.
    let again = browser.get(&env, &format!("{auth}/login?redirect_uri={http}"), &mut rng);
    assert_eq!(
        response(&again).status,
        200,
        "the signed-in page, no redirect"
    );
    // The https form of the same URL is followed.
    let https = browser.get(
        &env,
        &format!("{auth}/login?redirect_uri=https%3A%2F%2Fwho.example.com%3A8443%2Fx"),
        &mut rng,
    );
    assert_eq!(location(&https), "https://who.example.com:8443/x");
}

#[test]
fn login_flow_and_session_cookies_have_separate_keys() {
    let env = compile(&base_config());
    let mut browser = Browser::new();
    let mut rng = Counter::default();
    start_login(&env, &mut browser, &mut rng);
    let flow = browser.cookie(FLOW).unwrap().to_owned();
    assert!(LoginFlow::open_at(&flow, &env.keys.flow, NOW).is_some());
    assert!(
        LoginFlow::open_at(&flow, &env.keys.session, NOW).is_none(),
        "the session key does not open a flow cookie"
    );
    assert!(sealed::open::<Value>(&flow, "login-flow", &env.keys.session).is_none());

    login(&env, &mut browser, APP, &alice(), &mut rng);
    let session = browser.cookie(SESSION).unwrap().to_owned();
    assert!(Session::open(&session, &env.keys.session).is_ok());
    assert!(
        Session::open(&session, &env.keys.flow).is_err(),
        "the flow key does not open a session"
    );
    assert!(sealed::open::<Value>(&session, "session", &env.keys.flow).is_none());
}

/// Every log line of every step, with the values that must not be in any.
struct Run {
    lines: Vec<LogLine>,
    secrets: Vec<String>,
}

impl Run {
    fn new() -> Self {
        Self {
            lines: Vec::new(),
            secrets: vec![
                "client-secret".into(),
                SECRET.into(),
                "access-token-value".into(),
                "refresh-token-value".into(),
                "the-code".into(),
            ],
        }
    }

    fn step(&mut self, decision: Decision) -> Decision {
        self.lines.extend(decision.log.iter().cloned());
        // The audit line the shell writes for logins, refusals and logouts.
        if let Some(audit) = &decision.audit {
            self.lines.push(LogLine {
                level: Level::Info,
                message: audit.line(None, None),
            });
        }
        match &decision.action {
            Action::Respond(r) => {
                for (name, value) in &r.headers {
                    if name == "set-cookie" {
                        self.secret(cookie_value(value));
                    }
                }
            }
            Action::Call { call, .. } => {
                for (name, value) in &call.headers {
                    if name == "authorization" {
                        self.secret(value.split(' ').nth(1).unwrap_or_default());
                    }
                }
                if let Some(form) = &call.body {
                    let form = String::from_utf8_lossy(form).into_owned();
                    for pair in form.split('&') {
                        if let Some((_, value)) = pair.split_once('=') {
                            self.secret(value);
                        }
                    }
                }
            }
            Action::Forward(_) => {}
        }
        decision
    }

    fn secret(&mut self, value: &str) {
        if value.len() >= 8 {
            self.secrets.push(value.to_owned());
        }
    }

    /// Runs a login to the callback and returns the browser and paused call.
    fn until_callback(
        &mut self,
        env: &Env,
        browser: &mut Browser,
        rng: &mut Counter,
    ) -> tinyauth_wasm::oidc::Pending {
        let start = self.step(browser.get(env, START, rng));
        let authorize = location(&start).to_owned();
        for name in ["state", "nonce", "code_challenge"] {
            self.secret(&query_param(&authorize, name).unwrap());
        }
        let state = query_param(&authorize, "state").unwrap();
        call(self.step(browser.get(env, &callback_url(&state), rng))).1
    }

    fn assert_clean(&self) {
        assert!(self.lines.len() >= 20, "{} lines", self.lines.len());
        for line in &self.lines {
            for secret in &self.secrets {
                assert!(
                    !line.message.contains(secret.as_str()),
                    "{:?} leaks {secret}",
                    line.message
                );
            }
        }
    }
}

#[test]
#[allow(
    clippy::too_many_lines,
    reason = "one table of failure cases, then one loop"
)]
fn no_log_line_of_whole_logins_holds_a_secret() {
    let env = compile(&base_config());
    let mut rng = Counter::default();
    let mut run = Run::new();
    let failures: Vec<(&str, Option<CallReply>, Option<CallReply>)> = vec![
        ("token down", Some(CallReply::default()), None),
        (
            "token 400",
            Some(CallReply {
                status: Some(400),
                body: br#"{"error":"invalid_grant","error_description":"code the-code is spent"}"#
                    .to_vec(),
                ..CallReply::default()
            }),
            None,
        ),
        (
            "token junk",
            Some(CallReply {
                status: Some(200),
                body: b"<html>access-token-value</html>".to_vec(),
                ..CallReply::default()
            }),
            None,
        ),
        (
            "token json garbage",
            Some(ok_json(
                &json!({"access_token": "access-token-value", "token_type": "mac"}),
            )),
            None,
        ),
        ("userinfo down", None, Some(CallReply::default())),
        (
            "userinfo junk",
            None,
            Some(CallReply {
                status: Some(200),
                body: b"access-token-value".to_vec(),
                ..CallReply::default()
            }),
        ),
        ("userinfo other subject", None, Some(ok_json(&bob()))),
        ("success", None, None),
    ];
    for (name, token, userinfo) in failures {
        let mut browser = Browser::new();
        let pending = run.until_callback(&env, &mut browser, &mut rng);
        let reply = token.unwrap_or_else(|| token_reply(&env, &pending, &alice()));
        if let Ok(text) = std::str::from_utf8(&reply.body) {
            if let Ok(value) = serde_json::from_str::<Value>(text) {
                if let Some(id_token) = value["id_token"].as_str() {
                    for part in id_token.split('.').skip(1) {
                        run.secret(part);
                    }
                }
            }
        }
        let next = run.step(env.reply(pending, &reply));
        let Action::Call { .. } = &next.action else {
            assert_ne!(name, "success", "{:?}", next.log);
            continue;
        };
        let (_, pending) = call(next);
        let done = run.step(env.reply(pending, &userinfo.unwrap_or_else(|| ok_json(&alice()))));
        if let Action::Respond(r) = &done.action {
            browser.store(r);
        }
        if name == "success" {
            let use_it = run.step(browser.get(&env, APP, &mut rng));
            assert_eq!(remote_user(&use_it), Some("alice"));
            run.step(browser.get(&env, "https://auth.example.com/logout", &mut rng));
        }
    }
    // A bad signature, a wrong state, the provider's error, a wrong issuer.
    let mut browser = Browser::new();
    let pending = run.until_callback(&env, &mut browser, &mut rng);
    let claims = id_claims(
        &env.providers[0].expected_issuer(),
        "tinyauth",
        &nonce_of(&pending),
        NOW,
        &alice(),
    );
    let forged = TestKey::load("rsa-b.pem", "key-a", "RS256").mint(&claims);
    run.secret(forged.split('.').nth(2).unwrap());
    run.step(env.reply(pending, &token_reply_with(&forged)));
    for query in [
        "code=the-code&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "error=access_denied&state=STATE",
        "code=the-code&state=STATE&iss=https%3A%2F%2Fevil.example.com",
    ] {
        let mut browser = Browser::new();
        let start = run.step(browser.get(&env, START, &mut rng));
        let state = query_param(location(&start), "state").unwrap();
        run.secret(&state);
        let url = format!(
            "https://auth.example.com/api/oauth/callback/generic?{}",
            query.replace("STATE", &state)
        );
        let decision = run.step(browser.get(&env, &url, &mut rng));
        assert!(matches!(decision.action, Action::Respond(_)), "{query}");
    }
    run.assert_clean();
}

#[test]
fn provider_documents_cannot_flood_a_log_line() {
    use tinyauth_wasm::config::Config;
    use tinyauth_wasm::oidc::discovery::{self, Fetch, Runtime};
    // A discovery document whose endpoints are 5,000-character URLs.
    let long = format!("https://id.example.com/{}", "a".repeat(5000));
    let mut document = discovery_document("https://id.example.com");
    document["token_endpoint"] = json!(long);
    document["jwks_uri"] = json!(long);
    let mut config_without_urls = base_config();
    for key in ["tokenUrl", "userInfoUrl"] {
        config_without_urls["oauth"]["providers"]["generic"]
            .as_object_mut()
            .unwrap()
            .remove(key);
    }
    let config = Config::from_json(config_without_urls.to_string().as_bytes()).unwrap();
    let mut runtime = Runtime::new(&config);
    discovery::due_fetches(&config, &mut runtime, NOW);
    let lines = discovery::on_fetch_reply(
        &config,
        &mut runtime,
        0,
        Fetch::Discovery,
        &ok_json(&document),
        NOW,
    );
    assert!(lines[0].message.contains("discovered issuer"), "{lines:?}");
    assert!(
        lines[0].message.len() < 600,
        "{} characters",
        lines[0].message.len()
    );
    // A key set of 2,000 junk entries with long kids.
    let junk: Vec<Value> = (0..2000)
        .map(|i| json!({"kty": "XX", "kid": format!("{i}-{}", "k".repeat(500))}))
        .collect();
    let due = discovery::due_fetches(&config, &mut runtime, NOW);
    assert_eq!(due[0].1, Fetch::Jwks);
    let lines = discovery::on_fetch_reply(
        &config,
        &mut runtime,
        0,
        Fetch::Jwks,
        &ok_json(&json!({"keys": junk})),
        NOW,
    );
    let line = &lines[0].message;
    assert!(line.contains("no usable signing key"), "{line}");
    assert!(line.contains("and 1995 more"), "{line}");
    assert!(line.len() < 1000, "{} characters", line.len());
    // The reason is repeated on every refused login: short there too.
    let env = Env { config, runtime };
    let refused = Browser::new().get(&env, START, &mut Counter::default());
    assert_eq!(response(&refused).status, 503);
    let line = refused.audit.as_ref().unwrap().line(None, None);
    assert!(line.len() < 1000, "{}", line.len());
}
