//! Reproducers of what the fuzz targets (`tests/fuzz/`) found in `src/`, one
//! test per finding, each named after it. They fail until `src/` is fixed;
//! tests/fuzz/README.md ("Findings") tells the story of each.

// Test code fails loudly by design; the no-panic rule is for `src/`.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

mod common;

use common::{compile, CHROME, NOW};
use serde_json::json;
use tinyauth_wasm::flow;
use tinyauth_wasm::http::path::readings;
use tinyauth_wasm::http::request::RequestView;
use tinyauth_wasm::oidc::Action;

fn read(path: &str) -> Vec<String> {
    readings(path)
        .unwrap()
        .into_iter()
        .map(std::borrow::Cow::into_owned)
        .collect()
}

/// Finding 1 (target `path`, input `/.+\x01+/`): a path whose only unusual
/// trait is a segment starting with a dot loses its trailing slash, while
/// the same path without the dot keeps it. `clean` (Go's `path.Clean`)
/// drops the trailing slash that upstream servers keep (RFC 3986 §5.2.4:
/// `/admin/.` is `/admin/`).
#[test]
fn fuzz_finding_1_a_path_keeps_its_trailing_slash_in_every_reading() {
    assert_eq!(read("/well-known/"), ["/well-known/"]);
    assert_eq!(read("/.well-known/"), ["/.well-known/"]);
    for reading in read("/admin/.") {
        assert!(reading.ends_with('/'), "/admin/. read as {reading:?}");
    }
}

/// Finding 1, what it means for access: `path.block: ^/admin/` protects
/// `/admin/`, but `/admin/.` and `/admin//` (which nginx and every RFC 3986
/// resolver serve as `/admin/`) read only as `/admin`, match no block rule,
/// and are forwarded without a login.
#[test]
fn fuzz_finding_1_a_blocked_directory_is_not_public_with_a_dot_segment() {
    let env = blog("^/admin/");
    for path in [
        "/admin/",
        "/admin/.",
        "/admin/./",
        "/admin//",
        "/x/../admin/",
    ] {
        assert_needs_login(&env, path);
    }
}

fn blog(block: &str) -> common::Env {
    compile(&json!({
        "appUrl": "https://auth.example.com",
        "secret": common::SECRET,
        "oauth": {"providers": {"generic": {
            "clientId": "c", "clientSecret": "s",
            "authUrl": "https://id.example.com/authorize",
            "tokenUrl": "https://id.example.com/token",
            "userInfoUrl": "https://id.example.com/userinfo"
        }}},
        "apps": {"blog": {"path": {"block": block}}}
    }))
}

fn forwarded(env: &common::Env, path: &str) -> bool {
    let headers: Vec<(String, String)> = [
        (":method", "GET"),
        (":authority", "blog.example.com"),
        (":path", path),
        ("user-agent", CHROME),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let view = RequestView::from_headers(&headers);
    let decision = flow::on_request(env, &env.runtime, &view, NOW, &mut common::Counter(0));
    matches!(decision.action, Action::Forward(_))
}

/// The request for `path` is not forwarded as public: it needs a login.
#[track_caller]
fn assert_needs_login(env: &common::Env, path: &str) {
    assert!(
        !forwarded(env, path),
        "{path} reached the app without a login (readings {:?})",
        readings(path)
    );
}

/// Finding 3 (targets `path` and `request`, inputs `WP-adminWP-admin///../`
/// and `WP-admin%2F/../`): `..` after an empty segment. Go's `path.Clean`
/// drops empty segments before it resolves `..`, but an RFC 3986 §5.2.4 or
/// WHATWG URL resolver keeps them (Envoy's `normalize_path` without
/// `merge_slashes`, `new URL()` in Node), so there `..` removes only the
/// empty segment: `/wp-admin//../` is `/wp-admin/`, while every reading
/// here is `/`. With `filter-config/access-control.json`'s own rule
/// (`path.block: ^/wp-admin`) the request reaches the app without a login.
#[test]
fn fuzz_finding_3_dot_dot_after_an_empty_segment_cannot_climb_out_of_a_blocked_path() {
    let env = blog("^/wp-admin");
    for path in ["/wp-admin//../", "/wp-admin/x//../../", "/wp-admin%2F/../"] {
        assert_needs_login(&env, path);
    }
    let readings = read("/wp-admin//../");
    assert!(
        readings.iter().any(|r| r.starts_with("/wp-admin")),
        "/wp-admin//../ is /wp-admin/ to an RFC 3986 resolver, read as {readings:?}"
    );
}

/// Finding 2 (target `config`, input `{"": …}`): an unknown member with an
/// empty name is reported with an empty field (`: unknown field ``, …`), so
/// the operator is not told where the problem is.
#[test]
fn fuzz_finding_2_an_error_always_names_a_field() {
    let mut config = common::base_config();
    config[""] = json!(1);
    let err = tinyauth_wasm::config::Config::from_json(config.to_string().as_bytes())
        .err()
        .unwrap();
    assert!(!err.field.is_empty(), "no field named: {err}");
}

/// Finding 4 (target `config`, input `{"AA\n": …}`): configuration errors
/// echo names and values from the input as they are, so a line break in a
/// member name, an environment variable's name or value, or `appUrl` splits
/// the one-line error (and the log line it becomes) in two.
#[test]
fn fuzz_finding_4_configuration_errors_are_one_line() {
    let base = common::base_config();
    let mut cases: Vec<(serde_json::Value, Vec<(String, String)>)> = Vec::new();
    let mut doubled = base.clone();
    doubled["AA\n"] = json!(1);
    cases.push((doubled, vec![]));
    let mut url = base.clone();
    url["appUrl"] = json!("https://auth.example.com/\n[error] forged");
    cases.push((url, vec![]));
    cases.push((base.clone(), vec![("SESSION_EXPIRY".into(), "1\n2".into())]));
    cases.push((base, vec![("TINYAUTH_NO\nPE".into(), "x".into())]));
    let broken: Vec<String> = cases
        .into_iter()
        .filter_map(|(json, env)| {
            tinyauth_wasm::config::Config::from_sources(json.to_string().as_bytes(), &env)
                .err()
                .map(|err| err.to_string())
        })
        .filter(|err| err.contains(['\n', '\r']))
        .collect();
    assert!(broken.is_empty(), "errors of several lines: {broken:#?}");
}

/// Finding 5 (targets `path` and `request`, inputs with `;jsessionid=…%252f…`
/// and `/%3b\...\\/WP-admin`): `;` parameters are dropped only after the
/// path is decoded and its `\` read as `/`, but Tomcat (and Spring on it)
/// drops them from the raw path, up to the next raw `/`, first. An encoded
/// slash or a backslash inside a parameter then makes a segment Tomcat never
/// sees: `/;%2fa/wp-admin` reads here as `/;%2fa/wp-admin`, `/;/a/wp-admin` and
/// `/a/wp-admin`, and `/;\x/wp-admin` as `/;\x/wp-admin` and `/x/wp-admin`,
/// none blocked, while Tomcat (whose default reads `\` as a plain
/// character) serves `/wp-admin`.
#[test]
fn fuzz_finding_5_parameters_are_dropped_as_tomcat_drops_them() {
    let env = blog("^/wp-admin");
    for path in [
        "/;x/wp-admin",
        "/;%2fa/wp-admin",
        "/;\\x/wp-admin",
        "/;a%2f..%2fb/wp-admin/",
    ] {
        assert_needs_login(&env, path);
    }
}

/// Finding 6 (target `config`, input `GENERIC_AUTH_URL=https://pockeER\u{FFFD}…`):
/// a host with an upper-case ASCII letter and a non-ASCII character trips a
/// `debug_assert!` in `idna_adapter` 1.0.0 (the no-Unicode-tables adapter
/// under `url`, which expects ASCII already lower-cased), so it panics in
/// every build with debug assertions (`cargo test`, the fuzz build). The
/// shipped module has none (release profile) and refuses such hosts. The
/// same host reaches `HttpUrl::parse` from a request, through the login
/// page's `redirect_uri`.
#[test]
fn fuzz_finding_6_a_host_with_upper_case_and_non_ascii_is_refused_without_a_panic() {
    use tinyauth_wasm::http::url::HttpUrl;
    for url in ["https://pockeER\u{FFFD}", "https://Aé.example.com/"] {
        let outcome = std::panic::catch_unwind(|| HttpUrl::parse(url).is_ok());
        assert_eq!(outcome.ok(), Some(false), "{url:?}");
    }
    let env = compile(&common::base_config());
    let headers: Vec<(String, String)> = [
        (":method", "GET"),
        (":authority", "auth.example.com"),
        (
            ":path",
            "/login?redirect_uri=https%3A%2F%2FA%C3%A9.example.com%2F",
        ),
        ("user-agent", CHROME),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let view = RequestView::from_headers(&headers);
        let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut common::Counter(0));
        matches!(decision.action, Action::Respond(_))
    }));
    assert_eq!(outcome.ok(), Some(true), "the login page panicked");
}

/// Finding 7 (target `path`, inputs `/%5cWP-admin%5c%252f..;%2f` and
/// `/;jsessionid=x%2FWP-admin%2F%2F%25252e%25252e`): `\` is read as `/`, and
/// `;` parameters are dropped, only in the fully decoded reading. A server
/// that decodes once and then reads `\` as `/` (IIS, when double escaping is
/// allowed) resolves `/%5cwp-admin%5c%252f..;` to `/wp-admin/%2f..;`, under
/// `/wp-admin`, while the readings here are `/%5cwp-admin%5c%252f..;`,
/// `/\wp-admin\%2f..;` and `/`: none is blocked. Likewise a server that
/// decodes once and then drops parameters reads
/// `/;x%2Fwp-admin%2F%2F%25252e%25252e` as `/wp-admin/%252e%252e`.
#[test]
fn fuzz_finding_7_backslashes_and_parameters_are_read_after_one_decoding_too() {
    let env = blog("^/wp-admin");
    for path in [
        "/%5cwp-admin%5c%252f..;",
        "/;x%2Fwp-admin%2F%2F%25252e%25252e",
    ] {
        assert_needs_login(&env, path);
    }
}

/// Finding 8 (target `provider`, input userinfo
/// `{"sub": "8b1f1c5e-&alice", "email": "@", …}`): an email with neither a
/// local part nor a domain gives an empty name. The name is `name`, else
/// `Localpart (domain)` from the email, else the username — but the email's
/// pseudo-name is taken even when it comes out empty, so the user has no name
/// (no `Remote-Name`, an empty name on the pages) although the username
/// (`_`) would do.
#[test]
fn fuzz_finding_8_a_user_always_has_a_name() {
    use tinyauth_wasm::config::ClaimNames;
    use tinyauth_wasm::oidc::claims;
    let claims = claims::parse(br#"{"sub": "8b1f1c5e-alice", "email": "@"}"#).unwrap();
    let identity = claims::identity("generic", &claims, &ClaimNames::default()).unwrap();
    assert!(!identity.name.is_empty(), "no name: {identity:?}");
}

/// Finding 9 (targets `path` and `request`, inputs
/// `/%2E%2e\WP-adminWP-admin\\%25252e%25252e` and `/../\WP-admin\%2e.%2f`):
/// `\` is read as `/` only together with full decoding. The WHATWG URL parser
/// (`new URL()` in Node, Deno and Bun) reads `\` as `/` and decodes nothing
/// but `%2e` in dot segments: to it `/a\..\wp-admin/%2e%2e%2f` is
/// `/wp-admin/%2e%2e%2f` (a route `/wp-admin/:file` gets `../`), while every
/// reading here (`/a\..\wp-admin/%2e%2e%2f`, then `/`) is outside `/wp-admin`.
#[test]
fn fuzz_finding_9_backslashes_are_slashes_without_decoding_too() {
    let env = blog("^/wp-admin");
    let path = "/a\\..\\wp-admin/%2e%2e%2f";
    assert_needs_login(&env, path);
}

/// Finding 10 (targets `path` and `request`, inputs `/\WP-admin/\.%2e;` and
/// `/\WP-admin/..%3b%3b;jsessionid=x…`): the lenient reading applies every
/// transformation at once (`\` as `/` and `;` parameters dropped), but a
/// server may apply only some: IIS reads `\` as `/` and keeps `..;` as a
/// plain segment, so `/\wp-admin/..;` is `/wp-admin/..;` to it, under
/// `/wp-admin`, while the readings here are `/\wp-admin/..;` and `/` (where
/// `..;` climbed out): none is blocked. No encoding is needed.
#[test]
fn fuzz_finding_10_backslashes_are_slashes_without_dropping_parameters_too() {
    let env = blog("^/wp-admin");
    let path = "/\\wp-admin/..;";
    assert_needs_login(&env, path);
}

/// Finding 13 (target `path`, input `/.%2e/.%2e/.%2e\WP-admin/.%2e%2F`
/// among bytes the harness turns into a path): the WHATWG URL parser (`new
/// URL()` in Node, Deno and Bun) reads `\` as `/` and `.%2e` as `..` but keeps
/// `%2F` encoded, so to it the path is `/wp-admin/.%2e%2F`, under
/// `/wp-admin`; the readings here either decoded nothing (`/.%2e/.%2e/…`,
/// `\` as `/` or not) or everything (`/`), and none was blocked. Fixed by
/// reading the path with the `url` crate, which implements that standard.
#[test]
fn fuzz_finding_13_the_path_is_also_read_as_a_whatwg_url() {
    let env = blog("^/wp-admin");
    for path in [
        "/.%2e/.%2e/.%2e\\wp-admin/.%2e%2F",
        "/.%2e/.%2e/.%2e\\WP-admin/.%2e%2F",
        "/x/%2e%2e\\wp-admin/%2E%2E%2F",
    ] {
        assert_needs_login(&env, path);
    }
}
