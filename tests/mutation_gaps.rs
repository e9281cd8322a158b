//! Tests for gaps a cargo-mutants run found (see tests/MUTATION.md): each
//! fails under a mutant that the rest of the native suite let live.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;

use common::*;
use serde_json::json;

/// `Denial::is_group_error`: Tinyauth's `groupErr` is true for the group
/// rule only, for API clients (the `x-tinyauth-location` URL) as for pages.
#[test]
fn group_err_is_set_for_the_group_rule_only() {
    let mut value = base_config();
    value["apps"]["team"] = json!({"users": {"allow": "alice"}});
    let env = compile(&value);
    let mut rng = Counter::default();
    let mut bob = Browser::new();
    login(
        &env,
        &mut bob,
        "https://who.example.com/",
        &common::bob(),
        &mut rng,
    );
    bob.user_agent = "curl/8.5.0";
    for (url, group_err) in [
        ("https://admin.example.com/", "true"),
        ("https://team.example.com/", "false"),
    ] {
        let decision = bob.get(&env, url, &mut rng);
        let r = response(&decision);
        assert_eq!(r.status, 403, "{url}");
        let location = r.header_value("x-tinyauth-location").unwrap();
        assert_eq!(
            query_param(location, "groupErr").as_deref(),
            Some(group_err),
            "{url}: {location}"
        );
        assert_eq!(
            query_param(location, "username").as_deref(),
            Some("bob@example.com")
        );
    }
}

/// `flow::forbidden`: a refusal for the client's address names the address
/// (Tinyauth's `ip=` parameter) and logs it; other refusals leave it empty.
#[test]
fn an_ip_refusal_names_the_address() {
    use tinyauth_wasm::flow;
    use tinyauth_wasm::http::request::RequestView;
    let mut value = base_config();
    value["apps"]["vault"] = json!({"ip": {"block": "198.51.100.0/24"}});
    let env = compile(&value);
    let api = Browser::api();
    let headers = api.headers("https://vault.example.com/x", &[]);
    let mut view = RequestView::from_headers(&headers);
    view.peer = Some("198.51.100.20".parse().unwrap());
    let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut Counter::default());
    let r = response(&decision);
    assert_eq!(r.status, 403);
    let location = r.header_value("x-tinyauth-location").unwrap();
    assert_eq!(
        query_param(location, "ip").as_deref(),
        Some("198.51.100.20")
    );
    assert_eq!(query_param(location, "groupErr").as_deref(), Some("false"));
    assert_eq!(query_param(location, "resource").as_deref(), Some("vault"));
    let audit = decision.audit.as_ref().unwrap();
    assert_eq!(
        audit.line(view.peer, None),
        "audit event=refused decision=deny reason=\"client IP blocked by ip.block/ip.allow\" app=\"vault\" ip=\"198.51.100.20\""
    );
}

/// `http::path::lenient`: a path still holding a `%` after decoding is read
/// for sure when the `%` starts no escape (`100%25` is "100%"), so a public
/// path with a literal percent sign stays public.
#[test]
fn a_literal_percent_sign_does_not_make_a_public_path_private() {
    use tinyauth_wasm::http::path::readings;
    let mut value = base_config();
    value["apps"]["files"] = json!({"path": {"allow": "^/public/"}});
    let env = compile(&value);
    let readings: Vec<String> = readings("/public/100%25")
        .expect("read for sure")
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect();
    assert_eq!(readings, ["/public/100%25", "/public/100%"]);
    for url in [
        "https://files.example.com/public/100%25",
        "https://files.example.com/public/50%25%20off",
    ] {
        let decision = Browser::api().get(&env, url, &mut Counter::default());
        assert!(
            forward(&decision).set.is_empty(),
            "{url}: public, no identity"
        );
    }
    // Still encoded after the rounds the filter undoes: not read for sure.
    let deep = Browser::api().get(
        &env,
        "https://files.example.com/public/%25252525252e%25252525252e/x",
        &mut Counter::default(),
    );
    assert_eq!(response(&deep).status, 401);
}

/// `flow::printable_host`: a refusal for a host outside the cookie domain
/// names the host in the log.
#[test]
fn a_host_outside_the_cookie_domain_is_named_in_the_log() {
    let env = compile(&base_config());
    let decision = Browser::api().get(
        &env,
        "https://Intranet.Other.org:8443/x",
        &mut Counter::default(),
    );
    assert_eq!(response(&decision).status, 403);
    assert_eq!(
        decision.log[0].message,
        "refused request for host \"intranet.other.org\" outside cookie domain `example.com`"
    );
}

/// `RequestView::from_headers`: what tells a browser from an API client is
/// read from the request's own headers — `Sec-Fetch-Mode` first, then an HTML
/// `Accept`, then the User-Agent.
#[test]
fn browsers_and_api_clients_are_told_apart_by_their_headers() {
    let env = compile(&base_config());
    let status = |headers: &[(&'static str, &'static str)]| {
        let mut browser = Browser::api();
        browser.user_agent = headers
            .iter()
            .find(|(n, _)| *n == "user-agent")
            .map_or("curl/8.5.0", |(_, v)| v);
        let extra: Vec<(&str, &str)> = headers
            .iter()
            .copied()
            .filter(|(n, _)| *n != "user-agent")
            .collect();
        let decision = browser.get_at(
            &env,
            "https://who.example.com/",
            &extra,
            NOW,
            &mut Counter::default(),
        );
        response(&decision).status
    };
    assert_eq!(status(&[]), 401, "curl");
    assert_eq!(
        status(&[("accept", "text/html,*/*")]),
        302,
        "curl asking for a page"
    );
    assert_eq!(
        status(&[("user-agent", CHROME)]),
        302,
        "a browser without fetch metadata"
    );
    assert_eq!(
        status(&[
            ("user-agent", CHROME),
            ("sec-fetch-mode", "cors"),
            ("accept", "text/html")
        ]),
        401,
        "a page's fetch() is an API client"
    );
    assert_eq!(
        status(&[("sec-fetch-mode", "navigate")]),
        302,
        "a navigation"
    );
}

/// `RequestView::from_headers`: the app is chosen by `:authority` (what
/// Envoy routed by); a `host` header counts only when there is none.
#[test]
fn the_authority_decides_and_host_only_stands_in_for_it() {
    use tinyauth_wasm::flow;
    use tinyauth_wasm::http::request::RequestView;
    let env = compile(&base_config());
    let mut rng = Counter::default();
    let mut bob = Browser::new();
    login(
        &env,
        &mut bob,
        "https://who.example.com/",
        &common::bob(),
        &mut rng,
    );
    let cookie = bob
        .headers("https://who.example.com/", &[])
        .into_iter()
        .find(|(n, _)| n == "cookie")
        .unwrap();
    let run = |pairs: &[(&str, &str)]| {
        let mut headers: Vec<(String, String)> = pairs
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect();
        headers.push(cookie.clone());
        let view = RequestView::from_headers(&headers);
        let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut Counter::default());
        match &decision.action {
            tinyauth_wasm::oidc::Action::Forward(_) => 200,
            tinyauth_wasm::oidc::Action::Respond(r) => r.status,
            tinyauth_wasm::oidc::Action::Call { .. } => 0,
        }
    };
    let base = [(":method", "GET"), (":path", "/"), ("user-agent", CHROME)];
    // bob may use whoami (who.example.com) but not admin (group rule).
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut all = base.to_vec();
        all.extend_from_slice(extra);
        run(&all)
    };
    assert_eq!(
        with(&[
            (":authority", "admin.example.com"),
            ("host", "who.example.com")
        ]),
        403
    );
    assert_eq!(
        with(&[
            (":authority", "who.example.com"),
            ("host", "admin.example.com")
        ]),
        200
    );
    assert_eq!(
        with(&[("host", "admin.example.com")]),
        403,
        "host stands in for a missing :authority"
    );
    assert_eq!(with(&[("host", "who.example.com")]), 200);
}

/// `access::ip_blocked`: a client whose address is unknown is refused
/// whenever any allow or block list applies, global or the app's.
#[test]
fn an_unknown_client_address_fails_any_ip_list() {
    use tinyauth_wasm::flow;
    use tinyauth_wasm::http::request::RequestView;
    let cases = [
        (
            "a global block list",
            json!({"ip": {"block": "203.0.113.0/24"}}),
            json!({}),
        ),
        (
            "a global allow list",
            json!({"ip": {"allow": "203.0.113.0/24"}}),
            json!({}),
        ),
        (
            "an app block list",
            json!({}),
            json!({"ip": {"block": "203.0.113.0/24"}}),
        ),
        (
            "an app allow list",
            json!({}),
            json!({"ip": {"allow": "203.0.113.0/24"}}),
        ),
    ];
    for (name, auth, app) in cases {
        let mut value = base_config();
        value["auth"] = auth;
        value["apps"]["vault"] = app;
        let env = compile(&value);
        let headers = Browser::api().headers("https://vault.example.com/", &[]);
        let view = RequestView::from_headers(&headers);
        assert_eq!(view.peer, None);
        let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut Counter::default());
        assert_eq!(response(&decision).status, 403, "{name}");
        let audit = decision.audit.as_ref().unwrap();
        assert!(audit.reason.contains("client IP blocked"), "{name}");
    }
    // Without any list, the address does not matter.
    let env = compile(&base_config());
    let headers = Browser::api().headers("https://vault.example.com/", &[]);
    let view = RequestView::from_headers(&headers);
    let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut Counter::default());
    assert_eq!(response(&decision).status, 401);
}
