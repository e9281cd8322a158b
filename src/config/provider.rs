//! One OAuth/OIDC provider compiled: client credentials and how they are sent,
//! endpoints (configured or left to discovery) and the Envoy clusters that
//! reach them, scopes, claims, timings and redirects.

use std::collections::BTreeMap;

use super::filter::Case;
use crate::http::url::HttpUrl;
use crate::secret::Secret;

use super::compile::compile_filter;
use super::raw::{self, ListValue, RawProvider};
use super::{ClaimNames, ClaimsSource, ConfigError, Endpoint, Provider, TokenAuthMethod};

/// Provider IDs Tinyauth reserves for its own login methods.
const RESERVED_PROVIDER_IDS: [&str; 3] = ["local", "ldap", "tailscale"];
const DEFAULT_SCOPES: &str = "openid email profile groups";
const DEFAULT_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_CLOCK_SKEW: u64 = 60;

#[inline(never)]
pub(super) fn compile_provider(
    id: &str,
    raw: &RawProvider,
    app_url: &HttpUrl,
    clusters: &BTreeMap<String, String>,
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
        revocation: None,
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
        // Tinyauth never ends the provider's session (which for Pocket ID
        // signs the user out of every other app too): opt in.
        logout_at_provider: flag(raw.logout_at_provider, false),
        post_logout_redirect_uri,
        clock_skew,
        cluster: text(&raw.cluster),
        authority: text(&raw.authority),
    };
    let token = url(&raw.token_url, "tokenUrl")?;
    let userinfo = url(&raw.user_info_url, "userInfoUrl")?;
    let jwks = url(&raw.jwks_url, "jwksUrl")?;
    let revocation = url(&raw.revocation_url, "revocationUrl")?;
    provider.token = token.map(|u| endpoint_for(clusters, &provider, u));
    provider.userinfo = userinfo.map(|u| endpoint_for(clusters, &provider, u));
    provider.jwks = jwks.map(|u| endpoint_for(clusters, &provider, u));
    provider.revocation = revocation.map(|u| endpoint_for(clusters, &provider, u));
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
pub(super) fn endpoint_for(
    clusters: &BTreeMap<String, String>,
    provider: &Provider,
    url: HttpUrl,
) -> Endpoint {
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
            .unwrap_or_else(|| url.authority().to_owned()),
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
        _ => crate::session::identity::capitalise(id),
    }
}
