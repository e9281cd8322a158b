//! Sessions this VM has already verified, by their exact cookie value: an
//! authenticated request then costs a hash lookup instead of base64, the MAC
//! and the payload. Per VM and for speed only: a worker without the entry
//! checks the cookie itself, with the same outcome, and the entry's lifetime
//! is checked on every request as for a cookie read afresh.
//!
//! Only a value whose MAC verified is ever stored, so an entry cannot be
//! forged. An entry is found by the standard library's keyed hash (random
//! keys per VM) of the value's last 32 characters, which lie in its MAC tag,
//! and the whole value is then compared: those 32 characters, the secret
//! part, in constant time, and the payload before them (which the holder
//! reads in clear anyway) as plain bytes. The payload's comparison can only
//! ever run against a stored value whose tag suffix hashed to the same 64
//! bits under this VM's random keys, which nobody without that tag can aim
//! for; and it is ten times cheaper than a constant-time one for a 516-byte
//! cookie under V8 (0.1 against 0.9 µs, on every authenticated request).

use std::cell::RefCell;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};

use super::crypto::{ct_eq, Key};
use super::{Rejected, Session};

/// Characters at the end of a cookie value that pick its entry.
const HASHED_SUFFIX: usize = 32;

/// Entries kept per VM; one is dropped for each new one beyond this (a few
/// hundred KiB at most).
const CAPACITY: usize = 1024;

/// The verified sessions of one VM.
#[derive(Debug, Clone, Default)]
pub struct Verified {
    // Filled during a request, which the core sees only by shared reference.
    entries: RefCell<HashMap<u64, (Box<str>, Session)>>,
    hasher: RandomState,
}

impl Verified {
    /// The session in `token`, valid at `now`: from the cache when this exact
    /// value was verified before, else opened and remembered.
    pub fn open_at(
        &self,
        token: &str,
        keys: &[Key],
        now: u64,
        max_lifetime: u64,
    ) -> Result<Session, Rejected> {
        let slot = self.slot(token);
        let cached = self.entries.try_borrow().ok().and_then(|entries| {
            entries
                .get(&slot)
                .filter(|(stored, _)| same_value(stored, token))
                .map(|(_, session)| session.clone())
        });
        let session = if let Some(session) = cached {
            session
        } else {
            let session = Session::open(token, keys)?;
            self.remember(slot, token, &session);
            session
        };
        session.check_at(now, max_lifetime)?;
        Ok(session)
    }

    fn slot(&self, token: &str) -> u64 {
        let bytes = token.as_bytes();
        let suffix = bytes
            .get(bytes.len().saturating_sub(HASHED_SUFFIX)..)
            .unwrap_or(bytes);
        let mut hasher = self.hasher.build_hasher();
        hasher.write(suffix);
        hasher.write_usize(bytes.len());
        hasher.finish()
    }

    fn remember(&self, slot: u64, token: &str, session: &Session) {
        let Ok(mut entries) = self.entries.try_borrow_mut() else {
            return;
        };
        if entries.len() >= CAPACITY && !entries.contains_key(&slot) {
            if let Some(evicted) = entries.keys().next().copied() {
                entries.remove(&evicted);
            }
        }
        // Two values of one slot: the newer one is kept.
        entries.insert(slot, (token.into(), session.clone()));
    }

    pub fn len(&self) -> usize {
        self.entries.try_borrow().map_or(0, |entries| entries.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Whether `presented` is the `stored` value: the tag suffix in constant
/// time, the payload before it as plain bytes (see the module's note).
fn same_value(stored: &str, presented: &str) -> bool {
    let (stored, presented) = (stored.as_bytes(), presented.as_bytes());
    if stored.len() != presented.len() {
        return false;
    }
    let split = stored.len().saturating_sub(HASHED_SUFFIX);
    let (stored_payload, stored_tag) = stored.split_at(split);
    let (presented_payload, presented_tag) = presented.split_at(split);
    // Both halves are always compared: a wrong tag takes as long as a wrong
    // payload.
    let tag_matches = ct_eq(stored_tag, presented_tag);
    let payload_matches = stored_payload == presented_payload;
    tag_matches & payload_matches
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::identity::Identity;

    fn session(login: &str, expires_at: u64) -> Session {
        Session {
            login: login.into(),
            identity: Identity {
                provider: "generic".into(),
                sub: "s".into(),
                username: "alice".into(),
                email: None,
                name: "Alice".into(),
                groups: vec!["admins".into()],
            },
            created_at: 0,
            expires_at,
            checked_at: 0,
            refresh: None,
        }
    }

    #[test]
    fn a_value_is_the_same_only_when_every_byte_is() {
        let stored = format!("{}{}", "p".repeat(40), "t".repeat(32));
        assert!(same_value(&stored, &stored.clone()));
        for at in [0, 39, 40, 71] {
            let mut other = stored.clone().into_bytes();
            if let Some(byte) = other.get_mut(at) {
                *byte = b'x';
            }
            let other = String::from_utf8(other).unwrap();
            assert!(!same_value(&stored, &other), "byte {at}");
        }
        assert!(!same_value(
            &stored,
            &stored.chars().skip(1).collect::<String>()
        ));
        assert!(!same_value("short", "shorT"));
        assert!(same_value("short", "short"));
    }

    #[test]
    fn a_verified_value_is_served_from_the_cache_and_still_expires() {
        let key = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        let keys = std::slice::from_ref(&key);
        let token = session("a", 100).seal(&key);
        let verified = Verified::default();
        assert_eq!(verified.open_at(&token, keys, 10, 0), Ok(session("a", 100)));
        assert_eq!(verified.len(), 1);
        // Served from the cache: no key is needed any more.
        assert_eq!(verified.open_at(&token, &[], 20, 0), Ok(session("a", 100)));
        assert_eq!(
            verified.open_at(&token, &[], 100, 0),
            Err(Rejected::Expired)
        );
        assert_eq!(verified.open_at(&token, &[], 60, 50), Err(Rejected::TooOld));
    }

    #[test]
    fn forged_or_tampered_values_are_never_remembered_or_served() {
        let key = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        let other = Key::derive(b"fedcba9876543210fedcba9876543210", "session");
        let keys = std::slice::from_ref(&key);
        let verified = Verified::default();
        let forged = session("x", 100).seal(&other);
        assert_eq!(
            verified.open_at(&forged, keys, 10, 0),
            Err(Rejected::BadSignature)
        );
        assert!(verified.is_empty());
        // A value that differs from a cached one only before its last 32
        // characters lands on the same entry, and is still refused.
        let token = session("a", 100).seal(&key);
        assert!(verified.open_at(&token, keys, 10, 0).is_ok());
        let mut tampered = token.clone().into_bytes();
        tampered[5] = if tampered[5] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(
            verified.open_at(&tampered, keys, 10, 0),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            verified.open_at(&tampered, &[], 10, 0),
            Err(Rejected::BadSignature)
        );
        assert_eq!(verified.len(), 1);
        assert!(
            verified.open_at(&token, &[], 10, 0).is_ok(),
            "the real one is still cached"
        );
    }

    #[test]
    fn the_cache_is_bounded() {
        let key = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        let keys = std::slice::from_ref(&key);
        let verified = Verified::default();
        for i in 0..CAPACITY + 10 {
            let token = session(&i.to_string(), 100).seal(&key);
            assert!(verified.open_at(&token, keys, 10, 0).is_ok());
        }
        assert_eq!(verified.len(), CAPACITY);
    }
}
