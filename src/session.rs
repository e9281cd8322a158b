//! The session cookie: an [`Identity`] plus its lifetime, signed with the session
//! key. Checking it is the whole cost of an authenticated request, so it is one
//! MAC and a bounds-checked binary read — no JSON, no public-key crypto.

use std::fmt;

use crate::crypto::Key;
use crate::identity::Identity;
use crate::sealed::{self, Writer};

const PURPOSE: &str = "session";
const VERSION: u8 = 2;
/// Browsers drop cookies over 4096 bytes (name, value and attributes together);
/// refuse to issue one that would be silently lost.
pub const MAX_COOKIE_VALUE: usize = 3800;

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifies the login this session came from (from its random `state`):
    /// two logins never share a cookie, even for one user in one second.
    pub login: String,
    pub identity: Identity,
    /// When the user logged in (Unix seconds); bounds `sessionMaxLifetime`.
    pub created_at: u64,
    pub expires_at: u64,
}

/// Why a session cookie was not accepted. All of them mean "log in again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Forged, tampered, truncated, or signed with a secret we no longer hold.
    BadSignature,
    /// Signed by us but not readable by this version.
    Malformed,
    Expired,
    /// Older than `auth.sessionMaxLifetime`.
    TooOld,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadSignature => "bad signature",
            Self::Malformed => "malformed",
            Self::Expired => "expired",
            Self::TooOld => "older than sessionMaxLifetime",
        })
    }
}

impl Session {
    pub fn seal(&self, key: &Key) -> String {
        let id = &self.identity;
        let mut writer = Writer::new(VERSION);
        writer
            .str(&self.login)
            .u64(self.created_at)
            .u64(self.expires_at)
            .str(&id.provider)
            .str(&id.sub)
            .str(&id.username)
            .str(id.email.as_deref().unwrap_or_default())
            .str(&id.name)
            .u64(id.groups.len() as u64);
        for group in &id.groups {
            writer.str(group);
        }
        writer.seal(PURPOSE, key)
    }

    /// Opens and checks a session cookie value at time `now`.
    pub fn open_at(
        token: &str,
        keys: &[Key],
        now: u64,
        max_lifetime: u64,
    ) -> Result<Self, Rejected> {
        let opened = sealed::open(token, PURPOSE, keys).ok_or(Rejected::BadSignature)?;
        let session = decode(&opened).ok_or(Rejected::Malformed)?;
        if now >= session.expires_at {
            return Err(Rejected::Expired);
        }
        if max_lifetime != 0 && now >= session.created_at.saturating_add(max_lifetime) {
            return Err(Rejected::TooOld);
        }
        Ok(session)
    }

    /// Tinyauth's sliding expiry: once less than the refresh window is left, the
    /// session is renewed for a full `expiry` (capped by the maximum lifetime).
    /// The window is half the expiry, at most one hour.
    pub fn renewed_at(&self, now: u64, expiry: u64, max_lifetime: u64) -> Option<Self> {
        let window = (expiry / 2).min(3600);
        if self.expires_at.saturating_sub(now) > window {
            return None;
        }
        let mut expires_at = now.saturating_add(expiry);
        if max_lifetime != 0 {
            expires_at = expires_at.min(self.created_at.saturating_add(max_lifetime));
        }
        (expires_at > self.expires_at).then(|| Self {
            login: self.login.clone(),
            identity: self.identity.clone(),
            created_at: self.created_at,
            expires_at,
        })
    }
}

fn decode(opened: &sealed::Opened) -> Option<Session> {
    let (version, mut r) = opened.reader()?;
    if version != VERSION {
        return None;
    }
    let login = r.str()?.to_owned();
    let created_at = r.u64()?;
    let expires_at = r.u64()?;
    let provider = r.str()?.to_owned();
    let sub = r.str()?.to_owned();
    let username = r.str()?.to_owned();
    let email = Some(r.str()?).filter(|e| !e.is_empty()).map(str::to_owned);
    let name = r.str()?.to_owned();
    let count = r.u64()?;
    // Each group needs at least its 2-byte length, which bounds the loop by the
    // (MAC-checked) payload size.
    let mut groups = Vec::new();
    for _ in 0..count {
        groups.push(r.str()?.to_owned());
    }
    if !r.is_empty() {
        return None;
    }
    Some(Session {
        login,
        identity: Identity {
            provider,
            sub,
            username,
            email,
            name,
            groups,
        },
        created_at,
        expires_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> Key {
        Key::derive(secret.as_bytes(), "session")
    }

    fn alice(created_at: u64, expires_at: u64) -> Session {
        Session {
            login: "AbCdEfGhIjKlMnOp".into(),
            identity: Identity {
                provider: "generic".into(),
                sub: "a1b2".into(),
                username: "alice".into(),
                email: Some("alice@example.com".into()),
                name: "Alice Anderson".into(),
                groups: vec!["admins".into(), "users".into()],
            },
            created_at,
            expires_at,
        }
    }

    #[test]
    fn round_trip() {
        let k = key("0123456789abcdef0123456789abcdef");
        let session = alice(1000, 2000);
        let token = session.seal(&k);
        assert!(token.len() < 300, "compact: {}", token.len());
        assert_eq!(
            Session::open_at(&token, std::slice::from_ref(&k), 1500, 0),
            Ok(session)
        );
    }

    #[test]
    fn no_email_round_trips_as_none() {
        let k = key("0123456789abcdef0123456789abcdef");
        let mut session = alice(1000, 2000);
        session.identity.email = None;
        session.identity.groups.clear();
        let token = session.seal(&k);
        assert_eq!(
            Session::open_at(&token, std::slice::from_ref(&k), 1500, 0),
            Ok(session)
        );
    }

    #[test]
    fn expired_session() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = alice(1000, 2000).seal(&k);
        let keys = std::slice::from_ref(&k);
        assert_eq!(
            Session::open_at(&token, keys, 2000, 0),
            Err(Rejected::Expired)
        );
        assert_eq!(
            Session::open_at(&token, keys, 1999, 500),
            Err(Rejected::TooOld)
        );
        assert!(Session::open_at(&token, keys, 1499, 500).is_ok());
    }

    #[test]
    fn tampered_session_byte() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = alice(1000, 2000).seal(&k);
        let keys = std::slice::from_ref(&k);
        for i in 0..token.len() {
            let mut bytes = token.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != token {
                assert!(
                    Session::open_at(&tampered, keys, 1500, 0).is_err(),
                    "byte {i} flipped was accepted"
                );
            }
        }
    }

    #[test]
    fn session_signed_with_retired_key() {
        let old = key("0123456789abcdef0123456789abcdef");
        let new = key("fedcba9876543210fedcba9876543210");
        let token = alice(1000, 2000).seal(&old);
        assert_eq!(
            Session::open_at(&token, std::slice::from_ref(&new), 1500, 0),
            Err(Rejected::BadSignature)
        );
        assert!(Session::open_at(&token, &[new, old], 1500, 0).is_ok());
    }

    #[test]
    fn sliding_renewal_follows_tinyauth() {
        // expiry 86400: window is one hour.
        let session = alice(0, 86_400);
        assert_eq!(session.renewed_at(80_000, 86_400, 0), None);
        let renewed = session.renewed_at(83_000, 86_400, 0).unwrap();
        assert_eq!(renewed.expires_at, 83_000 + 86_400);
        assert_eq!(renewed.created_at, 0);
        // Max lifetime caps the renewal and eventually stops it.
        let capped = session.renewed_at(83_000, 86_400, 100_000).unwrap();
        assert_eq!(capped.expires_at, 100_000);
        let at_cap = alice(0, 100_000);
        assert_eq!(at_cap.renewed_at(99_000, 86_400, 100_000), None);
        // Short expiry: window is half of it.
        let short = alice(0, 600);
        assert_eq!(short.renewed_at(200, 600, 0), None);
        assert_eq!(short.renewed_at(300, 600, 0).unwrap().expires_at, 900);
    }
}
