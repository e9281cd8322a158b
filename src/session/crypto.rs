//! Symmetric primitives, all from well-kept crates: key derivation from the
//! configured secret (HKDF-SHA256), cookie MACs (HMAC-SHA256, both from
//! `hmac-sha256`, which `jwt-simple` brings too), constant-time comparison
//! (`subtle`), random tokens and PKCE. No public-key code lives here (see
//! `id_token` for that).

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac_sha256::{Hash, HKDF, HMAC};
use subtle::ConstantTimeEq as _;

/// HKDF salt: binds every derived key to this filter and format version.
const KDF_SALT: &[u8] = b"tinyauth-wasm/v1";

/// A 256-bit key derived for one purpose, kept as the HMAC state after the
/// key block, so each MAC skips that block. `Debug` never shows it.
#[derive(Clone)]
pub struct Key(HMAC);

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
        Self(HMAC::new(key))
    }

    /// The MAC of the concatenation of `parts`.
    pub fn sign_parts(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = self.0.clone();
        for part in parts {
            mac.update(part);
        }
        mac.finalize()
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
/// lengths, which are public, decide early).
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
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
    fn the_mac_is_hmac_sha256_as_rfc4231_case_2_gives_it() {
        // Case 2's key is "Jefe": check the crate as we call it, through a
        // Key built from raw key bytes.
        let key = Key(HMAC::new(b"Jefe"));
        let tag = key.sign_parts(&[b"what do ya ", b"want for nothing?"]);
        let hex = hex(&tag);
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
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
