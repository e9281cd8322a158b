//! The configuration as it arrives (one JSON value, after the environment and
//! labels are merged in), read with serde derive: shape checks only. Key names
//! follow Tinyauth v5's YAML names; unknown keys are refused, and
//! `serde_path_to_error` names the field of any error
//! (`oauth.providers.generic.clientId`). An absent key and `null` both mean
//! "not set".

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a map"
)]
pub(crate) struct RawConfig {
    pub app_url: Option<String>,
    pub secret: Option<String>,
    pub previous_secrets: Option<ListValue>,
    #[serde(deserialize_with = "section")]
    pub auth: RawAuth,
    #[serde(deserialize_with = "section")]
    pub oauth: RawOAuth,
    #[serde(deserialize_with = "section")]
    pub apps: BTreeMap<String, RawApp>,
    #[serde(deserialize_with = "section")]
    pub ui: RawUi,
    /// Filter-only: Envoy cluster for each `host[:port]` the filter calls.
    #[serde(deserialize_with = "section")]
    pub clusters: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a map"
)]
pub(crate) struct RawAuth {
    pub session_expiry: Option<Seconds>,
    pub session_max_lifetime: Option<Seconds>,
    pub secure_cookie: Option<Flag>,
    pub subdomains_enabled: Option<Flag>,
    #[serde(deserialize_with = "section")]
    pub acls: RawAcls,
    pub trusted_proxies: Option<ListValue>,
    #[serde(deserialize_with = "section")]
    pub ip: RawIp,
    /// Seconds between re-checks of a session's identity with the provider.
    pub refresh_interval: Option<Seconds>,
    /// How long a session outlives a failed re-check (provider unreachable).
    pub refresh_grace: Option<Seconds>,
    pub sessions_not_before: Option<Timestamp>,
    /// Username or email → sessions that logged in before it are refused.
    #[serde(deserialize_with = "section")]
    pub revoked_users: BTreeMap<String, Timestamp>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawAcls {
    /// `allow` (default) or `deny`: what happens when no rule decides.
    pub policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawIp {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
    pub bypass: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a map"
)]
pub(crate) struct RawOAuth {
    pub whitelist: Option<ListValue>,
    pub auto_redirect: Option<String>,
    #[serde(deserialize_with = "section")]
    pub providers: BTreeMap<String, RawProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    default,
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a map"
)]
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
    /// RFC 7009 token revocation (default: discovery's `revocation_endpoint`).
    pub revocation_url: Option<String>,
    pub verify_id_token: Option<Flag>,
    /// `userinfo` (default) or `idToken`.
    pub claims_from: Option<String>,
    #[serde(deserialize_with = "section")]
    pub claims: RawClaims,
    pub require_email_verified: Option<Flag>,
    pub logout_at_provider: Option<Flag>,
    pub post_logout_redirect_uri: Option<String>,
    pub clock_skew_seconds: Option<Seconds>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawClaims {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawApp {
    #[serde(deserialize_with = "section")]
    pub config: RawAppConfig,
    #[serde(deserialize_with = "section")]
    pub oauth: RawAppOAuth,
    #[serde(deserialize_with = "section")]
    pub users: RawUsers,
    #[serde(deserialize_with = "section")]
    pub path: RawPath,
    #[serde(deserialize_with = "section")]
    pub ip: RawIp,
    #[serde(deserialize_with = "section")]
    pub response: RawResponse,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawUsers {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawPath {
    pub allow: Option<String>,
    pub block: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawResponse {
    pub headers: Option<ListValue>,
    #[serde(deserialize_with = "section")]
    pub basicauth: RawBasicAuth,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawAppConfig {
    pub domain: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawAppOAuth {
    pub whitelist: Option<ListValue>,
    pub groups: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields, expecting = "a map")]
pub(crate) struct RawUi {
    pub title: Option<String>,
    #[serde(rename = "backgroundImage")]
    pub background_image: Option<String>,
    pub logo: Option<String>,
}

/// A nested section or map: `null` means "not set", like an absent key.
fn section<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
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

impl<'de> Deserialize<'de> for ListValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> Visitor<'de> for ListVisitor {
            type Value = ListValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<ListValue, E> {
                Ok(ListValue::Text(text.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListValue, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(ListValue::Items(items))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// A non-negative whole number. Accepts JSON integers, whole numbers written
/// as floats (Istio's `pluginConfig` is a protobuf `Struct`, whose numbers are
/// doubles) and digit strings (environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seconds(pub u64);

/// Doubles hold whole numbers exactly only up to 2⁵³; stay well below.
const LARGEST_WHOLE_DOUBLE: f64 = 9_000_000_000_000_000.0;

struct SecondsVisitor;

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(SecondsVisitor)
    }
}

impl Visitor<'_> for SecondsVisitor {
    type Value = Seconds;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative whole number")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Seconds, E> {
        Ok(Seconds(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Seconds, E> {
        u64::try_from(value)
            .map(Seconds)
            .map_err(|_| E::custom("must not be negative"))
    }

    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "the value is checked to be a whole number in 0..2⁵³ first"
    )]
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Seconds, E> {
        if value.fract() == 0.0 && (0.0..LARGEST_WHOLE_DOUBLE).contains(&value) {
            Ok(Seconds(value as u64))
        } else {
            Err(E::custom("must be a non-negative whole number"))
        }
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Seconds, E> {
        text.trim()
            .parse::<u64>()
            .map(Seconds)
            .map_err(|_| E::custom(format!("`{text}` is not a non-negative whole number")))
    }
}

/// A point in time: Unix seconds (a number or digits) or an RFC 3339 time
/// (`2026-12-07T10:00:00Z`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Timestamp(pub u64);

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TimestampVisitor;
        impl Visitor<'_> for TimestampVisitor {
            type Value = Timestamp;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("Unix seconds or an RFC 3339 time such as 2026-12-07T10:00:00Z")
            }

            fn visit_u64<E: de::Error>(self, value: u64) -> Result<Timestamp, E> {
                Ok(Timestamp(value))
            }

            fn visit_i64<E: de::Error>(self, value: i64) -> Result<Timestamp, E> {
                SecondsVisitor.visit_i64(value).map(|s| Timestamp(s.0))
            }

            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Timestamp, E> {
                SecondsVisitor.visit_f64(value).map(|s| Timestamp(s.0))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Timestamp, E> {
                let text = text.trim();
                if let Ok(seconds) = text.parse::<u64>() {
                    return Ok(Timestamp(seconds));
                }
                humantime::parse_rfc3339_weak(text)
                    .ok()
                    .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                    .map(|since| Timestamp(since.as_secs()))
                    .ok_or_else(|| {
                        E::custom(format!(
                            "`{text}` is neither Unix seconds nor an RFC 3339 time (2026-12-07T10:00:00Z)"
                        ))
                    })
            }
        }
        deserializer.deserialize_any(TimestampVisitor)
    }
}

/// A boolean; also accepts the strings `true`/`false` (environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Flag(pub bool);

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FlagVisitor;
        impl Visitor<'_> for FlagVisitor {
            type Value = Flag;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true or false")
            }

            fn visit_bool<E: de::Error>(self, value: bool) -> Result<Flag, E> {
                Ok(Flag(value))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Flag, E> {
                match text.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(Flag(true)),
                    "false" | "0" | "no" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("`{text}` is not true or false"))),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;

    fn read(value: &Value) -> Result<RawConfig, (String, String)> {
        serde_path_to_error::deserialize(value.clone())
            .map_err(|err| (err.path().to_string(), err.inner().to_string()))
    }

    fn error(value: &Value) -> (String, String) {
        read(value).unwrap_err()
    }

    #[test]
    fn nulls_mean_unset_and_istio_doubles_are_whole_numbers() {
        let raw = read(&json!({
            "appUrl": null,
            "auth": {"sessionExpiry": 3600.0, "secureCookie": "yes", "acls": null},
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
            let doc: Value = serde_json::from_str(&text).unwrap();
            read(&doc)
                .map(|raw| raw.auth.session_expiry.unwrap().0)
                .map_err(|(_, problem)| problem)
        };
        let whole = "must be a non-negative whole number";
        for (literal, want) in [
            ("3600", Ok(3600)),
            ("3600.0", Ok(3600)),
            ("3.6e3", Ok(3600)),
            ("0", Ok(0)),
            ("-0", Ok(0)),
            ("-0.0", Ok(0)),
            ("\" 3600 \"", Ok(3600)),
            ("18446744073709551615", Ok(u64::MAX)),
            ("86400.0", Ok(86_400)),
            ("1e6", Ok(1_000_000)),
            ("-1", Err("must not be negative")),
            ("1.5", Err(whole)),
            ("-1.0", Err(whole)),
            ("9e15", Err(whole)),
            ("18446744073709551616", Err(whole)),
            ("\"1h\"", Err("`1h` is not a non-negative whole number")),
        ] {
            assert_eq!(expiry(literal), want.map_err(str::to_owned), "{literal}");
        }
    }

    #[test]
    fn errors_name_the_path_down_to_list_items() {
        let (path, problem) = error(&json!({"oauth": {"whitelist": ["a@example.com", 7]}}));
        assert_eq!(path, "oauth.whitelist[1]");
        assert_eq!(problem, "invalid type: integer `7`, expected a string");

        let (path, problem) = error(&json!({"clusters": {"id.example.com": 5}}));
        assert_eq!(path, "clusters.id.example.com");
        assert!(problem.contains("expected a string"), "{problem}");

        let (path, problem) =
            error(&json!({"apps": {"whoami": {"response": {"basicauth": {"user": "x"}}}}}));
        assert_eq!(path, "apps.whoami.response.basicauth.user");
        assert!(
            problem.starts_with("unknown field `user`, expected `username` or `password`"),
            "{problem}"
        );

        let (path, _) = error(&json!({"auth": {"timeout": 1.5}}));
        assert_eq!(path, "auth.timeout");

        let (path, problem) = error(&json!({"auth": {"sessionExpiry": 1.5}}));
        assert_eq!(
            (path.as_str(), problem.as_str()),
            ("auth.sessionExpiry", "must be a non-negative whole number")
        );

        let (path, problem) = error(&json!({"auth": "none"}));
        assert_eq!(
            (path.as_str(), problem.as_str()),
            ("auth", "invalid type: string \"none\", expected a map")
        );

        let (path, problem) = error(&json!({"auth": {"secureCookie": "maybe"}}));
        assert_eq!(
            (path.as_str(), problem.as_str()),
            ("auth.secureCookie", "`maybe` is not true or false")
        );
    }
}
