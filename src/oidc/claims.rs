//! The user's identity read from the provider's claims (userinfo or the ID
//! token) once at login, the way Tinyauth reads them.

use std::fmt;

use serde_json::Value;

use crate::config::ClaimNames;
use crate::document::{self, Object};
use crate::session::identity::{capitalise, Identity};

/// Why claims could not produce an identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimsError {
    NotAnObject,
    MissingSub,
}

impl fmt::Display for ClaimsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotAnObject => "the claims are not a JSON object",
            Self::MissingSub => "the claims have no `sub` string",
        })
    }
}

/// Builds the identity from userinfo (or ID token) claims the way Tinyauth
/// does: `sub`, `email`, `preferred_username`, `name` must be strings (other
/// types count as absent); `groups` may be an array (non-strings dropped), a
/// comma-separated string, or absent.
///
/// Username: `preferred_username`, else the email with `@` turned into `_`,
/// else `sub`. Name: `name`, else `Localpart (domain)` from the email, else the
/// username.
/// `names` says which claims hold the username, email, name and groups
/// (Tinyauth's `claims.*`; top-level keys only). `sub` is always `sub`.
pub fn identity(
    provider: &str,
    claims: &Object,
    names: &ClaimNames,
) -> Result<Identity, ClaimsError> {
    let text = |key: &str| {
        claims
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let sub = text("sub").ok_or(ClaimsError::MissingSub)?;
    let email = text(&names.email);
    let username = text(&names.username)
        .or_else(|| email.as_ref().map(|e| e.replace('@', "_")))
        .unwrap_or_else(|| sub.clone());
    let name = text(&names.name)
        .or_else(|| email.as_deref().map(pseudo_name).filter(|n| !n.is_empty()))
        .unwrap_or_else(|| username.clone());
    Ok(Identity {
        provider: provider.to_owned(),
        sub,
        username,
        email,
        name,
        groups: groups_claim(claims.get(&names.groups)),
    })
}

/// Parses a claims document (a userinfo body) into its claims.
pub fn parse(body: &[u8]) -> Result<Object, ClaimsError> {
    document::object(body).map_err(|_| ClaimsError::NotAnObject)
}

/// Whether the claims say the email address is verified (`email_verified`
/// `true`, or the string `"true"` some providers send).
pub fn email_verified(claims: &Object) -> bool {
    match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        Some(Value::String(text)) => text.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

fn groups_claim(value: Option<&Value>) -> Vec<String> {
    let mut groups: Vec<String> = match value {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(Value::as_str)
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::String(list)) => list
            .split(',')
            .map(str::trim)
            .filter(|g| !g.is_empty())
            .map(str::to_owned)
            .collect(),
        _ => Vec::new(),
    };
    let mut seen = Vec::with_capacity(groups.len());
    groups.retain(|group| {
        let first = !seen.contains(group);
        if first {
            seen.push(group.clone());
        }
        first
    });
    groups
}

/// `alice@example.com` → `Alice (example.com)`.
fn pseudo_name(email: &str) -> String {
    let (local, domain) = email.split_once('@').unwrap_or((email, ""));
    let capitalised = capitalise(local);
    if domain.is_empty() {
        capitalised
    } else {
        format!("{capitalised} ({domain})")
    }
}

/// The login's rules on an identity the provider just vouched for (at login
/// and at each refresh): a verified email when `requireEmailVerified` is on,
/// then the whitelist. `Err` says why not, in words for the user.
pub(crate) fn admitted(
    config: &crate::config::Config,
    provider: &crate::config::Provider,
    identity: &Identity,
    claims: &Object,
) -> Result<(), &'static str> {
    if provider.require_email_verified && !(identity.email.is_some() && email_verified(claims)) {
        return Err("Your email address is not verified with the sign-in provider.");
    }
    crate::access::whitelisted(config, provider, identity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn read(claims: &Value) -> Result<Identity, ClaimsError> {
        let claims = parse(claims.to_string().as_bytes())?;
        identity("generic", &claims, &ClaimNames::default())
    }

    #[test]
    fn pocket_id_userinfo() {
        let id = read(&json!({
            "sub": "a1b2", "email": "alice@example.com", "email_verified": true,
            "preferred_username": "alice", "name": "Alice Anderson",
            "groups": ["admins", "users"]
        }))
        .unwrap();
        assert_eq!(id.sub, "a1b2");
        assert_eq!(id.username, "alice");
        assert_eq!(id.email.as_deref(), Some("alice@example.com"));
        assert_eq!(id.name, "Alice Anderson");
        assert_eq!(id.groups, ["admins", "users"]);
        assert_eq!(id.provider, "generic");
    }

    #[test]
    fn groups_in_every_shape_pocket_id_may_send() {
        let cases = [
            (json!(["a", "b"]), vec!["a", "b"]),
            (json!("a, b,,c"), vec!["a", "b", "c"]),
            (json!([]), vec![]),
            (json!(null), vec![]),
            (json!(5), vec![]),
            (json!(["a", 1, {"x": 1}, " b "]), vec!["a", "b"]),
        ];
        for (groups, want) in cases {
            let id = read(&json!({"sub": "s", "groups": groups})).unwrap();
            assert_eq!(id.groups, want, "{groups}");
        }
        let absent = read(&json!({"sub": "s"})).unwrap();
        assert!(absent.groups.is_empty());
    }

    #[test]
    fn user_without_email_falls_back() {
        let id = read(&json!({"sub": "d-1", "preferred_username": "dave"})).unwrap();
        assert_eq!(id.email, None);
        assert_eq!(id.username, "dave");
        assert_eq!(id.name, "dave");
        let bare = read(&json!({"sub": "d-1"})).unwrap();
        assert_eq!(bare.username, "d-1");
    }

    #[test]
    fn tinyauth_pseudo_values() {
        let id = read(&json!({"sub": "s", "email": "alice@example.com"})).unwrap();
        assert_eq!(id.username, "alice_example.com");
        assert_eq!(id.name, "Alice (example.com)");
    }

    #[test]
    fn non_string_claims_count_as_absent() {
        let id = read(&json!({"sub": "s", "email": 5, "name": ["x"]})).unwrap();
        assert_eq!(id.email, None);
        assert_eq!(id.name, "s");
    }

    #[test]
    fn refuses_junk() {
        assert_eq!(read(&json!({"email": "a@b"})), Err(ClaimsError::MissingSub));
        assert_eq!(read(&json!({"sub": 5})), Err(ClaimsError::MissingSub));
        assert_eq!(read(&json!(["sub"])), Err(ClaimsError::NotAnObject));
        assert_eq!(parse(b"<html>"), Err(ClaimsError::NotAnObject));
    }

    #[test]
    fn claim_names_can_be_mapped() {
        let names = ClaimNames {
            username: "login".into(),
            email: "mail".into(),
            name: "display_name".into(),
            groups: "roles".into(),
        };
        let claims = parse(
            json!({"sub": "s", "login": "al", "mail": "al@x.io", "display_name": "Al", "roles": ["r"],
                   "preferred_username": "ignored", "groups": ["ignored"]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let id = identity("g", &claims, &names).unwrap();
        assert_eq!(
            (id.username.as_str(), id.email.as_deref(), id.name.as_str()),
            ("al", Some("al@x.io"), "Al")
        );
        assert_eq!(id.groups, ["r"]);
    }

    #[test]
    fn email_verified_variants() {
        for (value, want) in [
            (json!(true), true),
            (json!("true"), true),
            (json!(false), false),
            (json!("no"), false),
            (json!(null), false),
        ] {
            let claims = parse(
                json!({"sub": "s", "email_verified": value})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            assert_eq!(email_verified(&claims), want, "{value}");
        }
    }
}
