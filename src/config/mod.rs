//! The filter's configuration: parsed from JSON and compiled once, at configure
//! time, into the form every request uses. Every problem is reported as one
//! [`ConfigError`] naming the field, and stops the filter from loading.
//!
//! The readers and compilers here (and in `raw` and `sources`) are marked
//! `#[inline(never)]` where the optimiser would otherwise merge them into a few
//! 10–17 KB functions. This code runs once per VM, but Envoy has V8 compile
//! every function with its optimising compiler when the module loads, and Envoy's allocator
//! keeps the compiler's peak memory: splitting the largest functions lowered
//! Envoy's RSS by about 1.5 MiB (7 paired launches) for 0.7 KB of module.

mod named;
mod raw;
mod sources;

use std::fmt;

use crate::regex::Regex;

use base64::Engine as _;

use crate::crypto::{sha256, Key};
use crate::filter::{Case, Filter};
use crate::ip::IpList;
use crate::json::Json;
use crate::request::is_identity_header;
use crate::secret::Secret;
use crate::url::{normalize_host, HttpUrl};

pub use named::Named;
use raw::{ListValue, RawApp, RawConfig, RawProvider};

/// Minimum length of `secret`, in bytes: the MAC keys are derived from it.
pub const MIN_SECRET_BYTES: usize = 32;
/// How long a login may take between leaving for the provider and coming back.
pub const FLOW_TTL_SECONDS: u64 = 600;
/// Provider IDs Tinyauth reserves for its own login methods.
const RESERVED_PROVIDER_IDS: [&str; 3] = ["local", "ldap", "tailscale"];
const DEFAULT_SCOPES: &str = "openid email profile groups";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_CLOCK_SKEW: u64 = 60;

/// A configuration problem: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub field: String,
    pub problem: String,
}

impl ConfigError {
    pub(crate) fn new(field: impl Into<String>, problem: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.problem)
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
/// from discovery at run time (see [`crate::discovery`]).
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
                .map(HttpUrl::origin)
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
    pub path_allow: Option<Regex>,
    /// `path.block`: only paths matching it need a login (unanchored regex).
    pub path_block: Option<Regex>,
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
    pub by_domain: Named<usize>,
    pub by_name: Named<usize>,
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

/// Cookie names and attributes.
#[derive(Debug, Clone)]
pub struct Cookies {
    pub session_name: String,
    /// Host-only cookie on the auth host (path `/logout`) keeping the ID token
    /// for RP-initiated logout.
    pub id_token_name: String,
    /// Each login flow's cookie is this prefix plus a flow id.
    pub flow_prefix: String,
    /// `None` means host-only cookies on the auth host.
    pub domain: Option<String>,
    pub secure: bool,
}

/// Signing keys derived from `secret` (first) and `previousSecrets`.
#[derive(Debug, Clone)]
pub struct Keys {
    pub session: Vec<Key>,
    pub flow: Vec<Key>,
}

/// The compiled configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub app_url: HttpUrl,
    /// The host the browser must be on for the session cookie to be sent: the
    /// `appUrl` host minus its first label (or the host itself).
    pub cookie_scope: String,
    pub cookies: Cookies,
    pub keys: Keys,
    pub session_expiry: u64,
    /// `0` means no absolute limit.
    pub session_max_lifetime: u64,
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
    pub title: String,
    /// Recognised settings that have no effect (logged once at configure).
    pub notes: Vec<String>,
    clusters: Named<String>,
}

impl Config {
    /// Parses and compiles a JSON configuration.
    pub fn from_json(json: &[u8]) -> Result<Self, ConfigError> {
        Self::from_sources(json, &[])
    }

    /// Parses the JSON configuration (which may be empty), merges the VM
    /// environment and any labels into it, and compiles the result.
    pub fn from_sources(json: &[u8], env: &[(String, String)]) -> Result<Self, ConfigError> {
        let text = std::str::from_utf8(json)
            .map_err(|_| ConfigError::new("configuration", "is not UTF-8"))?;
        let value = if text.trim().is_empty() {
            Json::Object(crate::json::Object::new())
        } else {
            Json::parse(text.as_bytes()).map_err(|err| {
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
        let raw: RawConfig = raw::read(&merged.value).map_err(|err| {
            let field = if err.path.is_empty() {
                "configuration".into()
            } else {
                err.path
            };
            with_source(ConfigError::new(field, err.problem))
        })?;
        let mut config = compile(raw).map_err(with_source)?;
        config.notes = merged.notes;
        Ok(config)
    }

    /// Where to send a call to `url` for `provider` (used for discovered URLs).
    pub fn endpoint_for(&self, url: HttpUrl, provider: &Provider) -> Endpoint {
        endpoint_for(&self.clusters, provider, url)
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

#[inline(never)]
fn compile(raw: RawConfig) -> Result<Config, ConfigError> {
    let app_url = compile_app_url(raw.app_url.as_deref())?;
    let keys = compile_keys(raw.secret.as_deref(), raw.previous_secrets.as_ref())?;
    let (cookie_scope, cookies) = compile_cookies(&raw.auth, &app_url);

    let session_expiry = raw.auth.session_expiry.map_or(86_400, |s| s.0);
    if session_expiry == 0 {
        return Err(ConfigError::new(
            "auth.sessionExpiry",
            "must be at least 1 second",
        ));
    }
    let session_max_lifetime = raw.auth.session_max_lifetime.map_or(0, |s| s.0);
    if session_max_lifetime != 0 && session_max_lifetime < session_expiry {
        return Err(ConfigError::new(
            "auth.sessionMaxLifetime",
            format!("must be 0 (off) or at least auth.sessionExpiry ({session_expiry})"),
        ));
    }
    let policy = match raw.auth.acls.policy.as_deref().map(str::trim) {
        None | Some("" | "allow") => Policy::Allow,
        Some("deny") => Policy::Deny,
        Some(other) => {
            return Err(ConfigError::new(
                "auth.acls.policy",
                format!("`{other}` is not allow or deny"),
            ))
        }
    };
    let trusted_proxies = compile_ips("auth.trustedProxies", raw.auth.trusted_proxies.as_ref())?;
    let ip = compile_ip_rules("auth.ip", &raw.auth.ip)?;

    let whitelist = compile_filter(
        "oauth.whitelist",
        raw.oauth.whitelist.as_ref(),
        Case::Insensitive,
    )?;
    let mut providers = Vec::new();
    for (id, provider) in &raw.oauth.providers {
        providers.push(compile_provider(id, provider, &app_url, &raw.clusters)?);
    }
    if providers.is_empty() {
        return Err(ConfigError::new(
            "oauth.providers",
            "at least one provider is required (e.g. oauth.providers.generic for Pocket ID)",
        ));
    }
    let auto_redirect = match raw.oauth.auto_redirect.as_deref().map(str::trim) {
        None | Some("" | "none") => None,
        Some(id) => Some(providers.iter().position(|p| p.id == id).ok_or_else(|| {
            ConfigError::new(
                "oauth.autoRedirect",
                format!("`{id}` is not a configured provider"),
            )
        })?),
    };

    let apps = compile_apps(&raw.apps)?;
    let uses_client_ip = !ip.is_empty() || apps.list.iter().any(|app| !app.ip.is_empty());
    Ok(Config {
        app_url,
        cookie_scope,
        cookies,
        keys,
        session_expiry,
        session_max_lifetime,
        policy,
        trusted_proxies,
        ip,
        uses_client_ip,
        providers,
        auto_redirect,
        whitelist,
        apps,
        title: raw.ui.title.unwrap_or_else(|| "Tinyauth".into()),
        clusters: raw.clusters,
        notes: Vec::new(),
    })
}

/// Cookie names and attributes, and the host suffix the cookie covers. With
/// subdomains enabled (the default) the cookie is set on the `appUrl` host minus
/// its first label, as Tinyauth does; otherwise it is host-only.
#[inline(never)]
fn compile_cookies(auth: &raw::RawAuth, app_url: &HttpUrl) -> (String, Cookies) {
    let subdomains = auth.subdomains_enabled.is_none_or(|f| f.0);
    let host = app_url.host();
    let (scope, domain) = if !subdomains {
        (host.to_owned(), None)
    } else if host.split('.').count() >= 3 {
        let parent = host.split_once('.').map_or(host, |(_, rest)| rest);
        (parent.to_owned(), Some(parent.to_owned()))
    } else {
        (host.to_owned(), Some(host.to_owned()))
    };
    // A per-instance suffix keeps two deployments on nested domains from
    // overwriting each other's cookies (Tinyauth issue #155).
    let [a, b, c, d, ..] = sha256(host.as_bytes());
    let instance = format!("{:08x}", u32::from_be_bytes([a, b, c, d]));
    let secure = auth
        .secure_cookie
        .map_or(app_url.scheme() == crate::url::Scheme::Https, |f| f.0);
    let cookies = Cookies {
        session_name: format!("tinyauth-session-{instance}"),
        id_token_name: format!("tinyauth-idt-{instance}"),
        flow_prefix: format!("tinyauth-flow-{instance}-"),
        domain,
        secure,
    };
    (scope, cookies)
}

fn compile_ips(field: &str, raw: Option<&ListValue>) -> Result<IpList, ConfigError> {
    let text = raw.map(|list| list.entries().join(",")).unwrap_or_default();
    IpList::parse(&text).map_err(|problem| ConfigError::new(field, problem))
}

#[inline(never)]
fn compile_ip_rules(prefix: &str, raw: &raw::RawIp) -> Result<IpRules, ConfigError> {
    Ok(IpRules {
        allow: compile_ips(&format!("{prefix}.allow"), raw.allow.as_ref())?,
        block: compile_ips(&format!("{prefix}.block"), raw.block.as_ref())?,
        bypass: compile_ips(&format!("{prefix}.bypass"), raw.bypass.as_ref())?,
    })
}

#[inline(never)]
fn compile_apps(raw: &Named<RawApp>) -> Result<Apps, ConfigError> {
    let mut apps = Apps::default();
    for (name, app) in raw {
        let app = compile_app(name, app)?;
        let index = apps.list.len();
        if apps.by_name.insert(app.name.clone(), index).is_some() {
            return Err(ConfigError::new(
                format!("apps.{}", app.name),
                "is defined twice (app names are case-insensitive)",
            ));
        }
        for domain in &app.domains {
            if let Some(other) = apps.by_domain.insert(domain.clone(), index) {
                let other = apps.list.get(other).map_or("", |a| a.name.as_str());
                return Err(ConfigError::new(
                    format!("apps.{}.config.domain", app.name),
                    format!("`{domain}` is already the domain of app `{other}`"),
                ));
            }
        }
        apps.list.push(app);
    }
    Ok(apps)
}

#[inline(never)]
fn compile_app_url(raw: Option<&str>) -> Result<HttpUrl, ConfigError> {
    const FIELD: &str = "appUrl";
    let raw = raw
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            ConfigError::new(FIELD, "is required (e.g. https://tinyauth.example.com)")
        })?;
    let url =
        HttpUrl::parse(raw).map_err(|err| ConfigError::new(FIELD, format!("`{raw}` {err}")))?;
    if url.host_is_ip() {
        return Err(ConfigError::new(
            FIELD,
            "must use a domain name, not an IP address (cookies are scoped to the domain)",
        ));
    }
    if url.host().split('.').count() < 2 {
        return Err(ConfigError::new(
            FIELD,
            "needs a host with at least two labels (e.g. tinyauth.example.com)",
        ));
    }
    if url.path_and_query() != "/" {
        return Err(ConfigError::new(
            FIELD,
            "must not have a path or query: the filter serves its pages at the root of this host",
        ));
    }
    Ok(url)
}

#[inline(never)]
fn compile_keys(secret: Option<&str>, previous: Option<&ListValue>) -> Result<Keys, ConfigError> {
    let secret = secret.ok_or_else(|| {
        ConfigError::new(
            "secret",
            format!("is required: at least {MIN_SECRET_BYTES} random bytes that sign sessions"),
        )
    })?;
    check_secret("secret", secret)?;
    let mut secrets = vec![secret.to_owned()];
    if let Some(previous) = previous {
        for (i, old) in previous.entries().into_iter().enumerate() {
            check_secret(&format!("previousSecrets[{i}]"), old)?;
            secrets.push(old.to_owned());
        }
    }
    Ok(Keys {
        session: secrets
            .iter()
            .map(|s| Key::derive(s.as_bytes(), "session"))
            .collect(),
        flow: secrets
            .iter()
            .map(|s| Key::derive(s.as_bytes(), "login-flow"))
            .collect(),
    })
}

fn check_secret(field: &str, secret: &str) -> Result<(), ConfigError> {
    if secret.len() < MIN_SECRET_BYTES {
        return Err(ConfigError::new(
            field,
            format!(
                "is too short ({} bytes); use at least {MIN_SECRET_BYTES} random bytes, e.g. `openssl rand -base64 48`",
                secret.len()
            ),
        ));
    }
    Ok(())
}

#[inline(never)]
fn compile_filter(field: &str, raw: Option<&ListValue>, case: Case) -> Result<Filter, ConfigError> {
    Filter::parse(&raw.map(ListValue::filter_text).unwrap_or_default(), case)
        .map_err(|err| ConfigError::new(field, err.to_string()))
}

#[inline(never)]
fn compile_provider(
    id: &str,
    raw: &RawProvider,
    app_url: &HttpUrl,
    clusters: &Named<String>,
) -> Result<Provider, ConfigError> {
    let field = |name: &str| format!("oauth.providers.{id}.{name}");
    check_provider_id(id)?;
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let url = |value: &Option<String>, name: &str| -> Result<Option<HttpUrl>, ConfigError> {
        text(value)
            .map(|raw| {
                HttpUrl::parse(&raw)
                    .map_err(|err| ConfigError::new(field(name), format!("`{raw}` {err}")))
            })
            .transpose()
    };

    let client_id =
        text(&raw.client_id).ok_or_else(|| ConfigError::new(field("clientId"), "is required"))?;
    let (auth_method, client_secret) = compile_client_auth(raw, &field)?;
    let issuer =
        url(&raw.issuer, "issuer")?.map(|u| u.to_string().trim_end_matches('/').to_owned());
    let authorize_url = url(&raw.auth_url, "authUrl")?;
    if issuer.is_none() && authorize_url.is_none() {
        return Err(ConfigError::new(
            field("issuer"),
            "is required when authUrl is not set (the filter discovers the endpoints from it)",
        ));
    }
    let flag = |value: Option<raw::Flag>, default: bool| value.map_or(default, |f| f.0);
    let verify_id_token = flag(raw.verify_id_token, true);
    let claims_from = compile_claims_from(raw.claims_from.as_deref(), verify_id_token, &field)?;

    let scopes = compile_scopes(raw, verify_id_token, &field)?;
    let (timeout_ms, clock_skew) = compile_timing(raw, &field)?;
    let name = text(&raw.name).unwrap_or_else(|| default_provider_name(id));
    let claim_names = compile_claim_names(&raw.claims);
    let (redirect_uri, post_logout_redirect_uri) = compile_redirects(raw, app_url, id, &field)?;

    let mut provider = Provider {
        id: id.to_owned(),
        name,
        client_id,
        client_secret,
        auth_method,
        issuer,
        discovery: None,
        authorize_url,
        token: None,
        userinfo: None,
        jwks: None,
        end_session_url: url(&raw.end_session_url, "endSessionUrl")?,
        scopes,
        redirect_uri,
        whitelist: compile_filter(
            &field("whitelist"),
            raw.whitelist.as_ref(),
            Case::Insensitive,
        )?,
        timeout_ms,
        verify_id_token,
        claims_from,
        claim_names,
        require_email_verified: flag(raw.require_email_verified, false),
        logout_at_provider: flag(raw.logout_at_provider, true),
        post_logout_redirect_uri,
        clock_skew,
        cluster: text(&raw.cluster),
        authority: text(&raw.authority),
    };
    let token = url(&raw.token_url, "tokenUrl")?;
    let userinfo = url(&raw.user_info_url, "userInfoUrl")?;
    let jwks = url(&raw.jwks_url, "jwksUrl")?;
    provider.token = token.map(|u| endpoint_for(clusters, &provider, u));
    provider.userinfo = userinfo.map(|u| endpoint_for(clusters, &provider, u));
    provider.jwks = jwks.map(|u| endpoint_for(clusters, &provider, u));
    // Discovery fills whatever configuration leaves open; with the seed's plain
    // configuration that is the issuer and the JWKS (from the authorize URL's
    // origin), so ID tokens are verified by default.
    let complete = (provider.issuer.is_some() || !provider.verify_id_token)
        && provider.authorize_url.is_some()
        && provider.token.is_some()
        && (!provider.needs_userinfo() || provider.userinfo.is_some())
        && (!provider.verify_id_token || provider.jwks.is_some());
    if !complete {
        let base = provider.expected_issuer();
        let discovery = HttpUrl::parse(&format!("{base}/.well-known/openid-configuration"))
            .map_err(|err| {
                ConfigError::new(
                    field("issuer"),
                    format!("cannot build the discovery URL: {err}"),
                )
            })?;
        provider.discovery = Some(endpoint_for(clusters, &provider, discovery));
    }
    Ok(provider)
}

/// The Envoy cluster and `:authority` for a call to `url`: the `clusters`
/// entry for `host:port` or `host`, else the provider's `cluster`, else the name
/// Istio gives a `ServiceEntry` host, `outbound|<port>||<host>`.
fn endpoint_for(clusters: &Named<String>, provider: &Provider, url: HttpUrl) -> Endpoint {
    let host_port = format!("{}:{}", url.host(), url.effective_port());
    let cluster = clusters
        .get(&host_port)
        .or_else(|| clusters.get(url.host()))
        .cloned()
        .or_else(|| provider.cluster.clone())
        .unwrap_or_else(|| format!("outbound|{}||{}", url.effective_port(), url.host()));
    Endpoint {
        cluster,
        authority: provider
            .authority
            .clone()
            .unwrap_or_else(|| url.authority()),
        url,
    }
}

/// The callback URL (a configured `redirectUrl` must equal it) and where the
/// provider returns after logout.
#[inline(never)]
fn compile_redirects(
    raw: &RawProvider,
    app_url: &HttpUrl,
    id: &str,
    field: &dyn Fn(&str) -> String,
) -> Result<(String, String), ConfigError> {
    let text = |value: &Option<String>| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let redirect_uri = format!("{}/api/oauth/callback/{id}", app_url.origin());
    if let Some(given) = text(&raw.redirect_url) {
        if given.trim_end_matches('/') != redirect_uri {
            return Err(ConfigError::new(
                field("redirectUrl"),
                format!("must be {redirect_uri}: the filter serves the callback there (register that URL at the provider)"),
            ));
        }
    }
    let post_logout = match text(&raw.post_logout_redirect_uri) {
        Some(raw_uri) => HttpUrl::parse(&raw_uri)
            .map_err(|err| {
                ConfigError::new(field("postLogoutRedirectUri"), format!("`{raw_uri}` {err}"))
            })?
            .to_string(),
        None => format!("{}/logout/done", app_url.origin()),
    };
    Ok((redirect_uri, post_logout))
}

fn check_provider_id(id: &str) -> Result<(), ConfigError> {
    if id.is_empty()
        || !id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ConfigError::new(
            format!("oauth.providers.{id}"),
            "provider IDs use lower-case letters, digits and '-' only",
        ));
    }
    if RESERVED_PROVIDER_IDS.contains(&id) {
        return Err(ConfigError::new(
            format!("oauth.providers.{id}"),
            "is reserved by Tinyauth for its own login methods",
        ));
    }
    Ok(())
}

#[inline(never)]
fn compile_claims_from(
    raw: Option<&str>,
    verify_id_token: bool,
    field: &dyn Fn(&str) -> String,
) -> Result<ClaimsSource, ConfigError> {
    match raw.map(str::trim) {
        None | Some("" | "userinfo") => Ok(ClaimsSource::UserInfo),
        Some("idToken") if verify_id_token => Ok(ClaimsSource::IdToken),
        Some("idToken") => Err(ConfigError::new(
            field("claimsFrom"),
            "idToken needs verifyIdToken: claims are only read from a verified ID token",
        )),
        Some(other) => Err(ConfigError::new(
            field("claimsFrom"),
            format!("`{other}` is not userinfo or idToken"),
        )),
    }
}

/// `timeoutMs` and `clockSkewSeconds`, range-checked.
#[inline(never)]
fn compile_timing(
    raw: &RawProvider,
    field: &dyn Fn(&str) -> String,
) -> Result<(u64, u64), ConfigError> {
    let timeout_ms = raw.timeout_ms.map_or(DEFAULT_TIMEOUT_MS, |t| t.0);
    if !(100..=60_000).contains(&timeout_ms) {
        return Err(ConfigError::new(
            field("timeoutMs"),
            "must be between 100 and 60000",
        ));
    }
    let clock_skew = raw.clock_skew_seconds.map_or(DEFAULT_CLOCK_SKEW, |s| s.0);
    if clock_skew > 600 {
        return Err(ConfigError::new(
            field("clockSkewSeconds"),
            "must be at most 600",
        ));
    }
    Ok((timeout_ms, clock_skew))
}

/// Scopes, space-separated; `openid` is required when ID tokens are verified.
#[inline(never)]
fn compile_scopes(
    raw: &RawProvider,
    verify_id_token: bool,
    field: &dyn Fn(&str) -> String,
) -> Result<String, ConfigError> {
    let scopes = raw
        .scopes
        .as_ref()
        .map_or_else(|| vec![DEFAULT_SCOPES], ListValue::entries)
        .iter()
        .flat_map(|entry| entry.split_whitespace())
        .collect::<Vec<_>>()
        .join(" ");
    if scopes.is_empty() {
        return Err(ConfigError::new(
            field("scopes"),
            "must name at least one scope (e.g. openid email profile groups)",
        ));
    }
    if verify_id_token && !scopes.split(' ').any(|s| s == "openid") {
        return Err(ConfigError::new(
            field("scopes"),
            "must include openid to get an ID token (or set verifyIdToken to false)",
        ));
    }
    Ok(scopes)
}

fn compile_claim_names(raw: &raw::RawClaims) -> ClaimNames {
    let pick = |value: &Option<String>, default: String| {
        value
            .as_deref()
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map_or(default, str::to_owned)
    };
    let defaults = ClaimNames::default();
    ClaimNames {
        username: pick(&raw.username, defaults.username),
        email: pick(&raw.email, defaults.email),
        name: pick(&raw.name, defaults.name),
        groups: pick(&raw.groups, defaults.groups),
    }
}

/// `tokenAuthMethod` and the `clientSecret` it needs (none for a public client).
#[inline(never)]
fn compile_client_auth(
    raw: &RawProvider,
    field: &dyn Fn(&str) -> String,
) -> Result<(TokenAuthMethod, Option<Secret>), ConfigError> {
    let auth_method = match raw.token_auth_method.as_deref().map(str::trim) {
        None | Some("" | "client_secret_basic") => TokenAuthMethod::ClientSecretBasic,
        Some("client_secret_post") => TokenAuthMethod::ClientSecretPost,
        Some("none") => TokenAuthMethod::None,
        Some(other) => {
            return Err(ConfigError::new(
                field("tokenAuthMethod"),
                format!("`{other}` is not one of client_secret_basic, client_secret_post, none"),
            ))
        }
    };
    let client_secret = match (auth_method, raw.client_secret.as_deref().map(str::trim)) {
        (TokenAuthMethod::None, None | Some("")) => None,
        (TokenAuthMethod::None, Some(_)) => {
            return Err(ConfigError::new(
                field("clientSecret"),
                "must be empty when tokenAuthMethod is none (public client)",
            ))
        }
        (_, None | Some("")) => {
            return Err(ConfigError::new(
                field("clientSecret"),
                "is required (or set tokenAuthMethod to none for a public client)",
            ))
        }
        (_, Some(secret)) => Some(Secret::new(secret)),
    };
    Ok((auth_method, client_secret))
}

fn default_provider_name(id: &str) -> String {
    match id {
        "google" => "Google".into(),
        "github" => "GitHub".into(),
        _ => crate::identity::capitalise(id),
    }
}

#[inline(never)]
fn compile_app(name: &str, raw: &RawApp) -> Result<App, ConfigError> {
    let field = |key: &str| format!("apps.{name}.{key}");
    if name.is_empty() || name.contains(['.', ' ']) {
        return Err(ConfigError::new(
            format!("apps.{name}"),
            "app names must be non-empty and contain no dots or spaces",
        ));
    }
    let mut domains = Vec::new();
    if let Some(list) = &raw.config.domain {
        for entry in list.entries() {
            domains.push(normalize_domain(entry).ok_or_else(|| {
                ConfigError::new(
                    field("config.domain"),
                    format!("`{entry}` is not a host name"),
                )
            })?);
        }
    }
    let path_regex = |key: &str, raw: Option<&String>| -> Result<Option<Regex>, ConfigError> {
        match raw.map(|r| r.trim()).filter(|r| !r.is_empty()) {
            None => Ok(None),
            Some(pattern) => Regex::new(pattern).map(Some).map_err(|err| {
                ConfigError::new(field(key), format!("invalid regex `{pattern}`: {err}"))
            }),
        }
    };
    let (headers, basic_auth) = compile_response(&raw.response, &field)?;
    Ok(App {
        name: name.to_ascii_lowercase(),
        domains,
        groups: compile_filter(
            &field("oauth.groups"),
            raw.oauth.groups.as_ref(),
            Case::Sensitive,
        )?,
        whitelist: compile_filter(
            &field("oauth.whitelist"),
            raw.oauth.whitelist.as_ref(),
            Case::Insensitive,
        )?,
        users_allow: compile_filter(
            &field("users.allow"),
            raw.users.allow.as_ref(),
            Case::Sensitive,
        )?,
        users_block: compile_filter(
            &field("users.block"),
            raw.users.block.as_ref(),
            Case::Sensitive,
        )?,
        path_allow: path_regex("path.allow", raw.path.allow.as_ref())?,
        path_block: path_regex("path.block", raw.path.block.as_ref())?,
        ip: compile_ip_rules(&field("ip"), &raw.ip)?,
        headers,
        basic_auth,
    })
}

/// `response.headers` (`Key=Value` entries) and `response.basicauth`.
#[inline(never)]
fn compile_response(
    raw: &raw::RawResponse,
    field: &dyn Fn(&str) -> String,
) -> Result<(HeaderList, Option<Secret>), ConfigError> {
    let mut headers = Vec::new();
    for entry in raw
        .headers
        .as_ref()
        .map(ListValue::entries)
        .unwrap_or_default()
    {
        let bad = |problem: &str| {
            ConfigError::new(field("response.headers"), format!("`{entry}` {problem}"))
        };
        let (name, value) = entry
            .split_once('=')
            .ok_or_else(|| bad("is not Key=Value"))?;
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        if name.is_empty()
            || !name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
        {
            return Err(bad("has an invalid header name"));
        }
        if is_identity_header(&name)
            || matches!(
                name.as_str(),
                "host" | "cookie" | "content-length" | "transfer-encoding"
            )
        {
            return Err(bad("sets a header the filter or the proxy owns"));
        }
        if value.is_empty() || value.chars().any(char::is_control) {
            return Err(bad("needs a value without control characters"));
        }
        headers.push((name, value.to_owned()));
    }
    let username = raw
        .basicauth
        .username
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let password = raw.basicauth.password.as_deref().filter(|p| !p.is_empty());
    let basic_auth = match (username, password) {
        (None, None) => None,
        (Some(user), Some(password)) => {
            if user.contains(':') {
                return Err(ConfigError::new(
                    field("response.basicauth.username"),
                    "must not contain ':'",
                ));
            }
            if headers.iter().any(|(name, _)| name == "authorization") {
                return Err(ConfigError::new(
                    field("response.headers"),
                    "sets authorization, which response.basicauth also sets",
                ));
            }
            let credentials =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some(Secret::new(format!("Basic {credentials}")))
        }
        (Some(_), None) => {
            return Err(ConfigError::new(
                field("response.basicauth.password"),
                "is required with a username",
            ))
        }
        (None, Some(_)) => {
            return Err(ConfigError::new(
                field("response.basicauth.username"),
                "is required with a password",
            ))
        }
    };
    Ok((headers, basic_auth))
}

/// `https://App.Example.com:8443/` → `app.example.com`: scheme, port and path are
/// ignored, as Tinyauth does.
fn normalize_domain(entry: &str) -> Option<String> {
    let without_scheme = entry.split_once("://").map_or(entry, |(_, rest)| rest);
    let authority = without_scheme.split('/').next().unwrap_or_default();
    let host = if authority.starts_with('[') {
        authority.split_inclusive(']').next().unwrap_or_default()
    } else {
        authority.split(':').next().unwrap_or_default()
    };
    normalize_host(host).ok()
}

#[cfg(test)]
mod tests;
