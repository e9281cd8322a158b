//! ID-token verification (OIDC Core §3.1.3.7), done once per login at the
//! callback: a compact JWS signed with an allowed algorithm by a key of the
//! provider's JWKS, then `iss`, `aud`, `azp`, `exp`, `iat`, `nonce` and `sub`.
//! `alg: none` and HMAC algorithms are never accepted (the provider's public key
//! must not double as an HMAC secret).

use std::fmt;

use crate::base64::decode_url;
use crate::crypto::ct_eq;
use crate::ecdsa::Curve;
use crate::json::{Json, Object};
use crate::jwk::{Jwks, PublicKey};
use crate::rsa_verify::Hash;
use crate::sha::{sha256, sha384};

/// Signature algorithms the filter accepts: everything Pocket ID can rotate to
/// that has a public key.
pub const ALLOWED_ALGS: [&str; 9] = [
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// Longer tokens are refused before any parsing.
const MAX_TOKEN_BYTES: usize = 16 * 1024;

/// What the token must say, besides its signature.
#[derive(Debug, Clone, Copy)]
pub struct Expectations<'a> {
    pub issuer: &'a str,
    pub client_id: &'a str,
    pub nonce: &'a str,
    pub now: u64,
    /// Allowed clock difference, in seconds, for `exp` and `iat`.
    pub skew: u64,
}

/// Why an ID token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    Malformed(&'static str),
    /// `alg` is `none`, an HMAC algorithm, or unknown.
    DisallowedAlg(String),
    /// The header names a `kid` the key set does not have.
    UnknownKeyId(String),
    /// No `kid` and several keys could verify it.
    AmbiguousKey,
    NoMatchingKey,
    BadSignature,
    InvalidIssuer,
    InvalidAudience,
    InvalidAuthorizedParty,
    Expired,
    MissingIssuedAt,
    IssuedInTheFuture,
    InvalidNonce,
    MissingSubject,
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Malformed(what) => write!(f, "malformed ID token: {what}"),
            Self::DisallowedAlg(alg) => write!(f, "ID token alg `{alg}` is not allowed"),
            Self::UnknownKeyId(kid) => write!(f, "ID token kid `{kid}` is not in the JWKS"),
            Self::AmbiguousKey => {
                f.write_str("ID token has no kid and the JWKS has several keys for its alg")
            }
            Self::NoMatchingKey => f.write_str("no key in the JWKS fits the ID token's alg"),
            Self::BadSignature => f.write_str("ID token signature does not verify"),
            Self::InvalidIssuer => f.write_str("ID token iss does not match the provider's issuer"),
            Self::InvalidAudience => f.write_str("ID token aud is not this client"),
            Self::InvalidAuthorizedParty => f.write_str("ID token azp is not this client"),
            Self::Expired => f.write_str("ID token has expired (or has no exp)"),
            Self::MissingIssuedAt => f.write_str("ID token has no iat"),
            Self::IssuedInTheFuture => f.write_str("ID token iat is in the future"),
            Self::InvalidNonce => f.write_str("ID token nonce does not match this login"),
            Self::MissingSubject => f.write_str("ID token has no sub"),
        }
    }
}

/// The parts of a compact JWS, decoded.
struct Jws<'t> {
    alg: String,
    kid: Option<String>,
    signing_input: &'t [u8],
    signature: Vec<u8>,
    claims: Object,
}

fn split(token: &str) -> Result<Jws<'_>, Rejected> {
    if token.len() > MAX_TOKEN_BYTES {
        return Err(Rejected::Malformed("longer than 16 KiB"));
    }
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejected::Malformed("not three dot-separated parts"));
    };
    // The parser refuses duplicate member names, so a token cannot carry two
    // different `alg`, `aud` or `nonce` values.
    let header: Object = decode_url(header)
        .and_then(|bytes| Object::parse(&bytes))
        .ok_or(Rejected::Malformed("header is not base64url JSON"))?;
    let alg = header
        .get("alg")
        .and_then(Json::as_str)
        .ok_or(Rejected::Malformed("header has no alg"))?
        .to_owned();
    if header.contains_key("crit") {
        return Err(Rejected::Malformed("header has crit extensions"));
    }
    let kid = header.get("kid").and_then(Json::as_str).map(str::to_owned);
    let claims: Object = decode_url(payload)
        .and_then(|bytes| Object::parse(&bytes))
        .ok_or(Rejected::Malformed("payload is not base64url JSON"))?;
    let signature =
        decode_url(signature).ok_or(Rejected::Malformed("signature is not base64url"))?;
    let signing_input_len = token.len() - signature_part_len(token);
    let signing_input = token
        .as_bytes()
        .get(..signing_input_len)
        .ok_or(Rejected::Malformed("truncated"))?;
    Ok(Jws {
        alg,
        kid,
        signing_input,
        signature,
        claims,
    })
}

/// Length of `.signature` at the end of the token.
fn signature_part_len(token: &str) -> usize {
    token.rfind('.').map_or(0, |dot| token.len() - dot)
}

/// Verifies `token` and returns its claims.
pub fn verify(token: &str, jwks: &Jwks, expect: &Expectations<'_>) -> Result<Object, Rejected> {
    let parsed = split(token)?;
    if !ALLOWED_ALGS.contains(&parsed.alg.as_str()) {
        return Err(Rejected::DisallowedAlg(crate::oidc::printable(
            &parsed.alg,
            16,
        )));
    }
    if parsed.signature.is_empty() {
        return Err(Rejected::BadSignature);
    }
    let candidates: Vec<_> = jwks
        .candidates(&parsed.alg, parsed.kid.as_deref())
        .collect();
    let key = match (candidates.as_slice(), &parsed.kid) {
        ([only], _) => &only.key,
        ([], Some(kid)) if !jwks.has_kid(kid) => {
            return Err(Rejected::UnknownKeyId(crate::oidc::printable(kid, 64)))
        }
        ([], _) => return Err(Rejected::NoMatchingKey),
        (_, None) => return Err(Rejected::AmbiguousKey),
        // Two keys share a kid: try each (a provider mid-rotation may do this).
        (several, Some(_)) => {
            return several
                .iter()
                .find(|jwk| {
                    check_signature(
                        &jwk.key,
                        &parsed.alg,
                        parsed.signing_input,
                        &parsed.signature,
                    )
                })
                .ok_or(Rejected::BadSignature)
                .and_then(|_| check_claims(parsed.claims, expect))
        }
    };
    if !check_signature(key, &parsed.alg, parsed.signing_input, &parsed.signature) {
        return Err(Rejected::BadSignature);
    }
    check_claims(parsed.claims, expect)
}

fn check_signature(key: &PublicKey, alg: &str, input: &[u8], signature: &[u8]) -> bool {
    match (key, alg) {
        (PublicKey::Rsa(key), "RS256") => key.verify_pkcs1v15(Hash::Sha256, input, signature),
        (PublicKey::Rsa(key), "RS384") => key.verify_pkcs1v15(Hash::Sha384, input, signature),
        (PublicKey::Rsa(key), "RS512") => key.verify_pkcs1v15(Hash::Sha512, input, signature),
        (PublicKey::Rsa(key), "PS256") => key.verify_pss(Hash::Sha256, input, signature),
        (PublicKey::Rsa(key), "PS384") => key.verify_pss(Hash::Sha384, input, signature),
        (PublicKey::Rsa(key), "PS512") => key.verify_pss(Hash::Sha512, input, signature),
        // ES256 is P-256 with SHA-256 and ES384 is P-384 with SHA-384 (RFC
        // 7518 §3.4): a key of the other curve never verifies.
        (PublicKey::Ec(key), "ES256") => {
            key.curve() == Curve::P256 && key.verify_prehashed(&sha256(input), signature)
        }
        (PublicKey::Ec(key), "ES384") => {
            key.curve() == Curve::P384 && key.verify_prehashed(&sha384(input), signature)
        }
        (PublicKey::Ed25519(key), "EdDSA") => {
            <&[u8; 64]>::try_from(signature).is_ok_and(|sig| key.verify(input, sig))
        }
        _ => false,
    }
}

fn check_claims(claims: Object, expect: &Expectations<'_>) -> Result<Object, Rejected> {
    if claims.get("iss").and_then(Json::as_str) != Some(expect.issuer) {
        return Err(Rejected::InvalidIssuer);
    }
    // Every audience must be this client: OIDC Core says to reject tokens that
    // name audiences the client does not trust.
    let audience_ok = match claims.get("aud") {
        Some(Json::String(aud)) => aud == expect.client_id,
        Some(Json::Array(auds)) => {
            !auds.is_empty()
                && auds
                    .iter()
                    .all(|aud| aud.as_str() == Some(expect.client_id))
        }
        _ => false,
    };
    if !audience_ok {
        return Err(Rejected::InvalidAudience);
    }
    if let Some(azp) = claims.get("azp") {
        if azp.as_str() != Some(expect.client_id) {
            return Err(Rejected::InvalidAuthorizedParty);
        }
    }
    let exp = claims
        .get("exp")
        .and_then(Json::as_u64)
        .ok_or(Rejected::Expired)?;
    if expect.now >= exp.saturating_add(expect.skew) {
        return Err(Rejected::Expired);
    }
    let iat = claims
        .get("iat")
        .and_then(Json::as_u64)
        .ok_or(Rejected::MissingIssuedAt)?;
    if iat > expect.now.saturating_add(expect.skew) {
        return Err(Rejected::IssuedInTheFuture);
    }
    let nonce = claims
        .get("nonce")
        .and_then(Json::as_str)
        .unwrap_or_default();
    if !ct_eq(nonce.as_bytes(), expect.nonce.as_bytes()) {
        return Err(Rejected::InvalidNonce);
    }
    if claims
        .get("sub")
        .and_then(Json::as_str)
        .is_none_or(str::is_empty)
    {
        return Err(Rejected::MissingSubject);
    }
    Ok(claims)
}
