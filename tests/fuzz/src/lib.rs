//! What the fuzz targets share: the native tests' helpers (`tests/common`,
//! reused as they are: configurations, the fake identity provider with the
//! fixed keys of `tests/keys`, scripted randomness), a realistic configuration
//! with every kind of rule, and the independent oracles the targets check the
//! filter against.

// Harness code fails loudly by design; the no-panic rule is for `src/`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../common/mod.rs"]
pub mod common;

use std::net::IpAddr;

use percent_encoding::percent_decode_str;
use serde_json::{json, Value};
use tinyauth_wasm::config::Config;
use tinyauth_wasm::session::identity::Identity;
use tinyauth_wasm::session::Session;

pub use common::{APP_URL, NOW, SECRET};

/// Whether `text` is one line: no CR, LF or other line break (what an
/// operator's log line or a one-line error must be).
pub fn one_line(text: &str) -> bool {
    !text.contains(['\n', '\r', '\u{85}', '\u{2028}', '\u{2029}'])
}

/// The prefix `apps.docs.path.allow` makes public (`^/public/`).
pub const PUBLIC_PREFIX: &str = "/public/";
/// What `apps.blog.path.block` protects (`^/wp-admin`, any letter case).
pub const BLOCKED_PREFIX: &str = "/wp-admin";

/// A configuration with every kind of rule the request path meets: path
/// allow and block rules, global and per-app IP allow, block and bypass lists
/// behind a trusted proxy, group, user and email rules, configured upstream
/// headers and basic auth, and the `deny` ACL policy.
pub fn rules_config() -> Value {
    let mut config = common::base_config();
    config["auth"] = json!({
        "trustedProxies": "10.0.0.1",
        "acls": {"policy": "deny"},
        "ip": {"block": "203.0.113.0/24", "bypass": "198.51.100.7"}
    });
    config["oauth"]["whitelist"] = json!("/@example\\.com$/");
    config["apps"] = json!({
        "admin": {"oauth": {"groups": "admins"}, "ip": {"block": "192.0.2.0/24"}},
        "whoami": {"config": {"domain": "who.example.com"}, "users": {"allow": "alice,bob"}},
        "docs": {
            "path": {"allow": "^/public/"},
            "oauth": {"groups": "users"},
            "response": {"headers": ["X-Docs=1"]}
        },
        "blog": {"path": {"block": "^/wp-admin"}, "users": {"block": "bob"}},
        "legacy": {
            "ip": {"allow": "10.0.0.0/8", "bypass": "10.9.9.9"},
            "oauth": {"whitelist": "alice@example.com"},
            "response": {"basicauth": {"username": "proxy", "password": "legacy-app-password"}}
        },
        "intranet": {"ip": {"allow": "2001:db8::/32"}}
    });
    config
}

/// Hosts of the configuration above (and a few it does not know).
pub const HOSTS: &[&str] = &[
    "admin.example.com",
    "who.example.com",
    "docs.example.com",
    "blog.example.com",
    "legacy.example.com",
    "intranet.example.com",
    "whoami.example.com",
    "auth.example.com",
    "unknown.example.com",
    "DOCS.Example.COM:443",
    "docs.example.com.",
    "evil.example.org",
    "[::1]:8443",
];

/// Client addresses worth trying against [`rules_config`].
pub const ADDRESSES: &[&str] = &[
    "10.0.0.1",
    "10.9.9.9",
    "198.51.100.7",
    "203.0.113.9",
    "192.0.2.1",
    "10.1.2.3",
    "2001:db8::1",
    "::ffff:10.9.9.9",
    "127.0.0.1",
    "8.8.8.8",
];

/// The users a fuzzed request may carry a session of.
pub fn users() -> Vec<Identity> {
    let user = |sub: &str, name: &str, email: Option<&str>, groups: &[&str]| Identity {
        provider: "generic".into(),
        sub: sub.into(),
        username: name.into(),
        email: email.map(str::to_owned),
        name: format!("{name} Example"),
        groups: groups.iter().map(|g| (*g).to_owned()).collect(),
    };
    vec![
        user(
            "s-alice",
            "alice",
            Some("alice@example.com"),
            &["admins", "users"],
        ),
        user("s-bob", "bob", Some("bob@example.com"), &["users"]),
        user("s-carol", "carol", Some("carol@example.com"), &[]),
        // No email: refused while a whitelist applies.
        user("s-dave", "dave", None, &["users"]),
        // Not whitelisted any more (the whitelist is checked on every request).
        user(
            "s-mallory",
            "mallory",
            Some("mallory@evil.test"),
            &["admins"],
        ),
        // Claims with characters that must never reach a header line.
        user(
            "s-eve\r\n",
            "eve\r\nremote-user: root",
            Some("eve@example.com"),
            &["a,b", "users\n"],
        ),
    ]
}

/// A session for `identity`, as the filter itself would issue it.
pub fn session_for(identity: &Identity, created_at: u64, expires_at: u64) -> Session {
    Session {
        login: "fuzz-login-0001".into(),
        identity: identity.clone(),
        created_at,
        expires_at,
        checked_at: created_at,
        refresh: None,
    }
}

/// Seals `session` with the configuration's current session key.
pub fn seal(config: &Config, session: &Session) -> String {
    session.seal(&config.keys.session[0])
}

/// The ways real upstream servers resolve `path`, written independently of
/// `tinyauth_wasm::http::path`:
/// - as sent, and as sent with `;` parameters dropped (Tomcat, Spring);
/// - decoded once (nearly every server), also with `\` read as `/` (IIS,
///   Windows) and with `;` parameters dropped;
/// - decoded until nothing changes (servers that decode again), also with
///   `\` as `/` and parameters dropped;
/// - the WHATWG URL parser (`new URL()` in Node, Deno, Bun): `\` is `/` and
///   `%2e` counts as a dot in dot segments, nothing else is decoded.
///
/// Each is resolved the way Go's `path.Clean` does (empty segments dropped)
/// and the way RFC 3986 §5.2.4 does (empty segments kept). Interpretations
/// that do not decode to UTF-8 without NUL are left out (a server refuses
/// them), and so is every path that does not start with `/` (Envoy refuses
/// it). Servers that decode exactly twice, or read `\` as `/` without
/// decoding, are not modelled (tests/fuzz/README.md, "Limits of the
/// oracle"), though the filter's readings cover them too.
pub fn upstream_views(path: &str) -> Vec<String> {
    let decode = |text: &str| -> Option<String> {
        let next = percent_decode_str(text).decode_utf8().ok()?;
        (!next.contains('\0')).then(|| next.into_owned())
    };
    // Envoy refuses a `:path` that does not start with `/` (400).
    if !path.starts_with('/') {
        return Vec::new();
    }
    let mut texts: Vec<String> = vec![path.to_owned()];
    // Tomcat drops parameters from the raw path, up to the next raw `/`
    // (its default reads `\` as a plain character).
    texts.push(drop_params(path));
    if let Some(once) = decode(path) {
        // IIS: decoded once, `\` read as `/`.
        texts.push(once.replace('\\', "/"));
        texts.push(drop_params(&once));
        let mut full = once.clone();
        texts.push(once.clone());
        let mut stable = true;
        for _ in 0..8 {
            match decode(&full) {
                Some(next) if next != full => full = next,
                Some(_) => break,
                None => {
                    stable = false;
                    break;
                }
            }
        }
        if stable {
            let slashed = full.replace('\\', "/");
            texts.push(drop_params(&slashed));
            texts.push(full.clone());
            texts.push(slashed);
        }
    }
    let mut views = Vec::new();
    for text in &texts {
        views.push(clean_go(text));
        views.push(rfc3986(text));
    }
    // `/\\x` would be a scheme-relative URL (host `x`) to the WHATWG parser.
    if !path.replace('\\', "/").starts_with("//") {
        views.push(whatwg(path));
    }
    views.sort();
    views.dedup();
    views
}

fn rfc3986(text: &str) -> String {
    remove_dot_segments(text, |s| s == ".", |s| s == "..")
}

/// The WHATWG URL standard's path parsing for `http(s)` URLs.
fn whatwg(path: &str) -> String {
    let single = |s: &str| s == "." || s.eq_ignore_ascii_case("%2e");
    let double = |s: &str| {
        let lower = s.to_ascii_lowercase();
        matches!(lower.as_str(), ".." | ".%2e" | "%2e." | "%2e%2e")
    };
    let slashed = path.replace('\\', "/");
    remove_dot_segments(&slashed, single, double)
}

fn drop_params(text: &str) -> String {
    text.split('/')
        .map(|segment| segment.split(';').next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("/")
}

/// Go's `path.Clean` on a rooted path.
fn clean_go(text: &str) -> String {
    let mut kept: Vec<&str> = Vec::new();
    for segment in text.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                kept.pop();
            }
            other => kept.push(other),
        }
    }
    format!("/{}", kept.join("/"))
}

/// RFC 3986 §5.2.4 on a rooted path: empty segments are kept (`//a` stays);
/// `single` and `double` say which segments are `.` and `..`.
fn remove_dot_segments(
    text: &str,
    single: impl Fn(&str) -> bool,
    double: impl Fn(&str) -> bool,
) -> String {
    let text = text.strip_prefix('/').unwrap_or(text);
    let mut kept: Vec<&str> = Vec::new();
    let segments: Vec<&str> = text.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        if single(segment) {
            if i == last {
                kept.push("");
            }
        } else if double(segment) {
            kept.pop();
            if i == last {
                kept.push("");
            }
        } else {
            kept.push(segment);
        }
    }
    format!("/{}", kept.join("/"))
}

/// Whether an upstream could serve `view` as something under the public
/// prefix (the `^/public/` rule's intent); `/public` is the same directory
/// (`path.Clean` drops the trailing slash of `/public/`).
pub fn under_public(view: &str) -> bool {
    // `//public/x` is `/public/x` to a server that merges slashes.
    let merged = merge_slashes(view);
    merged.starts_with(PUBLIC_PREFIX) || merged == PUBLIC_PREFIX.trim_end_matches('/')
}

/// Whether an upstream could serve `view` as something under the blocked
/// prefix, in any letter case (`/WP-Admin` is `/wp-admin` on some servers).
pub fn under_blocked(view: &str) -> bool {
    let merged = merge_slashes(view);
    merged
        .get(..BLOCKED_PREFIX.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(BLOCKED_PREFIX))
}

fn merge_slashes(view: &str) -> String {
    let mut out = String::with_capacity(view.len());
    let mut previous_slash = false;
    for c in view.chars() {
        if c == '/' && previous_slash {
            continue;
        }
        previous_slash = c == '/';
        out.push(c);
    }
    out
}

/// Parses a textual IP address (test fixtures).
pub fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

/// A piece of a request path, so the fuzzer reaches the interesting shapes
/// (encoded dots and slashes, parameters, backslashes, rule prefixes) quickly;
/// `Raw` keeps every other string reachable.
#[derive(Debug, Clone, arbitrary::Arbitrary)]
pub enum PathPiece {
    Slash,
    Public,
    WpAdmin,
    Admin,
    Dot,
    DotDot,
    /// `%2e%2e`, `%2E%2e`, `%252e%252e`, `.%2e`, `%2e.`, `%25252e%25252e`
    EncodedDotDot(u8),
    /// `%2f`, `%2F`, `%252f`, `%5c`, `%255c`
    EncodedSlash(u8),
    Backslash,
    /// `;`, `;jsessionid=x`, `%3b`
    Param(u8),
    Percent,
    Raw(String),
}

impl PathPiece {
    fn text(&self) -> &str {
        match self {
            Self::Slash => "/",
            Self::Public => "public",
            Self::WpAdmin => "WP-admin",
            Self::Admin => "admin",
            Self::Dot => ".",
            Self::DotDot => "..",
            Self::EncodedDotDot(n) => [
                "%2e%2e",
                "%2E%2e",
                "%252e%252e",
                ".%2e",
                "%2e.",
                "%25252e%25252e",
            ][usize::from(*n) % 6],
            Self::EncodedSlash(n) => ["%2f", "%2F", "%252f", "%5c", "%255c"][usize::from(*n) % 5],
            Self::Backslash => "\\",
            Self::Param(n) => [";", ";jsessionid=x", "%3b"][usize::from(*n) % 3],
            Self::Percent => "%",
            Self::Raw(text) => text,
        }
    }
}

/// The path the pieces spell.
pub fn build_path(pieces: &[PathPiece]) -> String {
    pieces.iter().map(PathPiece::text).collect()
}

/// The claims of `token` if it is an RS256 JWS that the test key
/// `tests/keys/rsa-a.pem` signed — checked with the RustCrypto `rsa` crate,
/// apart from the filter's `jwt-simple`, on the strict (canonical) base64url
/// of each part. Other algorithms are not checked here: their valid tokens
/// are the ones the harness minted itself.
pub fn signed_by_test_rsa_key(token: &str) -> Option<serde_json::Map<String, Value>> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use rsa::pkcs1v15::{Signature, VerifyingKey};
    use rsa::pkcs8::DecodePrivateKey as _;
    use rsa::signature::Verifier as _;
    use std::sync::OnceLock;
    static KEY: OnceLock<VerifyingKey<sha2::Sha256>> = OnceLock::new();
    let key = KEY.get_or_init(|| {
        let pem = include_str!("../../keys/rsa-a.pem");
        let private = rsa::RsaPrivateKey::from_pkcs8_pem(pem).unwrap();
        VerifyingKey::new(private.to_public_key())
    });
    let (input, signature) = token.rsplit_once('.')?;
    let (header, payload) = input.split_once('.')?;
    let header: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    if header.get("alg")? != "RS256" {
        return None;
    }
    let signature = Signature::try_from(URL_SAFE_NO_PAD.decode(signature).ok()?.as_slice()).ok()?;
    key.verify(input.as_bytes(), &signature).ok()?;
    match serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// OIDC Core §3.1.3.7's checks on ID-token claims, written apart from the
/// filter: `iss` is the issuer, every `aud` (and `azp`) is the client, the
/// nonce matches, `exp` is in the future and `iat` is not (within `skew`
/// seconds of `now`), and `sub` is a non-empty string.
pub fn acceptable_claims(
    claims: &serde_json::Map<String, Value>,
    issuer: &str,
    client: &str,
    nonce: &str,
    now: u64,
    skew: u64,
) -> bool {
    let number = |key: &str| claims.get(key).and_then(Value::as_f64);
    let audience = match claims.get("aud") {
        Some(Value::String(aud)) => aud == client,
        Some(Value::Array(auds)) => !auds.is_empty() && auds.iter().all(|a| a == client),
        _ => false,
    };
    #[allow(clippy::cast_precision_loss)]
    let (now, skew) = (now as f64, skew as f64);
    claims.get("iss").and_then(Value::as_str) == Some(issuer)
        && audience
        && claims.get("azp").is_none_or(|azp| azp == client)
        && claims.get("nonce").and_then(Value::as_str) == Some(nonce)
        && number("exp").is_some_and(|exp| exp + skew > now)
        && number("iat").is_some_and(|iat| iat <= now + skew)
        && claims
            .get("sub")
            .and_then(Value::as_str)
            .is_some_and(|sub| !sub.is_empty())
}
