//! JSON Web Key Sets (RFC 7517): the provider's public keys, imported once per
//! fetch into `jwt-simple`'s verifying keys. Import is strict (`jwt-simple`
//! checks the key type, curve, `use`, `key_ops`, a pinned `alg`, the point or
//! modulus, and refuses member names given twice). Entries the filter cannot
//! use are skipped with a note, never fatal: one odd key must not stop every
//! login.

use std::fmt;

use jwt_simple::algorithms::{
    ES256PublicKey, ES384PublicKey, Ed25519PublicKey, PS256PublicKey, PS384PublicKey,
    PS512PublicKey, RS256PublicKey, RS384PublicKey, RS512PublicKey,
};
use jwt_simple::JWTError;
use serde_json::Value;

use crate::document;
use crate::oidc::messages::printable;

/// The signature algorithms the filter accepts: everything Pocket ID can rotate
/// to that has a public key. `none` and HMAC are never accepted (the
/// provider's public key must not double as an HMAC secret).
pub const ALLOWED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];

/// A key imported for exactly one algorithm: a token signed with another
/// algorithm can never reach it.
#[derive(Clone)]
pub enum VerifyingKey {
    Rs256(RS256PublicKey),
    Rs384(RS384PublicKey),
    Rs512(RS512PublicKey),
    Ps256(PS256PublicKey),
    Ps384(PS384PublicKey),
    Ps512(PS512PublicKey),
    Es256(ES256PublicKey),
    Es384(ES384PublicKey),
    EdDsa(Ed25519PublicKey),
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({})", self.alg())
    }
}

impl VerifyingKey {
    /// Imports `jwk` (its JSON text) for `alg`.
    fn import(alg: &str, jwk: &str) -> Result<Self, jwt_simple::Error> {
        Ok(match alg {
            "RS256" => Self::Rs256(RS256PublicKey::from_jwk(jwk)?),
            "RS384" => Self::Rs384(RS384PublicKey::from_jwk(jwk)?),
            "RS512" => Self::Rs512(RS512PublicKey::from_jwk(jwk)?),
            "PS256" => Self::Ps256(PS256PublicKey::from_jwk(jwk)?),
            "PS384" => Self::Ps384(PS384PublicKey::from_jwk(jwk)?),
            "PS512" => Self::Ps512(PS512PublicKey::from_jwk(jwk)?),
            "ES256" => Self::Es256(ES256PublicKey::from_jwk(jwk)?),
            "ES384" => Self::Es384(ES384PublicKey::from_jwk(jwk)?),
            "EdDSA" => Self::EdDsa(Ed25519PublicKey::from_jwk(jwk)?),
            _ => return Err(JWTError::AlgorithmMismatch.into()),
        })
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Rs256(_) => "RS256",
            Self::Rs384(_) => "RS384",
            Self::Rs512(_) => "RS512",
            Self::Ps256(_) => "PS256",
            Self::Ps384(_) => "PS384",
            Self::Ps512(_) => "PS512",
            Self::Es256(_) => "ES256",
            Self::Es384(_) => "ES384",
            Self::EdDsa(_) => "EdDSA",
        }
    }
}

/// One usable key of a set: its `kid` and the algorithms it verifies (the
/// pinned `alg`, else every allowed algorithm of its key type).
#[derive(Debug, Clone)]
pub struct Jwk {
    pub kid: Option<String>,
    pub keys: Vec<VerifyingKey>,
}

/// A parsed key set, plus what was skipped (for the log).
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    pub keys: Vec<Jwk>,
    pub skipped: Vec<String>,
}

/// The document is not a key set at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAKeySet;

impl fmt::Display for NotAKeySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a JSON Web Key Set (no `keys` array)")
    }
}

impl Jwks {
    pub fn parse(body: &[u8]) -> Result<Self, NotAKeySet> {
        let document = document::object(body).map_err(|_| NotAKeySet)?;
        let Some(Value::Array(entries)) = document.get("keys") else {
            return Err(NotAKeySet);
        };
        let mut jwks = Self::default();
        for (index, entry) in entries.iter().enumerate() {
            let text = |name: &str| entry.get(name).and_then(Value::as_str);
            let label = text("kid").map_or_else(|| format!("#{index}"), |kid| printable(kid, 64));
            match import(entry) {
                Ok(keys) => jwks.keys.push(Jwk {
                    kid: text("kid").map(str::to_owned),
                    keys,
                }),
                Err(why) => jwks.skipped.push(format!("{label}: {why}")),
            }
        }
        Ok(jwks)
    }

    /// The keys that may verify a token signed with `alg` and the given `kid`.
    pub fn candidates<'a>(
        &'a self,
        alg: &'a str,
        kid: Option<&'a str>,
    ) -> impl Iterator<Item = &'a VerifyingKey> {
        self.keys
            .iter()
            .filter(move |jwk| kid.is_none_or(|kid| jwk.kid.as_deref() == Some(kid)))
            .flat_map(|jwk| jwk.keys.iter())
            .filter(move |key| key.alg() == alg)
    }

    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|jwk| jwk.kid.as_deref() == Some(kid))
    }
}

/// The algorithms a key of this type and curve can verify.
fn algs_for(kty: Option<&str>, crv: Option<&str>) -> &'static [&'static str] {
    match (kty, crv) {
        (Some("RSA"), _) => &["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"],
        // ES256 is P-256 with SHA-256 and ES384 is P-384 with SHA-384 (RFC
        // 7518 §3.4): a key of the other curve never verifies.
        (Some("EC"), Some("P-256")) => &["ES256"],
        (Some("EC"), Some("P-384")) => &["ES384"],
        (Some("OKP"), Some("Ed25519")) => &["EdDSA"],
        _ => &[],
    }
}

/// Imports one JWK for each algorithm it may verify.
#[inline(never)]
fn import(entry: &Value) -> Result<Vec<VerifyingKey>, String> {
    let text = |name: &str| entry.get(name).and_then(Value::as_str);
    if !entry.is_object() {
        return Err("not a JWK object".into());
    }
    if let Some(use_) = text("use").filter(|u| *u != "sig") {
        return Err(format!("use `{}` is not sig", printable(use_, 16)));
    }
    let (kty, crv) = (text("kty"), text("crv"));
    let algs: Vec<&str> = match text("alg") {
        Some(pinned) if algs_for(kty, crv).contains(&pinned) => vec![pinned],
        Some(pinned) => return Err(format!("alg `{}` is not allowed", printable(pinned, 16))),
        None => algs_for(kty, crv).to_vec(),
    };
    if algs.is_empty() {
        return Err(format!(
            "unsupported key type {}{}",
            printable(kty.unwrap_or("(none)"), 16),
            crv.map(|c| format!("/{}", printable(c, 16)))
                .unwrap_or_default()
        ));
    }
    let json = entry.to_string();
    algs.into_iter()
        .map(|alg| VerifyingKey::import(alg, &json).map_err(|err| import_failure(&err)))
        .collect()
}

fn import_failure(err: &jwt_simple::Error) -> String {
    match err.downcast_ref::<JWTError>() {
        Some(JWTError::WeakKey | JWTError::UnsupportedRSAModulus) => {
            "RSA key outside 2048–4096 bits".into()
        }
        _ => "invalid key (rejected on import)".into(),
    }
}
