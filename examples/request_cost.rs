//! Measures the core's cost of one authenticated request (and its parts) with
//! no proxy around it. Built natively it shows the algorithmic cost; built for
//! `wasm32-wasip1` and run under Node (V8, the engine Envoy embeds) it shows
//! what the filter's own code costs per request inside Envoy:
//!
//! ```text
//! cargo build --release --example request_cost --target wasm32-wasip1
//! node envoy-demo/bench/request-cost.mjs
//! ```
//!
//! The figures complement `envoy-demo/bench.sh` (which measures Envoy as a whole).

// A command-line report: printing is its job.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::time::Instant;

#[path = "common/alice.rs"]
mod alice;

use tinyauth_wasm::config::Config;
use tinyauth_wasm::decision::Action;
use tinyauth_wasm::flow;
use tinyauth_wasm::http::request::RequestView;
use tinyauth_wasm::oidc::discovery::Runtime;
use tinyauth_wasm::oidc::Decision;
use tinyauth_wasm::session::crypto::Entropy;
use tinyauth_wasm::session::Session;

const NOW: u64 = 1_800_000_000;

struct Fixed;
impl Entropy for Fixed {
    fn fill(
        &mut self,
        buf: &mut [u8],
    ) -> Result<(), tinyauth_wasm::session::crypto::EntropyUnavailable> {
        buf.fill(7);
        Ok(())
    }
}

fn main() {
    let config_json = r#"{
      "appUrl": "http://auth.example.test:8080",
      "secret": "0123456789abcdef0123456789abcdef",
      "oauth": { "providers": { "generic": {
        "name": "Pocket ID", "clientId": "c", "clientSecret": "s",
        "authUrl": "http://id.example.test/authorize",
        "tokenUrl": "http://id.example.test/api/oidc/token",
        "userInfoUrl": "http://id.example.test/api/oidc/userinfo",
        "cluster": "pocket_id", "verifyIdToken": false } } },
      "apps": { "admin": { "oauth": { "groups": "admins" }, "response": { "headers": "X-Bench=1" } } }
    }"#;
    let config = match Config::from_json(config_json.as_bytes()) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("config: {err}");
            std::process::exit(1);
        }
    };
    let session = alice::alice_session(&config, NOW);
    let Some(key) = config.keys.session.first() else {
        std::process::exit(1);
    };
    let cookie = format!("{}={}", config.site.cookies.session_name, session.seal(key));
    let headers = request_headers(&cookie);
    let runtime = Runtime::default();
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap_or(20_000);

    measure("read the request headers", rounds, || {
        let view = RequestView::from_headers(&headers);
        view.cookies.len()
    });
    let view = RequestView::from_headers(&headers);
    let value = session.seal(key);
    let payload = vec![7u8; 200];
    measure("MAC of 200 bytes (keyed BLAKE2s)", rounds, || {
        key.sign_parts(&[&payload])[0] as usize
    });
    measure("base64 of the cookie", rounds, || {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&value)
            .map_or(0, |v| v.len())
    });
    measure("open the session cookie", rounds, || {
        Session::open_at(
            &value,
            &config.keys.session,
            NOW,
            config.session_max_lifetime,
        )
        .map_or(0, |s| s.login.len())
    });
    measure("find the valid session", rounds, || {
        tinyauth_wasm::access::signed_in(&config, &runtime.sessions, &view, NOW)
            .map_or(0, |s| s.login.len())
    });
    // Tinyauth's `path.allow`/`path.block` rules run on every request to
    // their app.
    let Ok(rule) =
        tinyauth_wasm::config::Pattern::new(r"^/(api|static)/[a-z0-9_-]+\.(js|css|json)$", false)
    else {
        std::process::exit(1);
    };
    measure("a path rule (regex) on the path", rounds, || {
        usize::from(rule.is_match("/dashboard/settings/profile"))
    });
    measure("whole request decision", rounds, || {
        decide(&config, &runtime, &headers).log.len()
    });
    if !let_through(&config, &runtime, &headers) {
        eprintln!("the signed-in request was not let through");
        std::process::exit(1);
    }
    refresh_off_pair(config_json, &session, &cookie, rounds);
    cold_decision(&config, &runtime, &headers, rounds);
}

/// The whole decision from cold caches.
fn cold_decision(config: &Config, runtime: &Runtime, headers: &[(String, String)], rounds: u32) {
    // Inside Envoy the filter runs between long stretches of Envoy's own code,
    // which evicts the filter's code and data from the CPU caches. Flushing
    // them before every call shows what the same work costs from cold.
    let cold_rounds = (rounds / 20).max(100);
    let empty = measure_cold(cold_rounds, || 0);
    let cold = measure_cold(cold_rounds, || decide(config, runtime, headers).log.len());
    println!(
        "{:32} {:8.3} µs",
        "whole request decision, cold",
        cold - empty
    );
}

/// Mean µs per call of `f`, timed call by call with an 8 MiB memory sweep
/// (larger than the L2 and most of the L3 of the machines this runs on) before
/// each call.
fn measure_cold(rounds: u32, mut f: impl FnMut() -> usize) -> f64 {
    let mut sweep = vec![0u8; 8 << 20];
    let mut sink = 0usize;
    let mut total = 0.0;
    for round in 0..rounds {
        for line in sweep.chunks_exact_mut(64) {
            if let Some(byte) = line.first_mut() {
                *byte = byte.wrapping_add(1);
            }
        }
        let start = Instant::now();
        sink = sink.wrapping_add(f());
        total += start.elapsed().as_secs_f64();
        sink = sink.wrapping_add(usize::from(sweep.get(round as usize).copied().unwrap_or(0)));
    }
    std::hint::black_box(sink);
    total * 1e6 / f64::from(rounds)
}

fn measure(label: &str, rounds: u32, mut f: impl FnMut() -> usize) {
    let mut sink = 0usize;
    for _ in 0..rounds / 10 {
        sink = sink.wrapping_add(f());
    }
    let start = Instant::now();
    for _ in 0..rounds {
        sink = sink.wrapping_add(f());
    }
    let per = start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
    println!("{label:32} {per:8.3} µs   (sink {})", sink % 10);
}

/// The whole decision with `auth.refreshInterval: 0`: the filter then keeps no
/// refresh token, so the cookie is about half as long, and the pair with
/// "whole request decision" (made with `refreshing_cookie`) shows what refresh
/// adds to a request that does not make one.
fn refresh_off_pair(config_json: &str, session: &Session, refreshing_cookie: &str, rounds: u32) {
    let with_refresh_off = config_json.replacen('{', r#"{ "auth": { "refreshInterval": 0 },"#, 1);
    let Ok(config) = Config::from_json(with_refresh_off.as_bytes()) else {
        std::process::exit(1);
    };
    let Some(key) = config.keys.session.first() else {
        std::process::exit(1);
    };
    let without_token = Session {
        refresh: None,
        ..session.clone()
    };
    let cookie = format!(
        "{}={}",
        config.site.cookies.session_name,
        without_token.seal(key)
    );
    let headers = request_headers(&cookie);
    let runtime = Runtime::default();
    // A refusal, or a cookie as long as the other, would compare nothing.
    if refreshing_cookie.len() <= cookie.len() || !let_through(&config, &runtime, &headers) {
        eprintln!("refresh off: the signed-in request with the shorter cookie was not let through");
        std::process::exit(1);
    }
    measure("whole request decision, refresh off", rounds, || {
        decide(&config, &runtime, &headers).log.len()
    });
}

/// A browser's request to the protected app with `cookie`, and identity
/// headers the client made up (which the filter must remove).
fn request_headers(cookie: &str) -> Vec<(String, String)> {
    [
        (":authority", "admin.example.test:8080"),
        (":path", "/"),
        (":method", "GET"),
        (":scheme", "http"),
        ("user-agent", "wrk"),
        ("cookie", cookie),
        ("remote-user", "mallory"),
        ("remote-groups", "admins"),
        ("x-forwarded-proto", "http"),
        ("x-request-id", "0b8c2b9e-5d0f-4a4e-9f55-8f9f5c2d7a10"),
    ]
    .iter()
    .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
    .collect()
}

/// The filter core's whole decision on the request with `headers`.
fn decide(config: &Config, runtime: &Runtime, headers: &[(String, String)]) -> Decision {
    let view = RequestView::from_headers(headers);
    flow::on_request(config, runtime, &view, NOW, &mut Fixed)
}

/// Whether the request with `headers` is forwarded upstream (signed in).
fn let_through(config: &Config, runtime: &Runtime, headers: &[(String, String)]) -> bool {
    matches!(decide(config, runtime, headers).action, Action::Forward(_))
}
