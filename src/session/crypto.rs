//! Symmetric primitives, all from well-kept crates: key derivation from the
//! configured secret (HKDF-SHA256 from `hmac-sha256`, which `jwt-simple`
//! brings too), cookie MACs (keyed BLAKE2s from the `RustCrypto` project's `blake2`: it is
//! checked on every authenticated request, and under V8 it is three times as
//! fast as HMAC-SHA256), constant-time comparison (`constant_time_eq`), random tokens
//! and PKCE. No public-key code lives here (see `oidc::id_token` for that).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2sMac256;
use hmac_sha256::{Hash, HKDF};

/// HKDF salt: binds every derived key to this filter and format version.
const KDF_SALT: &[u8] = b"tinyauth-wasm/v1";

/// A 256-bit key derived for one purpose, kept as the keyed BLAKE2s state
/// after the key block, so each MAC skips that block. `Debug` never shows it.
#[derive(Clone)]
pub struct Key(Blake2sMac256);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key([redacted])")
    }
}

impl Key {
    /// Derives the key for `purpose` from the operator's secret with HKDF-SHA256
    /// (RFC 5869), so the session and login-flow cookies never share a key.
    pub fn derive(secret: &[u8], purpose: &str) -> Self {
        let prk = HKDF::extract(KDF_SALT, secret);
        let mut key = [0u8; 32];
        HKDF::expand(&mut key, prk, purpose);
        Self(<Blake2sMac256 as KeyInit>::new(&key.into()))
    }

    /// The MAC of the concatenation of `parts`.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Checks a tag that may be a left-truncated MAC (at least 16 bytes) of the
    /// concatenation of `parts`, in constant time.
    pub fn verify_truncated(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        if !(16..=32).contains(&tag.len()) {
            return false;
        }
        let mac = self.sign_parts(parts);
        mac.get(..tag.len())
            .is_some_and(|prefix| ct_eq(prefix, tag))
    }
}

/// Constant-time equality for state values, nonces and MAC tags (only the
/// lengths, which are public, decide early). The `constant_time_eq` crate
/// (already linked through `jwt-simple`) compares a word at a time, a third
/// faster under V8 than `subtle`'s byte-at-a-time loop.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    constant_time_eq::constant_time_eq(a, b)
}

/// A source of cryptographically secure random bytes, injected so the core stays
/// deterministic under test. The shell implements it with WASI `random_get`.
pub trait Entropy {
    fn fill(&mut self, buf: &mut [u8]) -> Result<(), EntropyUnavailable>;
}

/// The host could not supply random bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntropyUnavailable;

impl fmt::Display for EntropyUnavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the host could not provide random bytes")
    }
}

/// 32 random bytes as 43 URL-safe characters: used for `state`, `nonce` and the
/// PKCE verifier (RFC 7636 §4.1 wants 43–128 characters of 256-bit entropy).
pub fn random_token(rng: &mut dyn Entropy) -> Result<String, EntropyUnavailable> {
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The PKCE S256 challenge for a verifier (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Hash::hash(verifier.as_bytes()))
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Hash::hash(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(bytes: &[u8]) -> String {
        bytes
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<Vec<_>>()
            .concat()
    }

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_mac_is_keyed_blake2s_as_the_reference_vectors_give_it() {
        // BLAKE2's official keyed known-answer test (blake2s-kat.txt): key
        // 00..1f, message 00..3f (the 64th vector).
        let key: Vec<u8> = (0..32).collect();
        let message: Vec<u8> = (0..64).collect();
        let mac = Key(<Blake2sMac256 as KeyInit>::new_from_slice(&key).unwrap());
        assert_eq!(
            hex(&mac.sign_parts(&[&message[..10], &message[10..]])),
            "8975b0577fd35566d750b362b0897a26c399136df07bababbde6203ff2954ed4"
        );
    }

    #[test]
    fn derivation_is_hkdf_sha256_and_purpose_separated() {
        // RFC 5869 test case 1's extract and expand through the crate.
        let ikm = [0x0bu8; 22];
        let salt: Vec<u8> = (0x00..=0x0c).collect();
        let info: Vec<u8> = (0xf0..=0xf9).collect();
        let prk = HKDF::extract(&salt, ikm);
        let mut okm = [0u8; 42];
        HKDF::expand(&mut okm, prk, &info);
        let hex = hex(&okm);
        assert_eq!(
            hex,
            "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
        );
        let a = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        let b = Key::derive(b"0123456789abcdef0123456789abcdef", "session");
        let c = Key::derive(b"0123456789abcdef0123456789abcdef", "login-flow");
        assert_eq!(a.sign_parts(&[b"x"]), b.sign_parts(&[b"x"]));
        assert_ne!(a.sign_parts(&[b"x"]), c.sign_parts(&[b"x"]));
        assert_eq!(a.sign_parts(&[b"ab", b"c"]), a.sign_parts(&[b"abc"]));
        assert_eq!(format!("{a:?}"), "Key([redacted])");
    }

    #[test]
    fn verify_rejects_tampering() {
        let key = Key::derive(b"secret-secret-secret-secret-secret", "session");
        let tag = key.sign_parts(&[b"payload"]);
        assert!(key.verify_truncated(&[b"payload"], &tag));
        assert!(!key.verify_truncated(&[b"payloaD"], &tag));
        assert!(key.verify_truncated(&[b"pay", b"load"], &tag[..16]));
        assert!(
            !key.verify_truncated(&[b"payload"], &tag[..15]),
            "at least 128 bits"
        );
        let mut bad = tag;
        bad[3] ^= 1;
        assert!(!key.verify_truncated(&[b"payload"], &bad[..16]));
        let other = Key::derive(b"another-secret-another-secret-xx", "session");
        assert!(!other.verify_truncated(&[b"payload"], &tag));
    }

    #[test]
    fn constant_time_eq() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
        assert!(ct_eq(b"", b""));
    }
}
