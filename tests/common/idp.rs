//! A fake identity provider for native tests: fixed keys for every algorithm
//! (`tests/keys/`), ID-token minting (also malformed on purpose), JWKS and
//! discovery documents.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

/// Deterministic "randomness" for PSS salts (tests only).
struct TestRng(u8);

impl rsa::rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        u32::from_le_bytes([self.next(), self.next(), self.next(), self.next()])
    }
    fn next_u64(&mut self) -> u64 {
        u64::from(self.next_u32()) << 32 | u64::from(self.next_u32())
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            *byte = self.next();
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for TestRng {}

impl TestRng {
    fn next(&mut self) -> u8 {
        self.0 = self.0.wrapping_mul(31).wrapping_add(7);
        self.0
    }
}

enum Signer {
    Rsa(rsa::RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
    P384(p384::ecdsa::SigningKey),
    Ed25519(ed25519_dalek::SigningKey),
}

/// A signing key with its `kid` and `alg`.
pub struct TestKey {
    pub kid: String,
    pub alg: &'static str,
    signer: Signer,
}

fn pem(file: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/keys")
            .join(file),
    )
    .unwrap_or_else(|err| panic!("test key {file}: {err}"))
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

impl TestKey {
    /// Loads `tests/keys/<file>` for `alg` (RS*/PS* need an RSA key file).
    pub fn load(file: &str, kid: &str, alg: &'static str) -> Self {
        use ed25519_dalek::pkcs8::DecodePrivateKey as _;
        let text = pem(file);
        let signer = match alg {
            "ES256" => Signer::P256(p256::ecdsa::SigningKey::from_pkcs8_pem(&text).unwrap()),
            "ES384" => Signer::P384(p384::ecdsa::SigningKey::from_pkcs8_pem(&text).unwrap()),
            "EdDSA" => Signer::Ed25519(ed25519_dalek::SigningKey::from_pkcs8_pem(&text).unwrap()),
            _ => Signer::Rsa(rsa::RsaPrivateKey::from_pkcs8_pem(&text).unwrap()),
        };
        Self {
            kid: kid.to_owned(),
            alg,
            signer,
        }
    }

    /// The key's default: RS256 with `tests/keys/rsa-a.pem`, kid `key-a`.
    pub fn rs256() -> Self {
        Self::load("rsa-a.pem", "key-a", "RS256")
    }

    /// The public JWK.
    pub fn jwk(&self) -> Value {
        match &self.signer {
            Signer::Rsa(key) => {
                use rsa::traits::PublicKeyParts as _;
                json!({"kty": "RSA", "kid": self.kid, "use": "sig", "alg": self.alg,
                       "n": b64(&key.n().to_bytes_be()), "e": b64(&key.e().to_bytes_be())})
            }
            Signer::P256(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-256", "kid": self.kid, "use": "sig", "alg": self.alg,
                       "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
            Signer::P384(key) => {
                let point = key.verifying_key().to_encoded_point(false);
                json!({"kty": "EC", "crv": "P-384", "kid": self.kid, "use": "sig", "alg": self.alg,
                       "x": b64(point.x().unwrap()), "y": b64(point.y().unwrap())})
            }
            Signer::Ed25519(key) => {
                json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig", "alg": self.alg,
                                           "x": b64(key.verifying_key().as_bytes())})
            }
        }
    }

    /// Signs `signing_input` with this key's algorithm.
    pub fn signature(&self, signing_input: &[u8]) -> Vec<u8> {
        use rsa::signature::{RandomizedSigner as _, SignatureEncoding as _, Signer as _};
        use sha2::{Sha256, Sha384, Sha512};
        match (&self.signer, self.alg) {
            (Signer::Rsa(key), "RS256") => rsa::pkcs1v15::SigningKey::<Sha256>::new(key.clone())
                .sign(signing_input)
                .to_vec(),
            (Signer::Rsa(key), "RS384") => rsa::pkcs1v15::SigningKey::<Sha384>::new(key.clone())
                .sign(signing_input)
                .to_vec(),
            (Signer::Rsa(key), "RS512") => rsa::pkcs1v15::SigningKey::<Sha512>::new(key.clone())
                .sign(signing_input)
                .to_vec(),
            (Signer::Rsa(key), "PS256") => rsa::pss::SigningKey::<Sha256>::new(key.clone())
                .sign_with_rng(&mut TestRng(1), signing_input)
                .to_vec(),
            (Signer::Rsa(key), "PS384") => rsa::pss::SigningKey::<Sha384>::new(key.clone())
                .sign_with_rng(&mut TestRng(2), signing_input)
                .to_vec(),
            (Signer::Rsa(key), "PS512") => rsa::pss::SigningKey::<Sha512>::new(key.clone())
                .sign_with_rng(&mut TestRng(3), signing_input)
                .to_vec(),
            (Signer::P256(key), _) => {
                let sig: p256::ecdsa::Signature = key.sign(signing_input);
                sig.to_bytes().to_vec()
            }
            (Signer::P384(key), _) => {
                let sig: p384::ecdsa::Signature = key.sign(signing_input);
                sig.to_bytes().to_vec()
            }
            (Signer::Ed25519(key), _) => key.sign(signing_input).to_bytes().to_vec(),
            (Signer::Rsa(_), other) => panic!("RSA key cannot sign {other}"),
        }
    }

    /// A compact JWS of `claims` with a standard header.
    pub fn mint(&self, claims: &Value) -> String {
        self.mint_with_header(
            &json!({"alg": self.alg, "kid": self.kid, "typ": "JWT"}),
            claims,
        )
    }

    /// A compact JWS with any header (for hostile cases).
    pub fn mint_with_header(&self, header: &Value, claims: &Value) -> String {
        self.mint_text(&header.to_string(), &claims.to_string())
    }

    /// A compact JWS of header and payload given as text, so they can be
    /// JSON no `Value` can hold (duplicate member names).
    pub fn mint_text(&self, header: &str, payload: &str) -> String {
        let input = format!("{}.{}", b64(header.as_bytes()), b64(payload.as_bytes()));
        format!("{input}.{}", b64(&self.signature(input.as_bytes())))
    }
}

/// An unsigned token (`alg: none`) or any header/claims with a chosen signature.
pub fn raw_token(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string().as_bytes()),
        b64(claims.to_string().as_bytes()),
        b64(signature)
    )
}

/// `{"keys": [...]}` for these keys.
pub fn jwks(keys: &[&TestKey]) -> Value {
    json!({"keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>()})
}

/// Pocket-ID-like ID-token claims for `userinfo`'s `sub` and this login's nonce.
pub fn id_claims(issuer: &str, client_id: &str, nonce: &str, now: u64, userinfo: &Value) -> Value {
    let mut claims = json!({
        "iss": issuer,
        "aud": [client_id],
        "sub": userinfo["sub"],
        "exp": now + 3600,
        "iat": now,
        "nonce": nonce,
        "type": "id-token",
        "amr": ["phr"],
    });
    for key in [
        "email",
        "email_verified",
        "preferred_username",
        "name",
        "groups",
    ] {
        if let Some(value) = userinfo.get(key) {
            claims[key] = value.clone();
        }
    }
    claims
}
