//! The filter's configuration: read from JSON, the VM environment and labels
//! (serde derive), and compiled once, at configure time, into the form every
//! request uses. Every problem is reported as one [`ConfigError`] naming the
//! field and where it was set, and stops the filter from loading.
//!
//! The compilers (in `compile`, `provider` and `app`) are marked
//! `#[inline(never)]` where the optimiser would otherwise merge them into a few
//! 10–17 KB functions. This code runs once per VM, but Envoy has V8 compile
//! every function with its optimising compiler when the module loads, and
//! Envoy's allocator keeps the compiler's peak memory.

mod app;
mod compile;
pub mod filter;
mod provider;
mod raw;
mod shape;
mod sources;
mod suggest;

use std::collections::BTreeMap;
use std::fmt;

use crate::http::ip::IpList;
use crate::http::respond::Site;
use crate::http::url::HttpUrl;
use crate::secret::Secret;
use crate::session::crypto::Key;
use crate::session::refresh_token::TokenKey;

pub use filter::{Case, Filter, Pattern};
use raw::RawConfig;

/// Minimum length of `secret`, in bytes: the MAC keys are derived from it.
pub const MIN_SECRET_BYTES: usize = 32;
/// How long a login may take between leaving for the provider and coming back.
pub const FLOW_TTL_SECONDS: u64 = 600;

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    /// An error about `field`; an empty field (a member of the top level
    /// with an empty name) is reported as the whole configuration.
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        let field = field.into();
        Self {
            field: if field.is_empty() {
                "configuration".to_owned()
            } else {
                field
            },
            problem: problem.into(),
        }
    }
}

/// `text` with its control characters and line separators escaped (`\n`,
/// `\u{2028}`), so an error that
/// quotes the configuration stays one log line.
fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    // Unicode's line and paragraph separators end a line in some log viewers.
    let breaks = |c: char| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}');
    if text.contains(breaks) {
        text.chars()
            .map(|c| {
                if breaks(c) {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    } else {
        std::borrow::Cow::Borrowed(text)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", one_line(&self.field), one_line(&self.problem))
    }
}

impl std::error::Error for ConfigError {}

/// How the filter authenticates to the token endpoint (RFC 6749 §2.3,
/// OIDC Core §9).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    ClientSecretBasic,
    ClientSecretPost,
    /// Public client: PKCE only.
    None,
}

/// An endpoint the filter calls through Envoy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    pub url: HttpUrl,
    pub cluster: String,
    pub authority: String,
}

/// Where the user's claims come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimsSource {
    /// The userinfo endpoint (Tinyauth's way); its `sub` must equal the ID
    /// token's when the ID token is verified.
    UserInfo,
    /// The verified ID token; the userinfo call is skipped.
    IdToken,
}

/// Which claim holds each piece of the identity (Tinyauth's `claims.*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimNames {
    pub username: String,
    pub email: String,
    pub name: String,
    pub groups: String,
}

impl Default for ClaimNames {
    fn default() -> Self {
        Self {
            username: "preferred_username".into(),
            email: "email".into(),
            name: "name".into(),
            groups: "groups".into(),
        }
    }
}

/// One OAuth/OIDC provider, as configured. Endpoints not configured here come
/// from discovery at run time (`oidc::discovery`).
#[derive(Debug, Clone)]
pub struct Provider {
    pub id: String,
    pub name: String,
    pub client_id: String,
    pub client_secret: Option<Secret>,
    pub auth_method: TokenAuthMethod,
    /// The configured issuer (no trailing slash), if any.
    pub issuer: Option<String>,
    /// The discovery document to fetch, when configuration leaves anything open.
    pub discovery: Option<Endpoint>,
    pub authorize_url: Option<HttpUrl>,
    pub token: Option<Endpoint>,
    pub userinfo: Option<Endpoint>,
    pub jwks: Option<Endpoint>,
    pub end_session_url: Option<HttpUrl>,
    /// RFC 7009 revocation; a logout revokes the session's refresh token.
    pub revocation: Option<Endpoint>,
    /// Space-separated, as sent in the authorization request.
    pub scopes: String,
    /// `<appUrl>/api/oauth/callback/<id>`.
    pub redirect_uri: String,
    /// The provider's own email whitelist; when empty the global one applies.
    pub whitelist: Filter,
    pub timeout_ms: u64,
    pub verify_id_token: bool,
    pub claims_from: ClaimsSource,
    pub claim_names: ClaimNames,
    pub require_email_verified: bool,
    pub logout_at_provider: bool,
    pub post_logout_redirect_uri: String,
    pub clock_skew: u64,
    cluster: Option<String>,
    authority: Option<String>,
}

impl Provider {
    /// The issuer ID tokens and discovery must name: the configured one, else
    /// the origin of the authorization URL (Pocket ID's issuer is its base URL).
    pub fn expected_issuer(&self) -> String {
        self.issuer.clone().unwrap_or_else(|| {
            self.authorize_url
                .as_ref()
                .map(|url| url.origin().to_owned())
                .unwrap_or_default()
        })
    }

    pub fn needs_userinfo(&self) -> bool {
        self.claims_from == ClaimsSource::UserInfo
    }
}

/// One protected app.
#[derive(Debug, Clone)]
pub struct App {
    /// Lower-case name; matched against the first label of the host.
    pub name: String,
    /// Lower-case exact hosts (without port) from `config.domain`.
    pub domains: Vec<String>,
    /// `oauth.groups`: the user needs at least one matching group.
    pub groups: Filter,
    /// `oauth.whitelist`: emails allowed into this app.
    pub whitelist: Filter,
    /// `users.allow`: usernames allowed into this app.
    pub users_allow: Filter,
    /// `users.block`: usernames refused; when set, it alone decides.
    pub users_block: Filter,
    /// `path.allow`: paths matching it need no login (unanchored regex).
    pub path_allow: Option<Pattern>,
    /// `path.block`: only paths matching it need a login (unanchored regex,
    /// any letter case).
    pub path_block: Option<Pattern>,
    pub ip: IpRules,
    /// `response.headers`: extra headers for the upstream (lower-case names).
    pub headers: HeaderList,
    /// `response.basicauth`: the whole `Authorization` value for the upstream.
    pub basic_auth: Option<Secret>,
}

/// `(name, value)` header pairs.
pub type HeaderList = Vec<(String, String)>;

/// All apps, indexed for lookup by domain and by name (binary search: a few
/// string comparisons even for hundreds of apps).
#[derive(Debug, Clone, Default)]
pub struct Apps {
    pub list: Vec<App>,
    pub by_domain: BTreeMap<String, usize>,
    pub by_name: BTreeMap<String, usize>,
}

/// What happens when no rule decides (`auth.acls.policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Allow,
    Deny,
}

/// IP lists of one scope (global or an app).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpRules {
    pub allow: IpList,
    pub block: IpList,
    pub bypass: IpList,
}

impl IpRules {
    pub fn is_empty(&self) -> bool {
        self.allow.is_empty() && self.block.is_empty() && self.bypass.is_empty()
    }
}

/// Signing keys derived from `secret` (first) and `previousSecrets`.
#[derive(Debug, Clone)]
pub struct Keys {
    pub session: Vec<Key>,
    pub flow: Vec<Key>,
    /// Encrypt the refresh token inside the session cookie.
    pub refresh_token: Vec<TokenKey>,
}

/// How often a session's identity is re-checked with the provider
/// (`auth.refreshInterval`, 0 = never) and how long it outlives a re-check
/// that could not reach the provider (`auth.refreshGrace`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshPolicy {
    pub interval: u64,
    pub grace: u64,
}

/// Sessions ended by configuration, applied on every request: those that
/// logged in before `auth.sessionsNotBefore`, and a user's that logged in
/// before their `auth.revokedUsers` time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Revocations {
    pub not_before: u64,
    /// Lower-cased username or email → time.
    pub users: BTreeMap<String, u64>,
}

impl Revocations {
    /// Whether a session of `username`/`email` that logged in at `logged_in_at`
    /// is ended by configuration.
    pub fn ends(&self, logged_in_at: u64, username: &str, email: Option<&str>) -> bool {
        if logged_in_at < self.not_before {
            return true;
        }
        if self.users.is_empty() {
            return false;
        }
        let revoked_at = |name: &str| self.users.get(&name.to_lowercase()).copied();
        [Some(username), email]
            .into_iter()
            .flatten()
            .filter_map(revoked_at)
            .any(|at| logged_in_at < at)
    }
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the filter serves its pages and how it sets its cookies.
    pub site: Site,
    pub keys: Keys,
    pub session_expiry: u64,
    /// `0` means no absolute limit.
    pub session_max_lifetime: u64,
    pub refresh: RefreshPolicy,
    pub revocations: Revocations,
    pub policy: Policy,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: IpList,
    /// Global IP lists (`auth.ip`), merged with each app's.
    pub ip: IpRules,
    /// Whether any IP rule exists, so the shell reads the peer address only
    /// when it matters.
    pub uses_client_ip: bool,
    pub providers: Vec<Provider>,
    pub auto_redirect: Option<usize>,
    pub whitelist: Filter,
    pub apps: Apps,
    /// Recognised settings that have no effect (logged once at configure).
    pub notes: Vec<String>,
    /// Settings that work but may not mean what the operator expects (logged
    /// once at configure, as warnings).
    pub warnings: Vec<String>,
    clusters: BTreeMap<String, String>,
}

impl Config {
    /// Parses and compiles a JSON configuration.
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        Self::from_sources(json, &[])
    }

    /// Parses the JSON configuration (which may be empty), merges the VM
    /// environment and any labels into it, and compiles the result.
    pub fn from_sources(json: &[u8], env: &[(String, String)]) -> Result<Self, ConfigError> {
        let value = if json.trim_ascii().is_empty() {
            serde_json::Value::Object(serde_json::Map::new())
        } else {
            crate::document::parse(json).map_err(|err| {
                ConfigError::new("configuration", format!("is not valid JSON: {err}"))
            })?
        };
        let merged = sources::merge(value, env)?;
        let with_source = |mut err: ConfigError| {
            if let Some(source) = merged.provenance.get(&err.field) {
                err.problem = format!("{} (set by {source})", err.problem);
            }
            err
        };
        shape::check(&merged.value).map_err(with_source)?;
        let raw: RawConfig = serde_path_to_error::deserialize(&merged.value).map_err(|err| {
            let field = match err.path().to_string() {
                root if root == "." => "configuration".to_owned(),
                path => path,
            };
            with_source(ConfigError::new(field, err.into_inner().to_string()))
        })?;
        let mut config = compile::compile(raw).map_err(with_source)?;
        config.notes = merged.notes;
        config.warnings = compile::warnings(&config)
            .into_iter()
            .map(|(field, problem)| with_source(ConfigError::new(field, problem)).to_string())
            .collect();
        Ok(config)
    }

    /// Where to send a call to `url` for `provider` (used for discovered URLs).
    pub fn endpoint_for(&self, url: HttpUrl, provider: &Provider) -> Endpoint {
        provider::endpoint_for(&self.clusters, provider, url)
    }

    pub fn provider_index(&self, id: &str) -> Option<usize> {
        self.providers.iter().position(|p| p.id == id)
    }

    pub fn provider(&self, id: &str) -> Option<&Provider> {
        self.providers.iter().find(|p| p.id == id)
    }

    /// The email whitelist that applies to logins through `provider`.
    pub fn whitelist_for<'a>(&'a self, provider: &'a Provider) -> &'a Filter {
        if provider.whitelist.is_empty() {
            &self.whitelist
        } else {
            &provider.whitelist
        }
    }
}

#[cfg(test)]
mod tests;
