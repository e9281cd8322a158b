//! The configuration: JSON text, VM environment pairs and labels through
//! `Config::from_sources`, starting from the real examples of
//! `filter-config/` (or any text) with input-driven edits, environment
//! variables and labels of every naming scheme the filter reads, and secret
//! values placed where secrets go (JSON, environment, labels).
//!
//! Properties, beyond "never panics":
//! - an error is one line, names a non-empty field, and reads
//!   `<field>: <problem>`;
//! - no error, note or warning ever contains a secret value given
//!   (`secret`, `previousSecrets`, a provider's `clientSecret`, an app's
//!   basic-auth password, in any source);
//! - a configuration that loads has a signing key and a provider, apps named
//!   in lower case without dots, notes and warnings of one line, and starts
//!   its provider state and background fetches without panicking.

#![no_main]

use arbitrary::{Arbitrary, Unstructured};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value};
use tinyauth_wasm::config::Config;
use tinyauth_wasm::oidc::discovery::{self, Runtime};
use tinyauth_wasm_fuzz::{common, one_line, rules_config, NOW};

const EXAMPLES: &[&str] = &[
    include_str!("../../../filter-config/minimal.json"),
    include_str!("../../../filter-config/pocket-id.json"),
    include_str!("../../../filter-config/access-control.json"),
    include_str!("../../../filter-config/discovery.json"),
];

/// Keys the configuration knows (and a few it does not).
const KEYS: &[&str] = &[
    "appUrl",
    "secret",
    "previousSecrets",
    "auth",
    "sessionExpiry",
    "sessionMaxLifetime",
    "secureCookie",
    "subdomainsEnabled",
    "acls",
    "policy",
    "trustedProxies",
    "ip",
    "allow",
    "block",
    "bypass",
    "oauth",
    "whitelist",
    "autoRedirect",
    "providers",
    "generic",
    "name",
    "clientId",
    "clientSecret",
    "issuer",
    "authUrl",
    "tokenUrl",
    "userInfoUrl",
    "jwksUrl",
    "endSessionUrl",
    "redirectUrl",
    "scopes",
    "tokenAuthMethod",
    "verifyIdToken",
    "claimsFrom",
    "claims",
    "username",
    "email",
    "groups",
    "requireEmailVerified",
    "logoutAtProvider",
    "postLogoutRedirectUri",
    "clockSkewSeconds",
    "cluster",
    "authority",
    "timeoutMs",
    "apps",
    "config",
    "domain",
    "users",
    "path",
    "response",
    "headers",
    "basicauth",
    "password",
    "labels",
    "ui",
    "title",
    "clusters",
    "whoami",
    "grafana",
    "wiki",
    "unknownKey",
];

const ENV_NAMES: &[&str] = &[
    "APP_URL",
    "SECRET",
    "SECRET_FILE",
    "COOKIE_SECURE",
    "SESSION_EXPIRY",
    "TRUSTED_PROXIES",
    "OAUTH_WHITELIST",
    "OAUTH_AUTO_REDIRECT",
    "APP_TITLE",
    "USERS",
    "GENERIC_CLIENT_ID",
    "GENERIC_CLIENT_SECRET",
    "GENERIC_AUTH_URL",
    "GENERIC_TOKEN_URL",
    "GENERIC_USER_URL",
    "GENERIC_SCOPES",
    "GENERIC_NAME",
    "GENERIC_SKIP_SSL",
    "GITHUB_CLIENT_ID",
    "LOG_LEVEL",
    "PROVIDERS_POCKETID_CLIENT_ID",
    "PROVIDERS_POCKETID_CLIENT_SECRET",
    "PROVIDERS_POCKETID_AUTH_URL",
    "TINYAUTH_APPURL",
    "TINYAUTH_SECRET",
    "TINYAUTH_AUTH_SESSIONEXPIRY",
    "TINYAUTH_AUTH_IP_BLOCK",
    "TINYAUTH_OAUTH_WHITELIST",
    "TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTSECRET",
    "TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTID",
    "TINYAUTH_APPS_WHOAMI_OAUTH_GROUPS",
    "TINYAUTH_APPS_WHOAMI_CONFIG_DOMAIN",
    "TINYAUTH_APPS_WHOAMI_PATH_ALLOW",
    "TINYAUTH_SERVER_PORT",
    "TINYAUTH_LDAP_ADDRESS",
    "TINYAUTH_AUTH_USERS",
    "TINYAUTH_SECRETFILE",
    "TINYAUTH_NOPE",
    "ISTIO_META_X",
    "HOME",
];

const LABELS: &[&str] = &[
    "tinyauth.domain",
    "tinyauth.users",
    "tinyauth.allowed",
    "tinyauth.headers",
    "tinyauth.oauth.whitelist",
    "tinyauth.oauth.groups",
    "tinyauth.basic.username",
    "tinyauth.basic.password.plain",
    "tinyauth.basic.password.file",
    "tinyauth.ip.allow",
    "tinyauth.ip.block",
    "tinyauth.ip.bypass",
    "tinyauth.apps.whoami.oauth.groups",
    "tinyauth.apps.whoami.path.block",
    "tinyauth.apps.whoami.response.basicauth.password",
    "tinyauth.apps.other.config.domain",
    "tinyauth.apps.whoami.response.basicauth.passwordfile",
    "tinyauth.nope",
];

#[derive(Debug, Arbitrary)]
enum Name {
    Known(u8),
    Raw(String),
}

impl Name {
    fn pick(&self, table: &[&str]) -> String {
        match self {
            Self::Known(i) => table[usize::from(*i) % table.len()].to_owned(),
            Self::Raw(raw) => raw.clone(),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Val {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    List(Vec<String>),
    Object,
}

impl Val {
    fn json(&self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(*b),
            Self::Int(i) => Value::from(*i),
            Self::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Self::Text(t) => Value::String(t.clone()),
            Self::List(items) => Value::from(items.clone()),
            Self::Object => Value::Object(Map::new()),
        }
    }
}

#[derive(Debug, Arbitrary)]
enum Base {
    Example(u8),
    Text(String),
}

#[derive(Debug, Arbitrary)]
struct Input {
    base: Base,
    edits: Vec<(Vec<Name>, Val)>,
    env: Vec<(Name, String)>,
    /// Top-level labels, or an app's (`apps.whoami.labels`).
    labels: Vec<(bool, Name, String)>,
    /// Which secret places get a secret value, and how long each is.
    secrets: u16,
    secret_len: u8,
}

const MARK: &str = "SeNtInEl";
const END: &str = "LeNiTnEs";

fn secret(index: usize, len: u8) -> String {
    let filler = "x".repeat(usize::from(len % 48));
    format!("{MARK}{index}{filler}{END}")
}

/// Sets `value` at `path`, creating objects on the way; gives up where a
/// non-object is in the way.
fn set(root: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = root;
    for key in parents {
        let Some(object) = node.as_object_mut() else {
            return;
        };
        node = object
            .entry((*key).to_owned())
            .or_insert_with(|| Value::Object(Map::new()));
        if node.is_null() {
            *node = Value::Object(Map::new());
        }
    }
    if let Some(object) = node.as_object_mut() {
        object.insert((*last).to_owned(), value);
    }
}

/// Text input (the seed corpus's form): a JSON configuration, then
/// optionally a NUL and `NAME=value` lines of environment.
fn text(rest: &[u8]) {
    let (json, env) = match rest.iter().position(|b| *b == 0) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    let env: Vec<(String, String)> = String::from_utf8_lossy(env)
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(n, v)| (n.to_owned(), v.to_owned()))
        .collect();
    match Config::from_sources(json, &env) {
        Err(err) => {
            let shown = err.to_string();
            assert!(one_line(&shown), "error of several lines: {shown:?}");
            assert!(!err.field.is_empty(), "no field: {shown:?}");
            // A field with a line break or a control character is shown
            // escaped (the line stays one line), so compared only when plain.
            if one_line(&err.field) && !err.field.contains(char::is_control) {
                assert!(shown.starts_with(&format!("{}: ", err.field)), "{shown:?}");
            }
        }
        Ok(config) => loaded(&config, &|_| false),
    }
}

/// What holds for every configuration that loads.
fn loaded(config: &Config, leaks: &dyn Fn(&str) -> bool) {
    assert!(!config.keys.session.is_empty() && !config.keys.flow.is_empty());
    assert!(!config.providers.is_empty());
    for app in &config.apps.list {
        assert!(
            !app.name.is_empty() && !app.name.contains('.'),
            "{:?}",
            app.name
        );
        assert_eq!(app.name, app.name.to_ascii_lowercase());
    }
    for line in config.notes.iter().chain(&config.warnings) {
        assert!(one_line(line), "note of several lines: {line:?}");
        assert!(!leaks(line), "note shows a secret: {line:?}");
    }
    let mut runtime = Runtime::new(config);
    let _ = discovery::due_fetches(config, &mut runtime, NOW);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        return text(rest);
    }
    let Ok(input) = Input::arbitrary_take_rest(Unstructured::new(rest)) else {
        return;
    };
    structured(&input);
});

fn structured(input: &Input) {
    let mut secrets: Vec<String> = Vec::new();
    let mut env: Vec<(String, String)> = input
        .env
        .iter()
        .map(|(name, value)| (name.pick(ENV_NAMES), value.clone()))
        .collect();
    // Whatever the input itself says may not contain the marker, or a
    // "leak" could be its own text.
    let mut said: Vec<String> = env
        .iter()
        .flat_map(|(n, v)| [n.clone(), v.clone()])
        .collect();

    let json: Vec<u8> = match &input.base {
        Base::Text(text)
            if input.edits.is_empty() && input.labels.is_empty() && input.secrets == 0 =>
        {
            said.push(text.clone());
            text.clone().into_bytes()
        }
        base => {
            let mut value = match base {
                Base::Example(i) => match usize::from(*i) % (EXAMPLES.len() + 2) {
                    n if n < EXAMPLES.len() => serde_json::from_str(EXAMPLES[n]).unwrap(),
                    n if n == EXAMPLES.len() => common::base_config(),
                    _ => rules_config(),
                },
                Base::Text(text) => {
                    said.push(text.clone());
                    serde_json::from_str(text).unwrap_or_else(|_| Value::Object(Map::new()))
                }
            };
            for (path, val) in &input.edits {
                let path: Vec<String> = path.iter().map(|n| n.pick(KEYS)).collect();
                said.extend(path.iter().cloned());
                said.push(format!("{:?}", val));
                let path: Vec<&str> = path.iter().map(String::as_str).collect();
                set(&mut value, &path, val.json());
            }
            for (per_app, name, text) in &input.labels {
                let name = name.pick(LABELS);
                said.push(name.clone());
                said.push(text.clone());
                let place: &[&str] = if *per_app {
                    &["apps", "whoami", "labels", ""]
                } else {
                    &["labels", ""]
                };
                let mut path = place.to_vec();
                *path.last_mut().unwrap() = &name;
                set(&mut value, &path, Value::String(text.clone()));
            }
            let mut place = |bit: u16, value: &mut Value, path: &[&str]| {
                if input.secrets & (1 << bit) != 0 {
                    let s = secret(
                        usize::from(bit),
                        input.secret_len.wrapping_add(bit as u8 * 7),
                    );
                    set(value, path, Value::String(s.clone()));
                    secrets.push(s);
                }
            };
            place(0, &mut value, &["secret"]);
            place(1, &mut value, &["previousSecrets"]);
            place(
                2,
                &mut value,
                &["oauth", "providers", "generic", "clientSecret"],
            );
            place(
                3,
                &mut value,
                &["apps", "whoami", "response", "basicauth", "password"],
            );
            place(
                4,
                &mut value,
                &["labels", "tinyauth.apps.whoami.response.basicauth.password"],
            );
            place(
                5,
                &mut value,
                &["apps", "whoami", "labels", "tinyauth.basic.password.plain"],
            );
            if input.secrets & (1 << 6) != 0 {
                let s = secret(6, input.secret_len);
                let list = Value::from(vec![s.clone(), "short".to_owned()]);
                set(&mut value, &["previousSecrets"], list);
                secrets.push(s);
            }
            value.to_string().into_bytes()
        }
    };
    for (bit, name) in [
        (7, "SECRET"),
        (8, "GENERIC_CLIENT_SECRET"),
        (9, "TINYAUTH_SECRET"),
        (10, "PROVIDERS_POCKETID_CLIENT_SECRET"),
        (11, "TINYAUTH_OAUTH_PROVIDERS_GENERIC_CLIENTSECRET"),
    ] {
        if input.secrets & (1 << bit) != 0 {
            let s = secret(bit, input.secret_len.wrapping_add(bit as u8 * 5));
            env.push((name.to_owned(), s.clone()));
            secrets.push(s);
        }
    }
    let input_has_marks = said
        .iter()
        .any(|text| text.contains(MARK) || text.contains(END));
    let leaks = |text: &str| !input_has_marks && (text.contains(MARK) || text.contains(END));

    match Config::from_sources(&json, &env) {
        Err(err) => {
            let shown = err.to_string();
            assert!(one_line(&shown), "error of several lines: {shown:?}");
            assert!(!err.field.is_empty(), "no field: {shown:?}");
            // A field with a line break or a control character is shown
            // escaped (the line stays one line), so compared only when plain.
            if one_line(&err.field) && !err.field.contains(char::is_control) {
                assert!(shown.starts_with(&format!("{}: ", err.field)), "{shown:?}");
            }
            assert!(
                !leaks(&shown),
                "error shows a secret ({secrets:?}): {shown:?}"
            );
        }
        Ok(config) => loaded(&config, &leaks),
    }
}
