//! The provider's refresh token inside the session cookie, encrypted with
//! XChaCha20-Poly1305 (`chacha20poly1305`) under a key derived from the
//! secret: the browser and the apps behind the filter see only ciphertext,
//! and it is bound to its session (the session ID is the associated data), so
//! it cannot be moved into another session.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac_sha256::HKDF;

use super::crypto::{Entropy, EntropyUnavailable};
use crate::secret::Secret;

/// HKDF salt and purpose, distinct from the MAC keys' (`session::crypto`).
const KDF_SALT: &[u8] = b"tinyauth-wasm/v1";
const PURPOSE: &str = "refresh-token";
const NONCE_BYTES: usize = 24;

/// An encryption key for refresh tokens. `Debug` never shows it.
#[derive(Clone)]
pub struct TokenKey(XChaCha20Poly1305);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

impl TokenKey {
    pub fn derive(secret: &[u8]) -> Self {
        let prk = HKDF::extract(KDF_SALT, secret);
        let mut key = [0u8; 32];
        HKDF::expand(&mut key, prk, PURPOSE);
        Self(XChaCha20Poly1305::new(&key.into()))
    }
}

/// Encrypts `token` for the session `session_id`: base64url of the random
/// nonce followed by the ciphertext and tag.
pub fn seal(
    key: &TokenKey,
    session_id: &str,
    token: &Secret,
    rng: &mut dyn Entropy,
) -> Result<String, EntropyUnavailable> {
    let mut nonce = [0u8; NONCE_BYTES];
    rng.fill(&mut nonce)?;
    let payload = Payload {
        msg: token.expose().as_bytes(),
        aad: session_id.as_bytes(),
    };
    // Encryption into a Vec fails only if the message exceeds what the
    // cipher can count (256 GiB); a refresh token never does.
    let Ok(ciphertext) = key.0.encrypt(&XNonce::from(nonce), payload) else {
        return Err(EntropyUnavailable);
    };
    let mut sealed = nonce.to_vec();
    sealed.extend_from_slice(&ciphertext);
    Ok(URL_SAFE_NO_PAD.encode(sealed))
}

/// Decrypts a sealed token of session `session_id` with any of `keys`
/// (the current secret's first); `None` if none opens it.
pub fn open(keys: &[TokenKey], session_id: &str, sealed: &str) -> Option<Secret> {
    let bytes = URL_SAFE_NO_PAD.decode(sealed).ok()?;
    let (nonce, ciphertext) = bytes.split_at_checked(NONCE_BYTES)?;
    let nonce = XNonce::try_from(nonce).ok()?;
    keys.iter().find_map(|key| {
        let plain = key
            .0
            .decrypt(
                &nonce,
                Payload {
                    msg: ciphertext,
                    aad: session_id.as_bytes(),
                },
            )
            .ok()?;
        String::from_utf8(plain).ok().map(Secret::new)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Counter(u8);
    impl Entropy for Counter {
        fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable> {
            for byte in buf {
                self.0 = self.0.wrapping_add(1);
                *byte = self.0;
            }
            Ok(())
        }
    }

    #[test]
    fn round_trip_binds_the_session_and_hides_the_token() {
        let key = TokenKey::derive(b"0123456789abcdef0123456789abcdef");
        let token = Secret::new("ory_rt_secret-refresh-token".to_owned());
        let sealed = seal(&key, "session-1", &token, &mut Counter(0)).unwrap();
        assert!(!sealed.contains("secret-refresh"));
        let keys = [key];
        assert_eq!(
            open(&keys, "session-1", &sealed).map(|s| s.expose().to_owned()),
            Some("ory_rt_secret-refresh-token".to_owned())
        );
        assert!(
            open(&keys, "session-2", &sealed).is_none(),
            "bound to its session"
        );
        let other = [TokenKey::derive(b"another-secret-another-secret-000")];
        assert!(open(&other, "session-1", &sealed).is_none());
    }

    #[test]
    fn tampering_anywhere_is_refused() {
        let key = TokenKey::derive(b"0123456789abcdef0123456789abcdef");
        let token = Secret::new("refresh".to_owned());
        let sealed = seal(&key, "s", &token, &mut Counter(7)).unwrap();
        let keys = [key];
        for i in 0..sealed.len() {
            let mut bytes = sealed.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(bytes).unwrap();
            if tampered != sealed {
                assert!(open(&keys, "s", &tampered).is_none(), "byte {i}");
            }
        }
        assert!(open(&keys, "s", "").is_none());
        assert!(open(&keys, "s", "!!").is_none());
    }

    #[test]
    fn previous_secrets_still_open_old_tokens() {
        let old = TokenKey::derive(b"old-secret-old-secret-old-secret-0");
        let new = TokenKey::derive(b"new-secret-new-secret-new-secret-0");
        let token = Secret::new("rt".to_owned());
        let sealed = seal(&old, "s", &token, &mut Counter(1)).unwrap();
        assert!(open(&[new, old], "s", &sealed).is_some());
    }
}
