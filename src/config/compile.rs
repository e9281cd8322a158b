//! The whole configuration compiled: `appUrl`, the secrets' keys, cookies,
//! sessions, the global rules, and the providers and apps (each in its own
//! module).

use std::collections::BTreeMap;

use super::filter::{Case, Filter};
use crate::http::ip::IpList;
use crate::http::url::HttpUrl;
use crate::session::crypto::{sha256, Key};

use super::raw::{self, ListValue, RawApp, RawConfig};
use super::{app, provider};
use super::{
    Apps, Config, ConfigError, IpRules, Keys, Policy, RefreshPolicy, Revocations, MIN_SECRET_BYTES,
};
use crate::http::pages::Look;
use crate::http::respond::{Cookies, Site};
use crate::session::refresh_token::TokenKey;

#[inline(never)]
pub(super) fn compile(raw: RawConfig) -> Result<Config, ConfigError> {
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
    let refresh_interval = raw.auth.refresh_interval.map_or(900, |s| s.0);
    let refresh = RefreshPolicy {
        interval: refresh_interval,
        grace: raw.auth.refresh_grace.map_or(refresh_interval, |s| s.0),
    };
    let revocations = compile_revocations(&raw.auth)?;
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
        providers.push(provider::compile_provider(
            id,
            provider,
            &app_url,
            &raw.clusters,
        )?);
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
        site: Site {
            app_url,
            cookie_scope,
            cookies,
            look: compile_look(&raw.ui)?,
        },
        keys,
        session_expiry,
        session_max_lifetime,
        refresh,
        revocations,
        policy,
        trusted_proxies,
        ip,
        uses_client_ip,
        providers,
        auto_redirect,
        whitelist,
        apps,
        clusters: raw.clusters,
        notes: Vec::new(),
        warnings: Vec::new(),
    })
}

/// `auth.sessionsNotBefore` and `auth.revokedUsers` (names compared without
/// letter case, as emails are).
fn compile_revocations(auth: &raw::RawAuth) -> Result<Revocations, ConfigError> {
    let mut users = BTreeMap::new();
    for (name, at) in &auth.revoked_users {
        let key = name.trim().to_lowercase();
        if key.is_empty() {
            return Err(ConfigError::new(
                "auth.revokedUsers",
                "has an empty username or email",
            ));
        }
        users.insert(key, at.0);
    }
    Ok(Revocations {
        not_before: auth.sessions_not_before.map_or(0, |t| t.0),
        users,
    })
}

/// Tinyauth's UI options. The image URLs must be absolute (the filter has no
/// file server for Tinyauth's `/background.jpg`) and go into CSS and HTML
/// attributes as they are, so characters that would need escaping there are
/// refused rather than escaped.
fn compile_look(ui: &raw::RawUi) -> Result<Look, ConfigError> {
    let image = |field: &str, value: Option<&String>| -> Result<Option<String>, ConfigError> {
        let Some(value) = value.map(|v| v.trim()).filter(|v| !v.is_empty()) else {
            return Ok(None);
        };
        let url = HttpUrl::parse(value).map_err(|err| {
            let hint = if value.starts_with('/') {
                ": the filter has no file server for Tinyauth's own paths; give an absolute https:// URL"
            } else {
                ""
            };
            ConfigError::new(field, format!("`{value}` {err}{hint}"))
        })?;
        let text = url.to_string();
        if let Some(bad) = text
            .chars()
            .find(|c| matches!(c, '"' | '\'' | '(' | ')' | '<' | '>'))
        {
            return Err(ConfigError::new(
                field,
                format!("`{value}` contains `{bad}`, which cannot go into a page's CSS or HTML"),
            ));
        }
        Ok(Some(text))
    };
    Ok(Look {
        title: ui
            .title
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .unwrap_or("Tinyauth")
            .to_owned(),
        background_image: image("ui.backgroundImage", ui.background_image.as_ref())?,
        logo: image("ui.logo", ui.logo.as_ref())?,
    })
}

/// What an operator should hear about once, at load: settings that work but
/// may not mean what was meant. Each is `(field, what to know)`.
/// The user, email and group filters whose regex can match part of a value:
/// Tinyauth's semantics, which a `/admins/` written for whole names does not
/// expect. Each is `(field, what to know)`.
pub(super) fn warnings(config: &Config) -> Vec<(String, String)> {
    let mut warnings = partial_regexes(config);
    warnings.extend(tinyauth_differences(config));
    warnings
}

fn partial_regexes(config: &Config) -> Vec<(String, String)> {
    let mut filters: Vec<(String, &Filter)> = vec![("oauth.whitelist".into(), &config.whitelist)];
    for provider in &config.providers {
        filters.push((
            format!("oauth.providers.{}.whitelist", provider.id),
            &provider.whitelist,
        ));
    }
    for app in &config.apps.list {
        let field = |key: &str| format!("apps.{}.{key}", app.name);
        filters.push((field("oauth.groups"), &app.groups));
        filters.push((field("oauth.whitelist"), &app.whitelist));
        filters.push((field("users.allow"), &app.users_allow));
        filters.push((field("users.block"), &app.users_block));
    }
    filters
        .into_iter()
        .filter_map(|(field, filter)| {
            let regex = filter.partial_regex()?;
            Some((
                field,
                format!(
                    "the regex /{regex}/ matches any value that contains a match, as in Tinyauth \
                     (`/admins/` also matches `superadmins`); anchor it with ^…$ \
                     (`/^admins$/`, `/^.*@example\\.com$/`) if it must match whole values"
                ),
            ))
        })
        .collect()
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
        .map_or(app_url.scheme() == crate::http::url::Scheme::Https, |f| f.0);
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
pub(super) fn compile_ip_rules(prefix: &str, raw: &raw::RawIp) -> Result<IpRules, ConfigError> {
    Ok(IpRules {
        allow: compile_ips(&format!("{prefix}.allow"), raw.allow.as_ref())?,
        block: compile_ips(&format!("{prefix}.block"), raw.block.as_ref())?,
        bypass: compile_ips(&format!("{prefix}.bypass"), raw.bypass.as_ref())?,
    })
}

#[inline(never)]
fn compile_apps(raw: &BTreeMap<String, RawApp>) -> Result<Apps, ConfigError> {
    let mut apps = Apps::default();
    for (name, app) in raw {
        let app = app::compile_app(name, app)?;
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
        refresh_token: secrets
            .iter()
            .map(|s| TokenKey::derive(s.as_bytes()))
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
pub(super) fn compile_filter(
    field: &str,
    raw: Option<&ListValue>,
    case: Case,
) -> Result<Filter, ConfigError> {
    Filter::parse(&raw.map(ListValue::filter_text).unwrap_or_default(), case)
        .map_err(|err| ConfigError::new(field, err.to_string()))
}

/// Rules whose meaning here differs from Tinyauth's in a way that can refuse
/// someone Tinyauth let in.
fn tinyauth_differences(config: &Config) -> Vec<(String, String)> {
    const USERS: &str = "Tinyauth applies users rules to local users only, never to OAuth \
        users; here they apply to the OAuth username and can refuse someone Tinyauth let in";
    const IP: &str = "Tinyauth applies IP rules only when trustedProxies is set; here they \
        apply to Envoy's downstream peer (behind a load balancer, list it in \
        auth.trustedProxies) and can refuse someone Tinyauth let in";
    let mut warnings = Vec::new();
    let no_proxies = config.trusted_proxies.is_empty();
    if no_proxies && !config.ip.is_empty() {
        warnings.push(("auth.ip".to_owned(), IP.to_owned()));
    }
    for app in &config.apps.list {
        for (key, filter) in [("allow", &app.users_allow), ("block", &app.users_block)] {
            if !filter.is_empty() {
                warnings.push((format!("apps.{}.users.{key}", app.name), USERS.to_owned()));
            }
        }
        if no_proxies && !app.ip.is_empty() {
            warnings.push((format!("apps.{}.ip", app.name), IP.to_owned()));
        }
    }
    warnings
}
