//! The signed-token format shared by the session and login-flow cookies:
//! `base64url(payload) "." base64url(HMAC-SHA256(key, purpose "." base64url(payload)))`.
//!
//! The payload is a small length-prefixed binary record rather than JSON: it is
//! read on every request, and this format needs no allocation beyond the strings
//! it returns and cannot be ambiguous. The MAC is checked before anything is
//! decoded, so unauthenticated input is never parsed.

use crate::crypto::{b64url_decode, b64url_encode, Key};

/// Builds a payload field by field.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new(version: u8) -> Self {
        Self(vec![version])
    }

    pub fn u64(&mut self, value: u64) -> &mut Self {
        self.0.extend_from_slice(&value.to_be_bytes());
        self
    }

    /// Writes a string; strings longer than 65535 bytes are truncated at a
    /// character boundary (no claim we keep comes close).
    pub fn str(&mut self, value: &str) -> &mut Self {
        let mut end = value.len().min(usize::from(u16::MAX));
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = value.as_bytes().get(..end).unwrap_or_default();
        let len = u16::try_from(bytes.len()).unwrap_or(u16::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }

    /// Signs the payload for `purpose` and returns the token.
    pub fn seal(&self, purpose: &str, key: &Key) -> String {
        let body = b64url_encode(&self.0);
        let tag = key.sign(&mac_input(purpose, &body));
        format!("{body}.{}", b64url_encode(&tag))
    }
}

/// Reads a payload field by field; every read is bounds-checked.
#[derive(Debug)]
pub struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn u64(&mut self) -> Option<u64> {
        let (head, rest) = self.bytes.split_first_chunk::<8>()?;
        self.bytes = rest;
        Some(u64::from_be_bytes(*head))
    }

    pub fn str(&mut self) -> Option<&'a str> {
        let (len, rest) = self.bytes.split_first_chunk::<2>()?;
        let len = usize::from(u16::from_be_bytes(*len));
        let (value, rest) = rest.split_at_checked(len)?;
        self.bytes = rest;
        std::str::from_utf8(value).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }
}

/// A verified payload.
#[derive(Debug)]
pub struct Opened(Vec<u8>);

impl Opened {
    /// The version byte and a reader over the rest.
    pub fn reader(&self) -> Option<(u8, Reader<'_>)> {
        let (version, rest) = self.0.split_first()?;
        Some((*version, Reader { bytes: rest }))
    }
}

/// Verifies `token` for `purpose` against each key (current first, then retired
/// ones) and returns its payload; `None` for anything forged, truncated or signed
/// with an unknown key.
pub fn open(token: &str, purpose: &str, keys: &[Key]) -> Option<Opened> {
    let (body, tag) = token.split_once('.')?;
    // A 32-byte tag is exactly 43 base64url characters; refuse anything else
    // before spending a MAC on it.
    if tag.len() != 43 || body.len() > 8192 {
        return None;
    }
    let tag = b64url_decode(tag)?;
    let input = mac_input(purpose, body);
    if !keys.iter().any(|key| key.verify(&input, &tag)) {
        return None;
    }
    b64url_decode(body).map(Opened)
}

fn mac_input(purpose: &str, body: &str) -> Vec<u8> {
    let mut input = Vec::with_capacity(purpose.len() + 1 + body.len());
    input.extend_from_slice(purpose.as_bytes());
    input.push(b'.');
    input.extend_from_slice(body.as_bytes());
    input
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(secret: &str) -> Key {
        Key::derive(secret.as_bytes(), "test")
    }

    #[test]
    fn round_trip() {
        let k = key("0123456789abcdef0123456789abcdef");
        let token = Writer::new(1).u64(42).str("héllo").str("").seal("p", &k);
        let opened = open(&token, "p", std::slice::from_ref(&k)).unwrap();
        let (version, mut r) = opened.reader().unwrap();
        assert_eq!(version, 1);
        assert_eq!(r.u64(), Some(42));
        assert_eq!(r.str(), Some("héllo"));
        assert_eq!(r.str(), Some(""));
        assert!(r.is_empty());
        assert_eq!(r.u64(), None);
        assert_eq!(r.str(), None);
    }

    #[test]
    fn refuses_forgeries() {
        let k = key("0123456789abcdef0123456789abcdef");
        let other = key("fedcba9876543210fedcba9876543210");
        let token = Writer::new(1).str("alice").seal("session", &k);
        let keys = std::slice::from_ref(&k);
        assert!(open(&token, "session", keys).is_some());
        assert!(open(&token, "flow", keys).is_none(), "purpose is bound");
        assert!(open(&token, "session", std::slice::from_ref(&other)).is_none());
        let (body, tag) = token.split_once('.').unwrap();
        let forged_body = Writer::new(1).str("admin").seal("session", &other);
        let (forged, _) = forged_body.split_once('.').unwrap();
        assert!(open(&format!("{forged}.{tag}"), "session", keys).is_none());
        assert!(open(body, "session", keys).is_none());
        assert!(open(&format!("{body}."), "session", keys).is_none());
        assert!(open(
            &format!("{body}.{}", tag.get(..42).unwrap()),
            "session",
            keys
        )
        .is_none());
        assert!(open("", "session", keys).is_none());
        assert!(open("....", "session", keys).is_none());
    }

    #[test]
    fn rotated_keys_still_open() {
        let old = key("0123456789abcdef0123456789abcdef");
        let new = key("fedcba9876543210fedcba9876543210");
        let token = Writer::new(1).str("x").seal("s", &old);
        assert!(open(&token, "s", &[new, old]).is_some());
    }

    #[test]
    fn truncated_payloads_read_as_none() {
        let mut r = Reader {
            bytes: &[0, 5, b'a'],
        };
        assert_eq!(r.str(), None);
        let mut r = Reader { bytes: &[1, 2, 3] };
        assert_eq!(r.u64(), None);
        let mut r = Reader {
            bytes: &[0, 1, 0xff],
        };
        assert_eq!(r.str(), None, "invalid UTF-8");
    }
}
