//! Who the user is: read from the provider's claims once at login, then carried in
//! the session and sent upstream as `Remote-*` headers.

use std::fmt;

use serde_json::Value;

use crate::oidc::document::{self, Object};

use crate::config::ClaimNames;

/// The signed-in user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The provider ID this user logged in through.
    pub provider: String,
    pub sub: String,
    pub username: String,
    /// Absent for Pocket ID users without an email address.
    pub email: Option<String>,
    pub name: String,
    pub groups: Vec<String>,
}

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

impl Identity {
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
    pub fn from_claims(
        provider: &str,
        claims: &Object,
        names: &ClaimNames,
    ) -> Result<Self, ClaimsError> {
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
            .or_else(|| email.as_deref().map(pseudo_name))
            .unwrap_or_else(|| username.clone());
        Ok(Self {
            provider: provider.to_owned(),
            sub,
            username,
            email,
            name,
            groups: groups_claim(claims.get(&names.groups)),
        })
    }

    /// Parses a claims document (a userinfo body) into its claims.
    pub fn parse_claims(body: &[u8]) -> Result<Object, ClaimsError> {
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

/// The text with its first letter upper-cased (`alice` → `Alice`).
pub(crate) fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    let Some(first) = chars.next() else {
        return String::new();
    };
    // Simple case mapping, as Go's `unicode.ToUpper`: a letter whose upper
    // case is several letters (`ß`) stays as it is.
    let mut upper = first.to_uppercase();
    let first = match (upper.next(), upper.next()) {
        (Some(single), None) => single,
        _ => first,
    };
    std::iter::once(first).chain(chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn identity(claims: &Value) -> Result<Identity, ClaimsError> {
        let claims = Identity::parse_claims(claims.to_string().as_bytes())?;
        Identity::from_claims("generic", &claims, &ClaimNames::default())
    }

    #[test]
    fn pocket_id_userinfo() {
        let id = identity(&json!({
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
            let id = identity(&json!({"sub": "s", "groups": groups})).unwrap();
            assert_eq!(id.groups, want, "{groups}");
        }
        let absent = identity(&json!({"sub": "s"})).unwrap();
        assert!(absent.groups.is_empty());
    }

    #[test]
    fn user_without_email_falls_back() {
        let id = identity(&json!({"sub": "d-1", "preferred_username": "dave"})).unwrap();
        assert_eq!(id.email, None);
        assert_eq!(id.username, "dave");
        assert_eq!(id.name, "dave");
        let bare = identity(&json!({"sub": "d-1"})).unwrap();
        assert_eq!(bare.username, "d-1");
    }

    #[test]
    fn capitalise_upper_cases_only_the_first_letter() {
        assert_eq!(capitalise("alice"), "Alice");
        assert_eq!(capitalise("élodie"), "Élodie");
        assert_eq!(capitalise("ωμέγα"), "Ωμέγα");
        assert_eq!(capitalise("юлия"), "Юлия");
        assert_eq!(capitalise("ßtraße"), "ßtraße");
        assert_eq!(capitalise("李"), "李");
        assert_eq!(capitalise("9lives"), "9lives");
        assert_eq!(capitalise(""), "");
    }

    #[test]
    fn tinyauth_pseudo_values() {
        let id = identity(&json!({"sub": "s", "email": "alice@example.com"})).unwrap();
        assert_eq!(id.username, "alice_example.com");
        assert_eq!(id.name, "Alice (example.com)");
    }

    #[test]
    fn non_string_claims_count_as_absent() {
        let id = identity(&json!({"sub": "s", "email": 5, "name": ["x"]})).unwrap();
        assert_eq!(id.email, None);
        assert_eq!(id.name, "s");
    }

    #[test]
    fn refuses_junk() {
        assert_eq!(
            identity(&json!({"email": "a@b"})),
            Err(ClaimsError::MissingSub)
        );
        assert_eq!(identity(&json!({"sub": 5})), Err(ClaimsError::MissingSub));
        assert_eq!(identity(&json!(["sub"])), Err(ClaimsError::NotAnObject));
        assert_eq!(
            Identity::parse_claims(b"<html>"),
            Err(ClaimsError::NotAnObject)
        );
    }

    #[test]
    fn claim_names_can_be_mapped() {
        let names = ClaimNames {
            username: "login".into(),
            email: "mail".into(),
            name: "display_name".into(),
            groups: "roles".into(),
        };
        let claims = Identity::parse_claims(
            json!({"sub": "s", "login": "al", "mail": "al@x.io", "display_name": "Al", "roles": ["r"],
                   "preferred_username": "ignored", "groups": ["ignored"]})
            .to_string()
            .as_bytes(),
        )
        .unwrap();
        let id = Identity::from_claims("g", &claims, &names).unwrap();
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
            let claims = Identity::parse_claims(
                json!({"sub": "s", "email_verified": value})
                    .to_string()
                    .as_bytes(),
            )
            .unwrap();
            assert_eq!(Identity::email_verified(&claims), want, "{value}");
        }
    }
}
