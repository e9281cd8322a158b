//! The configuration as it arrives (a JSON value, after the environment and
//! labels are merged in): read into plain structs with shape checks only. Key
//! names follow Tinyauth v5's YAML names. Every error names the field's path
//! (`oauth.providers.generic.clientId`), and unknown keys are refused.
//!
//! Hand-written rather than serde-derived: a derive plus path tracking
//! generated about 60 KB of code for two dozen structs, which every Envoy
//! worker compiles and keeps in memory.

use super::named::Named;
use crate::json::{Json, Object};

/// A shape error at `path` (empty: the whole configuration).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RawError {
    pub path: String,
    pub problem: String,
}

type Read<T> = Result<T, RawError>;

#[derive(Debug, Default)]
pub(crate) struct RawConfig {
    pub app_url: Option<String>,
    pub secret: Option<String>,
    pub previous_secrets: Option<ListValue>,
    pub auth: RawAuth,
    pub oauth: RawOAuth,
    pub apps: Named<RawApp>,
    pub ui: RawUi,
    /// Filter-only: Envoy cluster for each `host[:port]` the filter calls.
    pub clusters: Named<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAuth {
    pub session_expiry: Option<Seconds>,
    pub session_max_lifetime: Option<Seconds>,
    pub secure_cookie: Option<Flag>,
    pub subdomains_enabled: Option<Flag>,
    pub acls: RawAcls,
    pub trusted_proxies: Option<ListValue>,
    pub ip: RawIp,
}

#[derive(Debug, Default)]
pub(crate) struct RawAcls {
    /// `allow` (default) or `deny`: what happens when no rule decides.
    pub policy: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawIp {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
    pub bypass: Option<ListValue>,
}

#[derive(Debug, Default)]
pub(crate) struct RawOAuth {
    pub whitelist: Option<ListValue>,
    pub auto_redirect: Option<String>,
    pub providers: Named<RawProvider>,
}

#[derive(Debug, Default)]
pub(crate) struct RawProvider {
    pub name: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub auth_url: Option<String>,
    pub token_url: Option<String>,
    pub user_info_url: Option<String>,
    pub scopes: Option<ListValue>,
    pub whitelist: Option<ListValue>,
    /// `client_secret_basic` (default), `client_secret_post` or `none`.
    pub token_auth_method: Option<String>,
    /// Filter-only: Envoy cluster for the token and userinfo calls.
    pub cluster: Option<String>,
    /// Filter-only: `:authority` for those calls (default: the URL's host[:port]).
    pub authority: Option<String>,
    /// Filter-only: timeout of each call in milliseconds.
    pub timeout_ms: Option<Seconds>,
    /// The provider's issuer; discovery starts from it.
    pub issuer: Option<String>,
    /// Tinyauth's `REDIRECT_URL`: accepted only when it is the filter's own.
    pub redirect_url: Option<String>,
    pub jwks_url: Option<String>,
    pub end_session_url: Option<String>,
    pub verify_id_token: Option<Flag>,
    /// `userinfo` (default) or `idToken`.
    pub claims_from: Option<String>,
    pub claims: RawClaims,
    pub require_email_verified: Option<Flag>,
    pub logout_at_provider: Option<Flag>,
    pub post_logout_redirect_uri: Option<String>,
    pub clock_skew_seconds: Option<Seconds>,
}

#[derive(Debug, Default)]
pub(crate) struct RawClaims {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawApp {
    pub config: RawAppConfig,
    pub oauth: RawAppOAuth,
    pub users: RawUsers,
    pub path: RawPath,
    pub ip: RawIp,
    pub response: RawResponse,
}

#[derive(Debug, Default)]
pub(crate) struct RawUsers {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
}

#[derive(Debug, Default)]
pub(crate) struct RawPath {
    pub allow: Option<String>,
    pub block: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawResponse {
    pub headers: Option<ListValue>,
    pub basicauth: RawBasicAuth,
}

#[derive(Debug, Default)]
pub(crate) struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAppConfig {
    pub domain: Option<ListValue>,
}

#[derive(Debug, Default)]
pub(crate) struct RawAppOAuth {
    pub whitelist: Option<ListValue>,
    pub groups: Option<ListValue>,
}

#[derive(Debug, Default)]
pub(crate) struct RawUi {
    pub title: Option<String>,
}

/// Reads the whole configuration.
pub(crate) fn read(value: &Json) -> Read<RawConfig> {
    let root = Obj {
        value,
        path: String::new(),
    };
    let o = root.known(&[
        "appUrl",
        "secret",
        "previousSecrets",
        "auth",
        "oauth",
        "apps",
        "ui",
        "clusters",
    ])?;
    Ok(RawConfig {
        app_url: o.string("appUrl")?,
        secret: o.string("secret")?,
        previous_secrets: o.list("previousSecrets")?,
        auth: o.child("auth", read_auth)?,
        oauth: o.child("oauth", read_oauth)?,
        apps: o.map("apps", read_app)?,
        ui: o.child("ui", |o| {
            let o = o.known(&["title"])?;
            Ok(RawUi {
                title: o.string("title")?,
            })
        })?,
        clusters: o.map("clusters", |o| {
            o.value
                .as_str()
                .map(str::to_owned)
                .ok_or_else(|| o.invalid_type("a string"))
        })?,
    })
}

#[inline(never)]
fn read_auth(o: Obj<'_>) -> Read<RawAuth> {
    let o = o.known(&[
        "sessionExpiry",
        "sessionMaxLifetime",
        "secureCookie",
        "subdomainsEnabled",
        "acls",
        "trustedProxies",
        "ip",
    ])?;
    Ok(RawAuth {
        session_expiry: o.seconds("sessionExpiry")?,
        session_max_lifetime: o.seconds("sessionMaxLifetime")?,
        secure_cookie: o.flag("secureCookie")?,
        subdomains_enabled: o.flag("subdomainsEnabled")?,
        acls: o.child("acls", |o| {
            let o = o.known(&["policy"])?;
            Ok(RawAcls {
                policy: o.string("policy")?,
            })
        })?,
        trusted_proxies: o.list("trustedProxies")?,
        ip: o.child("ip", read_ip)?,
    })
}

#[inline(never)]
fn read_ip(o: Obj<'_>) -> Read<RawIp> {
    let o = o.known(&["allow", "block", "bypass"])?;
    Ok(RawIp {
        allow: o.list("allow")?,
        block: o.list("block")?,
        bypass: o.list("bypass")?,
    })
}

#[inline(never)]
fn read_oauth(o: Obj<'_>) -> Read<RawOAuth> {
    let o = o.known(&["whitelist", "autoRedirect", "providers"])?;
    Ok(RawOAuth {
        whitelist: o.list("whitelist")?,
        auto_redirect: o.string("autoRedirect")?,
        providers: o.map("providers", read_provider)?,
    })
}

#[expect(
    clippy::field_reassign_with_default,
    reason = "one assignment per field keeps the error paths small; see below"
)]
#[inline(never)]
fn read_provider(o: Obj<'_>) -> Read<RawProvider> {
    let o = o.known(&[
        "name",
        "clientId",
        "clientSecret",
        "authUrl",
        "tokenUrl",
        "userInfoUrl",
        "scopes",
        "whitelist",
        "tokenAuthMethod",
        "cluster",
        "authority",
        "timeoutMs",
        "issuer",
        "redirectUrl",
        "jwksUrl",
        "endSessionUrl",
        "verifyIdToken",
        "claimsFrom",
        "claims",
        "requireEmailVerified",
        "logoutAtProvider",
        "postLogoutRedirectUri",
        "clockSkewSeconds",
    ])?;
    // Fields are assigned one at a time: an error then drops one struct,
    // rather than the compiler emitting a drop path for every prefix of the
    // fields already read (which made this reader several KB larger).
    let mut provider = RawProvider::default();
    provider.name = o.string("name")?;
    provider.client_id = o.string("clientId")?;
    provider.client_secret = o.string("clientSecret")?;
    provider.auth_url = o.string("authUrl")?;
    provider.token_url = o.string("tokenUrl")?;
    provider.user_info_url = o.string("userInfoUrl")?;
    provider.scopes = o.list("scopes")?;
    provider.whitelist = o.list("whitelist")?;
    provider.token_auth_method = o.string("tokenAuthMethod")?;
    provider.cluster = o.string("cluster")?;
    provider.authority = o.string("authority")?;
    provider.timeout_ms = o.seconds("timeoutMs")?;
    provider.issuer = o.string("issuer")?;
    provider.redirect_url = o.string("redirectUrl")?;
    provider.jwks_url = o.string("jwksUrl")?;
    provider.end_session_url = o.string("endSessionUrl")?;
    provider.verify_id_token = o.flag("verifyIdToken")?;
    provider.claims_from = o.string("claimsFrom")?;
    provider.claims = o.child("claims", |o| {
        let o = o.known(&["username", "email", "name", "groups"])?;
        let mut claims = RawClaims::default();
        claims.username = o.string("username")?;
        claims.email = o.string("email")?;
        claims.name = o.string("name")?;
        claims.groups = o.string("groups")?;
        Ok(claims)
    })?;
    provider.require_email_verified = o.flag("requireEmailVerified")?;
    provider.logout_at_provider = o.flag("logoutAtProvider")?;
    provider.post_logout_redirect_uri = o.string("postLogoutRedirectUri")?;
    provider.clock_skew_seconds = o.seconds("clockSkewSeconds")?;
    Ok(provider)
}

#[inline(never)]
fn read_app(o: Obj<'_>) -> Read<RawApp> {
    let o = o.known(&["config", "oauth", "users", "path", "ip", "response"])?;
    Ok(RawApp {
        config: o.child("config", |o| {
            let o = o.known(&["domain"])?;
            Ok(RawAppConfig {
                domain: o.list("domain")?,
            })
        })?,
        oauth: o.child("oauth", |o| {
            let o = o.known(&["whitelist", "groups"])?;
            Ok(RawAppOAuth {
                whitelist: o.list("whitelist")?,
                groups: o.list("groups")?,
            })
        })?,
        users: o.child("users", |o| {
            let o = o.known(&["allow", "block"])?;
            Ok(RawUsers {
                allow: o.list("allow")?,
                block: o.list("block")?,
            })
        })?,
        path: o.child("path", |o| {
            let o = o.known(&["allow", "block"])?;
            Ok(RawPath {
                allow: o.string("allow")?,
                block: o.string("block")?,
            })
        })?,
        ip: o.child("ip", read_ip)?,
        response: o.child("response", |o| {
            let o = o.known(&["headers", "basicauth"])?;
            Ok(RawResponse {
                headers: o.list("headers")?,
                basicauth: o.child("basicauth", |o| {
                    let o = o.known(&["username", "password"])?;
                    Ok(RawBasicAuth {
                        username: o.string("username")?,
                        password: o.string("password")?,
                    })
                })?,
            })
        })?,
    })
}

/// A value being read, with its path for error messages.
struct Obj<'a> {
    value: &'a Json,
    path: String,
}

/// An object whose keys have been checked.
struct Fields<'a> {
    map: &'a Object,
    path: String,
}

impl<'a> Obj<'a> {
    /// Requires an object with only `known` keys.
    fn known(self, known: &[&str]) -> Read<Fields<'a>> {
        let Some(map) = self.value.as_object() else {
            return Err(self.invalid_type("a map"));
        };
        if let Some(unknown) = map.keys().find(|key| !known.contains(&key.as_str())) {
            let expected = known
                .iter()
                .map(|key| format!("`{key}`"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(RawError {
                path: join(&self.path, unknown),
                problem: format!("unknown field `{unknown}`, expected one of {expected}"),
            });
        }
        Ok(Fields {
            map,
            path: self.path,
        })
    }

    fn invalid_type(&self, expected: &str) -> RawError {
        self.error(format!(
            "invalid type: {}, expected {expected}",
            describe(self.value)
        ))
    }

    fn error(&self, problem: impl Into<String>) -> RawError {
        RawError {
            path: self.path.clone(),
            problem: problem.into(),
        }
    }
}

impl<'a> Fields<'a> {
    /// The field, unless it is absent or `null` (both mean "not set").
    fn field(&self, key: &str) -> Option<Obj<'a>> {
        self.map
            .get(key)
            .filter(|value| !value.is_null())
            .map(|value| Obj {
                value,
                path: join(&self.path, key),
            })
    }

    fn string(&self, key: &str) -> Read<Option<String>> {
        self.field(key)
            .map(|o| {
                o.value
                    .as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| o.invalid_type("a string"))
            })
            .transpose()
    }

    /// A Tinyauth list: a string or an array of strings.
    fn list(&self, key: &str) -> Read<Option<ListValue>> {
        self.field(key).map(|o| list_value(&o)).transpose()
    }

    fn seconds(&self, key: &str) -> Read<Option<Seconds>> {
        self.field(key).map(|o| seconds(&o)).transpose()
    }

    fn flag(&self, key: &str) -> Read<Option<Flag>> {
        self.field(key).map(|o| flag(&o)).transpose()
    }

    /// A nested section; absent means all defaults.
    fn child<T: Default>(&self, key: &str, read: impl FnOnce(Obj<'a>) -> Read<T>) -> Read<T> {
        self.field(key).map_or_else(|| Ok(T::default()), read)
    }

    /// An object of named entries (providers, apps, clusters).
    fn map<T>(&self, key: &str, read: impl Fn(Obj<'a>) -> Read<T>) -> Read<Named<T>> {
        let Some(o) = self.field(key) else {
            return Ok(Named::new());
        };
        let Some(entries) = o.value.as_object() else {
            return Err(o.invalid_type("a map"));
        };
        entries
            .iter()
            .map(|(name, value)| {
                let entry = Obj {
                    value,
                    path: join(&o.path, name),
                };
                Ok((name.clone(), read(entry)?))
            })
            .collect()
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// The value as serde describes an unexpected one, e.g. ``integer `5` ``.
fn describe(value: &Json) -> String {
    match value {
        Json::Null => "null".into(),
        Json::Bool(b) => format!("boolean `{b}`"),
        Json::Number(n) if n.is_float() => format!("floating point `{n}`"),
        Json::Number(n) => format!("integer `{n}`"),
        Json::String(s) => format!("string {s:?}"),
        Json::Array(_) => "sequence".into(),
        Json::Object(_) => "map".into(),
    }
}

fn list_value(o: &Obj<'_>) -> Read<ListValue> {
    const EXPECTED: &str = "a string or a list of strings";
    match o.value {
        Json::String(text) => Ok(ListValue::Text(text.clone())),
        Json::Array(items) => items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                item.as_str().map(str::to_owned).ok_or_else(|| RawError {
                    path: format!("{}[{index}]", o.path),
                    problem: format!("invalid type: {}, expected a string", describe(item)),
                })
            })
            .collect::<Read<Vec<String>>>()
            .map(ListValue::Items),
        _ => Err(o.invalid_type(EXPECTED)),
    }
}

/// Accepts JSON integers, integral floats (Istio's `pluginConfig` is a
/// protobuf `Struct`, whose numbers are doubles) and digit strings
/// (environment variables).
fn seconds(o: &Obj<'_>) -> Read<Seconds> {
    match o.value {
        Json::Number(n) => {
            // Integers are exact to u64::MAX; a whole number written as a
            // float (`3600.0`, `3.6e3`, `-0.0`, also `-0`) only where a
            // double still holds it exactly.
            if let Some(value) = n.as_u64() {
                Ok(Seconds(value))
            } else if let Some(value) = n.as_whole().filter(|v| *v < 9_000_000_000_000_000) {
                Ok(Seconds(value))
            } else if n.as_i64().is_some() {
                Err(o.error("must not be negative"))
            } else {
                Err(o.error("must be a non-negative whole number"))
            }
        }
        Json::String(text) => text
            .trim()
            .parse::<u64>()
            .map(Seconds)
            .map_err(|_| o.error(format!("`{text}` is not a non-negative whole number"))),
        _ => Err(o.invalid_type("a non-negative whole number")),
    }
}

/// A boolean; also accepts the strings `true`/`false` (environment variables).
fn flag(o: &Obj<'_>) -> Read<Flag> {
    match o.value {
        Json::Bool(value) => Ok(Flag(*value)),
        Json::String(text) => match text.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Flag(true)),
            "false" | "0" | "no" => Ok(Flag(false)),
            _ => Err(o.error(format!("`{text}` is not true or false"))),
        },
        _ => Err(o.invalid_type("true or false")),
    }
}

/// A Tinyauth list: one string (a comma list, or a `/regex/` for filters) or a
/// JSON array of strings (whose items may then contain commas).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ListValue {
    Text(String),
    Items(Vec<String>),
}

impl ListValue {
    /// The entries: a text is split on commas; array items are kept whole.
    /// Entries are trimmed and empty ones dropped.
    pub(crate) fn entries(&self) -> Vec<&str> {
        let raw: Vec<&str> = match self {
            Self::Text(text) => text.split(',').collect(),
            Self::Items(items) => items.iter().map(String::as_str).collect(),
        };
        raw.into_iter()
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .collect()
    }

    /// The filter text: a single array item is taken as is (it may be a
    /// regex), several are joined into a comma list.
    pub(crate) fn filter_text(&self) -> String {
        match self {
            Self::Text(text) => text.clone(),
            Self::Items(items) => items.join(","),
        }
    }
}

/// A non-negative whole number (see [`seconds`] for what is accepted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seconds(pub u64);

/// A boolean setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn read(value: &serde_json::Value) -> Read<RawConfig> {
        super::read(&Json::parse(value.to_string().as_bytes()).unwrap())
    }

    fn error(value: &serde_json::Value) -> RawError {
        read(value).unwrap_err()
    }

    #[test]
    fn nulls_mean_unset_and_istio_doubles_are_whole_numbers() {
        let raw = read(&json!({
            "appUrl": null,
            "auth": {"sessionExpiry": 3600.0, "secureCookie": "yes"},
            "clusters": {"id.example.com": "pocket_id"}
        }))
        .unwrap();
        assert_eq!(raw.app_url, None);
        assert_eq!(raw.auth.session_expiry, Some(Seconds(3600)));
        assert_eq!(raw.auth.secure_cookie, Some(Flag(true)));
        assert_eq!(raw.clusters.get("id.example.com").unwrap(), "pocket_id");
    }

    #[test]
    fn seconds_are_whole_numbers_in_any_notation() {
        let expiry = |literal: &str| {
            let text = format!(r#"{{"auth": {{"sessionExpiry": {literal}}}}}"#);
            let doc = Json::parse(text.as_bytes()).unwrap();
            super::read(&doc)
                .map(|raw| raw.auth.session_expiry.unwrap().0)
                .map_err(|err| err.problem)
        };
        let whole = "must be a non-negative whole number";
        for (literal, want) in [
            ("3600", Ok(3600)),
            ("3600.0", Ok(3600)),
            ("3.6e3", Ok(3600)),
            ("0", Ok(0)),
            ("-0", Ok(0)),
            ("-0.0", Ok(0)),
            ("18446744073709551615", Ok(u64::MAX)),
            ("8999999999999999.0", Ok(8_999_999_999_999_999)),
            ("-1", Err("must not be negative")),
            ("1.5", Err(whole)),
            ("-1.0", Err(whole)),
            ("9e15", Err(whole)),
            ("1e-400", Err(whole)),
            ("18446744073709551616", Err(whole)),
        ] {
            assert_eq!(expiry(literal), want.map_err(str::to_owned), "{literal}");
        }
    }

    #[test]
    fn errors_name_the_path_down_to_list_items() {
        let err = error(&json!({"oauth": {"whitelist": ["a@example.com", 7]}}));
        assert_eq!(err.path, "oauth.whitelist[1]");
        assert_eq!(err.problem, "invalid type: integer `7`, expected a string");

        let err = error(&json!({"clusters": {"id.example.com": 5}}));
        assert_eq!(err.path, "clusters.id.example.com");
        assert!(err.problem.contains("expected a string"), "{}", err.problem);

        let err = error(&json!({"apps": {"whoami": {"response": {"basicauth": {"user": "x"}}}}}));
        assert_eq!(err.path, "apps.whoami.response.basicauth.user");
        assert!(err
            .problem
            .starts_with("unknown field `user`, expected one of `username`, `password`"));

        let err = error(&json!({"auth": {"timeout": 1.5}}));
        assert_eq!(err.path, "auth.timeout");

        let err = error(&json!({"auth": {"sessionExpiry": 1.5}}));
        assert_eq!(
            (err.path.as_str(), err.problem.as_str()),
            ("auth.sessionExpiry", "must be a non-negative whole number")
        );

        let err = error(&json!({"auth": "none"}));
        assert_eq!(
            (err.path.as_str(), err.problem.as_str()),
            ("auth", "invalid type: string \"none\", expected a map")
        );

        let err = error(&json!(["not", "an", "object"]));
        assert_eq!(
            (err.path.as_str(), err.problem.as_str()),
            ("", "invalid type: sequence, expected a map")
        );
    }
}
