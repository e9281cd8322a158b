//! The session cookie: an [`Identity`] plus its lifetime, signed with the session
//! key. Checking it is the whole cost of an authenticated request, so it is one
//! MAC and a small JSON array — no public-key crypto.

pub mod cache;
pub mod crypto;
pub mod identity;
pub mod login_flow;
pub mod refresh_token;
pub mod refreshing;
pub mod revocation;
pub mod sealed;

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::session::cache::Verified;
use crate::session::crypto::Key;
use crate::session::identity::Identity;
use crate::session::revocation::Revoked;
use crate::shared::Shared;

const PURPOSE: &str = "session";
/// Changes whenever the payload's shape changes; older cookies then stop
/// opening and their users sign in again.
const VERSION: u8 = 4;
/// Browsers drop cookies over 4096 bytes (name, value and attributes together);
/// refuse to issue one that would be silently lost.
pub const MAX_COOKIE_VALUE: usize = 3800;

/// What a VM knows about sessions beyond their cookies.
#[derive(Debug, Clone, Default)]
pub struct Sessions {
    /// Cookie values this VM has already verified.
    pub verified: Verified,
    /// This VM's copy of the logged-out sessions.
    pub revoked: Revoked,
    /// What every VM of this Envoy shares: logged-out sessions, refreshes.
    pub shared: Shared,
}

/// A signed-in user's session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Identifies the login this session came from (from its random `state`):
    /// two logins never share a cookie, even for one user in one second.
    pub login: String,
    pub identity: Identity,
    /// When the user logged in (Unix seconds); bounds `sessionMaxLifetime`,
    /// and is what `sessionsNotBefore` and `revokedUsers` compare.
    pub created_at: u64,
    pub expires_at: u64,
    /// When the provider last confirmed the identity (the login, then each
    /// refresh); `auth.refreshInterval` counts from here.
    pub checked_at: u64,
    /// The provider's refresh token, encrypted (`refresh_token::seal`).
    pub refresh: Option<String>,
}

/// The payload as it is signed: a JSON array, so field names cost nothing.
#[derive(Serialize)]
struct Wire<'a>(
    u8,
    &'a str,
    u64,
    u64,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a str,
    &'a [String],
    u64,
    &'a str,
);

#[derive(Deserialize)]
struct OwnedWire(
    u8,
    String,
    u64,
    u64,
    String,
    String,
    String,
    String,
    String,
    Vec<String>,
    u64,
    String,
);

/// Why a session cookie was not accepted. All of them mean "log in again".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejected {
    /// Forged, tampered, truncated, signed with a secret we no longer hold, or
    /// written by another version.
    BadSignature,
    Expired,
    /// Older than `auth.sessionMaxLifetime`.
    TooOld,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::BadSignature => "bad signature",
            Self::Expired => "expired",
            Self::TooOld => "older than sessionMaxLifetime",
        })
    }
}

impl Session {
    pub fn seal(&self, key: &Key) -> String {
        let id = &self.identity;
        let wire = Wire(
            VERSION,
            &self.login,
            self.created_at,
            self.expires_at,
            &id.provider,
            &id.sub,
            &id.username,
            id.email.as_deref().unwrap_or_default(),
            &id.name,
            &id.groups,
            self.checked_at,
            self.refresh.as_deref().unwrap_or_default(),
        );
        sealed::seal(&wire, PURPOSE, key)
    }

    /// Opens and checks a session cookie value at time `now`.
    pub fn open_at(
        token: &str,
        keys: &[Key],
        now: u64,
        max_lifetime: u64,
    ) -> Result<Self, Rejected> {
        let session = Self::open(token, keys)?;
        session.check_at(now, max_lifetime)?;
        Ok(session)
    }

    /// Checks the MAC and reads the payload, whatever the time.
    pub fn open(token: &str, keys: &[Key]) -> Result<Self, Rejected> {
        let OwnedWire(
            version,
            login,
            created_at,
            expires_at,
            provider,
            sub,
            username,
            email,
            name,
            groups,
            checked_at,
            refresh,
        ) = sealed::open(token, PURPOSE, keys).ok_or(Rejected::BadSignature)?;
        if version != VERSION {
            return Err(Rejected::BadSignature);
        }
        Ok(Self {
            login,
            identity: Identity {
                provider,
                sub,
                username,
                email: Some(email).filter(|e| !e.is_empty()),
                name,
                groups,
            },
            created_at,
            expires_at,
            checked_at,
            refresh: Some(refresh).filter(|r| !r.is_empty()),
        })
    }

    /// Whether the identity is due for a re-check with the provider at `now`
    /// (`interval` 0: never).
    pub fn refresh_due(&self, now: u64, interval: u64) -> bool {
        interval != 0 && now >= self.checked_at.saturating_add(interval)
    }

    /// Whether the session is still valid at `now`.
    pub fn check_at(&self, now: u64, max_lifetime: u64) -> Result<(), Rejected> {
        if now >= self.expires_at {
            return Err(Rejected::Expired);
        }
        if max_lifetime != 0 && now >= self.created_at.saturating_add(max_lifetime) {
            return Err(Rejected::TooOld);
        }
        Ok(())
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
            expires_at,
            ..self.clone()
        })
    }
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
            checked_at: created_at,
            refresh: Some("c2VhbGVk".into()),
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
        session.refresh = None;
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
