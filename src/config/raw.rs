//! The configuration as it arrives on the wire (JSON): serde types only, no checks
//! beyond shape. Key names follow Tinyauth v5's YAML names.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawConfig {
    pub app_url: Option<String>,
    pub secret: Option<String>,
    pub previous_secrets: Option<ListValue>,
    #[serde(default)]
    pub auth: RawAuth,
    #[serde(default)]
    pub oauth: RawOAuth,
    #[serde(default)]
    pub apps: BTreeMap<String, RawApp>,
    #[serde(default)]
    pub ui: RawUi,
    /// Filter-only: Envoy cluster for each `host[:port]` the filter calls.
    #[serde(default)]
    pub clusters: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAuth {
    pub session_expiry: Option<Seconds>,
    pub session_max_lifetime: Option<Seconds>,
    pub secure_cookie: Option<Flag>,
    pub subdomains_enabled: Option<Flag>,
    #[serde(default)]
    pub acls: RawAcls,
    pub trusted_proxies: Option<ListValue>,
    #[serde(default)]
    pub ip: RawIp,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAcls {
    /// `allow` (default) or `deny`: what happens when no rule decides.
    pub policy: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawIp {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
    pub bypass: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawOAuth {
    pub whitelist: Option<ListValue>,
    pub auto_redirect: Option<String>,
    #[serde(default)]
    pub providers: BTreeMap<String, RawProvider>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
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
    #[serde(default)]
    pub claims: RawClaims,
    pub require_email_verified: Option<Flag>,
    pub logout_at_provider: Option<Flag>,
    pub post_logout_redirect_uri: Option<String>,
    pub clock_skew_seconds: Option<Seconds>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawClaims {
    pub username: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
    pub groups: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawApp {
    #[serde(default)]
    pub config: RawAppConfig,
    #[serde(default)]
    pub oauth: RawAppOAuth,
    #[serde(default)]
    pub users: RawUsers,
    #[serde(default)]
    pub path: RawPath,
    #[serde(default)]
    pub ip: RawIp,
    #[serde(default)]
    pub response: RawResponse,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawUsers {
    pub allow: Option<ListValue>,
    pub block: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawPath {
    pub allow: Option<String>,
    pub block: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawResponse {
    pub headers: Option<ListValue>,
    #[serde(default)]
    pub basicauth: RawBasicAuth,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawBasicAuth {
    pub username: Option<String>,
    pub password: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAppConfig {
    pub domain: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawAppOAuth {
    pub whitelist: Option<ListValue>,
    pub groups: Option<ListValue>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct RawUi {
    pub title: Option<String>,
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
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ListValue, E> {
                Ok(ListValue::Text(value.to_owned()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ListValue, A::Error> {
                let mut items: Vec<String> = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(ListValue::Items(items))
            }
        }
        deserializer.deserialize_any(ListVisitor)
    }
}

/// A non-negative whole number; accepts JSON integers, integral floats (Istio's
/// `pluginConfig` is a protobuf `Struct`, whose numbers are doubles) and digit
/// strings (environment variables).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Seconds(pub u64);

impl<'de> Deserialize<'de> for Seconds {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct NumberVisitor;
        impl Visitor<'_> for NumberVisitor {
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
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<Seconds, E> {
                #[expect(
                    clippy::cast_possible_truncation,
                    clippy::cast_sign_loss,
                    reason = "range and integrality are checked first"
                )]
                if value.fract() == 0.0 && (0.0..9.0e15).contains(&value) {
                    Ok(Seconds(value as u64))
                } else {
                    Err(E::custom("must be a non-negative whole number"))
                }
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Seconds, E> {
                value
                    .trim()
                    .parse::<u64>()
                    .map(Seconds)
                    .map_err(|_| E::custom(format!("`{value}` is not a non-negative whole number")))
            }
        }
        deserializer.deserialize_any(NumberVisitor)
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
            fn visit_str<E: de::Error>(self, value: &str) -> Result<Flag, E> {
                match value.trim().to_ascii_lowercase().as_str() {
                    "true" | "1" | "yes" => Ok(Flag(true)),
                    "false" | "0" | "no" => Ok(Flag(false)),
                    _ => Err(E::custom(format!("`{value}` is not true or false"))),
                }
            }
        }
        deserializer.deserialize_any(FlagVisitor)
    }
}
