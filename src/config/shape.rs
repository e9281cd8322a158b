//! The configuration's shape as a table: which keys are sections, which are
//! maps of user-chosen names (providers, apps, hosts) and which are values. It
//! resolves the case-insensitive, underscore-separated names of environment
//! variables and labels, and checks that every section is an object before
//! serde reads it. `tests` checks it against the serde structs.

use serde_json::Value;

use super::ConfigError;

/// The shape of the configuration, to resolve the case-insensitive,
/// underscore-separated names of environment variables and labels.
#[derive(Debug)]
pub(crate) enum Shape {
    Leaf,
    Object(&'static [(&'static str, Shape)]),
    /// A map whose keys the user chooses (provider IDs, app names, hosts).
    Map(&'static Shape),
}

use Shape::{Leaf, Map as KeyedBy, Object};

const IP: &[(&str, Shape)] = &[("allow", Leaf), ("block", Leaf), ("bypass", Leaf)];

const PROVIDER: Shape = Object(&[
    ("name", Leaf),
    ("clientId", Leaf),
    ("clientSecret", Leaf),
    ("issuer", Leaf),
    ("authUrl", Leaf),
    ("tokenUrl", Leaf),
    ("userInfoUrl", Leaf),
    ("jwksUrl", Leaf),
    ("endSessionUrl", Leaf),
    ("revocationUrl", Leaf),
    ("redirectUrl", Leaf),
    ("scopes", Leaf),
    ("whitelist", Leaf),
    ("tokenAuthMethod", Leaf),
    ("verifyIdToken", Leaf),
    ("claimsFrom", Leaf),
    (
        "claims",
        Object(&[
            ("username", Leaf),
            ("email", Leaf),
            ("name", Leaf),
            ("groups", Leaf),
        ]),
    ),
    ("requireEmailVerified", Leaf),
    ("logoutAtProvider", Leaf),
    ("postLogoutRedirectUri", Leaf),
    ("clockSkewSeconds", Leaf),
    ("cluster", Leaf),
    ("authority", Leaf),
    ("timeoutMs", Leaf),
]);

pub(crate) const APP: Shape = Object(&[
    ("config", Object(&[("domain", Leaf)])),
    ("oauth", Object(&[("whitelist", Leaf), ("groups", Leaf)])),
    ("users", Object(&[("allow", Leaf), ("block", Leaf)])),
    ("path", Object(&[("allow", Leaf), ("block", Leaf)])),
    ("ip", Object(IP)),
    (
        "response",
        Object(&[
            ("headers", Leaf),
            (
                "basicauth",
                Object(&[("username", Leaf), ("password", Leaf)]),
            ),
        ]),
    ),
]);

pub(crate) const ROOT: Shape = Object(&[
    ("appUrl", Leaf),
    ("secret", Leaf),
    ("previousSecrets", Leaf),
    (
        "auth",
        Object(&[
            ("sessionExpiry", Leaf),
            ("sessionMaxLifetime", Leaf),
            ("secureCookie", Leaf),
            ("subdomainsEnabled", Leaf),
            ("acls", Object(&[("policy", Leaf)])),
            ("trustedProxies", Leaf),
            ("ip", Object(IP)),
            ("refreshInterval", Leaf),
            ("refreshGrace", Leaf),
            ("sessionsNotBefore", Leaf),
            ("revokedUsers", KeyedBy(&Leaf)),
        ]),
    ),
    (
        "oauth",
        Object(&[
            ("whitelist", Leaf),
            ("autoRedirect", Leaf),
            ("providers", KeyedBy(&PROVIDER)),
        ]),
    ),
    ("apps", KeyedBy(&APP)),
    ("labels", Leaf),
    (
        "ui",
        Object(&[("title", Leaf), ("backgroundImage", Leaf), ("logo", Leaf)]),
    ),
    ("clusters", KeyedBy(&Leaf)),
]);

/// Resolves case-insensitive name segments (as paerser does for Tinyauth) to
/// the canonical key path, or `None` if they name no setting.
pub(crate) fn resolve(shape: &Shape, segments: &[&str]) -> Option<Vec<String>> {
    let (first, rest) = segments.split_first()?;
    match shape {
        Leaf => None,
        Object(fields) => {
            let (key, child) = fields
                .iter()
                .find(|(key, _)| key.eq_ignore_ascii_case(first))?;
            resolve_rest(key, child, rest)
        }
        KeyedBy(child) => {
            if first.is_empty() {
                return None;
            }
            resolve_rest(&first.to_ascii_lowercase(), child, rest)
        }
    }
}

fn resolve_rest(key: &str, child: &Shape, rest: &[&str]) -> Option<Vec<String>> {
    let mut path = vec![key.to_owned()];
    match (child, rest.is_empty()) {
        (Leaf, true) => Some(path),
        (Leaf, false) | (_, true) => None,
        (_, false) => {
            path.extend(resolve(child, rest)?);
            Some(path)
        }
    }
}

/// Checks that every section is a JSON object (or `null`): serde derive would
/// otherwise read a JSON array in a section's place as its fields in order.
pub(crate) fn check(value: &Value) -> Result<(), ConfigError> {
    check_section(&ROOT, value, "")
}

fn check_section(shape: &Shape, value: &Value, path: &str) -> Result<(), ConfigError> {
    let join = |key: &str| {
        if path.is_empty() {
            key.to_owned()
        } else {
            format!("{path}.{key}")
        }
    };
    let members = match (shape, value) {
        (Leaf, _) | (_, Value::Null) => return Ok(()),
        (_, Value::Array(_)) => {
            let field = if path.is_empty() {
                "configuration"
            } else {
                path
            };
            return Err(ConfigError::new(
                field,
                "invalid type: sequence, expected a map",
            ));
        }
        // Other types are refused by serde, with the same wording.
        (_, Value::Object(members)) => members,
        _ => return Ok(()),
    };
    match shape {
        Object(fields) => {
            for (key, child) in *fields {
                if let Some(member) = members.get(*key) {
                    check_section(child, member, &join(key))?;
                }
            }
        }
        KeyedBy(child) => {
            for (key, member) in members {
                check_section(child, member, &join(key))?;
            }
        }
        Leaf => {}
    }
    Ok(())
}
