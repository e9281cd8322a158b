//! One protected app compiled: its domains, user, email and group filters,
//! path rules, IP lists and what it receives (headers, basic auth).

use base64::Engine as _;

use super::filter::{Case, Pattern};
use crate::http::request::is_identity_header;
use crate::http::url::normalize_host;
use crate::secret::Secret;

use super::compile::{compile_filter, compile_ip_rules};
use super::raw::{self, ListValue, RawApp};
use super::{App, ConfigError, HeaderList};

#[inline(never)]
pub(super) fn compile_app(name: &str, raw: &RawApp) -> Result<App, ConfigError> {
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
    // `path.block` ignores letter case: a server that serves `/Admin` as
    // `/admin` must not get it without a login (see `access`).
    let path_regex =
        |key: &str, raw: Option<&String>, any_case: bool| -> Result<Option<Pattern>, ConfigError> {
            match raw.map(|r| r.trim()).filter(|r| !r.is_empty()) {
                None => Ok(None),
                Some(pattern) => Pattern::new(pattern, any_case).map(Some).map_err(|err| {
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
        path_allow: path_regex("path.allow", raw.path.allow.as_ref(), false)?,
        path_block: path_regex("path.block", raw.path.block.as_ref(), true)?,
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
