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
    let env = compile(&json!({
        "appUrl": "https://auth.example.com",
        "secret": common::SECRET,
        "oauth": {"providers": {"generic": {
            "clientId": "c", "clientSecret": "s",
            "authUrl": "https://id.example.com/authorize",
            "tokenUrl": "https://id.example.com/token",
            "userInfoUrl": "https://id.example.com/userinfo"
        }}},
        "apps": {"blog": {"path": {"block": "^/admin/"}}}
    }));
    for path in [
        "/admin/",
        "/admin/.",
        "/admin/./",
        "/admin//",
        "/x/../admin/",
    ] {
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
        let decision = flow::on_request(&env, &env.runtime, &view, NOW, &mut common::Counter(0));
        assert!(
            !matches!(decision.action, Action::Forward(_)),
            "{path} reached the app without a login (readings {:?})",
            readings(path)
        );
    }
}
