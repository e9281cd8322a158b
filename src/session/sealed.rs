//! The signed-token format shared by the session and login-flow cookies:
//! `base64url(payload || tag)`, where the payload is a compact JSON array
//! (`serde_json`) and `tag` is HMAC-SHA256 over `purpose || 0x00 || payload`,
//! truncated to 128 bits.
//!
//! The MAC covers the raw payload (not its base64 text), which keeps the
//! hashing — most of the cost of an authenticated request — to a few blocks.
//! Nothing but base64 is decoded before the MAC has been checked; the JSON is
//! read only from a payload we signed.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::session::crypto::Key;

/// Bytes of the truncated MAC tag.
pub const TAG_BYTES: usize = 16;
/// Tokens longer than this are refused before decoding.
const MAX_TOKEN_CHARS: usize = 8192;

/// Signs `payload` (serialised as JSON) for `purpose`, returning the token.
pub fn seal(payload: &impl Serialize, purpose: &str, key: &Key) -> String {
    // Serialising our own plain structs cannot fail; an empty payload would
    // never open, so the failure could not be mistaken for a token.
    let mut bytes = serde_json::to_vec(payload).unwrap_or_default();
    let tag = key.sign_parts(&[purpose.as_bytes(), &[0], &bytes]);
    bytes.extend_from_slice(tag.get(..TAG_BYTES).unwrap_or_default());
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Verifies `token` for `purpose` against each key (current first, then retired
/// ones) and reads its payload; `None` for anything forged, truncated, signed
/// with an unknown key, or not of the shape `T`.
pub fn open<T: DeserializeOwned>(token: &str, purpose: &str, keys: &[Key]) -> Option<T> {
    if token.len() > MAX_TOKEN_CHARS {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    let payload_len = bytes.len().checked_sub(TAG_BYTES)?;
    let (payload, tag) = bytes.split_at(payload_len);
    if payload.is_empty() {
        return None;
    }
    let parts = [purpose.as_bytes(), &[0][..], payload];
    if !keys.iter().any(|key| key.verify_truncated(&parts, tag)) {
        return None;
    }
    serde_json::from_slice(payload).ok()
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
        let token = seal(&(1u8, 42u64, "héllo", ""), "p", &k);
        let opened: Option<(u8, u64, String, String)> = open(&token, "p", std::slice::from_ref(&k));
        assert_eq!(opened, Some((1, 42, "héllo".into(), String::new())));
        let wrong_shape: Option<(u8, u64, String)> = open(&token, "p", std::slice::from_ref(&k));
        assert_eq!(wrong_shape, None, "extra fields are not ignored");
    }

    fn opens(token: &str, purpose: &str, keys: &[Key]) -> bool {
        open::<(u8, String)>(token, purpose, keys).is_some()
    }

    #[test]
    fn refuses_forgeries() {
        let k = key("0123456789abcdef0123456789abcdef");
        let other = key("fedcba9876543210fedcba9876543210");
        let token = seal(&(1u8, "alice"), "session", &k);
        let keys = std::slice::from_ref(&k);
        assert!(opens(&token, "session", keys));
        assert!(!opens(&token, "flow", keys), "purpose is bound");
        assert!(!opens(&token, "sessio", keys), "purpose boundary is bound");
        assert!(!opens(&token, "session", std::slice::from_ref(&other)));
        let forged = seal(&(1u8, "admin"), "session", &other);
        assert!(!opens(&forged, "session", keys));
        // The payload of one token with the tag of another.
        let bytes = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let forged_bytes = URL_SAFE_NO_PAD.decode(&forged).unwrap();
        let mut spliced = forged_bytes[..forged_bytes.len() - TAG_BYTES].to_vec();
        spliced.extend_from_slice(&bytes[bytes.len() - TAG_BYTES..]);
        assert!(!opens(&URL_SAFE_NO_PAD.encode(&spliced), "session", keys));
        // Truncated, empty, garbage, padded, too long.
        assert!(!opens(
            token.get(..token.len() - 2).unwrap(),
            "session",
            keys
        ));
        assert!(!opens(
            &URL_SAFE_NO_PAD.encode(&bytes[..TAG_BYTES]),
            "session",
            keys
        ));
        assert!(!opens("", "session", keys));
        assert!(!opens("....", "session", keys));
        assert!(!opens(&format!("{token}="), "session", keys));
        assert!(!opens(&"A".repeat(9000), "session", keys));
    }

    #[test]
    fn rotated_keys_still_open() {
        let old = key("0123456789abcdef0123456789abcdef");
        let new = key("fedcba9876543210fedcba9876543210");
        let token = seal(&(1u8, "x"), "s", &old);
        assert!(opens(&token, "s", &[new, old]));
    }

    #[test]
    fn a_signed_payload_of_another_shape_reads_as_none() {
        let k = key("0123456789abcdef0123456789abcdef");
        let keys = std::slice::from_ref(&k);
        let token = seal(&(1u8, 2u8), "s", &k);
        assert!(!opens(&token, "s", keys));
    }
}
