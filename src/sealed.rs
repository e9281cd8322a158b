//! The signed-token format shared by the session and login-flow cookies:
//! `base64url(payload || tag)`, where `tag` is keyed BLAKE2s-256 (see
//! [`crate::blake2s`]) over `purpose || 0x00 || payload`, truncated to 128 bits.
//!
//! The payload is a small length-prefixed binary record rather than JSON: it is
//! read on every request, this format needs no allocation beyond the strings it
//! returns, and it cannot be ambiguous. The MAC covers the raw payload (not its
//! base64 text), which keeps the hashing — most of the cost of an
//! authenticated request — to a few BLAKE2s blocks. Nothing but base64 is
//! decoded before the MAC has been checked.

use crate::base64::{decode_url, encode_url};
use crate::crypto::Key;

/// Bytes of the truncated MAC tag.
pub const TAG_BYTES: usize = 16;
/// Tokens longer than this are refused before decoding.
const MAX_TOKEN_CHARS: usize = 8192;

/// Builds a payload field by field.
#[derive(Debug, Default)]
pub struct Writer(Vec<u8>);

impl Writer {
    pub fn new(version: u8) -> Self {
        let mut bytes = Vec::with_capacity(256);
        bytes.push(version);
        Self(bytes)
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
        let tag = key.sign_parts(&[purpose.as_bytes(), &[0], &self.0]);
        let mut sealed = self.0.clone();
        sealed.extend_from_slice(tag.get(..TAG_BYTES).unwrap_or_default());
        encode_url(&sealed)
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
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let mut bytes = decode_url(token)?;
    let payload_len = bytes.len().checked_sub(TAG_BYTES)?;
    let (payload, tag) = bytes.split_at(payload_len);
    if payload.is_empty() {
        return None;
    }
    let parts = [purpose.as_bytes(), &[0][..], payload];
    if !keys.iter().any(|key| key.verify_truncated(&parts, tag)) {
        return None;
    }
    bytes.truncate(payload_len);
    Some(Opened(bytes))
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
        assert!(
            open(&token, "sessio", keys).is_none(),
            "purpose boundary is bound"
        );
        assert!(open(&token, "session", std::slice::from_ref(&other)).is_none());
        let forged = Writer::new(1).str("admin").seal("session", &other);
        assert!(open(&forged, "session", keys).is_none());
        // The payload of one token with the tag of another.
        let bytes = decode_url(&token).unwrap();
        let forged_bytes = decode_url(&forged).unwrap();
        let mut spliced = forged_bytes[..forged_bytes.len() - TAG_BYTES].to_vec();
        spliced.extend_from_slice(&bytes[bytes.len() - TAG_BYTES..]);
        assert!(open(&encode_url(&spliced), "session", keys).is_none());
        // Truncated, empty, garbage, too long.
        assert!(open(token.get(..token.len() - 2).unwrap(), "session", keys).is_none());
        assert!(open(&encode_url(&bytes[..TAG_BYTES]), "session", keys).is_none());
        assert!(open("", "session", keys).is_none());
        assert!(open("....", "session", keys).is_none());
        assert!(open(&"A".repeat(9000), "session", keys).is_none());
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
